// SPDX-License-Identifier: Apache-2.0
// `zeroseg workload list`, `zeroseg identity list` and `zeroseg cluster status`.
#include <iostream>

#include "cli/client.h"
#include "cli/cluster_text.h"
#include "cli/options.h"
#include "cli/output.h"
#include "cli/table.h"
#include "common/time.h"

namespace zeroseg::cli {
namespace {

using nlohmann::json;

std::string labels_text(const json& labels) {
  std::string s;
  for (const auto& [k, v] : labels.items()) s += (s.empty() ? "" : ",") + k + "=" + v.get<std::string>();
  return s;
}

void run_workloads(const GlobalOptions& g) {
  json list = request(g, "GET", "/v1/workloads");
  if (g.structured()) {
    print_structured(g, list);
    return;
  }
  // cluster mode: every workload names its node (another node's have no interface here)
  bool nodes = !list.empty() && list[0].contains("node");
  std::vector<std::string> columns = {"namespace", "name", "identity", "interface", "ips", "ingress", "egress", "labels"};
  if (nodes) columns.insert(columns.begin() + 2, "node");
  Table t(columns);
  for (const auto& w : list) {
    std::string ips;
    for (const auto& ip : w["ips"]) ips += (ips.empty() ? "" : ",") + ip.get<std::string>();
    std::string iface = w["interface"].get<std::string>();
    if (w.contains("attached") && !w["attached"].get<bool>()) iface += " (waiting)";
    std::vector<std::string> row = {w["namespace"], w["name"], std::to_string(w["identity"].get<uint32_t>()),
                                    iface.empty() ? "-" : iface, ips, w.value("ingress", "-"), w.value("egress", "-"),
                                    labels_text(w["labels"])};
    if (nodes) row.insert(row.begin() + 2, w.value("node", "").empty() ? "-" : w.value("node", ""));
    t.add(row);
  }
  if (t.empty()) std::cerr << "no workloads\n";
  else t.print(std::cout, !g.no_headers);
}

void run_identities(const GlobalOptions& g) {
  json list = request(g, "GET", "/v1/identities");
  if (g.structured()) {
    print_structured(g, list);
    return;
  }
  Table t({"identity", "labels", "workloads"});
  for (const auto& i : list) {
    if (i["reserved"].get<bool>()) {
      t.add({std::to_string(i["identity"].get<uint32_t>()), "reserved:" + i["name"].get<std::string>(), "-"});
      continue;
    }
    std::string ws;
    for (const auto& w : i["workloads"]) ws += (ws.empty() ? "" : ",") + w.get<std::string>();
    t.add({std::to_string(i["identity"].get<uint32_t>()), labels_text(i["labels"]), ws.empty() ? "-" : ws});
  }
  t.print(std::cout, !g.no_headers);
}

}  // namespace

std::string revision_text(const json& c) {
  int64_t applied = c.value("applied_revision", int64_t{0});
  std::string s = "revision " + std::to_string(applied) + " applied";
  if (!c.contains("head_revision")) return s;
  int64_t head = c["head_revision"].get<int64_t>(), lag = c.value("lag", int64_t{0});
  s += ", etcd at " + std::to_string(head) + " (lag " + std::to_string(lag);
  if (lag == 0 && head > applied)
    s += ": etcd's " + std::to_string(head - applied) +
         (head - applied == 1 ? " newer revision changes" : " newer revisions change") + " nothing this node watches";
  return s + ")";
}

namespace {

// `zeroseg cluster status`: this node's view of the cluster (cluster mode).
void run_cluster_status(const GlobalOptions& g) {
  json c = request(g, "GET", "/v1/cluster");
  if (g.structured()) {
    print_structured(g, c);
    return;
  }
  std::string eps;
  for (const auto& e : c["endpoints"]) eps += (eps.empty() ? "" : ",") + e.get<std::string>();
  std::cout << "node " << c.value("node", "") << ", etcd " << eps << ": ";
  if (c.value("connected", false))
    std::cout << "connected since " << format_rfc3339(c.value("connected_since_ns", int64_t{0})) << "\n";
  else if (c.value("refused", false))
    std::cout << "REFUSED: " << c.value("error", std::string()) << "\n";
  else
    std::cout << "OUTAGE since " << format_rfc3339(c.value("outage_since_ns", int64_t{0})) << ": "
              << c.value("error", std::string()) << "\n";
  std::cout << revision_text(c) << "; lease " << c.value("lease", int64_t{0}) << " (ttl " << c.value("lease_ttl", int64_t{0}) << "s)\n";
  if (auto f = c.find("failed"); f != c.end() && f->is_object())
    std::cout << "FAILED to apply revision " << f->value("revision", int64_t{0})
              << " (tried again by listing anew): " << f->value("error", std::string()) << "\n";
  if (c.contains("nodes_error")) std::cout << "nodes: unknown (" << c["nodes_error"].get<std::string>() << ")\n";
  Table t({"node", "lease", "ttl left"});
  for (const auto& n : c.value("nodes", json::array()))
    t.add({n.value("node", ""), std::to_string(n.value("lease", int64_t{0})), std::to_string(n.value("ttl", int64_t{0})) + "s"});
  if (!t.empty()) t.print(std::cout, !g.no_headers);
  if (c.contains("identities_error")) {
    std::cout << "identities: unknown (" << c["identities_error"].get<std::string>() << ")\n";
  } else if (c.contains("identities")) {
    size_t unused = 0;
    for (const auto& i : c["identities"]) unused += i.value("nodes", json::array()).empty() ? 1 : 0;
    std::cout << "identities: " << c.value("identity_count", size_t{0}) << " in etcd, " << unused
              << " used by no node (released after the grace; the table: -o json)\n";
  }
}

}  // namespace

void add_inventory_commands(CLI::App& app, GlobalOptions& g) {
  auto* workload = app.add_subcommand("workload", "Workloads and their enforcement");
  workload->require_subcommand(1);
  auto* wl = workload->add_subcommand("list", "Identity, labels, interface, enforcement per direction");
  add_client_options(*wl, g);
  wl->callback([&g] { run_workloads(g); });

  auto* identity = app.add_subcommand("identity", "Security identities");
  identity->require_subcommand(1);
  auto* il = identity->add_subcommand("list", "Identities and the labels they stand for");
  add_client_options(*il, g);
  il->callback([&g] { run_identities(g); });

  auto* cluster = app.add_subcommand("cluster", "Cluster mode (etcd)");
  cluster->require_subcommand(1);
  auto* cs = cluster->add_subcommand("status", "Nodes, leases, the revision applied and the lag, the outage if any, identities");
  add_client_options(*cs, g);
  cs->callback([&g] { run_cluster_status(g); });
}

}  // namespace zeroseg::cli
