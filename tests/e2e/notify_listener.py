#!/usr/bin/env python3
"""The service manager's side of sd_notify(3), as systemd has it for
Type=notify: a datagram socket at NOTIFY_SOCKET ("@name" is abstract), the
sender's pid from SCM_CREDENTIALS. Each message is written to --out as
"PID<TAB>LINE" per line. On READY=1 the sender is frozen (SIGSTOP), the
--on-ready command runs and its exit status is written as
"ON-READY<TAB>STATUS", then the sender is let go (SIGCONT): what the
command sees is what the agent had done when it said READY, nothing later.
Exits after STOPPING=1 or --timeout seconds. Prints LISTENING when bound.

Usage: notify_listener.py --socket @NAME --out FILE --on-ready 'CMD' [--timeout S]
"""
import argparse
import os
import signal
import socket
import struct
import subprocess
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--socket", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--on-ready", required=True)
    ap.add_argument("--timeout", type=float, default=180)
    a = ap.parse_args()

    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    name = "\0" + a.socket[1:] if a.socket.startswith("@") else a.socket
    s.bind(name)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
    deadline = time.monotonic() + a.timeout
    print("LISTENING", flush=True)
    with open(a.out, "w", buffering=1) as out:
        while time.monotonic() < deadline:
            s.settimeout(max(0.1, deadline - time.monotonic()))
            try:
                data, anc, _, _ = s.recvmsg(4096, socket.CMSG_SPACE(12))
            except socket.timeout:
                break
            pid = 0
            for level, kind, payload in anc:
                if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                    pid = struct.unpack("iII", payload[:12])[0]
            lines = data.decode(errors="replace").split("\n")
            for line in lines:
                out.write(f"{pid}\t{line}\n")
            if "READY=1" in lines and pid > 0:
                os.kill(pid, signal.SIGSTOP)
                try:
                    rc = subprocess.run(a.on_ready, shell=True).returncode
                finally:
                    os.kill(pid, signal.SIGCONT)
                out.write(f"ON-READY\t{rc}\n")
            if "STOPPING=1" in lines:
                return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
