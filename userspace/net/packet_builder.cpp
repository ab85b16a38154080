// SPDX-License-Identifier: Apache-2.0
#include "net/packet_builder.h"

#include <arpa/inet.h>
#include <zeroseg/proto.h>

#include <cstring>

#include "common/error.h"
#include "net/addr.h"

namespace zeroseg {
namespace {

std::array<uint8_t, 16> addr_bytes(const std::string& text, int family) {
  auto a = IpAddr::parse(text);
  if (!a || a->family != family) throw Error("packet builder: bad IPv" + std::to_string(family) + " address " + text);
  return a->bytes;
}

}  // namespace

void PacketBuilder::put16(size_t at, uint16_t v) {
  b_[at] = static_cast<uint8_t>(v >> 8);
  b_[at + 1] = static_cast<uint8_t>(v);
}

void PacketBuilder::set_ethertype(uint16_t type) {
  if (ethertype_at_ >= 0) put16(ethertype_at_, type);
  ethertype_at_ = -1;
}

void PacketBuilder::set_next(uint8_t protocol) {
  if (next_proto_at_ >= 0) b_[next_proto_at_] = protocol;
  next_proto_at_ = -1;
}

PacketBuilder& PacketBuilder::eth() {
  const uint8_t dst[6] = {0x02, 0, 0, 0, 0, 0x02}, src[6] = {0x02, 0, 0, 0, 0, 0x01};
  b_.insert(b_.end(), dst, dst + 6);
  b_.insert(b_.end(), src, src + 6);
  ethertype_at_ = static_cast<long>(b_.size());
  b_.resize(b_.size() + 2);
  return *this;
}

PacketBuilder& PacketBuilder::vlan(uint16_t vid, uint16_t tpid) {
  set_ethertype(tpid);
  size_t at = b_.size();
  b_.resize(at + 4);
  put16(at, vid & 0x0fff);
  ethertype_at_ = static_cast<long>(at + 2);
  return *this;
}

PacketBuilder& PacketBuilder::arp() {
  set_ethertype(0x0806);
  b_.resize(b_.size() + 28);
  return *this;
}

PacketBuilder& PacketBuilder::ipv4(const std::string& src, const std::string& dst) {
  set_ethertype(0x0800);
  ip_at_ = static_cast<long>(b_.size());
  ip_version_ = 4;
  b_.resize(b_.size() + 20);
  b_[ip_at_] = 0x45;
  b_[ip_at_ + 8] = 64;  // ttl
  auto s = addr_bytes(src, 4), d = addr_bytes(dst, 4);
  std::copy(s.begin(), s.begin() + 4, b_.begin() + ip_at_ + 12);
  std::copy(d.begin(), d.begin() + 4, b_.begin() + ip_at_ + 16);
  next_proto_at_ = ip_at_ + 9;
  return *this;
}

PacketBuilder& PacketBuilder::ipv4_options(std::vector<uint8_t> options) {
  while (options.size() % 4) options.push_back(0);  // end of options list
  b_.insert(b_.end(), options.begin(), options.end());
  b_[ip_at_] = static_cast<uint8_t>(0x40 | ((20 + options.size()) / 4));
  return *this;
}

PacketBuilder& PacketBuilder::fragment(uint16_t offset_bytes, bool more, uint32_t id) {
  if (ip_version_ == 4) {
    put16(ip_at_ + 4, static_cast<uint16_t>(id));
    put16(ip_at_ + 6, static_cast<uint16_t>((offset_bytes / 8) | (more ? 0x2000 : 0)));
    return *this;
  }
  set_next(44);
  size_t at = b_.size();
  b_.resize(at + 8);
  next_proto_at_ = static_cast<long>(at);
  put16(at + 2, static_cast<uint16_t>((offset_bytes & 0xfff8) | (more ? 1 : 0)));
  uint32_t nid = htonl(id);
  std::memcpy(&b_[at + 4], &nid, 4);
  return *this;
}

PacketBuilder& PacketBuilder::ipv6(const std::string& src, const std::string& dst) {
  set_ethertype(0x86dd);
  ip_at_ = static_cast<long>(b_.size());
  ip_version_ = 6;
  b_.resize(b_.size() + 40);
  b_[ip_at_] = 0x60;
  b_[ip_at_ + 7] = 64;  // hop limit
  auto s = addr_bytes(src, 6), d = addr_bytes(dst, 6);
  std::copy(s.begin(), s.end(), b_.begin() + ip_at_ + 8);
  std::copy(d.begin(), d.end(), b_.begin() + ip_at_ + 24);
  next_proto_at_ = ip_at_ + 6;
  return *this;
}

PacketBuilder& PacketBuilder::ipv6_ext(uint8_t type, uint8_t units) {
  set_next(type);
  size_t at = b_.size();
  b_.resize(at + 8 * (1 + units));
  b_[at + 1] = units;
  if (type == 60 || type == 0) b_[at + 2] = 1;  // a PadN option filling the header
  next_proto_at_ = static_cast<long>(at);
  return *this;
}

PacketBuilder& PacketBuilder::hop_limit(uint8_t hops) {
  if (ip_at_ < 0) throw Error("packet builder: hop_limit() before ipv4() or ipv6()");
  b_[ip_at_ + (ip_version_ == 4 ? 8 : 7)] = hops;
  return *this;
}

PacketBuilder& PacketBuilder::tcp(uint16_t sport, uint16_t dport, uint8_t flags) {
  set_next(ZS_PROTO_TCP);
  size_t at = b_.size();
  b_.resize(at + 20);
  put16(at, sport);
  put16(at + 2, dport);
  b_[at + 12] = 5 << 4;
  b_[at + 13] = flags;
  put16(at + 14, 65535);
  return *this;
}

PacketBuilder& PacketBuilder::udp(uint16_t sport, uint16_t dport) {
  set_next(ZS_PROTO_UDP);
  udp_at_ = static_cast<long>(b_.size());
  b_.resize(b_.size() + 8);
  put16(udp_at_, sport);
  put16(udp_at_ + 2, dport);
  return *this;
}

PacketBuilder& PacketBuilder::sctp(uint16_t sport, uint16_t dport) {
  set_next(ZS_PROTO_SCTP);
  size_t at = b_.size();
  b_.resize(at + 12);
  put16(at, sport);
  put16(at + 2, dport);
  return *this;
}

PacketBuilder& PacketBuilder::icmp(uint8_t type, uint8_t code, uint16_t id) {
  set_next(ip_version_ == 6 ? ZS_PROTO_ICMPV6 : ZS_PROTO_ICMP);
  size_t at = b_.size();
  b_.resize(at + 8);
  b_[at] = type;
  b_[at + 1] = code;
  put16(at + 4, id);
  return *this;
}

PacketBuilder& PacketBuilder::icmp_error(uint8_t type, uint8_t code, const std::vector<uint8_t>& quoted) {
  return icmp(type, code).payload(quoted);
}

PacketBuilder& PacketBuilder::pad_ip_to(size_t total, uint8_t fill) {
  if (ip_at_ < 0) throw Error("packet builder: pad_ip_to without an IP header");
  size_t now = b_.size() - static_cast<size_t>(ip_at_);
  if (total < now)
    throw Error("packet builder: the IP datagram is " + std::to_string(now) + " bytes already, over " +
                std::to_string(total));
  return payload(total - now, fill);
}

PacketBuilder& PacketBuilder::nd(uint8_t type, const std::string& target) {
  if (ip_version_ != 6) throw Error("packet builder: nd() needs ipv6()");
  icmp(type, 0);  // type, code, checksum and the first 4 bytes of the message
  auto t = addr_bytes(target, 6);
  switch (type) {
    case 133:  // RS: reserved (in the 8 bytes already)
      break;
    case 134:  // RA: reachable time, retrans timer
      b_.resize(b_.size() + 8);
      break;
    case 135:  // NS, NA: target address
    case 136:
      b_.insert(b_.end(), t.begin(), t.end());
      break;
    case 137:  // redirect: target, then destination
      b_.insert(b_.end(), t.begin(), t.end());
      b_.insert(b_.end(), t.begin(), t.end());
      break;
    default:
      throw Error("packet builder: ICMPv6 type " + std::to_string(type) + " is not neighbour discovery");
  }
  return *this;
}

PacketBuilder& PacketBuilder::proto(uint8_t protocol) {
  set_next(protocol);
  return *this;
}

PacketBuilder& PacketBuilder::payload(const std::vector<uint8_t>& bytes) {
  b_.insert(b_.end(), bytes.begin(), bytes.end());
  return *this;
}

PacketBuilder& PacketBuilder::payload(size_t n, uint8_t fill) {
  b_.insert(b_.end(), n, fill);
  return *this;
}

std::vector<uint8_t> PacketBuilder::build() const {
  PacketBuilder p = *this;
  if (p.ip_at_ >= 0 && p.ip_version_ == 4) {
    size_t ihl = (p.b_[p.ip_at_] & 0x0f) * 4;
    p.put16(p.ip_at_ + 2, static_cast<uint16_t>(p.b_.size() - p.ip_at_));
    uint32_t sum = 0;
    for (size_t i = 0; i < ihl; i += 2)
      if (i != 10) sum += (p.b_[p.ip_at_ + i] << 8) | p.b_[p.ip_at_ + i + 1];
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    p.put16(p.ip_at_ + 10, static_cast<uint16_t>(~sum));
  } else if (p.ip_at_ >= 0) {
    p.put16(p.ip_at_ + 4, static_cast<uint16_t>(p.b_.size() - p.ip_at_ - 40));
  }
  if (p.udp_at_ >= 0) p.put16(p.udp_at_ + 4, static_cast<uint16_t>(p.b_.size() - p.udp_at_));
  return p.b_;
}

}  // namespace zeroseg
