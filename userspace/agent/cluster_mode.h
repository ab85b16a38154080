// SPDX-License-Identifier: Apache-2.0
// Cluster mode (`zeroseg agent --cluster etcd://...`): etcd holds the
// desired objects of every node (sources/cluster_store.h) and numbers
// identities (sources/cluster_identities.h; the numbers other nodes gave
// are learned from sources/identity_mirror.h). An apply through this node's
// API is written to etcd in one transaction; this node's watcher then
// applies it here like every other node's, and the API answers once the
// local datapath enforces it. The watcher feeds the agent through the
// desired-state seam alone.
#pragma once

#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <set>
#include <mutex>
#include <optional>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "agent/agent_config.h"
#include "agent/desired_state.h"
#include "agent/report_pacer.h"
#include "identity/allocator.h"
#include "sources/cluster_identities.h"
#include "sources/identity_mirror.h"
#include "sources/backoff.h"
#include "sources/cluster_store.h"
#include "sources/etcd_client.h"
#include "sources/node_lease.h"

namespace zeroseg {

class Agent;

// The etcd client the settings describe; throws Error naming the setting
// when they are incomplete or wrong.
std::shared_ptr<etcd::Client> cluster_client(const AgentConfig& config);
// The allocator the agent numbers new label sets with, in cluster mode:
// its uses are written as node's (released cluster-wide when no node has any).
std::shared_ptr<EtcdIdentityAllocator> cluster_identities(std::shared_ptr<etcd::Client> client, const std::string& node);

// At most one applied/NODE report a node per this interval (report_pacer.h).
inline constexpr std::chrono::milliseconds kReportInterval{200};

// What this node did with the change committed at `revision`, from the
// outcomes of the revisions it applied (their first revision >= `revision`:
// a relist applies every revision before its own at once, so the outcome of
// a list that took the change in is the change's). nullopt when no applied
// revision covers it any more (older than what is remembered).
template <class Outcome>
std::optional<Outcome> outcome_of(const std::map<int64_t, Outcome>& outcomes, int64_t revision) {
  auto it = outcomes.lower_bound(revision);
  if (it == outcomes.end()) return std::nullopt;
  // remembered revisions begin after ours: what happened to it is forgotten
  if (it == outcomes.begin() && it->first != revision && outcomes.size() >= 64) return std::nullopt;
  return it->second;
}

class ClusterMode : public DesiredState {
 public:
  // lease_ttl: seconds a dead node's workloads outlive it. The watcher
  // starts once the node holds its lease and has written its workloads
  // under it (so a restart after the TTL puts them back before it lists).
  // identities: the agent's upstream allocator, whose uses this node reports
  // at every lease beat, sweeping those no node has used for identity_grace
  // seconds (none: identities stay numbered, as in tests of other things).
  // report_interval: the least time between two applied/NODE reports.
  ClusterMode(Agent& agent, std::shared_ptr<etcd::Client> client, const std::string& node, int64_t lease_ttl,
              std::shared_ptr<EtcdIdentityAllocator> identities = nullptr, int64_t identity_grace = 600,
              std::chrono::milliseconds report_interval = kReportInterval);
  ~ClusterMode() override;
  // Validates the objects here (a dry run), writes them to etcd in one
  // transaction, and returns once this node enforces that revision.
  // Throws Error when they do not compile, when etcd cannot take them
  // (nothing written), or when this node did not apply them in time.
  ApplyResult apply(const ObjectSet& objects, bool dry_run) override;
  ApplyResult remove(const ObjectSet& objects, bool dry_run) override;
  // `apply --wait-all`: returns once every node holding a lease reports (its
  // applied/NODE key, under its lease) that it applied `revision`: the nodes
  // and their revisions. Throws Error naming the nodes that have not, after
  // timeout, or when etcd cannot be read.
  nlohmann::json wait_all(int64_t revision, std::chrono::milliseconds timeout) const;
  // Adds "node" to each workload of a /v1/workloads view: the node whose
  // etcd key holds it (this node for its own).
  void add_nodes(nlohmann::json& workloads) const;
  nlohmann::json status() const;
  // The cluster's metric families (Prometheus text; agent_metrics.h).
  std::string metrics() const;
  // status(), plus what etcd says now: the nodes and their leases, its
  // revision and this node's lag behind it (calls etcd: not for /v1/status).
  nlohmann::json cluster_view() const;
  // Waits until this node applied `revision` (false: timeout or stop).
  bool wait_applied(int64_t revision, std::chrono::milliseconds timeout) { return watcher_.wait_applied(revision, timeout); }
  // The last change from etcd: when the watcher read, decoded and applied
  // it, and when its maps were written (bench/etcd_churn_bench).
  struct Stamps : ChangeStamps {
    std::chrono::steady_clock::time_point enforced;
  };
  Stamps last_stamps() const;
  // The revision this node's last applied/NODE report wrote.
  int64_t reported_revision() const;

 private:
  void on_snapshot(const ObjectSet& all, int64_t revision);
  void move_unowned_workloads(const ObjectSet& all);  // from this node's keys (the layout before workloads/-/)
  void on_change(const ObjectSet& put, const ObjectSet& gone, int64_t revision);
  void on_nodes(const WorkloadNodes& nodes);
  ApplyResult wait_for(int64_t revision, const ObjectSet& objects, const char* outcome);
  struct Outcome {
    ApplyResult result;  // revision, entries_changed, not_enforced
    std::string error;   // "" = applied
  };
  // whole: a relist's (all of etcd's objects), whose success ends an
  // outstanding failure
  void apply_here(const ObjectSet& put, const ObjectSet& gone, int64_t revision, bool whole);
  // This node's workloads (those with an interface here) in the local state.
  ObjectSet own_workloads(const ObjectSet& from) const;
  void on_lease(int64_t lease);
  void on_beat();  // the lease's: identity uses reported, unused ones swept
  void remember(int64_t revision, Outcome outcome);
  void report_applied(int64_t revision);  // hands it to the reporter
  void report_loop();  // the reporter's thread: applied/NODE, under the lease, at ReportPacer's pace

  Agent& agent_;
  std::string node_;
  std::shared_ptr<etcd::Client> client_;
  ClusterStore store_;
  mutable std::mutex mu_;
  std::map<int64_t, Outcome> outcomes_;  // of the last 64 revisions this node applied
  std::map<std::string, std::string> nodes_;  // workload ref -> the node whose key holds it, under mu_
  std::set<std::string> deleting_;  // this node's workloads being deleted (refs), under mu_
  std::shared_ptr<EtcdIdentityAllocator> identities_;
  std::shared_ptr<IdentityMirror> identity_mirror_;  // where identities_ learns changes' label sets' numbers
  int64_t identity_grace_;
  ClusterWatcher watcher_;
  bool watching_ = false;  // the lease thread starts the watcher
  int64_t enforced_revision_ = 0;  // under mu_, with enforced_at_
  std::chrono::steady_clock::time_point enforced_at_;
  mutable std::mutex report_mu_;
  std::condition_variable report_cv_;
  ReportPacer pacer_;  // under report_mu_
  int64_t report_lease_ = 0;  // under report_mu_: the newest lease granted (on_lease)
  bool report_stop_ = false;  // under report_mu_
  // The first revision this node failed to apply since its state last
  // equalled etcd's, and the newest failure's reason: reported as
  // failed/NODE (wait_all names it), retried by relisting after retry_'s
  // wait (1 s doubling to 5 min, jittered: a bad object fails on many
  // nodes at once, and each relist reads and compiles everything). Under
  // report_mu_.
  int64_t failed_revision_ = 0;
  std::string failed_error_;
  Backoff retry_{std::chrono::seconds(1), std::chrono::minutes(5)};
  // failed/NODE may be there: at start and
  // after each new lease, a failure an earlier run left is deleted
  bool failed_reported_ = true;
  std::thread reporter_;
  NodeLease lease_;  // last: its thread stops first
};

}  // namespace zeroseg
