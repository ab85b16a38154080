// SPDX-License-Identifier: Apache-2.0
// Cluster mode (`zeroseg agent --cluster etcd://...`): etcd holds the
// desired objects of every node (sources/cluster_store.h) and numbers
// identities (sources/cluster_identities.h). An apply through this node's
// API is written to etcd in one transaction; this node's watcher then
// applies it here like every other node's, and the API answers once the
// local datapath enforces it. The watcher feeds the agent through the
// desired-state seam alone.
#pragma once

#include <map>
#include <memory>
#include <set>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>

#include "agent/agent_config.h"
#include "agent/desired_state.h"
#include "identity/allocator.h"
#include "sources/cluster_store.h"
#include "sources/etcd_client.h"
#include "sources/node_lease.h"

namespace zeroseg {

class Agent;

// The etcd client the settings describe; throws Error naming the setting
// when they are incomplete or wrong.
std::shared_ptr<etcd::Client> cluster_client(const AgentConfig& config);
// The allocator the agent numbers new label sets with, in cluster mode.
std::shared_ptr<IdentityAllocator> cluster_identities(std::shared_ptr<etcd::Client> client);

class ClusterMode : public DesiredState {
 public:
  // lease_ttl: seconds a dead node's workloads outlive it. The watcher
  // starts once the node holds its lease and has written its workloads
  // under it (so a restart after the TTL puts them back before it lists).
  ClusterMode(Agent& agent, std::shared_ptr<etcd::Client> client, const std::string& node, int64_t lease_ttl);
  ~ClusterMode() override;
  // Validates the objects here (a dry run), writes them to etcd in one
  // transaction, and returns once this node enforces that revision.
  // Throws Error when they do not compile, when etcd cannot take them
  // (nothing written), or when this node did not apply them in time.
  ApplyResult apply(const ObjectSet& objects, bool dry_run) override;
  ApplyResult remove(const ObjectSet& objects, bool dry_run) override;
  nlohmann::json status() const;
  // The cluster's metric families (Prometheus text; agent_metrics.h).
  std::string metrics() const;
  // status(), plus what etcd says now: the nodes and their leases, its
  // revision and this node's lag behind it (calls etcd: not for /v1/status).
  nlohmann::json cluster_view() const;

 private:
  void on_snapshot(const ObjectSet& all, int64_t revision);
  void on_change(const ObjectSet& put, const ObjectSet& gone, int64_t revision);
  ApplyResult wait_for(int64_t revision, const ObjectSet& objects, const char* outcome);
  struct Outcome {
    ApplyResult result;  // revision, entries_changed, not_enforced
    std::string error;   // "" = applied
  };
  void apply_here(const ObjectSet& put, const ObjectSet& gone, int64_t revision);
  // This node's workloads (those with an interface here) in the local state.
  ObjectSet own_workloads(const ObjectSet& from) const;
  void on_lease(int64_t lease);
  void remember(int64_t revision, Outcome outcome);

  Agent& agent_;
  std::string node_;
  std::shared_ptr<etcd::Client> client_;
  ClusterStore store_;
  mutable std::mutex mu_;
  std::map<int64_t, Outcome> outcomes_;  // of the last 64 revisions this node applied
  std::set<std::string> deleting_;  // this node's workloads being deleted (refs), under mu_
  ClusterWatcher watcher_;
  bool watching_ = false;  // the lease thread starts the watcher
  NodeLease lease_;  // last: its thread stops first
};

}  // namespace zeroseg
