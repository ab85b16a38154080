// SPDX-License-Identifier: Apache-2.0
#include "cli/output.h"

#include <yaml-cpp/yaml.h>

#include <iostream>
#include <regex>

namespace zeroseg::cli {
namespace {

// Plain scalars YAML 1.1 or 1.2 would read as a number, bool, null or
// timestamp (PyYAML reads "2026-12-01T10:00:00Z" as a datetime).
bool needs_quotes(const std::string& s) {
  static const std::regex typed(
      "|~|null|Null|NULL|true|True|TRUE|false|False|FALSE|yes|Yes|YES|no|No|NO|on|On|ON|off|Off|OFF|y|Y|n|N|"
      "[-+]?(\\.[0-9]+|[0-9][0-9_]*(\\.[0-9_]*)?)([eE][-+]?[0-9]+)?|0x[0-9a-fA-F]+|0o?[0-7]+|"
      "[-+]?\\.(inf|Inf|INF)|\\.(nan|NaN|NAN)|[0-9]+(:[0-5]?[0-9])+|[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}.*");
  return std::regex_match(s, typed);
}

void emit(YAML::Emitter& out, const nlohmann::json& j) {
  switch (j.type()) {
    case nlohmann::json::value_t::object:
      out << YAML::BeginMap;
      for (const auto& [k, v] : j.items()) {
        out << YAML::Key;
        if (needs_quotes(k)) out << YAML::DoubleQuoted;
        out << k << YAML::Value;
        emit(out, v);
      }
      out << YAML::EndMap;
      break;
    case nlohmann::json::value_t::array:
      out << YAML::BeginSeq;
      for (const auto& v : j) emit(out, v);
      out << YAML::EndSeq;
      break;
    case nlohmann::json::value_t::string: {
      const auto& s = j.get_ref<const std::string&>();
      if (needs_quotes(s)) out << YAML::DoubleQuoted;
      // lines as written, to paste (yaml-cpp writes `|`, which ends in one newline)
      else if (s.size() > 1 && s.back() == '\n' && s[s.size() - 2] != '\n') out << YAML::Literal;
      out << s;
      break;
    }
    case nlohmann::json::value_t::null:
      out << YAML::Null;
      break;
    default:  // numbers and bools print the same in both
      out << j.dump();
  }
}

}  // namespace

std::string to_yaml(const nlohmann::json& data) {
  YAML::Emitter out;
  emit(out, data);
  return std::string(out.c_str()) + "\n";
}

void print_structured(const GlobalOptions& g, const nlohmann::json& data) {
  if (g.output == "yaml") std::cout << to_yaml(data);
  else std::cout << data.dump(2) << "\n";
}

void print_output(const GlobalOptions& g, const nlohmann::json& data, const Table& table) {
  if (g.structured()) print_structured(g, data);
  else table.print(std::cout, !g.no_headers);
}

void print_record(const std::string& output, const nlohmann::json& record) {
  if (output == "yaml") std::cout << "---\n" << to_yaml(record) << std::flush;
  else std::cout << record.dump() << std::endl;
}

}  // namespace zeroseg::cli
