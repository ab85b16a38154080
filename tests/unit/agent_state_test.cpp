// SPDX-License-Identifier: Apache-2.0
// The agent's commit path against a state directory that fails: the
// journal is written ahead of the maps, so a failed write leaves the maps
// as they were, the API says nothing changed, and a retry applies.
// Privileged: a real agent with its own pins and state dir.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "agent/agent.h"
#include "common/error.h"
#include "loader/datapath.h"
#include "policy/yaml_reader.h"
#include "privileged.h"

namespace zeroseg {
namespace {

const char* kWorkloads = R"(apiVersion: zeroseg.io/v1
kind: Workload
metadata: {name: a, namespace: lab, labels: {app: a}}
spec: {interface: zs-ut-none-a, ips: [10.99.1.2]}
---
apiVersion: zeroseg.io/v1
kind: Workload
metadata: {name: b, namespace: lab, labels: {app: b}}
spec: {interface: zs-ut-none-b, ips: [10.99.2.2]}
)";

std::string policy(const std::string& name, int port) {
  return "apiVersion: zeroseg.io/v1\nkind: SegmentPolicy\nmetadata: {name: " + name +
         ", namespace: lab}\nspec:\n  selector: {matchLabels: {app: b}}\n"
         "  ingress: [{from: [{selector: {matchLabels: {app: a}}}], ports: [{port: " +
         std::to_string(port) + "}]}]\n";
}

class AgentStateTest : public testing::Test {
 protected:
  void SetUp() override {
    config_.pin_dir = "/sys/fs/bpf/zs-ut-state-" + std::to_string(getpid());
    config_.state_dir = testing::TempDir() + "zs-ut-agent-state-" + std::to_string(getpid());
    std::filesystem::remove_all(config_.state_dir);
  }
  void TearDown() override {
    if (geteuid() == 0) Agent::uninstall(config_);
    std::filesystem::remove_all(config_.state_dir);
  }
  size_t policy_entries() const { return Datapath::open_pinned(config_.pin_dir)->policy().entries().size(); }
  AgentConfig config_;
};

TEST_F(AgentStateTest, AFailedJournalWriteLeavesTheMapsAndARetryApplies) {
  ZS_REQUIRE_PRIVILEGED();
  Agent agent(config_);
  agent.apply(load_yaml(kWorkloads, "workloads"), false);
  agent.apply(load_yaml(policy("p1", 81), "p1"), false);
  size_t before = policy_entries();
  ASSERT_GT(before, 0u);

  // desired.log made unwritable (a directory in its place: fails for root too)
  const std::string log = config_.state_dir + "/desired.log";
  std::filesystem::remove(log);
  std::filesystem::create_directory(log);
  try {
    agent.apply(load_yaml(policy("p2", 82), "p2"), false);
    FAIL() << "the apply succeeded with an unwritable journal";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("nothing changed"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(log), std::string::npos) << e.what();
  }
  EXPECT_EQ(policy_entries(), before) << "the maps changed though the journal was not written";

  std::filesystem::remove(log);
  ApplyResult r = agent.apply(load_yaml(policy("p2", 82), "p2"), false);
  ASSERT_EQ(r.objects.size(), 1u);
  EXPECT_EQ(r.objects[0].second, "created") << "the retry did not apply";
  EXPECT_GT(policy_entries(), before);
}

TEST_F(AgentStateTest, AnUnreadableStateRefusesToStartAndLeavesTheMaps) {
  ZS_REQUIRE_PRIVILEGED();
  size_t before = 0;
  {
    Agent agent(config_);
    agent.apply(load_yaml(kWorkloads, "workloads"), false);
    agent.apply(load_yaml(policy("p1", 81), "p1"), false);
    before = policy_entries();
  }
  const std::string snapshot = config_.state_dir + "/identities.json";
  std::filesystem::remove(snapshot);
  std::filesystem::create_directory(snapshot);  // unreadable (EISDIR)
  try {
    Agent agent(config_);
    FAIL() << "the agent started on an unreadable state";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("refusing to start"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(snapshot), std::string::npos) << e.what();
  }
  EXPECT_EQ(policy_entries(), before);
}

// Quarantines are desired.log records too: they come back after a restart
// that replays the log (no snapshot written since).
TEST_F(AgentStateTest, QuarantinesComeBackFromTheLog) {
  ZS_REQUIRE_PRIVILEGED();
  {
    Agent agent(config_);
    agent.apply(load_yaml(kWorkloads, "workloads"), false);
    agent.quarantine_add("lab/a", std::nullopt, {}, "test");
    agent.quarantine_add("10.99.2.2", std::nullopt, {}, "test");
    agent.quarantine_remove("10.99.2.2");
  }
  Agent agent(config_);
  auto q = agent.quarantines();
  ASSERT_EQ(q.size(), 1u) << q.dump();
  EXPECT_EQ(q[0]["target"], "lab/a");
}

}  // namespace
}  // namespace zeroseg
