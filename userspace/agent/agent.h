// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "agent/agent_config.h"
#include "agent/agent_metrics.h"
#include "agent/desired_state.h"
#include "agent/state_files.h"
#include "agent/state_views.h"
#include "detect/detection_blind.h"
#include "detect/policy_learning.h"
#include "identity/allocator.h"
#include "policy/compiler.h"
#include "policy/objects.h"

namespace zeroseg {

class Datapath;
class FlowAnalyzer;
class FlowCatalog;
class Reconciler;
class Telemetry;
class WebhookSink;
struct Alert;

// The agent's state machine: desired objects in, datapath maps out. Every
// change is compiled whole, diffed against what the maps hold, committed
// as one transaction, then written to the state directory. A failure at
// any step leaves the maps and the stored state as they were.
class Agent : public DesiredState {
 public:
  // identity_upstream: cluster mode's numbering (etcd); none: this node's own.
  explicit Agent(const AgentConfig& config, std::shared_ptr<IdentityAllocator> identity_upstream = nullptr);
  ~Agent();

  ApplyResult apply(const ObjectSet& objects, bool dry_run) override;
  ApplyResult remove(const ObjectSet& objects, bool dry_run) override;

  // Attaches to Workload interfaces that exist now and were missing, and
  // forgets endpoints whose link is gone (the link watcher calls this on
  // every link or tc change, and once a second). On a change (event), and
  // every attach-check-interval, compares every attachment with the kernel
  // and repairs it (agent_attach.cpp).
  void sync_links(bool event = false);

  // The state in force, for the read-only views (state_views.h).
  StateSnapshot snapshot() const;
  nlohmann::json status() const;
  // `policy trace`: would FROM reach TO on port/proto, and why; FROM and TO
  // are workloads (namespace/name or name) or addresses. Runs the loaded
  // datapath on a crafted packet for each end that zeroseg guards.
  nlohmann::json trace(const std::string& from, const std::string& to, uint16_t port, uint8_t proto);
  // `quarantine add|remove|list`: a target is a workload (namespace/name,
  // or a name one namespace has) or an address. Add replaces the target's
  // quarantine; both return once the maps enforce the change.
  nlohmann::json quarantine_add(const std::string& target, std::optional<int64_t> expires_ns,
                                const std::vector<Prefix>& management, const std::string& reason);
  nlohmann::json quarantine_remove(const std::string& target);
  nlohmann::json quarantines() const;
  // `policy suggest`: SegmentPolicy YAML from the conversations seen since
  // `since_ns` (0: all), for the workloads of `ns` ("" = all).
  std::string suggest(int64_t since_ns, const std::string& ns) const;
  // The same for the workloads of these groups (namespace, labels): the map's selected nodes.
  std::string suggest_for(const SuggestGroups& groups) const;
  // Releases the quarantines whose time is up (housekeeping, each second).
  void expire_quarantines();

  const AgentConfig& config() const { return config_; }
  Telemetry& telemetry() { return *telemetry_; }
  FlowAnalyzer& analyzer() { return *analyzer_; }
  // Prometheus text for /metrics.
  std::string metrics() const;
  // Where the last commit's time went: (phase, ms) in order, as
  // `--log-level debug` logs it (bench/churn_bench reads it).
  std::vector<std::pair<const char*, double>> last_commit_phases() const {
    std::lock_guard lock(mu_);
    return last_phases_;
  }

  // Detaches from every endpoint and removes the pins (`agent --uninstall`).
  static void uninstall(const AgentConfig& config);

 private:
  ObjectSet merged(const ObjectSet& incoming, ApplyResult& result) const;
  ObjectSet without(const ObjectSet& gone, ApplyResult& result) const;
  // `record`: the change for desired.log (log_record()); "" for a change
  // of quarantines alone (quarantine_record() of next's).
  // `durable` false: the record waits for no fsync (journal_durably()).
  ApplyResult commit(ObjectSet next, ApplyResult result, bool dry_run, const std::string& record = "",
                     bool durable = true);
  bool journal_durably(const ObjectSet& objects) const;
  struct TraceEnd;
  TraceEnd trace_end(const std::string& spec) const;
  std::string quarantine_target(const std::string& spec) const;
  // The numbering files (StateFiles::persist), durable false: rules.log
  // without an fsync, as the change's journal record was (cluster mode).
  void persist(bool durable = true);
  // The state dir read back; Error ("refusing to start") when it cannot be.
  StateFiles::Loaded load_state();
  // Returns the catalog it replaced.
  std::shared_ptr<const FlowCatalog> publish_catalog();
  nlohmann::json telemetry_status() const;
  nlohmann::json detection_status() const;
  // Interfaces that should be enforced and are not, with their workloads
  // and why (for status and the apply result); under mu_.
  nlohmann::json not_enforced() const;
  nlohmann::json attachment_status() const;
  void record_apply(double seconds, bool failed);
  void housekeeping();
  void flush_journal();
  void respond(Alert& a);

  AgentConfig config_;
  std::unique_ptr<Datapath> dp_;
  StateFiles state_files_;
  mutable std::mutex mu_;
  // The state in force, as immutable snapshots: a commit swaps in new
  // ones; flow catalogs and readers keep the ones they took.
  std::shared_ptr<const ObjectSet> desired_ = std::make_shared<const ObjectSet>();
  LocalIdentityAllocator identities_;
  RuleIdAllocator rule_ids_;
  std::shared_ptr<const Compiled> compiled_ = std::make_shared<const Compiled>();
  std::unique_ptr<Reconciler> reconciler_;  // the maps and attachments
  std::chrono::steady_clock::time_point next_attach_check_{};
  std::unique_ptr<FlowAnalyzer> analyzer_;  // telemetry's second reader: detection, the flow ledger
  std::unique_ptr<Telemetry> telemetry_;  // after dp_ and analyzer_: stops before either goes
  AgentMetrics apply_stats_;
  std::vector<std::pair<const char*, double>> last_phases_;  // under mu_
  // the wait for mu_ and the merge into the desired objects, before commit()
  std::vector<std::pair<const char*, double>> pre_phases_;  // under mu_
  using SteadyTime = std::chrono::steady_clock::time_point;
  void note_pre_phases(SteadyTime asked, SteadyTime locked) {
    auto ms = [](SteadyTime a, SteadyTime b) { return std::chrono::duration<double, std::milli>(b - a).count(); };
    pre_phases_ = {{"lock", ms(asked, locked)}, {"merge", ms(locked, std::chrono::steady_clock::now())}};
  }
  WebhookSink* webhook_ = nullptr;  // owned by analyzer_

  std::mutex housekeeping_mu_;
  std::condition_variable housekeeping_cv_;
  bool stopping_ = false;
  std::vector<std::pair<std::string, std::string>> requested_;  // quarantines alerts asked for: (address, reason)
  struct Retired {  // a replaced state: 100k rules take tens of ms to free
    std::shared_ptr<const ObjectSet> desired;
    std::shared_ptr<const Compiled> compiled;
    LocalIdentityAllocator identities;
    std::shared_ptr<const FlowCatalog> catalog;  // holds the compiled state too
  };
  std::vector<std::unique_ptr<Retired>> retired_;
  // detection-blind windows, from the kernel's deny-events-over-budget (housekeeping's)
  std::optional<DetectionBlind> blind_;
  std::thread housekeeping_;  // last: stops first
};

}  // namespace zeroseg
