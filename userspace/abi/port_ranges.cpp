// SPDX-License-Identifier: Apache-2.0
#include "abi/port_ranges.h"

namespace zeroseg {

std::vector<PortPrefix> port_range_to_prefixes(uint16_t first, uint16_t last) {
  std::vector<PortPrefix> out;
  uint32_t lo = first;
  const uint32_t hi = last;
  while (lo <= hi) {
    // the largest block that starts at lo (aligned) and ends by hi
    uint32_t size = lo == 0 ? 65536 : lo & -lo;
    while (lo + size - 1 > hi) size >>= 1;
    uint8_t host_bits = static_cast<uint8_t>(__builtin_ctz(size));
    out.push_back({static_cast<uint16_t>(lo), static_cast<uint8_t>(16 - host_bits)});
    lo += size;
  }
  return out;
}

}  // namespace zeroseg
