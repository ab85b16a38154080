// SPDX-License-Identifier: Apache-2.0
// What the flow pipeline reads from the kernel, as interfaces over the ABI's
// records. The loader implements them over its maps (EventRing,
// ConntrackMap); telemetry reads through them and never touches BPF, so it
// can be fed by a test or, later, by another node's stream.
#pragma once

#include <zeroseg/config.h>
#include <zeroseg/conntrack.h>
#include <zeroseg/event.h>

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>

namespace zeroseg {

// The flows conntrack holds, each named by its zs_ct_key whatever its family.
class ConntrackReader {
 public:
  using Visit = std::function<void(const zs_ct_key&, const zs_ct_entry&)>;
  virtual ~ConntrackReader() = default;
  // Every flow, IPv4 first.
  virtual void for_each(const Visit& fn) const = 0;
  // false when the flow is absent
  virtual bool lookup(const zs_ct_key& key, zs_ct_entry* entry) const = 0;
  // false when the flow was absent
  virtual bool remove(const zs_ct_key& key) const = 0;
};

// The kernel's event records (zs_event), in the order it wrote them.
class EventSource {
 public:
  using OnEvent = std::function<void(const zs_event&)>;
  virtual ~EventSource() = default;
  // Hands every record waiting to on_event, first waiting up to timeout_ms
  // for one (0: not at all). Returns how many, or -errno.
  virtual int read(int timeout_ms, const OnEvent& on_event) = 0;
};

// Conntrack entries each endpoint holds, by ifindex, as the kernel keeps
// them: entries[table][direction], table 0 IPv4 and 1 IPv6, direction the
// zs_direction that opened the flow (its share).
using CtUsage = std::map<uint32_t, zs_ct_usage>;
// The count an entry is in: its endpoint's, table's and opening direction's.
inline uint32_t& ct_usage_count(CtUsage& usage, const zs_ct_key& key, const zs_ct_entry& ct) {
  return usage[key.ifindex].entries[zs_ct_table_of(key.tuple.family)][ct.direction & 1];
}
// Adds delta to that count, as the kernel does: an entry in no share (an
// uplink's for a local workload's flow, zs_ct_charged) counts nowhere.
inline void ct_usage_add(CtUsage& usage, const zs_ct_key& key, const zs_ct_entry& ct, int delta) {
  if (zs_ct_charged(&ct)) ct_usage_count(usage, key, ct) += static_cast<uint32_t>(delta);
}

// The kernel's per-endpoint counts (zs_ct_usage), which only the kernel's
// inserts and removals move: the conntrack sweep corrects them from its walk.
class CtUsageCounts {
 public:
  virtual ~CtUsageCounts() = default;
  virtual CtUsage read() const = 0;
  // Sets each endpoint's counts to walked plus what the kernel added since
  // before was read (flows opened while the walk ran); forgets endpoints
  // left with none.
  virtual void correct(const CtUsage& walked, const CtUsage& before) const = 0;
};

// Everything telemetry needs from the datapath.
struct KernelFlows {
  std::unique_ptr<EventSource> events;
  std::unique_ptr<ConntrackReader> conntrack;
  std::unique_ptr<CtUsageCounts> ct_usage;  // null: nothing to correct
  std::function<zs_config()> config;  // the live settings (conntrack timeouts)
};

}  // namespace zeroseg
