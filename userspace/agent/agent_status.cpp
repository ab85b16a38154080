// SPDX-License-Identifier: Apache-2.0
// `zeroseg status` as the agent sees it (the pinned maps' half is
// inspect's), and the snapshot the read-only views read (state_views.h).
#include <net/if.h>
#include <unistd.h>

#include <algorithm>

#include "abi/names.h"
#include "agent/agent.h"
#include "agent/reconciler.h"
#include "common/error.h"
#include "common/time.h"
#include "detect/flow_analyzer.h"
#include "detect/quarantine.h"
#include "loader/datapath.h"
#include "telemetry/telemetry.h"

namespace zeroseg {

using nlohmann::json;

StateSnapshot Agent::snapshot() const {
  std::lock_guard lock(mu_);
  return {desired_, compiled_, reconciler_->attached_interfaces()};
}

json Agent::telemetry_status() const {
  const TelemetryCounters& t = telemetry_->counters();
  return {{"node", config_.node_name},
          {"flow_log", config_.flow_log},
          {"ipfix_collector", config_.ipfix_collector},
          {"metrics_listen", config_.metrics_listen},
          {"ui_listen", config_.ui_listen},
          {"events", t.events.load()},
          {"events_lost", dp_->counter(ZS_CTR_EVENTS_LOST).packets},
          {"deny_events_suppressed", dp_->counter(ZS_CTR_EVENTS_SUPPRESSED).packets},
          {"deny_events_over_budget", dp_->counter(ZS_CTR_EVENTS_OVER_BUDGET).packets},
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
          {"attachments", attachment_status()},
          {"telemetry", telemetry_status()}};
}

}  // namespace zeroseg
