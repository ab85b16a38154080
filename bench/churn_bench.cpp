// SPDX-License-Identifier: Apache-2.0
// Pod churn at scale (issue 17, "Churn"): 10k workloads and 1000
// SegmentPolicies of 100 rules (apply_bench's state) in an in-process
// agent over the real datapath; then one workload at a time added,
// removed, relabelled to another existing label set, and relabelled to a
// label set never seen (a new pod-template-hash: a new identity, which
// the rules that select its labels must learn). Each change goes through
// DesiredState::apply/remove, the seam a cluster watcher calls, and is
// timed until it returns (the maps enforce it, the change journaled).
//
//   sudo build/bench/churn_bench [--quick] [--changes N] [--whole-changes N] [--gap-ms N] [--incremental-only]
//                                [--local]
// (first the incremental agent, then one that compiles every change whole:
// AgentConfig::incremental_workloads false, the code path before issue 17)
//
// The agent is configured as in cluster mode (AgentConfig::cluster set; no
// etcd is contacted: the watcher's calls are what is played), so a change's
// journal record waits for no fsync (docs/cluster.md, "What a node keeps");
// --local: as a node alone, every change fsynced before it returns.
// After the table, where the time of the incremental changes went, by
// commit phase (Agent::last_commit_phases), p50 / p99.
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "agent/agent.h"
#include "common/error.h"
#include "common/log.h"
#include "policy/yaml_reader.h"
#include "churn_objects.h"

using namespace zeroseg;
using namespace zeroseg::bench;  // churn_objects.h
using Clock = std::chrono::steady_clock;

namespace {

// the whole compile takes ~1 s a change: fewer of them (--whole-changes)
int kWorkloads = 10000, kApps = 1000, kChanges = 100, kWholeChanges = 20;
// --gap-ms: a pause before each change (events apart, as pods start): the
// last commit's slot levelling (a grace period) is then off the next one's path
int kGapMs = 0;
bool kLocal = false;  // --local: no cluster mode, the journal fsynced per change

double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

// This thread's CPU time: the work of a change whatever else runs on the
// machine (a loaded machine stretches wall time several times); it leaves
// out the waits (fsync, the programs' grace period), which wall time has.
double thread_cpu_ms() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

// One agent's figures: the state set up, then kChanges of each kind.
struct Run {
  Figures add, remove, relabel, fresh, back;  // wall time
  Figures cpu;  // every change's CPU time on the calling thread
  // every change's commit phases by name, in the order first seen, and
  // what none covers (merging into the desired objects, the lock)
  std::vector<std::pair<std::string, Figures>> phases;
  Figures& phase(const std::string& name) {
    for (auto& [n, f] : phases)
      if (n == name) return f;
    return phases.emplace_back(name, Figures()).second;
  }
};

Run measure(bool incremental, int changes) {
  const std::string tmp = "/tmp/zs-churn-bench-" + std::to_string(getpid());
  std::filesystem::remove_all(tmp);
  AgentConfig cfg;
  cfg.pin_dir = "/sys/fs/bpf/zs-churn-bench-" + std::to_string(getpid());
  cfg.state_dir = tmp + "/state";
  cfg.socket = tmp + "/zeroseg.sock";
  cfg.incremental_workloads = incremental;
  if (!kLocal) cfg.cluster = "etcd://not-contacted:2379";  // the journal as in cluster mode
  Agent::uninstall(cfg);

  std::string text;
  for (int i = 0; i < kWorkloads; i++) text += workload_yaml(i, app_labels(i % kApps));
  for (int a = 0; a < kApps; a++) text += policy_yaml(a, kApps);
  auto owned = std::make_unique<Agent>(cfg);
  Agent& agent = *owned;
  auto t = Clock::now();
  agent.apply(load_yaml(text, "bench.yaml"), false);
  std::fprintf(stderr, "%s: %d workloads, %d policies applied in %.0f ms; %d changes of each kind ...\n",
               incremental ? "incremental" : "whole compile", kWorkloads, kApps, ms_since(t), changes);
  text.clear();

  auto one = [](int i, const std::string& labels) { return load_yaml(workload_yaml(i, labels), "w.yaml"); };
  Run run;
  auto timed = [&](Figures& f, bool remove, const ObjectSet& objects) {
    if (kGapMs) std::this_thread::sleep_for(std::chrono::milliseconds(kGapMs));
    auto started = Clock::now();
    double cpu = thread_cpu_ms();
    ApplyResult r = remove ? agent.remove(objects, false) : agent.apply(objects, false);
    double wall = ms_since(started);
    f.add(wall);
    run.cpu.add(thread_cpu_ms() - cpu);
    double covered = 0;
    for (const auto& [name, ms] : agent.last_commit_phases()) {
      run.phase(name).add(ms);
      covered += ms;
    }
    run.phase("(outside commit: merge, lock)").add(wall - covered);
    if (r.objects.empty() || r.objects[0].second == "unchanged" || r.objects[0].second == "not found")
      throw Error("the change changed nothing: " + (r.objects.empty() ? std::string() : r.objects[0].second));
  };
  for (int c = 0; c < changes; c++) {
    int fresh_id = kWorkloads + c;  // a new pod, of an existing app
    timed(run.add, false, one(fresh_id, app_labels(c % kApps)));
    // an existing pod moves to another app (an existing identity)
    timed(run.relabel, false, one(c, app_labels((c + 1) % kApps)));
    // and then to a label set nobody has: a new identity
    timed(run.fresh, false, one(c, app_labels(c % kApps) + ", pod-template-hash: h" + std::to_string(c)));
    timed(run.remove, true, one(fresh_id, app_labels(c % kApps)));
    // back as it was (that identity's only pod leaves it: it goes); the
    // next change starts from the same state
    timed(run.back, false, one(c, app_labels(c % kApps)));
  }
  owned.reset();
  Agent::uninstall(cfg);
  std::filesystem::remove_all(tmp);
  return run;
}

}  // namespace

int main(int argc, char** argv) {
  bool whole = true;
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    if (a == "--quick") {
      kWorkloads = 1000, kApps = 100, kChanges = 20, kWholeChanges = 5;
    } else if (a == "--changes" && i + 1 < argc) {
      kChanges = std::stoi(argv[++i]);
    } else if (a == "--whole-changes" && i + 1 < argc) {
      kWholeChanges = std::stoi(argv[++i]);
    } else if (a == "--gap-ms" && i + 1 < argc) {
      kGapMs = std::stoi(argv[++i]);
    } else if (a == "--incremental-only") {
      whole = false;
    } else if (a == "--local") {
      kLocal = true;
    } else {
      std::fprintf(stderr, "usage: churn_bench [--quick] [--changes N] [--whole-changes N] [--gap-ms N] [--incremental-only] [--local]\n");
      return 2;
    }
  }
  // ZS_CHURN_DEBUG=1: the agent logs each commit's phases (where time goes)
  if (getenv("ZS_CHURN_DEBUG")) log::set_level(log::Level::debug);
  Run before, after = measure(true, kChanges);
  if (whole) before = measure(false, kWholeChanges);
  std::printf("| change (%d workloads, %d policies, %d rules) | whole compile, %d of each: p50 / p99 | incremental, %d "
              "of each: p50 / p99 / max |\n",
              kWorkloads, kApps, kApps * kRulesPerPolicy, kWholeChanges, kChanges);
  std::printf("|---|---:|---:|\n");
  auto row = [&](const char* name, Figures Run::*f) {
    std::string was = whole ? std::to_string((before.*f).at(0.5)).substr(0, 6) + " / " +
                                  std::to_string((before.*f).at(0.99)).substr(0, 6) + " ms"
                            : "-";
    std::printf("| %s | %s | %.2f / %.2f / %.2f ms |\n", name, was.c_str(), (after.*f).at(0.5), (after.*f).at(0.99),
                (after.*f).at(1.0));
  };
  row("workload added (existing label set)", &Run::add);
  row("workload removed", &Run::remove);
  row("workload relabelled to another existing label set", &Run::relabel);
  row("workload relabelled to a new label set (an identity comes)", &Run::fresh);
  row("workload relabelled back (its identity goes)", &Run::back);
  row("every change: CPU time of the applying thread", &Run::cpu);
  Figures all;
  for (Figures Run::*f : {&Run::add, &Run::remove, &Run::relabel, &Run::fresh, &Run::back})
    for (double v : (after.*f).ms) all.add(v);
  std::printf("| every change (%zu) | | %.2f / %.2f / %.2f ms |\n", all.ms.size(), all.at(0.5), all.at(0.99), all.at(1.0));
  std::printf("\nincremental, %s journal: where the time went, p50 / p99 / max ms\n", kLocal ? "local (fsynced)" : "cluster-mode");
  for (auto& [name, f] : after.phases)
    std::printf("  %-32s %8.2f %8.2f %8.2f\n", name.c_str(), f.at(0.5), f.at(0.99), f.at(1.0));
  return 0;
}
