// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <zeroseg/conntrack.h>

#include <functional>
#include <utility>
#include <vector>

#include "abi/kernel_flows.h"
#include "loader/map.h"

namespace zeroseg {

// The flows the datapath tracks. The kernel keeps them in two maps,
// zs_conntrack4 (IPv4, under the 20-byte zs_ct_key4: a smaller key is a
// cheaper lookup on the established path) and zs_conntrack6 (IPv6, under
// zs_ct_key); here, as everywhere outside bpf/lib/conn_tracking.h, a flow is
// named by its zs_ct_key whatever its family.
class ConntrackMap : public ConntrackReader {
 public:
  ConntrackMap(MapRef v4, MapRef v6);

  bool lookup(const zs_ct_key& key, zs_ct_entry* entry) const override;
  // false when the flow was absent
  bool remove(const zs_ct_key& key) const override;
  // (The datapath finds a flow put here only once zs_ct_origin_ports has
  // its first packet's ports: bpf/lib/deny_fastpath.h. Nothing puts flows.)
  void put(const zs_ct_key& key, const zs_ct_entry& entry) const;
  // Every flow, IPv4 first, read in batches.
  void for_each(const Visit& fn) const override;
  std::vector<std::pair<zs_ct_key, zs_ct_entry>> entries() const;
  void clear() const;

  const MapRef& v4() const { return v4_; }
  const MapRef& v6() const { return v6_; }

 private:
  MapRef v4_, v6_;
};

// zs_ct_usage: the conntrack entries each endpoint holds.
class CtUsageMap : public CtUsageCounts {
 public:
  explicit CtUsageMap(MapRef map);
  CtUsage read() const override;
  void correct(const CtUsage& walked, const CtUsage& before) const override;

 private:
  MapRef map_;
};

zs_ct_key4 ct_key4_of(const zs_ct_key& key);
zs_ct_key ct_key_of(const zs_ct_key4& key4);

}  // namespace zeroseg
