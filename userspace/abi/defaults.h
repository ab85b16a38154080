// SPDX-License-Identifier: Apache-2.0
// Where an agent and its CLI meet unless told otherwise: kept once, here.
#pragma once

#include <zeroseg/map_sizes.h>

#include <cstdint>

namespace zeroseg {

inline constexpr const char* kDefaultSocket = "/run/zeroseg/zeroseg.sock";
inline constexpr const char* kDefaultPinDir = "/sys/fs/bpf/zeroseg";
inline constexpr const char* kDefaultStateDir = "/var/lib/zeroseg";

// The maps' sizes, set before load; pinned maps keep the sizes they were
// made with.
struct MapSizes {
  uint32_t ipcache = ZS_DEFAULT_IPCACHE_ENTRIES;
  uint32_t endpoints = ZS_DEFAULT_ENDPOINTS_ENTRIES;
  uint32_t policy = ZS_DEFAULT_POLICY_ENTRIES;
  uint32_t conntrack4 = ZS_DEFAULT_CONNTRACK4_ENTRIES;
  uint32_t conntrack6 = ZS_DEFAULT_CONNTRACK6_ENTRIES;
  uint32_t fragments = ZS_DEFAULT_FRAGMENTS_ENTRIES;
  uint32_t events_bytes = ZS_DEFAULT_EVENTS_BYTES;
};

}  // namespace zeroseg
