// SPDX-License-Identifier: Apache-2.0
// Quarantines as the agent keeps them: quarantine.json in the state dir
// (beside desired.yaml), and their JSON for `quarantine list`. What a
// quarantine does to the maps is the compiler's (compile_quarantine).
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "policy/objects.h"

namespace zeroseg {

nlohmann::json quarantine_to_json(const Quarantine& q);
// Throws Error naming `what` and the entry when the JSON is not a quarantine.
Quarantine quarantine_from_json(const nlohmann::json& j, const std::string& what);

// Which alerts quarantine their source on their own (agent setting
// auto-quarantine: "port-scan,scan-trw:high,*:high"; off when empty).
struct AutoQuarantine {
  std::map<std::string, int> detectors;  // detector or "*" -> lowest severity (severity_rank)
  int64_t duration_ns = 3600'000'000'000;
  bool matches(const std::string& detector, const std::string& severity) const;
  // Throws Error naming the setting and the bad entry.
  static AutoQuarantine parse(const std::string& key, const std::string& value);
};
int severity_rank(const std::string& severity);  // low 0, medium 1, high 2; -1 unknown
const char* severity_name(int rank);
// "10.77.5.0/24,fd77:5::/64"; throws Error naming the setting.
std::vector<Prefix> parse_prefix_list(const std::string& key, const std::string& value);
// The management prefix an address target lies in (it cannot be
// quarantined from its own management network); null when none, or when
// the target is a workload's name.
const Prefix* management_prefix_of(const std::string& target, const std::vector<Prefix>& management);

std::string quarantines_to_text(const std::vector<Quarantine>& qs);
std::vector<Quarantine> quarantines_from_text(const std::string& text, const std::string& what);

}  // namespace zeroseg
