// SPDX-License-Identifier: Apache-2.0
// `zeroseg flows`: recent and live flow records from the agent.
#include <iostream>
#include <map>

#include "api/http.h"
#include "cli/client.h"
#include "cli/options.h"
#include "cli/output.h"
#include "cli/table.h"
#include "common/error.h"
#include "common/time.h"

namespace zeroseg::cli {
namespace {

using nlohmann::json;

struct FlowsFlags {
  std::string socket = kDefaultSocket;
  std::string output = "table";
  bool follow = false;
  bool no_headers = false;
  size_t last = 20;
  std::string from, to, protocol, verdict, event, since;
  int port = -1;
};

std::string query_of(const FlowsFlags& f) {
  std::string q = "last=" + std::to_string(f.last);
  auto add = [&](const char* key, const std::string& v) {
    if (v.empty()) return;
    q += std::string("&") + key + "=" + api::url_encode(v);
  };
  add("from", f.from);
  add("to", f.to);
  add("protocol", f.protocol);
  add("verdict", f.verdict);
  add("event", f.event.empty() || f.event == "deny" ? f.event : "flow-" + f.event);
  if (f.port >= 0) add("port", std::to_string(f.port));
  if (!f.since.empty()) {
    auto ago = parse_duration_ns(f.since);
    if (!ago) throw Error("--since \"" + f.since + "\": expected a duration such as 30s, 5m, 2h");
    add("since", format_rfc3339(realtime_now_ns() - *ago));
  }
  if (f.follow) q += "&follow=1";
  return q;
}

// "prod/db:5432", or the address where the end has no workload name
std::string party(const json& p, bool with_port) {
  std::string name = p.value("name", "");
  std::string ip = p.value("ip", "");
  if (name.empty() || name == "world" || name.find('/') == std::string::npos || name.find('.') != std::string::npos ||
      name.find(':') != std::string::npos)
    name = name.empty() || name == ip ? ip : name + "(" + ip + ")";
  if (with_port && p.contains("port")) name += ":" + std::to_string(p["port"].get<int>());
  return name;
}

std::string short_event(const std::string& e) {
  if (e == "flow-start") return "start";
  if (e == "flow-end") return "end";
  if (e == "flow-unanswered") return "unanswered";
  if (e == "flow-refused") return "refused";
  return e;
}

std::string human_bytes(uint64_t n) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(n);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    u++;
  }
  char buf[32];
  std::snprintf(buf, sizeof(buf), u ? "%.1f%s" : "%.0f%s", v, units[u]);
  return buf;
}

std::string protocol_text(const json& f) {
  std::string p = f.value("protocol", "");
  if (f.contains("icmp")) p += " " + std::to_string(f["icmp"]["type"].get<int>()) + "/" + std::to_string(f["icmp"]["code"].get<int>());
  return p;
}

// what the last column says: the rule or reason; for ends, how it ended
std::string why_text(const json& f) {
  std::string why = f.value("why", "");
  if (f.value("event", "") == "flow-unanswered") {
    why = "no reply " + std::to_string(f.value("duration_ms", 0)) + "ms after the first packet, " +
          std::to_string(f["packets"]["forward"].get<uint64_t>()) + " pkts sent";
  } else if (f.value("event", "") == "flow-refused") {
    why = "reset " + std::to_string(f.value("duration_ms", 0)) + "ms after the first packet, no SYN-ACK";
  } else if (f.value("event", "") == "flow-end") {
    const json& p = f["packets"];
    const json& b = f["bytes"];
    why = f.value("end_reason", "") + " after " + std::to_string(f.value("duration_ms", 0)) + "ms, " +
          std::to_string(p["forward"].get<uint64_t>()) + "/" + std::to_string(p["reply"].get<uint64_t>()) +
          " pkts, " + human_bytes(b["forward"].get<uint64_t>()) + "/" + human_bytes(b["reply"].get<uint64_t>());
  }
  if (f.value("suppressed", 0) > 0) why += " (+" + std::to_string(f["suppressed"].get<uint64_t>()) + " suppressed)";
  return why;
}

std::vector<std::string> row_of(const json& f) {
  if (f.value("event", "") == "lost")
    return {"", "lost", "", std::to_string(f.value("lines", 0)) + " flows (this stream fell behind)", "", "", "", ""};
  std::string time = f.value("time", "");
  return {time.size() >= 23 ? time.substr(11, 12) : time,
          short_event(f.value("event", "")),
          f.value("verdict", ""),
          party(f["source"], false),
          "->",
          party(f["destination"], true),
          protocol_text(f),
          why_text(f)};
}

void print_line(const json& f, const std::string& output) {
  if (output == "json" || output == "yaml") {
    print_record(output, f);
    return;
  }
  auto r = row_of(f);
  if (output == "compact") {
    std::cout << r[0] << " " << r[1] << " " << r[2] << " " << r[3] << " -> " << r[5] << " " << r[6] << ": " << r[7]
              << "\n";
    return;
  }
  // table, streaming: fixed widths
  char buf[512];
  std::snprintf(buf, sizeof(buf), "%-12s  %-10s  %-8s  %-24s -> %-28s %-9s  ", r[0].c_str(), r[1].c_str(), r[2].c_str(),
                r[3].c_str(), r[5].c_str(), r[6].c_str());
  std::cout << buf << r[7] << "\n";
}

void run_flows(const FlowsFlags& f) {
  std::string path = "/v1/flows?" + query_of(f);
  if (!f.follow) {
    std::vector<json> flows;
    read_json_lines(f.socket, path, false, [&](const json& j) { flows.push_back(j); });
    if (f.output != "table") {
      for (const auto& fl : flows) print_line(fl, f.output);
      return;
    }
    if (flows.empty()) {
      std::cerr << "no flows\n";
      return;
    }
    Table t({"time", "event", "verdict", "source", "", "destination", "proto", "why"});
    for (const auto& fl : flows) t.add(row_of(fl));
    t.print(std::cout, !f.no_headers);
    return;
  }
  if (f.output == "table" && !f.no_headers) {
    char buf[256];
    std::snprintf(buf, sizeof(buf), "%-12s  %-10s  %-8s  %-24s    %-28s %-9s  %s", "TIME", "EVENT", "VERDICT", "SOURCE",
                  "DESTINATION", "PROTO", "WHY");
    std::cout << buf << std::endl;
  }
  read_json_lines(f.socket, path, true, [&](const json& j) {
    print_line(j, f.output);
    std::cout.flush();
  });
}

}  // namespace

void add_flows_command(CLI::App& app, GlobalOptions&) {
  static FlowsFlags flags;
  auto* cmd = app.add_subcommand("flows", "Recent and live flows: who talked to whom, and which rule decided");
  add_socket_option(*cmd, flags.socket);
  cmd->add_option("-o,--output", flags.output, "table, json (one object a line), yaml (a document each) or compact")
      ->check(CLI::IsMember({"table", "json", "yaml", "compact"}))
      ->capture_default_str();
  cmd->add_flag("--no-headers", flags.no_headers, "The table without its header line");
  cmd->add_flag("-f,--follow", flags.follow, "Keep printing new flows as they come");
  cmd->add_option("--last", flags.last, "How many recent flows first")->capture_default_str();
  cmd->add_option("--from", flags.from, "Source: a label (key=value), a workload (name or namespace/name) or a CIDR");
  cmd->add_option("--to", flags.to, "Destination: a label, a workload or a CIDR");
  cmd->add_option("--port", flags.port, "Destination port")->check(CLI::Range(0, 65535));
  cmd->add_option("--protocol", flags.protocol, "tcp, udp, icmp, ... or a number");
  cmd->add_option("--verdict", flags.verdict, "allowed, denied or audit")
      ->check(CLI::IsMember({"allowed", "denied", "audit"}));
  cmd->add_option("--since", flags.since, "Only flows of the last DURATION (30s, 5m, 2h)");
  cmd->add_option("--event", flags.event, "start, end, unanswered, refused or deny")
      ->check(CLI::IsMember({"start", "end", "unanswered", "refused", "deny"}));
  cmd->callback([] { run_flows(flags); });
}

}  // namespace zeroseg::cli
