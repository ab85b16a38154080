// SPDX-License-Identifier: Apache-2.0
// Read-only views of the state in force, as the API returns them
// (`policy list|get`, `workload list`, `identity list`): pure functions of
// a snapshot, built outside the agent's lock.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "policy/compiler.h"
#include "policy/objects.h"

namespace zeroseg {

// The state a commit left in force: immutable, shared with its readers.
struct StateSnapshot {
  std::shared_ptr<const ObjectSet> desired;
  std::shared_ptr<const Compiled> compiled;
  std::set<std::string> attached;  // interfaces that had our programs then
};

nlohmann::json policies_view(const StateSnapshot& state);
// One policy by Kind/namespace/name, namespace/name or name: its YAML and
// rule ids. Throws Error when there is none.
nlohmann::json policy_view(const StateSnapshot& state, const std::string& ref);
nlohmann::json workloads_view(const StateSnapshot& state);
nlohmann::json identities_view(const StateSnapshot& state);

}  // namespace zeroseg
