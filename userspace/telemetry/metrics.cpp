// SPDX-License-Identifier: Apache-2.0
#include "telemetry/metrics.h"

#include <zeroseg/verdict.h>

#include <cmath>
#include <cstdio>

#include "datapath/names.h"

namespace zeroseg {
namespace {

std::string number(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[32];
  if (v == std::floor(v) && std::fabs(v) < 1e15) std::snprintf(buf, sizeof(buf), "%.0f", v);
  else std::snprintf(buf, sizeof(buf), "%.9g", v);
  return buf;
}

std::string escape_label(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

}  // namespace

void PromWriter::family(const std::string& name, const char* type, const char* help) {
  out_ += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

void PromWriter::sample(const std::string& name, LabelList labels, double value) {
  out_ += name;
  if (labels.size()) {
    out_ += '{';
    bool first = true;
    for (const auto& [k, v] : labels) {
      if (!first) out_ += ',';
      first = false;
      out_ += k;
      out_ += "=\"" + escape_label(v) + "\"";
    }
    out_ += '}';
  }
  out_ += ' ' + number(value) + '\n';
}

const std::vector<double>& apply_bucket_bounds() {
  static const std::vector<double> b = {0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10};
  return b;
}

std::string render_metrics(const Datapath& dp, const TelemetryCounters& t, const AgentMetrics& a) {
  PromWriter w;
  // the datapath's per-CPU counters
  w.family("zeroseg_packets_total", "counter", "Packets judged by the datapath, by verdict and direction.");
  std::vector<zs_counter> verdicts;
  for (uint8_t v = 0; v < ZS_VERDICT_MAX; v++)
    for (uint8_t d = 0; d < ZS_DIR_MAX; d++) {
      zs_counter c = dp.counter(ZS_CTR_VERDICT(v, d));
      verdicts.push_back(c);
      w.sample("zeroseg_packets_total", {{"verdict", verdict_name(v)}, {"direction", direction_name(d)}},
               static_cast<double>(c.packets));
    }
  w.family("zeroseg_bytes_total", "counter", "Bytes judged by the datapath, by verdict and direction.");
  size_t i = 0;
  for (uint8_t v = 0; v < ZS_VERDICT_MAX; v++)
    for (uint8_t d = 0; d < ZS_DIR_MAX; d++)
      w.sample("zeroseg_bytes_total", {{"verdict", verdict_name(v)}, {"direction", direction_name(d)}},
               static_cast<double>(verdicts[i++].bytes));
  w.family("zeroseg_drop_reason_packets_total", "counter",
           "Packets dropped by reason (in audit mode: that enforce mode would drop).");
  for (uint8_t r = 1; r < ZS_REASON_MAX; r++)
    w.sample("zeroseg_drop_reason_packets_total", {{"reason", reason_name(r)}},
             static_cast<double>(dp.counter(ZS_CTR_REASON(r)).packets));
  w.family("zeroseg_non_ip_packets_total", "counter", "ARP and other non-IP frames, always passed.");
  w.sample("zeroseg_non_ip_packets_total", static_cast<double>(dp.counter(ZS_CTR_NON_IP).packets));
  w.family("zeroseg_conntrack_rejudged_total", "counter", "Established flows judged again after a policy change.");
  w.sample("zeroseg_conntrack_rejudged_total", static_cast<double>(dp.counter(ZS_CTR_CT_REJUDGED).packets));
  w.family("zeroseg_conntrack_revoked_total", "counter", "Established flows cut by a policy change.");
  w.sample("zeroseg_conntrack_revoked_total", static_cast<double>(dp.counter(ZS_CTR_CT_REVOKED).packets));

  // events and flows
  w.family("zeroseg_events_lost_total", "counter", "Events the kernel could not queue (ring buffer full).");
  w.sample("zeroseg_events_lost_total", static_cast<double>(dp.counter(ZS_CTR_EVENTS_LOST).packets));
  w.family("zeroseg_deny_events_suppressed_total", "counter",
           "Deny events the per-source rate limit held back in the kernel.");
  w.sample("zeroseg_deny_events_suppressed_total", static_cast<double>(dp.counter(ZS_CTR_EVENTS_SUPPRESSED).packets));
  w.family("zeroseg_events_total", "counter", "Events read from the ring buffer.");
  w.sample("zeroseg_events_total", static_cast<double>(t.events.load()));
  w.family("zeroseg_flows_started_total", "counter", "Flows that started (allowed or audited).");
  w.sample("zeroseg_flows_started_total", static_cast<double>(t.flows_started.load()));
  w.family("zeroseg_flows_ended_total", "counter", "Flows that ended, by why.");
  for (auto r : {FlowEndReason::timeout, FlowEndReason::closed, FlowEndReason::revoked, FlowEndReason::evicted})
    w.sample("zeroseg_flows_ended_total", {{"reason", flow_end_reason_name(r)}},
             static_cast<double>(t.ended_by[static_cast<int>(r)].load()));
  w.family("zeroseg_flow_denies_total", "counter", "Deny records reported.");
  w.sample("zeroseg_flow_denies_total", static_cast<double>(t.denies.load()));
  w.family("zeroseg_flows_live", "gauge", "Flows the agent tracks as live.");
  w.sample("zeroseg_flows_live", static_cast<double>(t.live_flows.load()));

  // maps and their fill
  std::vector<std::pair<const char*, double>> maps = {
      {"zs_conntrack4", static_cast<double>(t.conntrack4_entries.load())},
      {"zs_conntrack6", static_cast<double>(t.conntrack6_entries.load())},
      {"zs_policy", static_cast<double>(dp.entries("zs_policy"))},
      {"zs_ipcache", static_cast<double>(dp.entries("zs_ipcache"))},
      {"zs_endpoints", static_cast<double>(dp.entries("zs_endpoints"))},
  };
  w.family("zeroseg_map_entries", "gauge", "Entries in a map.");
  for (const auto& [name, n] : maps) w.sample("zeroseg_map_entries", {{"map", name}}, n);
  w.family("zeroseg_map_capacity", "gauge", "Entries a map can hold.");
  for (const auto& [name, n] : maps) w.sample("zeroseg_map_capacity", {{"map", name}}, dp.map(name).max_entries());
  w.family("zeroseg_map_pressure", "gauge", "Entries over capacity (0..1).");
  for (const auto& [name, n] : maps) w.sample("zeroseg_map_pressure", {{"map", name}}, n / dp.map(name).max_entries());

  // the control plane
  w.family("zeroseg_policy_revision", "gauge", "The policy revision packets are judged by.");
  w.sample("zeroseg_policy_revision", static_cast<double>(a.revision));
  w.family("zeroseg_workloads", "gauge", "Workloads in the desired state.");
  w.sample("zeroseg_workloads", static_cast<double>(a.workloads));
  w.family("zeroseg_policies", "gauge", "Policies in the desired state.");
  w.sample("zeroseg_policies", static_cast<double>(a.policies));
  w.family("zeroseg_identities", "gauge", "Identities allocated.");
  w.sample("zeroseg_identities", static_cast<double>(a.identities));
  w.family("zeroseg_apply_failures_total", "counter", "Applies and deletes refused (nothing changed).");
  w.sample("zeroseg_apply_failures_total", static_cast<double>(a.apply_failures));
  w.family("zeroseg_apply_last_duration_seconds", "gauge", "How long the last apply or delete took.");
  w.sample("zeroseg_apply_last_duration_seconds", a.last_apply_seconds);
  w.family("zeroseg_apply_duration_seconds", "histogram", "Time from an apply's request to its commit.");
  for (const auto& [le, n] : a.apply_buckets)
    w.sample("zeroseg_apply_duration_seconds_bucket", {{"le", number(le)}}, static_cast<double>(n));
  w.sample("zeroseg_apply_duration_seconds_sum", a.apply_seconds_sum);
  w.sample("zeroseg_apply_duration_seconds_count", static_cast<double>(a.applies));
  w.family("zeroseg_alerts_total", "counter", "Alerts raised, by detector.");
  for (const auto& [detector, n] : a.alerts_by_detector)
    w.sample("zeroseg_alerts_total", {{"detector", detector}}, static_cast<double>(n));
  w.family("zeroseg_alerts_suppressed_total", "counter",
           "Duplicate alerts held back (same source and detector within alert-suppress).");
  for (const auto& [detector, n] : a.alerts_suppressed_by_detector)
    w.sample("zeroseg_alerts_suppressed_total", {{"detector", detector}}, static_cast<double>(n));
  if (!a.webhook.empty()) {
    w.family("zeroseg_alert_webhook_total", "counter", "Alerts given to the webhook, by what became of them.");
    for (const auto& [result, n] : a.webhook)
      w.sample("zeroseg_alert_webhook_total", {{"result", result}}, static_cast<double>(n));
  }
  w.family("zeroseg_analysis_skipped_records_total", "counter",
           "Flow records detection and the flow ledger skipped, being too far behind.");
  w.sample("zeroseg_analysis_skipped_records_total", static_cast<double>(a.analysis_skipped));
  w.family("zeroseg_quarantines", "gauge", "Workloads and addresses in quarantine.");
  w.sample("zeroseg_quarantines", static_cast<double>(a.quarantines));
  return w.text();
}

}  // namespace zeroseg
