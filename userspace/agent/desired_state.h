// SPDX-License-Identifier: Apache-2.0
// The desired-state seam. Every source of desired objects changes the
// state the datapath enforces through this one interface: today the local
// API (agent/routes.cpp, for `zeroseg apply` and `delete`); next an etcd
// watcher (cluster mode) and a Kubernetes watcher (pods, namespaces,
// NetworkPolicies), each a part of its own that knows nothing of the
// compiler, the maps or the other sources. Identities stay behind
// IdentityAllocator (identity/allocator.h), whose cluster implementation
// allocates through etcd. docs/ARCHITECTURE.md has the path of a policy
// through it.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "policy/objects.h"

namespace zeroseg {

// What an apply or delete did, object by object.
struct ApplyResult {
  std::vector<std::pair<std::string, std::string>> objects;  // ref, created|configured|unchanged|deleted
  uint64_t revision = 0;
  int64_t cluster_revision = 0;  // cluster mode: the etcd revision that holds the change
  size_t entries_changed = 0;
  nlohmann::json replay;  // dry runs: the recorded conversations a change would deny or allow
  // Workloads whose interface exists but could not be given both hooks:
  // the change is committed, and not enforced there ([{workload, interface, error}]).
  nlohmann::json not_enforced = nlohmann::json::array();
  nlohmann::json to_json() const;
};

class DesiredState {
 public:
  virtual ~DesiredState() = default;
  // Creates or replaces the objects (by kind, namespace and name), all of
  // them or none; returns once the datapath enforces the result. A dry run
  // changes nothing and says what would change. Throws Error (nothing
  // changed) when the result does not compile or fit.
  virtual ApplyResult apply(const ObjectSet& objects, bool dry_run) = 0;
  // Removes the objects named (their content is not compared), the same way.
  virtual ApplyResult remove(const ObjectSet& objects, bool dry_run) = 0;
};

}  // namespace zeroseg
