// SPDX-License-Identifier: Apache-2.0
#include "loader/datapath_metrics.h"

#include <net/if.h>

#include <zeroseg/verdict.h>

#include <utility>
#include <vector>

#include "abi/names.h"

namespace zeroseg {

void write_datapath_metrics(PromWriter& w, const Datapath& dp) {
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
  // the verdict counters again, as drops: what an operator alerts on
  // without knowing the verdict names (a split by reason and mode would
  // need counters per reason and mode in the kernel)
  w.family("zeroseg_dropped_packets_total", "counter",
           "Packets dropped (mode=enforce) or that enforce mode would drop (mode=audit), by direction.");
  for (uint8_t d = 0; d < ZS_DIR_MAX; d++) {
    w.sample("zeroseg_dropped_packets_total", {{"mode", "enforce"}, {"direction", direction_name(d)}},
             static_cast<double>(dp.counter(ZS_CTR_VERDICT(ZS_VERDICT_DENIED, d)).packets));
    w.sample("zeroseg_dropped_packets_total", {{"mode", "audit"}, {"direction", direction_name(d)}},
             static_cast<double>(dp.counter(ZS_CTR_VERDICT(ZS_VERDICT_AUDIT, d)).packets));
  }
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

  w.family("zeroseg_events_lost_total", "counter", "Events the kernel could not queue (ring buffer full).");
  w.sample("zeroseg_events_lost_total", static_cast<double>(dp.counter(ZS_CTR_EVENTS_LOST).packets));
  w.family("zeroseg_deny_events_suppressed_total", "counter",
           "Deny events held back in the kernel (the per-source rate limit, or the per-CPU budget).");
  w.sample("zeroseg_deny_events_suppressed_total", static_cast<double>(dp.counter(ZS_CTR_EVENTS_SUPPRESSED).packets));
  w.family("zeroseg_deny_events_over_budget_total", "counter",
           "Deny events the per-CPU budget held back (also in suppressed): denies detection did not see.");
  w.sample("zeroseg_deny_events_over_budget_total",
           static_cast<double>(dp.counter(ZS_CTR_EVENTS_OVER_BUDGET).packets));
}

void write_map_metrics(PromWriter& w, const Datapath& dp, size_t conntrack4_entries, size_t conntrack6_entries) {
  std::vector<std::pair<const char*, double>> maps = {
      {"zs_conntrack4", static_cast<double>(conntrack4_entries)},
      {"zs_conntrack6", static_cast<double>(conntrack6_entries)},
      {"zs_policy", static_cast<double>(dp.entries("zs_policy"))},
      {"zs_ipcache", static_cast<double>(dp.entries("zs_ipcache"))},
      {"zs_endpoints", static_cast<double>(dp.entries("zs_endpoints"))},
      // both slots' entries (the same ones, once levelled)
      {"zs_untracked", 2.0 * static_cast<double>(dp.entries("zs_untracked"))},
  };
  w.family("zeroseg_map_entries", "gauge", "Entries in a map.");
  for (const auto& [name, n] : maps) w.sample("zeroseg_map_entries", {{"map", name}}, n);
  w.family("zeroseg_map_capacity", "gauge", "Entries a map can hold.");
  for (const auto& [name, n] : maps) w.sample("zeroseg_map_capacity", {{"map", name}}, dp.map(name).max_entries());
  w.family("zeroseg_map_pressure", "gauge", "Entries over capacity (0..1).");
  for (const auto& [name, n] : maps) w.sample("zeroseg_map_pressure", {{"map", name}}, n / dp.map(name).max_entries());

}

void write_ct_usage_metrics(PromWriter& w, const Datapath& dp, const CtUsage& usage) {
  const char* tables[2] = {"zs_conntrack4", "zs_conntrack6"};
  w.family("zeroseg_conntrack_endpoint_entries", "gauge",
           "Conntrack entries an endpoint holds, by interface and share (the direction that opened them).");
  for (const auto& [ifindex, u] : usage) {
    char name[IF_NAMESIZE] = {};
    std::string iface = if_indextoname(ifindex, name) ? name : std::to_string(ifindex);
    for (int t = 0; t < 2; t++)
      for (uint8_t d = 0; d < ZS_DIR_MAX; d++)
        if (uint32_t n = u.entries[t][d])
          w.sample("zeroseg_conntrack_endpoint_entries",
                   {{"interface", iface}, {"map", tables[t]}, {"direction", direction_name(d)}}, n);
  }
  w.family("zeroseg_conntrack_endpoint_limit", "gauge",
           "Conntrack entries each share of one endpoint may hold (0: no limit).");
  for (int t = 0; t < 2; t++)
    for (uint8_t d = 0; d < ZS_DIR_MAX; d++)
      w.sample("zeroseg_conntrack_endpoint_limit", {{"map", tables[t]}, {"direction", direction_name(d)}},
               dp.config().ct_endpoint_share[t]);
}

}  // namespace zeroseg
