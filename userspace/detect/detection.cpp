// SPDX-License-Identifier: Apache-2.0
#include "detect/detection.h"

#include <zeroseg/proto.h>

#include <algorithm>
#include <filesystem>

#include "common/error.h"
#include "common/log.h"
#include "common/state_store.h"
#include "common/time.h"

namespace zeroseg {
namespace {

constexpr const char* kBaselineFile = "baseline.json";
constexpr int64_t kSaveEvery = 60'000'000'000;    // flow time between baseline writes
constexpr int64_t kExpireEvery = 10'000'000'000;  // flow time between walks over idle state

// Detection::kSeverities' index; an unknown severity counts as high
size_t severity_index(const std::string& s) { return s == "low" ? 0 : s == "medium" ? 1 : 2; }

}  // namespace

Detection::Detection(DetectionConfig config)
    : config_(config),
      detectors_(make_detectors(config)),
      baseline_(config.learning_ns),
      raised_(new std::atomic<uint64_t>[detectors_.size() * 3]()),
      suppressed_(new std::atomic<uint64_t>[detectors_.size()]()) {
  if (config_.state_dir.empty()) return;
  std::string path = config_.state_dir + "/" + kBaselineFile;
  try {
    std::string text = StateStore(config_.state_dir).read(kBaselineFile);  // throws when unreadable
    if (text.empty()) return;
    baseline_.load_json(text, path);
  } catch (const Error& e) {
    // the agent's own file: keep it for a look, and learn again
    std::error_code ec;
    std::filesystem::rename(path, path + ".bad", ec);
    log::warn(std::string(e.what()) + ": kept as " + path + ".bad; learning a new baseline");
    baseline_ = Baseline(config_.learning_ns);
  }
  publish_status();
}

const std::string& Detection::identity_key(uint32_t id, const FlowCatalog& names) {
  auto [it, fresh] = identity_keys_.try_emplace(id);
  if (fresh) {
    const auto& ident = names.identity(id);
    it->second = ident.labels_json == "{}" || ident.labels_json.empty() ? ident.name.text : ident.labels_json;
  }
  return it->second;
}

// Tells the baseline about the attempt, and marks what was news to it.
void Detection::mark_news(Attempt& a, const FlowCatalog& names) {
  if (names.serial() != catalog_serial_) {  // identity numbers may mean other labels now
    catalog_serial_ = names.serial();
    known_edges_.clear();
    known_services_.clear();
    identity_keys_.clear();
  }
  // traffic on the edge: a start judged where the flow is decided, or an
  // answer. A start at its source's end (egress) to a workload's address
  // is not yet traffic: that workload's own end judges it (its start
  // there, or the flow's answered end, says it went through). Counted at
  // the source's end, every SYN an attacker's own end let out made a new
  // edge, also to targets that denied it
  bool decided = a.start && (a.ingress() || !names.workload_address(a.dst));
  bool traffic = decided || (a.outcome && !a.failed);
  if (traffic && known_edges_.insert({a.src_identity, a.dst_identity, a.port, a.proto}).second)
    a.new_edge = baseline_
                     .traffic(identity_key(a.src_identity, names), identity_key(a.dst_identity, names), a.proto,
                              a.port, a.time_ns)
                     .edge;
  bool service = (a.proto == ZS_PROTO_TCP || a.proto == ZS_PROTO_UDP) && lateral_movement_port(a.port);
  if (service && known_services_.insert(uint64_t{a.src_identity} << 16 | a.port).second)
    a.new_service = baseline_.service_try(identity_key(a.src_identity, names), a.port, a.time_ns);
}

void Detection::observe(const FlowRecord& r, const FlowCatalog& names, std::vector<Alert>& out) {
  Attempt a = attempt_of(r);
  if (!r.link_control()) mark_news(a, names);
  // idle state goes every 10 s of flow time (a walk over all of it: by
  // time, not by record count, so a flood does not walk more often)
  if (a.time_ns - last_expire_ns_ >= kExpireEvery) {
    last_expire_ns_ = a.time_ns;
    int64_t keep = std::max({config_.window_ns, config_.chain_window_ns, config_.denied_burst_window_ns});
    for (auto& d : detectors_) d->expire(a.time_ns - keep);
    publish_status();
    for (auto it = last_alert_.begin(); it != last_alert_.end();)
      it = a.time_ns - it->second > config_.suppress_ns ? last_alert_.erase(it) : std::next(it);
  }
  if (baseline_.dirty() && a.time_ns - last_save_ns_ >= kSaveEvery) {
    last_save_ns_ = a.time_ns;
    save();
  }
  std::vector<Alert> raised;
  for (size_t i = 0; i < detectors_.size(); i++) {
    raised.clear();
    detectors_[i]->observe(a, names, raised);
    for (auto& al : raised) {
      auto [it, fresh] = last_alert_.try_emplace({i, a.src, al.about}, a.time_ns);
      if (!fresh && a.time_ns - it->second < config_.suppress_ns) {
        suppressed_[i]++;
        continue;
      }
      it->second = a.time_ns;
      if (last_alert_.size() > config_.state_keys) forget_suppressions(a.time_ns);
      raised_[i * 3 + severity_index(al.severity)]++;
      al.time_ns = a.time_ns;
      al.source_identity = a.src_identity;
      al.source_ip = a.src.str();
      al.source_name = names.party(a.src, a.src_identity).text;
      al.source_labels_json = names.identity(a.src_identity).labels_json;
      out.push_back(std::move(al));
    }
  }
}

// A source that raises alerts on many targets (or a flood of sources that
// each raise one) must not grow the memos without bound: the older half of
// the suppression period goes, and if that is not enough, all of it.
void Detection::forget_suppressions(int64_t now) {
  for (auto it = last_alert_.begin(); it != last_alert_.end();)
    it = now - it->second > config_.suppress_ns / 2 ? last_alert_.erase(it) : std::next(it);
  if (last_alert_.size() > config_.state_keys) last_alert_.clear();
}

size_t Detection::state_keys() const {
  size_t n = last_alert_.size();
  for (const auto& d : detectors_) n += d->keys();
  return n;
}

void Detection::publish_status() {
  std::lock_guard lock(status_mu_);
  int64_t started = baseline_.learning_started().value_or(0);
  status_ = {started, started ? started + config_.learning_ns : 0, baseline_.edges(), baseline_.services()};
}

void Detection::save() {
  publish_status();
  if (config_.state_dir.empty() || !baseline_.dirty()) return;
  try {
    StateStore(config_.state_dir).write(kBaselineFile, baseline_.to_json());
    baseline_.saved();
  } catch (const Error& e) {
    log::warn(std::string("saving the detection baseline: ") + e.what());
  }
}

Detection::BaselineStatus Detection::baseline_status() const {
  std::lock_guard lock(status_mu_);
  return status_;
}

std::vector<Detection::Count> Detection::counts() const {
  std::vector<Count> out;
  for (size_t i = 0; i < detectors_.size(); i++) {
    Count c{detectors_[i]->name(), 0, suppressed_[i].load(), {}};
    for (size_t s = 0; s < 3; s++) c.raised += c.raised_by_severity[s] = raised_[i * 3 + s].load();
    out.push_back(c);
  }
  return out;
}

}  // namespace zeroseg
