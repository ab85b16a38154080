#!/usr/bin/env python3
"""Spoofed-source packets for the end-to-end tests, by raw packet sockets.

  spoof_probe.py send IF DST_MAC tcp|udp SRC DST SPORT DPORT
      sends one Ethernet frame out of IF to DST_MAC: a TCP SYN or a UDP
      datagram from SRC (any address: the point) to DST, IPv4 or IPv6 by
      the addresses, checksums right, "zs-spoof" as data
  spoof_probe.py send-paged IF DST_MAC SRC DST SPORT DPORT
      the same TCP SYN with 8000 bytes of data, sent so that the kernel
      keeps only its Ethernet header in the skb's linear part and the IP
      and TCP headers in pages (PACKET_VNET_HDR with hdr_len 0; the
      frame needs an MTU of 8100 or more on IF)
  spoof_probe.py recv IF SRC SPORT DPORT SECONDS
      counts the frames arriving on IF within SECONDS that carry a TCP or
      UDP packet from SRC:SPORT to DPORT, and prints the count
"""
import ipaddress
import socket
import struct
import sys
import time

ETH_P_ALL = 0x0003
PROTO = {"tcp": 6, "udp": 17}
DATA = b"zs-spoof"


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def l4(proto, src, dst, sport, dport, data=DATA):
    if proto == 6:
        hdr = struct.pack("!HHIIBBHHH", sport, dport, 1, 0, 5 << 4, 0x02, 65535, 0, 0)
    else:
        hdr = struct.pack("!HHHH", sport, dport, 8 + len(data), 0)
    seg = hdr + data
    if src.version == 4:
        pseudo = src.packed + dst.packed + struct.pack("!BBH", 0, proto, len(seg))
    else:
        pseudo = src.packed + dst.packed + struct.pack("!IxxxB", len(seg), proto)
    csum = checksum(pseudo + seg)
    off = 16 if proto == 6 else 6
    return seg[:off] + struct.pack("!H", csum) + seg[off + 2:]


def frame(dst_mac, src_mac, proto, src, dst, sport, dport, data=DATA):
    seg = l4(proto, src, dst, sport, dport, data)
    if src.version == 4:
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(seg), 0x1234, 0x4000, 64, proto, 0,
                         src.packed, dst.packed)
        ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
        etype = 0x0800
    else:
        ip = struct.pack("!IHBB16s16s", 6 << 28, len(seg), proto, 64, src.packed, dst.packed)
        etype = 0x86DD
    return dst_mac + src_mac + struct.pack("!H", etype) + ip + seg


def mac(text):
    return bytes(int(x, 16) for x in text.split(":"))


def send(args):
    dev, dst_mac, proto, src, dst, sport, dport = args
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((dev, 0))
    src_mac = s.getsockname()[4]
    s.send(frame(mac(dst_mac), src_mac, PROTO[proto], ipaddress.ip_address(src),
                 ipaddress.ip_address(dst), int(sport), int(dport)))


SOL_PACKET = 263  # linux/socket.h (Python names it only on some builds)
PACKET_VNET_HDR = 15  # linux/if_packet.h


def send_paged(args):
    dev, dst_mac, src, dst, sport, dport = args
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.setsockopt(SOL_PACKET, PACKET_VNET_HDR, 1)
    s.bind((dev, 0))
    src_mac = s.getsockname()[4]
    # a virtio_net_hdr of zeros: no checksum offload, no GSO, hdr_len 0:
    # the kernel puts only the link header (dev->hard_header_len) in the
    # linear part of a frame of a page or more (af_packet's packet_snd)
    vnet = bytes(10)
    s.send(vnet + frame(mac(dst_mac), src_mac, 6, ipaddress.ip_address(src), ipaddress.ip_address(dst),
                        int(sport), int(dport), DATA * 1000))


def matches(data, src, sport, dport):
    etype = struct.unpack("!H", data[12:14])[0]
    if etype == 0x0800 and src.version == 4 and len(data) >= 34:
        ihl = (data[14] & 0xF) * 4
        if data[26:30] != src.packed or data[23] not in (6, 17):
            return False
        l4off = 14 + ihl
    elif etype == 0x86DD and src.version == 6 and len(data) >= 54:
        if data[22:38] != src.packed or data[20] not in (6, 17):
            return False
        l4off = 54
    else:
        return False
    if len(data) < l4off + 4:
        return False
    return struct.unpack("!HH", data[l4off:l4off + 4]) == (sport, dport)


def recv(args):
    dev, src, sport, dport, seconds = args[0], ipaddress.ip_address(args[1]), int(args[2]), int(args[3]), float(args[4])
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.bind((dev, 0))
    end = time.monotonic() + seconds
    count = 0
    print("ready", flush=True, file=sys.stderr)
    while True:
        left = end - time.monotonic()
        if left <= 0:
            break
        s.settimeout(left)
        try:
            data, addr = s.recvfrom(65535)
        except socket.timeout:
            break
        if addr[2] != socket.PACKET_OUTGOING and matches(data, src, sport, dport):
            count += 1
    print(count)


if __name__ == "__main__":
    {"send": send, "send-paged": send_paged, "recv": recv}[sys.argv[1]](sys.argv[2:])
