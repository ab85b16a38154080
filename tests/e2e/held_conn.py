#!/usr/bin/env python3
"""One long-lived TCP connection whose far end talks first.

  held_conn.py server PORT CMD_FIFO OUT_FILE
      accepts one connection; for each line TOKEN read from CMD_FIFO, sends
      TOKEN to the client and waits up to 3 s for "echo TOKEN" back, then
      appends "ok TOKEN" or "lost TOKEN" to OUT_FILE.
  held_conn.py client HOST PORT
      connects (printing "connected"), then echoes every line back.

The server pushes first: after a conntrack entry of the connection is
gone, the push is a reply nobody tracks and policy judges it as a new flow
(and drops it), where a packet from the client would open a new entry.
"""
import socket
import sys


def server(port, fifo, out):
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("0.0.0.0", port))
    ls.listen(1)
    conn, _ = ls.accept()
    with open(fifo) as cmds:
        for token in cmds:
            token = token.strip()
            if not token:
                continue
            result = "lost"
            try:
                conn.settimeout(3)
                conn.sendall((token + "\n").encode())
                buf = b""
                while b"\n" not in buf:
                    chunk = conn.recv(100)
                    if not chunk:
                        break
                    buf += chunk
                if buf.split(b"\n")[0].decode() == "echo " + token:
                    result = "ok"
            except OSError:
                pass
            with open(out, "a") as f:
                f.write(f"{result} {token}\n")


def client(host, port):
    s = socket.create_connection((host, port), timeout=5)
    s.settimeout(None)
    print("connected", flush=True)
    f = s.makefile("r")
    for line in f:
        s.sendall(("echo " + line.strip() + "\n").encode())


if __name__ == "__main__":
    if sys.argv[1] == "server":
        server(int(sys.argv[2]), sys.argv[3], sys.argv[4])
    else:
        client(sys.argv[2], int(sys.argv[3]))
