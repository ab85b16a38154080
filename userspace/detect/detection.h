// SPDX-License-Identifier: Apache-2.0
// Detection: the detectors (detectors.h) over the flow stream, with the
// learned baseline (baseline.h) marking new edges and service uses first,
// and duplicate suppression per detector, source and subject. Runs on the
// telemetry thread; its counters are read by /metrics from others.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <tuple>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "detect/baseline.h"
#include "detect/detectors.h"

namespace zeroseg {

class Detection {
 public:
  // Loads the baseline from config.state_dir when there is one.
  explicit Detection(DetectionConfig config = {});

  // The alerts this record raises, suppression applied, sources filled in.
  void observe(const FlowRecord& r, const FlowCatalog& names, std::vector<Alert>& out);
  // Writes the baseline to the state dir if it changed (observe does so
  // once a minute of flow time; the agent on stop).
  void save();

  struct Count {
    std::string detector;
    uint64_t raised, suppressed;
    uint64_t raised_by_severity[3];  // low, medium, high (kSeverities)
  };
  static constexpr const char* kSeverities[3] = {"low", "medium", "high"};
  std::vector<Count> counts() const;
  struct BaselineStatus {
    int64_t learning_started_ns, learning_ends_ns;  // 0: nothing seen yet
    size_t edges, services;
  };
  BaselineStatus baseline_status() const;
  // Keys of state the detectors hold, and the suppression memos: the
  // analyzer's thread only (tests).
  size_t state_keys() const;

 private:
  void mark_news(Attempt& a, const FlowCatalog& names);
  void publish_status();
  void forget_suppressions(int64_t now);
  const std::string& identity_key(uint32_t id, const FlowCatalog& names);

  DetectionConfig config_;
  std::vector<std::unique_ptr<Detector>> detectors_;
  Baseline baseline_;
  int64_t last_save_ns_ = 0;
  // what the baseline already holds, by identity numbers of one catalog
  uint64_t catalog_serial_ = 0;
  struct EdgeIds {
    uint32_t src, dst;
    uint16_t port;
    uint8_t proto;
    bool operator==(const EdgeIds& o) const { return src == o.src && dst == o.dst && port == o.port && proto == o.proto; }
  };
  struct EdgeIdsHash {
    size_t operator()(const EdgeIds& e) const {
      return std::hash<uint64_t>()((uint64_t{e.src} << 32 | e.dst) ^ (uint64_t{e.port} << 8 | e.proto) * 0x9e3779b97f4a7c15);
    }
  };
  std::unordered_set<EdgeIds, EdgeIdsHash> known_edges_;
  std::unordered_set<uint64_t> known_services_;  // src identity << 16 | port
  std::unordered_map<uint32_t, std::string> identity_keys_;
  std::map<std::tuple<size_t, IpAddr, std::string>, int64_t> last_alert_;  // (detector, source, about) -> time
  // raised_: per detector and severity (3 each); suppressed_: per detector
  std::unique_ptr<std::atomic<uint64_t>[]> raised_, suppressed_;
  mutable std::mutex status_mu_;  // baseline_status from other threads
  BaselineStatus status_{};
  int64_t last_expire_ns_ = 0;
};

}  // namespace zeroseg
