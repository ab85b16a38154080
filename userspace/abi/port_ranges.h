// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstdint>
#include <vector>

namespace zeroseg {

// A block of ports sharing their leading plen bits (see zs_policy_key).
struct PortPrefix {
  uint16_t port;  // masked to plen
  uint8_t plen;   // 0..16
  bool operator==(const PortPrefix&) const = default;
};

// The fewest aligned power-of-two blocks that cover first..last exactly
// (at most 30). first > last yields nothing.
std::vector<PortPrefix> port_range_to_prefixes(uint16_t first, uint16_t last);

}  // namespace zeroseg
