// SPDX-License-Identifier: Apache-2.0
// The agent's side of `zeroseg quarantine add|remove|list`, and the expiry
// of quarantines whose time is up.
#include <algorithm>

#include "agent/agent.h"
#include "common/error.h"
#include "common/log.h"
#include "common/time.h"
#include "detect/flow_analyzer.h"
#include "detect/quarantine.h"
#include "loader/datapath.h"
#include "telemetry/telemetry.h"

namespace zeroseg {

std::string Agent::quarantine_target(const std::string& spec) const {
  if (auto ip = IpAddr::parse(spec)) return ip->str();
  const Workload* found = desired_->find_workload(spec);
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
  if (const Prefix* m = management_prefix_of(q.target, management))
    throw Error(q.target + " is inside the management prefix " + m->str() + ": it cannot be quarantined from it");
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
  auto ip = IpAddr::parse(spec);
  std::string target = ip ? ip->str() : spec;
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
    } else if (const Workload* w = desired_->find_workload(q.target)) {
      for (const auto& ip : w->ips) ips.push_back(ip.str());
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
