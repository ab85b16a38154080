#!/usr/bin/env python3
"""Crafted packets from an attacker workload, for tests/e2e/crafted_packets.sh.

  crafted_packets.py send DEV CASE MARKER K=V...   sends CASE's frames out of DEV
                                                   (a packet socket: every byte
                                                   as written) to the gateway's MAC
  crafted_packets.py recv DEV MARKER STOP SECONDS  counts frames on DEV that
                                                   carry MARKER until the file STOP
                                                   exists, prints the count
  crafted_packets.py list                          the cases, as CASE:FRAMES

K=V: gw (the gateway's MAC), src4, src6, dst4, dst6 (the target), and for
the ICMP error cases the live flows they quote: flow_src4/6, flow_dst4/6,
flow_sport (IPv4), flow_sport6, flow_dport; rev_sport and rev_dport: the
ports of a live IPv4 flow from the target to the attacker, as the attacker
would answer it. Every frame carries MARKER in its payload (a
non-first fragment carries it too), so the receiver counts frames, not
reassembled datagrams. Checksums are right where a router checks them
(the IPv4 header) and in every L4 header (no stack drops them for that).
"""
import os
import socket
import struct
import sys
import time

ETH_P_ALL = 0x0003
ETH_P_IP = 0x0800
ETH_P_IPV6 = 0x86DD


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def ip4(src, dst, proto, payload, ident=0x1234, frag=0, ttl=64, tot=None):
    """frag: the 16-bit flags+offset field (0x2000 MF, offset in 8-byte units)."""
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, tot if tot else 20 + len(payload), ident, frag, ttl, proto, 0,
                      socket.inet_aton(src), socket.inet_aton(dst))
    return hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:] + payload


def ip6(src, dst, nexthdr, payload, hops=64):
    return struct.pack("!IHBB16s16s", 0x60000000, len(payload), nexthdr, hops, socket.inet_pton(socket.AF_INET6, src),
                       socket.inet_pton(socket.AF_INET6, dst)) + payload


def pseudo4(src, dst, proto, length):
    return socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, proto, length)


def pseudo6(src, dst, proto, length):
    return (socket.inet_pton(socket.AF_INET6, src) + socket.inet_pton(socket.AF_INET6, dst) +
            struct.pack("!IxxxB", length, proto))


def tcp(sport, dport, flags, data, pseudo):
    """pseudo(length) -> the pseudo header; flags as a byte (0x02 SYN, 0x10 ACK ...)."""
    hdr = struct.pack("!HHIIBBHHH", sport, dport, 1000, 2000 if flags & 0x10 else 0, 5 << 4, flags, 64240, 0, 0)
    seg = hdr + data
    c = csum(pseudo(len(seg)) + seg)
    return seg[:16] + struct.pack("!H", c) + seg[18:]


def udp(sport, dport, data, pseudo):
    seg = struct.pack("!HHHH", sport, dport, 8 + len(data), 0) + data
    c = csum(pseudo(len(seg)) + seg) or 0xFFFF
    return seg[:6] + struct.pack("!H", c) + seg[8:]


def icmp(typ, code, rest, body, v6_pseudo=None):
    msg = struct.pack("!BBH", typ, code, 0) + rest + body
    c = csum((v6_pseudo(len(msg)) if v6_pseudo else b"") + msg)
    return msg[:2] + struct.pack("!H", c) + msg[4:]


def ext6(nexthdr, body_len_units=0, kind="opts"):
    """An extension header of (body_len_units + 1) * 8 bytes: PadN options, or
    a routing header (type 4, segments left 0) when kind is "routing"."""
    size = (body_len_units + 1) * 8
    if kind == "routing":
        return struct.pack("!BBBB", nexthdr, body_len_units, 4, 0) + bytes(size - 4)
    # PadN options (type 1, at most 255 bytes each) filling the rest
    opts, left = b"", size - 2
    while left:
        if left == 1:
            opts, left = opts + b"\0", 0  # Pad1
            continue
        n = min(left - 2, 255)
        opts, left = opts + bytes([1, n]) + bytes(n), left - n - 2
    return struct.pack("!BB", nexthdr, body_len_units) + opts


def frag6(nexthdr, offset_units, more, ident):
    return struct.pack("!BBHI", nexthdr, 0, (offset_units << 3) | (1 if more else 0), ident)


HBH, ROUTING, FRAGMENT, DSTOPTS, AH, NONEXT = 0, 43, 44, 60, 51, 59
TCP, UDP, ICMP, ICMP6, IPIP, IPV6_IN, GRE = 6, 17, 1, 58, 4, 41, 47


class Case:
    def __init__(self, a, marker):
        self.a, self.m = a, marker.encode()

    # --- pieces -------------------------------------------------------------
    def pad8(self, before):
        """The marker, padded so that before + it is a multiple of 8 (a
        fragment that is not the last carries whole 8-byte units)."""
        return self.m + bytes(-(before + len(self.m)) % 8)

    def p4(self, proto):
        return lambda n: pseudo4(self.a["src4"], self.a["dst4"], proto, n)

    def p6(self, proto):
        return lambda n: pseudo6(self.a["src6"], self.a["dst6"], proto, n)

    def tcp4(self, dport, flags, sport=40000):
        return ip4(self.a["src4"], self.a["dst4"], TCP, tcp(sport, dport, flags, self.m, self.p4(TCP)))

    def tcp6(self, dport, flags, sport=40000):
        return ip6(self.a["src6"], self.a["dst6"], TCP, tcp(sport, dport, flags, self.m, self.p6(TCP)))

    def chain6(self, headers, dport):
        """IPv6 with extension headers (a list of (kind, units)) before TCP to dport."""
        kinds = [k for k, _ in headers]
        nexts = [{"hbh": HBH, "dst": DSTOPTS, "routing": ROUTING, "frag": FRAGMENT, "ah": AH}[k] for k in kinds[1:]]
        nexts.append(TCP)
        body = b""
        for (kind, units), nxt in zip(headers, nexts):
            if kind == "frag":
                body += frag6(nxt, 0, True, 0xabcd)
            elif kind == "ah":
                # AH: next, payload length in 4-byte units minus 2, reserved, SPI, sequence, ICV
                body += struct.pack("!BBHII", nxt, 1 + units * 2, 0, 0x100, 1) + bytes(4 + units * 8)
            else:
                body += ext6(nxt, units, "routing" if kind == "routing" else "opts")
        first = {"hbh": HBH, "dst": DSTOPTS, "routing": ROUTING, "frag": FRAGMENT, "ah": AH}[kinds[0]]
        # the TCP checksum's pseudo header names the final destination and TCP
        seg = tcp(40000, dport, 0x02, self.m, self.p6(TCP))
        return ip6(self.a["src6"], self.a["dst6"], first, body + seg)

    def frag4(self, dport, frag, ident, with_l4=True, proto=TCP):
        """One IPv4 fragment: with_l4, a TCP header to dport then the marker;
        else the marker alone (a non-first fragment's data), padded to 8s."""
        if with_l4:
            data = tcp(40001, dport, 0x02, self.pad8(20), self.p4(TCP))
        else:
            data = self.pad8(0)
        return ip4(self.a["src4"], self.a["dst4"], proto, data, ident=ident, frag=frag)

    def frag6_pkt(self, dport, offset_units, more, ident, with_l4=True):
        if with_l4:
            data = tcp(40001, dport, 0x02, self.pad8(20), self.p6(TCP))
        else:
            data = self.pad8(0)
        return ip6(self.a["src6"], self.a["dst6"], FRAGMENT, frag6(TCP, offset_units, more, ident) + data)

    def quoted4(self, reply):
        """The IPv4 packet of the live flow an error quotes (its first 28
        bytes and more): the flow's own direction, or its reply's."""
        s, d, sp, dp = (self.a["flow_src4"], self.a["flow_dst4"], int(self.a["flow_sport"]), int(self.a["flow_dport"]))
        if reply:
            s, d, sp, dp = d, s, dp, sp
        inner = ip4(s, d, TCP, tcp(sp, dp, 0x10, b"", lambda n: pseudo4(s, d, TCP, n)))
        return inner

    def quoted6(self, reply):
        s, d, sp, dp = (self.a["flow_src6"], self.a["flow_dst6"], int(self.a["flow_sport6"]),
                        int(self.a["flow_dport"]))
        if reply:
            s, d, sp, dp = d, s, dp, sp
        return ip6(s, d, TCP, tcp(sp, dp, 0x10, b"", lambda n: pseudo6(s, d, TCP, n)))

    # --- the cases: each a list of (ethertype, IP packet) ---------------------
    def cases(self):
        a = self.a
        c = {}
        # controls: what the policy allows arrives (the receiver works)
        c["allowed-syn4"] = [(ETH_P_IP, self.tcp4(80, 0x02))]
        c["allowed-syn6"] = [(ETH_P_IPV6, self.tcp6(80, 0x02))]
        # a SYN never answers a flow (bpf/lib/conn_tracking.h): from the
        # port of a live flow web:P -> atk:8080, back to web:P, it is a new
        # flow to a port atk may not reach; the SYN-ACK is the reply (control)
        rs, rd = int(a["rev_sport"]), int(a["rev_dport"])
        c["syn-as-reply4"] = [(ETH_P_IP, self.tcp4(rd, 0x02, sport=rs))]
        c["synack-as-reply4"] = [(ETH_P_IP, self.tcp4(rd, 0x12, sport=rs))]
        # TCP without SYN to a denied port
        for name, flags in (("ack", 0x10), ("fin", 0x01), ("rst", 0x04), ("xmas", 0x29), ("null", 0x00),
                            ("synack", 0x12)):
            c["denied-%s4" % name] = [(ETH_P_IP, self.tcp4(22, flags))]
            c["denied-%s6" % name] = [(ETH_P_IPV6, self.tcp6(22, flags))]
        # ICMP errors quoting the live flow, sent to the third workload
        for reply in (0, 1):
            q = "reply" if reply else "orig"
            c["icmp4-error-%s" % q] = [(ETH_P_IP, ip4(a["src4"], a["dst4"], ICMP,
                                                       icmp(3, 3, bytes(4), self.quoted4(reply) + self.m)))]
            c["icmp6-error-%s" % q] = [(ETH_P_IPV6, ip6(a["src6"], a["dst6"], ICMP6,
                                                         icmp(1, 4, bytes(4), self.quoted6(reply) + self.m,
                                                              self.p6(ICMP6))))]
        # IPv4 fragments
        c["frag4-first-denied"] = [(ETH_P_IP, self.frag4(22, 0x2000, 0x4001))]
        c["frag4-allowed-pair"] = [(ETH_P_IP, self.frag4(80, 0x2000, 0x4002)),
                                   (ETH_P_IP, self.frag4(80, 5, 0x4002, with_l4=False))]
        c["frag4-later-alone"] = [(ETH_P_IP, self.frag4(80, 5, 0x4003, with_l4=False))]
        # a first fragment to an allowed port, then one at offset 0 again
        # (the overlap that rewrites the port) and a later fragment
        c["frag4-overlap-rewrite"] = [(ETH_P_IP, self.frag4(80, 0x2000, 0x4004)),
                                      (ETH_P_IP, self.frag4(22, 0x2000, 0x4004)),
                                      (ETH_P_IP, self.frag4(22, 5, 0x4004, with_l4=False))]
        # IPv6 fragments
        c["frag6-first-denied"] = [(ETH_P_IPV6, self.frag6_pkt(22, 0, True, 0x6001))]
        c["frag6-later-alone"] = [(ETH_P_IPV6, self.frag6_pkt(80, 5, False, 0x6003, with_l4=False))]
        c["frag6-overlap-rewrite"] = [(ETH_P_IPV6, self.frag6_pkt(80, 0, True, 0x6004)),
                                      (ETH_P_IPV6, self.frag6_pkt(22, 0, True, 0x6004)),
                                      (ETH_P_IPV6, self.frag6_pkt(22, 5, False, 0x6004, with_l4=False))]
        # IPv6 extension header chains hiding the L4 header
        c["ext6-hbh-dst-rt-denied"] = [(ETH_P_IPV6, self.chain6([("hbh", 0), ("dst", 1), ("routing", 2)], 22))]
        c["ext6-ah-denied"] = [(ETH_P_IPV6, self.chain6([("dst", 0), ("ah", 1)], 22))]
        c["ext6-frag-dst-denied"] = [(ETH_P_IPV6, self.chain6([("frag", 0), ("dst", 0)], 22))]
        c["ext6-chain9-allowed-port"] = [(ETH_P_IPV6, self.chain6([("dst", 0)] * 9, 80))]
        c["ext6-past-512-allowed-port"] = [(ETH_P_IPV6, self.chain6([("dst", 40), ("dst", 40)], 80))]
        c["ext6-nonext"] = [(ETH_P_IPV6, ip6(a["src6"], a["dst6"], DSTOPTS, ext6(NONEXT, 0) + self.m))]
        # tunnels: the outer header is judged; the policy allows TCP/80 only
        for inner_port in (22, 80):
            inner4 = ip4(a["src4"], a["dst4"], TCP, tcp(40002, inner_port, 0x02, self.m, self.p4(TCP)))
            inner6 = ip6(a["src6"], a["dst6"], TCP, tcp(40002, inner_port, 0x02, self.m, self.p6(TCP)))
            c["ipip-inner%d" % inner_port] = [(ETH_P_IP, ip4(a["src4"], a["dst4"], IPIP, inner4))]
            c["gre-inner%d" % inner_port] = [(ETH_P_IP, ip4(a["src4"], a["dst4"], GRE,
                                                             struct.pack("!HH", 0, ETH_P_IP) + inner4))]
            c["6in4-inner%d" % inner_port] = [(ETH_P_IP, ip4(a["src4"], a["dst4"], IPV6_IN, inner6))]
            c["4in6-inner%d" % inner_port] = [(ETH_P_IPV6, ip6(a["src6"], a["dst6"], IPIP, inner4))]
            c["6in6-inner%d" % inner_port] = [(ETH_P_IPV6, ip6(a["src6"], a["dst6"], IPV6_IN, inner6))]
        return c


def send(args):
    dev, case, marker = args[0], args[1], args[2]
    a = dict(kv.split("=", 1) for kv in args[3:])
    frames = Case(a, marker).cases()[case]
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((dev, 0))
    src_mac = s.getsockname()[4]
    gw = bytes.fromhex(a["gw"].replace(":", ""))
    for ethertype, pkt in frames:
        s.send(gw + src_mac + struct.pack("!H", ethertype) + pkt)
        time.sleep(0.02)  # in order, as a sender's fragments come


def recv(args):
    """Counts until STOP_FILE exists (then takes what is queued) or SECONDS pass."""
    dev, marker, stop, seconds = args[0], args[1].encode(), args[2], float(args[3])
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.bind((dev, 0))
    end = time.monotonic() + seconds
    count = 0
    print("ready", flush=True, file=sys.stderr)
    s.settimeout(0.1)
    stopping = False
    while time.monotonic() < end:
        if not stopping and os.path.exists(stop):
            stopping = True
            s.setblocking(False)
        try:
            data, addr = s.recvfrom(65535)
        except (socket.timeout, BlockingIOError):
            if stopping:
                break
            continue
        if addr[2] != socket.PACKET_OUTGOING and marker in data:
            count += 1
    print(count)


def main():
    if sys.argv[1] == "list":
        a = {k: "10.0.0.1" for k in ("src4", "dst4", "flow_src4", "flow_dst4")}
        a.update({k: "fd00::1" for k in ("src6", "dst6", "flow_src6", "flow_dst6")})
        a.update(flow_sport="1", flow_sport6="1", flow_dport="2", rev_sport="3", rev_dport="4")
        print(" ".join("%s:%d" % (name, len(frames)) for name, frames in Case(a, "x").cases().items()))
        return
    {"send": send, "recv": recv}[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    main()
