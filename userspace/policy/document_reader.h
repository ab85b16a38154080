// SPDX-License-Identifier: Apache-2.0
// The YAML reader's insides (yaml_reader.h is its face): a Reader walks one
// document and fails at the first problem with its file, line and column;
// one reader per kind turns a document into an object
// (yaml_reader.cpp: Workload, Namespace; network_policy_reader.cpp;
// segment_policy_reader.cpp). Only the policy part includes this.
#pragma once

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <initializer_list>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "abi/names.h"
#include "common/error.h"
#include "common/time.h"
#include "policy/objects.h"
#include "policy/yaml_tree.h"

namespace zeroseg::reading {

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
inline std::string key_of(const Peer& p) {
  std::string k = std::to_string(reinterpret_cast<uintptr_t>(p.pods.get())) + " " +
                  std::to_string(reinterpret_cast<uintptr_t>(p.namespaces.get()));
  if (p.cidr) {
    k += " " + p.cidr->cidr.str();
    for (const auto& e : p.cidr->except) k += "!" + e.str();
  }
  if (p.entity) k += " entity " + std::to_string(static_cast<int>(*p.entity));
  return k;
}

inline std::string key_of(const PortSpec& p) {
  return std::to_string(p.proto) + "/" + (p.port ? std::to_string(*p.port) : p.named) + "-" +
         (p.end_port ? std::to_string(*p.end_port) : "");
}

inline std::string key_of(const IcmpSpec& i) {
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

  // The same place, reading a document whose text is text (an item of a
  // List, or a document rewritten without server fields): its nodes keep
  // their positions in the file.
  Reader with_text(std::string_view text) const { return Reader(file_, first_line_, text, interned_); }

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

// metadata: name, namespace (when the kind has one), labels; the source
// position and the document's text.
ObjectMeta meta(const Reader& r, const yaml::Node& doc, const std::string& kind, bool namespaced);
// ports: [{port, endPort, protocol}] as a NetworkPolicy writes them (a
// SegmentPolicy's ports are the same).
std::vector<PortSpec> k8s_ports(const Reader& r, const yaml::Node& n, const std::string& what);
Policy network_policy(const Reader& r, const yaml::Node& doc);
Policy segment_policy(const Reader& r, const yaml::Node& doc);

}  // namespace zeroseg::reading
