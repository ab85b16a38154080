#!/usr/bin/env python3
"""Hostile HTTP clients for tests/e2e/hostile_http.sh.

  hostile_http.py attack TARGET CASE   send one hostile request, print what came back
  hostile_http.py slowloris TARGET N   hold N connections open, sending a header
                                       byte now and then (reopening any the agent
                                       closes) until killed
  hostile_http.py get TARGET PATH      one plain GET: prints the status, exits 0 on 200

TARGET is unix:PATH or HOST:PORT. `attack` prints "STATUS <code>" for an
answer, "CLOSED" when the agent closed without one; it exits 0 when the
answer is one the case allows (never a 5xx other than 503, never a hang).
"""
import os
import random
import select
import socket
import sys
import time


def connect(target, timeout=10):
    if target.startswith("unix:"):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        s.connect(target[5:])
    else:
        host, port = target.rsplit(":", 1)
        s = socket.create_connection((host, int(port)), timeout=timeout)
    return s


def send_all(s, data):
    """Sends what the peer takes; the agent may close early (a refused head)."""
    try:
        s.sendall(data)
        return True
    except (BrokenPipeError, ConnectionResetError, socket.timeout):
        return False


def answer(s, timeout=30):
    """The status code of the answer, or None if the agent closed without one."""
    s.settimeout(timeout)
    got = b""
    try:
        while b"\r\n" not in got and len(got) < 4096:
            chunk = s.recv(4096)
            if not chunk:
                break
            got += chunk
    except ConnectionResetError:
        pass
    if not got.startswith(b"HTTP/1."):
        return None
    return int(got.split(b" ", 2)[1])


def head(path, extra=b"", method=b"GET"):
    return method + b" " + path + b" HTTP/1.1\r\nHost: x\r\n" + extra


def cases(api):
    """CASE -> (bytes to send, allowed answers; None in the set: a close)."""
    m = b"/v1/status" if api else b"/metrics"
    post = b"/v1/trace" if api else b"/metrics"
    bad = {400}
    # httplib decodes a bad escape as the bytes it is: the request is fine
    ok = {200, 400, 404}
    rnd = random.Random(15)
    return {
        "escape-query": (head(m + b"?%zz") + b"\r\n", ok),
        "escape-query-tail": (head(m + b"?a=%") + b"\r\n", ok),
        "escape-path": (head(b"/%zz" + m) + b"\r\n", {400, 404}),
        "escape-path-nul": (head(m + b"%00") + b"\r\n", {400, 404}),
        "escape-utf8": (head(b"/v1/policy?ref=%ff%fe%c0%80") + b"\r\n", {400, 404}),
        "cl-alpha": (head(post, b"Content-Length: abc\r\n\r\n", b"POST"), bad),
        "cl-negative": (head(post, b"Content-Length: -1\r\n\r\n", b"POST"), bad),
        "cl-overflow": (head(post, b"Content-Length: 18446744073709551616\r\n\r\n", b"POST"), bad),
        "cl-huge": (head(post, b"Content-Length: 99999999999\r\n\r\n", b"POST"), {413}),
        "cl-two": (head(post, b"Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}", b"POST"), bad),
        "cl-spaces": (head(post, b"Content-Length:  1 2\r\n\r\n{}", b"POST"), bad),
        "cl-short-body": (head(post, b"Content-Length: 100\r\n\r\n{\"a\":", b"POST"), {400, None}),
        "request-line-1MiB": (b"GET /" + b"a" * (1 << 20) + b" HTTP/1.1\r\n\r\n", {400, 414, None}),
        "headers-20k": (head(m, b"".join(b"X-H%d: v\r\n" % i for i in range(20000)) + b"\r\n"),
                        {400, 413, 414, 431, None}),
        "garbage": (bytes(rnd.getrandbits(8) for _ in range(65536)), {400, None}),
        "garbage-nul-head": (b"GET /\x00\x01\x02 HTTP/1.1\r\n\x00: \xff\r\n\r\n", {400, 404, None}),
        "chunked-truncated": (head(post, b"Transfer-Encoding: chunked\r\n\r\n5\r\nab", b"POST"), {400, None}),
        "chunked-bad-size": (head(post, b"Transfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n", b"POST"),
                             {400, None}),
        "chunked-huge-size": (head(post, b"Transfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\nab\r\n", b"POST"),
                              {400, 413, None}),
        "chunked-and-length": (head(post, b"Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n",
                                    b"POST"), {400}),
        "json-bad": (head(post, b"Content-Length: 9\r\n\r\n{\"from\":[", b"POST"), {400} if api else {404}),
        # /metrics takes 4 KiB of body at most
        "json-deep": (head(post, b"Content-Length: 20000\r\n\r\n" + b"[" * 20000, b"POST"),
                      ({400} if api else {404, 413})),
        "method-bogus": (b"\xffGET " + m + b" HTTP/1.1\r\n\r\n", {400, 404, 405, None}),
        "version-bogus": (b"GET " + m + b" HTTP/9.9\r\n\r\n", {200, 400, 404, 505, None}),
    }


def attack(target, case):
    data, allowed = cases(target.startswith("unix:"))[case]
    s = connect(target)
    send_all(s, data)
    if case in ("chunked-truncated", "cl-short-body"):
        s.shutdown(socket.SHUT_WR)  # the body ends short: the agent must notice
    status = answer(s)
    s.close()
    print("CLOSED" if status is None else "STATUS %d" % status)
    return 0 if status in allowed else 1


def slowloris(target, n):
    conns = []
    deadline_log = time.monotonic()
    opened = 0
    while True:
        while len(conns) < n:
            try:
                s = connect(target, timeout=5)
                s.setblocking(False)
                s.send(b"GET /metrics HTTP/1.1\r\n")
                conns.append(s)
                opened += 1
            except OSError:
                time.sleep(0.05)
                break
        # a header byte per connection every second: never a whole head
        for s in list(conns):
            try:
                s.send(b"X")
            except OSError:
                conns.remove(s)
                s.close()
        # drop those the agent closed (it answered 503 or timed them out)
        r, _, _ = select.select(conns, [], [], 1.0)
        for s in r:
            try:
                if not s.recv(4096):
                    raise OSError
            except BlockingIOError:
                continue
            except OSError:
                pass
            conns.remove(s)
            s.close()
        if time.monotonic() - deadline_log > 1:
            print("slowloris: %d open, %d opened in all" % (len(conns), opened), flush=True)
            deadline_log = time.monotonic()


def get(target, path):
    s = connect(target)
    send_all(s, b"GET " + path.encode() + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    status = answer(s)
    print("STATUS %s" % status)
    return 0 if status == 200 else 1


def main():
    cmd, target = sys.argv[1], sys.argv[2]
    if cmd == "attack":
        if sys.argv[3] == "list":
            print(" ".join(cases(target.startswith("unix:"))))
            return 0
        return attack(target, sys.argv[3])
    if cmd == "slowloris":
        slowloris(target, int(sys.argv[3]))
    if cmd == "get":
        return get(target, sys.argv[3])
    return 2


if __name__ == "__main__":
    sys.exit(main())
