// SPDX-License-Identifier: Apache-2.0
// `zeroseg apply -f` and `zeroseg delete -f`: desired state in, atomically.
#include <iostream>

#include "cli/client.h"
#include "cli/options.h"
#include "cli/output.h"
#include "cli/table.h"
#include "common/error.h"
#include "common/time.h"

namespace zeroseg::cli {
namespace {

using nlohmann::json;

// A change the agent committed but cannot enforce on some interface (its
// attach failed) fails the command, after saying what was done.
void fail_if_not_enforced(const json& r) {
  if (!r.contains("not_enforced") || r["not_enforced"].empty()) return;
  std::string what;
  for (const auto& p : r["not_enforced"]) {
    std::string w = p.value("workload", "");
    what += (what.empty() ? "" : "; ") + p.value("interface", "") + (w.empty() ? "" : " (" + w + ")") + ": " +
            p.value("error", "");
  }
  throw Error("applied, but not enforced on " + what);
}

void print_result(const GlobalOptions& g, const json& r, bool dry_run) {
  if (g.structured()) {
    print_structured(g, r);
    fail_if_not_enforced(r);
    return;
  }
  for (const auto& o : r["objects"])
    std::cout << o["object"].get<std::string>() << " " << o["action"].get<std::string>()
              << (dry_run ? " (dry run)" : "") << "\n";
  if (dry_run)
    std::cout << r["entries_changed"].get<size_t>() << " datapath entries would change\n";
  else
    std::cout << (r.contains("cluster_revision") ? "etcd revision " + std::to_string(r["cluster_revision"].get<int64_t>()) + ", " : "")
              << "policy revision " << r["revision"].get<uint64_t>() << ", " << r["entries_changed"].get<size_t>()
              << " datapath entries changed\n";
  if (!dry_run && r.contains("nodes"))
    std::cout << "enforced on all " << r["nodes"].size() << " live nodes\n";
  fail_if_not_enforced(r);
}

}  // namespace

void add_apply_commands(CLI::App& app, GlobalOptions& g) {
  static std::vector<std::string> files;
  static bool dry_run = false, wait_all = false;
  static std::string wait_timeout = "30s";
  for (const char* verb : {"apply", "delete"}) {
    bool apply = std::string(verb) == "apply";
    auto* cmd = app.add_subcommand(verb, apply ? "Apply objects from YAML files (enforced when this returns)"
                                               : "Delete the objects named in YAML files");
    add_client_options(*cmd, g);
    cmd->add_option("-f,--filename", files, "A YAML file, a directory of them, or - (standard input)")->required();
    cmd->add_flag("--dry-run", dry_run, "Validate and show what would change; change nothing");
    cmd->add_flag("--wait-all", wait_all,
                  "Cluster mode: return once every live node reports that it enforces the change");
    cmd->add_option("--wait-timeout", wait_timeout, "How long --wait-all waits (default 30s, at most 100s)");
    cmd->callback([&g, apply] {
      json body = {{"documents", read_documents(files)}, {"dry_run", dry_run}};
      if (wait_all) {
        body["wait_all"] = true;
        auto ns = parse_duration_ns(wait_timeout);
        if (!ns || *ns <= 0 || *ns > int64_t{100} * 1000000000)
          throw Error("--wait-timeout '" + wait_timeout + "': want a duration up to 100s (30s, 1m)");
        body["wait_timeout_seconds"] = static_cast<double>(*ns) / 1e9;
      }
      print_result(g, request(g, "POST", apply ? "/v1/apply" : "/v1/delete", body), dry_run);
    });
  }
}

}  // namespace zeroseg::cli
