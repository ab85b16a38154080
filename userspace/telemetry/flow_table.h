// SPDX-License-Identifier: Apache-2.0
// FlowTable: the flows the agent knows are live, so that every flow gets
// exactly one start and one end record. Starts and denies come from the
// kernel's events; ends come from walking conntrack (sweep), which also
// deletes the entries that timed out. A flow whose entry vanished without
// timing out (LRU eviction, reuse of its tuple) still gets its end, with
// the counters last seen. The same walk reports, once, each flow that no
// reply has reached `unanswered_after` its first packet: failure-counting
// detectors then see it within seconds, not at its conntrack timeout; and
// each TCP flow refused by a RST (flow-refused), not a closing timeout later.
#pragma once

#include <zeroseg/config.h>
#include <zeroseg/conntrack.h>
#include <zeroseg/event.h>

#include <cstdint>
#include <functional>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "abi/kernel_flows.h"
#include "telemetry/flow_record.h"

namespace zeroseg {

struct CtKeyHash {
  size_t operator()(const zs_ct_key& k) const {
    return std::hash<std::string_view>()(std::string_view(reinterpret_cast<const char*>(&k), sizeof(k)));
  }
};
struct CtKeyEqual {
  bool operator()(const zs_ct_key& a, const zs_ct_key& b) const;
};

// Clocks: events carry CLOCK_MONOTONIC, conntrack CLOCK_MONOTONIC_COARSE
// (the same base); records carry Unix time.
struct FlowClock {
  int64_t mono_to_unix = 0;  // add to a monotonic ns time
  uint64_t now_coarse = 0;   // CLOCK_MONOTONIC_COARSE now
  static FlowClock now();
};

class FlowTable {
 public:
  static constexpr int64_t kDefaultUnansweredAfterNs = 3'000'000'000;
  // unanswered_after_ns: how long after its first packet a flow with no
  // reply gets its flow-unanswered record (0: never)
  explicit FlowTable(int64_t unanswered_after_ns = kDefaultUnansweredAfterNs)
      : unanswered_after_ns_(unanswered_after_ns), id_base_(random_id_base()) {}
  static uint64_t random_id_base();

  // The records one kernel event makes: a start or a deny; a revoke is the
  // end of its flow. A start whose tuple the table still holds ends the old
  // flow first (its entry timed out and was reused before a sweep).
  void on_event(const zs_event& ev, const FlowClock& clock, std::vector<FlowRecord>& out);

  // One walk of the conntrack map: ends of flows idle past their timeout
  // (their entries are deleted) and of flows whose entries vanished, and
  // flow-unanswered records (no extra walk: the one that finds ends).
  void sweep(const ConntrackReader& conntrack, const zs_config& cfg, const FlowClock& clock, std::vector<FlowRecord>& out);

  size_t live() const { return flows_.size(); }
  // Entries zs_conntrack4 and zs_conntrack6 held at the last sweep (for
  // the maps' fill).
  size_t conntrack4_entries() const { return conntrack_entries_[0]; }
  size_t conntrack6_entries() const { return conntrack_entries_[1]; }
  // Entries each endpoint (by ifindex) held at the last sweep per table
  // and share (the direction in each entry), after its deletions: what the
  // kernel's per-endpoint counts are corrected to.
  const CtUsage& endpoint_usage() const { return usage_; }

 private:
  struct Live {
    zs_ct_entry last{};  // as last seen (from the event, then from sweeps)
    uint64_t sweep = 0;  // the last sweep that saw it
    bool synced = false; // last came from conntrack (the event's clock differs)
    bool started = false;  // its start record went out
    bool unanswered = false;  // its flow-unanswered record went out
    bool refused = false;     // its flow-refused record went out
    uint8_t icmp_type = 0, icmp_code = 0;  // of the first packet
    uint64_t id = 0;  // its records' flow_id
  };
  // A flow id this table never gave before: a random base per table (so an
  // agent's restart does not repeat the last one's ids in the same log)
  // plus a count.
  uint64_t next_id() { return id_base_ + ++ids_; }
  FlowRecord end_record(const zs_ct_key& key, const Live& flow, FlowEndReason why, const FlowClock& clock) const;
  // The flow's flow-unanswered record, once, when no reply has come
  // unanswered_after_ns_ after its first packet, or its flow-refused
  // record, once, when its first answer was a RST (flow.last is from
  // conntrack).
  void report_unanswered(const zs_ct_key& key, Live& flow, const FlowClock& clock, std::vector<FlowRecord>& out) const;

  int64_t unanswered_after_ns_;
  uint64_t id_base_, ids_ = 0;

  std::unordered_map<zs_ct_key, Live, CtKeyHash, CtKeyEqual> flows_;
  uint64_t sweeps_ = 0;
  size_t conntrack_entries_[2] = {};  // IPv4, IPv6
  CtUsage usage_;
};

}  // namespace zeroseg
