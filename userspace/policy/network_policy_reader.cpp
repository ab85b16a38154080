// SPDX-License-Identifier: Apache-2.0
// Kubernetes NetworkPolicy (networking.k8s.io/v1), with its own defaults.
#include "policy/document_reader.h"

namespace zeroseg::reading {

namespace {

// Kubernetes' IANA_SVC_NAME: 1 to 15 of a-z, 0-9 and '-', at least one
// letter, no '-' at either end nor two in a row.
bool is_port_name(const std::string& s) {
  if (s.empty() || s.size() > 15 || s.front() == '-' || s.back() == '-' || s.find("--") != std::string::npos)
    return false;
  bool letter = false;
  for (char c : s) {
    if (c >= 'a' && c <= 'z') letter = true;
    else if (!(c >= '0' && c <= '9') && c != '-') return false;
  }
  return letter;
}

}  // namespace

std::vector<PortSpec> k8s_ports(const Reader& r, const yaml::Node& n, const std::string& what) {
  std::vector<PortSpec> out;
  for (const auto& p : r.seq(n, what)) {
    r.map(p, what + "[]", {"port", "endPort", "protocol"});
    PortSpec ps;
    if (p["protocol"]) ps.proto = r.protocol(p["protocol"], what + "[].protocol");
    if (yaml::Node port = p["port"]) {
      std::string s = r.str(port, what + "[].port");
      // a number, signed too: -1 is out of range, not a name
      auto digit = [](char c) { return c >= '0' && c <= '9'; };
      bool number = s.size() > 1 && s[0] == '-' ? std::all_of(s.begin() + 1, s.end(), digit) : r.is_integer(port);
      if (number) {
        ps.port = static_cast<uint16_t>(r.integer(port, what + "[].port", 1, 65535));
      } else if (is_port_name(s)) {
        ps.named = s;
      } else {
        r.fail(port, what + "[].port \"" + s + "\" is neither a number (1..65535) nor a port name (up to 15 of " +
                         "a-z, 0-9 and '-', with a letter, no '-' at an end or twice in a row)");
      }
    }
    if (yaml::Node end = p["endPort"]) {
      if (!ps.port) r.fail(end, what + "[].endPort needs a numeric port");
      ps.end_port = static_cast<uint16_t>(r.integer(end, what + "[].endPort", 1, 65535));
      if (*ps.end_port < *ps.port)
        r.fail(end, what + "[].endPort " + std::to_string(*ps.end_port) + " is below port " + std::to_string(*ps.port));
    }
    out.push_back(ps);
  }
  return out;
}

namespace {

Peer k8s_peer(const Reader& r, const yaml::Node& n, const std::string& what) {
  r.map(n, what, {"podSelector", "namespaceSelector", "ipBlock"});
  Peer p;
  if (n["podSelector"]) p.pods = r.peer_selector(n["podSelector"], what + ".podSelector");
  if (n["namespaceSelector"]) p.namespaces = r.peer_selector(n["namespaceSelector"], what + ".namespaceSelector");
  if (yaml::Node ib = n["ipBlock"]) {
    if (p.pods || p.namespaces) r.fail(ib, what + ": ipBlock cannot be combined with selectors");
    r.map(ib, what + ".ipBlock", {"cidr", "except"});
    if (!ib["cidr"]) r.fail(ib, what + ".ipBlock needs \"cidr\"");
    p.cidr = r.cidr(ib["cidr"], ib["except"], what + ".ipBlock");
  }
  if (!p.pods && !p.namespaces && !p.cidr) r.fail(n, what + " needs podSelector, namespaceSelector or ipBlock");
  return p;
}

std::vector<Rule> k8s_rules(const Reader& r, const yaml::Node& n, const std::string& what, const char* peers_key) {
  std::vector<Rule> out;
  out.reserve(r.seq(n, what).size());  // kept as long as the policy is: no growth slack
  for (const auto& rn : r.seq(n, what)) {
    r.map(rn, what + "[]", {peers_key, "ports"});
    Rule rule;
    r.place(rule, rn);
    if (yaml::Node peers = rn[peers_key]) {
      std::vector<Peer> list;
      for (const auto& p : r.seq(peers, what + "[]." + peers_key))
        list.push_back(k8s_peer(r, p, what + "[]." + peers_key + "[]"));
      rule.peers = r.share(std::move(list));
      rule.any_peer = rule.peers.empty();
    }
    if (yaml::Node ports = rn["ports"]) {
      rule.ports = r.share(k8s_ports(r, ports, what + "[].ports"));
      rule.any_port = rule.ports.empty();
    }
    out.push_back(std::move(rule));
  }
  return out;
}

}  // namespace

Policy network_policy(const Reader& r, const yaml::Node& doc) {
  Policy p;
  p.kind = Policy::Kind::network_policy;
  p.meta = meta(r, doc, "NetworkPolicy", true);
  yaml::Node spec = doc["spec"];
  if (!spec) r.fail(doc, "NetworkPolicy needs spec");
  r.map(spec, "NetworkPolicy.spec", {"podSelector", "policyTypes", "ingress", "egress"});
  if (!spec["podSelector"]) r.fail(spec, "NetworkPolicy.spec needs \"podSelector\" ({} selects every pod)");
  p.selector = r.selector(spec["podSelector"], "NetworkPolicy.spec.podSelector");
  if (spec["ingress"]) p.allow_in = k8s_rules(r, spec["ingress"], "NetworkPolicy.spec.ingress", "from");
  if (spec["egress"]) p.allow_out = k8s_rules(r, spec["egress"], "NetworkPolicy.spec.egress", "to");
  bool typed = false;
  if (yaml::Node types = spec["policyTypes"]) {
    for (const auto& t : r.seq(types, "NetworkPolicy.spec.policyTypes")) {
      std::string s = r.str(t, "NetworkPolicy.spec.policyTypes[]");
      if (s == "Ingress") p.ingress = true;
      else if (s == "Egress") p.egress = true;
      else r.fail(t, "NetworkPolicy.spec.policyTypes: \"" + s + "\" is not Ingress or Egress");
      typed = true;
    }
  }
  if (!typed) {
    // Kubernetes defaults an absent or empty policyTypes (len == 0): Ingress
    // always, Egress when egress rules are given (an empty list gives none:
    // `egress: []` makes no egress policy)
    p.ingress = true;
    p.egress = !p.allow_out.empty();
  }
  return p;
}

}  // namespace zeroseg::reading
