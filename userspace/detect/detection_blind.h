// SPDX-License-Identifier: Apache-2.0
// detection-blind: windows in which the kernel's per-CPU deny-event budget
// (deny-events-per-cpu) held deny events back, read from its counter
// (deny-events-over-budget). The detectors never see those denies: a scan
// hidden behind a flood raises nothing from them (a source the kernel had
// reported before is named on its next event, with how many it held back:
// bpf/lib/events.h). So an operator is told, once when a window opens
// (medium: detection is blind now) and once when it closes (low: for how
// long, and how many), not per second of a flood.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "detect/alert.h"

namespace zeroseg {

class DetectionBlind {
 public:
  static constexpr int64_t kDefaultQuietNs = 10'000'000'000;
  // node: named as the alerts' source; quiet_ns: a window closes after
  // this long with nothing held back (a flood's pauses stay one window)
  explicit DetectionBlind(std::string node, int64_t quiet_ns = kDefaultQuietNs)
      : node_(std::move(node)), quiet_ns_(quiet_ns) {}

  // The counter's total now (it counts since the datapath was loaded: the
  // first reading is where this agent starts). An alert when a window
  // opens or closes.
  std::optional<Alert> observe(uint64_t over_budget_total, int64_t now_ns);
  bool blind() const { return open_; }

 private:
  Alert alert(const char* severity, int64_t now_ns) const;

  std::string node_;
  int64_t quiet_ns_;
  std::optional<uint64_t> last_;
  bool open_ = false;
  // summed per reading, not the counter's total now minus at the opening:
  // a datapath loaded anew inside a window restarts the counter from 0
  uint64_t held_in_window_ = 0;
  int64_t opened_ns_ = 0, last_growth_ns_ = 0;
};

}  // namespace zeroseg
