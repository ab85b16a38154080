#!/usr/bin/env python3
"""Probes many targets at once from one network namespace (as the
Kubernetes network-policy e2e suite's prober does), for the e2e tests.

    probe_matrix.py SRC TIMEOUT NAME=IP... -- tcp/80 udp/81 ...

prints one line a probe: "SRC>NAME:proto/port pass|fail". TCP passes when
the connection opens; UDP when the echo server's answer comes back."""
import socket
import sys
from concurrent.futures import ThreadPoolExecutor


def probe(ip, proto, port, timeout):
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    try:
        if proto == "tcp":
            with socket.create_connection((ip, port), timeout=timeout):
                return True
        with socket.socket(family, socket.SOCK_DGRAM) as s:
            s.settimeout(timeout)
            s.sendto(b"probe", (ip, port))
            return s.recvfrom(64)[0] == b"probe"
    except OSError:
        return False


def main():
    src, timeout = sys.argv[1], float(sys.argv[2])
    split = sys.argv.index("--")
    targets = [t.split("=", 1) for t in sys.argv[3:split]]
    probes = [p.split("/") for p in sys.argv[split + 1:]]
    jobs = [(name, ip, proto, int(port)) for name, ip in targets for proto, port in probes]
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        results = pool.map(lambda j: probe(j[1], j[2], j[3], timeout), jobs)
        for (name, _, proto, port), ok in zip(jobs, results):
            print(f"{src}>{name}:{proto}/{port} {'pass' if ok else 'fail'}")


if __name__ == "__main__":
    main()
