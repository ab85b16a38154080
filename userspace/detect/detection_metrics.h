// SPDX-License-Identifier: Apache-2.0
// Detection's metric families: alerts by detector, the webhook's deliveries,
// records the analyzer had no time for.
#pragma once

#include "common/prom_writer.h"
#include "detect/flow_analyzer.h"
#include "detect/webhook.h"

namespace zeroseg {

// webhook: null when alerts go to none.
void write_detection_metrics(PromWriter& w, const FlowAnalyzer& analyzer, const WebhookSink* webhook);

}  // namespace zeroseg
