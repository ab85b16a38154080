#!/usr/bin/env python3
"""UDP echo for the end-to-end tests: `udp_echo.py serve PORT` answers every
datagram with itself; `udp_echo.py probe HOST PORT` exits 0 when its datagram
comes back within a second."""
import socket
import sys

if sys.argv[1] == "serve":
    port = int(sys.argv[2])
    socks = []
    for family, addr in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
        s = socket.socket(family, socket.SOCK_DGRAM)
        if family == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        s.bind((addr, port))
        socks.append(s)
    import select
    while True:
        ready, _, _ = select.select(socks, [], [])
        for s in ready:
            data, peer = s.recvfrom(2048)
            s.sendto(data, peer)
else:
    host, port = sys.argv[2], int(sys.argv[3])
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_DGRAM)
    s.settimeout(1.0)
    s.sendto(b"zeroseg-probe", (host, port))
    try:
        data, _ = s.recvfrom(2048)
        sys.exit(0 if data == b"zeroseg-probe" else 1)
    except socket.timeout:
        sys.exit(1)
