// SPDX-License-Identifier: Apache-2.0
#include "abi/port_ranges.h"

#include <gtest/gtest.h>

#include <set>

namespace zeroseg {
namespace {

// The blocks must cover exactly first..last, with no overlap.
std::set<uint32_t> covered(const std::vector<PortPrefix>& blocks) {
  std::set<uint32_t> ports;
  for (const auto& b : blocks) {
    uint32_t size = 1u << (16 - b.plen);
    EXPECT_EQ(b.port % size, 0u) << "block " << b.port << "/" << int(b.plen) << " is not aligned";
    for (uint32_t p = b.port; p < b.port + size; p++) EXPECT_TRUE(ports.insert(p).second) << "overlap at " << p;
  }
  return ports;
}

TEST(PortRanges, SinglePortIsOneFullLengthPrefix) {
  EXPECT_EQ(port_range_to_prefixes(80, 80), (std::vector<PortPrefix>{{80, 16}}));
}

TEST(PortRanges, AllPortsIsOneZeroLengthPrefix) {
  EXPECT_EQ(port_range_to_prefixes(0, 65535), (std::vector<PortPrefix>{{0, 0}}));
}

TEST(PortRanges, AlignedBlock) {
  EXPECT_EQ(port_range_to_prefixes(8000, 8007), (std::vector<PortPrefix>{{8000, 13}}));
}

TEST(PortRanges, CoversExactlyTheRange) {
  for (auto [first, last] : std::vector<std::pair<uint16_t, uint16_t>>{
           {8000, 8080}, {1, 65535}, {1024, 65535}, {1, 1023}, {65535, 65535}, {30000, 32767}, {5, 6}}) {
    auto blocks = port_range_to_prefixes(first, last);
    auto ports = covered(blocks);
    EXPECT_EQ(ports.size(), static_cast<size_t>(last - first + 1));
    EXPECT_EQ(*ports.begin(), first);
    EXPECT_EQ(*ports.rbegin(), last);
    EXPECT_LE(blocks.size(), 30u);
  }
}

TEST(PortRanges, WorstCaseStaysBounded) {
  EXPECT_EQ(port_range_to_prefixes(1, 65534).size(), 30u);
}

TEST(PortRanges, EmptyWhenReversed) { EXPECT_TRUE(port_range_to_prefixes(10, 9).empty()); }

}  // namespace
}  // namespace zeroseg
