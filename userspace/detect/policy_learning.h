// SPDX-License-Identifier: Apache-2.0
// Policy learning from what really flows (the conversations of the flow
// ledger, telemetry/flow_ledger.h): pure functions, the agent hands them
// its state.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <set>
#include <utility>
#include <string>
#include <vector>

#include "policy/compiler.h"
#include "policy/objects.h"
#include "telemetry/flow_ledger.h"

namespace zeroseg {

// `policy suggest`: least-privilege SegmentPolicy YAML, one policy per group
// of workloads with the same labels (of namespace `ns`, "" = all), allowing
// exactly the conversations seen since `since_ns` (0: all) that were
// allowed or audited. `only`, when set: the groups (namespace, labels) to
// write policies for (the map's selected nodes), in place of `ns`.
using SuggestGroups = std::set<std::pair<std::string, Labels>>;
std::string suggest_policies(const std::vector<Conversation>& seen, const ObjectSet& state, const std::string& node,
                             int64_t since_ns, const std::string& ns, const SuggestGroups* only = nullptr);

// `policy diff` (what-if): the conversations judged under the state in
// force and under a draft, and those whose verdict would change.
nlohmann::json replay_conversations(std::vector<Conversation> conversations, const Compiled& current,
                                    const ObjectSet& current_state, const Compiled& draft,
                                    const ObjectSet& draft_state);

}  // namespace zeroseg
