// SPDX-License-Identifier: Apache-2.0
#include "telemetry/telemetry_metrics.h"

namespace zeroseg {

void write_telemetry_metrics(PromWriter& w, const TelemetryCounters& t, const ExportCounters* ipfix) {
  w.family("zeroseg_events_total", "counter", "Events read from the ring buffer.");
  w.sample("zeroseg_events_total", static_cast<double>(t.events.load()));
  w.family("zeroseg_flows_started_total", "counter", "Flows that started (allowed or audited).");
  w.sample("zeroseg_flows_started_total", static_cast<double>(t.flows_started.load()));
  w.family("zeroseg_flows_ended_total", "counter", "Flows that ended, by why.");
  for (auto r : {FlowEndReason::timeout, FlowEndReason::closed, FlowEndReason::revoked, FlowEndReason::evicted})
    w.sample("zeroseg_flows_ended_total", {{"reason", flow_end_reason_name(r)}},
             static_cast<double>(t.ended_by[static_cast<int>(r)].load()));
  w.family("zeroseg_flows_unanswered_total", "counter",
           "Flows no reply had reached flow-unanswered-after their first packet (reported once each).");
  w.sample("zeroseg_flows_unanswered_total", static_cast<double>(t.flows_unanswered.load()));
  w.family("zeroseg_flows_refused_total", "counter",
           "TCP flows whose first answer was a RST, reported at the next sweep (once each).");
  w.sample("zeroseg_flows_refused_total", static_cast<double>(t.flows_refused.load()));
  w.family("zeroseg_flow_denies_total", "counter", "Deny records reported.");
  w.sample("zeroseg_flow_denies_total", static_cast<double>(t.denies.load()));
  w.family("zeroseg_flows_live", "gauge", "Flows the agent tracks as live.");
  w.sample("zeroseg_flows_live", static_cast<double>(t.live_flows.load()));
  // zero without a collector: rules and dashboards find the series either way
  ExportCounters none;
  const ExportCounters& x = ipfix ? *ipfix : none;
  w.family("zeroseg_ipfix_messages_total", "counter", "IPFIX messages (templates and data) handed to the socket.");
  w.sample("zeroseg_ipfix_messages_total", static_cast<double>(x.messages.load()));
  w.family("zeroseg_ipfix_records_total", "counter", "IPFIX data records sent.");
  w.sample("zeroseg_ipfix_records_total", static_cast<double>(x.records.load()));
  w.family("zeroseg_ipfix_send_errors_total", "counter",
           "IPFIX messages the socket refused (collector unreachable, buffer full): their records are lost.");
  w.sample("zeroseg_ipfix_send_errors_total", static_cast<double>(x.send_errors.load()));
}

}  // namespace zeroseg
