// SPDX-License-Identifier: Apache-2.0
// SHA-1 here rather than OpenSSL's: telemetry links no crypto library, and
// a Community ID's input is one block (at most 40 bytes), ~0.3 us a record.
#include "telemetry/community_id.h"

#include <zeroseg/ipcache.h>
#include <zeroseg/proto.h>

#include <arpa/inet.h>

#include <cstring>
#include <utility>

namespace zeroseg {
namespace {

uint32_t rol(uint32_t v, int n) { return (v << n) | (v >> (32 - n)); }

void sha1_block(uint32_t h[5], const uint8_t* p) {
  uint32_t w[80];
  for (int i = 0; i < 16; i++)
    w[i] = uint32_t(p[4 * i]) << 24 | uint32_t(p[4 * i + 1]) << 16 | uint32_t(p[4 * i + 2]) << 8 | p[4 * i + 3];
  for (int i = 16; i < 80; i++) w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
  uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
  for (int i = 0; i < 80; i++) {
    uint32_t f, k;
    if (i < 20) f = (b & c) | (~b & d), k = 0x5A827999;
    else if (i < 40) f = b ^ c ^ d, k = 0x6ED9EBA1;
    else if (i < 60) f = (b & c) | (b & d) | (c & d), k = 0x8F1BBCDC;
    else f = b ^ c ^ d, k = 0xCA62C1D6;
    uint32_t t = rol(a, 5) + f + e + k + w[i];
    e = d, d = c, c = rol(b, 30), b = a, a = t;
  }
  h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e;
}

// The ICMP/ICMPv6 types that have a counterpart (request and reply), as
// the spec (after Zeek's ICMP4_counterpart/ICMP6_counterpart) lists them;
// -1: none, the message is one-way.
int icmp_counterpart(uint8_t proto, uint8_t type) {
  if (proto == ZS_PROTO_ICMP) {
    switch (type) {
      case 8: return 0;   case 0: return 8;    // echo
      case 13: return 14; case 14: return 13;  // timestamp
      case 15: return 16; case 16: return 15;  // information
      case 10: return 9;  case 9: return 10;   // router solicitation, advertisement
      case 17: return 18; case 18: return 17;  // address mask
    }
    return -1;
  }
  switch (type) {
    case 128: return 129; case 129: return 128;  // echo
    case 133: return 134; case 134: return 133;  // router solicitation, advertisement
    case 135: return 136; case 136: return 135;  // neighbor solicitation, advertisement
    case 130: return 131; case 131: return 130;  // MLD query, report
    case 139: return 140; case 140: return 139;  // node information query, reply
    case 144: return 145; case 145: return 144;  // home agent address discovery
  }
  return -1;
}

constexpr char kBase64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

}  // namespace

void sha1(const uint8_t* data, size_t len, uint8_t out[20]) {
  uint32_t h[5] = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
  size_t full = len / 64 * 64;
  for (size_t i = 0; i < full; i += 64) sha1_block(h, data + i);
  uint8_t tail[128] = {};
  size_t rest = len - full;
  std::memcpy(tail, data + full, rest);
  tail[rest] = 0x80;
  size_t blocks = rest + 9 > 64 ? 2 : 1;
  uint64_t bits = static_cast<uint64_t>(len) * 8;
  for (int i = 0; i < 8; i++) tail[blocks * 64 - 1 - i] = static_cast<uint8_t>(bits >> (8 * i));
  for (size_t b = 0; b < blocks; b++) sha1_block(h, tail + 64 * b);
  for (int i = 0; i < 5; i++)
    for (int j = 0; j < 4; j++) out[4 * i + j] = static_cast<uint8_t>(h[i] >> (24 - 8 * j));
}

std::string community_id(const zs_tuple& t, uint8_t icmp_type, uint8_t icmp_code, uint16_t seed) {
  const size_t alen = t.family == ZS_FAMILY_IPV4 ? 4 : 16;
  const auto* s = reinterpret_cast<const uint8_t*>(t.saddr);
  const auto* d = reinterpret_cast<const uint8_t*>(t.daddr);
  // ports in host order; has_ports: the hash takes them
  uint16_t sp = 0, dp = 0;
  bool has_ports = true, one_way = false;
  if (zs_has_ports(t.proto)) {
    sp = ntohs(t.sport);
    dp = ntohs(t.dport);
  } else if (zs_is_icmp(t.proto)) {
    int counter = icmp_counterpart(t.proto, icmp_type);
    sp = icmp_type;
    dp = counter < 0 ? icmp_code : static_cast<uint16_t>(counter);
    one_way = counter < 0;
  } else {
    has_ports = false;
  }
  int order = std::memcmp(s, d, alen);
  bool swap = !one_way && (order > 0 || (order == 0 && sp > dp));
  if (swap) {
    std::swap(s, d);
    std::swap(sp, dp);
  }
  uint8_t buf[40];
  size_t n = 0;
  buf[n++] = static_cast<uint8_t>(seed >> 8);
  buf[n++] = static_cast<uint8_t>(seed);
  std::memcpy(buf + n, s, alen), n += alen;
  std::memcpy(buf + n, d, alen), n += alen;
  buf[n++] = t.proto;
  buf[n++] = 0;
  if (has_ports) {
    buf[n++] = static_cast<uint8_t>(sp >> 8), buf[n++] = static_cast<uint8_t>(sp);
    buf[n++] = static_cast<uint8_t>(dp >> 8), buf[n++] = static_cast<uint8_t>(dp);
  }
  uint8_t digest[20];
  sha1(buf, n, digest);
  std::string out = "1:";
  out.reserve(30);
  for (int i = 0; i < 21; i += 3) {  // 20 bytes: six whole groups and one of two bytes
    uint32_t v = uint32_t(digest[i]) << 16 | (i + 1 < 20 ? uint32_t(digest[i + 1]) << 8 : 0) |
                 (i + 2 < 20 ? digest[i + 2] : 0);
    out += kBase64[(v >> 18) & 63];
    out += kBase64[(v >> 12) & 63];
    out += i + 1 < 20 ? kBase64[(v >> 6) & 63] : '=';
    out += i + 2 < 20 ? kBase64[v & 63] : '=';
  }
  return out;
}

}  // namespace zeroseg
