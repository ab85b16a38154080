// SPDX-License-Identifier: Apache-2.0
// How `zeroseg cluster status` says where this node stands against etcd.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace zeroseg::cli {

// "revision 35 applied, etcd at 38 (lag 0: ...)": the revision applied
// here, etcd's newest and the lag. etcd's revision moves with writes this
// node does not watch (nodes' reports, identities' uses), so a head past
// the revision applied with no lag says so: "35 applied, etcd at 38, lag 0"
// read as a contradiction.
std::string revision_text(const nlohmann::json& cluster);

}  // namespace zeroseg::cli
