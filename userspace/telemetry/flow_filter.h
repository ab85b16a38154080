// SPDX-License-Identifier: Apache-2.0
// FlowFilter: `zeroseg flows` filters, applied by the agent to flow JSON
// lines (the same on the recent-flow buffer and on a live stream).
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace zeroseg {

class FlowFilter {
 public:
  // From the query of GET /v1/flows: from, to (LABEL key=value, WORKLOAD
  // name or namespace/name, or CIDR), port, protocol, verdict, event, since
  // (RFC 3339: records whose time is not earlier).
  // Throws Error naming the bad parameter.
  static FlowFilter from_query(const std::map<std::string, std::string>& query);

  bool empty() const;
  bool matches(const nlohmann::json& flow) const;
  // Parses the line only when a filter is set.
  bool matches_line(const std::string& line) const;

 private:
  std::string from_, to_, protocol_, verdict_, event_;
  std::optional<uint16_t> port_;
  std::optional<int64_t> since_;
};

}  // namespace zeroseg
