// SPDX-License-Identifier: Apache-2.0
// The control plane at scale: 10k workloads and 100k rules (1000
// SegmentPolicies of 100 rules) loaded, compiled and applied into the real
// datapath by an in-process agent; then a one-rule change sent the way the
// CLI sends it (HTTP over the agent's Unix socket), timed until the maps
// enforce it, and a rule added and removed (a new rule id each time); and
// the agent's resident memory.
//
//   sudo build/bench/apply_bench [--quick]
//   sudo heaptrack build/bench/apply_bench --exit-after-measure  (what holds the memory)
#include <malloc.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "agent/agent.h"
#include "api/http.h"
#include "agent/routes.h"
#include "common/error.h"
#include "common/log.h"
#include "policy/yaml_reader.h"

using namespace zeroseg;
using Clock = std::chrono::steady_clock;

namespace {

// --quick (bench/run.sh --quick, a smoke test): a tenth of the objects, 5 changes
int kWorkloads = 10000, kApps = 1000, kChanges = 20;
constexpr int kRulesPerPolicy = 100;

double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

std::string workloads_yaml() {
  std::ostringstream y;
  for (int i = 0; i < kWorkloads; i++)
    y << "---\napiVersion: zeroseg.io/v1\nkind: Workload\nmetadata: {name: w" << i
      << ", namespace: bench, labels: {app: a" << i % kApps << "}}\nspec: {ips: [10." << 100 + i / 65536 << "."
      << (i / 256) % 256 << "." << i % 256 << "]}\n";
  return y.str();
}

std::string policy_yaml(int app, int port_shift = 0, int rules = kRulesPerPolicy) {
  std::ostringstream y;
  y << "---\napiVersion: zeroseg.io/v1\nkind: SegmentPolicy\nmetadata: {name: p" << app
    << ", namespace: bench}\nspec:\n  selector: {matchLabels: {app: a" << app << "}}\n  ingress:\n";
  for (int r = 0; r < rules; r++)
    y << "  - from: [{selector: {matchLabels: {app: a" << (app + r + 1) % kApps << "}}}]\n    ports: [{port: "
      << 1000 + r + port_shift << "}]\n";
  return y.str();
}

long rss_kib() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const bool exit_after_measure = argc > 1 && std::string(argv[1]) == "--exit-after-measure";
  if (argc > 1 && std::string(argv[1]) == "--quick") kWorkloads = 1000, kApps = 100, kChanges = 5;
  const std::string tmp = "/tmp/zs-apply-bench";
  std::filesystem::remove_all(tmp);
  AgentConfig cfg;
  cfg.pin_dir = "/sys/fs/bpf/zs-apply-bench";
  cfg.state_dir = tmp + "/state";
  cfg.socket = tmp + "/zeroseg.sock";
  Agent::uninstall(cfg);

  long rss_before = rss_kib();
  std::string text = workloads_yaml();
  for (int a = 0; a < kApps; a++) text += policy_yaml(a);

  auto t = Clock::now();
  ObjectSet objects = load_yaml(text, "bench.yaml");
  double parse_ms = ms_since(t);

  auto owned = std::make_unique<Agent>(cfg);
  Agent& agent = *owned;
  std::fprintf(stderr, "parsed in %.0f ms; applying ...\n", parse_ms);
  t = Clock::now();
  ApplyResult r = agent.apply(objects, false);
  std::fprintf(stderr, "applied in %.0f ms; changing one rule %d times ...\n", ms_since(t), kChanges);
  double apply_ms = ms_since(t);
  objects = {};
  text.clear();
  text.shrink_to_fit();
  malloc_trim(0);

  auto server = api::HttpServer::unix_socket(cfg.socket, 0, api_routes(agent));
  std::thread serving([&] { server->serve(); });

  // p7's YAML sent as `zeroseg apply -f p7.yaml` sends it, 20 times, each
  // timed until the maps enforce it (sorted). An operator's changes come
  // seconds apart: the agent has freed the state the last one replaced
  // (on its housekeeping thread) by then.
  auto timed_applies = [&](auto yaml_of_change) {
    std::vector<double> ms;
    for (int i = 0; i < kChanges; i++) {
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
      nlohmann::json body = {{"documents", {{{"name", "p7.yaml"}, {"content", yaml_of_change(i)}}}}};
      std::string payload = body.dump();
      auto started = Clock::now();
      api::Response resp = api::call(cfg.socket, "POST", "/v1/apply", payload);
      ms.push_back(ms_since(started));
      if (resp.status != 200) throw Error("apply failed: " + resp.body);
    }
    std::sort(ms.begin(), ms.end());
    return ms;
  };
  log::set_level(log::Level::debug);  // the agent logs where each change's time goes
  // one rule changes: p7's first rule moves to another port
  std::vector<double> change_ms = timed_applies([](int i) { return policy_yaml(7, (i + 1) % 2 * 5000); });
  // one rule added, then removed again: a new rule id each time
  std::vector<double> add_ms =
      timed_applies([](int i) { return policy_yaml(7, 0, i % 2 == 0 ? kRulesPerPolicy + 1 : kRulesPerPolicy); });
  // of which: reading the changed policy's YAML (the agent does it per request)
  std::vector<double> parse_one_ms;
  for (int i = 0; i < kChanges; i++) {
    t = Clock::now();
    ObjectSet one = load_yaml(policy_yaml(7, i), "p7.yaml");
    parse_one_ms.push_back(ms_since(t));
  }
  std::sort(parse_one_ms.begin(), parse_one_ms.end());
  // the agent frees a replaced state on its housekeeping thread: let it
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  long rss_after = rss_kib();
  double heap_mib = static_cast<double>(mallinfo2().uordblks) / (1 << 20);
  // `heaptrack build/bench/apply_bench --exit-after-measure`: heaptrack's
  // "leaked" is then what the agent holds, by allocation site
  if (exit_after_measure) {
    Agent::uninstall(cfg);  // its pins; the maps go with the process
    std::filesystem::remove_all(tmp);
    _exit(0);
  }
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);

  server->stop();
  serving.join();
  std::printf("| measure | value |\n|---|---:|\n");
  std::printf("| objects | %d workloads, %d policies, %d rules |\n", kWorkloads, kApps, kApps * kRulesPerPolicy);
  std::printf("| policy map entries after apply | %zu |\n", r.entries_changed);
  std::printf("| YAML parse + validation | %.0f ms |\n", parse_ms);
  std::printf("| compile + apply (maps enforce, state on disk) | %.0f ms |\n", apply_ms);
  std::printf("| one-rule change, socket to maps, median of %d | %.1f ms |\n", kChanges, change_ms[change_ms.size() / 2]);
  std::printf("| one-rule change, slowest of %d | %.1f ms |\n", kChanges, change_ms.back());
  std::printf("| one rule added or removed, median of %d | %.1f ms |\n", kChanges, add_ms[add_ms.size() / 2]);
  std::printf("| of which: YAML of the changed policy (100 rules), median | %.1f ms |\n",
              parse_one_ms[parse_one_ms.size() / 2]);
  std::printf("| agent RSS with that state (VmRSS, minus the process before) | %.1f MiB |\n",
              (rss_after - rss_before) / 1024.0);
  std::printf("| of which: heap in use (mallinfo2) | %.1f MiB |\n", heap_mib);
  std::printf("| peak RSS of the process (incl. the YAML text) | %.1f MiB |\n", ru.ru_maxrss / 1024.0);

  owned.reset();
  Agent::uninstall(cfg);
  std::filesystem::remove_all(tmp);
  return 0;
}
