// SPDX-License-Identifier: Apache-2.0
#include "agent/agent_metrics.h"

namespace zeroseg {

const std::vector<double>& apply_bucket_bounds() {
  static const std::vector<double> b = {0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10};
  return b;
}

void write_agent_metrics(PromWriter& w, const AgentMetrics& a) {
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
    w.sample("zeroseg_apply_duration_seconds_bucket", {{"le", prom_number(le)}}, static_cast<double>(n));
  w.sample("zeroseg_apply_duration_seconds_sum", a.apply_seconds_sum);
  w.sample("zeroseg_apply_duration_seconds_count", static_cast<double>(a.applies));
  w.family("zeroseg_quarantines", "gauge", "Workloads and addresses in quarantine.");
  w.sample("zeroseg_quarantines", static_cast<double>(a.quarantines));
}

void write_cluster_metrics(PromWriter& w, const ClusterMetrics& c) {
  w.family("zeroseg_cluster_up", "gauge", "1 while this node is listed and watching etcd (cluster mode), else 0.");
  w.sample("zeroseg_cluster_up", c.up ? 1 : 0);
  w.family("zeroseg_cluster_outage_started_timestamp_seconds", "gauge",
           "When the current etcd outage began (Unix time); 0 while connected.");
  w.sample("zeroseg_cluster_outage_started_timestamp_seconds", c.up ? 0 : static_cast<double>(c.outage_since_ns) / 1e9);
  w.family("zeroseg_cluster_applied_revision", "gauge", "The etcd revision this node's desired state equals.");
  w.sample("zeroseg_cluster_applied_revision", static_cast<double>(c.applied_revision));
  w.family("zeroseg_cluster_store_revision", "gauge", "etcd's newest revision this node has seen.");
  w.sample("zeroseg_cluster_store_revision", static_cast<double>(c.store_revision));
  w.family("zeroseg_cluster_lag_revisions", "gauge", "etcd's revision seen minus the revision applied here.");
  w.sample("zeroseg_cluster_lag_revisions", static_cast<double>(c.lag));
  w.family("zeroseg_cluster_relists_total", "counter", "Lists of the whole state (the start, after an outage or a compaction).");
  w.sample("zeroseg_cluster_relists_total", static_cast<double>(c.relists));
  w.family("zeroseg_cluster_watch_events_total", "counter",
           "Events etcd's watch delivered to this node (its objects and nodes/; not the other nodes' reports).");
  w.sample("zeroseg_cluster_watch_events_total", static_cast<double>(c.watch_events));
}

void write_attach_metrics(PromWriter& w, const AttachCounters& c, size_t not_enforced) {
  w.family("zeroseg_interfaces_not_enforced", "gauge",
           "Workload interfaces that exist and lack one or both of zeroseg's hooks (an attach failed).");
  w.sample("zeroseg_interfaces_not_enforced", static_cast<double>(not_enforced));
  w.family("zeroseg_attach_failures_total", "counter", "Attempts to attach a hook that failed (each retry counts).");
  w.sample("zeroseg_attach_failures_total", static_cast<double>(c.failures));
  w.family("zeroseg_attach_repairs_total", "counter",
           "Hooks found missing or replaced by another program, and attached again.");
  for (int h = 0; h < static_cast<int>(RepairedHook::count); h++) {
    auto hook = static_cast<RepairedHook>(h);
    w.sample("zeroseg_attach_repairs_total",
             {{"hook", repaired_hook_name(hook)}, {"direction", repaired_direction_name(hook)}},
             static_cast<double>(c.repairs[h]));
  }
  w.family("zeroseg_attach_checks_total", "counter", "Checks of every attachment against the kernel.");
  w.sample("zeroseg_attach_checks_total", static_cast<double>(c.checks));
}

}  // namespace zeroseg
