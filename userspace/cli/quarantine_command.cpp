// SPDX-License-Identifier: Apache-2.0
// `zeroseg quarantine add|remove|list`: cut a workload or an address off
// from everything but the management prefixes, and let it back.
#include <iostream>

#include "cli/client.h"
#include "cli/options.h"
#include "cli/output.h"
#include "cli/quarantine_text.h"
#include "cli/table.h"

namespace zeroseg::cli {
namespace {

using nlohmann::json;

struct QuarantineFlags {
  std::string target;
  std::string expires;  // a duration ("1h") or an RFC 3339 time
  std::vector<std::string> management;
};

std::string joined(const json& list) {
  std::string s;
  for (const auto& v : list) s += (s.empty() ? "" : ",") + v.get<std::string>();
  return s.empty() ? "-" : s;
}

}  // namespace

std::string management_text(const json& prefixes) {
  std::string s = joined(prefixes);
  return s == "-" ? "none" : s;
}

namespace {

void print(const GlobalOptions& g, const json& q, bool added) {
  if (g.structured()) {
    print_structured(g, q);
    return;
  }
  if (!added) {
    std::cout << "released " << q["target"].get<std::string>() << " (policy revision " << q.value("revision", 0) << ")\n";
    return;
  }
  std::cout << "quarantined " << q["target"].get<std::string>();
  if (!q["expires"].is_null()) std::cout << " until " << q["expires"].get<std::string>();
  std::string m = management_text(q["management"]);
  std::cout << (m == "none" ? " (no management prefix: it reaches nothing, nothing reaches it" : " (management: " + m)
            << "; policy revision " << q.value("revision", 0) << ")\n";
}

void run_list(const GlobalOptions& g) {
  json list = request(g, "GET", "/v1/quarantines");
  if (g.structured()) {
    print_structured(g, list);
    return;
  }
  Table t({"target", "addresses", "since", "expires", "management", "reason"});
  for (const auto& q : list)
    t.add({q["target"], joined(q["addresses"]), q["since"], q["expires"].is_null() ? "-" : q["expires"].get<std::string>(),
           management_text(q["management"]), q.value("reason", "")});
  if (t.empty()) std::cerr << "nothing is quarantined\n";
  else t.print(std::cout, !g.no_headers);
}

}  // namespace

void add_quarantine_commands(CLI::App& app, GlobalOptions& g) {
  static QuarantineFlags flags;
  auto* q = app.add_subcommand("quarantine", "Cut a workload or address off from all but management");
  q->require_subcommand(1);

  auto* add = q->add_subcommand("add", "Quarantine a workload (namespace/name or name) or an address");
  add->add_option("target", flags.target, "WORKLOAD or IP")->required();
  add->add_option("--expires", flags.expires, "Release after a duration (1h, 30m) or at an RFC 3339 time");
  add->add_option("--allow-management", flags.management,
                  "CIDR still allowed both ways (repeat; default: the agent's quarantine-management)")
      ->delimiter(',');
  add_client_options(*add, g);
  add->callback([&g] {
    json body = {{"target", flags.target}, {"management", flags.management}};
    if (!flags.expires.empty()) body["expires"] = flags.expires;
    print(g, request(g, "POST", "/v1/quarantine/add", body), true);
  });

  auto* remove = q->add_subcommand("remove", "Release a workload or address: its policies apply again");
  remove->add_option("target", flags.target, "WORKLOAD or IP")->required();
  add_client_options(*remove, g);
  remove->callback([&g] { print(g, request(g, "POST", "/v1/quarantine/remove", {{"target", flags.target}}), false); });

  auto* list = q->add_subcommand("list", "What is quarantined, since when, until when, and why");
  add_client_options(*list, g);
  list->callback([&g] { run_list(g); });
}

}  // namespace zeroseg::cli
