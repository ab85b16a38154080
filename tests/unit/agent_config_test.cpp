// SPDX-License-Identifier: Apache-2.0
// The agent's settings, from its config file.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "agent/agent.h"
#include "agent/cluster_mode.h"
#include "common/error.h"

namespace zeroseg {
namespace {

// deploy/agent.yaml, with its commented settings switched on, loads.
TEST(ExampleAgentConfig, LoadsWithEveryCommentedSettingOn) {
  std::ifstream in(ZEROSEG_SOURCE_DIR "/deploy/agent.yaml");
  std::stringstream text;
  const std::regex setting("^# [a-z-]+: .*");  // "# key: value", not prose
  for (std::string line; std::getline(in, line);)
    text << (std::regex_match(line, setting) ? line.substr(2) : line) << "\n";
  auto path = std::filesystem::temp_directory_path() / "zs-agent-config-test.yaml";
  std::ofstream(path) << text.str();
  AgentConfig c;
  EXPECT_NO_THROW(c.load_file(path.string()));
  EXPECT_EQ(c.alert_webhook, "http://siem.example:8080/zeroseg");
  EXPECT_TRUE(c.auto_quarantine.matches("port-scan", "low"));
  EXPECT_EQ(c.quarantine_management.size(), 1u);
  EXPECT_EQ(c.cluster, "etcd://10.0.0.1:2379,10.0.0.2:2379");
  std::filesystem::remove(path);
  // and a bad value names the file, line and key
  std::ofstream(path) << "socket: /x\nauto-quarantine: port-scan:urgent\n";
  try {
    c.load_file(path.string());
    ADD_FAILURE() << "a bad severity loaded";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), path.string() + ":2:1: auto-quarantine: \"urgent\" is not a severity (low, medium, high)");
  }
  // and a key given twice is refused where it is repeated (YAML tools
  // differ on which one wins)
  std::ofstream(path) << "socket: /x\ndeny-events-per-cpu: 10\nsocket: /y\n";
  try {
    c.load_file(path.string());
    ADD_FAILURE() << "a key given twice loaded";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), path.string() + ":3:1: socket: given twice");
  }
  std::filesystem::remove(path);
}

// docs/agent-settings.md is what the table prints (regenerate it with
// `zeroseg agent --settings-reference > docs/agent-settings.md`).
TEST(AgentSettings, DocsAreTheTable) {
  std::ifstream in(ZEROSEG_SOURCE_DIR "/docs/agent-settings.md");
  std::stringstream docs;
  docs << in.rdbuf();
  EXPECT_EQ(docs.str(), agent_settings_markdown());
}

// Every setting reads back as it would be written, and that reads again.
TEST(AgentSettings, EveryDefaultReadsBack) {
  AgentConfig defaults;
  size_t shown = 0;
  for (const auto& s : agent_settings()) {
    SCOPED_TRACE(s.key);
    std::string value = s.show(defaults);
    if (value.empty()) continue;
    AgentConfig c;
    EXPECT_NO_THROW(c.set(s.key, value));
    EXPECT_EQ(s.show(c), value);
    shown++;
  }
  EXPECT_GE(shown, 15u);
  AgentConfig c;
  c.set("flow-sweep-interval", "500ms");
  EXPECT_EQ(c.flow_sweep_ms, 500u);
  c.set("auto-quarantine-duration", "2h");
  c.set("auto-quarantine", "port-scan:high");  // keeps the duration set before it
  EXPECT_EQ(c.auto_quarantine.duration_ns, 7200 * int64_t{1'000'000'000});
  try {
    c.set("detect-windw", "5m");
    ADD_FAILURE() << "an unknown setting was taken";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "unknown agent setting \"detect-windw\"");
  }
  EXPECT_THROW(c.set("flow-log-keep", "-1"), Error);
  EXPECT_THROW(c.set("ct-timeout-tcp", "500ms"), Error);
}

// The attachment check: every 10s unless told, never faster than a second
// (each check asks the kernel three questions per interface).
TEST(AgentSettings, AttachCheckInterval) {
  AgentConfig c;
  EXPECT_EQ(c.attach_check_ms, 10000u);
  c.set("attach-check-interval", "2s");
  EXPECT_EQ(c.attach_check_ms, 2000u);
  try {
    c.set("attach-check-interval", "200ms");
    ADD_FAILURE() << "a check 5 times a second was taken";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "attach-check-interval: \"200ms\" is not a duration from 1s to 1h");
  }
  EXPECT_THROW(c.set("attach-check-interval", "2h"), Error);
  EXPECT_THROW(c.set("attach-check-interval", "0"), Error);
  EXPECT_EQ(c.attach_check_ms, 2000u);
}

// Cluster mode's settings are checked before anything loads, each naming itself.
TEST(AgentSettings, ClusterSettingsAreCheckedWhole) {
  auto error_of = [](const AgentConfig& c) -> std::string {
    try {
      cluster_client(c);
      return "";
    } catch (const Error& e) {
      return e.what();
    }
  };
  AgentConfig c;
  c.set("cluster", "etcd://10.0.0.1:2379,10.0.0.2:2379");
  EXPECT_EQ(error_of(c), "setting cluster: needs node-name (the name this node's workloads go under)");
  c.set("node-name", "n1");
  EXPECT_EQ(error_of(c), "");
  EXPECT_EQ(cluster_client(c)->options().endpoints.size(), 2u);
  c.set("node-name", "a/b");
  EXPECT_NE(error_of(c).find("setting node-name"), std::string::npos);
  c.set("node-name", "n1");
  c.set("etcd-cert", "/c.pem");
  EXPECT_EQ(error_of(c), "setting etcd-cert/etcd-key: needs etcd-ca (TLS to etcd)");
  c.set("etcd-ca", "/ca.pem");
  EXPECT_EQ(error_of(c), "settings etcd-cert and etcd-key: give both or neither");
  c.set("etcd-key", "/k.pem");
  EXPECT_EQ(error_of(c), "");
  c.set("cluster", "etcd://h:70000");
  EXPECT_NE(error_of(c).find("setting cluster: 'h:70000' has no port"), std::string::npos) << error_of(c);
}

}  // namespace
}  // namespace zeroseg
