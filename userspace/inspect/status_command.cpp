// SPDX-License-Identifier: Apache-2.0
// `zeroseg status`: programs, attachments, map fill and counters.
#include <algorithm>
#include <iostream>
#include <nlohmann/json.hpp>

#include "abi/names.h"
#include "cli/client.h"
#include "cli/colour.h"
#include "cli/health.h"
#include "cli/options.h"
#include "cli/output.h"
#include "cli/table.h"
#include "common/error.h"
#include "common/time.h"
#include "common/log.h"
#include "inspect/inspect.h"
#include "loader/attach.h"
#include "loader/datapath.h"
#include "loader/program_info.h"
#include "loader/slot_access.h"

namespace zeroseg::inspect {
using cli::GlobalOptions;

namespace {

using namespace cli;

using nlohmann::json;

const char* const kFillMaps[] = {"zs_endpoints", "zs_ipcache", "zs_policy", "zs_conntrack4", "zs_conntrack6", "zs_fragments"};

std::string hook_text(const HookState& h) {
  std::string in = h.xdp_prog_id ? "xdp" : h.tc_ingress_prog_id ? "tc" : "none";
  std::string out = h.tc_egress_prog_id ? "tc" : "none";
  return in + "/" + out;
}

// The agent's own view, when it answers on --socket.
json agent_status(const GlobalOptions& g) {
  try {
    return request(g, "GET", "/v1/status");
  } catch (const Error& e) {
    return {{"error", e.what()}};
  }
}

// With no agent answering, the exit code says so (2) even where the
// datapath cannot be read either.
[[noreturn]] void no_agent(const GlobalOptions& g, const json& agent) {
  std::string why = agent.value("error", "");
  log::error((why.find(g.socket) == std::string::npos ? "no agent answering on " + g.socket + ": " : "") + why +
             "; pinned programs keep enforcing what they last had");
  throw ExitWith{kStatusNoAgent};
}

void run_status(const GlobalOptions& g, bool datapath_only) {
  json j;
  if (!datapath_only) j["agent"] = agent_status(g);
  bool answered = datapath_only || !j["agent"].contains("error");
  std::unique_ptr<Datapath> dp;
  try {
    dp = Datapath::open_pinned(g.pin_dir);
  } catch (const Error& e) {
    if (answered) throw;
    log::error(e.what());
    no_agent(g, j["agent"]);
  }
  j["pin_dir"] = g.pin_dir;
  j["generation"] = dp->generation();

  Table progs({"program", "id", "verified insns", "jited bytes"});
  for (Program p : {Program::xdp_ingress, Program::tc_ingress, Program::tc_egress, Program::tc_trace}) {
    ProgramInfo info = program_info(dp->program_fd(p));
    j["programs"].push_back({{"name", info.name}, {"id", info.id}, {"verified_insns", info.verified_insns},
                             {"jited_bytes", info.jited_bytes}});
    progs.add({info.name, std::to_string(info.id), std::to_string(info.verified_insns),
               std::to_string(info.jited_bytes)});
  }

  Table eps({"interface", "ifindex", "kind", "identity", "ingress", "egress", "hooks (in/out)", "conntrack (v4/v6)"});
  int slot = dp->active_slot();
  // the entries each endpoint holds as the kernel counts them, against its
  // shares: the flows opened towards it (in), the flows it opened (out)
  Map<uint32_t, zs_ct_usage> usage(dp->map("zs_ct_usage"));
  const uint32_t* limit = dp->config().ct_endpoint_share;
  j["conntrack_endpoint_limit"] = {limit[0], limit[1]};
  j["endpoints"] = json::array();
  auto endpoints = dp->endpoints().entries();  // a hash map's order: a person reads them by ifindex
  std::sort(endpoints.begin(), endpoints.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (auto& [ifindex, v] : endpoints) {
    const auto& e = slot_ref(v, slot);
    std::string name = ifname_of(ifindex);
    HookState h = name.empty() ? HookState{} : query_hooks(ifindex);
    bool wanted_xdp = e.kind == ZS_ATTACH_HOST;
    j["endpoints"].push_back({{"interface", name}, {"ifindex", ifindex}, {"kind", attach_kind_name(e.kind)},
                              {"identity", e.identity}, {"ingress", mode_name(e.mode[0])},
                              {"egress", mode_name(e.mode[1])}, {"hooks", hook_text(h)},
                              {"xdp_fallback", wanted_xdp && !h.xdp_prog_id && h.tc_ingress_prog_id}});
    zs_ct_usage u = usage.get(ifindex).value_or(zs_ct_usage{});
    const auto& n = u.entries;  // [table][direction]
    j["endpoints"].back()["conntrack_entries"] = {n[0][0] + n[0][1], n[1][0] + n[1][1]};
    j["endpoints"].back()["conntrack_shares"] = {{"ingress", {n[0][ZS_DIR_INGRESS], n[1][ZS_DIR_INGRESS]}},
                                                 {"egress", {n[0][ZS_DIR_EGRESS], n[1][ZS_DIR_EGRESS]}}};
    auto full = [&](int d) { return limit[0] && (n[0][d] >= limit[0] || n[1][d] >= limit[1]); };
    auto pair = [&](int d) { return std::to_string(n[0][d]) + "/" + std::to_string(n[1][d]); };
    std::string ct = "in " + pair(ZS_DIR_INGRESS) + " out " + pair(ZS_DIR_EGRESS);
    if (full(ZS_DIR_INGRESS) || full(ZS_DIR_EGRESS))
      ct += std::string(" (") + (full(ZS_DIR_INGRESS) ? "in" : "") +
            (full(ZS_DIR_INGRESS) && full(ZS_DIR_EGRESS) ? "+" : "") + (full(ZS_DIR_EGRESS) ? "out" : "") +
            " share full)";
    std::string hooks = hook_text(h);
    if (wanted_xdp && !h.xdp_prog_id && h.tc_ingress_prog_id) hooks += " (no native XDP: tc fallback)";
    eps.add({name.empty() ? "(gone)" : name, std::to_string(ifindex), attach_kind_name(e.kind),
             identity_name(e.identity), mode_name(e.mode[0]), mode_name(e.mode[1]), hooks, ct});
  }

  Table maps({"map", "entries", "capacity", "fill"});
  for (const char* name : kFillMaps) {
    const MapRef& m = dp->map(name);
    size_t n = m.count();
    double fill = m.max_entries() ? 100.0 * n / m.max_entries() : 0;
    char pct[16];
    std::snprintf(pct, sizeof(pct), "%.1f%%", fill);
    j["maps"].push_back({{"name", name}, {"entries", n}, {"capacity", m.max_entries()}});
    maps.add({name, std::to_string(n), std::to_string(m.max_entries()), pct});
  }

  Table ctrs({"counter", "packets", "bytes"});
  for (uint8_t v = 0; v < ZS_VERDICT_MAX; v++)
    for (uint8_t d = 0; d < ZS_DIR_MAX; d++) {
      zs_counter c = dp->counter(ZS_CTR_VERDICT(v, d));
      std::string name = std::string(verdict_name(v)) + " " + direction_name(d);
      j["counters"]["verdict"][verdict_name(v)][direction_name(d)] = {{"packets", c.packets}, {"bytes", c.bytes}};
      if (c.packets) ctrs.add({name, std::to_string(c.packets), std::to_string(c.bytes)});
    }
  for (uint8_t r = 1; r < ZS_REASON_MAX; r++) {
    zs_counter c = dp->counter(ZS_CTR_REASON(r));
    j["counters"]["reason"][reason_name(r)] = {{"packets", c.packets}, {"bytes", c.bytes}};
    if (c.packets) ctrs.add({std::string("reason ") + reason_name(r), std::to_string(c.packets), std::to_string(c.bytes)});
  }
  for (uint32_t idx = ZS_CTR_EXTRA_FIRST; idx < ZS_CTR_MAX; idx++) {
    zs_counter c = dp->counter(idx);
    j["counters"][counter_name(idx)] = c.packets;
    ctrs.add({counter_name(idx), std::to_string(c.packets), idx == ZS_CTR_NON_IP ? std::to_string(c.bytes) : "-"});
  }

  std::vector<std::string> problems = datapath_only ? std::vector<std::string>{} : agent_problems(j["agent"]);
  if (!datapath_only) j["problems"] = problems;
  auto fail_if_degraded = [&] {
    if (!answered) no_agent(g, j["agent"]);
    if (problems.empty()) return;
    std::string all;
    for (const auto& p : problems) all += (all.empty() ? "" : "; ") + p;
    log::error("degraded: " + all);
    throw ExitWith{kStatusDegraded};
  };
  if (g.structured()) {
    print_structured(g, j);
    fail_if_degraded();
    return;
  }
  const json a = datapath_only ? json::object() : j["agent"];
  bool colour = colour_enabled();
  if (!datapath_only && a.contains("error")) {
    std::cout << "agent: none answering on " << g.socket << " (the datapath below enforces on its own)\n";
  } else if (!datapath_only) {
    std::cout << "agent: pid " << a["pid"] << " on " << a["socket"].get<std::string>() << ", "
              << a["objects"]["workloads"] << " workloads, " << a["objects"]["policies"] << " policies, "
              << a["identities"] << " identities, " << a["policy_entries"] << " policy entries";
    if (!a["waiting_for_interfaces"].empty()) std::cout << ", waiting for " << a["waiting_for_interfaces"].dump();
    std::cout << "\n";
    if (a.contains("cluster")) {
      const json& c = a["cluster"];
      std::cout << "cluster: node " << c.value("node", "") << ", etcd revision " << c.value("applied_revision", 0)
                << " applied";
      if (c.value("connected", false))
        std::cout << ", lag " << c.value("lag", int64_t{0}) << ", connected since "
                  << format_rfc3339(c.value("connected_since_ns", int64_t{0})) << "\n";
      else if (c.value("refused", false))
        std::cout << "; REFUSED: " << c.value("error", "") << " (enforcement unchanged; changes not followed)\n";
      else
        std::cout << "; OUTAGE since " << format_rfc3339(c.value("outage_since_ns", int64_t{0})) << ": "
                  << c.value("error", "") << " (enforcement unchanged; applies fail)\n";
    }
    if (a.contains("attachments")) {
      const json& at = a["attachments"];
      std::cout << "attachments: " << at.value("enforced", 0) << " interfaces enforced, "
                << at["not_enforced"].size() << " not; " << at.value("repairs", 0) << " hooks repaired, "
                << at.value("failures", 0) << " attach failures; checked every " << at.value("check_interval", "")
                << "\n";
      for (const auto& p : at["not_enforced"])
        std::cout << paint("NOT ENFORCED", kRed, colour) << ": " << p.value("interface", "") << " ("
                  << p.value("workload", "")
                  << "): " << p.value("error", "") << "\n";
    }
    if (a.contains("telemetry")) {
      const json& t = a["telemetry"];
      auto n = [&](const char* k) { return std::to_string(t.value(k, uint64_t{0})); };
      std::cout << "flows on node " << t.value("node", "") << ": " << n("flows_started") << " started, "
                << n("flows_ended") << " ended, " << n("flows_live") << " live, " << n("denies") << " denies; events "
                << n("events") << " read, " << n("events_lost") << " lost, " << n("deny_events_suppressed")
                << " denies suppressed by the rate limit\n";
      std::string sinks;
      if (!t.value("flow_log", "").empty()) sinks += "log " + t.value("flow_log", "");
      if (!t.value("ipfix_collector", "").empty()) sinks += (sinks.empty() ? "" : ", ") + ("IPFIX to " + t.value("ipfix_collector", ""));
      if (!t.value("metrics_listen", "").empty()) sinks += (sinks.empty() ? "" : ", ") + ("metrics on " + t.value("metrics_listen", ""));
      if (!sinks.empty()) std::cout << "flow sinks: " << sinks << "\n";
      if (t.contains("detection")) {
        const json& d = t["detection"];
        std::cout << "detection: " << (d.value("learning", false) ? "learning the baseline" : "baseline learned");
        if (d.contains("learning_ends")) std::cout << (d.value("learning", false) ? " until " : " on ") << d["learning_ends"].get<std::string>();
        std::cout << " (" << d.value("baseline_edges", 0) << " edges); " << d.value("quarantines", 0) << " quarantined";
        if (!d.value("alert_webhook", "").empty()) std::cout << "; alerts to " << d.value("alert_webhook", "");
        if (!d.value("auto_quarantine", "").empty()) std::cout << "; auto-quarantine on " << d.value("auto_quarantine", "");
        std::cout << "\n";
      }
    }
  }
  std::cout << "datapath pinned under " << g.pin_dir << ", policy revision " << dp->generation() << "\n\n";
  progs.print(std::cout, !g.no_headers);
  std::cout << "\n";
  if (eps.empty()) std::cout << "no endpoints attached\n";
  else eps.print(std::cout, !g.no_headers);
  std::cout << "\n";
  maps.print(std::cout, !g.no_headers);
  std::cout << "\n";
  ctrs.print(std::cout, !g.no_headers);
  fail_if_degraded();
}

}  // namespace

void add_status_command(CLI::App& app, GlobalOptions& g) {
  static bool datapath_only = false;
  auto* cmd = app.add_subcommand("status", "Agent, programs, attachments, map fill and counters");
  add_global_options(*cmd, g);
  cli::add_socket_option(*cmd, g.socket);
  cmd->add_flag("--datapath-only", datapath_only,
                "Only the pinned datapath (zeroseg bpf ... without an agent): the agent is not asked");
  cmd->footer(
      "Exit status:\n"
      "  0  the agent answers and nothing below is failing\n"
      "  1  degraded: an interface is not enforced (failed attach), the kernel lost events, the cluster store does not answer; or another error\n"
      "  2  no agent answers on the socket (pinned programs keep enforcing on their own); or a usage error");
  cmd->callback([&g] { run_status(g, datapath_only); });
}

}  // namespace zeroseg::inspect
