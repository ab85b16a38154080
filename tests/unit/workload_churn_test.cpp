// SPDX-License-Identifier: Apache-2.0
// compile_workloads (pod churn, issue 17): after every step of a random
// sequence of workloads added, removed, relabelled and readdressed (and
// now and then a policy changed), the incremental result equals a whole
// compile of the same state, map by map: the policy entries, the ipcache,
// the endpoints (modes and carve-outs included), the identities and what
// a later incremental compile reads (modes, label index, parts).
#include <gtest/gtest.h>
#include <zeroseg/identity.h>

#include <cstdio>
#include <cstring>
#include <map>
#include <random>
#include <sstream>

#include "churn_states.h"
#include "policy/compiler.h"
#include "policy/object_merge.h"
#include "policy/yaml_reader.h"

namespace zeroseg {
namespace {

constexpr uint32_t kSeed = 20261202;

template <class M>
std::string keys_of(const M& m) {
  std::ostringstream o;
  for (const auto& [k, v] : m) o << k.str() << "=" << v << " ";
  return o.str();
}

// Everything the maps are written from, and what later compiles read.
void expect_same(const Compiled& inc, const Compiled& whole, const Compiled& prev) {
  ASSERT_EQ(inc.policy.size(), whole.policy.size());
  for (const auto& [k, e] : whole.policy) {
    auto it = inc.policy.find(k);
    ASSERT_NE(it, inc.policy.end()) << "missing: subject " << k.subject << " peer " << k.peer << " dir "
                                    << int(k.direction) << " port " << k.port;
    EXPECT_EQ(std::memcmp(&it->second, &e, sizeof(e)), 0)
        << "subject " << k.subject << " peer " << k.peer << " dir " << int(k.direction) << ": allow "
        << it->second.allow_rule << " vs " << e.allow_rule << ", deny " << it->second.deny_rule << " vs " << e.deny_rule;
  }
  EXPECT_EQ(keys_of(inc.ipcache), keys_of(whole.ipcache));
  ASSERT_EQ(inc.endpoints.size(), whole.endpoints.size());
  for (const auto& [ifname, w] : whole.endpoints) {
    ASSERT_TRUE(inc.endpoints.count(ifname)) << ifname;
    const CompiledEndpoint& i = inc.endpoints.at(ifname);
    EXPECT_EQ(i.workload, w.workload);
    EXPECT_EQ(i.identity, w.identity) << ifname;
    EXPECT_EQ(i.mode, w.mode) << ifname;
    EXPECT_EQ(i.kind, w.kind);
    EXPECT_EQ(i.ips, w.ips);
    EXPECT_EQ(i.allowed_sources, w.allowed_sources);
    EXPECT_EQ(i.denied_sources, w.denied_sources) << ifname;
  }
  ASSERT_EQ(inc.identities.size(), whole.identities.size());
  for (const auto& [id, w] : whole.identities) {
    ASSERT_TRUE(inc.identities.count(id)) << id;
    const CompiledIdentity& i = inc.identities.at(id);
    EXPECT_EQ(i.labels, w.labels);
    EXPECT_EQ(i.cidr, w.cidr);
    auto a = i.workloads, b = w.workloads;  // their order may differ (compiler.h)
    std::sort(a.begin(), a.end());
    std::sort(b.begin(), b.end());
    EXPECT_EQ(a, b) << id;
  }
  EXPECT_TRUE(inc.workloads_by_ip == whole.workloads_by_ip);
  EXPECT_EQ(inc.workload_identities, whole.workload_identities);
  EXPECT_EQ(*inc.modes, *whole.modes);
  EXPECT_EQ(*inc.selected_by, *whole.selected_by);
  EXPECT_EQ(*inc.label_index, *whole.label_index);
  EXPECT_EQ(inc.plain_identities, whole.plain_identities);
  ASSERT_EQ(inc.parts.size(), whole.parts.size());
  for (const auto& [p, part] : whole.parts) {
    ASSERT_TRUE(inc.parts.count(p));
    EXPECT_EQ(inc.parts.at(p)->subjects, part->subjects) << p->ref();
    EXPECT_EQ(inc.parts.at(p)->votes.size(), part->votes.size()) << p->ref();
  }
  // what the reconciler rewrites: every key that changed is listed
  std::set<zs_policy_key, PolicyKeyLess> touched(inc.touched.begin(), inc.touched.end());
  for (const auto& [k, e] : whole.policy)
    if (auto old = prev.policy.find(k); old == prev.policy.end() || std::memcmp(&old->second, &e, sizeof(e)) != 0) {
      EXPECT_TRUE(touched.count(k)) << "subject " << k.subject << " peer " << k.peer;
    }
  for (const auto& [k, e] : prev.policy)
    if (!whole.policy.count(k)) {
      EXPECT_TRUE(touched.count(k)) << "gone: subject " << k.subject << " peer " << k.peer;
    }
  std::set<Prefix> prefixes(inc.touched_prefixes.begin(), inc.touched_prefixes.end());
  for (const auto& [p, id] : whole.ipcache)
    if (auto old = prev.ipcache.find(p); old == prev.ipcache.end() || old->second != id) {
      EXPECT_TRUE(prefixes.count(p)) << p.str();
    }
  for (const auto& [p, id] : prev.ipcache)
    if (!whole.ipcache.count(p)) {
      EXPECT_TRUE(prefixes.count(p)) << p.str();
    }
  std::set<std::string> eps(inc.touched_endpoints.begin(), inc.touched_endpoints.end());
  for (const auto& [ifname, w] : whole.endpoints) {
    auto old = prev.endpoints.find(ifname);
    if (old == prev.endpoints.end() || old->second.identity != w.identity || old->second.mode != w.mode ||
        old->second.ips != w.ips || old->second.denied_sources != w.denied_sources) {
      EXPECT_TRUE(eps.count(ifname)) << ifname;
    }
  }
  for (const auto& [ifname, w] : prev.endpoints)
    if (!whole.endpoints.count(ifname)) {
      EXPECT_TRUE(eps.count(ifname)) << ifname;
    }
}

std::set<uint32_t> live(const Compiled& c) {
  std::set<uint32_t> out;
  for (const auto& [id, ci] : c.identities) out.insert(id);
  return out;
}

TEST(CompileWorkloadsTest, MatchesAWholeCompileAfterRandomWorkloadChurn) {
  std::printf("seed %u\n", kSeed);
  const churn::Sequence seq(kSeed, 300, "veth-");
  LocalIdentityAllocator ids;
  RuleIdAllocator rules;
  Compiled prev = PolicyCompiler(ids, rules).compile(seq.states[0]);
  ASSERT_TRUE(prev.plain_identities);

  int incremental = 0, with_identities = 0;
  for (size_t step = 1; step < seq.states.size(); step++) {
    SCOPED_TRACE("seed " + std::to_string(kSeed) + " step " + std::to_string(step));
    const ObjectSet& state = seq.states[step - 1];
    const ObjectSet& next = seq.states[step];
    // as the agent: allocations into its own allocator, and what the
    // change leaves unused released once it is in force
    std::optional<Compiled> inc = PolicyCompiler(ids, rules).compile_workloads(next, state, prev);
    LocalIdentityAllocator ids_whole = ids;
    RuleIdAllocator rules_whole = rules;
    Compiled whole = PolicyCompiler(ids_whole, rules_whole).compile(next);
    if (inc) {
      incremental++;
      with_identities += inc->identities_changed;
      ids.release_unused(live(*inc));
      EXPECT_EQ(ids.to_json(), ids_whole.to_json());
      expect_same(*inc, whole, prev);
      if (HasFailure()) return;
      prev = std::move(*inc);
    } else {
      if (seq.ops[step] != 0) ADD_FAILURE() << "a plain workload change took the whole compile";
      ids = ids_whole;
      rules = rules_whole;
      auto quick = PolicyCompiler(ids, rules).compile_policies(next, state, prev);
      prev = quick ? std::move(*quick) : std::move(whole);
    }
  }
  EXPECT_GT(incremental, 250);
  EXPECT_GT(with_identities, 50);  // identities came and went: the selector index was used
}

// What it leaves to the whole compile: it gives nullopt.
TEST(CompileWorkloadsTest, FallsBackWhereIdentitiesAreRefinedOrObjectsConflict) {
  std::string base = churn::namespaces_yaml() +
                     "---\napiVersion: zeroseg.io/v1\nkind: Workload\nmetadata: {name: a, namespace: ns, labels: {app: "
                     "x}}\nspec: {ips: [10.1.0.1], interface: veth-a}\n" +
                     "---\napiVersion: zeroseg.io/v1\nkind: SegmentPolicy\nmetadata: {name: p, namespace: ns}\nspec:\n"
                     "  selector: {matchLabels: {app: x}}\n  ingress:\n  - from: [{cidr: 10.2.0.0/16}]\n";
  ObjectSet state = load_yaml(base, "s.yaml");
  LocalIdentityAllocator ids;
  RuleIdAllocator rules;
  Compiled prev = PolicyCompiler(ids, rules).compile(state);
  auto with = [&](const std::string& workload) {
    ObjectSet next = state;
    MergeOutcome o;
    merge_objects(next, load_yaml(workload, "w.yaml"), o);
    return PolicyCompiler(ids, rules).compile_workloads(next, state, prev).has_value();
  };
  const std::string w = "apiVersion: zeroseg.io/v1\nkind: Workload\nmetadata: {name: b, namespace: ns, labels: {app: x}}\n";
  EXPECT_TRUE(with(w + "spec: {ips: [10.1.0.2]}\n"));
  EXPECT_FALSE(with(w + "spec: {ips: [10.2.0.2]}\n"));  // inside a policy's prefix: refined
  EXPECT_FALSE(with(w + "spec: {ips: [10.1.0.2], ports: [{name: web, port: 80}]}\n"));  // a named port
  EXPECT_FALSE(with(w + "spec: {ips: [10.1.0.1]}\n"));  // a's address: the whole compile names both
  EXPECT_FALSE(with(w + "spec: {ips: [10.1.0.2], interface: veth-a}\n"));  // a's interface
  ObjectSet q = state;
  q.quarantines.push_back(Quarantine{"ns/a", {}, 0, std::nullopt, "operator"});
  EXPECT_FALSE(PolicyCompiler(ids, rules).compile_workloads(q, state, prev));
}

// Attack review 5: identity_labels() sets zeroseg.io/namespace over what a
// workload's own labels say, so a workload labelled zeroseg.io/namespace: x
// has the identity of its namespace's workloads without that label, while
// selectors still read its own labels. Its coming or going changes which
// selectors match the identity but no identity appears or goes: the
// incremental compile kept the allow its going revoked in a whole compile
// (the peer's identity still allowed into db), and missed the one its
// coming granted. Such a change now takes the whole compile.
TEST(CompileWorkloadsTest, AWorkloadAliasingAnIdentityByAReservedLabelIsCompiledWhole) {
  const std::string alias =
      "---\napiVersion: zeroseg.io/v1\nkind: Workload\nmetadata: {name: b, namespace: ns, labels: {app: web, "
      "zeroseg.io/namespace: x}}\nspec: {ips: [10.1.0.2], interface: veth-b}\n";
  const std::string base =
      churn::namespaces_yaml() +
      "---\napiVersion: zeroseg.io/v1\nkind: Workload\nmetadata: {name: a, namespace: ns, labels: {app: web}}\n"
      "spec: {ips: [10.1.0.1], interface: veth-a}\n"
      "---\napiVersion: zeroseg.io/v1\nkind: Workload\nmetadata: {name: db, namespace: ns, labels: {app: db}}\n"
      "spec: {ips: [10.1.0.3], interface: veth-db}\n"
      "---\napiVersion: zeroseg.io/v1\nkind: SegmentPolicy\nmetadata: {name: p, namespace: ns}\nspec:\n"
      "  selector: {matchLabels: {app: db}}\n  ingress:\n  - from: [{selector: {matchLabels: {zeroseg.io/namespace: x}}}]\n";
  for (bool going : {true, false}) {
    SCOPED_TRACE(going ? "b goes" : "b comes");
    ObjectSet without = load_yaml(base, "s.yaml"), with = without;
    MergeOutcome o;
    merge_objects(with, load_yaml(alias, "b.yaml"), o);
    const ObjectSet& state = going ? with : without;
    const ObjectSet& next = going ? without : with;
    LocalIdentityAllocator ids;
    RuleIdAllocator rules;
    Compiled prev = PolicyCompiler(ids, rules).compile(state);
    ASSERT_EQ(prev.identities.size(), live(PolicyCompiler(ids, rules).compile(next)).size());  // no identity comes or goes
    LocalIdentityAllocator ids_whole = ids;
    RuleIdAllocator rules_whole = rules;
    Compiled whole = PolicyCompiler(ids_whole, rules_whole).compile(next);
    std::optional<Compiled> inc = PolicyCompiler(ids, rules).compile_workloads(next, state, prev);
    EXPECT_NE(whole.policy.size(), prev.policy.size());  // b's coming or going changes what db lets in
    if (inc) expect_same(*inc, whole, prev);
  }
}

}  // namespace
}  // namespace zeroseg
