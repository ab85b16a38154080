// SPDX-License-Identifier: Apache-2.0
// -o yaml: the same data as -o json, read back by a YAML reader with the
// same types (a string that looks like a number stays a string).
#include "cli/output.h"

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

namespace zeroseg::cli {
namespace {

using nlohmann::json;

// YAML read back into JSON types, by the reader's own resolution of plain
// scalars (what a user's tool would see).
json from_yaml(const YAML::Node& n) {
  if (n.IsMap()) {
    json o = json::object();
    for (const auto& kv : n) o[kv.first.as<std::string>()] = from_yaml(kv.second);
    return o;
  }
  if (n.IsSequence()) {
    json a = json::array();
    for (const auto& v : n) a.push_back(from_yaml(v));
    return a;
  }
  if (n.IsNull()) return nullptr;
  if (n.Tag() == "!") return n.as<std::string>();  // quoted: a string whatever it reads like
  int64_t i;
  if (YAML::convert<int64_t>::decode(n, i)) return i;
  bool b;
  if (YAML::convert<bool>::decode(n, b)) return b;
  double d;
  if (YAML::convert<double>::decode(n, d)) return d;
  return n.as<std::string>();
}

TEST(CliOutputTest, YamlReadsBackAsTheSameJson) {
  json data = {
      {"name", "web"},
      {"port", 8080},
      {"port_text", "8080"},
      {"ratio", 0.25},
      {"yes_text", "yes"},
      {"true_text", "true"},
      {"on", "off"},
      {"null_text", "null"},
      {"empty", ""},
      {"hex", "0x1f"},
      {"float_text", "1e5"},
      {"clock", "12:30"},
      {"enabled", true},
      {"nothing", nullptr},
      {"labels", {{"app", "web"}, {"tier", "1"}}},
      {"ips", {"10.0.0.1", "fd00::1"}},
      {"rules", json::array()},
      {"selector", json::object()},
      {"text", "a: b # c\nsecond line"},
      {"time", "2026-12-01T22:00:00.123456789Z"},
      {"day", "2026-12-01"},
  };
  json back = from_yaml(YAML::Load(to_yaml(data)));
  EXPECT_EQ(back, data) << to_yaml(data);
  // what yaml-cpp reads back as a string, PyYAML would read as a datetime
  EXPECT_NE(to_yaml(data).find("time: \"2026-12-01T22:00:00.123456789Z\""), std::string::npos) << to_yaml(data);
}

TEST(CliOutputTest, TextOfManyLinesIsABlockAsWritten) {
  std::string yaml = "kind: SegmentPolicy\nspec:\n  selector: {}\n";
  std::string y = to_yaml({{"suggestion", yaml}});
  EXPECT_NE(y.find("suggestion: |"), std::string::npos) << y;
  EXPECT_NE(y.find("  kind: SegmentPolicy\n  spec:\n    selector: {}\n"), std::string::npos) << y;
  EXPECT_EQ(YAML::Load(y)["suggestion"].as<std::string>(), yaml);
}

TEST(CliOutputTest, AListIsASequenceAtTheTop) {
  std::string y = to_yaml(json::array({{{"name", "a"}}, {{"name", "b"}}}));
  EXPECT_EQ(y, "- name: a\n- name: b\n");
}

}  // namespace
}  // namespace zeroseg::cli
