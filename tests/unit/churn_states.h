// SPDX-License-Identifier: Apache-2.0
// Random pod churn for the differential tests of compile_workloads
// (workload_churn_test.cpp: the compiled state; churn_maps_test.cpp: the
// maps): a seeded sequence of states, each one change from the last, made
// the way the agent makes them (merge_objects, remove_objects).
#pragma once

#include <cstdint>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "policy/object_merge.h"
#include "policy/yaml_reader.h"

namespace zeroseg::churn {


inline std::string namespaces_yaml() {
  return "apiVersion: v1\nkind: Namespace\nmetadata: {name: ns, labels: {env: prod}}\n---\n"
         "apiVersion: v1\nkind: Namespace\nmetadata: {name: ns2, labels: {env: dev}}\n";
}

// Slot s is always the same name and addresses, with random labels; some
// have an interface, a few are routers with allowed source prefixes (their
// carve-outs follow the other workloads' addresses).
inline std::string workload_yaml(std::mt19937& rng, int s, const std::string& ifprefix) {
  auto pick = [&](int k) { return static_cast<int>(rng() % static_cast<unsigned>(k)); };
  std::ostringstream y;
  y << "---\napiVersion: zeroseg.io/v1\nkind: Workload\nmetadata: {name: w" << s << ", namespace: "
    << (s % 4 == 3 ? "ns2" : "ns") << ", labels: {app: a" << pick(5);
  if (pick(3)) y << ", tier: t" << pick(3);
  if (pick(6) == 0) y << ", hash: h" << pick(1000);  // a label set nobody has: a new identity
  y << "}}\nspec: {ips: [10.1.0." << s + 1;
  if (pick(3) == 0) y << ", \"fd00::" << s + 1 << "\"";
  y << "]";
  if (s % 3 == 0) y << ", interface: " << ifprefix << s;
  if (s % 10 == 0 && pick(2)) y << ", allowedSourcePrefixes: [10.1.0.0/26]";
  y << "}\n";
  return y.str();
}

inline std::string peer_yaml(std::mt19937& rng, const char* key) {
  auto pick = [&](int k) { return static_cast<int>(rng() % static_cast<unsigned>(k)); };
  std::ostringstream y;
  y << "  - " << key << ": [";
  switch (pick(7)) {
    case 0: y << "{selector: {matchLabels: {app: a" << pick(5) << "}}}"; break;
    case 1: y << "{selector: {matchLabels: {tier: t" << pick(3) << ", app: a" << pick(5) << "}}}"; break;
    case 2: y << "{selector: {matchExpressions: [{key: tier, operator: In, values: [t0, t2]}]}}"; break;
    case 3: y << "{namespaceSelector: {matchLabels: {env: dev}}}"; break;
    case 4: y << "{selector: {matchLabels: {app: a" << pick(5) << "}}, namespaceSelector: {}}"; break;
    case 5: y << (pick(2) ? "{entity: world}" : "{cidr: 192.168.0.0/16, except: [192.168.1.0/24]}"); break;
    default: y << "{selector: {}}";
  }
  y << "]\n";
  switch (pick(3)) {
    case 0: y << "    ports: [{port: " << 80 + pick(3) << "}]\n"; break;
    case 1: y << "    ports: [{port: 8000, endPort: " << 8000 + pick(20) << ", protocol: UDP}]\n"; break;
    default: break;
  }
  if (pick(8) == 0) y << "    expires: \"2099-01-01T00:00:00Z\"\n";
  return y.str();
}

inline std::string policy_yaml(std::mt19937& rng, int n) {
  auto pick = [&](int k) { return static_cast<int>(rng() % static_cast<unsigned>(k)); };
  std::ostringstream y;
  y << "---\napiVersion: zeroseg.io/v1\nkind: SegmentPolicy\nmetadata: {name: p" << n << ", namespace: "
    << (n % 4 == 3 ? "ns2" : "ns") << "}\nspec:\n  selector: ";
  switch (pick(4)) {
    case 0: y << "{matchLabels: {tier: t" << pick(3) << "}}\n"; break;
    case 1: y << "{matchExpressions: [{key: app, operator: NotIn, values: [a0]}]}\n"; break;
    default: y << "{matchLabels: {app: a" << pick(5) << "}}\n";
  }
  if (pick(4) == 0) y << "  mode: audit\n";
  for (const char* section : {"ingress", "egress", "ingressDeny", "egressDeny"}) {
    int rules = pick(3);
    if (rules == 0) continue;
    y << "  " << section << ":\n";
    for (int r = 0; r < rules; r++) y << peer_yaml(rng, section[0] == 'i' ? "from" : "to");
  }
  return y.str();
}

// The states: [0] the start (half the slots, kPolicies policies), then
// one change each: a workload (or three) removed, added, relabelled or
// readdressed in place; one step in 20 a policy rewritten.
struct Sequence {
  static constexpr int kSlots = 40, kPolicies = 10;
  std::vector<ObjectSet> states;
  std::vector<int> ops;  // 0: a policy changed

  Sequence(uint32_t seed, int steps, const std::string& ifprefix) {
    std::mt19937 rng(seed);
    std::string text = namespaces_yaml();
    std::vector<bool> present(kSlots);
    for (int s = 0; s < kSlots; s += 2) {
      text += workload_yaml(rng, s, ifprefix);
      present[s] = true;
    }
    for (int n = 0; n < kPolicies; n++) text += policy_yaml(rng, n);
    states.push_back(load_yaml(text, "start.yaml"));
    ops.push_back(0);
    for (int step = 0; step < steps; step++) {
      ObjectSet next = states.back();
      MergeOutcome outcome;
      int op = static_cast<int>(rng() % 20);
      if (op == 0) {
        int n = static_cast<int>(rng() % kPolicies);
        next.policies.set(n, load_yaml(policy_yaml(rng, n), "p.yaml").policies.ptr(0));
      } else if (op <= 6) {
        ObjectSet gone;
        for (int k = 0; k < (op == 6 ? 3 : 1); k++) {
          int s = static_cast<int>(rng() % kSlots);
          if (!present[s]) continue;
          present[s] = false;
          gone.append(load_yaml(workload_yaml(rng, s, ifprefix), "w.yaml"));
        }
        remove_objects(next, gone, outcome);
      } else {
        ObjectSet in;
        for (int k = 0; k < (op == 19 ? 3 : 1); k++) {
          int s = static_cast<int>(rng() % kSlots);
          present[s] = true;
          in.append(load_yaml(workload_yaml(rng, s, ifprefix), "w.yaml"));
        }
        merge_objects(next, in, outcome);
      }
      states.push_back(std::move(next));
      ops.push_back(op);
    }
  }
};

}  // namespace zeroseg::churn
