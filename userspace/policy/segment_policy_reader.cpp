// SPDX-License-Identifier: Apache-2.0
// zeroseg's SegmentPolicy (zeroseg.io/v1).
#include "policy/document_reader.h"

namespace zeroseg::reading {
namespace {

Peer segment_peer(const Reader& r, const yaml::Node& n, const std::string& what) {
  r.map(n, what, {"selector", "namespaceSelector", "cidr", "except", "entity"});
  Peer p;
  if (n["selector"]) p.pods = r.peer_selector(n["selector"], what + ".selector");
  if (n["namespaceSelector"]) p.namespaces = r.peer_selector(n["namespaceSelector"], what + ".namespaceSelector");
  if (n["cidr"]) p.cidr = r.cidr(n["cidr"], n["except"], what);
  else if (n["except"]) r.fail(n["except"], what + ".except needs a cidr");
  if (yaml::Node e = n["entity"]) {
    std::string s = r.str(e, what + ".entity");
    if (s == "host") p.entity = Entity::host;
    else if (s == "world") p.entity = Entity::world;
    else if (s == "all") p.entity = Entity::all;
    else r.fail(e, what + ".entity must be host, world or all, not \"" + s + "\"");
  }
  int kinds = (p.pods || p.namespaces) + static_cast<bool>(p.cidr) + static_cast<bool>(p.entity);
  if (kinds == 0) r.fail(n, what + " needs selector, namespaceSelector, cidr or entity");
  if (kinds > 1) r.fail(n, what + ": use one of selectors, cidr or entity per peer");
  return p;
}

// `untracked: true` (include/zeroseg/untracked.h): an ingressDeny rule by
// source CIDRs alone, the prefilter's form, or an error naming the field.
// deny_in: the rule is one of ingressDeny's.
void untracked_rule(const Reader& r, const yaml::Node& rn, const yaml::Node& u, const std::string& what, bool deny_in,
                    Rule& rule) {
  const std::string field = what + "[].untracked";
  std::string v = r.str(u, field);
  if (v == "false") return;
  if (v != "true") r.fail(u, field + " must be true or false, not \"" + v + "\"");
  if (!deny_in)
    r.fail(u, field + ": untracked is for ingressDeny rules only (a source dropped before conntrack)");
  if (rule.peers.empty())
    r.fail(u, field + " needs \"from\" with cidr peers: an untracked deny of every source would cut the node off");
  for (const auto& p : rule.peers) {
    if (!p.cidr) r.fail(rn["from"], field + ": an untracked rule's peers are cidr only (no selector or entity)");
    const auto& b = p.cidr->cidr.addr.bytes;
    if (p.cidr->cidr.addr.family == 6 && p.cidr->cidr.len >= 96 &&
        std::all_of(b.begin(), b.begin() + 10, [](uint8_t x) { return !x; }) && b[10] == 0xff && b[11] == 0xff)
      r.fail(rn["from"], field + ": " + p.cidr->cidr.str() +
                             " is IPv4-mapped: write the IPv4 cidr (it holds the ::ffff: sources too)");
    if (p.cidr->cidr.len == 0)
      r.fail(rn["from"], field + ": an untracked deny of " + p.cidr->cidr.str() +
                             " would cut the node off (replies too); deny it tracked instead");
  }
  if (!rule.ports.empty() || !rule.icmp.empty())
    r.fail(rn[rule.ports.empty() ? "icmp" : "ports"],
           field + ": an untracked rule denies every packet from its cidrs (no ports or icmp)");
  if (rule.expires_ns) r.fail(rn["expires"], field + ": an untracked rule cannot expire");
  rule.untracked = true;
}

std::vector<Rule> segment_rules(const Reader& r, const yaml::Node& n, const std::string& what,
                                const char* peers_key, bool deny_in = false) {
  std::vector<Rule> out;
  out.reserve(r.seq(n, what).size());  // kept as long as the policy is: no growth slack
  for (const auto& rn : r.seq(n, what)) {
    r.map(rn, what + "[]", {peers_key, "ports", "icmp", "expires", "untracked"});
    Rule rule;
    r.place(rule, rn);
    if (yaml::Node peers = rn[peers_key]) {
      std::vector<Peer> list;
      for (const auto& p : r.seq(peers, what + "[]." + peers_key))
        list.push_back(segment_peer(r, p, what + "[]." + peers_key + "[]"));
      rule.peers = r.share(std::move(list));
      rule.any_peer = rule.peers.empty();
    }
    if (yaml::Node ports = rn["ports"]) {
      std::vector<PortSpec> list = k8s_ports(r, ports, what + "[].ports");
      for (size_t i = 0; i < list.size(); i++)
        if (!list[i].named.empty()) r.fail(ports[i]["port"], what + "[].ports: named ports are for NetworkPolicy; give a number");
      rule.ports = r.share(std::move(list));
    }
    if (yaml::Node icmp = rn["icmp"]) {
      std::vector<IcmpSpec> list;
      for (const auto& ic : r.seq(icmp, what + "[].icmp")) {
        r.map(ic, what + "[].icmp[]", {"type", "code", "family"});
        IcmpSpec s;
        if (!ic["type"]) r.fail(ic, what + "[].icmp[] needs \"type\"");
        s.type = static_cast<uint8_t>(r.integer(ic["type"], what + "[].icmp[].type", 0, 255));
        if (ic["code"]) s.code = static_cast<uint8_t>(r.integer(ic["code"], what + "[].icmp[].code", 0, 255));
        if (yaml::Node f = ic["family"]) {
          std::string fam = r.str(f, what + "[].icmp[].family");
          if (fam == "IPv6") s.family = ZS_FAMILY_IPV6;
          else if (fam != "IPv4") r.fail(f, what + "[].icmp[].family must be IPv4 or IPv6");
        }
        list.push_back(s);
      }
      rule.icmp = r.share(std::move(list));
    }
    rule.any_port = rule.ports.empty() && rule.icmp.empty();
    if (rn["expires"]) rule.expires_ns = r.expires(rn["expires"], what + "[].expires");
    if (yaml::Node u = rn["untracked"]) untracked_rule(r, rn, u, what, deny_in, rule);
    out.push_back(std::move(rule));
  }
  return out;
}

}  // namespace

Policy segment_policy(const Reader& r, const yaml::Node& doc) {
  Policy p;
  p.kind = Policy::Kind::segment_policy;
  p.meta = meta(r, doc, "SegmentPolicy", true);
  yaml::Node spec = doc["spec"];
  if (!spec) r.fail(doc, "SegmentPolicy needs spec");
  r.map(spec, "SegmentPolicy.spec", {"selector", "mode", "ingress", "egress", "ingressDeny", "egressDeny"});
  if (!spec["selector"]) r.fail(spec, "SegmentPolicy.spec needs \"selector\" ({} selects every workload)");
  p.selector = r.selector(spec["selector"], "SegmentPolicy.spec.selector");
  if (yaml::Node m = spec["mode"]) {
    std::string s = r.str(m, "SegmentPolicy.spec.mode");
    if (s == "audit") p.audit = true;
    else if (s != "enforce") r.fail(m, "SegmentPolicy.spec.mode must be enforce or audit, not \"" + s + "\"");
  }
  if (spec["ingress"]) p.allow_in = segment_rules(r, spec["ingress"], "SegmentPolicy.spec.ingress", "from");
  if (spec["egress"]) p.allow_out = segment_rules(r, spec["egress"], "SegmentPolicy.spec.egress", "to");
  if (spec["ingressDeny"]) p.deny_in = segment_rules(r, spec["ingressDeny"], "SegmentPolicy.spec.ingressDeny", "from", true);
  if (spec["egressDeny"]) p.deny_out = segment_rules(r, spec["egressDeny"], "SegmentPolicy.spec.egressDeny", "to");
  // a direction the policy speaks of (even with an empty list) is default-deny
  p.ingress = spec["ingress"] || spec["ingressDeny"];
  p.egress = spec["egress"] || spec["egressDeny"];
  if (!p.ingress && !p.egress) r.fail(spec, "SegmentPolicy.spec needs ingress, egress, ingressDeny or egressDeny");
  return p;
}

}  // namespace zeroseg::reading
