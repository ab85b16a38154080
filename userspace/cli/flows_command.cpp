// SPDX-License-Identifier: Apache-2.0
// `zeroseg flows`: recent and live flow records from the agent.
#include <algorithm>
#include <iostream>
#include <map>
#include <set>

#include "api/http.h"
#include "cli/client.h"
#include "cli/colour.h"
#include "cli/flow_rows.h"
#include "cli/flows_filters.h"
#include "cli/options.h"
#include "cli/output.h"
#include "cli/table.h"
#include "common/error.h"
#include "common/time.h"

namespace zeroseg::cli {
namespace {

using nlohmann::json;

const std::string kFilterFlags[] = {"from-label", "to-label", "pod", "port", "protocol",
                                    "verdict", "event", "since", "until"};

struct FlowsFlags {
  std::string socket = kDefaultSocket;
  std::string output = "table";
  bool follow = false;
  bool no_headers = false;
  size_t last = 20;
  std::string from, to;
  FlowFilters filters;  // the rest, from the command line in its order
};

// What the agent's recent buffer holds at most (it caps `last` at that):
// asked when filters apply here, which keep the last N themselves.
constexpr size_t kAllRecent = 1000000000;

std::string query_of(const FlowsFlags& f, bool follow) {
  const FlowFilters& ff = f.filters;
  std::string q = "last=" + std::to_string(ff.needs_client_side() ? kAllRecent : f.last);
  auto add = [&](const std::string& key, const std::string& v) {
    if (v.empty()) return;
    q += "&" + key + "=" + api::url_encode(v);
  };
  add("from", f.from);
  add("to", f.to);
  for (const auto& t : ff.terms)
    if (ff.for_agent(t)) add(t.flag, t.flag != "event" || t.value == "deny" ? t.value : "flow-" + t.value);
  if (ff.since_ns) add("since", format_rfc3339(*ff.since_ns));
  if (follow) q += "&follow=1";
  return q;
}

void print_line(const json& f, const std::string& output) {
  if (output == "json" || output == "yaml") {
    print_record(output, f);
    return;
  }
  auto r = flow_row(f);
  if (output == "compact") {
    std::cout << r[0] << " " << r[1] << " " << r[2] << " " << r[3] << " -> " << r[5] << " " << r[6] << ": " << r[7]
              << "\n";
    return;
  }
  // table, streaming: fixed widths
  char verdict[16];
  std::snprintf(verdict, sizeof(verdict), "%-8s", r[2].c_str());
  static const bool colour = colour_enabled();
  char buf[512];
  std::snprintf(buf, sizeof(buf), "%-12s  %-10s  %s  %-24s -> %-28s %-9s  ", r[0].c_str(), r[1].c_str(),
                paint(verdict, verdict_colour(r[2]), colour).c_str(), r[3].c_str(), r[5].c_str(), r[6].c_str());
  std::cout << buf << r[7] << "\n";
}

// The last N recent flows that pass the filters; every record the agent
// sent, to seen when given.
std::vector<json> recent_flows(const FlowsFlags& f, std::set<std::string>* seen = nullptr) {
  std::vector<json> flows;
  bool here = f.filters.needs_client_side();
  read_json_lines(f.socket, "/v1/flows?" + query_of(f, false), false, [&](const json& j) {
    if (seen) seen->insert(j.dump());
    if (!here || f.filters.matches(j)) flows.push_back(j);
  });
  if (flows.size() > f.last) flows.erase(flows.begin(), flows.end() - static_cast<long>(f.last));
  return flows;
}

void run_flows(const FlowsFlags& f) {
  if (!f.follow) {
    std::vector<json> flows = recent_flows(f);
    order_by_time(flows);  // as the time column reads (docs/cli.md, "flows")
    if (f.output != "table") {
      for (const auto& fl : flows) print_line(fl, f.output);
      return;
    }
    if (flows.empty()) {
      std::cerr << "no flows\n";
      return;
    }
    Table t({"time", "event", "verdict", "source", "", "destination", "proto", "why"});
    for (const auto& fl : flows) t.add(flow_row(fl));
    Table::Painter verdicts = [](size_t column, const std::string& cell) {
      return column == 2 ? verdict_colour(cell) : nullptr;
    };
    t.print(std::cout, !f.no_headers, colour_enabled() ? verdicts : nullptr);
    return;
  }
  if (f.output == "table" && !f.no_headers) {
    char buf[256];
    std::snprintf(buf, sizeof(buf), "%-12s  %-10s  %-8s  %-24s    %-28s %-9s  %s", "TIME", "EVENT", "VERDICT", "SOURCE",
                  "DESTINATION", "PROTO", "WHY");
    std::cout << buf << std::endl;
  }
  const FlowFilters& ff = f.filters;
  // Filters applied here cannot pick the agent's last N: the backlog comes
  // from a request of its own, and the stream's copy of it (all the agent
  // sent then, shown or not) is skipped.
  std::set<std::string> seen;
  if (ff.needs_client_side())
    for (const auto& fl : recent_flows(f, &seen)) print_line(fl, f.output);
  std::cout.flush();
  if (ff.until_ns && *ff.until_ns <= realtime_now_ns()) return;  // nothing new can be before --until
  follow_json_lines(f.socket, "/v1/flows?" + query_of(f, true), [&](const json& j) {
    if (j.value("event", "") != "lost") {
      if (ff.until_ns) {
        auto t = parse_rfc3339(j.value("time", ""));
        if (t && *t > *ff.until_ns) return false;  // past --until: nothing later can match
      }
      if (ff.needs_client_side() && (!ff.matches(j) || seen.count(j.dump()))) return true;
    }
    print_line(j, f.output);
    std::cout.flush();
    return true;
  });
}

}  // namespace

void add_flows_command(CLI::App& app, GlobalOptions&) {
  static FlowsFlags flags;
  static std::vector<std::string> values;  // each filter's, read back in command-line order
  static int negations = 0;
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
  auto filter = [&](const char* name, const char* help) {
    return cmd->add_option(name, values, help)->allow_extra_args(false);  // one value an occurrence
  };
  filter("--from-label", "Source labels key=value[,key=value] (repeatable: all must match)");
  filter("--to-label", "Destination labels key=value[,key=value] (repeatable: all must match)");
  filter("--pod", "Either end is this workload: NAMESPACE/NAME, or NAMESPACE/ for any of it");
  filter("--port", "Destination port");
  filter("--protocol", "tcp, udp, icmp, ... or a number");
  filter("--verdict", "allowed, denied or audit")->check(CLI::IsMember({"allowed", "denied", "audit"}));
  filter("--event", "start, end, unanswered, refused or deny")
      ->check(CLI::IsMember({"start", "end", "unanswered", "refused", "deny"}));
  cmd->add_flag("--not", negations, "Negate the filter that follows (--not --pod prod/web)");
  filter("--since", "Flows from then on: a duration back from now (5m, 1h30m) or an RFC 3339 time");
  filter("--until", "Flows up to then: a duration back from now (5m, 1h30m) or an RFC 3339 time");
  cmd->footer("Filters of different kinds and repeated ones must all hold; with --follow they apply to the stream.");
  cmd->callback([cmd] {
    // one list for every filter, read back occurrence by occurrence in the
    // order CLI11 parsed them: --not negates the next one
    std::vector<std::pair<std::string, std::string>> in_order;
    std::map<const CLI::Option*, size_t> seen;
    for (const CLI::Option* o : cmd->parse_order()) {
      std::string name = o->get_lnames().empty() ? "" : o->get_lnames().front();
      if (name == "not" || name == "from" || name == "to") in_order.emplace_back(name, "");
      else if (std::find(std::begin(kFilterFlags), std::end(kFilterFlags), name) != std::end(kFilterFlags))
        in_order.emplace_back(name, o->results().at(seen[o]++));
    }
    flags.filters = parse_flow_filters(in_order, realtime_now_ns());
    run_flows(flags);
  });
}

}  // namespace zeroseg::cli
