// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace zeroseg {

// Builds test packets layer by layer:
//   PacketBuilder().eth().vlan(10).ipv4("10.0.0.1", "10.0.0.2").tcp(1234, 80, kSyn).build()
// Protocol numbers, ethertypes, lengths and the IPv4 header checksum are
// filled in by build(). Starting without eth() builds a bare IP packet, as
// quoted inside ICMP errors.
class PacketBuilder {
 public:
  static constexpr uint8_t kFin = 0x01, kSyn = 0x02, kRst = 0x04, kPsh = 0x08, kAck = 0x10;

  PacketBuilder& eth();
  PacketBuilder& vlan(uint16_t vid, uint16_t tpid = 0x8100);
  PacketBuilder& arp();

  PacketBuilder& ipv4(const std::string& src, const std::string& dst);
  // IPv4 options (padded to 4 bytes); call right after ipv4().
  PacketBuilder& ipv4_options(std::vector<uint8_t> options);
  // IPv4: sets offset/MF/id; IPv6: adds a fragment header.
  PacketBuilder& fragment(uint16_t offset_bytes, bool more, uint32_t id = 0x1234);
  PacketBuilder& ipv6(const std::string& src, const std::string& dst);
  // An IPv6 extension header (hop-by-hop 0, routing 43, destination
  // options 60) of 8 * (1 + units) bytes.
  PacketBuilder& ipv6_ext(uint8_t type, uint8_t units = 0);
  // The IPv4 TTL or IPv6 hop limit of the last ipv4()/ipv6() (default 64;
  // neighbour discovery sends 255).
  PacketBuilder& hop_limit(uint8_t hops);

  PacketBuilder& tcp(uint16_t sport, uint16_t dport, uint8_t flags = kSyn);
  PacketBuilder& udp(uint16_t sport, uint16_t dport);
  PacketBuilder& sctp(uint16_t sport, uint16_t dport);
  // ICMP or ICMPv6, by the IP layer below; id and sequence for echo.
  PacketBuilder& icmp(uint8_t type, uint8_t code, uint16_t id = 0);
  // An ICMP or ICMPv6 error (by the IP layer below) quoting `quoted`, a
  // bare IP packet built without eth(): the packet the error's receiver
  // sent. Any type may be given; the rest of the header is zero.
  PacketBuilder& icmp_error(uint8_t type, uint8_t code, const std::vector<uint8_t>& quoted);
  // Pads with fill until the IP datagram (its header on) is total bytes.
  PacketBuilder& pad_ip_to(size_t total, uint8_t fill = 0);
  // An ICMPv6 neighbour discovery message (RFC 4861 section 4) of type 133
  // (RS), 134 (RA), 135 (NS), 136 (NA) or 137 (redirect), code 0, with its
  // fixed fields zero and no options; target is the target address of NS,
  // NA and redirect (whose destination field repeats it). Pair it with
  // hop_limit(255) for a message a node accepts.
  PacketBuilder& nd(uint8_t type, const std::string& target = "::");
  // Any other IP protocol, with no header of its own.
  PacketBuilder& proto(uint8_t protocol);
  PacketBuilder& payload(const std::vector<uint8_t>& bytes);
  PacketBuilder& payload(size_t n, uint8_t fill = 0xab);

  std::vector<uint8_t> build() const;

 private:
  void set_next(uint8_t protocol);
  void set_ethertype(uint16_t type);
  void put16(size_t at, uint16_t v);

  std::vector<uint8_t> b_;
  long ethertype_at_ = -1;  // where the next layer's ethertype goes
  long next_proto_at_ = -1; // where the next layer's protocol number goes
  long ip_at_ = -1;
  int ip_version_ = 0;
  long udp_at_ = -1;
};

}  // namespace zeroseg
