#!/usr/bin/env python3
"""Normal traffic of one lab workload, for bench/detection_quality.sh: what
a detector must stay quiet about. Runs inside the workload's namespace until
killed (or --seconds), with plain sockets (no process per request).

    detection_normal.py ROLE [--dns IP] [--targets IP,IP,...] [--every S] [--rate R]

Roles:
  users    a 3-tier app's clients: HTTP GETs to --targets (the web tier), --rate a second
  tier     a tier calling the next: a line to --targets:--port and its echo, --rate a second,
           and a health check (the same port) every 2 s
  bastion  an admin's SSH sessions (port 22, a line and its echo) to --targets every --every s
  monitor  polls every workload's metrics port (--port, 9100) every --every s, and health
           checks (HTTP GET) --health every second
  backup   a backup job: one connection to --port (873) on each of --targets every --every s,
           sending 64 KiB
  quiet    DNS only
Every role asks --dns (UDP 53) for a name every 2 s."""
import argparse
import socket
import time


def tcp_line(ip, port, payload=b"ping\n", timeout=2.0):
    try:
        with socket.create_connection((ip, port), timeout=timeout) as s:
            s.sendall(payload)
            want = len(payload)
            got = 0
            while got < want:
                b = s.recv(65536)
                if not b:
                    break
                got += len(b)
    except OSError:
        pass


def http_get(ip, port=80):
    try:
        with socket.create_connection((ip, port), timeout=2.0) as s:
            s.sendall(b"GET / HTTP/1.0\r\nHost: " + ip.encode() + b"\r\n\r\n")
            while s.recv(4096):
                pass
    except OSError:
        pass


def dns_query(ip):
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(1.0)
            s.sendto(b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x02db\x04prod\x00\x00\x01\x00\x01", (ip, 53))
            s.recv(512)
    except OSError:
        pass


def main():
    p = argparse.ArgumentParser()
    p.add_argument("role")
    p.add_argument("--dns", default="")
    p.add_argument("--targets", default="")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--health", default="")
    p.add_argument("--every", type=float, default=10.0)
    p.add_argument("--rate", type=float, default=5.0)
    p.add_argument("--seconds", type=float, default=0)
    a = p.parse_args()
    targets = [t for t in a.targets.split(",") if t]
    start = time.monotonic()
    next_dns = next_health = next_batch = start
    i = 0
    tick = 1.0 / a.rate if a.role in ("users", "tier") else 0.2
    while not a.seconds or time.monotonic() - start < a.seconds:
        now = time.monotonic()
        if a.dns and now >= next_dns:
            dns_query(a.dns)
            next_dns = now + 2
        if a.role == "users":
            http_get(targets[i % len(targets)])
        elif a.role == "tier":
            tcp_line(targets[i % len(targets)], a.port, b"SELECT 1\n")
            if now >= next_health:
                tcp_line(targets[0], a.port, b"health\n")
                next_health = now + 2
        elif a.role == "monitor":
            if now >= next_health:
                for h in a.health.split(","):
                    if h:
                        http_get(h)
                next_health = now + 1
            if now >= next_batch:
                for t in targets:
                    tcp_line(t, a.port, b"GET /metrics\n")
                next_batch = now + a.every
        elif a.role in ("bastion", "backup"):
            if now >= next_batch:
                payload = b"x" * 65535 + b"\n" if a.role == "backup" else b"uptime\n"
                for t in targets:
                    tcp_line(t, a.port, payload, timeout=5.0)
                next_batch = now + a.every
        i += 1
        time.sleep(tick)


if __name__ == "__main__":
    main()
