// SPDX-License-Identifier: Apache-2.0
// Detection: the detectors (detectors.h) over the flow stream, with
// duplicate suppression per source and detector. Runs on the telemetry
// thread; its counters are read by /metrics from others.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "detect/detectors.h"

namespace zeroseg {

class Detection {
 public:
  explicit Detection(DetectionConfig config = {});

  // The alerts this record raises, suppression applied, sources filled in.
  void observe(const FlowRecord& r, const FlowCatalog& names, std::vector<Alert>& out);

  struct Count {
    std::string detector;
    uint64_t raised, suppressed;
  };
  std::vector<Count> counts() const;

 private:
  DetectionConfig config_;
  std::vector<std::unique_ptr<Detector>> detectors_;
  std::map<std::pair<size_t, IpAddr>, int64_t> last_alert_;  // (detector, source) -> time
  std::unique_ptr<std::atomic<uint64_t>[]> raised_, suppressed_;
  uint64_t seen_ = 0;
};

}  // namespace zeroseg
