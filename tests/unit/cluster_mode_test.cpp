// SPDX-License-Identifier: Apache-2.0
// Cluster mode's agent side against a real etcd: what the watcher's
// revisions do to this node's desired objects. Privileged: a real agent
// with its own pins and state dir.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <algorithm>
#include <filesystem>
#include <map>
#include <thread>

#include "agent/agent.h"
#include "agent/cluster_mode.h"
#include "agent/state_views.h"
#include "common/error.h"
#include "etcd_server.h"
#include "policy/yaml_reader.h"
#include "privileged.h"
#include "sources/cluster_store.h"

namespace zeroseg {
namespace {

using namespace std::chrono_literals;
using zeroseg::testing::EtcdServer;

const char* kWorkload = R"(apiVersion: zeroseg.io/v1
kind: Workload
metadata: {name: a, namespace: lab, labels: {app: a}}
spec: {interface: zs-ut-none-a, ips: [10.99.1.2]}
)";

using zeroseg::testing::client_for;

class ClusterModeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_.pin_dir = "/sys/fs/bpf/zs-ut-cluster-" + std::to_string(getpid());
    config_.state_dir = ::testing::TempDir() + "zs-ut-cluster-state-" + std::to_string(getpid());
    std::filesystem::remove_all(config_.state_dir);
  }
  void TearDown() override {
    if (geteuid() == 0) Agent::uninstall(config_);
    std::filesystem::remove_all(config_.state_dir);
  }
  AgentConfig config_;
};

bool holds_workload(const Agent& agent) {
  auto desired = agent.snapshot().desired;
  for (const auto& w : desired->workloads)
    if (w.meta.ns == "lab" && w.meta.name == "a") return true;
  return false;
}

// The lease the node holds, once it holds one (0 after 20 s without).
int64_t lease_of(ClusterMode& cluster) {
  for (int i = 0; i < 200 && cluster.status()["lease"].get<int64_t>() == 0; i++) std::this_thread::sleep_for(100ms);
  return cluster.status()["lease"].get<int64_t>();
}

// Writes a revision (another node's Namespace) and waits until the node
// applied it: what etcd did before it (a lease's deletes) is applied too.
bool applies_a_later_revision(ClusterMode& cluster, const std::shared_ptr<etcd::Client>& client) {
  ObjectSet ns = load_yaml("apiVersion: v1\nkind: Namespace\nmetadata: {name: other}\n", "ns.yaml");
  auto rev = ClusterStore(client, ClusterKeys("node-b")).put(ns);
  if (!rev) return false;
  for (int i = 0; i < 300 && cluster.status()["applied_revision"].get<int64_t>() < *rev; i++)
    std::this_thread::sleep_for(100ms);
  return cluster.status()["applied_revision"].get<int64_t>() >= *rev;
}

// docs/cluster.md, Liveness: a lease that ran out behind the node's back
// is granted anew and the workloads written again, "and meanwhile this
// node's own workloads stay enforced here". etcd's deletes of them reach
// the watcher as a change (not only as a relist): they must not remove
// this node's own workloads either.
TEST_F(ClusterModeTest, OwnWorkloadsOutliveTheirLeaseRunningOutWhileWatching) {
  ZS_REQUIRE_PRIVILEGED();
  ZS_REQUIRE_ETCD();
  EtcdServer etcd;
  Agent agent(config_);
  // a TTL of 60 s: the lease thread looks again only after 20 s, well after
  // the checks below
  ClusterMode cluster(agent, client_for(etcd), "node-a", 60);
  int64_t lease = lease_of(cluster);
  ASSERT_NE(lease, 0) << cluster.status().dump();
  cluster.apply(load_yaml(kWorkload, "w.yaml"), false);
  ASSERT_TRUE(holds_workload(agent));

  auto client = client_for(etcd);
  ASSERT_TRUE(client->lease_revoke(lease));  // etcd deletes the workload's key
  ASSERT_TRUE(client->range("/zeroseg/v1/workloads/node-a/lab/a")->kvs.empty());
  ASSERT_TRUE(applies_a_later_revision(cluster, client)) << cluster.status().dump();
  EXPECT_EQ(cluster.status()["lease"].get<int64_t>(), lease)
      << "the lease thread looked again: the check proves nothing";
  EXPECT_TRUE(holds_workload(agent)) << "this node's own workload was removed when its lease ran out";
}

// A workload without an interface (addresses alone: the VM lab's attacker
// VM) runs on no node. It went under the lease of the node its apply came
// through, so when that lease ran out once (a slow keepalive under TCG), etcd
// deleted it, the lease thread wrote back only the workloads with an
// interface, and every node judged its addresses as world from then on
// (vagrant.lab's cluster check: 7 identities for 8 workloads, at times).
TEST_F(ClusterModeTest, AWorkloadOfNoNodeOutlivesTheLeaseItCameThrough) {
  ZS_REQUIRE_PRIVILEGED();
  ZS_REQUIRE_ETCD();
  EtcdServer etcd;
  Agent agent(config_);
  ClusterMode cluster(agent, client_for(etcd), "node-a", 60);
  int64_t lease = lease_of(cluster);
  ASSERT_NE(lease, 0) << cluster.status().dump();
  const char* external = R"(apiVersion: zeroseg.io/v1
kind: Workload
metadata: {name: ext, namespace: lab, labels: {role: guest}}
spec: {ips: [192.0.2.66]}
)";
  cluster.apply(load_yaml(external, "ext.yaml"), false);
  auto client = client_for(etcd);
  auto kvs = client->range("/zeroseg/v1/workloads/-/lab/ext")->kvs;
  ASSERT_EQ(kvs.size(), 1u) << "not under the key of no node";
  EXPECT_EQ(kvs[0].lease, 0) << "under a node's lease";

  ASSERT_TRUE(client->lease_revoke(lease));
  ASSERT_TRUE(applies_a_later_revision(cluster, client)) << cluster.status().dump();
  EXPECT_EQ(client->range("/zeroseg/v1/workloads/-/lab/ext")->kvs.size(), 1u) << "gone with node-a's lease";
  auto holds_ext = [&] {
    for (const auto& w : agent.snapshot().desired->workloads)
      if (w.meta.ns == "lab" && w.meta.name == "ext") return true;
    return false;
  };
  EXPECT_TRUE(holds_ext()) << "node-a dropped it with its lease";

  // deleted through a node like any object: its key goes, and so does it here
  ObjectSet gone;
  Workload w;
  w.meta.ns = "lab";
  w.meta.name = "ext";
  gone.workloads.push_back(std::move(w));
  cluster.remove(gone, false);
  EXPECT_TRUE(client->range("/zeroseg/v1/workloads/-/lab/ext")->kvs.empty());
  EXPECT_FALSE(holds_ext());
}

}  // namespace
}  // namespace zeroseg

namespace zeroseg {
namespace {

using zeroseg::testing::EtcdCluster;
using json = nlohmann::json;

bool holds(const Agent& agent, const std::string& ref) {
  auto desired = agent.snapshot().desired;
  for (const auto& w : desired->workloads)
    if ("Workload/" + w.meta.ns + "/" + w.meta.name == ref) return true;
  for (const auto& n : desired->namespaces)
    if ("Namespace/" + n.meta.name == ref) return true;
  return false;
}

template <class F>
bool within(std::chrono::seconds limit, F&& f) {
  auto until = std::chrono::steady_clock::now() + limit;
  while (!f()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(100ms);
  }
  return true;
}

// node-b's settings beside the fixture's node-a (its own pins and state
// directory), removed however the test ends.
struct SecondAgent {
  AgentConfig config;
  explicit SecondAgent(const AgentConfig& first) : config(first) {
    config.pin_dir += "-b";
    config.state_dir += "-b";
    std::filesystem::remove_all(config.state_dir);
  }
  ~SecondAgent() {
    Agent::uninstall(config);
    std::filesystem::remove_all(config.state_dir);
  }
};

// Both nodes hold a lease and watch, within 30 s.
bool both_up(ClusterMode& a, ClusterMode& b) {
  return within(30s, [&] {
    return a.status()["lease"].get<int64_t>() && b.status()["lease"].get<int64_t>() &&
           a.status()["connected"].get<bool>() && b.status()["connected"].get<bool>();
  });
}

// Applies until etcd takes it (a leader being elected, a quorum coming back).
ApplyResult apply_within(ClusterMode& c, const ObjectSet& objs, std::chrono::seconds limit) {
  auto until = std::chrono::steady_clock::now() + limit;
  while (true) {
    try {
      return c.apply(objs, false);
    } catch (const Error&) {
      if (std::chrono::steady_clock::now() > until) throw;
      std::this_thread::sleep_for(200ms);
    }
  }
}

// Two agents (in-process, each with its own pins and state) as node-a and
// node-b over a 3-member etcd: the leader dies mid-test, every member
// stops, every member comes back; what each node enforces follows etcd and
// never empties. Then `--wait-all` (every live node's applied report) and
// the NODE of each workload.
TEST_F(ClusterModeTest, ThreeMemberEtcdLeaderKilledAllStoppedAllBack) {
  ZS_REQUIRE_PRIVILEGED();
  ZS_REQUIRE_ETCD();
  EtcdCluster etcd(3);
  ASSERT_TRUE(etcd.ok());
  int leader = etcd.wait_leader();
  ASSERT_GE(leader, 0);
  auto eps = etcd.endpoints();
  std::rotate(eps.begin(), eps.begin() + leader, eps.end());  // both talk to the leader first
  etcd::ClientOptions o;
  o.endpoints = eps;
  SecondAgent b(config_);
  Agent agent_a(config_), agent_b(b.config);
  auto cluster_a = std::make_unique<ClusterMode>(agent_a, std::make_shared<etcd::Client>(o), "node-a", 60);
  ClusterMode cluster_b(agent_b, std::make_shared<etcd::Client>(o), "node-b", 60);
  ASSERT_TRUE(both_up(*cluster_a, cluster_b));
  cluster_a->apply(load_yaml(kWorkload, "w.yaml"), false);
  ASSERT_TRUE(within(30s, [&] { return holds(agent_b, "Workload/lab/a"); }));

  // the leader dies: applies go on through the other members, both ways
  etcd.member(leader).kill_hard();
  auto ns1 = apply_within(*cluster_a, load_yaml("apiVersion: v1\nkind: Namespace\nmetadata: {name: n1}\n", "n.yaml"), 30s);
  EXPECT_TRUE(within(30s, [&] { return holds(agent_b, "Namespace/n1"); }));
  EXPECT_TRUE(holds(agent_a, "Workload/lab/a")) << "node-a's workload went with the leader";
  EXPECT_TRUE(holds(agent_b, "Workload/lab/a"));
  int new_leader = etcd.wait_leader();
  EXPECT_NE(new_leader, leader);

  // every member stops: applies fail clearly, nothing enforced changes
  auto before_a = agent_a.snapshot().desired, before_b = agent_b.snapshot().desired;
  etcd.stop_all();
  try {
    cluster_a->apply(load_yaml("apiVersion: v1\nkind: Namespace\nmetadata: {name: n2}\n", "n.yaml"), false);
    ADD_FAILURE() << "an apply with every etcd member down succeeded";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cluster store unavailable, nothing applied"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(within(30s, [&] { return !cluster_a->status()["connected"].get<bool>(); }));
  json down = cluster_a->status();
  EXPECT_GT(down.value("outage_since_ns", int64_t{0}), 0) << down.dump();
  EXPECT_NE(cluster_a->metrics().find("zeroseg_cluster_up 0"), std::string::npos) << cluster_a->metrics();
  EXPECT_EQ(agent_a.snapshot().desired, before_a) << "node-a's desired state changed during the outage";
  EXPECT_EQ(agent_b.snapshot().desired, before_b) << "node-b's desired state changed during the outage";

  // back: a workload node-b adds as soon as etcd takes writes reaches node-a
  ASSERT_TRUE(etcd.start_all());
  const char* b2 = R"(apiVersion: zeroseg.io/v1
kind: Workload
metadata: {name: b2, namespace: lab, labels: {app: b2}}
spec: {interface: zs-ut-none-b2, ips: [10.99.2.2]}
)";
  ApplyResult r = apply_within(cluster_b, load_yaml(b2, "b2.yaml"), 60s);
  ASSERT_GT(r.cluster_revision, ns1.cluster_revision);
  EXPECT_TRUE(within(60s, [&] { return holds(agent_a, "Workload/lab/b2"); })) << cluster_a->status().dump();
  EXPECT_TRUE(holds(agent_a, "Workload/lab/a"));
  EXPECT_TRUE(within(30s, [&] { return cluster_a->status()["connected"].get<bool>(); }));
  EXPECT_NE(cluster_a->metrics().find("zeroseg_cluster_up 1"), std::string::npos) << cluster_a->metrics();

  // --wait-all: both nodes report the revision
  json all = cluster_b.wait_all(r.cluster_revision, 30s);
  EXPECT_TRUE(all.contains("node-a") && all.contains("node-b")) << all.dump();

  // workload list's NODE: each workload's, as etcd's keys say
  json view = workloads_view(agent_a.snapshot());
  cluster_a->add_nodes(view);
  std::map<std::string, std::string> node_of;
  for (const auto& w : view) node_of[w.value("name", "")] = w.value("node", "?");
  EXPECT_EQ(node_of["a"], "node-a") << view.dump();
  EXPECT_EQ(node_of["b2"], "node-b") << view.dump();

  // node-a stops applying (its lease lives on for its TTL): --wait-all names it
  cluster_a.reset();
  ApplyResult r2 = apply_within(cluster_b, load_yaml("apiVersion: v1\nkind: Namespace\nmetadata: {name: n3}\n", "n.yaml"), 30s);
  try {
    cluster_b.wait_all(r2.cluster_revision, 2s);
    ADD_FAILURE() << "--wait-all returned though node-a never applied revision " << r2.cluster_revision;
  } catch (const Error& e) {
    std::string what = e.what();
    EXPECT_NE(what.find("not yet reported by 1 of 2 live nodes: node-a (at revision"), std::string::npos) << what;
  }
}

// A change a node could not apply was reported as applied and never tried
// again: `--wait-all` said "enforced on all N live nodes" while node-b
// judged the new workload's addresses as world until its next relist.
// node-b's ipcache here holds 16 entries: a workload of 32 addresses fails
// there alone (node-a's dry run passes).
TEST_F(ClusterModeTest, AChangeANodeCannotApplyIsReportedAndTriedAgain) {
  ZS_REQUIRE_PRIVILEGED();
  ZS_REQUIRE_ETCD();
  EtcdServer etcd;
  SecondAgent b(config_);
  b.config.sizes.ipcache = 16;
  Agent agent_a(config_), agent_b(b.config);
  ClusterMode cluster_a(agent_a, client_for(etcd), "node-a", 60);
  ClusterMode cluster_b(agent_b, client_for(etcd), "node-b", 60);
  ASSERT_TRUE(both_up(cluster_a, cluster_b));
  std::string many = "apiVersion: zeroseg.io/v1\nkind: Workload\nmetadata: {name: many, namespace: lab, labels: {app: m}}\n"
                     "spec: {interface: zs-ut-none-m, ips: [";
  for (int i = 0; i < 32; i++) many += (i ? ", " : "") + std::string("10.98.0.") + std::to_string(i + 1);
  many += "]}\n";
  ApplyResult r = cluster_a.apply(load_yaml(many, "many.yaml"), false);
  try {
    json all = cluster_a.wait_all(r.cluster_revision, 5s);
    ADD_FAILURE() << "--wait-all passed with node-b unable to apply: " << all.dump();
  } catch (const Error& e) {
    std::string what = e.what();
    EXPECT_NE(what.find("failed on 1 of 2 live nodes"), std::string::npos) << what;
    EXPECT_NE(what.find("node-b (revision " + std::to_string(r.cluster_revision) + ": "), std::string::npos) << what;
  }
  EXPECT_FALSE(holds(agent_b, "Workload/lab/many"));
  json failed = cluster_b.status().value("failed", json());
  ASSERT_TRUE(failed.is_object()) << cluster_b.status().dump();
  EXPECT_EQ(failed["revision"].get<int64_t>(), r.cluster_revision);

  // made to fit (the operator's fix): node-b's retry takes it, the failure ends
  std::string fewer = many.substr(0, many.find(", 10.98.0.9,")) + "]}\n";  // 8 addresses
  ApplyResult r2 = cluster_a.apply(load_yaml(fewer, "fewer.yaml"), false);
  EXPECT_TRUE(within(60s, [&] { return holds(agent_b, "Workload/lab/many"); })) << cluster_b.status().dump();
  json all = cluster_a.wait_all(r2.cluster_revision, 60s);
  EXPECT_TRUE(all.contains("node-b")) << all.dump();
  EXPECT_FALSE(cluster_b.status().contains("failed")) << cluster_b.status().dump();

  // node-a's workload applied through node-b made a second key of its name
  // (each node then judged by whichever came last): refused, nothing written
  try {
    cluster_b.apply(load_yaml(fewer, "fewer.yaml"), false);
    ADD_FAILURE() << "node-b wrote a key for node-a's workload";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("Workload/lab/many runs on node node-a"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(client_for(etcd)->range("/zeroseg/v1/workloads/node-b/lab/many")->kvs.empty());
}

// The outcome an apply reports is the one of the revision that applied it:
// its own, or a relist's that took it in with others (the relist's is the
// next one remembered). Before, a revision a relist took in was answered as
// success with nothing changed, whatever the relist's outcome was.
TEST(ClusterOutcome, ARelistsOutcomeAnswersTheRevisionsItTookIn) {
  std::map<int64_t, std::string> outcomes = {{10, "own"}, {15, "relist failed"}};
  EXPECT_EQ(outcome_of(outcomes, 10), std::optional<std::string>("own"));
  EXPECT_EQ(outcome_of(outcomes, 12), std::optional<std::string>("relist failed"));
  EXPECT_EQ(outcome_of(outcomes, 16), std::nullopt);
  std::map<int64_t, std::string> full;
  for (int64_t r = 100; r < 164; r++) full[r] = "x";
  EXPECT_EQ(outcome_of(full, 50), std::nullopt) << "forgotten, not someone else's";
  EXPECT_EQ(outcome_of(full, 100), std::optional<std::string>("x"));
}

// The wiring of docs/cluster.md, "Identities": a workload applied through
// node-a numbers its label set there (the apply's dry run claims it); node-b,
// applying the change its watch brings, learns that number (from its mirror
// of by-key/, else one read) and claims nothing. Fails with the Learning
// scope out of ClusterMode::apply_here (b's allocate then claims).
TEST_F(ClusterModeTest, ALabelSetAnotherNodeNumberedIsLearnedNotClaimed) {
  ZS_REQUIRE_PRIVILEGED();
  ZS_REQUIRE_ETCD();
  EtcdServer etcd;
  SecondAgent b(config_);
  auto ids_a = cluster_identities(client_for(etcd), "node-a"), ids_b = cluster_identities(client_for(etcd), "node-b");
  Agent agent_a(config_, ids_a), agent_b(b.config, ids_b);
  ClusterMode cluster_a(agent_a, client_for(etcd), "node-a", 60, ids_a);
  ClusterMode cluster_b(agent_b, client_for(etcd), "node-b", 60, ids_b);
  ASSERT_TRUE(both_up(cluster_a, cluster_b));
  const auto before = ids_b->sources();
  cluster_a.apply(load_yaml(kWorkload, "a.yaml"), false);
  ASSERT_TRUE(within(30s, [&] { return holds(agent_b, "Workload/lab/a"); })) << cluster_b.status().dump();
  const auto after = ids_b->sources();
  EXPECT_EQ(after.claimed, before.claimed) << "node-b claimed a label set node-a had numbered";
  EXPECT_EQ(after.mirror + after.read - before.mirror - before.read, 1u);
  uint32_t id_a = 0, id_b = 0;
  for (const auto& [id, ci] : agent_a.snapshot().compiled->identities)
    if (ci.labels.count("app") && ci.labels.at("app") == "a") id_a = id;
  for (const auto& [id, ci] : agent_b.snapshot().compiled->identities)
    if (ci.labels.count("app") && ci.labels.at("app") == "a") id_b = id;
  EXPECT_NE(id_a, 0u);
  EXPECT_EQ(id_a, id_b);
}

}  // namespace
}  // namespace zeroseg
