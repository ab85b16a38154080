#!/usr/bin/env python3
"""Crafted IPv6 neighbour discovery for the end-to-end tests.

  nd_probe.py send TYPE SRC DST MARKER [--hops N] [--dev IF]
      sends an ND message (133-137, code 0) from SRC to DST with hop limit
      N (default 255) through a raw ICMPv6 socket, MARKER as data after it
  nd_probe.py recv MARKER SECONDS
      counts ICMPv6 messages carrying MARKER that arrive within SECONDS,
      and prints the count
"""
import socket
import sys
import time


def message(nd_type, marker):
    # type, code, checksum (the kernel fills it in), 4 bytes of flags or
    # reserved, then a 16-byte target for NS, NA and redirect
    body = bytes([nd_type, 0, 0, 0, 0, 0, 0, 0])
    if nd_type in (135, 136, 137):
        body += bytes(16)
    if nd_type == 137:
        body += bytes(16)
    if nd_type == 134:
        body += bytes(8)
    return body + marker.encode()


def send(args):
    nd_type, src, dst, marker = int(args[0]), args[1], args[2], args[3]
    hops, dev = 255, None
    rest = args[4:]
    while rest:
        if rest[0] == "--hops":
            hops = int(rest[1])
        elif rest[0] == "--dev":
            dev = rest[1]
        rest = rest[2:]
    s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, hops)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, hops)
    scope = 0
    if dev:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, dev.encode())
        scope = socket.if_nametoindex(dev)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, scope)
    s.bind((src, 0, 0, scope if src.startswith("fe80") else 0))
    s.sendto(message(nd_type, marker), (dst, 0, 0, scope))


def recv(args):
    marker, seconds = args[0].encode(), float(args[1])
    s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
    end = time.monotonic() + seconds
    count = 0
    print("ready", flush=True, file=sys.stderr)
    while True:
        left = end - time.monotonic()
        if left <= 0:
            break
        s.settimeout(left)
        try:
            data = s.recv(65535)
        except socket.timeout:
            break
        if marker in data:
            count += 1
    print(count)


if __name__ == "__main__":
    {"send": send, "recv": recv}[sys.argv[1]](sys.argv[2:])
