// SPDX-License-Identifier: Apache-2.0
#include "loader/conntrack_map.h"

#include <zeroseg/ipcache.h>

#include <set>

#include "common/error.h"

namespace zeroseg {

zs_ct_key4 ct_key4_of(const zs_ct_key& key) {
  zs_ct_key4 k{};
  k.ifindex = key.ifindex;
  k.saddr = key.tuple.saddr[0];
  k.daddr = key.tuple.daddr[0];
  k.sport = key.tuple.sport;
  k.dport = key.tuple.dport;
  k.proto = key.tuple.proto;
  return k;
}

zs_ct_key ct_key_of(const zs_ct_key4& key4) {
  zs_ct_key k{};
  k.ifindex = key4.ifindex;
  k.tuple.saddr[0] = key4.saddr;
  k.tuple.daddr[0] = key4.daddr;
  k.tuple.sport = key4.sport;
  k.tuple.dport = key4.dport;
  k.tuple.proto = key4.proto;
  k.tuple.family = ZS_FAMILY_IPV4;
  return k;
}

ConntrackMap::ConntrackMap(MapRef v4, MapRef v6) : v4_(std::move(v4)), v6_(std::move(v6)) {
  if (v4_.key_size() != sizeof(zs_ct_key4) || v4_.value_size() != sizeof(zs_ct_entry))
    throw_map_layout(v4_, sizeof(zs_ct_key4), sizeof(zs_ct_entry));
  if (v6_.key_size() != sizeof(zs_ct_key) || v6_.value_size() != sizeof(zs_ct_entry))
    throw_map_layout(v6_, sizeof(zs_ct_key), sizeof(zs_ct_entry));
}

bool ConntrackMap::lookup(const zs_ct_key& key, zs_ct_entry* entry) const {
  if (key.tuple.family != ZS_FAMILY_IPV4) return v6_.lookup(&key, entry);
  zs_ct_key4 k = ct_key4_of(key);
  return v4_.lookup(&k, entry);
}

bool ConntrackMap::remove(const zs_ct_key& key) const {
  if (key.tuple.family != ZS_FAMILY_IPV4) return v6_.remove(&key);
  zs_ct_key4 k = ct_key4_of(key);
  return v4_.remove(&k);
}

void ConntrackMap::put(const zs_ct_key& key, const zs_ct_entry& entry) const {
  if (key.tuple.family != ZS_FAMILY_IPV4) return v6_.update(&key, &entry);
  zs_ct_key4 k = ct_key4_of(key);
  v4_.update(&k, &entry);
}

void ConntrackMap::for_each(const Visit& fn) const {
  for_each_entry(v4_, [&](const void* k, const void* v) {
    fn(ct_key_of(*static_cast<const zs_ct_key4*>(k)), *static_cast<const zs_ct_entry*>(v));
  });
  for_each_entry(v6_, [&](const void* k, const void* v) {
    fn(*static_cast<const zs_ct_key*>(k), *static_cast<const zs_ct_entry*>(v));
  });
}

std::vector<std::pair<zs_ct_key, zs_ct_entry>> ConntrackMap::entries() const {
  std::vector<std::pair<zs_ct_key, zs_ct_entry>> out;
  for_each([&](const zs_ct_key& k, const zs_ct_entry& v) { out.emplace_back(k, v); });
  return out;
}

void ConntrackMap::clear() const {
  for (const auto& [key, entry] : entries()) remove(key);
}

CtUsageMap::CtUsageMap(MapRef map) : map_(std::move(map)) {
  if (map_.key_size() != sizeof(uint32_t) || map_.value_size() != sizeof(zs_ct_usage))
    throw_map_layout(map_, sizeof(uint32_t), sizeof(zs_ct_usage));
}

CtUsage CtUsageMap::read() const {
  CtUsage out;
  for_each_entry(map_, [&](const void* k, const void* v) {
    out[*static_cast<const uint32_t*>(k)] = *static_cast<const zs_ct_usage*>(v);
  });
  return out;
}

// Not atomic against the kernel's adds: one that lands between the read of
// now and the write is lost until the next sweep counts its entry.
void CtUsageMap::correct(const CtUsage& walked, const CtUsage& before) const {
  CtUsage now = read();
  auto at = [](const CtUsage& m, uint32_t ifindex, int t, int d) {
    auto it = m.find(ifindex);
    return it == m.end() ? 0u : it->second.entries[t][d];
  };
  std::set<uint32_t> ifindexes;
  for (const auto& [ifindex, u] : walked) ifindexes.insert(ifindex);
  for (const auto& [ifindex, u] : now) ifindexes.insert(ifindex);
  for (uint32_t ifindex : ifindexes) {
    zs_ct_usage u{};
    bool any = false;
    for (int t = 0; t < 2; t++)
      for (int d = 0; d < ZS_DIR_MAX; d++) {
        uint32_t n = at(now, ifindex, t, d), b = at(before, ifindex, t, d);
        u.entries[t][d] = at(walked, ifindex, t, d) + (n > b ? n - b : 0);
        any = any || u.entries[t][d];
      }
    if (any)
      map_.update(&ifindex, &u);
    else
      map_.remove(&ifindex);
  }
}

}  // namespace zeroseg
