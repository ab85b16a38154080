// SPDX-License-Identifier: Apache-2.0
#include "detect/detection_metrics.h"

#include <map>
#include <string>

namespace zeroseg {

void write_detection_metrics(PromWriter& w, const FlowAnalyzer& analyzer, const WebhookSink* webhook) {
  std::map<std::string, Detection::Count> counts;
  std::map<std::string, uint64_t> suppressed;
  for (const auto& c : analyzer.alert_counts()) {
    counts.emplace(c.detector, c);
    suppressed[c.detector] = c.suppressed;
  }
  w.family("zeroseg_alerts_total", "counter", "Alerts raised, by detector and severity.");
  for (const auto& [detector, c] : counts)
    for (size_t s = 0; s < 3; s++)
      w.sample("zeroseg_alerts_total", {{"detector", detector}, {"severity", Detection::kSeverities[s]}},
               static_cast<double>(c.raised_by_severity[s]));
  w.family("zeroseg_alerts_suppressed_total", "counter",
           "Duplicate alerts held back (same source and detector within alert-suppress).");
  for (const auto& [detector, n] : suppressed)
    w.sample("zeroseg_alerts_suppressed_total", {{"detector", detector}}, static_cast<double>(n));
  if (webhook) {
    const auto& counts = webhook->counts();
    std::map<std::string, uint64_t> webhook_counts = {
        {"sent", counts.sent.load()}, {"failed", counts.failed.load()}, {"dropped", counts.dropped.load()}};
    w.family("zeroseg_alert_webhook_total", "counter", "Alerts given to the webhook, by what became of them.");
    for (const auto& [result, n] : webhook_counts)
      w.sample("zeroseg_alert_webhook_total", {{"result", result}}, static_cast<double>(n));
    w.family("zeroseg_alert_webhook_retries_total", "counter",
             "Webhook deliveries tried again after no answer, 408, 429 or 5xx.");
    w.sample("zeroseg_alert_webhook_retries_total", static_cast<double>(counts.retries.load()));
  }
  w.family("zeroseg_analysis_skipped_records_total", "counter",
           "Flow records detection and the flow ledger skipped, being too far behind.");
  w.sample("zeroseg_analysis_skipped_records_total", static_cast<double>(analyzer.records_skipped()));
}

}  // namespace zeroseg
