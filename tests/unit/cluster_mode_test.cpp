// SPDX-License-Identifier: Apache-2.0
// Cluster mode's agent side against a real etcd: what the watcher's
// revisions do to this node's desired objects. Privileged: a real agent
// with its own pins and state dir.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "agent/agent.h"
#include "agent/cluster_mode.h"
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
  for (int i = 0; i < 200 && cluster.status()["lease"].get<int64_t>() == 0; i++) std::this_thread::sleep_for(100ms);
  int64_t lease = cluster.status()["lease"].get<int64_t>();
  ASSERT_NE(lease, 0) << cluster.status().dump();
  cluster.apply(load_yaml(kWorkload, "w.yaml"), false);
  ASSERT_TRUE(holds_workload(agent));

  auto client = client_for(etcd);
  ASSERT_TRUE(client->lease_revoke(lease));  // etcd deletes the workload's key
  ASSERT_TRUE(client->range("/zeroseg/v1/workloads/node-a/lab/a")->kvs.empty());
  // a later revision: once it is applied here, so is the delete before it
  ObjectSet ns = load_yaml("apiVersion: v1\nkind: Namespace\nmetadata: {name: other}\n", "ns.yaml");
  auto rev = ClusterStore(client, ClusterKeys("node-b")).put(ns);
  ASSERT_TRUE(rev) << rev.error();
  for (int i = 0; i < 300 && cluster.status()["applied_revision"].get<int64_t>() < *rev; i++)
    std::this_thread::sleep_for(100ms);
  ASSERT_GE(cluster.status()["applied_revision"].get<int64_t>(), *rev) << cluster.status().dump();
  EXPECT_EQ(cluster.status()["lease"].get<int64_t>(), lease)
      << "the lease thread looked again: the check proves nothing";
  EXPECT_TRUE(holds_workload(agent)) << "this node's own workload was removed when its lease ran out";
}

}  // namespace
}  // namespace zeroseg
