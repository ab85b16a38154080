// SPDX-License-Identifier: Apache-2.0
#include "agent/quarantine.h"

#include <algorithm>
#include <set>

#include "agent/agent.h"
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

// The agent's side of `zeroseg quarantine add|remove|list`.

std::string Agent::quarantine_target(const std::string& spec) const {
  if (auto ip = IpAddr::parse(spec)) return ip->str();
  const Workload* found = nullptr;
  for (const auto& w : desired_->workloads) {
    if (w.meta.ns + "/" + w.meta.name != spec && w.meta.name != spec) continue;
    if (found) throw Error("\"" + spec + "\" names several workloads: say namespace/name");
    found = &w;
  }
  if (!found) throw Error("no workload \"" + spec + "\", and not an address");
  return found->meta.ns + "/" + found->meta.name;
}

nlohmann::json Agent::quarantine_add(const std::string& spec, std::optional<int64_t> expires_ns,
                                     const std::vector<Prefix>& management, const std::string& reason) {
  std::lock_guard lock(mu_);
  Quarantine q;
  q.target = quarantine_target(spec);
  q.management = management;
  q.since_ns = realtime_now_ns();
  q.expires_ns = expires_ns;
  q.reason = reason;
  if (auto ip = IpAddr::parse(q.target))
    for (const auto& m : management)
      if (m.contains(Prefix::host(*ip)))
        throw Error(q.target + " is inside the management prefix " + m.str() + ": it cannot be quarantined from it");
  ObjectSet next = *desired_;
  auto& qs = next.quarantines;
  qs.erase(std::remove_if(qs.begin(), qs.end(), [&](const Quarantine& o) { return o.target == q.target; }), qs.end());
  qs.push_back(q);
  ApplyResult r = commit(std::move(next), {}, false);
  log::warn("quarantined " + q.target + " (" + reason + ")" +
            (expires_ns ? " until " + format_rfc3339(*expires_ns) : std::string()));
  nlohmann::json j = quarantine_to_json(q);
  j["revision"] = r.revision;
  j["entries_changed"] = r.entries_changed;
  return j;
}

nlohmann::json Agent::quarantine_remove(const std::string& spec) {
  std::lock_guard lock(mu_);
  std::string target = IpAddr::parse(spec) ? IpAddr::parse(spec)->str() : spec;
  ObjectSet next = *desired_;
  auto& qs = next.quarantines;
  auto it = std::find_if(qs.begin(), qs.end(), [&](const Quarantine& q) {
    return q.target == target || q.target.substr(q.target.find('/') + 1) == target;
  });
  if (it == qs.end()) throw Error(spec + " is not quarantined");
  nlohmann::json j = quarantine_to_json(*it);
  qs.erase(it);
  ApplyResult r = commit(std::move(next), {}, false);
  log::info("released " + j["target"].get<std::string>() + " from quarantine");
  j["revision"] = r.revision;
  return j;
}

nlohmann::json Agent::quarantines() const {
  std::lock_guard lock(mu_);
  nlohmann::json out = nlohmann::json::array();
  for (const auto& q : desired_->quarantines) {
    nlohmann::json j = quarantine_to_json(q);
    // what the target stands for now: its addresses
    std::vector<std::string> ips;
    if (IpAddr::parse(q.target)) {
      ips.push_back(q.target);
    } else {
      for (const auto& w : desired_->workloads)
        if (w.meta.ns + "/" + w.meta.name == q.target)
          for (const auto& ip : w.ips) ips.push_back(ip.str());
    }
    j["addresses"] = ips;
    out.push_back(j);
  }
  return out;
}

void Agent::expire_quarantines() {
  std::lock_guard lock(mu_);
  int64_t now = realtime_now_ns();
  ObjectSet next = *desired_;
  auto& qs = next.quarantines;
  std::vector<std::string> lifted;
  for (auto it = qs.begin(); it != qs.end();) {
    if (it->expires_ns && *it->expires_ns <= now) {
      lifted.push_back(it->target);
      it = qs.erase(it);
    } else {
      ++it;
    }
  }
  if (lifted.empty()) return;
  commit(std::move(next), {}, false);
  for (const auto& t : lifted) log::info("quarantine of " + t + " expired: released");
}

}  // namespace zeroseg
