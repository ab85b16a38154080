// SPDX-License-Identifier: Apache-2.0
// Untracked deny rules (include/zeroseg/untracked.h): the reader's
// refusals, compile_untracked's entries against every address judged by
// the rules themselves, and the compiler giving them to the host
// endpoints a policy selects (and to no workload), on every path.
#include "policy/untracked_rules.h"

#include <gtest/gtest.h>

#include <random>

#include "common/error.h"
#include "policy/compiler.h"
#include "policy/yaml_reader.h"

namespace zeroseg {
namespace {

Prefix P(const std::string& s) { return *Prefix::parse(s); }

// What the datapath answers for a: the longest entry holding it.
UntrackedEntry longest(const std::vector<UntrackedEntry>& entries, const IpAddr& a) {
  const UntrackedEntry* best = nullptr;
  for (const auto& e : entries)
    if (e.prefix.contains(a) && (!best || e.prefix.len > best->prefix.len)) best = &e;
  return best ? *best : UntrackedEntry{Prefix::host(a), ZS_UNTRACKED_PASS, 0};
}

// What the rules say for a, read straight from them.
std::pair<uint8_t, uint32_t> by_rules(const std::vector<UntrackedRule>& rules, const IpAddr& a) {
  uint8_t action = ZS_UNTRACKED_PASS;
  uint32_t id = 0;
  for (const auto& r : rules) {
    if (!r.cidr.contains(a)) continue;
    bool excepted = false;
    for (const auto& e : r.except) excepted = excepted || e.contains(a);
    if (excepted) continue;
    uint8_t act = r.audit ? ZS_UNTRACKED_AUDIT : ZS_UNTRACKED_DENY;
    if (action == ZS_UNTRACKED_PASS || (act == ZS_UNTRACKED_DENY && action == ZS_UNTRACKED_AUDIT) ||
        (act == action && r.rule_id < id)) {
      action = act;
      id = r.rule_id;
    }
  }
  return {action, id};
}

TEST(CompileUntracked, OneRuleIsItsCidr) {
  auto out = compile_untracked({{P("198.18.0.0/15"), {}, 7, false}});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0], (UntrackedEntry{P("198.18.0.0/15"), ZS_UNTRACKED_DENY, 7}));
}

TEST(CompileUntracked, AnExceptPassesUnlessAnotherRuleHoldsIt) {
  auto out = compile_untracked({{P("10.0.0.0/8"), {P("10.1.0.0/16")}, 3, false}});
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[1], (UntrackedEntry{P("10.1.0.0/16"), ZS_UNTRACKED_PASS, 0}));
  out = compile_untracked({{P("10.0.0.0/8"), {P("10.1.0.0/16")}, 3, false}, {P("10.1.0.0/16"), {}, 9, true}});
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[1], (UntrackedEntry{P("10.1.0.0/16"), ZS_UNTRACKED_AUDIT, 9}));
}

TEST(CompileUntracked, EnforcedBeatsAuditThenTheLowestIdAndNothingRepeats) {
  auto out = compile_untracked({{P("10.0.0.0/8"), {}, 5, true},
                                {P("10.2.0.0/16"), {}, 4, false},
                                {P("10.2.3.0/24"), {}, 2, false},
                                {P("10.2.4.0/24"), {}, 6, false},   // as its parent says: no entry
                                {P("fd00::/8"), {}, 1, false}});
  std::vector<UntrackedEntry> want = {{P("10.0.0.0/8"), ZS_UNTRACKED_AUDIT, 5},
                                      {P("10.2.0.0/16"), ZS_UNTRACKED_DENY, 4},
                                      {P("10.2.3.0/24"), ZS_UNTRACKED_DENY, 2},
                                      {P("fd00::/8"), ZS_UNTRACKED_DENY, 1}};
  EXPECT_EQ(out, want);
}

// Random rules over a small space, every address checked: the longest
// entry says what the rules say.
TEST(CompileUntracked, TheLongestEntryAnswersAsTheRulesForEveryAddress) {
  std::mt19937 rng(16);
  auto random_prefix = [&](uint8_t min_len) {
    uint8_t len = static_cast<uint8_t>(std::uniform_int_distribution<int>(min_len, 32)(rng));
    IpAddr a = *IpAddr::parse("10.0.0.0");
    a.bytes[3] = static_cast<uint8_t>(rng());
    return Prefix::of(a, len);
  };
  int checked = 0;
  for (int round = 0; round < 300; round++) {
    std::vector<UntrackedRule> rules;
    int n = std::uniform_int_distribution<int>(1, 6)(rng);
    for (int i = 0; i < n; i++) {
      UntrackedRule r{random_prefix(24), {}, static_cast<uint32_t>(rng() % 5 + 1), rng() % 3 == 0};
      for (int e = rng() % 3; e > 0; e--) {
        Prefix x = random_prefix(r.cidr.len);
        if (r.cidr.contains(x)) r.except.push_back(x);
      }
      rules.push_back(r);
    }
    auto entries = compile_untracked(rules);
    for (int host = 0; host < 256; host++) {
      IpAddr a = *IpAddr::parse("10.0.0." + std::to_string(host));
      auto [action, id] = by_rules(rules, a);
      UntrackedEntry e = longest(entries, a);
      ASSERT_EQ(e.action, action) << a.str() << " round " << round;
      if (action != ZS_UNTRACKED_PASS) {
        ASSERT_EQ(e.rule_id, id) << a.str();
      }
      checked++;
    }
  }
  EXPECT_EQ(checked, 300 * 256);
}

std::string error_of(const std::string& yaml) {
  try {
    load_yaml(yaml, "f.yaml");
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

std::string policy(const std::string& section, const std::string& rule) {
  return "apiVersion: zeroseg.io/v1\nkind: SegmentPolicy\nmetadata: {name: p}\nspec:\n  selector: {}\n  " + section +
         ":\n  - " + rule + "\n";
}

TEST(UntrackedReader, WrongFormsAreRefusedNamingTheField) {
  const std::pair<std::string, std::string> cases[] = {
      {policy("ingressDeny", "{from: [{cidr: 10.0.0.0/8}], untracked: yes}"),
       "f.yaml:7:45: SegmentPolicy.spec.ingressDeny[].untracked must be true or false, not \"yes\""},
      {policy("egressDeny", "{to: [{cidr: 10.0.0.0/8}], untracked: true}"),
       "f.yaml:7:43: SegmentPolicy.spec.egressDeny[].untracked: untracked is for ingressDeny rules only"},
      {policy("ingress", "{from: [{cidr: 10.0.0.0/8}], untracked: true}"),
       "f.yaml:7:45: SegmentPolicy.spec.ingress[].untracked: untracked is for ingressDeny rules only"},
      {policy("ingressDeny", "{untracked: true}"),
       "f.yaml:7:17: SegmentPolicy.spec.ingressDeny[].untracked needs \"from\" with cidr peers"},
      {policy("ingressDeny", "{from: [{cidr: 10.0.0.0/8}, {entity: world}], untracked: true}"),
       "f.yaml:7:12: SegmentPolicy.spec.ingressDeny[].untracked: an untracked rule's peers are cidr only"},
      {policy("ingressDeny", "{from: [{selector: {}}], untracked: true}"),
       "f.yaml:7:12: SegmentPolicy.spec.ingressDeny[].untracked: an untracked rule's peers are cidr only"},
      {policy("ingressDeny", "{from: [{cidr: 10.0.0.0/8}], ports: [{port: 22}], untracked: true}"),
       "f.yaml:7:41: SegmentPolicy.spec.ingressDeny[].untracked: an untracked rule denies every packet"},
      {policy("ingressDeny", "{from: [{cidr: 10.0.0.0/8}], icmp: [{type: 8}], untracked: true}"),
       "f.yaml:7:40: SegmentPolicy.spec.ingressDeny[].untracked: an untracked rule denies every packet"},
      {policy("ingressDeny", "{from: [{cidr: 10.0.0.0/8}], expires: \"2030-01-01T00:00:00Z\", untracked: true}"),
       "f.yaml:7:43: SegmentPolicy.spec.ingressDeny[].untracked: an untracked rule cannot expire"},
  };
  for (const auto& [yaml, want] : cases) EXPECT_EQ(error_of(yaml).substr(0, want.size()), want) << yaml;
  // the node cut off, replies and all; an IPv4-mapped cidr meaning its IPv4 one
  for (const char* cidr : {"0.0.0.0/0", "\"::/0\""})
    EXPECT_NE(error_of(policy("ingressDeny", std::string("{from: [{cidr: ") + cidr + "}], untracked: true}"))
                  .find("would cut the node off (replies too)"),
              std::string::npos)
        << cidr;
  EXPECT_NE(error_of(policy("ingressDeny", "{from: [{cidr: \"::ffff:10.0.0.0/104\"}], untracked: true}"))
                .find("is IPv4-mapped: write the IPv4 cidr"),
            std::string::npos);
  EXPECT_EQ(error_of(policy("ingressDeny", "{from: [{cidr: 10.0.0.0/8, except: [10.1.0.0/16]}], untracked: true}")),
            "(no error)");
  EXPECT_EQ(error_of(policy("ingressDeny", "{from: [{cidr: 10.0.0.0/8}], untracked: false}")), "(no error)");
}

const char* kNode = R"(apiVersion: zeroseg.io/v1
kind: Workload
metadata: {name: uplink, labels: {role: uplink}}
spec: {interface: zs-up, attach: host, ips: [192.0.2.1]}
---
apiVersion: zeroseg.io/v1
kind: Workload
metadata: {name: web, labels: {role: web}}
spec: {interface: zs-web, ips: [10.0.0.10]}
---
)";

std::string blocklist(const std::string& selector, const std::string& mode = "enforce") {
  return "apiVersion: zeroseg.io/v1\nkind: SegmentPolicy\nmetadata: {name: blocklist}\nspec:\n  selector: " + selector +
         "\n  mode: " + mode +
         "\n  ingressDeny:\n  - from: [{cidr: 198.18.0.0/15, except: [198.18.7.0/24]}]\n    untracked: true\n"
         "  - from: [{cidr: 203.0.113.0/24}]\n";
}

class UntrackedCompile : public testing::Test {
 protected:
  LocalIdentityAllocator ids_;
  RuleIdAllocator rule_ids_;
  PolicyCompiler compiler_{ids_, rule_ids_};
};

TEST_F(UntrackedCompile, TheUplinksAPolicySelectsGetItsEntriesWorkloadsATrackedDeny) {
  ObjectSet state = load_yaml(std::string(kNode) + blocklist("{}"), "t.yaml");
  Compiled out = compiler_.compile(state);
  EXPECT_TRUE(out.untracked_rules);
  uint32_t id = rule_ids_.allocate("SegmentPolicy/default/blocklist|ingressDeny|0");
  // and the IPv4-mapped IPv6 sources (::ffff:a.b.c.d) likewise
  std::vector<UntrackedEntry> want = {{P("198.18.0.0/15"), ZS_UNTRACKED_DENY, id},
                                      {P("198.18.7.0/24"), ZS_UNTRACKED_PASS, 0},
                                      {P("::ffff:198.18.0.0/111"), ZS_UNTRACKED_DENY, id},
                                      {P("::ffff:198.18.7.0/120"), ZS_UNTRACKED_PASS, 0}};
  EXPECT_EQ(out.endpoints.at("zs-up").untracked, want);
  EXPECT_TRUE(out.endpoints.at("zs-web").untracked.empty());
  // the same rule is a deny in the policy map for both (web's from the ipcache's cidr identity)
  bool web_denies = false;
  for (const auto& [k, v] : out.policy)
    web_denies = web_denies || (k.subject == out.endpoints.at("zs-web").identity && v.deny_rule == id);
  EXPECT_TRUE(web_denies);

  state = load_yaml(std::string(kNode) + blocklist("{matchLabels: {role: web}}", "audit"), "t.yaml");
  EXPECT_TRUE(compiler_.compile(state).endpoints.at("zs-up").untracked.empty());
  state = load_yaml(std::string(kNode) + blocklist("{}", "audit"), "t.yaml");
  EXPECT_EQ(compiler_.compile(state).endpoints.at("zs-up").untracked[0].action, ZS_UNTRACKED_AUDIT);
}

// A change of policies or of the uplink's workload that touches untracked
// rules takes the whole compile (the incremental paths would keep the
// uplink's entries as they were).
TEST_F(UntrackedCompile, IncrementalPathsGiveWayWhenTheyTouchUntrackedRules) {
  ObjectSet a = load_yaml(std::string(kNode) + blocklist("{}"), "t.yaml");
  Compiled ca = compiler_.compile(a);
  ObjectSet b = load_yaml(std::string(kNode) + blocklist("{matchLabels: {role: web}}"), "t.yaml");
  b.workloads = a.workloads;
  b.namespaces = a.namespaces;
  EXPECT_FALSE(compiler_.compile_policies(b, a, ca));
  // untracked: true -> false, the selector and modes kept: only the
  // untracked rule's going tells (touches_untracked)
  std::string off = std::string(kNode) + blocklist("{}");
  off.replace(off.find("untracked: true"), 15, "untracked: false");
  ObjectSet b3 = load_yaml(off, "t.yaml");
  b3.workloads = a.workloads;
  b3.namespaces = a.namespaces;
  EXPECT_FALSE(compiler_.compile_policies(b3, a, ca));
  Compiled c3 = compiler_.compile(b3);
  EXPECT_TRUE(c3.endpoints.at("zs-up").untracked.empty());
  // and back: a policy gaining an untracked rule
  ObjectSet b2 = load_yaml(std::string(kNode) + blocklist("{}"), "t.yaml");
  b2.workloads = b3.workloads;
  b2.namespaces = b3.namespaces;
  EXPECT_FALSE(compiler_.compile_policies(b2, b3, c3));
  // a second uplink coming: its entries are the policies' (not churned)
  ObjectSet c = a;
  ObjectSet more = load_yaml(
      "apiVersion: zeroseg.io/v1\nkind: Workload\nmetadata: {name: uplink2}\n"
      "spec: {interface: zs-up2, attach: host, ips: [192.0.2.2]}\n",
      "u.yaml");
  c.workloads.push_back(more.workloads.ptr(0));
  EXPECT_FALSE(compiler_.compile_workloads(c, a, ca));
  Compiled cc = compiler_.compile(c);
  EXPECT_EQ(cc.endpoints.at("zs-up2").untracked, ca.endpoints.at("zs-up").untracked);
  // an unrelated policy change keeps the incremental path and the entries
  auto other = [](int port) {
    return "---\napiVersion: zeroseg.io/v1\nkind: SegmentPolicy\nmetadata: {name: other}\n"
           "spec: {selector: {matchLabels: {role: web}}, ingress: [{from: [{entity: world}], ports: [{port: " +
           std::to_string(port) + "}]}]}\n";
  };
  ObjectSet f = load_yaml(std::string(kNode) + blocklist("{}") + other(80), "t.yaml");
  Compiled cf = compiler_.compile(f);
  ObjectSet g = load_yaml(std::string(kNode) + blocklist("{}") + other(81), "t.yaml");
  g.workloads = f.workloads;
  g.namespaces = f.namespaces;
  g.policies = f.policies;
  g.policies.set(1, load_yaml(std::string(kNode) + blocklist("{}") + other(81), "t.yaml").policies.ptr(1));
  auto cg = compiler_.compile_policies(g, f, cf);
  ASSERT_TRUE(cg);
  EXPECT_EQ(cg->endpoints.at("zs-up").untracked, cf.endpoints.at("zs-up").untracked);
  EXPECT_TRUE(cg->untracked_rules);
}

}  // namespace
}  // namespace zeroseg
