// SPDX-License-Identifier: Apache-2.0
// The map's data (`zeroseg agent --ui-listen`): who talks to whom, as a
// graph built from the flow lines the agent keeps (the same JSON lines as
// `zeroseg flows -o json`), its alerts and its quarantines. Pure functions
// over JSON: the routes (ui_routes.h) hand them what the agent holds.
//
// A node is an identity (its number; workloads of one label set share it),
// in its namespace (the identity's zeroseg.io/namespace label; world, host
// and CIDR identities have none). An edge is a pair of identities that a
// flow went between, source to destination of its first packet. A flow is
// one 5-tuple: a flow between two guarded workloads is reported at both
// ends, and counts once, with the stricter verdict (denied over audit over
// allowed) and the rule of the end that gave it.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace zeroseg::ui {

// Filters of /api/graph, /api/edge and /api/events.
struct GraphQuery {
  std::string ns;       // either end in this namespace
  std::string label;    // "key=value" or "key": either end has it
  std::string verdict;  // allowed, denied or audit: flows of that verdict only
  std::optional<int64_t> since_ns;  // flows at or after (Unix ns)
};

// From a query string's parameters (namespace, label, verdict, since: an
// RFC 3339 time or a duration back from now_ns, "15m"). Throws Error naming
// the parameter and what it accepts.
GraphQuery graph_query(const std::map<std::string, std::string>& query, int64_t now_ns);

// What the graph is built from.
struct GraphInput {
  std::vector<std::string> flow_lines;   // oldest first, each one JSON object
  std::vector<std::string> alert_lines;  // likewise (alert_json)
  nlohmann::json quarantines = nlohmann::json::array();  // Agent::quarantines(): target, addresses
  bool baseline_learned = false;         // the detector has a baseline: "new" edges mean something
};

// {"nodes":[{"id","identity","name","namespace","labels","workloads","ips",
//   "flows","alerts":[{"detector","severity","summary"}],"quarantined"}],
//  "edges":[{"id","from","to","flows","allowed","denied","audit","new",
//   "verdict","ports","last"}],
//  "namespaces":[...],"flows":N,"baseline":bool}
// Lines that are not flow JSON are skipped (counted in "skipped").
nlohmann::json build_graph(const GraphInput& in, const GraphQuery& q);

// The flows of one edge (identities from -> to), newest first, at most
// `limit`: time, protocol, source, destination, verdict, reason, rule,
// policy, why, and the records they came from (interface, direction,
// verdict, rule).
nlohmann::json edge_flows(const GraphInput& in, const GraphQuery& q, uint32_t from, uint32_t to, size_t limit);

// The (namespace, labels) of each identity asked for that the flows name:
// what `policy suggest` groups workloads by. Identities no flow names are
// left out.
struct Group {
  std::string ns;
  std::map<std::string, std::string> labels;
};
std::vector<Group> groups_of(const GraphInput& in, const std::vector<uint32_t>& identities);

}  // namespace zeroseg::ui
