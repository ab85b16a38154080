// SPDX-License-Identifier: Apache-2.0
// The agent's read-only views, as the API returns them: policies,
// workloads, identities and status. Each reads the state in force under
// the agent's lock (immutable snapshots: nothing here changes them).
#include <net/if.h>
#include <unistd.h>

#include <algorithm>

#include "abi/names.h"
#include "agent/agent.h"
#include "agent/reconciler.h"
#include "common/error.h"
#include "common/time.h"

namespace zeroseg {

using nlohmann::json;

json Agent::policies() const {
  std::lock_guard lock(mu_);
  json out = json::array();
  for (const auto& p : desired_->policies) {
    size_t selected = 0;
    for (const auto& w : desired_->workloads)
      if (w.meta.ns == p.meta.ns && p.selector.matches(w.meta.labels)) selected++;
    std::string types = std::string(p.ingress ? "ingress" : "") + (p.ingress && p.egress ? "," : "") +
                        (p.egress ? "egress" : "");
    out.push_back({{"kind", p.kind_name()},
                   {"namespace", p.meta.ns},
                   {"name", p.meta.name},
                   {"mode", p.audit ? "audit" : "enforce"},
                   {"directions", types},
                   {"selector", p.selector.str()},
                   {"selected", selected},
                   {"rules", p.allow_in.size() + p.allow_out.size() + p.deny_in.size() + p.deny_out.size()}});
  }
  return out;
}

json Agent::policy(const std::string& ref) const {
  std::lock_guard lock(mu_);
  for (const auto& p : desired_->policies)
    if (p.ref() == ref || p.meta.ns + "/" + p.meta.name == ref || p.meta.name == ref) {
      json rules = json::array();
      for (const auto& [id, info] : compiled_->rules)
        if (info.policy() == p.ref()) rules.push_back({{"id", id}, {"rule", info.str()}});
      return {{"object", p.ref()}, {"document", p.meta.document.str()}, {"rules", rules}};
    }
  throw Error("no policy " + ref);
}

json Agent::workloads() const {
  std::lock_guard lock(mu_);
  json out = json::array();
  for (const auto& w : desired_->workloads) {
    json ips = json::array();
    for (const auto& ip : w.ips) ips.push_back(ip.str());
    uint32_t identity = 0;
    for (const auto& [id, ci] : compiled_->identities)
      if (std::find(ci.workloads.begin(), ci.workloads.end(), w.meta.ns + "/" + w.meta.name) != ci.workloads.end())
        identity = id;
    json j = {{"namespace", w.meta.ns}, {"name", w.meta.name}, {"identity", identity},
              {"labels", w.meta.labels}, {"interface", w.interface}, {"ips", ips},
              {"attach", attach_kind_name(w.attach)}};
    if (auto it = compiled_->endpoints.find(w.interface); !w.interface.empty() && it != compiled_->endpoints.end()) {
      j["ingress"] = mode_name(it->second.mode[ZS_DIR_INGRESS]);
      j["egress"] = mode_name(it->second.mode[ZS_DIR_EGRESS]);
      j["attached"] = reconciler_->attached(w.interface);
    }
    out.push_back(j);
  }
  return out;
}

json Agent::identities() const {
  std::lock_guard lock(mu_);
  json out = json::array();
  for (uint32_t id : {ZS_ID_HOST, ZS_ID_WORLD, ZS_ID_QUARANTINE})
    out.push_back({{"identity", id}, {"name", identity_name(id)}, {"reserved", true}});
  for (const auto& [id, ci] : compiled_->identities)
    out.push_back({{"identity", id}, {"labels", ci.labels}, {"workloads", ci.workloads}, {"cidr", ci.cidr},
                   {"reserved", false}});
  return out;
}

json Agent::telemetry_status() const {
  const TelemetryCounters& t = telemetry_->counters();
  return {{"node", config_.node_name},
          {"flow_log", config_.flow_log},
          {"ipfix_collector", config_.ipfix_collector},
          {"metrics_listen", config_.metrics_listen},
          {"events", t.events.load()},
          {"events_lost", dp_->counter(ZS_CTR_EVENTS_LOST).packets},
          {"deny_events_suppressed", dp_->counter(ZS_CTR_EVENTS_SUPPRESSED).packets},
          {"flows_started", t.flows_started.load()},
          {"flows_ended", t.flows_ended.load()},
          {"flows_live", t.live_flows.load()},
          {"denies", t.denies.load()},
          {"stream_lines_dropped", telemetry_->hub().streams_dropped()},
          {"detection", detection_status()}};
}

json Agent::detection_status() const {
  auto b = analyzer_->baseline_status();
  std::string auto_quarantine;
  for (const auto& [detector, rank] : config_.auto_quarantine.detectors)
    auto_quarantine += (auto_quarantine.empty() ? "" : ",") + detector + ":" + severity_name(rank);
  json j = {{"alert_log", config_.alert_log},
            {"alert_webhook", config_.alert_webhook},
            {"auto_quarantine", auto_quarantine},
            {"quarantines", desired_->quarantines.size()},
            {"records_skipped", analyzer_->records_skipped()},
            {"baseline_edges", b.edges},
            {"baseline_services", b.services},
            {"learning", b.learning_ends_ns == 0 || realtime_now_ns() < b.learning_ends_ns}};
  if (b.learning_ends_ns) j["learning_ends"] = format_rfc3339(b.learning_ends_ns);
  return j;
}

json Agent::status() const {
  std::lock_guard lock(mu_);
  json pending = json::array();
  for (const auto& [ifname, ep] : compiled_->endpoints)
    if (!if_nametoindex(ifname.c_str())) pending.push_back(ifname);
  return {{"pid", getpid()},
          {"socket", config_.socket},
          {"bpf_pin_dir", config_.pin_dir},
          {"state_dir", config_.state_dir},
          {"revision", dp_->generation()},
          {"objects",
           {{"workloads", desired_->workloads.size()},
            {"namespaces", desired_->namespaces.size()},
            {"policies", desired_->policies.size()}}},
          {"identities", compiled_->identities.size()},
          {"policy_entries", compiled_->policy.size()},
          {"waiting_for_interfaces", pending},
          {"telemetry", telemetry_status()}};
}

}  // namespace zeroseg
