// SPDX-License-Identifier: Apache-2.0
#include "net/packet_builder.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "common/error.h"

namespace zeroseg {
namespace {

uint16_t be16(const std::vector<uint8_t>& b, size_t at) { return static_cast<uint16_t>(b[at] << 8 | b[at + 1]); }

TEST(PacketBuilder, Ipv4TcpLengthsAndChecksum) {
  auto p = PacketBuilder().eth().ipv4("10.0.0.1", "10.0.0.2").tcp(1234, 80).payload(10).build();
  ASSERT_EQ(p.size(), 14u + 20 + 20 + 10);
  EXPECT_EQ(be16(p, 12), 0x0800);
  EXPECT_EQ(p[14 + 9], 6);
  EXPECT_EQ(be16(p, 14 + 2), 50);
  // a correct header checksum sums to 0xffff
  uint32_t sum = 0;
  for (size_t i = 0; i < 20; i += 2) sum += be16(p, 14 + i);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  EXPECT_EQ(sum, 0xffffu);
  EXPECT_EQ(be16(p, 34), 1234);
  EXPECT_EQ(be16(p, 36), 80);
}

TEST(PacketBuilder, VlanAndIpv6ExtensionChain) {
  auto p = PacketBuilder().eth().vlan(7).ipv6("fd00::1", "fd00::2").ipv6_ext(0).fragment(0, true, 9).udp(1, 2).build();
  EXPECT_EQ(be16(p, 12), 0x8100);
  EXPECT_EQ(be16(p, 14) & 0xfff, 7);
  EXPECT_EQ(be16(p, 16), 0x86dd);
  size_t ip = 18;
  EXPECT_EQ(p[ip + 6], 0);        // hop-by-hop
  EXPECT_EQ(p[ip + 40], 44);      // then fragment
  EXPECT_EQ(p[ip + 48], 17);      // then UDP
  EXPECT_EQ(be16(p, ip + 4), 8 + 8 + 8);
  EXPECT_EQ(be16(p, ip + 56 + 4), 8);  // UDP length
}

TEST(PacketBuilder, Ipv4OptionsRaiseIhl) {
  auto p = PacketBuilder().eth().ipv4("10.0.0.1", "10.0.0.2").ipv4_options({1, 1, 1}).udp(1, 2).build();
  EXPECT_EQ(p[14], 0x46);
  EXPECT_EQ(p.size(), 14u + 24 + 8);
}

TEST(PacketBuilder, IcmpErrorQuotesAPacketAndPadsToALength) {
  auto quoted = PacketBuilder().ipv4("10.0.0.2", "10.0.0.1").udp(5, 53).build();
  auto p = PacketBuilder().eth().ipv4("10.0.0.1", "10.0.0.2").icmp_error(3, 3, quoted).pad_ip_to(576).build();
  ASSERT_EQ(p.size(), 14u + 576);
  EXPECT_EQ(be16(p, 14 + 2), 576);  // the outer total length
  EXPECT_EQ(p[14 + 9], 1);
  EXPECT_EQ(p[34], 3);
  EXPECT_EQ(p[35], 3);
  EXPECT_TRUE(std::equal(quoted.begin(), quoted.end(), p.begin() + 42));

  auto quoted6 = PacketBuilder().ipv6("fd00::2", "fd00::1").udp(5, 53).build();
  auto p6 = PacketBuilder().eth().ipv6("fd00::1", "fd00::2").icmp_error(1, 4, quoted6).pad_ip_to(1280).build();
  ASSERT_EQ(p6.size(), 14u + 1280);
  EXPECT_EQ(be16(p6, 14 + 4), 1280 - 40);  // payload length
  EXPECT_EQ(p6[14 + 6], 58);
  EXPECT_TRUE(std::equal(quoted6.begin(), quoted6.end(), p6.begin() + 14 + 48));

  EXPECT_THROW(PacketBuilder().ipv4("10.0.0.1", "10.0.0.2").udp(1, 2).pad_ip_to(27), Error);
  EXPECT_THROW(PacketBuilder().eth().pad_ip_to(100), Error);
}

TEST(PacketBuilder, NeighbourDiscoveryMessagesAndHopLimit) {
  auto ns = PacketBuilder().eth().ipv6("fe80::1", "ff02::1:ff00:2").hop_limit(255).nd(135, "fd00::2").build();
  size_t ip = 14, icmp = ip + 40;
  ASSERT_EQ(ns.size(), icmp + 8 + 16);
  EXPECT_EQ(ns[ip + 6], 58);
  EXPECT_EQ(ns[ip + 7], 255);
  EXPECT_EQ(be16(ns, ip + 4), 24);
  EXPECT_EQ(ns[icmp], 135);
  EXPECT_EQ(ns[icmp + 1], 0);
  EXPECT_EQ(ns[icmp + 8], 0xfd);   // the target
  EXPECT_EQ(ns[icmp + 23], 0x02);
  EXPECT_EQ(PacketBuilder().eth().ipv6("fe80::1", "ff02::2").nd(133).build().size(), icmp + 8);
  EXPECT_EQ(PacketBuilder().eth().ipv6("fe80::1", "ff02::1").nd(134).build().size(), icmp + 16);
  EXPECT_EQ(PacketBuilder().eth().ipv6("fe80::1", "fd00::2").nd(137, "fd00::3").build().size(), icmp + 40);
  EXPECT_EQ(PacketBuilder().eth().ipv6("fe80::1", "fd00::2").nd(135).build()[ip + 7], 64);  // the default
  EXPECT_EQ(PacketBuilder().eth().ipv4("10.0.0.1", "10.0.0.2").hop_limit(1).build()[14 + 8], 1);
  EXPECT_ANY_THROW(PacketBuilder().eth().ipv6("fe80::1", "ff02::1").nd(128));
  EXPECT_ANY_THROW(PacketBuilder().eth().ipv4("10.0.0.1", "10.0.0.2").nd(135));
}

}  // namespace
}  // namespace zeroseg
