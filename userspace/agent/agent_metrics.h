// SPDX-License-Identifier: Apache-2.0
// The control plane's metric families: revision, objects, applies.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "agent/attachments.h"
#include "common/prom_writer.h"

namespace zeroseg {

struct AgentMetrics {
  uint64_t revision = 0;
  uint64_t applies = 0, apply_failures = 0;
  double last_apply_seconds = 0;
  // histogram of apply durations: upper bounds in seconds and counts
  std::vector<std::pair<double, uint64_t>> apply_buckets;
  double apply_seconds_sum = 0;
  size_t workloads = 0, policies = 0, identities = 0;
  size_t quarantines = 0;
};

// Latency buckets for applies, in seconds.
const std::vector<double>& apply_bucket_bounds();

void write_agent_metrics(PromWriter& w, const AgentMetrics& a);
// Attachment repairs, failures and checks; not_enforced: interfaces without both hooks now.
// Cluster mode: etcd reachable or not and since when, the revisions applied and seen, the lag.
struct ClusterMetrics {
  bool up = false;
  int64_t outage_since_ns = 0;  // realtime; 0 while up
  int64_t applied_revision = 0, store_revision = 0, lag = 0;
  uint64_t relists = 0;
  uint64_t watch_events = 0;
};
void write_cluster_metrics(PromWriter& w, const ClusterMetrics& c);
void write_attach_metrics(PromWriter& w, const AttachCounters& c, size_t not_enforced);

}  // namespace zeroseg
