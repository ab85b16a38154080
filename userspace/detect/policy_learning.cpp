// SPDX-License-Identifier: Apache-2.0
// Policy learning from what really flows (the node's FlowLedger):
//   `policy suggest`: least-privilege SegmentPolicies, one per group of
//     workloads with the same labels, allowing exactly the conversations
//     seen (allowed or audited; never denied ones), a comment per rule
//     saying how many flows it explains;
//   `policy diff` (what-if): the conversations judged under the policy in
//     force and under the draft, and those whose verdict would change.
#include <algorithm>
#include <map>
#include <set>

#include "detect/policy_learning.h"

#include <zeroseg/proto.h>

#include "abi/names.h"
#include "common/time.h"
#include "policy/evaluate.h"

namespace zeroseg {

using nlohmann::json;

namespace {

// A JSON string is a YAML flow scalar: quoting done right for free.
std::string q(const std::string& s) { return json(s).dump(); }

std::string match_labels(const Labels& labels) {
  std::string s = "{matchLabels: {";
  bool first = true;
  for (const auto& [k, v] : labels) {
    s += (first ? "" : ", ") + q(k) + ": " + q(v);
    first = false;
  }
  return s + "}}";
}

// Workloads with the same namespace and labels share an identity: one group.
struct Group {
  std::string ns;
  Labels labels;
  bool operator<(const Group& o) const { return std::tie(ns, labels) < std::tie(o.ns, o.labels); }
};

// What a rule allows to or from one peer.
struct PeerTraffic {
  std::set<std::pair<uint8_t, uint16_t>> ports;  // (proto, port or ICMP type)
  uint64_t flows = 0;
  int64_t last_ns = 0;
};

std::string ports_yaml(const std::set<std::pair<uint8_t, uint16_t>>& ports) {
  std::string tcp_udp, icmp, other;
  for (auto [proto, port] : ports) {
    if (zs_has_ports(proto))
      tcp_udp += (tcp_udp.empty() ? "" : ", ") +
                 ("{port: " + std::to_string(port) +
                  (proto == ZS_PROTO_TCP ? "" : proto == ZS_PROTO_UDP ? ", protocol: UDP" : ", protocol: SCTP") + "}");
    else if (zs_is_icmp(proto))
      icmp += (icmp.empty() ? "" : ", ") +
              ("{type: " + std::to_string(port) + (proto == ZS_PROTO_ICMPV6 ? ", family: IPv6" : "") + "}");
    else
      other = proto_name(proto);
  }
  if (!other.empty()) return "";  // a protocol rules cannot name: the rule allows every port
  std::string s;
  if (!tcp_udp.empty()) s += "\n    ports: [" + tcp_udp + "]";
  if (!icmp.empty()) s += "\n    icmp: [" + icmp + "]";
  return s;
}

std::string policy_name(const Group& g, std::set<std::string>& taken) {
  std::string base = "suggested";
  for (const auto& [k, v] : g.labels) base += "-" + v;
  std::string name;
  for (char c : base) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    name += (std::isalnum(static_cast<unsigned char>(c)) || c == '-') ? c : '-';
  }
  name = name.substr(0, 56);
  while (!name.empty() && name.back() == '-') name.pop_back();
  std::string unique = name;
  for (int i = 2; !taken.insert(unique).second; i++) unique = name + "-" + std::to_string(i);
  return unique;
}

}  // namespace

std::string suggest_policies(const std::vector<Conversation>& seen, const ObjectSet& state, const std::string& node,
                             int64_t since_ns, const std::string& ns, const SuggestGroups* only) {
  std::map<IpAddr, const Workload*> by_ip;
  std::set<Group> groups;
  for (const auto& w : state.workloads) {
    for (const auto& ip : w.ips) by_ip[ip] = &w;
    bool wanted = only ? only->count({w.meta.ns, w.meta.labels}) > 0 : ns.empty() || w.meta.ns == ns;
    if (wanted) groups.insert({w.meta.ns, w.meta.labels});
  }
  // peer keys: a group (workloads) or an address
  using PeerKey = std::pair<std::optional<Group>, std::string>;
  std::map<Group, std::map<PeerKey, PeerTraffic>> in, out;
  uint64_t conversations = 0, flows = 0;
  for (const auto& c : seen) {
    if (c.verdict == ZS_VERDICT_DENIED || c.last_ns < since_ns) continue;
    auto src = by_ip.find(c.src), dst = by_ip.find(c.dst);
    std::optional<Group> sg, dg;
    if (src != by_ip.end()) sg = Group{src->second->meta.ns, src->second->meta.labels};
    if (dst != by_ip.end()) dg = Group{dst->second->meta.ns, dst->second->meta.labels};
    auto add = [&](PeerTraffic& t) {
      t.ports.insert({c.proto, c.port});
      t.flows += c.flows;
      t.last_ns = std::max(t.last_ns, c.last_ns);
    };
    bool counted = false;
    if (dg && groups.count(*dg)) {
      add(in[*dg][{sg, sg ? "" : Prefix::host(c.src).str()}]);
      counted = true;
    }
    if (sg && groups.count(*sg)) {
      add(out[*sg][{dg, dg ? "" : Prefix::host(c.dst).str()}]);
      counted = true;
    }
    conversations += counted;
    flows += counted ? c.flows : 0;
  }

  auto count = [](uint64_t n, const char* one, const char* many) { return std::to_string(n) + (n == 1 ? one : many); };
  std::string y = "# zeroseg policy suggest: least-privilege SegmentPolicies from " + count(flows, " flow", " flows") +
                  " (" + count(conversations, " conversation", " conversations") + ") seen by node " + node +
                  (since_ns ? " since " + format_rfc3339(since_ns) : "") +
                  ".\n# Review before applying: what was not seen while learning is denied.\n";
  std::set<std::string> taken;
  auto section = [&](const char* key, const char* peers_key, const std::map<PeerKey, PeerTraffic>* rules,
                     const Group& self) {
    if (!rules) {
      y += std::string("  ") + key + ": []  # nothing seen: default deny\n";
      return;
    }
    y += std::string("  ") + key + ":\n";
    for (const auto& [peer, t] : *rules) {
      y += "  # " + std::to_string(t.flows) + (t.flows == 1 ? " flow" : " flows") + ", last " + format_rfc3339(t.last_ns) + "\n";
      std::string p;
      if (peer.first) {
        p = "{selector: " + match_labels(peer.first->labels);
        if (peer.first->ns != self.ns) p += ", namespaceSelector: " + match_labels({{kNamespaceNameLabel, peer.first->ns}});
        p += "}";
      } else {
        p = "{cidr: " + q(peer.second) + "}";
      }
      y += std::string("  - ") + peers_key + ": [" + p + "]" + ports_yaml(t.ports) + "\n";
    }
  };
  for (const auto& g : groups) {
    y += "---\napiVersion: zeroseg.io/v1\nkind: SegmentPolicy\nmetadata: {name: " + policy_name(g, taken) +
         ", namespace: " + g.ns + "}\nspec:\n  selector: " + (g.labels.empty() ? "{}" : match_labels(g.labels)) + "\n";
    auto i = in.find(g), o = out.find(g);
    section("ingress", "from", i == in.end() ? nullptr : &i->second, g);
    section("egress", "to", o == out.end() ? nullptr : &o->second, g);
  }
  return y;
}

json replay_conversations(std::vector<Conversation> conversations, const Compiled& current,
                          const ObjectSet& current_state, const Compiled& draft, const ObjectSet& draft_state) {
  PolicyJudge now(current, current_state), next(draft, draft_state);
  std::map<IpAddr, std::string> names;
  for (const auto* s : {&current_state, &draft_state})
    for (const auto& w : s->workloads)
      for (const auto& ip : w.ips) names[ip] = w.meta.ns + "/" + w.meta.name;
  auto name = [&](const IpAddr& ip) {
    auto it = names.find(ip);
    return it == names.end() ? ip.str() : it->second;
  };
  json denied = json::array(), allowed = json::array();
  size_t total = 0, unchanged = 0;
  std::sort(conversations.begin(), conversations.end(),
            [](const Conversation& a, const Conversation& b) { return a.flows > b.flows; });
  for (const auto& c : conversations) {
    total++;
    auto a = now.judge(c.src, c.dst, c.proto, c.port), b = next.judge(c.src, c.dst, c.proto, c.port);
    bool passes_now = a.verdict != ZS_VERDICT_DENIED, passes_then = b.verdict != ZS_VERDICT_DENIED;
    if (passes_now == passes_then) {
      unchanged++;
      continue;
    }
    json row = {{"source", name(c.src)},           {"destination", name(c.dst)},
                {"protocol", proto_name(c.proto)}, {"port", c.port},
                {"flows", c.flows},                {"last_seen", format_rfc3339(c.last_ns)},
                {"now", verdict_name(a.verdict)},   {"draft", verdict_name(b.verdict)},
                {"why", passes_then ? (b.why.empty() ? "no policy selects either end" : b.why) : b.why}};
    (passes_then ? allowed : denied).push_back(row);
  }
  return {{"conversations", total}, {"unchanged", unchanged}, {"newly_denied", denied}, {"newly_allowed", allowed}};
}

}  // namespace zeroseg
