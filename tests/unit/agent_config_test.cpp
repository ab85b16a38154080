// SPDX-License-Identifier: Apache-2.0
// The agent's settings, from its config file.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "agent/agent.h"
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
  std::filesystem::remove(path);
  // and a bad value names the file, line and key
  std::ofstream(path) << "socket: /x\nauto-quarantine: port-scan:urgent\n";
  try {
    c.load_file(path.string());
    ADD_FAILURE() << "a bad severity loaded";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), path.string() + ":2:1: auto-quarantine: \"urgent\" is not a severity (low, medium, high)");
  }
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace zeroseg
