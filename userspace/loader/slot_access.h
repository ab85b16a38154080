// SPDX-License-Identifier: Apache-2.0
// Access to the two slots of double-buffered map values (include/zeroseg/slots.h).
#pragma once

#include <zeroseg/endpoint.h>
#include <zeroseg/ipcache.h>
#include <zeroseg/policy.h>

#include <cstring>

#include "loader/map.h"

namespace zeroseg {

inline uint32_t& slot_ref(zs_ipcache_value& v, int s) { return v.identity[s & 1]; }
inline zs_endpoint& slot_ref(zs_endpoint_value& v, int s) { return v.slot[s & 1]; }
inline zs_policy_entry& slot_ref(zs_policy_value& v, int s) { return v.slot[s & 1]; }

// An all-zero slot means "no entry" to the datapath.
template <class Slot>
bool slot_empty(const Slot& s) {
  static const Slot zero{};
  return std::memcmp(&s, &zero, sizeof(Slot)) == 0;
}

template <class Slot>
bool slot_equal(const Slot& a, const Slot& b) {
  return std::memcmp(&a, &b, sizeof(Slot)) == 0;
}

// Brings each entry's inactive slot level with its active one and drops
// entries empty in the active slot; calls on_live(key, value) per kept
// entry and returns their number.
template <class Key, class Value, class OnLive>
size_t repair_slots(const Map<Key, Value>& map, int active, OnLive on_live) {
  size_t live = 0;
  for (auto [key, value] : map.entries()) {
    auto& cur = slot_ref(value, active);
    auto& other = slot_ref(value, active ^ 1);
    if (slot_empty(cur)) {
      map.erase(key);
      continue;
    }
    if (!slot_equal(cur, other)) {
      other = cur;
      map.put(key, value);
    }
    on_live(key, value);
    live++;
  }
  return live;
}

}  // namespace zeroseg
