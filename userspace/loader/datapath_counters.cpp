// SPDX-License-Identifier: Apache-2.0
// The datapath's counters, summed over the CPUs: zs_counters, and the
// untracked deny's drops before the parse, which the programs count in the
// deny budget's line (include/zeroseg/event.h) to write no other.
#include <zeroseg/event.h>
#include <zeroseg/verdict.h>

#include <cstdint>
#include <vector>

#include "loader/datapath.h"

namespace zeroseg {

zs_counter Datapath::counter(uint32_t idx) const {
  std::vector<zs_counters> per_cpu(ncpus_);
  zs_counter total{};
  const uint32_t zero = 0;
  if (idx >= ZS_CTR_MAX || !map("zs_counters").lookup(&zero, per_cpu.data())) return total;
  for (const auto& cpu : per_cpu) {
    total.packets += cpu.slot[idx].packets;
    total.bytes += cpu.slot[idx].bytes;
  }
  // the untracked deny's drops before the parse, counted in the deny
  // budget's line (include/zeroseg/event.h)
  const bool early_drop = idx == ZS_CTR_VERDICT(ZS_VERDICT_DENIED, ZS_DIR_INGRESS) ||
                          idx == ZS_CTR_REASON(ZS_REASON_UNTRACKED_DENY);
  if (!early_drop && idx != ZS_CTR_EVENTS_SUPPRESSED && idx != ZS_CTR_EVENTS_OVER_BUDGET) return total;
  std::vector<zs_deny_budget> lines(ncpus_);
  if (!map("zs_deny_budget").lookup(&zero, lines.data())) return total;
  for (const auto& line : lines) {
    if (early_drop) {
      total.packets += line.early_drops;
      total.bytes += line.early_bytes;
    } else {
      total.packets += idx == ZS_CTR_EVENTS_SUPPRESSED ? line.early_drops : line.early_over_budget;
    }
  }
  return total;
}

}  // namespace zeroseg
