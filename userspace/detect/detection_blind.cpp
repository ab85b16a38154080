// SPDX-License-Identifier: Apache-2.0
#include "detect/detection_blind.h"

#include "common/time.h"

namespace zeroseg {

Alert DetectionBlind::alert(const char* severity, int64_t now_ns) const {
  Alert a;
  a.time_ns = a.raised_ns = now_ns;
  a.detector = "detection-blind";
  a.severity = severity;
  a.source_name = node_;
  // the flood's sources are many and maybe spoofed: nobody to quarantine
  a.source_is_culprit = false;
  a.about = open_ ? "open" : "closed";
  return a;
}

std::optional<Alert> DetectionBlind::observe(uint64_t total, int64_t now_ns) {
  // the first reading, or a datapath loaded anew (its counter from 0): a
  // reading only; an open window stays open, with what it counted so far
  if (!last_ || total < *last_) {
    last_ = total;
    return std::nullopt;
  }
  uint64_t held = total - *last_;
  last_ = total;
  if (held) {
    last_growth_ns_ = now_ns;
    if (open_) {
      held_in_window_ += held;
      return std::nullopt;
    }
    open_ = true;
    opened_ns_ = now_ns;
    held_in_window_ = held;
    Alert a = alert("medium", now_ns);
    a.summary = "detection blind: the deny-event budget (deny-events-per-cpu) held back " + std::to_string(held) +
                " denies the detectors will not see; a scan now may raise nothing (a flood of denies?)";
    return a;
  }
  if (!open_ || now_ns - last_growth_ns_ < quiet_ns_) return std::nullopt;
  open_ = false;
  Alert a = alert("low", now_ns);
  a.summary = "detection was blind from " + format_rfc3339(opened_ns_) + " to " + format_rfc3339(last_growth_ns_) +
              ": the deny-event budget held back " + std::to_string(held_in_window_) + " denies";
  return a;
}

}  // namespace zeroseg
