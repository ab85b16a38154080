// SPDX-License-Identifier: Apache-2.0
// `zeroseg alerts`: what the detectors concluded, recent and live.
#include <iostream>

#include "cli/client.h"
#include "cli/colour.h"
#include "cli/options.h"
#include "cli/output.h"
#include "cli/table.h"

namespace zeroseg::cli {
namespace {

using nlohmann::json;

struct AlertsFlags {
  std::string socket = kDefaultSocket;
  std::string output = "table";
  bool follow = false;
  bool no_headers = false;
  size_t last = 20;
};

std::string joined(const json& list, size_t most) {
  std::string s;
  size_t n = 0;
  for (const auto& v : list) {
    if (n++ == most) return s + ", +" + std::to_string(list.size() - most);
    s += (s.empty() ? "" : ", ") + v.get<std::string>();
  }
  return s;
}

std::vector<std::string> row_of(const json& a) {
  std::string time = a.value("time", "");
  const json& src = a["source"];
  return {time.size() >= 19 ? time.substr(11, 8) : time, a.value("detector", ""), a.value("severity", ""),
          src.value("name", "") + " (" + src.value("ip", "") + ")", joined(a["targets"], 3), joined(a["mitre"], 3),
          a.value("summary", "") + (a.contains("suggestion") ? " (the policy that allows it: -o json, \"suggestion\")" : "")};
}

void run_alerts(const AlertsFlags& f) {
  std::string path = "/v1/alerts?last=" + std::to_string(f.last) + (f.follow ? "&follow=1" : "");
  const std::vector<std::string> headers = {"time", "detector", "severity", "source", "targets", "mitre", "summary"};
  if (!f.follow && f.output == "table") {
    Table t(headers);
    read_json_lines(f.socket, path, false, [&](const json& a) { t.add(row_of(a)); });
    Table::Painter severities = [](size_t column, const std::string& cell) {
      return column == 2 ? severity_colour(cell) : nullptr;
    };
    if (t.empty()) std::cerr << "no alerts\n";
    else t.print(std::cout, !f.no_headers, colour_enabled() ? severities : nullptr);
    return;
  }
  read_json_lines(f.socket, path, f.follow, [&](const json& a) {
    if (f.output != "table") {
      print_record(f.output, a);
      return;
    }
    if (a.value("event", "") == "lost") {
      std::cout << "(" << a.value("lines", 0) << " alerts lost: this stream fell behind)" << std::endl;
      return;
    }
    auto r = row_of(a);
    static const bool colour = colour_enabled();
    std::cout << r[0] << "  " << r[1] << "  " << paint(r[2], severity_colour(r[2]), colour) << "  " << r[3] << " -> "
              << r[4] << "  [" << r[5] << "]  "
              << r[6] << std::endl;
  });
}

}  // namespace

void add_alerts_command(CLI::App& app, GlobalOptions&) {
  static AlertsFlags flags;
  auto* cmd = app.add_subcommand("alerts", "Lateral-movement alerts: scans, sweeps, denied bursts");
  add_socket_option(*cmd, flags.socket);
  cmd->add_option("-o,--output", flags.output, "table, json (one object a line) or yaml (a document each)")
      ->check(CLI::IsMember({"table", "json", "yaml"}))
      ->capture_default_str();
  cmd->add_flag("--no-headers", flags.no_headers, "The table without its header line");
  cmd->add_flag("-f,--follow", flags.follow, "Keep printing new alerts as they come");
  cmd->add_option("--last", flags.last,
                  "How many recent alerts first (the agent keeps the last 1000; its alert-log keeps all)")->capture_default_str();
  cmd->callback([] { run_alerts(flags); });
}

}  // namespace zeroseg::cli
