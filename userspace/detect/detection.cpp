// SPDX-License-Identifier: Apache-2.0
#include "detect/detection.h"

#include "common/time.h"

namespace zeroseg {

Detection::Detection(DetectionConfig config)
    : config_(config),
      detectors_(make_detectors(config)),
      raised_(new std::atomic<uint64_t>[detectors_.size()]()),
      suppressed_(new std::atomic<uint64_t>[detectors_.size()]()) {}

void Detection::observe(const FlowRecord& r, const FlowCatalog& names, std::vector<Alert>& out) {
  auto a = attempt_of(r);
  if (!a) return;
  // idle state goes once a window
  if (++seen_ % 4096 == 0) {
    for (auto& d : detectors_) d->expire(a->time_ns - config_.window_ns);
    for (auto it = last_alert_.begin(); it != last_alert_.end();)
      it = a->time_ns - it->second > config_.suppress_ns ? last_alert_.erase(it) : std::next(it);
  }
  std::vector<Alert> raised;
  for (size_t i = 0; i < detectors_.size(); i++) {
    raised.clear();
    detectors_[i]->observe(*a, names, raised);
    for (auto& al : raised) {
      auto [it, fresh] = last_alert_.try_emplace({i, a->src}, a->time_ns);
      if (!fresh && a->time_ns - it->second < config_.suppress_ns) {
        suppressed_[i]++;
        continue;
      }
      it->second = a->time_ns;
      raised_[i]++;
      al.time_ns = a->time_ns;
      al.source_identity = a->src_identity;
      al.source_ip = a->src.str();
      al.source_name = names.party(a->src, a->src_identity).text;
      al.source_labels_json = names.identity(a->src_identity).labels_json;
      out.push_back(std::move(al));
    }
  }
}

std::vector<Detection::Count> Detection::counts() const {
  std::vector<Count> out;
  for (size_t i = 0; i < detectors_.size(); i++)
    out.push_back({detectors_[i]->name(), raised_[i].load(), suppressed_[i].load()});
  return out;
}

}  // namespace zeroseg
