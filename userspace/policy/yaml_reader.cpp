// SPDX-License-Identifier: Apache-2.0
#include "policy/yaml_reader.h"

#include <yaml-cpp/exceptions.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <unordered_map>
#include <sstream>

#include "abi/names.h"
#include "common/time.h"
#include "policy/yaml_tree.h"

namespace zeroseg {
namespace {

// What one load shares between its objects' equal parts (SelectorRef,
// SharedList), each by a text key.
struct Interned {
  std::unordered_map<std::string, SelectorRef> selectors;
  std::unordered_map<std::string, SharedList<Peer>> peers;
  std::unordered_map<std::string, SharedList<PortSpec>> ports;
  std::unordered_map<std::string, SharedList<IcmpSpec>> icmp;
};

// The keys: equal for equal items (selectors by pointer: shared already).
// A key that is equal for items that are not is harmless: share() checks.
std::string key_of(const Peer& p) {
  std::string k = std::to_string(reinterpret_cast<uintptr_t>(p.pods.get())) + " " +
                  std::to_string(reinterpret_cast<uintptr_t>(p.namespaces.get()));
  if (p.cidr) {
    k += " " + p.cidr->cidr.str();
    for (const auto& e : p.cidr->except) k += "!" + e.str();
  }
  if (p.entity) k += " entity " + std::to_string(static_cast<int>(*p.entity));
  return k;
}

std::string key_of(const PortSpec& p) {
  return std::to_string(p.proto) + "/" + (p.port ? std::to_string(*p.port) : p.named) + "-" +
         (p.end_port ? std::to_string(*p.end_port) : "");
}

std::string key_of(const IcmpSpec& i) {
  return std::to_string(i.family) + ":" + std::to_string(i.type) + ":" + (i.code ? std::to_string(*i.code) : "");
}

// Walks one document, failing at the first problem with its position.
class Reader {
 public:
  // first_line: where this document starts in the file (0-based); text:
  // the document's YAML; interned: what the whole load shares
  Reader(const std::string& file, int first_line, std::string_view text, Interned& interned)
      : file_(file), first_line_(first_line), text_(text), interned_(interned) {}

  // The document as written (comments too), without its "---" line and
  // trailing blank lines: what the state directory stores and `policy get`
  // shows. (Re-emitting it with YAML::Emitter took longer than parsing it.)
  PackedText document() const {
    std::string_view t = text_;
    size_t eol = t.find('\n');
    std::string_view first = t.substr(0, eol);
    while (!first.empty() && (first.back() == '\r' || first.back() == ' ' || first.back() == '\t')) first.remove_suffix(1);
    if (first == "---") t.remove_prefix(eol == std::string_view::npos ? t.size() : eol + 1);
    while (!t.empty() && std::isspace(static_cast<unsigned char>(t.back()))) t.remove_suffix(1);
    return PackedText(t);
  }

  [[noreturn]] void fail(const yaml::Node& at, const std::string& message) const {
    YAML::Mark m = at.IsDefined() ? at.Mark() : YAML::Mark();
    throw Error(file_ + ":" + std::to_string(m.line + first_line_ + 1) + ":" + std::to_string(m.column + 1) + ": " +
                message);
  }

  SourceRef source(const yaml::Node& n) const {
    YAML::Mark m = n.Mark();
    return {file_, m.line + first_line_ + 1, m.column + 1};
  }

  // items as a SharedList: the load's list equal to it, if there is one
  template <class T>
  SharedList<T> share(std::vector<T> items, std::unordered_map<std::string, SharedList<T>>& pool) const {
    if (items.empty()) return {};
    std::string key;
    for (const auto& item : items) key += key_of(item) + ";";
    SharedList<T>& shared = pool[key];
    if (!std::equal(items.begin(), items.end(), shared.begin(), shared.end())) shared = SharedList<T>(std::move(items));
    return shared;
  }
  SharedList<Peer> share(std::vector<Peer> peers) const { return share(std::move(peers), interned_.peers); }
  SharedList<PortSpec> share(std::vector<PortSpec> ports) const { return share(std::move(ports), interned_.ports); }
  SharedList<IcmpSpec> share(std::vector<IcmpSpec> icmp) const { return share(std::move(icmp), interned_.icmp); }

  // A rule's line and column (its file is its policy's).
  void place(Rule& rule, const yaml::Node& n) const {
    YAML::Mark m = n.Mark();
    rule.line = static_cast<uint32_t>(m.line + first_line_ + 1);
    rule.column = static_cast<uint32_t>(m.column + 1);
  }

  void map(const yaml::Node& n, const std::string& what, std::initializer_list<const char*> fields) const {
    if (!n.IsMap()) fail(n, what + " must be a mapping");
    for (const auto& kv : n) {
      std::string key = kv.first.as<std::string>();
      if (std::none_of(fields.begin(), fields.end(), [&](const char* f) { return key == f; }))
        fail(kv.first, "unknown field \"" + key + "\" in " + what);
    }
  }

  const yaml::Node seq(const yaml::Node& n, const std::string& what) const {
    if (!n.IsSequence()) fail(n, what + " must be a list");
    return n;
  }

  std::string str(const yaml::Node& n, const std::string& what) const {
    if (!n.IsScalar()) fail(n, what + " must be a string");
    return n.as<std::string>();
  }

  std::string required_str(const yaml::Node& parent, const char* key, const std::string& what) const {
    yaml::Node n = parent[key];
    if (!n) fail(parent, what + " needs \"" + key + "\"");
    std::string s = str(n, what + "." + key);
    if (s.empty()) fail(n, what + "." + key + " is empty");
    return s;
  }

  int64_t integer(const yaml::Node& n, const std::string& what, int64_t lo, int64_t hi) const {
    if (!n.IsScalar()) fail(n, what + " must be a number");
    const std::string s = n.as<std::string>();
    int64_t v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || end != s.data() + s.size()) fail(n, what + " must be a number, not \"" + s + "\"");
    if (v < lo || v > hi)
      fail(n, what + " " + s + " is out of range " + std::to_string(lo) + ".." + std::to_string(hi));
    return v;
  }

  bool is_integer(const yaml::Node& n) const {
    if (!n.IsScalar()) return false;
    const std::string s = n.as<std::string>();
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
  }

  Labels labels(const yaml::Node& n, const std::string& what) const {
    Labels out;
    if (!n) return out;
    if (!n.IsMap()) fail(n, what + " must be a mapping");
    for (const auto& kv : n) {
      std::string k = str(kv.first, what + " key"), v = kv.second.IsNull() ? "" : str(kv.second, what + "." + k);
      if (auto e = label_key_error(k); !e.empty()) fail(kv.first, what + ": " + e + " (\"" + k + "\")");
      if (auto e = label_value_error(v); !e.empty()) fail(kv.second, what + "." + k + ": " + e);
      out[k] = v;
    }
    return out;
  }

  LabelSelector selector(const yaml::Node& n, const std::string& what) const {
    LabelSelector s;
    if (n.IsNull()) return s;
    map(n, what, {"matchLabels", "matchExpressions"});
    s.match_labels = labels(n["matchLabels"], what + ".matchLabels");
    if (yaml::Node exprs = n["matchExpressions"]) {
      for (const auto& e : seq(exprs, what + ".matchExpressions")) {
        const std::string ew = what + ".matchExpressions[]";
        map(e, ew, {"key", "operator", "values"});
        LabelSelector::Requirement r;
        r.key = required_str(e, "key", ew);
        if (auto err = label_key_error(r.key); !err.empty()) fail(e["key"], ew + ".key: " + err);
        std::string op = required_str(e, "operator", ew);
        using Op = LabelSelector::Requirement::Op;
        if (op == "In") r.op = Op::In;
        else if (op == "NotIn") r.op = Op::NotIn;
        else if (op == "Exists") r.op = Op::Exists;
        else if (op == "DoesNotExist") r.op = Op::DoesNotExist;
        else fail(e["operator"], ew + ".operator must be In, NotIn, Exists or DoesNotExist, not \"" + op + "\"");
        if (yaml::Node vals = e["values"])
          for (const auto& v : seq(vals, ew + ".values")) r.values.push_back(str(v, ew + ".values[]"));
        bool needs_values = r.op == Op::In || r.op == Op::NotIn;
        if (needs_values && r.values.empty()) fail(e, ew + ": operator " + op + " needs values");
        if (!needs_values && !r.values.empty()) fail(e["values"], ew + ": operator " + op + " takes no values");
        s.match_expressions.push_back(std::move(r));
      }
    }
    return s;
  }

  SelectorRef peer_selector(const yaml::Node& n, const std::string& what) const {
    LabelSelector s = selector(n, what);
    SelectorRef& shared = interned_.selectors[s.str()];
    if (!shared || *shared != s) shared = std::make_shared<const LabelSelector>(std::move(s));
    return shared;
  }

  Prefix prefix(const yaml::Node& n, const std::string& what) const {
    std::string s = str(n, what);
    if (s.find('/') == std::string::npos) fail(n, what + " \"" + s + "\" is not a CIDR (address/length)");
    auto p = Prefix::parse(s);
    if (!p) fail(n, what + " \"" + s + "\" is not a valid CIDR");
    if (p->str() != Prefix::parse(s)->str() || Prefix::of(p->addr, p->len) != *p) fail(n, what + " is not valid");
    return *p;
  }

  CidrSpec cidr(const yaml::Node& cidr_node, const yaml::Node& except_node, const std::string& what) const {
    CidrSpec c{prefix(cidr_node, what + ".cidr"), {}};
    if (except_node) {
      for (const auto& e : seq(except_node, what + ".except")) {
        Prefix x = prefix(e, what + ".except[]");
        if (!c.cidr.contains(x) || x.len == c.cidr.len)
          fail(e, what + ".except " + x.str() + " is not inside " + c.cidr.str());
        c.except.push_back(x);
      }
    }
    return c;
  }

  uint8_t protocol(const yaml::Node& n, const std::string& what) const {
    std::string s = str(n, what);
    std::string lower = s;
    std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
    if (lower != "tcp" && lower != "udp" && lower != "sctp")
      fail(n, what + " must be TCP, UDP or SCTP, not \"" + s + "\"");
    return *parse_proto(lower);
  }

  int first_line() const { return first_line_; }

  int64_t expires(const yaml::Node& n, const std::string& what) const {
    std::string s = str(n, what);
    auto t = parse_rfc3339(s);
    if (!t) fail(n, what + " \"" + s + "\" is not an RFC 3339 time (e.g. 2026-11-28T18:00:00Z)");
    return *t;
  }

 private:
  const std::string& file_;
  int first_line_;
  std::string_view text_;
  Interned& interned_;
};

ObjectMeta meta(const Reader& r, const yaml::Node& doc, const std::string& kind, bool namespaced) {
  yaml::Node m = doc["metadata"];
  if (!m) r.fail(doc, kind + " needs metadata");
  r.map(m, kind + ".metadata", {"name", "namespace", "labels", "annotations"});
  ObjectMeta out;
  out.name = r.required_str(m, "name", kind + ".metadata");
  if (auto e = label_value_error(out.name); !e.empty() || out.name.empty())
    r.fail(m["name"], kind + ".metadata.name \"" + out.name + "\" is not a valid name");
  if (yaml::Node ns = m["namespace"]) {
    if (!namespaced) r.fail(ns, kind + " is not namespaced");
    out.ns = r.str(ns, kind + ".metadata.namespace");
    if (auto e = label_value_error(out.ns); !e.empty() || out.ns.empty())
      r.fail(ns, kind + ".metadata.namespace \"" + out.ns + "\" is not a valid name");
  }
  if (!namespaced) out.ns = "";
  out.labels = r.labels(m["labels"], kind + ".metadata.labels");
  out.source = r.source(doc);
  out.document = r.document();
  return out;
}

Workload workload(const Reader& r, const yaml::Node& doc) {
  Workload w;
  w.meta = meta(r, doc, "Workload", true);
  yaml::Node spec = doc["spec"];
  if (!spec) r.fail(doc, "Workload needs spec");
  r.map(spec, "Workload.spec", {"interface", "ips", "ports", "attach"});
  if (yaml::Node i = spec["interface"]) {
    w.interface = r.str(i, "Workload.spec.interface");
    if (w.interface.empty() || w.interface.size() > 15 || w.interface.find('/') != std::string::npos)
      r.fail(i, "Workload.spec.interface \"" + w.interface + "\" is not an interface name");
  }
  if (yaml::Node ips = spec["ips"]) {
    for (const auto& ip : r.seq(ips, "Workload.spec.ips")) {
      std::string s = r.str(ip, "Workload.spec.ips[]");
      auto a = IpAddr::parse(s);
      if (!a) r.fail(ip, "Workload.spec.ips: \"" + s + "\" is not an IP address");
      w.ips.push_back(*a);
    }
  }
  if (yaml::Node ports = spec["ports"]) {
    std::set<std::string> names;
    for (const auto& p : r.seq(ports, "Workload.spec.ports")) {
      r.map(p, "Workload.spec.ports[]", {"name", "port", "protocol"});
      NamedPort np;
      np.name = r.required_str(p, "name", "Workload.spec.ports[]");
      if (!names.insert(np.name).second) r.fail(p["name"], "Workload.spec.ports: duplicate name \"" + np.name + "\"");
      if (!p["port"]) r.fail(p, "Workload.spec.ports[] needs \"port\"");
      np.port = static_cast<uint16_t>(r.integer(p["port"], "Workload.spec.ports[].port", 1, 65535));
      if (p["protocol"]) np.proto = r.protocol(p["protocol"], "Workload.spec.ports[].protocol");
      w.ports.push_back(np);
    }
  }
  if (yaml::Node a = spec["attach"]) {
    std::string s = r.str(a, "Workload.spec.attach");
    if (s == "host") w.attach = ZS_ATTACH_HOST;
    else if (s != "workload") r.fail(a, "Workload.spec.attach must be workload or host, not \"" + s + "\"");
  }
  if (w.attach == ZS_ATTACH_HOST && w.interface.empty())
    r.fail(spec, "Workload.spec: attach: host needs an interface");
  return w;
}

Namespace namespace_obj(const Reader& r, const yaml::Node& doc) {
  Namespace n;
  n.meta = meta(r, doc, "Namespace", false);
  if (doc["spec"]) r.map(doc["spec"], "Namespace.spec", {});
  n.meta.labels[kNamespaceNameLabel] = n.meta.name;
  return n;
}

// --- NetworkPolicy (networking.k8s.io/v1) -----------------------------------

std::vector<PortSpec> k8s_ports(const Reader& r, const yaml::Node& n, const std::string& what) {
  std::vector<PortSpec> out;
  for (const auto& p : r.seq(n, what)) {
    r.map(p, what + "[]", {"port", "endPort", "protocol"});
    PortSpec ps;
    if (p["protocol"]) ps.proto = r.protocol(p["protocol"], what + "[].protocol");
    if (yaml::Node port = p["port"]) {
      if (r.is_integer(port)) ps.port = static_cast<uint16_t>(r.integer(port, what + "[].port", 1, 65535));
      else ps.named = r.str(port, what + "[].port");
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
  if (yaml::Node types = spec["policyTypes"]) {
    for (const auto& t : r.seq(types, "NetworkPolicy.spec.policyTypes")) {
      std::string s = r.str(t, "NetworkPolicy.spec.policyTypes[]");
      if (s == "Ingress") p.ingress = true;
      else if (s == "Egress") p.egress = true;
      else r.fail(t, "NetworkPolicy.spec.policyTypes: \"" + s + "\" is not Ingress or Egress");
    }
  } else {
    // Kubernetes: Ingress always, Egress when egress rules are given
    p.ingress = true;
    p.egress = static_cast<bool>(spec["egress"]);
  }
  return p;
}

// --- SegmentPolicy (zeroseg.io/v1) -------------------------------------------

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

std::vector<Rule> segment_rules(const Reader& r, const yaml::Node& n, const std::string& what,
                                const char* peers_key) {
  std::vector<Rule> out;
  out.reserve(r.seq(n, what).size());  // kept as long as the policy is: no growth slack
  for (const auto& rn : r.seq(n, what)) {
    r.map(rn, what + "[]", {peers_key, "ports", "icmp", "expires"});
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
    out.push_back(std::move(rule));
  }
  return out;
}

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
  if (spec["ingressDeny"]) p.deny_in = segment_rules(r, spec["ingressDeny"], "SegmentPolicy.spec.ingressDeny", "from");
  if (spec["egressDeny"]) p.deny_out = segment_rules(r, spec["egressDeny"], "SegmentPolicy.spec.egressDeny", "to");
  // a direction the policy speaks of (even with an empty list) is default-deny
  p.ingress = spec["ingress"] || spec["ingressDeny"];
  p.egress = spec["egress"] || spec["egressDeny"];
  if (!p.ingress && !p.egress) r.fail(spec, "SegmentPolicy.spec needs ingress, egress, ingressDeny or egressDeny");
  return p;
}

void load_document(const Reader& r, const yaml::Node& doc, ObjectSet& out) {
  if (doc.IsNull()) return;  // an empty document ("---" at the end)
  if (!doc.IsMap()) r.fail(doc, "a document must be a mapping with apiVersion and kind");
  std::string api = r.required_str(doc, "apiVersion", "the document");
  std::string kind = r.required_str(doc, "kind", "the document");
  auto top = [&](std::initializer_list<const char*> f) { r.map(doc, kind, f); };
  if (kind == "Workload" && api == "zeroseg.io/v1") {
    top({"apiVersion", "kind", "metadata", "spec"});
    out.workloads.push_back(workload(r, doc));
  } else if (kind == "Namespace" && api == "v1") {
    top({"apiVersion", "kind", "metadata", "spec", "status"});
    out.namespaces.push_back(namespace_obj(r, doc));
  } else if (kind == "NetworkPolicy" && api == "networking.k8s.io/v1") {
    top({"apiVersion", "kind", "metadata", "spec", "status"});
    out.policies.push_back(network_policy(r, doc));
  } else if (kind == "SegmentPolicy" && api == "zeroseg.io/v1") {
    top({"apiVersion", "kind", "metadata", "spec"});
    out.policies.push_back(segment_policy(r, doc));
  } else {
    r.fail(doc["kind"], "unknown kind \"" + kind + "\" in apiVersion \"" + api +
                            "\" (known: zeroseg.io/v1 Workload, SegmentPolicy; v1 Namespace; "
                            "networking.k8s.io/v1 NetworkPolicy)");
  }
}

}  // namespace

// YAML allows no control characters but tab and line breaks, and must be
// UTF-8 here; yaml-cpp 0.7 spins forever on some inputs holding NUL or
// invalid UTF-8 (both found by our fuzzer): refuse them before it sees them.
void check_characters(std::string_view text, const std::string& filename) {
  int line = 1, column = 1;
  auto fail = [&](const std::string& what) {
    throw Error(filename + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " + what);
  };
  for (size_t i = 0; i < text.size(); i++) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f) {
      char hex[8];
      std::snprintf(hex, sizeof(hex), "0x%02x", c);
      fail(std::string("control character ") + hex + " is not allowed in YAML");
    }
    if (c >= 0x80) {
      // a UTF-8 sequence: lead byte, then 1..3 continuation bytes
      size_t extra = c >= 0xf0 && c <= 0xf4 ? 3 : c >= 0xe0 && c <= 0xef ? 2 : c >= 0xc2 && c <= 0xdf ? 1 : 0;
      if (!extra) fail("invalid UTF-8");
      for (size_t k = 1; k <= extra; k++)
        if (i + k >= text.size() || (static_cast<unsigned char>(text[i + k]) & 0xc0) != 0x80) fail("invalid UTF-8");
      i += extra;
    }
    if (c == '\n') {
      line++;
      column = 1;
    } else {
      column++;
    }
  }
}

// The documents of a stream, split at "---" lines, each with the line it
// starts on. We split instead of yaml-cpp's LoadAll, which some inputs send
// into producing documents without end (found by our fuzzer): this way the
// work is bounded by the number of lines.
std::vector<std::pair<int, std::string>> split_documents(std::string_view text) {
  std::vector<std::pair<int, std::string>> docs(1, {0, ""});
  int line = 0;
  size_t at = 0;
  while (at < text.size()) {
    size_t end = text.find('\n', at);
    std::string_view l = text.substr(at, end == std::string_view::npos ? std::string_view::npos : end - at + 1);
    bool marker = l.rfind("---", 0) == 0 && (l.size() == 3 || l[3] == ' ' || l[3] == '\t' || l[3] == '\n' || l[3] == '\r');
    if (marker && line > 0) docs.emplace_back(line, "");
    docs.back().second += l;
    line++;
    at = end == std::string_view::npos ? text.size() : end + 1;
  }
  return docs;
}

ObjectSet load_yaml(std::string_view text, const std::string& filename) {
  check_characters(text, filename);
  ObjectSet out;
  Interned interned;
  for (const auto& doc_at : split_documents(text)) {
    const int first_line = doc_at.first;  // not a structured binding: lambdas capture it (clang 14)
    const std::string& doc_text = doc_at.second;
    Reader r(filename, first_line, doc_text, interned);
    auto where = [&](const YAML::Mark& m) {
      return filename + ":" + std::to_string(m.line + first_line + 1) + ":" + std::to_string(m.column + 1) + ": ";
    };
    yaml::Tree tree;
    try {
      tree = yaml::Tree::parse(doc_text);  // refuses aliases, deep nesting and huge documents
    } catch (const YAML::Exception& e) {
      throw Error(where(e.mark) + e.msg);
    }
    try {
      load_document(r, tree.root(), out);
    } catch (const YAML::Exception& e) {
      throw Error(where(e.mark) + e.msg);
    }
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> read_yaml_files(const std::string& path) {
  namespace fs = std::filesystem;
  std::vector<fs::path> files;
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    for (const auto& e : fs::directory_iterator(path, ec))
      if (e.is_regular_file() && (e.path().extension() == ".yaml" || e.path().extension() == ".yml"))
        files.push_back(e.path());
    std::sort(files.begin(), files.end());
    if (files.empty()) throw Error(path + ": no .yaml or .yml files in this directory");
  } else {
    files.push_back(path);
  }
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& f : files) {
    std::ifstream in(f);
    if (!in) throw Error(f.string() + ": cannot read: " + std::strerror(errno));
    std::stringstream ss;
    ss << in.rdbuf();
    out.emplace_back(f.string(), ss.str());
  }
  return out;
}

ObjectSet load_path(const std::string& path) {
  ObjectSet all;
  for (const auto& [name, text] : read_yaml_files(path)) {
    all.append(load_yaml(text, name));
  }
  return all;
}

}  // namespace zeroseg
