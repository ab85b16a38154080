// SPDX-License-Identifier: Apache-2.0
// `zeroseg policy list|get|validate|diff|trace|suggest`.
#include <iostream>

#include "abi/names.h"
#include "api/http.h"
#include "cli/client.h"
#include "cli/options.h"
#include "cli/output.h"
#include "cli/table.h"
#include "common/error.h"
#include "common/log.h"
#include "identity/allocator.h"
#include "policy/compiler.h"
#include "policy/yaml_reader.h"

namespace zeroseg::cli {
namespace {

using nlohmann::json;

void run_list(const GlobalOptions& g) {
  json list = request(g, "GET", "/v1/policies");
  if (g.structured()) {
    print_structured(g, list);
    return;
  }
  Table t({"kind", "namespace", "name", "mode", "directions", "selector", "selected", "rules"});
  for (const auto& p : list)
    t.add({p["kind"], p["namespace"], p["name"], p["mode"], p["directions"], p["selector"],
           std::to_string(p["selected"].get<size_t>()), std::to_string(p["rules"].get<size_t>())});
  if (t.empty()) std::cerr << "no policies\n";
  else t.print(std::cout, !g.no_headers);
}

void run_get(const GlobalOptions& g, const std::string& ref) {
  json p = request(g, "GET", "/v1/policy?ref=" + api::url_encode(ref));
  if (g.output == "yaml") {  // the object itself, as kubectl get -o yaml
    std::cout << p["document"].get<std::string>() << "\n";
    return;
  }
  if (g.structured()) {
    print_structured(g, p);
    return;
  }
  std::cout << "# " << p["object"].get<std::string>() << "\n";
  for (const auto& r : p["rules"]) std::cout << "# rule " << r["id"] << ": " << r["rule"].get<std::string>() << "\n";
  std::cout << p["document"].get<std::string>() << "\n";
}

// Offline: parse, validate and compile, as the agent would.
void run_validate(const GlobalOptions& g, const std::vector<std::string>& files) {
  ObjectSet all;
  for (const auto& f : files) all.append(load_path(f));
  LocalIdentityAllocator ids;
  RuleIdAllocator rules;
  Compiled c = PolicyCompiler(ids, rules).compile(all);
  if (g.structured()) {
    print_structured(g, {{"valid", true},
                         {"objects", all.size()},
                         {"identities", c.identities.size()},
                         {"policy_entries", c.policy.size()}});
    return;
  }
  std::cout << "valid: " << all.workloads.size() << " workloads, " << all.namespaces.size() << " namespaces, "
            << all.policies.size() << " policies -> " << c.identities.size() << " identities, " << c.policy.size()
            << " policy entries\n";
}

struct TraceArgs {
  std::string from, to, port;
};

void run_trace(const GlobalOptions& g, const TraceArgs& a) {
  auto slash = a.port.find('/');
  std::string number = a.port.substr(0, slash), proto = slash == std::string::npos ? "tcp" : a.port.substr(slash + 1);
  for (auto& c : proto) c = static_cast<char>(std::tolower(c));
  int port = 0;
  try {
    port = std::stoi(number);
  } catch (...) {
    throw Error("--port wants N/PROTO (e.g. 80/tcp, 53/udp, 8/icmp for an echo request), not " + a.port);
  }
  auto p = parse_proto(proto);
  if (!p || port < 0 || port > 65535) throw Error("--port wants N/PROTO, not " + a.port);
  json r = request(g, "POST", "/v1/trace", {{"from", a.from}, {"to", a.to}, {"port", port}, {"proto", *p}});
  if (g.structured()) {
    print_structured(g, r);
    return;
  }
  std::cout << r["from"].get<std::string>() << " (" << r["source_ip"].get<std::string>() << ") -> "
            << r["to"].get<std::string>() << " (" << r["destination_ip"].get<std::string>() << ") on " << port
            << "/" << r["protocol"].get<std::string>() << "\n";
  Table t({"at", "direction", "verdict", "why"});
  for (const auto& s : r["steps"])
    t.add({s["at"], s["direction"], s["verdict"], s["explanation"]});
  t.print(std::cout, !g.no_headers);
  std::cout << "verdict: " << r["verdict"].get<std::string>() << "\n";
}

// Whether applying the files would change anything.
bool run_diff(const GlobalOptions& g, const std::vector<std::string>& files) {
  json r = request(g, "POST", "/v1/apply", {{"documents", read_documents(files)}, {"dry_run", true}});
  bool changes = r["entries_changed"].get<size_t>() > 0;
  for (const auto& o : r["objects"]) changes |= o["action"].get<std::string>() != "unchanged";
  if (g.structured()) {
    print_structured(g, r);
    return changes;
  }
  for (const auto& o : r["objects"])
    std::cout << o["object"].get<std::string>() << " would be " << o["action"].get<std::string>() << "\n";
  std::cout << r["entries_changed"].get<size_t>() << " datapath entries would change\n";
  if (!r.contains("replay")) return changes;
  const json& rp = r["replay"];
  std::cout << "\nreplayed " << rp["conversations"] << " conversations seen on this node: " << rp["unchanged"]
            << " keep their verdict, " << rp["newly_denied"].size() << " would be denied, "
            << rp["newly_allowed"].size() << " allowed\n";
  for (const char* key : {"newly_denied", "newly_allowed"}) {
    if (rp[key].empty()) continue;
    std::cout << "\n";
    Table t({key == std::string("newly_denied") ? "would be denied" : "would be allowed", "to", "port", "flows",
             "last seen", "now", "why"});
    size_t shown = 0;
    for (const auto& c : rp[key]) {
      if (shown++ == 50) break;
      t.add({c["source"], c["destination"], std::to_string(c["port"].get<int>()) + "/" + c["protocol"].get<std::string>(),
             std::to_string(c["flows"].get<uint64_t>()), c["last_seen"], c["now"], c["why"]});
    }
    t.print(std::cout, !g.no_headers);
    if (rp[key].size() > 50) std::cout << "(" << rp[key].size() - 50 << " more: -o json shows all)\n";
  }
  return changes;
}

struct SuggestArgs {
  std::string since, ns;
};

void run_suggest(const GlobalOptions& g, const SuggestArgs& a) {
  std::string path = "/v1/policy/suggest?since=" + api::url_encode(a.since) + "&namespace=" + api::url_encode(a.ns);
  json r = request(g, "GET", path);
  if (g.output == "json") print_structured(g, r);
  else std::cout << r["yaml"].get<std::string>();  // the suggested objects, -o yaml or not
}

}  // namespace

void add_policy_commands(CLI::App& app, GlobalOptions& g) {
  auto* policy = app.add_subcommand("policy", "Inspect, validate and compare policies");
  policy->require_subcommand(1);

  auto* list = policy->add_subcommand("list", "Policies the agent enforces");
  add_client_options(*list, g);
  list->callback([&g] { run_list(g); });

  static std::string ref;
  auto* get = policy->add_subcommand("get", "One policy as applied, with its rule ids");
  add_client_options(*get, g);
  get->add_option("policy", ref, "Kind/namespace/name, namespace/name or name")->required();
  get->callback([&g] { run_get(g, ref); });

  static std::vector<std::string> files;
  auto* validate = policy->add_subcommand("validate", "Check YAML files offline (no agent needed)");
  add_client_options(*validate, g);
  validate->add_option("-f,--filename", files)->required();
  validate->callback([&g] { run_validate(g, files); });

  static TraceArgs trace_args;
  auto* trace = policy->add_subcommand("trace", "Would FROM reach TO, and why (runs the loaded datapath)");
  add_client_options(*trace, g);
  trace->add_option("--from", trace_args.from, "Workload (namespace/name or name) or IP")->required();
  trace->add_option("--to", trace_args.to, "Workload (namespace/name or name) or IP")->required();
  trace->add_option("--port", trace_args.port, "N/PROTO: 80/tcp, 53/udp, 8/icmp (ICMP type)")->required();
  trace->callback([&g] { run_trace(g, trace_args); });

  auto* diff = policy->add_subcommand("diff", "What applying the files would change, and which seen flows it would deny or allow");
  add_client_options(*diff, g);
  diff->add_option("-f,--filename", files)->required();
  static bool exit_code = false;
  diff->add_flag("--exit-code", exit_code, "Exit 1 when applying would change something (as kubectl diff, git diff)");
  // with --exit-code: 0 nothing would change, 1 something would, 2 an error
  // (as diff(1) and kubectl diff), so a script tells "changes" from "failed"
  diff->callback([&g] {
    bool changes = false;
    try {
      changes = run_diff(g, files);
    } catch (const Error& e) {
      if (!exit_code) throw;
      log::error(e.what());
      throw ExitWith{2};
    }
    if (changes && exit_code) throw ExitWith{1};
  });

  static SuggestArgs suggest_args;
  auto* suggest = policy->add_subcommand("suggest", "Least-privilege SegmentPolicy YAML from the flows seen");
  add_client_options(*suggest, g);
  suggest->add_option("--since", suggest_args.since, "Only flows seen within this long (10m, 1h, 7d)");
  suggest->add_option("-n,--namespace", suggest_args.ns, "Only policies for this namespace's workloads");
  suggest->callback([&g] { run_suggest(g, suggest_args); });
}

}  // namespace zeroseg::cli
