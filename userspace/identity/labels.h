// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <map>
#include <string>
#include <vector>

namespace zeroseg {

using Labels = std::map<std::string, std::string>;

// A Kubernetes label selector: matchLabels AND every matchExpression.
// An empty selector selects everything.
struct LabelSelector {
  struct Requirement {
    enum class Op { In, NotIn, Exists, DoesNotExist };
    std::string key;
    Op op = Op::Exists;
    std::vector<std::string> values;
    bool operator==(const Requirement&) const = default;
  };
  std::map<std::string, std::string> match_labels;
  std::vector<Requirement> match_expressions;

  bool empty() const { return match_labels.empty() && match_expressions.empty(); }
  bool matches(const Labels& labels) const;
  std::string str() const;  // "app=web,tier in (a,b)"
  bool operator==(const LabelSelector&) const = default;
};

std::string labels_str(const Labels& labels);  // "a=1,b=2"

// Kubernetes label key and value syntax; "" when valid, else why not.
std::string label_key_error(const std::string& key);
std::string label_value_error(const std::string& value);

}  // namespace zeroseg
