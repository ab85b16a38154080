// SPDX-License-Identifier: Apache-2.0
#include "identity/labels.h"

#include <algorithm>
#include <cctype>

namespace zeroseg {

bool LabelSelector::matches(const Labels& labels) const {
  for (const auto& [k, v] : match_labels) {
    auto it = labels.find(k);
    if (it == labels.end() || it->second != v) return false;
  }
  for (const auto& r : match_expressions) {
    auto it = labels.find(r.key);
    bool has = it != labels.end();
    bool in = has && std::find(r.values.begin(), r.values.end(), it->second) != r.values.end();
    switch (r.op) {
      case Requirement::Op::In: if (!in) return false; break;
      case Requirement::Op::NotIn: if (in) return false; break;
      case Requirement::Op::Exists: if (!has) return false; break;
      case Requirement::Op::DoesNotExist: if (has) return false; break;
    }
  }
  return true;
}

std::string LabelSelector::str() const {
  std::string s;
  auto add = [&](const std::string& part) { s += (s.empty() ? "" : ",") + part; };
  for (const auto& [k, v] : match_labels) add(k + "=" + v);
  for (const auto& r : match_expressions) {
    std::string vals;
    for (const auto& v : r.values) vals += (vals.empty() ? "" : ",") + v;
    switch (r.op) {
      case Requirement::Op::In: add(r.key + " in (" + vals + ")"); break;
      case Requirement::Op::NotIn: add(r.key + " notin (" + vals + ")"); break;
      case Requirement::Op::Exists: add(r.key); break;
      case Requirement::Op::DoesNotExist: add("!" + r.key); break;
    }
  }
  return s.empty() ? "(all)" : s;
}

std::string labels_str(const Labels& labels) {
  std::string s;
  for (const auto& [k, v] : labels) s += (s.empty() ? "" : ",") + k + "=" + v;
  return s;
}

namespace {

bool name_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.'; }

// [a-z0-9A-Z]([-_.a-z0-9A-Z]*[a-z0-9A-Z])?, at most 63
std::string name_error(const std::string& s, const char* what) {
  if (s.size() > 63) return std::string(what) + " is longer than 63 characters";
  if (s.empty()) return "";
  if (!std::isalnum(static_cast<unsigned char>(s.front())) || !std::isalnum(static_cast<unsigned char>(s.back())))
    return std::string(what) + " must start and end with a letter or digit";
  if (!std::all_of(s.begin(), s.end(), name_char))
    return std::string(what) + " may hold only letters, digits, '-', '_' and '.'";
  return "";
}

}  // namespace

std::string label_key_error(const std::string& key) {
  if (key.empty()) return "label key is empty";
  auto slash = key.find('/');
  std::string name = slash == std::string::npos ? key : key.substr(slash + 1);
  if (slash != std::string::npos) {
    std::string prefix = key.substr(0, slash);
    if (prefix.empty() || prefix.size() > 253) return "label key prefix must be 1 to 253 characters";
    for (char c : prefix)
      if (!(std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) || c == '-' ||
            c == '.'))
        return "label key prefix must be a DNS subdomain";
  }
  if (name.empty()) return "label key name is empty";
  return name_error(name, "label key name");
}

std::string label_value_error(const std::string& value) { return name_error(value, "label value"); }

}  // namespace zeroseg
