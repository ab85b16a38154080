// SPDX-License-Identifier: Apache-2.0
// `zeroseg flows` filters as hubble's: repeated --from-label/--to-label
// (key=value, every one must match), --pod NAMESPACE/NAME (either end;
// NAMESPACE/ for any pod of it), --not (negates the filter after it),
// --since/--until (a duration back from now, or an RFC 3339 time).
// The agent applies what its query can say (from, to, port, protocol,
// verdict, event, since); the rest is applied here, on the recent flows
// and on the live stream alike.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace zeroseg::cli {

struct FlowFilterTerm {
  std::string flag;   // "from-label", "to-label", "pod", "port", "protocol", "verdict", "event"
  std::string value;  // as given; "from-label" and "to-label": key=value
  bool negated = false;
};

struct FlowFilters {
  std::vector<FlowFilterTerm> terms;  // all must hold
  std::optional<int64_t> since_ns, until_ns;

  // Whether the agent's query cannot say everything: then every recent
  // flow is fetched, filtered here, and the last N kept.
  bool needs_client_side() const;
  // The terms the agent applies (not negated port, protocol, verdict, event).
  bool for_agent(const FlowFilterTerm& t) const;
  // Whether a flow record passes every term and the time window.
  bool matches(const nlohmann::json& flow) const;
};

// The filter flags in command-line order, each (flag without "--", value);
// "not" has no value and negates the flag after it. now_ns resolves
// durations. Throws Error naming the flag and the value.
FlowFilters parse_flow_filters(const std::vector<std::pair<std::string, std::string>>& in_order, int64_t now_ns);

// "5m", "1h30m" back from now_ns, or an RFC 3339 time; flag names it in errors.
int64_t parse_time_bound(const std::string& flag, const std::string& text, int64_t now_ns);

}  // namespace zeroseg::cli
