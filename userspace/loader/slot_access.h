// SPDX-License-Identifier: Apache-2.0
// Access to the two slots of double-buffered map values (include/zeroseg/slots.h).
#pragma once

#include <zeroseg/endpoint.h>
#include <zeroseg/ipcache.h>
#include <zeroseg/policy.h>
#include <zeroseg/source.h>

#include <cstring>

#include "loader/map.h"

namespace zeroseg {

inline uint32_t& slot_ref(zs_ipcache_value& v, int s) { return v.identity[s & 1]; }
inline zs_endpoint& slot_ref(zs_endpoint_value& v, int s) { return v.slot[s & 1]; }
inline zs_policy_entry& slot_ref(zs_policy_value& v, int s) { return v.slot[s & 1]; }
inline uint8_t& slot_ref(zs_source_value& v, int s) { return v.kind[s & 1]; }
inline uint8_t& slot_ref(zs_source_prefix_value& v, int s) { return v.allowed[s & 1]; }

// What Staged reads back from a map: get(), but an LPM trie's lookup
// returns a covering prefix's entry when the key has none.
template <class Key, class Value>
std::optional<Value> get_exact(const Map<Key, Value>& m, const Key& k) {
  return m.get(k);
}
inline std::optional<zs_source_prefix_value> get_exact(const Map<zs_source_prefix_key, zs_source_prefix_value>& m,
                                                       const zs_source_prefix_key& k) {
  auto v = m.get(k);
  if (v && v->prefixlen != k.prefixlen) return std::nullopt;
  return v;
}

// A new key's value before its slots are written.
template <class Value, class Key>
Value new_value(const Key&) {
  return Value{};
}
template <>
inline zs_source_prefix_value new_value<zs_source_prefix_value, zs_source_prefix_key>(
    const zs_source_prefix_key& k) {
  zs_source_prefix_value v{};
  v.prefixlen = static_cast<uint8_t>(k.prefixlen);  // the datapath's second probe starts below it
  return v;
}

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
