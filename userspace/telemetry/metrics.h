// SPDX-License-Identifier: Apache-2.0
// Prometheus text exposition (format 0.0.4) for /metrics.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "datapath/datapath.h"
#include "telemetry/telemetry.h"

namespace zeroseg {

// Writes metric families: HELP and TYPE once, then samples.
class PromWriter {
 public:
  using LabelList = std::initializer_list<std::pair<const char*, std::string>>;
  void family(const std::string& name, const char* type, const char* help);
  void sample(const std::string& name, LabelList labels, double value);
  void sample(const std::string& name, double value) { sample(name, {}, value); }
  const std::string& text() const { return out_; }

 private:
  std::string out_;
};

// What the agent adds to the datapath's and the pipeline's numbers.
struct AgentMetrics {
  uint64_t revision = 0;
  uint64_t applies = 0, apply_failures = 0;
  double last_apply_seconds = 0;
  // histogram of apply durations: upper bounds in seconds and counts
  std::vector<std::pair<double, uint64_t>> apply_buckets;
  double apply_seconds_sum = 0;
  size_t workloads = 0, policies = 0, identities = 0;
  std::map<std::string, uint64_t> alerts_by_detector;             // detection
  std::map<std::string, uint64_t> alerts_suppressed_by_detector;  // duplicates held back
  std::map<std::string, uint64_t> webhook;  // sent, failed, dropped; empty: no webhook
  size_t quarantines = 0;
  uint64_t analysis_skipped = 0;  // records the analyzer had no time for
};

// Latency buckets for applies, in seconds.
const std::vector<double>& apply_bucket_bounds();

std::string render_metrics(const Datapath& dp, const TelemetryCounters& t, const AgentMetrics& a);

}  // namespace zeroseg
