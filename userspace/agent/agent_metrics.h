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
void write_attach_metrics(PromWriter& w, const AttachCounters& c, size_t not_enforced);

}  // namespace zeroseg
