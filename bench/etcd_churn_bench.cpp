// SPDX-License-Identifier: Apache-2.0
// Pod churn measured from etcd (issue 17, "Churn": "< 10 ms from the etcd
// event to the maps at 10k workloads and 1000 policies"). A real etcd on
// loopback (its data in a temp dir, as the cluster tests start it) holds
// 10k workloads of another node and 1000 SegmentPolicies of 100 rules
// (churn_bench's state); one agent in cluster mode (in-process, the real
// datapath, ClusterMode as `zeroseg agent --cluster` wires it, identities
// numbered in etcd) lists them. Then a second client, as another node
// would, writes one workload change at a time: added, relabelled to an
// existing label set, relabelled to a new one (an identity comes, learned
// from the writer's numbering: the agent's mirror of by-key/, else one
// read), removed, relabelled back (that identity goes). Each is
// timed from the writer's request and from etcd's reply to the change's
// maps written here, by the agent's own stamps: the watch message read,
// decoded, the maps written (ClusterMode::last_stamps), and the commit's
// phases (Agent::last_commit_phases). The next change is written once this
// one is applied (back to back), or --gap-ms later. A new label set is
// numbered in etcd by the writer first, as a node's apply numbers it.
//
//   sudo build/bench/etcd_churn_bench [--quick] [--changes N] [--gap-ms N]
#include <signal.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "agent/agent.h"
#include "agent/cluster_mode.h"
#include "common/error.h"
#include "policy/yaml_reader.h"
#include "policy/compiler.h"
#include "sources/cluster_identities.h"
#include "sources/cluster_store.h"
#include "churn_objects.h"

using namespace zeroseg;
using namespace zeroseg::bench;  // churn_objects.h
using Clock = std::chrono::steady_clock;

namespace {

int kWorkloads = 10000, kApps = 1000, kChanges = 100, kGapMs = 0;
const std::string kHere = "zs-bench-here", kOther = "zs-bench-other";

double ms(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double, std::milli>(b - a).count(); }

// etcd on free loopback ports, its data in a temp dir; killed with us.
struct Etcd {
  std::string dir;
  pid_t pid = -1;
  int port = 0;
  static int free_port() {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    int p = 0;
    if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 &&
        getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
      p = ntohs(a.sin_port);
    close(fd);
    return p;
  }
  Etcd() {
    char tmpl[] = "/tmp/zs-etcd-churn-XXXXXX";
    dir = mkdtemp(tmpl);
    port = free_port();
    int peer = free_port();
    std::string client = "http://127.0.0.1:" + std::to_string(port), peers = "http://127.0.0.1:" + std::to_string(peer);
    std::string initial = "zs-bench=" + peers;
    pid = fork();
    if (pid == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      (void)!std::freopen((dir + "/etcd.log").c_str(), "a", stderr);
      (void)!std::freopen("/dev/null", "w", stdout);
      execlp("etcd", "etcd", "--name", "zs-bench", "--data-dir", (dir + "/data").c_str(), "--listen-client-urls",
             client.c_str(), "--advertise-client-urls", client.c_str(), "--listen-peer-urls", peers.c_str(),
             "--initial-advertise-peer-urls", peers.c_str(), "--initial-cluster", initial.c_str(),
             "--max-request-bytes", "10485760", "--log-level", "warn", "--logger", "zap", static_cast<char*>(nullptr));
      _exit(127);
    }
  }
  ~Etcd() {
    if (pid > 0) {
      kill(pid, SIGTERM);
      waitpid(pid, nullptr, 0);
    }
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  std::shared_ptr<etcd::Client> client() const {
    etcd::ClientOptions o;
    o.endpoints = {{"127.0.0.1", port}};
    return std::make_shared<etcd::Client>(o);
  }
};

// The other node runs its workloads (an interface there: a workload
// without one would be no node's, workloads/-/).
std::string other_interface(int i) { return "zs-o" + std::to_string(i); }

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    if (a == "--quick") kWorkloads = 1000, kApps = 100, kChanges = 20;
    else if (a == "--changes" && i + 1 < argc) kChanges = std::stoi(argv[++i]);
    else if (a == "--gap-ms" && i + 1 < argc) kGapMs = std::stoi(argv[++i]);
    else {
      std::fprintf(stderr, "usage: etcd_churn_bench [--quick] [--changes N] [--gap-ms N]\n");
      return 2;
    }
  }
  Etcd etcd;
  auto writer = etcd.client();
  bool up = false;
  for (int i = 0; i < 300 && !(up = writer->status().ok()); i++) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  if (!up) throw Error("etcd did not answer (its log: " + etcd.dir + "/etcd.log)");

  // the cluster's state, written as another node's workloads and cluster-wide policies
  ClusterStore other(writer, ClusterKeys(kOther));
  EtcdIdentityAllocator other_ids(writer);  // the other node's numbering (no lease: a bench)
  other_ids.set_node(kOther);
  auto t = Clock::now();
  int64_t loaded = 0;
  auto put_text = [&](const std::string& text) {
    auto r = other.put(load_yaml(text, "bench.yaml"));
    if (!r) throw Error("writing the state to etcd: " + r.error());
    loaded = *r;
  };
  std::string text;
  for (int i = 0; i < kWorkloads; i++) {
    text += workload_yaml(i, app_labels(i % kApps), other_interface(i));
    if (i % 128 == 127) put_text(std::exchange(text, {}));
  }
  if (!text.empty()) put_text(std::exchange(text, {}));
  for (int a = 0; a < kApps; a++) {
    text += policy_yaml(a, kApps);
    if (a % 100 == 99) put_text(std::exchange(text, {}));
  }
  if (!text.empty()) put_text(std::exchange(text, {}));
  std::fprintf(stderr, "etcd: %d workloads, %d policies written in %.0f ms (revision %lld)\n", kWorkloads, kApps,
               ms(t, Clock::now()), static_cast<long long>(loaded));

  const std::string tmp = "/tmp/zs-etcd-churn-agent-" + std::to_string(getpid());
  AgentConfig cfg;
  cfg.pin_dir = "/sys/fs/bpf/zs-etcd-churn-" + std::to_string(getpid());
  cfg.state_dir = tmp + "/state";
  cfg.socket = tmp + "/zeroseg.sock";
  cfg.cluster = "etcd://127.0.0.1:" + std::to_string(etcd.port);
  cfg.node_name = kHere;
  Agent::uninstall(cfg);
  std::filesystem::remove_all(tmp);
  {
    auto client = cluster_client(cfg);
    auto ids = cluster_identities(client, kHere);
    Agent agent(cfg, ids);
    ClusterMode cluster(agent, client, kHere, 60, ids);
    t = Clock::now();
    if (!cluster.wait_applied(loaded, std::chrono::minutes(30))) throw Error("the agent did not list the state");
    std::fprintf(stderr, "agent: in step with etcd at revision %lld after %.0f ms; %d changes of each kind ...\n",
                 static_cast<long long>(loaded), ms(t, Clock::now()), kChanges);

    std::map<std::string, Figures> kinds;  // reply -> maps, by kind
    std::vector<std::pair<std::string, Figures>> stages;
    auto stage = [&](const std::string& name) -> Figures& {
      for (auto& [n, f] : stages)
        if (n == name) return f;
      return stages.emplace_back(name, Figures()).second;
    };
    auto one = [](int i, const std::string& labels) {
      return load_yaml(workload_yaml(i, labels, other_interface(i)), "w.yaml");
    };
    auto timed = [&](const char* kind, bool remove, const ObjectSet& objects) {
      if (kGapMs) std::this_thread::sleep_for(std::chrono::milliseconds(kGapMs));
      auto sent = Clock::now();
      auto rev = remove ? other.remove(objects) : other.put(objects);
      auto reply = Clock::now();
      if (!rev || *rev == 0) throw Error(std::string("the writer's change failed: ") + (rev ? "not applied" : rev.error()));
      if (!cluster.wait_applied(*rev, std::chrono::seconds(60))) throw Error("the agent did not apply a change in 60 s");
      auto s = cluster.last_stamps();
      if (s.revision != *rev || s.enforced == Clock::time_point{})
        throw Error("the change was applied with another (revision " + std::to_string(s.revision) + ")");
      kinds[kind].add(ms(reply, s.enforced));
      // every change's stages, and apart those of the changes that number an identity
      const bool fresh = std::string(kind).find("new label set") != std::string::npos;
      auto add = [&](const std::string& name, double v) {
        stage(name).add(v);
        if (fresh) stage("[an identity comes] " + name).add(v);
      };
      add("etcd: request -> reply", ms(sent, reply));
      add("request -> watch message read", ms(sent, s.received));
      add("reply -> maps written", ms(reply, s.enforced));
      add("request -> maps written", ms(sent, s.enforced));
      add("watch read -> decoded", ms(s.received, s.decoded));
      add("decoded -> maps written (agent)", ms(s.decoded, s.enforced));
      double covered = 0;
      for (const auto& [name, m] : agent.last_commit_phases()) {
        add(std::string("  agent: ") + name, m);
        covered += m;
      }
      add("  agent: (outside apply)", ms(s.decoded, s.enforced) - covered);
      add("maps written -> revision applied", ms(s.enforced, s.applied));
    };
    for (int c = 0; c < kChanges; c++) {
      int fresh = kWorkloads + c;
      timed("workload added (existing label set)", false, one(fresh, app_labels(c % kApps)));
      timed("workload relabelled to another existing label set", false, one(c, app_labels((c + 1) % kApps)));
      {
        // numbered first by the node that writes it, as a node's apply does
        // (its dry run claims new label sets): here, as in a cluster, the
        // change's label set is in etcd before the change is
        ObjectSet relabelled = one(c, app_labels(c % kApps) + ", pod-template-hash: h" + std::to_string(c));
        const Workload& w = relabelled.workloads[0];
        uint32_t number = other_ids.allocate(identity_labels(w, {{kNamespaceNameLabel, w.meta.ns}}));
        timed("workload relabelled to a new label set (an identity comes)", false, relabelled);
        if (!agent.snapshot().compiled->identities.count(number))
          throw Error("the agent did not take the number the writer claimed (" + std::to_string(number) + ")");
      }
      timed("workload removed", true, one(fresh, app_labels(c % kApps)));
      timed("workload relabelled back (its identity goes)", false, one(c, app_labels(c % kApps)));
    }
    Figures all;
    std::printf("| change, etcd's reply -> maps written (%d workloads, %d policies, %d rules; %d of each%s) | p50 / p99 / max |\n",
                kWorkloads, kApps, kApps * kRulesPerPolicy, kChanges, kGapMs ? ", spaced" : ", back to back");
    std::printf("|---|---:|\n");
    for (auto& [name, f] : kinds) {
      std::printf("| %s | %.2f / %.2f / %.2f ms |\n", name.c_str(), f.at(0.5), f.at(0.99), f.at(1.0));
      for (double v : f.ms) all.add(v);
    }
    std::printf("| every change (%zu) | %.2f / %.2f / %.2f ms |\n", all.ms.size(), all.at(0.5), all.at(0.99), all.at(1.0));
    auto learned = ids->sources();
    std::printf("\nthe agent's label sets it did not hold: %llu from its mirror of by-key/, %llu read, %llu claimed\n",
                static_cast<unsigned long long>(learned.mirror), static_cast<unsigned long long>(learned.read),
                static_cast<unsigned long long>(learned.claimed));
    std::printf("\nby stage, p50 / p99 / max ms (the agent's stamps)\n");
    for (auto& [name, f] : stages) std::printf("  %-58s %8.2f %8.2f %8.2f\n", name.c_str(), f.at(0.5), f.at(0.99), f.at(1.0));
  }
  Agent::uninstall(cfg);
  std::filesystem::remove_all(tmp);
  return 0;
}
