// SPDX-License-Identifier: Apache-2.0
// The datapath's metric families: its per-CPU counters and its maps' fill.
#pragma once

#include <cstddef>

#include "common/prom_writer.h"
#include "loader/datapath.h"

namespace zeroseg {

// Packets and bytes by verdict and direction, drops by reason, events lost
// and suppressed in the kernel.
void write_datapath_metrics(PromWriter& w, const Datapath& dp);
// Entries, capacity and pressure of the maps that fill; conntrack's entries
// as the last sweep counted them (a walk of the map costs too much here).
void write_map_metrics(PromWriter& w, const Datapath& dp, size_t conntrack4_entries, size_t conntrack6_entries);
// Conntrack entries each endpoint held at the last sweep, and what each of
// its shares may hold (ct-endpoint-share), per table and direction.
void write_ct_usage_metrics(PromWriter& w, const Datapath& dp, const CtUsage& usage);

}  // namespace zeroseg
