// SPDX-License-Identifier: Apache-2.0
// blocked-dependency: one source denied the same target (host, protocol,
// port) again and again. A scanner tries many targets once or twice; a
// workload whose dependency the policy does not allow retries the same few
// for as long as it runs: the most common thing an enforcement rollout
// produces, and a misconfiguration, not an attack. So: low severity, no
// ATT&CK id, and the change that would allow it (or, for an explicit deny
// rule, which rule stands in the way).
#include <arpa/inet.h>
#include <zeroseg/proto.h>
#include <zeroseg/verdict.h>

#include <nlohmann/json.hpp>
#include <cctype>
#include <tuple>

#include "abi/names.h"
#include "detect/detector_state.h"

namespace zeroseg {
namespace {

struct Key {
  IpAddr src, dst;
  uint8_t proto;
  uint16_t port;
  bool operator==(const Key& o) const { return std::tie(src, dst, proto, port) == std::tie(o.src, o.dst, o.proto, o.port); }
};
struct KeyHash {
  size_t operator()(const Key& k) const {
    return IpAddrHash()(k.src) * 31 + IpAddrHash()(k.dst) * 7 + (size_t{k.proto} << 16 | k.port);
  }
};

// A JSON string is a YAML flow scalar: quoting done right for free.
std::string q(const std::string& s) { return nlohmann::json(s).dump(); }

// A workload identity's namespace and its own labels as a matchLabels
// body ("" namespace: no workload identity: a CIDR or world).
std::pair<std::string, std::string> workload_labels(const FlowCatalog& names, uint32_t identity) {
  std::string ns, labels;
  auto j = nlohmann::json::parse(names.identity(identity).labels_json, nullptr, false);
  if (j.is_object())
    for (const auto& [k, v] : j.items()) {
      if (!v.is_string()) continue;
      if (k == "zeroseg.io/namespace")
        ns = v.get<std::string>();
      else if (k.rfind("ns:", 0) != 0 && k.rfind("zeroseg.io/", 0) != 0)
        labels += (labels.empty() ? "" : ", ") + q(k) + ": " + q(v.get<std::string>());
    }
  return {ns, "{matchLabels: {" + labels + "}}"};
}

// A rule's peer: the workload's selector (and namespace if not own_ns), or
// the address as a /32 (/128).
std::string peer_yaml(const FlowCatalog& names, uint32_t identity, const IpAddr& ip, const std::string& own_ns) {
  auto [ns, selector] = workload_labels(names, identity);
  if (ns.empty()) return "{cidr: " + q(Prefix::host(ip).str()) + "}";
  std::string p = "{selector: " + selector;
  if (ns != own_ns) p += ", namespaceSelector: {matchLabels: {" + q("kubernetes.io/metadata.name") + ": " + q(ns) + "}}";
  return p + "}";
}

std::string ports_yaml(const Attempt& a) {
  if (zs_has_ports(a.proto))
    return "[{port: " + std::to_string(a.port) +
           (a.proto == ZS_PROTO_UDP ? ", protocol: UDP" : a.proto == ZS_PROTO_SCTP ? ", protocol: SCTP" : "") + "}]";
  return "";
}

// What would let it through: for a default deny, a SegmentPolicy for the
// end that denied it (the subject) admitting the other end; for an
// explicit deny rule, that rule (deny beats allow: no allow can help).
std::string suggestion(const Attempt& a, const FlowCatalog& names) {
  if (a.reason != ZS_REASON_DEFAULT_DENY) {
    const FlowCatalog::Rule* rule = names.rule(a.rule_id);
    return std::string("denied by ") + (rule ? rule->name.text : reason_name(a.reason)) +
           ": deny rules beat allow rules, so that rule must change";
  }
  uint32_t subject = a.ingress() ? a.dst_identity : a.src_identity, peer = a.ingress() ? a.src_identity : a.dst_identity;
  const IpAddr& peer_ip = a.ingress() ? a.src : a.dst;
  auto [ns, selector] = workload_labels(names, subject);
  if (ns.empty()) return "";  // the subject is no workload here: nothing to select
  std::string ports = ports_yaml(a);
  std::string icmp = zs_is_icmp(a.proto) ? "\n    icmp: [{type: " + std::to_string(a.proto == ZS_PROTO_ICMPV6 ? 128 : 8) +
                                               (a.proto == ZS_PROTO_ICMPV6 ? ", family: IPv6" : "") + "}]"
                                         : "";
  // subject, peer, port and protocol in the name: two suggestions never
  // replace each other when both are applied
  std::string name = "allow-" + names.identity(subject).name.text + (a.ingress() ? "-from-" : "-to-") +
                     host_label(names, peer_ip) + (zs_has_ports(a.proto) ? "-" + std::to_string(a.port) : "") + "-" +
                     proto_name(a.proto);
  for (char& c : name)  // an object name: lower case, digits and '-'
    c = std::isalnum(static_cast<unsigned char>(c)) ? static_cast<char>(std::tolower(static_cast<unsigned char>(c))) : '-';
  return "apiVersion: zeroseg.io/v1\nkind: SegmentPolicy\nmetadata: {name: " + name + ", namespace: " + ns +
         "}\nspec:\n  selector: " + selector + "\n  " + (a.ingress() ? "ingress" : "egress") + ":\n  - " +
         (a.ingress() ? "from" : "to") + ": [" + peer_yaml(names, peer, peer_ip, ns) + "]" +
         (ports.empty() ? "" : "\n    ports: " + ports) + icmp + "\n";
}

class BlockedDependency : public Detector {
 public:
  explicit BlockedDependency(const DetectionConfig& c) : c_(c), state_(c.state_keys) {}
  const char* name() const override { return "blocked-dependency"; }
  void observe(const Attempt& a, const FlowCatalog& names, std::vector<Alert>& out) override {
    // only what policy denied: a conntrack-limit refusal is a flood, a
    // spoofed or malformed packet no dependency a policy could allow
    if (!a.denied || (a.reason != ZS_REASON_POLICY_DENY && a.reason != ZS_REASON_DEFAULT_DENY)) return;
    State& s = state_.touch({a.src, a.dst, a.proto, a.port}, a.time_ns);
    s.last = a.time_ns;
    s.keep(a);
    s.times.push_back(a.time_ns);
    while (!s.times.empty() && (a.time_ns - s.times.front() > c_.blocked_dependency_window_ns ||
                                s.times.size() > c_.blocked_dependency_repeats))
      s.times.pop_front();
    if (s.times.size() < c_.blocked_dependency_repeats) return;
    Alert al = make_alert(name(), "low", {}, s, names);
    std::string target = host_label(names, a.dst) + (zs_has_ports(a.proto) ? ":" + std::to_string(a.port) : "");
    al.targets = {target};
    al.about = target + "/" + proto_name(a.proto);
    al.summary = names.party(a.src, a.src_identity).text + " keeps trying " + target + " " + proto_name(a.proto) +
                 ": " + std::to_string(s.times.size()) + " denied attempts within " +
                 std::to_string(c_.blocked_dependency_window_ns / 1'000'000'000) + " s (" + reason_name(a.reason) +
                 " at the " + (a.ingress() ? "destination" : "source") +
                 "): a dependency the policy blocks, not a scan";
    al.suggestion = suggestion(a, names);
    out.push_back(std::move(al));
    s.times.clear();
  }
  void expire(int64_t before) override { state_.expire(before); }
  size_t keys() const override { return state_.size(); }

 private:
  struct State : Trail {
    std::deque<int64_t> times;
  };
  DetectionConfig c_;
  RecentMap<Key, State, KeyHash> state_;
};

}  // namespace

std::unique_ptr<Detector> make_blocked_dependency(const DetectionConfig& c) {
  return std::make_unique<BlockedDependency>(c);
}

}  // namespace zeroseg
