// SPDX-License-Identifier: Apache-2.0
#include "detect/quarantine.h"

#include <algorithm>
#include <set>

#include "common/error.h"
#include "common/log.h"
#include "common/time.h"
#include "detect/detectors.h"

namespace zeroseg {

nlohmann::json quarantine_to_json(const Quarantine& q) {
  nlohmann::json j = {{"target", q.target}, {"since", format_rfc3339(q.since_ns)}, {"reason", q.reason}};
  j["management"] = nlohmann::json::array();
  for (const auto& m : q.management) j["management"].push_back(m.str());
  j["expires"] = q.expires_ns ? nlohmann::json(format_rfc3339(*q.expires_ns)) : nlohmann::json();
  return j;
}

Quarantine quarantine_from_json(const nlohmann::json& j, const std::string& what) {
  Quarantine q;
  auto time_of = [&](const std::string& text) {
    auto t = parse_rfc3339(text);
    if (!t) throw Error(what + ": \"" + text + "\" is not an RFC 3339 time");
    return *t;
  };
  try {
    q.target = j.at("target").get<std::string>();
    q.since_ns = time_of(j.at("since").get<std::string>());
    q.reason = j.value("reason", "");
    for (const auto& m : j.at("management")) {
      auto p = Prefix::parse(m.get<std::string>());
      if (!p) throw Error(what + ": quarantine of " + q.target + ": bad management prefix " + m.dump());
      q.management.push_back(*p);
    }
    if (j.contains("expires") && !j["expires"].is_null()) q.expires_ns = time_of(j["expires"].get<std::string>());
  } catch (const nlohmann::json::exception& e) {
    throw Error(what + ": " + e.what());
  }
  return q;
}

int severity_rank(const std::string& severity) {
  if (severity == "low") return 0;
  if (severity == "medium") return 1;
  if (severity == "high") return 2;
  return -1;
}

const char* severity_name(int rank) { return rank <= 0 ? "low" : rank == 1 ? "medium" : "high"; }

bool AutoQuarantine::matches(const std::string& detector, const std::string& severity) const {
  for (const char* key : {detector.c_str(), "*"}) {
    auto it = detectors.find(key);
    if (it != detectors.end() && severity_rank(severity) >= it->second) return true;
  }
  return false;
}

namespace {

// "a,b,,c" -> a, b, c
std::vector<std::string> comma_list(const std::string& value) {
  std::vector<std::string> out;
  size_t at = 0;
  while (at < value.size()) {
    size_t comma = std::min(value.find(',', at), value.size());
    if (comma > at) out.push_back(value.substr(at, comma - at));
    at = comma + 1;
  }
  return out;
}

}  // namespace

AutoQuarantine AutoQuarantine::parse(const std::string& key, const std::string& value) {
  AutoQuarantine a;
  std::set<std::string> known{"*"};
  for (const auto& d : make_detectors({})) known.insert(d->name());
  for (const auto& item : comma_list(value)) {
    size_t colon = item.find(':');
    std::string detector = item.substr(0, colon), severity = colon == std::string::npos ? "low" : item.substr(colon + 1);
    if (!known.count(detector)) throw Error(key + ": unknown detector \"" + detector + "\"");
    if (severity_rank(severity) < 0)
      throw Error(key + ": \"" + severity + "\" is not a severity (low, medium, high)");
    a.detectors[detector] = severity_rank(severity);
  }
  return a;
}

std::vector<Prefix> parse_prefix_list(const std::string& key, const std::string& value) {
  std::vector<Prefix> out;
  for (const auto& item : comma_list(value)) {
    auto p = Prefix::parse(item);
    if (!p) throw Error(key + ": \"" + item + "\" is not a CIDR");
    out.push_back(*p);
  }
  return out;
}

std::string quarantines_to_text(const std::vector<Quarantine>& qs) {
  nlohmann::json j = nlohmann::json::array();
  for (const auto& q : qs) j.push_back(quarantine_to_json(q));
  return j.dump(2) + "\n";
}

std::vector<Quarantine> quarantines_from_text(const std::string& text, const std::string& what) {
  std::vector<Quarantine> out;
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw Error(what + ": " + e.what());
  }
  if (!j.is_array()) throw Error(what + ": expected a JSON array of quarantines");
  for (const auto& q : j) out.push_back(quarantine_from_json(q, what));
  return out;
}

const Prefix* management_prefix_of(const std::string& target, const std::vector<Prefix>& management) {
  auto ip = IpAddr::parse(target);
  if (!ip) return nullptr;
  for (const auto& m : management)
    if (m.contains(Prefix::host(*ip))) return &m;
  return nullptr;
}

}  // namespace zeroseg
