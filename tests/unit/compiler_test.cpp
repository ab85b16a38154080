// SPDX-License-Identifier: Apache-2.0
// The compiler's output judged the way the datapath judges it (probe every
// key a packet could match; deny > audit > allow > default), so these
// tests read as connectivity: "can a reach b on 80/TCP".
#include "policy/compiler.h"

#include <gtest/gtest.h>
#include <zeroseg/identity.h>

#include "policy/evaluate.h"
#include "policy/yaml_reader.h"

#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <sstream>

namespace zeroseg {
namespace {

enum class V { allowed, denied, audit };

class CompilerTest : public testing::Test {
 protected:
  void apply(const std::string& yaml, std::vector<Quarantine> quarantines = {}) {
    state_ = load_yaml(yaml, "t.yaml");
    state_.quarantines = std::move(quarantines);
    out_ = compiler_.compile(state_);
  }
  static Quarantine quarantine(const std::string& target, const std::string& management = "") {
    Quarantine q;
    q.target = target;
    if (!management.empty()) q.management.push_back(*Prefix::parse(management));
    return q;
  }

  uint32_t id_of_ip(const std::string& ip) const {
    auto a = *IpAddr::parse(ip);
    const Prefix* best = nullptr;
    for (const auto& [p, id] : out_.ipcache)
      if (p.contains(a) && (!best || p.len > best->len)) best = &p;
    return best ? out_.ipcache.at(*best) : static_cast<uint32_t>(ZS_ID_WORLD);
  }

  const CompiledEndpoint& ep(const std::string& ifname) const { return out_.endpoints.at(ifname); }

  // One side's verdict: the subject's direction, as the kernel judges it.
  V side(uint32_t subject, uint8_t dir, uint8_t mode, uint32_t peer, uint8_t proto, uint16_t port) const {
    if (mode == ZS_MODE_OFF) return V::allowed;
    bool allow = false, audit = false;
    for (uint32_t p : {peer, static_cast<uint32_t>(ZS_ID_ANY)}) {
      for (uint8_t plen = 0; plen <= 16; plen++) {
        for (uint8_t pr : {proto, static_cast<uint8_t>(ZS_PROTO_ANY)}) {
          if (pr == ZS_PROTO_ANY && plen) continue;
          zs_policy_key k{};
          k.subject = subject;
          k.peer = p;
          k.direction = dir;
          k.proto = pr;
          k.port_plen = plen;
          k.port = plen ? static_cast<uint16_t>(port & (0xffff << (16 - plen))) : 0;
          auto it = out_.policy.find(k);
          if (it == out_.policy.end()) continue;
          if (it->second.deny_rule && !it->second.deny_audit) return mode == ZS_MODE_ENFORCE ? V::denied : V::audit;
          audit = audit || it->second.deny_rule;
          allow = allow || it->second.allow_rule;
        }
      }
    }
    if (audit) return V::audit;
    if (allow) return V::allowed;
    return mode == ZS_MODE_ENFORCE ? V::denied : V::audit;
  }

  // An endpoint's address as a peer: what the ipcache says, as in the
  // kernel (it can differ from the endpoint's own identity: refinements).
  uint32_t peer_id(const CompiledEndpoint& e, const std::string& ip) const {
    if (!ip.empty()) return id_of_ip(ip);
    return e.ips.empty() ? e.identity : id_of_ip(e.ips[0].str());
  }

  // from interface -> to interface (both workloads), both ends judged;
  // from_ip/to_ip: the addresses the packet carries (default: the first)
  V reach(const std::string& from, const std::string& to, uint16_t port, uint8_t proto = 6,
          const std::string& from_ip = "", const std::string& to_ip = "") const {
    const auto& a = ep(from);
    const auto& b = ep(to);
    V out = side(a.identity, ZS_DIR_EGRESS, a.mode[ZS_DIR_EGRESS], peer_id(b, to_ip), proto, port);
    V in = side(b.identity, ZS_DIR_INGRESS, b.mode[ZS_DIR_INGRESS], peer_id(a, from_ip), proto, port);
    if (out == V::denied || in == V::denied) return V::denied;
    if (out == V::audit || in == V::audit) return V::audit;
    return V::allowed;
  }

  // an address (not a workload) -> a workload's ingress
  V reach_from_ip(const std::string& ip, const std::string& to, uint16_t port, uint8_t proto = 6) const {
    const auto& b = ep(to);
    return side(b.identity, ZS_DIR_INGRESS, b.mode[ZS_DIR_INGRESS], id_of_ip(ip), proto, port);
  }

  LocalIdentityAllocator ids_;
  RuleIdAllocator rule_ids_;
  PolicyCompiler compiler_{ids_, rule_ids_};
  ObjectSet state_;
  Compiled out_;
};

// Namespaces x, y, z with pods a, b, c each (as the Kubernetes network
// policy e2e suite lays them out); interfaces are "<ns><pod>", e.g. "xa".
std::string cluster() {
  std::string s;
  int n = 0;
  for (std::string ns : {"x", "y", "z"}) {
    s += "apiVersion: v1\nkind: Namespace\nmetadata: {name: " + ns + ", labels: {ns: " + ns + "}}\n---\n";
    for (std::string pod : {"a", "b", "c"}) {
      n++;
      s += "apiVersion: zeroseg.io/v1\nkind: Workload\nmetadata: {name: " + pod + ", namespace: " + ns +
           ", labels: {pod: " + pod + "}}\nspec:\n  interface: " + ns + pod + "\n  ips: [10.0.0." + std::to_string(n) +
           "]\n  ports: [{name: serve-80, port: 80}, {name: serve-81, port: 81}, {name: dns, port: 53, protocol: UDP}]\n---\n";
    }
  }
  return s;
}

TEST_F(CompilerTest, NoPolicyAllowsEverything) {
  apply(cluster());
  EXPECT_EQ(reach("xa", "yb", 80), V::allowed);
  EXPECT_EQ(ep("xa").mode[0], ZS_MODE_OFF);
}

TEST_F(CompilerTest, SameLabelsSameIdentityAndReleaseOnDelete) {
  apply(cluster());
  EXPECT_NE(ep("xa").identity, ep("xb").identity);
  EXPECT_NE(ep("xa").identity, ep("ya").identity);  // namespace is part of the identity
  auto yaml = cluster() +
              "apiVersion: zeroseg.io/v1\nkind: Workload\nmetadata: {name: a2, namespace: x, labels: {pod: a}}\n"
              "spec: {interface: xa2, ips: [10.0.1.1], ports: [{name: serve-80, port: 80}, {name: serve-81, port: 81}, "
              "{name: dns, port: 53, protocol: UDP}]}\n";
  apply(yaml);
  EXPECT_EQ(ep("xa").identity, ep("xa2").identity);
  size_t before = ids_.all().size();
  apply("apiVersion: zeroseg.io/v1\nkind: Workload\nmetadata: {name: a, namespace: x, labels: {pod: a}}\n"
        "spec: {interface: xa, ips: [10.0.0.1]}\n");
  EXPECT_LT(ids_.all().size(), before);
  EXPECT_EQ(ids_.all().size(), 1u);
}

TEST_F(CompilerTest, DefaultDenyIngressForANamespace) {
  apply(cluster() + R"(apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny, namespace: x}
spec:
  podSelector: {}
)");
  EXPECT_EQ(reach("ya", "xa", 80), V::denied);
  EXPECT_EQ(reach("xb", "xa", 80), V::denied);
  EXPECT_EQ(reach("xa", "ya", 80), V::allowed);  // egress untouched
  EXPECT_EQ(reach("ya", "yb", 80), V::allowed);  // other namespaces untouched
  EXPECT_EQ(ep("xa").mode[ZS_DIR_EGRESS], ZS_MODE_OFF);
}

TEST_F(CompilerTest, DefaultDenyEgress) {
  apply(cluster() + R"(apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny, namespace: x}
spec:
  podSelector: {}
  policyTypes: [Egress]
)");
  EXPECT_EQ(reach("xa", "ya", 80), V::denied);
  EXPECT_EQ(reach("ya", "xa", 80), V::allowed);
}

TEST_F(CompilerTest, AllowAllWithEmptyRule) {
  apply(cluster() + R"(apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: all, namespace: x}
spec:
  podSelector: {}
  ingress: [{}]
)");
  EXPECT_EQ(reach("za", "xa", 80), V::allowed);
  EXPECT_EQ(reach("za", "xa", 53, 17), V::allowed);
  EXPECT_EQ(reach_from_ip("198.51.100.1", "xa", 22), V::allowed);
}

TEST_F(CompilerTest, PodSelectorPeerMeansOwnNamespace) {
  apply(cluster() + R"(apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: p, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress: [{from: [{podSelector: {matchLabels: {pod: b}}}]}]
)");
  EXPECT_EQ(reach("xb", "xa", 80), V::allowed);
  EXPECT_EQ(reach("yb", "xa", 80), V::denied);
  EXPECT_EQ(reach("xc", "xa", 80), V::denied);
  EXPECT_EQ(reach("yb", "xb", 80), V::allowed);  // xb is not selected
}

TEST_F(CompilerTest, NamespaceAndPodSelectorInOnePeerIsAnd) {
  apply(cluster() + R"(apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: p, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {ns: y}}
      podSelector: {matchLabels: {pod: b}}
)");
  EXPECT_EQ(reach("yb", "xa", 80), V::allowed);
  EXPECT_EQ(reach("ya", "xa", 80), V::denied);
  EXPECT_EQ(reach("xb", "xa", 80), V::denied);
  EXPECT_EQ(reach("zb", "xa", 80), V::denied);
}

TEST_F(CompilerTest, TwoPeersAreOr) {
  apply(cluster() + R"(apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: p, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {ns: y}}
    - podSelector: {matchLabels: {pod: b}}
)");
  EXPECT_EQ(reach("yb", "xa", 80), V::allowed);
  EXPECT_EQ(reach("ya", "xa", 80), V::allowed);
  EXPECT_EQ(reach("xb", "xa", 80), V::allowed);
  EXPECT_EQ(reach("xc", "xa", 80), V::denied);
  EXPECT_EQ(reach("zb", "xa", 80), V::denied);
}

TEST_F(CompilerTest, NamespaceSelectorWithMatchExpressions) {
  apply(cluster() + R"(apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: p, namespace: x}
spec:
  podSelector: {}
  ingress:
  - from:
    - namespaceSelector:
        matchExpressions: [{key: ns, operator: NotIn, values: [y]}]
)");
  EXPECT_EQ(reach("za", "xa", 80), V::allowed);
  EXPECT_EQ(reach("xb", "xa", 80), V::allowed);
  EXPECT_EQ(reach("ya", "xa", 80), V::denied);
}

TEST_F(CompilerTest, IpBlockWithExceptMatchesWorkloadIps) {
  apply(cluster() + R"(apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: p, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from: [{ipBlock: {cidr: 10.0.0.0/24, except: [10.0.0.4/30]}}]
)");
  EXPECT_EQ(reach("xb", "xa", 80), V::allowed);   // 10.0.0.2
  EXPECT_EQ(reach("yb", "xa", 80), V::denied);    // 10.0.0.5 is in the except
  EXPECT_EQ(reach("zc", "xa", 80), V::allowed);   // 10.0.0.9
  EXPECT_EQ(reach_from_ip("10.0.0.200", "xa", 80), V::allowed);
  EXPECT_EQ(reach_from_ip("10.0.0.6", "xa", 80), V::denied);
  EXPECT_EQ(reach_from_ip("10.0.1.1", "xa", 80), V::denied);
}

// A /0 is every address of its family only: ::/0 admitted all of IPv4's
// unknown addresses (world) too, and 0.0.0.0/0 all of IPv6's (found by
// e2e.netpol_differential)
TEST_F(CompilerTest, AnIpBlockOfSlashZeroIsOneFamily) {
  auto from = [&](const std::string& cidr) {
    apply(cluster() + "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: x}\n"
                      "spec:\n  podSelector: {matchLabels: {pod: a}}\n  ingress: [{from: [{ipBlock: {cidr: \"" +
          cidr + "\"}}]}]\n");
  };
  from("::/0");
  EXPECT_EQ(reach_from_ip("2001:db8::1", "xa", 80), V::allowed);
  EXPECT_EQ(reach_from_ip("198.51.100.1", "xa", 80), V::denied);
  from("0.0.0.0/0");
  EXPECT_EQ(reach_from_ip("198.51.100.1", "xa", 80), V::allowed);
  EXPECT_EQ(reach("yb", "xa", 80), V::allowed);  // a workload's address too
  EXPECT_EQ(reach_from_ip("2001:db8::1", "xa", 80), V::denied);
}

TEST_F(CompilerTest, NamedPortsResolveAgainstTheDestination) {
  std::string yaml = cluster();
  yaml += R"(apiVersion: zeroseg.io/v1
kind: Workload
metadata: {name: d, namespace: x, labels: {pod: d}}
spec: {interface: xd, ips: [10.0.2.1], ports: [{name: serve-80, port: 8080}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: p, namespace: x}
spec:
  podSelector: {}
  ingress: [{ports: [{port: serve-80}]}]
)";
  apply(yaml);
  EXPECT_EQ(reach("ya", "xa", 80), V::allowed);
  EXPECT_EQ(reach("ya", "xa", 8080), V::denied);
  EXPECT_EQ(reach("ya", "xd", 8080), V::allowed);
  EXPECT_EQ(reach("ya", "xd", 80), V::denied);
}

TEST_F(CompilerTest, EndPortAndProtocolDefault) {
  apply(cluster() + R"(apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: p, namespace: x}
spec:
  podSelector: {}
  ingress: [{ports: [{port: 80, endPort: 81}]}]
)");
  EXPECT_EQ(reach("ya", "xa", 79), V::denied);
  EXPECT_EQ(reach("ya", "xa", 80), V::allowed);
  EXPECT_EQ(reach("ya", "xa", 81), V::allowed);
  EXPECT_EQ(reach("ya", "xa", 82), V::denied);
  EXPECT_EQ(reach("ya", "xa", 80, 17), V::denied);  // TCP unless said
}

TEST_F(CompilerTest, EgressToAPortWithNoPeer) {
  apply(cluster() + R"(apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: p, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Egress]
  egress: [{ports: [{port: 53, protocol: UDP}]}]
)");
  EXPECT_EQ(reach("xa", "yb", 53, 17), V::allowed);
  EXPECT_EQ(reach("xa", "yb", 80), V::denied);
}

// Kubernetes e2e "should allow egress access on one named port": egress to
// any peer on a named port reaches every destination whose pod has a port
// of that name, on its number there; the name means nothing elsewhere.
TEST_F(CompilerTest, EgressOnANamedPortWithNoPeerResolvesOnEachDestination) {
  apply(R"(apiVersion: v1
kind: Namespace
metadata: {name: x}
---
apiVersion: zeroseg.io/v1
kind: Workload
metadata: {name: client, namespace: x, labels: {app: client}}
spec: {interface: xclient, ips: [10.1.0.1], ports: [{name: admin, port: 9000}]}
---
apiVersion: zeroseg.io/v1
kind: Workload
metadata: {name: web, namespace: x, labels: {app: web}}
spec: {interface: xweb, ips: [10.1.0.2], ports: [{name: http, port: 8080}, {name: admin, port: 9090}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: out-http, namespace: x}
spec:
  podSelector: {matchLabels: {app: client}}
  policyTypes: [Egress]
  egress: [{ports: [{port: http}, {port: 53, protocol: UDP}]}]
)");
  PolicyJudge judge(out_, state_);
  auto ip = [](const char* s) { return *IpAddr::parse(s); };
  const IpAddr client = ip("10.1.0.1"), web = ip("10.1.0.2"), outside = ip("192.0.2.1");
  auto allowed = judge.judge(client, web, 6, 8080);
  EXPECT_EQ(allowed.verdict, ZS_VERDICT_ALLOWED);
  EXPECT_EQ(allowed.why, "NetworkPolicy/x/out-http egress[0]");
  EXPECT_EQ(judge.judge(client, web, 6, 80).verdict, ZS_VERDICT_DENIED);
  EXPECT_EQ(judge.judge(client, web, 6, 9090).verdict, ZS_VERDICT_DENIED);    // another name
  EXPECT_EQ(judge.judge(client, web, 17, 8080).verdict, ZS_VERDICT_DENIED);   // http is TCP
  EXPECT_EQ(judge.judge(client, outside, 6, 8080).verdict, ZS_VERDICT_DENIED);  // no pod, no name
  EXPECT_EQ(judge.judge(client, outside, 17, 53).verdict, ZS_VERDICT_ALLOWED);  // numbers: any peer
  EXPECT_EQ(judge.judge(client, web, 17, 53).verdict, ZS_VERDICT_ALLOWED);
  // the entry: the client's egress to web's identity, on web's number
  zs_policy_key k{};
  k.subject = ep("xclient").identity;
  k.peer = ep("xweb").identity;
  k.direction = ZS_DIR_EGRESS;
  k.proto = 6;
  k.port = 8080;
  k.port_plen = 16;
  ASSERT_TRUE(out_.policy.count(k));
  EXPECT_NE(out_.policy.at(k).allow_rule, 0u);
  // and the same through the cluster's named ports, from every pod of x
  apply(cluster() + R"(apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: out-80, namespace: x}
spec:
  podSelector: {}
  policyTypes: [Egress]
  egress: [{ports: [{port: serve-80}]}]
)");
  EXPECT_EQ(reach("xa", "yb", 80), V::allowed);
  EXPECT_EQ(reach("xb", "xc", 80), V::allowed);
  EXPECT_EQ(reach("xa", "yb", 81), V::denied);
  EXPECT_EQ(reach("xa", "yb", 53, 17), V::denied);
  EXPECT_EQ(reach("ya", "xb", 81), V::allowed);  // ingress untouched
}

TEST_F(CompilerTest, BothEndsMustAllow) {
  apply(cluster() + R"(apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: egress-open, namespace: x}
spec:
  podSelector: {}
  policyTypes: [Egress]
  egress: [{to: [{namespaceSelector: {matchLabels: {ns: y}}}]}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: ingress-closed, namespace: y}
spec:
  podSelector: {}
)");
  EXPECT_EQ(reach("xa", "ya", 80), V::denied);  // x may send, y does not accept
  EXPECT_EQ(reach("xa", "za", 80), V::denied);  // y-only egress
}

TEST_F(CompilerTest, NamespaceLabelChangeReconverges) {
  std::string policy = R"(apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: p, namespace: x}
spec:
  podSelector: {}
  ingress: [{from: [{namespaceSelector: {matchLabels: {team: blue}}}]}]
)";
  apply(cluster() + policy);
  EXPECT_EQ(reach("ya", "xa", 80), V::denied);
  std::string relabelled = cluster();
  relabelled.replace(relabelled.find("labels: {ns: y}"), 15, "labels: {ns: y, team: blue}");
  apply(relabelled + policy);
  EXPECT_EQ(reach("ya", "xa", 80), V::allowed);
}

TEST_F(CompilerTest, DenyBeatsAllowAndEntities) {
  apply(cluster() + R"(apiVersion: zeroseg.io/v1
kind: SegmentPolicy
metadata: {name: p, namespace: x}
spec:
  selector: {matchLabels: {pod: a}}
  ingress:
  - from: [{entity: all}]
    ports: [{port: 80}]
  ingressDeny:
  - from: [{selector: {matchLabels: {pod: b}}, namespaceSelector: {}}]
)");
  EXPECT_EQ(reach("yc", "xa", 80), V::allowed);
  EXPECT_EQ(reach("yb", "xa", 80), V::denied);
  EXPECT_EQ(reach_from_ip("198.51.100.1", "xa", 80), V::allowed);
  EXPECT_EQ(reach("yc", "xa", 81), V::denied);
}

TEST_F(CompilerTest, WorldEntityIsOnlyUnknownAddresses) {
  apply(cluster() + R"(apiVersion: zeroseg.io/v1
kind: SegmentPolicy
metadata: {name: p, namespace: x}
spec:
  selector: {matchLabels: {pod: a}}
  ingress: [{from: [{entity: world}]}]
)");
  EXPECT_EQ(reach_from_ip("198.51.100.1", "xa", 443), V::allowed);
  EXPECT_EQ(reach("yc", "xa", 443), V::denied);
}

TEST_F(CompilerTest, IcmpTypeRules) {
  apply(cluster() + R"(apiVersion: zeroseg.io/v1
kind: SegmentPolicy
metadata: {name: p, namespace: x}
spec:
  selector: {}
  ingress: [{icmp: [{type: 8}, {type: 3, code: 4}]}]
)");
  EXPECT_EQ(reach("ya", "xa", 8 << 8, 1), V::allowed);
  EXPECT_EQ(reach("ya", "xa", 3 << 8 | 4, 1), V::allowed);
  EXPECT_EQ(reach("ya", "xa", 3 << 8 | 3, 1), V::denied);
  EXPECT_EQ(reach("ya", "xa", 128 << 8, 58), V::denied);  // IPv6 echo needs family: IPv6
}

TEST_F(CompilerTest, AuditPolicyReportsWithoutChangingEnforcement) {
  std::string audit = R"(apiVersion: zeroseg.io/v1
kind: SegmentPolicy
metadata: {name: audit, namespace: x}
spec:
  selector: {}
  mode: audit
  ingress: [{from: [{selector: {matchLabels: {pod: b}}}]}]
)";
  apply(cluster() + audit);
  EXPECT_EQ(ep("xa").mode[ZS_DIR_INGRESS], ZS_MODE_AUDIT);
  EXPECT_EQ(reach("xb", "xa", 80), V::allowed);
  EXPECT_EQ(reach("xc", "xa", 80), V::audit);
  // with an enforcing policy too, the audit policy's allow cannot open anything
  apply(cluster() + audit + R"(---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: enforce, namespace: x}
spec:
  podSelector: {}
  ingress: [{from: [{podSelector: {matchLabels: {pod: c}}}]}]
)");
  EXPECT_EQ(ep("xa").mode[ZS_DIR_INGRESS], ZS_MODE_ENFORCE);
  EXPECT_EQ(reach("xc", "xa", 80), V::allowed);
  EXPECT_EQ(reach("xb", "xa", 80), V::denied);
}

TEST_F(CompilerTest, ConflictingClaimsAreErrors) {
  EXPECT_THROW(apply(cluster() + "apiVersion: zeroseg.io/v1\nkind: Workload\nmetadata: {name: q}\n"
                                 "spec: {interface: q0, ips: [10.0.0.1]}\n"),
               Error);
  EXPECT_THROW(apply(cluster() + "apiVersion: zeroseg.io/v1\nkind: Workload\nmetadata: {name: q}\n"
                                 "spec: {interface: xa}\n"),
               Error);
}

TEST_F(CompilerTest, RuleIdsAreStableAndAttributed) {
  std::string p = R"(apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: p, namespace: x}
spec:
  podSelector: {}
  ingress: [{ports: [{port: 80}]}, {ports: [{port: 81}]}]
)";
  apply(cluster() + p);
  ASSERT_EQ(out_.rules.size(), 2u);
  auto first = out_.rules.begin();
  EXPECT_EQ(first->second.str(), "NetworkPolicy/x/p ingress[0]");
  uint32_t id = first->first;
  apply(cluster() + p);
  EXPECT_EQ(out_.rules.begin()->first, id);
  EXPECT_EQ(out_.selected_by->at(ep("xa").identity)[ZS_DIR_INGRESS].at(0), "NetworkPolicy/x/p");
}

// Quarantine: the target gets the quarantine identity; only the
// management prefix reaches it or is reached, whatever policies say.
TEST_F(CompilerTest, QuarantineCutsAWorkloadOffButForManagement) {
  std::string allow_all = cluster() + R"(apiVersion: zeroseg.io/v1
kind: SegmentPolicy
metadata: {name: open, namespace: x}
spec:
  selector: {}
  ingress: [{}]
  egress: [{}]
)";
  apply(allow_all, {quarantine("x/a", "10.0.0.9/32")});  // 10.0.0.9 is z/c
  EXPECT_EQ(ep("xa").identity, static_cast<uint32_t>(ZS_ID_QUARANTINE));
  EXPECT_EQ(id_of_ip("10.0.0.1"), static_cast<uint32_t>(ZS_ID_QUARANTINE));
  EXPECT_EQ(ep("xa").mode[ZS_DIR_INGRESS], ZS_MODE_ENFORCE);
  EXPECT_EQ(ep("xa").mode[ZS_DIR_EGRESS], ZS_MODE_ENFORCE);
  EXPECT_EQ(reach("xb", "xa", 80), V::denied);  // the policy's allow-all no longer reaches it
  EXPECT_EQ(reach("xa", "xb", 80), V::denied);
  EXPECT_EQ(reach("ya", "xa", 80), V::denied);
  EXPECT_EQ(reach("zc", "xa", 22), V::allowed);  // management, both ways
  EXPECT_EQ(reach("xa", "zc", 22), V::allowed);
  EXPECT_EQ(reach("xb", "xc", 80), V::allowed);  // the others as before
  EXPECT_EQ(out_.identities.at(ZS_ID_QUARANTINE).workloads, std::vector<std::string>{"x/a"});

  apply(allow_all);  // released: back to its own identity and policy
  EXPECT_NE(ep("xa").identity, static_cast<uint32_t>(ZS_ID_QUARANTINE));
  EXPECT_EQ(reach("xb", "xa", 80), V::allowed);
}

TEST_F(CompilerTest, QuarantineOfAWorkloadsAddressQuarantinesTheWorkload) {
  apply(cluster(), {quarantine("10.0.0.5")});  // y/b
  EXPECT_EQ(ep("yb").identity, static_cast<uint32_t>(ZS_ID_QUARANTINE));
  EXPECT_EQ(reach("ya", "yb", 80), V::denied);
  EXPECT_EQ(ep("ya").mode[ZS_DIR_INGRESS], ZS_MODE_OFF);  // its own endpoint enforces: others unchanged
}

TEST_F(CompilerTest, QuarantineOfAnOutsideAddressIsDeniedAtEveryEndpoint) {
  apply(cluster(), {quarantine("192.0.2.7")});
  EXPECT_EQ(id_of_ip("192.0.2.7"), static_cast<uint32_t>(ZS_ID_QUARANTINE));
  EXPECT_EQ(reach_from_ip("192.0.2.7", "xa", 80), V::denied);
  EXPECT_EQ(reach_from_ip("192.0.2.8", "xa", 80), V::allowed);  // endpoints without policy stay open
  EXPECT_EQ(reach("xa", "yb", 80), V::allowed);
  EXPECT_EQ(side(ep("xa").identity, ZS_DIR_EGRESS, ep("xa").mode[ZS_DIR_EGRESS], ZS_ID_QUARANTINE, 6, 443),
            V::denied);
}

// PolicyJudge (policy diff's replay) agrees with the datapath's reading.
TEST_F(CompilerTest, PolicyJudgeJudgesBothEndsLikeTheDatapath) {
  apply(cluster() + R"(apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: only-b, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from: [{podSelector: {matchLabels: {pod: b}}}]
    ports: [{port: 80}]
)");
  PolicyJudge judge(out_, state_);
  auto ip = [](const char* s) { return *IpAddr::parse(s); };
  EXPECT_EQ(judge.judge(ip("10.0.0.2"), ip("10.0.0.1"), 6, 80).verdict, ZS_VERDICT_ALLOWED);  // x/b -> x/a
  EXPECT_EQ(judge.judge(ip("10.0.0.2"), ip("10.0.0.1"), 6, 80).why, "NetworkPolicy/x/only-b ingress[0]");
  auto denied = judge.judge(ip("10.0.0.3"), ip("10.0.0.1"), 6, 80);  // x/c -> x/a
  EXPECT_EQ(denied.verdict, ZS_VERDICT_DENIED);
  EXPECT_EQ(denied.why, "default deny at x/a ingress");
  EXPECT_EQ(judge.judge(ip("10.0.0.2"), ip("10.0.0.1"), 6, 81).verdict, ZS_VERDICT_DENIED);
  EXPECT_EQ(judge.judge(ip("192.0.2.1"), ip("10.0.0.4"), 17, 53).verdict, ZS_VERDICT_ALLOWED);  // y/a: open
  EXPECT_EQ(judge.judge(ip("10.0.0.2"), ip("10.0.0.1"), 1, 8).verdict, ZS_VERDICT_DENIED);  // ping: not port 80
}


// --- compile_policies: a change of policies only, merged key by key --------

// A random SegmentPolicy over workloads labelled app=a0..a5, tier=t0..t2:
// allows and denies, ports, ranges, ICMP, entities, audit, expiry.
std::string random_policy(std::mt19937& rng, int n) {
  auto pick = [&](int k) { return static_cast<int>(rng() % static_cast<unsigned>(k)); };
  std::ostringstream y;
  y << "---\napiVersion: zeroseg.io/v1\nkind: SegmentPolicy\nmetadata: {name: p" << n << ", namespace: ns}\nspec:\n";
  y << "  selector: {matchLabels: {" << (pick(2) ? "app: a" + std::to_string(pick(6)) : "tier: t" + std::to_string(pick(3)))
    << "}}\n";
  if (pick(4) == 0) y << "  mode: audit\n";
  bool any_section = false;
  for (const char* section : {"ingress", "egress", "ingressDeny"}) {
    int rules = pick(4);
    if (rules == 0) continue;
    any_section = true;
    y << "  " << section << ":\n";
    for (int r = 0; r < rules; r++) {
      const char* peer_key = std::string(section) == "egress" ? "to" : "from";
      switch (pick(5)) {
        case 4:  // a prefix: the same two each time, so most changes keep the CIDR set
          y << "  - " << peer_key << ": [{cidr: 10.9.0.0/28" << (pick(2) ? ", except: [10.9.0.8/30]" : "") << "}]\n";
          break;
        case 0: y << "  - " << peer_key << ": [{selector: {matchLabels: {app: a" << pick(6) << "}}}]\n"; break;
        case 1: y << "  - " << peer_key << ": [{selector: {matchLabels: {tier: t" << pick(3) << "}}}]\n"; break;
        case 2: y << "  - " << peer_key << ": [{entity: world}]\n"; break;
        default: y << "  - " << peer_key << ": [{selector: {}}]\n";
      }
      int port = 80 + pick(4);
      switch (pick(4)) {
        case 0: y << "    ports: [{port: " << port << "}]\n"; break;
        case 1: y << "    ports: [{port: " << port << ", endPort: " << port + pick(20) << "}]\n"; break;
        case 2: y << "    ports: [{port: " << port << ", protocol: UDP}]\n"; break;
        default: break;  // every port
      }
      if (pick(6) == 0) y << "    expires: \"2099-0" << 1 + pick(2) << "-01T00:00:00Z\"\n";
    }
  }
  if (!any_section) y << "  ingress: []\n";  // default deny, nothing allowed
  return y.str();
}

// Per pod, not per label set (identity_refinement.h): pods with the same
// labels are told apart where an ipBlock or a named port tells them apart.
std::string twins(const std::string& ports1 = "", const std::string& ports2 = "") {
  return R"(apiVersion: v1
kind: Namespace
metadata: {name: x}
---
apiVersion: zeroseg.io/v1
kind: Workload
metadata: {name: a1, namespace: x, labels: {app: a}}
spec: {interface: xa1, ips: [10.2.0.1, "fd00:2::1"])" + ports1 + R"(}
---
apiVersion: zeroseg.io/v1
kind: Workload
metadata: {name: a2, namespace: x, labels: {app: a}}
spec: {interface: xa2, ips: [10.2.0.2, "fd00:2::2"])" + ports2 + R"(}
---
apiVersion: zeroseg.io/v1
kind: Workload
metadata: {name: s, namespace: x, labels: {app: s}}
spec: {interface: xs, ips: [10.2.0.10]}
---
)";
}

std::string ingress_to_s(const std::string& block) {
  return "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: to-s, namespace: x}\nspec:\n"
         "  podSelector: {matchLabels: {app: s}}\n  ingress: [{from: [{ipBlock: " + block + "}]}]\n---\n";
}

TEST_F(CompilerTest, AnIpBlockOfOnePodAdmitsItNotItsTwin) {
  apply(twins() + ingress_to_s("{cidr: 10.2.0.1/32}"));
  EXPECT_EQ(reach("xa1", "xs", 80), V::allowed);
  EXPECT_EQ(reach("xa2", "xs", 80), V::denied);  // same namespace and labels
  EXPECT_EQ(reach("xa1", "xs", 80, 6, "fd00:2::1"), V::denied);  // a v4 /32 is not a1's IPv6
  // the twins still share their own identity (the subject of their rules),
  // and what people see of a1's address is its labels, nothing more
  EXPECT_EQ(ep("xa1").identity, ep("xa2").identity);
  uint32_t a1 = id_of_ip("10.2.0.1");
  EXPECT_NE(a1, ep("xa1").identity);
  EXPECT_EQ(out_.identities.at(a1).labels, out_.identities.at(ep("xa1").identity).labels);
  EXPECT_EQ(out_.identities.at(a1).labels.count("zeroseg.io/refinement"), 0u);
  EXPECT_EQ(out_.identities.at(a1).workloads, std::vector<std::string>{"x/a1"});
  PolicyJudge judge(out_, state_);
  EXPECT_EQ(judge.judge(*IpAddr::parse("10.2.0.1"), *IpAddr::parse("10.2.0.10"), 6, 80).verdict, ZS_VERDICT_ALLOWED);
  EXPECT_EQ(judge.judge(*IpAddr::parse("10.2.0.2"), *IpAddr::parse("10.2.0.10"), 6, 80).verdict, ZS_VERDICT_DENIED);

  // egress too: the twins may reach only s's /32, and only a1 is selected
  apply(twins() + R"(apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: out, namespace: x}
spec:
  podSelector: {}
  policyTypes: [Egress]
  egress: [{to: [{ipBlock: {cidr: 10.2.0.1/32}}]}]
)");
  EXPECT_EQ(reach("xs", "xa1", 80), V::allowed);
  EXPECT_EQ(reach("xs", "xa2", 80), V::denied);
  EXPECT_EQ(reach("xs", "xa1", 80, 6, "", "fd00:2::1"), V::denied);
}

// Held (attack review 3): a refined identity is allocated by the
// workload's labels plus one more label, zeroseg.io/refinement, and a
// workload may carry that label key itself. A pod whose owner sets its
// labels copies a1's and adds zeroseg.io/refinement with a1's refinement:
// were its label set then the key of a1's refined identity, it would get
// that identity for an address outside the ipBlock. It cannot: every
// refinement holds '=' ("cidrs=...", "ports=..."), which no label value
// may hold, so the Workload is refused. (Should the refinement's spelling
// change, this must still fail to borrow.)
TEST_F(CompilerTest, NoLabelCanBorrowARefinedIdentity) {
  const std::string evil = R"(apiVersion: zeroseg.io/v1
kind: Workload
metadata: {name: evil, namespace: x, labels: {app: a, zeroseg.io/refinement: "cidrs=10.2.0.1/32"}}
spec: {interface: xevil, ips: [10.9.9.9]}
---
)";
  try {
    apply(twins() + evil + ingress_to_s("{cidr: 10.2.0.1/32}"));
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("zeroseg.io/refinement"), std::string::npos) << e.what();
    return;
  }
  EXPECT_EQ(reach("xa1", "xs", 80), V::allowed);
  EXPECT_NE(id_of_ip("10.9.9.9"), id_of_ip("10.2.0.1"));
  EXPECT_EQ(reach("xevil", "xs", 80), V::denied) << "10.9.9.9 is outside the ipBlock 10.2.0.1/32";
}

TEST_F(CompilerTest, AnExceptHoleExcludesOnePodOfALabelSet) {
  apply(twins() + ingress_to_s("{cidr: 10.2.0.0/24, except: [10.2.0.2/32]}"));
  EXPECT_EQ(reach("xa1", "xs", 80), V::allowed);
  EXPECT_EQ(reach("xa2", "xs", 80), V::denied);
  // a prefix over every IPv4 address of the label set: those share one
  // identity, the IPv6 addresses another
  apply(twins() + ingress_to_s("{cidr: 10.2.0.0/24}"));
  EXPECT_EQ(reach("xa1", "xs", 80), V::allowed);
  EXPECT_EQ(reach("xa2", "xs", 80), V::allowed);
  EXPECT_EQ(reach("xa2", "xs", 80, 6, "fd00:2::2"), V::denied);
  EXPECT_EQ(id_of_ip("10.2.0.1"), id_of_ip("10.2.0.2"));
  EXPECT_EQ(id_of_ip("fd00:2::1"), id_of_ip("fd00:2::2"));
  EXPECT_NE(id_of_ip("10.2.0.1"), id_of_ip("fd00:2::1"));
  // (a prefix of each family: still two, or the v4 one would admit IPv6)
  apply(twins() + ingress_to_s("{cidr: 10.2.0.0/24}") + R"(apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: v6, namespace: x}
spec:
  podSelector: {matchLabels: {app: s}}
  ingress: [{from: [{ipBlock: {cidr: "fd00:2::/64"}}]}]
)");
  EXPECT_EQ(id_of_ip("fd00:2::1"), id_of_ip("fd00:2::2"));
  EXPECT_NE(id_of_ip("10.2.0.1"), id_of_ip("fd00:2::1"));
  EXPECT_EQ(reach("xa2", "xs", 80, 6, "fd00:2::2"), V::allowed);
  // with no IPv6 addresses, a prefix over every pod of the label set
  // splits nothing
  std::string v4_only = twins();
  for (auto at = v4_only.find(", \"fd00"); at != std::string::npos; at = v4_only.find(", \"fd00"))
    v4_only.erase(at, v4_only.find('"', at + 3) + 1 - at);
  apply(v4_only + ingress_to_s("{cidr: 10.2.0.0/24}"));
  EXPECT_EQ(id_of_ip("10.2.0.1"), ep("xa1").identity);
  EXPECT_EQ(id_of_ip("10.2.0.2"), ep("xa1").identity);
}

TEST_F(CompilerTest, ANamedPortResolvesOnEachPodOfALabelSet) {
  const std::string ports1 = ", ports: [{name: http, port: 8080}]", ports2 = ", ports: [{name: http, port: 9090}]";
  apply(twins(ports1, ports2) + R"(apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: in-http, namespace: x}
spec:
  podSelector: {matchLabels: {app: a}}
  ingress: [{ports: [{port: http}]}]
)");
  EXPECT_EQ(reach("xs", "xa1", 8080), V::allowed);
  EXPECT_EQ(reach("xs", "xa1", 9090), V::denied);
  EXPECT_EQ(reach("xs", "xa2", 9090), V::allowed);
  EXPECT_EQ(reach("xs", "xa2", 8080), V::denied);
  EXPECT_NE(ep("xa1").identity, ep("xa2").identity);
  EXPECT_EQ(out_.identities.at(ep("xa1").identity).labels, out_.identities.at(ep("xa2").identity).labels);
  // egress: the name resolves on the peer pod, with and without peers
  for (const std::string to : {"[{podSelector: {matchLabels: {app: a}}}]", "[]"}) {
    SCOPED_TRACE(to);
    apply(twins(ports1, ports2) +
          "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: out-http, namespace: x}\n"
          "spec:\n  podSelector: {matchLabels: {app: s}}\n  policyTypes: [Egress]\n"
          "  egress: [{to: " + to + ", ports: [{port: http}]}]\n");
    EXPECT_EQ(reach("xs", "xa1", 8080), V::allowed);
    EXPECT_EQ(reach("xs", "xa1", 9090), V::denied);
    EXPECT_EQ(reach("xs", "xa2", 9090), V::allowed);
    EXPECT_EQ(reach("xs", "xa2", 8080), V::denied);
  }
  // the same names on both: one identity again
  apply(twins(ports1, ports1));
  EXPECT_EQ(ep("xa1").identity, ep("xa2").identity);
  EXPECT_EQ(id_of_ip("10.2.0.1"), id_of_ip("10.2.0.2"));
}

TEST_F(CompilerTest, IdentitiesStayWhenAnUnrelatedPolicyChanges) {
  auto numbers = [&] {
    std::map<std::string, uint32_t> n;
    for (const auto& [ifname, e] : out_.endpoints) n[ifname] = e.identity;
    for (const auto& [p, id] : out_.ipcache) n[p.str()] = id;
    return n;
  };
  const std::string base = twins(", ports: [{name: http, port: 8080}]", ", ports: [{name: http, port: 9090}]") +
                           "apiVersion: zeroseg.io/v1\nkind: Workload\nmetadata: {name: b, namespace: y, labels: "
                           "{pod: b}}\nspec: {interface: yb, ips: [10.3.0.1]}\n---\n" +
                           ingress_to_s("{cidr: 10.2.0.1/32}");
  auto other = [](int port) {
    return "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: other, namespace: y}\nspec:\n"
           "  podSelector: {}\n  ingress: [{from: [{podSelector: {matchLabels: {pod: b}}}], ports: [{port: " +
           std::to_string(port) + "}]}]\n---\n";
  };
  apply(base + other(81));
  const auto before = numbers();
  ASSERT_NE(before.at("10.2.0.1/32"), before.at("10.2.0.2/32"));
  const Compiled prev = out_;
  const ObjectSet prev_state = state_;
  apply(base + other(82));
  EXPECT_EQ(numbers(), before);
  // the incremental path (a change of policies only) keeps them too
  ObjectSet next = prev_state;
  next.policies = SharedVector<Policy>();
  for (size_t i = 0; i < prev_state.policies.size(); i++)
    next.policies.push_back(prev_state.policies[i].meta.name == "other" ? load_yaml(other(82), "u.yaml").policies.ptr(0)
                                                                        : prev_state.policies.ptr(i));
  auto inc = compiler_.compile_policies(next, prev_state, prev);
  ASSERT_TRUE(inc);
  out_ = std::move(*inc);
  EXPECT_EQ(numbers(), before);
  // a prefix that splits a2's IPv4 address off renumbers that address only
  apply(base + other(82) +
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: to-s2, namespace: x}\nspec:\n"
        "  podSelector: {matchLabels: {app: s}}\n  ingress: [{from: [{ipBlock: {cidr: 10.2.0.2/32}}]}]\n");
  auto after = numbers();
  for (const auto& [what, id] : before)
    if (what != "10.2.0.2/32") {
      EXPECT_EQ(after.at(what), id) << what;
    }
  EXPECT_NE(after.at("10.2.0.2/32"), before.at("10.2.0.2/32"));
}

std::string workloads_yaml() {
  std::string y = "apiVersion: v1\nkind: Namespace\nmetadata: {name: ns}\n";
  for (int i = 0; i < 24; i++)
    y += "---\napiVersion: zeroseg.io/v1\nkind: Workload\nmetadata: {name: w" + std::to_string(i) +
         ", namespace: ns, labels: {app: a" + std::to_string(i % 6) + ", tier: t" + std::to_string(i % 3) +
         "}}\nspec: {ips: [10.9.0." + std::to_string(i + 1) + "]}\n";
  return y;
}

// What source validation needs: each endpoint's own addresses, and its
// allowedSourcePrefixes made disjoint (the datapath's trie relies on it).
TEST_F(CompilerTest, EndpointsCarryTheirSourcesWithDisjointPrefixes) {
  apply(R"(apiVersion: zeroseg.io/v1
kind: Workload
metadata: {name: router}
spec:
  interface: veth-r
  ips: [10.0.0.1, "fd00::1"]
  allowedSourcePrefixes: [192.168.1.0/24, 192.168.0.0/16, 10.9.0.0/16, "fd00:99::/64", "fd00:99:0:0:1::/80", 192.168.0.0/16]
---
apiVersion: zeroseg.io/v1
kind: Workload
metadata: {name: plain}
spec: {interface: veth-p, ips: [10.0.0.2]}
)");
  const auto& r = ep("veth-r");
  ASSERT_EQ(r.ips.size(), 2u);
  EXPECT_EQ(r.ips[0].str(), "10.0.0.1");
  std::vector<std::string> prefixes;
  for (const auto& p : r.allowed_sources) prefixes.push_back(p.str());
  EXPECT_EQ(prefixes, (std::vector<std::string>{"10.9.0.0/16", "192.168.0.0/16", "fd00:99::/64"}));
  EXPECT_TRUE(ep("veth-p").allowed_sources.empty());
  EXPECT_EQ(disjoint_prefixes({*Prefix::parse("0.0.0.0/0"), *Prefix::parse("::/0"), *Prefix::parse("10.0.0.0/8")})
                .size(),
            2u);
}

// Was a hole (attack review 2): allowedSourcePrefixes were made disjoint
// among themselves only, so a router's prefix could cover another
// workload's address, and the router's egress then passed the source
// check from that address, which every receiver's ipcache judges as the
// other workload. Not refused (a router with 0.0.0.0/0 is valid): each
// other workload's address inside the prefixes is carved out, local or
// not (denied_sources, written as denied host entries); the router's own
// addresses and addresses no workload has stay allowed.
TEST_F(CompilerTest, AnAllowedSourcePrefixHasOtherWorkloadsAddressesCarvedOut) {
  apply(R"(apiVersion: zeroseg.io/v1
kind: Workload
metadata: {name: router}
spec: {interface: veth-r, ips: [10.0.0.1, "fd00::1"], allowedSourcePrefixes: [10.0.0.0/24, "::/0"]}
---
apiVersion: zeroseg.io/v1
kind: Workload
metadata: {name: plain}
spec: {interface: veth-p, ips: [10.0.0.2, "fd00::2"]}
---
apiVersion: zeroseg.io/v1
kind: Workload
metadata: {name: remote}
spec: {ips: [10.0.0.3, 10.1.0.3]}
---
apiVersion: zeroseg.io/v1
kind: Workload
metadata: {name: edge}
spec: {interface: veth-e, ips: [10.2.0.1], allowedSourcePrefixes: [0.0.0.0/0]}
)");
  auto denied = [&](const std::string& ifname) {
    std::vector<std::string> out;
    for (const auto& a : ep(ifname).denied_sources) out.push_back(a.str());
    return out;
  };
  EXPECT_EQ(denied("veth-r"), (std::vector<std::string>{"10.0.0.2", "10.0.0.3", "fd00::2"}));
  // a router carves out the other router too, never its own addresses
  EXPECT_EQ(denied("veth-e"), (std::vector<std::string>{"10.0.0.1", "10.0.0.2", "10.0.0.3", "10.1.0.3"}));
  EXPECT_TRUE(denied("veth-p").empty());
  EXPECT_EQ(ep("veth-r").allowed_sources.size(), 2u);
}

// Was a hole (attack review 3): the datapath's source prefix trie reads
// IPv4 as ::ffff:a.b.c.d, so an allowedSourcePrefix written as an
// IPv4-mapped IPv6 prefix allowed IPv4 sources, with no IPv4 workload
// carved out (carve-outs are per family). Such a prefix is now the IPv4
// prefix it covers, carved as IPv4. (An IPv6 prefix around ::ffff:0:0/96,
// such as ::/0, the datapath no longer reads for IPv4 sources:
// bpf.datapath, attack review 3.)
TEST_F(CompilerTest, AnIpv4MappedSourcePrefixIsAnIpv4PrefixWithItsCarveOuts) {
  apply(R"(apiVersion: zeroseg.io/v1
kind: Workload
metadata: {name: router}
spec: {interface: veth-r, ips: [10.0.0.1], allowedSourcePrefixes: ["::ffff:10.0.0.0/104", "::ffff:0:0/96", "::/0"]}
---
apiVersion: zeroseg.io/v1
kind: Workload
metadata: {name: plain}
spec: {interface: veth-p, ips: [10.0.0.2, "fd00::2"]}
)");
  std::vector<std::string> allowed, denied;
  for (const auto& p : ep("veth-r").allowed_sources) allowed.push_back(p.str());
  for (const auto& a : ep("veth-r").denied_sources) denied.push_back(a.str());
  EXPECT_EQ(allowed, (std::vector<std::string>{"0.0.0.0/0", "::/0"}));
  EXPECT_EQ(denied, (std::vector<std::string>{"10.0.0.2", "fd00::2"}));
  EXPECT_EQ(disjoint_prefixes({*Prefix::parse("::ffff:192.168.1.0/120")})[0].str(), "192.168.1.0/24");
  EXPECT_EQ(disjoint_prefixes({*Prefix::parse("::fffe:0:0/96")})[0].str(), "::fffe:0:0/96");
}

TEST(CompilePoliciesTest, MatchesAWholeCompileAfterRandomPolicyChanges) {
  std::mt19937 rng(20261129);
  const ObjectSet workloads = load_yaml(workloads_yaml(), "w.yaml");
  // slot i holds policy p<i>'s text; empty: deleted
  std::vector<std::string> texts;
  for (int n = 0; n < 8; n++) texts.push_back(random_policy(rng, n));
  // The state of texts, keeping the objects of policies whose text did not
  // change (as an apply does): those are what compile_policies reuses.
  auto state_of = [&](const ObjectSet& before) {
    std::map<std::string, SharedVector<Policy>::Ptr> by_doc;
    for (size_t i = 0; i < before.policies.size(); i++) by_doc[before.policies[i].meta.document.str()] = before.policies.ptr(i);
    ObjectSet s;
    s.workloads = workloads.workloads;
    s.namespaces = workloads.namespaces;
    for (const auto& t : texts) {
      if (t.empty()) continue;
      ObjectSet one = load_yaml(t, "p.yaml");
      auto it = by_doc.find(one.policies[0].meta.document.str());
      s.policies.push_back(it != by_doc.end() ? it->second : one.policies.ptr(0));
    }
    return s;
  };
  ObjectSet base = state_of(ObjectSet{});
  LocalIdentityAllocator ids;
  RuleIdAllocator rules;
  Compiled prev = PolicyCompiler(ids, rules).compile(base);

  int incremental = 0;
  for (int round = 0; round < 200; round++) {
    SCOPED_TRACE("round " + std::to_string(round));
    // one or two policies rewritten, deleted, or back
    for (int k = 0; k <= static_cast<int>(rng() % 2); k++) {
      size_t i = rng() % texts.size();
      texts[i] = rng() % 5 == 0 ? "" : random_policy(rng, static_cast<int>(i));
    }
    ObjectSet next = state_of(base);

    LocalIdentityAllocator ids_whole = ids, ids_inc = ids;
    RuleIdAllocator rules_whole = rules, rules_inc = rules;
    Compiled whole = PolicyCompiler(ids_whole, rules_whole).compile(next);
    std::optional<Compiled> inc = PolicyCompiler(ids_inc, rules_inc).compile_policies(next, base, prev);
    if (inc) {
      incremental++;
      ASSERT_EQ(inc->policy.size(), whole.policy.size());
      for (const auto& [k, e] : whole.policy) {
        auto it = inc->policy.find(k);
        ASSERT_NE(it, inc->policy.end());
        EXPECT_EQ(std::memcmp(&it->second, &e, sizeof(e)), 0)
            << "subject " << k.subject << " peer " << k.peer << " dir " << int(k.direction) << " proto " << int(k.proto)
            << " port " << k.port << "/" << int(k.port_plen) << ": allow " << it->second.allow_rule << " vs "
            << e.allow_rule << ", deny " << it->second.deny_rule << " vs " << e.deny_rule << ", exp "
            << it->second.allow_expires << " vs " << e.allow_expires;
      }
      ASSERT_EQ(inc->rules.size(), whole.rules.size());
      for (const auto& [id, info] : whole.rules) EXPECT_EQ(inc->rules.at(id).str(), info.str());
      EXPECT_EQ(*inc->selected_by, *whole.selected_by);
      EXPECT_EQ(*inc->modes, *whole.modes);
      EXPECT_EQ(inc->ipcache, whole.ipcache);
      EXPECT_EQ(rules_inc.to_json(), rules_whole.to_json());
      // every key that changed is among those it says it touched
      std::set<zs_policy_key, PolicyKeyLess> touched(inc->touched.begin(), inc->touched.end());
      for (const auto& [k, e] : whole.policy) {
        auto old = prev.policy.find(k);
        if (old == prev.policy.end() || std::memcmp(&old->second, &e, sizeof(e)) != 0) {
          EXPECT_TRUE(touched.count(k));
        }
      }
      for (const auto& [k, e] : prev.policy) {
        if (!whole.policy.count(k)) {
          EXPECT_TRUE(touched.count(k));
        }
      }
    }
    if (HasFailure()) return;
    base = next;
    ids = ids_whole;
    rules = rules_whole;
    prev = std::move(whole);
  }
  // most random changes keep every mode: the incremental path must have run
  EXPECT_GT(incremental, 50);
}

TEST(CompilePoliciesTest, FallsBackWhenWorkloadsChange) {
  ObjectSet a = load_yaml(workloads_yaml() + random_policy(*std::make_unique<std::mt19937>(1), 0), "a.yaml");
  LocalIdentityAllocator ids;
  RuleIdAllocator rules;
  Compiled prev = PolicyCompiler(ids, rules).compile(a);
  ObjectSet b = load_yaml(workloads_yaml() + random_policy(*std::make_unique<std::mt19937>(1), 0), "a.yaml");
  EXPECT_FALSE(PolicyCompiler(ids, rules).compile_policies(b, a, prev));  // other workload objects
  ObjectSet c = a;
  EXPECT_TRUE(PolicyCompiler(ids, rules).compile_policies(c, a, prev));  // the same objects
  c.quarantines.push_back(Quarantine{"ns/w1", {}, 0, std::nullopt, "operator"});
  EXPECT_FALSE(PolicyCompiler(ids, rules).compile_policies(c, a, prev));
}

TEST(RuleIdAllocatorTest, EveryKindOfKeyKeepsItsIdThroughJson) {
  // "PREFIX|N" keys are slots of a vector per prefix; others are whole
  const std::vector<std::string> keys = {"SegmentPolicy/a/p|ingress|0", "SegmentPolicy/a/p|ingress|12",
                                         "SegmentPolicy/a/p|egressDeny|3", "Quarantine|ingress", "x|07",
                                         "x|7", "x|", "|5", "nobar"};
  RuleIdAllocator a;
  std::map<std::string, uint32_t> ids;
  for (const auto& k : keys) ids[k] = a.allocate(k);
  std::set<uint32_t> distinct;
  for (const auto& [k, id] : ids) distinct.insert(id);
  EXPECT_EQ(distinct.size(), keys.size());
  EXPECT_EQ(a.to_json(), nlohmann::json(ids));

  RuleIdAllocator b;
  b.from_json(a.to_json());
  for (const auto& k : keys) EXPECT_EQ(b.allocate(k), ids[k]) << k;
  b.release("SegmentPolicy/a/p|ingress|12");
  b.release("x|07");
  b.release_unused({ids["SegmentPolicy/a/p|ingress|0"], ids["Quarantine|ingress"], ids["x|7"], ids["x|"],
                    ids["|5"], ids["nobar"]});
  ids.erase("SegmentPolicy/a/p|ingress|12");
  ids.erase("x|07");
  ids.erase("SegmentPolicy/a/p|egressDeny|3");
  EXPECT_EQ(b.to_json(), nlohmann::json(ids));
}

TEST(RuleIdAllocatorTest, ItsLogReplaysOntoTheFileItStartedFrom) {
  RuleIdAllocator a;
  for (int i = 0; i < 5; i++) a.allocate("P|ingress|" + std::to_string(i));
  a.allocate("Quarantine|egress");
  const nlohmann::json file = a.to_json();
  a.take_log();  // what the file holds
  a.release("P|ingress|1");
  a.allocate("P|ingress|9");  // takes 1's id
  a.release_unused({a.allocate("P|ingress|0"), a.allocate("P|ingress|9"), a.allocate("Quarantine|egress")});
  {
    RuleIdJournal dry(a);  // undone: not in the log either
    a.allocate("P|egress|0");
  }
  std::string log = a.take_log();
  EXPECT_EQ(a.take_log(), "");

  RuleIdAllocator b;
  b.from_json(file);
  b.apply_log(log);
  EXPECT_EQ(b.to_json(), a.to_json());
  EXPECT_EQ(b.allocate("new"), a.allocate("new"));  // the same ids free
  // replayed again (a crash between writing the file and removing the
  // log): the same state
  RuleIdAllocator c;
  c.from_json(a.to_json());
  c.apply_log(log);
  EXPECT_EQ(c.to_json(), a.to_json());
  EXPECT_THROW(c.apply_log("*3 x\n"), Error);
}

TEST(RuleIdJournalTest, UndoesAllocationsAndReleasesUnlessKept) {
  RuleIdAllocator a;
  uint32_t x = a.allocate("x"), y = a.allocate("y");
  nlohmann::json before = a.to_json();
  {
    RuleIdJournal j(a);
    a.allocate("z");
    a.release("x");
    a.release_unused({y});
    EXPECT_EQ(a.to_json().size(), 1u);
  }  // not kept: undone
  EXPECT_EQ(a.to_json(), before);
  EXPECT_EQ(a.allocate("x"), x);
  uint32_t w = 0;
  {
    RuleIdJournal j(a);
    a.release("x");
    w = a.allocate("w");  // takes the id x gave back
    j.keep();
  }
  EXPECT_EQ(w, x);
  EXPECT_EQ(a.allocate("x"), 3u);  // a new id: w holds x's old one
  EXPECT_EQ(a.allocate("y"), y);
}

}  // namespace
}  // namespace zeroseg
