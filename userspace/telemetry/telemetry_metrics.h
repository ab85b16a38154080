// SPDX-License-Identifier: Apache-2.0
// The flow pipeline's metric families.
#pragma once

#include "common/prom_writer.h"
#include "telemetry/telemetry.h"

namespace zeroseg {

// Events read, flows started and ended (by why), denies, live flows; the
// IPFIX exporter's messages, records and send errors (ipfix: none, zeros).
void write_telemetry_metrics(PromWriter& w, const TelemetryCounters& t, const ExportCounters* ipfix);

}  // namespace zeroseg
