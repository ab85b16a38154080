#!/usr/bin/env python3
"""flow_flood.py SECONDS PREFIX8: UDP flows to random addresses in PREFIX8.0.0.0/8,
two datagrams each, for SECONDS; prints the flows opened.

Two datagrams, not one: a BPF LRU map keeps entries that were looked up
again (their reference bit) ahead of entries touched once, so a flood of
one packet per flow only churns its own entries. The second packet makes
the flood's entries as "hot" as a live flow's, which is what lets an
unbounded flood evict other workloads' flows.
"""
import random
import socket
import sys
import time

secs, prefix = float(sys.argv[1]), int(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setblocking(False)
end = time.monotonic() + secs
flows = 0
rnd = random.getrandbits
while time.monotonic() < end:
    for _ in range(256):
        r = rnd(24)
        dst = (f"{prefix}.{r >> 16}.{(r >> 8) & 255}.{r & 255}", 9)
        for _ in range(2):
            try:
                s.sendto(b"x", dst)
            except OSError:
                pass
        flows += 1
print(flows)
