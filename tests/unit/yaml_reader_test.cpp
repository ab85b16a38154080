// SPDX-License-Identifier: Apache-2.0
#include "policy/yaml_reader.h"

#include <gtest/gtest.h>

namespace zeroseg {
namespace {

std::string error_of(const std::string& yaml) {
  try {
    load_yaml(yaml, "f.yaml");
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

const char* kAllKinds = R"(apiVersion: v1
kind: Namespace
metadata:
  name: prod
  labels: {env: prod}
---
apiVersion: zeroseg.io/v1
kind: Workload
metadata: {name: web, namespace: prod, labels: {app: web}}
spec:
  interface: veth-web
  ips: [10.0.0.10, "fd00::10"]
  ports: [{name: http, port: 80}, {name: dns, port: 53, protocol: UDP}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-web, namespace: prod}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - from:
    - podSelector: {matchLabels: {app: lb}}
    ports: [{port: http}, {port: 8000, endPort: 8080}]
---
apiVersion: zeroseg.io/v1
kind: SegmentPolicy
metadata: {name: jit, namespace: prod}
spec:
  selector: {matchExpressions: [{key: app, operator: In, values: [web, api]}]}
  mode: audit
  ingress:
  - from: [{cidr: 10.9.0.0/16, except: [10.9.1.0/24]}, {entity: world}]
    ports: [{port: 22}]
    icmp: [{type: 8}, {type: 128, family: IPv6}]
    expires: "2030-01-01T00:00:00Z"
  egressDeny:
  - to: [{selector: {}, namespaceSelector: {matchLabels: {env: dev}}}]
)";

TEST(Loader, LoadsEveryKind) {
  ObjectSet s = load_yaml(kAllKinds, "f.yaml");
  ASSERT_EQ(s.namespaces.size(), 1u);
  EXPECT_EQ(s.namespaces[0].meta.labels.at("kubernetes.io/metadata.name"), "prod");
  ASSERT_EQ(s.workloads.size(), 1u);
  const Workload& w = s.workloads[0];
  EXPECT_EQ(w.meta.ns, "prod");
  EXPECT_EQ(w.ips.size(), 2u);
  EXPECT_EQ(w.ports[1].proto, 17);
  EXPECT_EQ(w.attach, ZS_ATTACH_WORKLOAD);
  ASSERT_EQ(s.policies.size(), 2u);
  const Policy& np = s.policies[0];
  EXPECT_EQ(np.kind, Policy::Kind::network_policy);
  EXPECT_TRUE(np.ingress);
  EXPECT_FALSE(np.egress);  // no egress rules: Ingress only
  ASSERT_EQ(np.allow_in.size(), 1u);
  EXPECT_EQ(np.allow_in[0].ports[0].named, "http");
  EXPECT_EQ(*np.allow_in[0].ports[1].end_port, 8080);
  EXPECT_EQ(np.allow_in[0].ports[1].proto, 6);  // TCP by default
  const Policy& sp = s.policies[1];
  EXPECT_TRUE(sp.audit);
  EXPECT_TRUE(sp.ingress);
  EXPECT_TRUE(sp.egress);  // egressDeny speaks of egress
  EXPECT_EQ(sp.allow_in[0].peers[0].cidr->except[0].str(), "10.9.1.0/24");
  EXPECT_EQ(*sp.allow_in[0].peers[1].entity, Entity::world);
  EXPECT_EQ(sp.allow_in[0].icmp[1].family, 6);
  EXPECT_TRUE(sp.allow_in[0].expires_ns.has_value());
  EXPECT_EQ(sp.allow_in[0].line, 32u);
}

TEST(Loader, AllowedSourcePrefixes) {
  auto set = load_yaml(R"(apiVersion: zeroseg.io/v1
kind: Workload
metadata: {name: router}
spec:
  interface: veth-r
  ips: [10.0.0.1]
  allowedSourcePrefixes: [192.168.0.0/16, "fd00:99::/64"]
)", "f.yaml");
  ASSERT_EQ(set.workloads.size(), 1u);
  const auto& w = set.workloads[0];
  ASSERT_EQ(w.allowed_source_prefixes.size(), 2u);
  EXPECT_EQ(w.allowed_source_prefixes[0].str(), "192.168.0.0/16");
  EXPECT_EQ(w.allowed_source_prefixes[1].str(), "fd00:99::/64");
  EXPECT_TRUE(load_yaml(kAllKinds, "f.yaml").workloads[0].allowed_source_prefixes.empty());
}

TEST(Loader, PolicyTypesDefaulting) {
  auto s = load_yaml(R"(apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: p}
spec:
  podSelector: {}
  egress: []
)", "f.yaml");
  EXPECT_TRUE(s.policies[0].ingress);
  EXPECT_FALSE(s.policies[0].egress);  // Kubernetes: Egress only for a non-empty egress list
  EXPECT_TRUE(s.policies[0].allow_out.empty());
  s = load_yaml(R"(apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: p}
spec:
  podSelector: {}
  egress: [{}]
)", "f.yaml");
  EXPECT_TRUE(s.policies[0].ingress);
  EXPECT_TRUE(s.policies[0].egress);
  s = load_yaml(R"(apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: p}
spec:
  podSelector: {}
  policyTypes: [Egress]
)", "f.yaml");
  EXPECT_FALSE(s.policies[0].ingress);
  EXPECT_TRUE(s.policies[0].egress);
  // given policyTypes win over the lists
  s = load_yaml(R"(apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: p}
spec:
  podSelector: {}
  policyTypes: [Ingress, Egress]
  egress: []
)", "f.yaml");
  EXPECT_TRUE(s.policies[0].ingress);
  EXPECT_TRUE(s.policies[0].egress);
  s = load_yaml(R"(apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: p}
spec:
  podSelector: {}
  policyTypes: [Ingress]
  egress: [{}]
)", "f.yaml");
  EXPECT_TRUE(s.policies[0].ingress);
  EXPECT_FALSE(s.policies[0].egress);
  // an empty policyTypes list defaults like an absent one (the API server
  // defaults on len(policyTypes) == 0); it was read as a policy of no
  // direction, selecting nothing (found by e2e.netpol_differential)
  s = load_yaml(R"(apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: p}
spec:
  podSelector: {}
  policyTypes: []
  egress: [{}]
)", "f.yaml");
  EXPECT_TRUE(s.policies[0].ingress);
  EXPECT_TRUE(s.policies[0].egress);
  s = load_yaml(R"(apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: p}
spec:
  podSelector: {}
  policyTypes: []
  egress: []
)", "f.yaml");
  EXPECT_TRUE(s.policies[0].ingress);
  EXPECT_FALSE(s.policies[0].egress);
}

// A port is a number 1..65535 or a name (IANA_SVC_NAME): -1 is neither,
// and was read as a port named "-1".
TEST(Loader, PortsOutOfRangeOrBadlyNamedAreRefused) {
  auto np = [](const std::string& port) {
    return "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: a}\nspec:\n  podSelector: {}\n"
           "  egress:\n  - ports: [{port: " + port + "}]\n";
  };
  EXPECT_EQ(error_of(np("-1")), "f.yaml:7:20: NetworkPolicy.spec.egress[].ports[].port -1 is out of range 1..65535");
  EXPECT_EQ(error_of(np("0")), "f.yaml:7:20: NetworkPolicy.spec.egress[].ports[].port 0 is out of range 1..65535");
  EXPECT_EQ(error_of(np("65536")),
            "f.yaml:7:20: NetworkPolicy.spec.egress[].ports[].port 65536 is out of range 1..65535");
  const std::string not_a_name =
      "\" is neither a number (1..65535) nor a port name (up to 15 of a-z, 0-9 and '-', with a letter, no '-' at "
      "an end or twice in a row)";
  for (std::string bad : {"Http", "web_80", "-http", "http-", "we--b", "a-very-long-name-x", "+80", "1.5"})
    EXPECT_EQ(error_of(np(bad)), "f.yaml:7:20: NetworkPolicy.spec.egress[].ports[].port \"" + bad + not_a_name);
  for (std::string good : {"http", "serve-80-tcp", "h2", "a-very-long-nam"})
    EXPECT_EQ(load_yaml(np(good), "f.yaml").policies[0].allow_out[0].ports[0].named, good);
  EXPECT_EQ(error_of("apiVersion: zeroseg.io/v1\nkind: SegmentPolicy\nmetadata: {name: a}\nspec:\n  selector: {}\n"
                     "  ingress:\n  - ports: [{port: -1}]\n"),
            "f.yaml:7:20: SegmentPolicy.spec.ingress[].ports[].port -1 is out of range 1..65535");
}

struct BadCase {
  const char* yaml;
  const char* error;
};

TEST(Loader, ErrorsNameFileLineColumnAndField) {
  const BadCase cases[] = {
      {"apiVersion: zeroseg.io/v1\nkind: Workload\nmetadata: {name: a}\nspec:\n  colour: red\n",
       "f.yaml:5:3: unknown field \"colour\" in Workload.spec"},
      {"apiVersion: zeroseg.io/v1\nkind: Gadget\nmetadata: {name: a}\n",
       "f.yaml:2:7: unknown kind \"Gadget\" in apiVersion \"zeroseg.io/v1\" (known: zeroseg.io/v1 Workload, "
       "SegmentPolicy; v1 Namespace; networking.k8s.io/v1 NetworkPolicy; v1 List of them)"},
      {"apiVersion: zeroseg.io/v1\nkind: Workload\nmetadata: {name: a}\nspec:\n  ips: [10.0.0.300]\n",
       "f.yaml:5:9: Workload.spec.ips: \"10.0.0.300\" is not an IP address"},
      {"apiVersion: zeroseg.io/v1\nkind: SegmentPolicy\nmetadata: {name: a}\nspec:\n  selector: {}\n  ingress:\n"
       "  - from: [{cidr: 10.0.0.0/33}]\n",
       "f.yaml:7:19: SegmentPolicy.spec.ingress[].from[].cidr \"10.0.0.0/33\" is not a valid CIDR"},
      {"apiVersion: zeroseg.io/v1\nkind: SegmentPolicy\nmetadata: {name: a}\nspec:\n  selector: {}\n  ingress:\n"
       "  - ports: [{port: 70000}]\n",
       "f.yaml:7:20: SegmentPolicy.spec.ingress[].ports[].port 70000 is out of range 1..65535"},
      {"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: a}\nspec:\n  podSelector: {}\n"
       "  ingress:\n  - ports: [{port: 90, endPort: 80}]\n",
       "f.yaml:7:33: NetworkPolicy.spec.ingress[].ports[].endPort 80 is below port 90"},
      {"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: a}\nspec:\n  podSelector: {}\n"
       "  ingress:\n  - from: [{ipBlock: {cidr: 10.0.0.0/16, except: [10.1.0.0/24]}}]\n",
       "f.yaml:7:51: NetworkPolicy.spec.ingress[].from[].ipBlock.except 10.1.0.0/24 is not inside 10.0.0.0/16"},
      {"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: a}\nspec:\n  podSelector:\n"
       "    matchExpressions: [{key: app, operator: Near, values: [x]}]\n",
       "f.yaml:6:45: NetworkPolicy.spec.podSelector.matchExpressions[].operator must be In, NotIn, Exists or "
       "DoesNotExist, not \"Near\""},
      {"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: a}\nspec:\n  podSelector:\n"
       "    matchExpressions: [{key: app, operator: In}]\n",
       "f.yaml:6:24: NetworkPolicy.spec.podSelector.matchExpressions[]: operator In needs values"},
      {"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: a}\nspec:\n  podSelector:\n"
       "    matchLabels: {\"bad key!\": x}\n",
       "f.yaml:6:19: NetworkPolicy.spec.podSelector.matchLabels: label key name must start and end with a "
       "letter or digit (\"bad key!\")"},
      {"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n  labels: {\"te am\": x}\n",
       "f.yaml:5:12: Namespace.metadata.labels: label key name may hold only letters, digits, '-', '_' and '.' "
       "(\"te am\")"},
      {"apiVersion: zeroseg.io/v1\nkind: Workload\nmetadata: {name: a}\nspec: {attach: router}\n",
       "f.yaml:4:16: Workload.spec.attach must be workload or host, not \"router\""},
      {"apiVersion: zeroseg.io/v1\nkind: SegmentPolicy\nmetadata: {name: a}\nspec:\n  selector: {}\n"
       "  ingress: [{expires: tomorrow}]\n",
       "f.yaml:6:23: SegmentPolicy.spec.ingress[].expires \"tomorrow\" is not an RFC 3339 time (e.g. "
       "2026-11-28T18:00:00Z)"},
      {"apiVersion: zeroseg.io/v1\nkind: Workload\nmetadata: {name: a}\nspec:\n"
       "  allowedSourcePrefixes: [10.0.0.0/8, 10.1.0.0/33]\n",
       "f.yaml:5:39: Workload.spec.allowedSourcePrefixes[] \"10.1.0.0/33\" is not a valid CIDR"},
      {"apiVersion: zeroseg.io/v1\nkind: Workload\nmetadata: {name: a}\nspec:\n"
       "  allowedSourcePrefixes: [10.0.0.1]\n",
       "f.yaml:5:27: Workload.spec.allowedSourcePrefixes[] \"10.0.0.1\" is not a CIDR (address/length)"},
      {"apiVersion: zeroseg.io/v1\nkind: Workload\nmetadata: {name: a}\nspec:\n  allowedSourcePrefixes: 10.0.0.0/8\n",
       "f.yaml:5:26: Workload.spec.allowedSourcePrefixes must be a list"},
      {"apiVersion: zeroseg.io/v1\nkind: Workload\nmetadata: {name: a}\nspec:\n  ips: [\"fe80::1\"]\n",
       "f.yaml:5:9: Workload.spec.ips: \"fe80::1\" is link-local (fe80::/10: any workload may send from it)"},
      {"apiVersion: zeroseg.io/v1\nkind: Workload\nmetadata: {name: a}\nspec:\n  ips: [0.0.0.0]\n",
       "f.yaml:5:9: Workload.spec.ips: \"0.0.0.0\" is unspecified"},
      {"kind: Workload\n", "f.yaml:1:1: the document needs \"apiVersion\""},
      {"apiVersion: v1\nkind: Namespace\nmetadata: {name: a\n", "f.yaml:4:1: end of map flow not found"},
  };
  for (const auto& c : cases) EXPECT_EQ(error_of(c.yaml), c.error) << c.yaml;
}

}  // namespace
}  // namespace zeroseg

namespace zeroseg {
namespace {

// Rules name the same few peers and ports over and over: one load keeps
// equal lists once (SharedList), and lists that differ in any field apart.
TEST(Loader, EqualPeerAndPortListsOfOneLoadAreShared) {
  std::string yaml = "apiVersion: zeroseg.io/v1\nkind: SegmentPolicy\nmetadata: {name: a}\nspec:\n"
                     "  selector: {}\n  ingress:\n";
  const char* rules[] = {
      "[{selector: {matchLabels: {app: x}}}], ports: [{port: 80}]",              // 0
      "[{selector: {matchLabels: {app: x}}}], ports: [{port: 80}]",              // 1: as 0
      "[{selector: {matchLabels: {app: y}}}], ports: [{port: 80, protocol: UDP}]",  // 2: neither
      "[{cidr: 10.0.0.0/8, except: [10.1.0.0/16]}], ports: [{port: 80, endPort: 90}]",  // 3
      "[{cidr: 10.0.0.0/8, except: [10.2.0.0/16]}], ports: [{port: 80, endPort: 90}]",  // 4: ports as 3
      "[{selector: {matchLabels: {app: x}}, namespaceSelector: {}}], icmp: [{type: 8}]",  // 5
  };
  for (const char* r : rules) yaml += std::string("  - {from: ") + r + "}\n";
  yaml += "---\napiVersion: zeroseg.io/v1\nkind: SegmentPolicy\nmetadata: {name: b}\nspec:\n  selector: {}\n"
          "  egress:\n  - {to: [{selector: {matchLabels: {app: x}}}], ports: [{port: 80}], icmp: [{type: 8}]}\n";
  ObjectSet set = load_yaml(yaml, "f.yaml");
  const auto& in = set.policies[0].allow_in;
  const auto& out = set.policies[1].allow_out[0];
  ASSERT_EQ(in.size(), 6u);
  EXPECT_TRUE(in[0].peers.shares(in[1].peers));
  EXPECT_TRUE(in[0].ports.shares(in[1].ports));
  EXPECT_TRUE(in[0].peers.shares(out.peers));  // across documents of the load
  EXPECT_TRUE(in[5].icmp.shares(out.icmp));
  EXPECT_FALSE(in[0].peers.shares(in[2].peers));
  EXPECT_FALSE(in[0].ports.shares(in[2].ports));
  EXPECT_FALSE(in[3].peers.shares(in[4].peers));
  EXPECT_TRUE(in[3].ports.shares(in[4].ports));
  EXPECT_FALSE(in[0].peers.shares(in[5].peers));
  EXPECT_EQ(in[4].peers[0].cidr->except[0].str(), "10.2.0.0/16");
  EXPECT_EQ(in[2].ports[0].proto, 17);
  EXPECT_EQ(in[0].line, 7u);
  EXPECT_EQ(in[5].line, 12u);
}

// A key twice in one map is refused where it is repeated: which one wins
// differs between parsers, so a policy reviewed with one tool (PyYAML takes
// the last) could be enforced as another (this loader read the first).
TEST(Loader, AKeyTwiceInOneMapIsRefused) {
  EXPECT_EQ(error_of("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n  name: b\n"),
            "f.yaml:5:3: duplicate key \"name\": a key may appear once in a map");
  // quoted or not, the same key; in a flow map too; in a later document,
  // its own line
  EXPECT_EQ(error_of("apiVersion: v1\nkind: Namespace\nmetadata: {name: a, \"name\": b}\n"),
            "f.yaml:3:21: duplicate key \"name\": a key may appear once in a map");
  EXPECT_EQ(error_of("apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\napiVersion: v1\n"
                     "apiVersion: v1\nkind: Namespace\nmetadata: {name: b}\n"),
            "f.yaml:6:1: duplicate key \"apiVersion\": a key may appear once in a map");
  // an allow rule's ports given twice: the second would have been ignored
  const std::string policy = R"(apiVersion: zeroseg.io/v1
kind: SegmentPolicy
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  ingress:
    - from: [{selector: {matchLabels: {app: lb}}}]
      ports: [{port: 443}]
      ports: [{port: 22}]
)";
  EXPECT_EQ(error_of(policy), "f.yaml:9:7: duplicate key \"ports\": a key may appear once in a map");
  // the same key in two maps is no duplicate
  EXPECT_EQ(error_of("apiVersion: v1\nkind: Namespace\nmetadata: {name: a, labels: {name: x}}\n"), "(no error)");
}

TEST(Loader, AliasesAndDeepNestingAreRefused) {
  EXPECT_EQ(error_of("apiVersion: v1\nkind: Namespace\nmetadata: &m {name: a, labels: *m}\n"),
            "f.yaml:3:11: YAML aliases (*name) are not supported");
  std::string deep = "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\nspec: ";
  for (int i = 0; i < 70; i++) deep += "[";
  for (int i = 0; i < 70; i++) deep += "]";
  EXPECT_NE(error_of(deep).find("nests deeper than 64 levels"), std::string::npos);
}

}  // namespace
}  // namespace zeroseg

namespace zeroseg {
namespace {

TEST(Loader, ControlCharactersAreRefusedBeforeParsing) {
  // this input (from the fuzzer) made yaml-cpp 0.7 spin forever
  std::string nul = ", A plainPolicy, pi$in\n# namespace \"shop \"taks labelled";
  nul += '\0';
  nul += "env=p";
  EXPECT_EQ(error_of(nul), "f.yaml:2:33: control character 0x00 is not allowed in YAML");
}

}  // namespace
}  // namespace zeroseg

namespace zeroseg {
namespace {

TEST(Loader, InvalidUtf8IsRefusedBeforeParsing) {
  EXPECT_EQ(error_of("apiVersion: v1\nkind: \xad\x9a\x98Namespace\n"), "f.yaml:2:7: invalid UTF-8");
  EXPECT_EQ(error_of("apiVersion: v1\nkind: Namespace\nmetadata: {name: caf\xc3"), "f.yaml:3:21: invalid UTF-8");
  // valid UTF-8 passes this check (and fails later for its own reasons)
  EXPECT_EQ(error_of("apiVersion: v1\nkind: Namespace\nmetadata: {name: caf\xc3\xa9}\n"),
            "f.yaml:3:18: Namespace.metadata.name \"caf\xc3\xa9\" is not a valid name");
}

}  // namespace
}  // namespace zeroseg
