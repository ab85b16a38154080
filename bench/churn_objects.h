// SPDX-License-Identifier: Apache-2.0
// The objects the churn benches load and change (churn_bench through the
// agent, etcd_churn_bench through etcd), and their percentiles: one
// definition, so both measure the same state.
#pragma once

#include <algorithm>
#include <cmath>
#include <sstream>
#include <string>
#include <vector>

namespace zeroseg::bench {

constexpr int kRulesPerPolicy = 100;

// workload i: an address of its own in 10.100.0.0/14
// interface: the workload's on its node ("": none, a workload of no node)
inline std::string workload_yaml(int i, const std::string& labels, const std::string& interface = "") {
  std::ostringstream y;
  y << "---\napiVersion: zeroseg.io/v1\nkind: Workload\nmetadata: {name: w" << i
    << ", namespace: bench, labels: {" << labels << "}}\nspec: {"
    << (interface.empty() ? "" : "interface: " + interface + ", ") << "ips: [10." << 100 + i / 65536 << "."
    << (i / 256) % 256 << "." << i % 256 << "]}\n";
  return y.str();
}

inline std::string app_labels(int app) { return "app: a" + std::to_string(app); }

// app's policy: kRulesPerPolicy ingress rules, each from the next app (of apps) on its own port
inline std::string policy_yaml(int app, int apps) {
  std::ostringstream y;
  y << "---\napiVersion: zeroseg.io/v1\nkind: SegmentPolicy\nmetadata: {name: p" << app
    << ", namespace: bench}\nspec:\n  selector: {matchLabels: {app: a" << app << "}}\n  ingress:\n";
  for (int r = 0; r < kRulesPerPolicy; r++)
    y << "  - from: [{selector: {matchLabels: {app: a" << (app + r + 1) % apps << "}}}]\n    ports: [{port: "
      << 1000 + r << "}]\n";
  return y.str();
}

struct Figures {
  std::vector<double> ms;
  void add(double v) { ms.push_back(v); }
  // nearest rank: p99 of 100 is the 99th smallest
  double at(double q) {
    std::sort(ms.begin(), ms.end());
    size_t rank = static_cast<size_t>(std::ceil(q * static_cast<double>(ms.size())));
    return ms[std::clamp<size_t>(rank, 1, ms.size()) - 1];
  }
};

}  // namespace zeroseg::bench
