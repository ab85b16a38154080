// SPDX-License-Identifier: Apache-2.0
#include "ui/map_graph.h"

#include <algorithm>
#include <set>
#include <unordered_map>

#include "common/error.h"
#include "common/time.h"

namespace zeroseg::ui {

using nlohmann::json;

namespace {

constexpr const char* kNamespaceLabel = "zeroseg.io/namespace";
constexpr size_t kMaxPortsShown = 8;
constexpr size_t kMaxAlertsPerNode = 20;

// denied over audit over allowed; -1: not a verdict the map counts
int severity(const std::string& verdict) {
  if (verdict == "allowed") return 0;
  if (verdict == "audit") return 1;
  if (verdict == "denied") return 2;
  return -1;
}

bool ascii_printable(const std::string& s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= 0x20 && c < 0x7f; });
}

std::string str(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

// A flow line's end (source or destination), as the map needs it.
struct End {
  uint32_t identity = 0;
  std::string ip, name, ns;
  std::map<std::string, std::string> labels;  // the workload's own (namespace labels left out)
  uint64_t port = 0;
  bool has_port = false;
};

std::optional<End> end_of(const json& flow, const char* key) {
  auto it = flow.find(key);
  if (it == flow.end() || !it->is_object()) return std::nullopt;
  const json& e = *it;
  auto id = e.find("identity");
  if (id == e.end() || !id->is_number_unsigned() || id->get<uint64_t>() > UINT32_MAX) return std::nullopt;
  End out;
  out.identity = id->get<uint32_t>();
  out.ip = str(e, "ip");
  out.name = str(e, "name");
  if (auto p = e.find("port"); p != e.end() && p->is_number_unsigned()) {
    out.port = p->get<uint64_t>();
    out.has_port = true;
  }
  if (auto l = e.find("labels"); l != e.end() && l->is_object()) {
    for (const auto& [k, v] : l->items()) {
      if (!v.is_string()) continue;
      if (k == kNamespaceLabel) out.ns = v.get<std::string>();
      else if (k.rfind("ns:", 0) != 0) out.labels[k] = v.get<std::string>();
    }
  }
  return out;
}

// One flow line the map counts: a start or a deny.
struct Record {
  End src, dst;
  json line;
  int64_t time_ns = 0;
  std::string verdict, protocol;
};

std::optional<Record> record_of(const std::string& text) {
  json line = json::parse(text, nullptr, false);
  if (!line.is_object()) return std::nullopt;
  std::string event = str(line, "event");
  if (event != "flow-start" && event != "deny") return std::nullopt;
  auto src = end_of(line, "source"), dst = end_of(line, "destination");
  auto time = parse_rfc3339(str(line, "time"));
  if (!src || !dst || !time || severity(str(line, "verdict")) < 0) return std::nullopt;
  Record r{*src, *dst, {}, *time, str(line, "verdict"), str(line, "protocol")};
  r.line = std::move(line);
  return r;
}

bool has_label(const End& e, const std::string& label) {
  auto eq = label.find('=');
  std::string key = label.substr(0, eq);
  if (key == kNamespaceLabel) return eq == std::string::npos || e.ns == label.substr(eq + 1);
  auto it = e.labels.find(key);
  return it != e.labels.end() && (eq == std::string::npos || it->second == label.substr(eq + 1));
}

bool passes(const Record& r, const GraphQuery& q) {
  if (!q.ns.empty() && r.src.ns != q.ns && r.dst.ns != q.ns) return false;
  if (!q.label.empty() && !has_label(r.src, q.label) && !has_label(r.dst, q.label)) return false;
  if (q.since_ns && r.time_ns < *q.since_ns) return false;
  return true;
}

// The key of a flow: its 5-tuple (ICMP: its type in place of a port).
std::string flow_key(const Record& r) {
  std::string icmp;
  if (auto it = r.line.find("icmp"); it != r.line.end() && it->is_object()) icmp = it->value("type", json()).dump();
  return r.protocol + "|" + r.src.ip + "|" + std::to_string(r.src.port) + "|" + r.dst.ip + "|" +
         std::to_string(r.dst.port) + "|" + icmp;
}

// A flow: its records (one per guarded end that reported it), and the one
// that decided it (the strictest verdict; the first of equals).
struct Flow {
  std::vector<const Record*> records;
  const Record* decided = nullptr;
};

// Flows in order of their first record, filtered by q (the verdict filter
// applies to the flow's own verdict, the stricter end's).
std::vector<Flow> flows_of(const std::vector<Record>& records, const GraphQuery& q) {
  std::vector<Flow> flows;
  std::unordered_map<std::string, size_t> index;
  for (const auto& r : records) {
    if (!passes(r, q)) continue;
    auto [it, fresh] = index.try_emplace(flow_key(r), flows.size());
    if (fresh) flows.emplace_back();
    Flow& f = flows[it->second];
    f.records.push_back(&r);
    if (!f.decided || severity(r.verdict) > severity(f.decided->verdict)) f.decided = &r;
  }
  if (!q.verdict.empty())
    std::erase_if(flows, [&](const Flow& f) { return f.decided->verdict != q.verdict; });
  return flows;
}

std::vector<Record> records_of(const GraphInput& in, size_t& skipped) {
  std::vector<Record> out;
  out.reserve(in.flow_lines.size());
  for (const auto& line : in.flow_lines) {
    if (auto r = record_of(line)) out.push_back(std::move(*r));
    else skipped++;
  }
  return out;
}

std::string port_text(const Record& r) {
  if (r.dst.has_port) return r.protocol + "/" + std::to_string(r.dst.port);
  if (auto it = r.line.find("icmp"); it != r.line.end() && it->is_object())
    return r.protocol + " type " + it->value("type", json(0)).dump();
  return r.protocol;
}

std::string edge_id(uint32_t from, uint32_t to) { return std::to_string(from) + ">" + std::to_string(to); }

// "prod/db:5432" -> "prod/db"; an address's port likewise ("fd00::5:22" is
// ambiguous: both forms are tried).
std::vector<std::string> target_hosts(const std::string& target) {
  std::vector<std::string> out{target};
  auto colon = target.rfind(':');
  if (colon != std::string::npos && colon + 1 < target.size() &&
      target.find_first_not_of("0123456789", colon + 1) == std::string::npos)
    out.push_back(target.substr(0, colon));
  return out;
}

}  // namespace

GraphQuery graph_query(const std::map<std::string, std::string>& query, int64_t now_ns) {
  static const std::set<std::string> known = {"namespace", "label", "verdict", "since", "from", "to", "ids", "limit"};
  GraphQuery q;
  for (const auto& [key, value] : query) {
    if (!known.count(key))
      throw Error("unknown parameter \"" + (ascii_printable(key) ? key.substr(0, 64) : std::string("?")) +
                  "\": namespace, label, verdict, since" + " (and from, to, limit on /api/edge; ids on /api/suggest)");
    if (value.size() > 253) throw Error(key + ": longer than 253 characters");
  }
  auto get = [&](const char* key) {
    auto it = query.find(key);
    return it == query.end() ? std::string() : it->second;
  };
  q.ns = get("namespace");
  q.label = get("label");
  if (!q.label.empty() && (q.label.front() == '=' || !ascii_printable(q.label)))
    throw Error("label: expected KEY or KEY=VALUE");
  if (!ascii_printable(q.ns)) throw Error("namespace: expected a namespace's name");
  q.verdict = get("verdict");
  if (!q.verdict.empty() && severity(q.verdict) < 0) throw Error("verdict: expected allowed, denied or audit");
  if (std::string since = get("since"); !since.empty()) {
    if (auto t = parse_rfc3339(since)) q.since_ns = *t;
    else if (auto d = parse_duration_ns(since); d && *d >= 0) q.since_ns = now_ns - *d;
    else throw Error("since: expected an RFC 3339 time or a duration (\"15m\", \"1h30m\")");
  }
  return q;
}

json build_graph(const GraphInput& in, const GraphQuery& q) {
  size_t skipped = 0;
  std::vector<Record> records = records_of(in, skipped);
  std::vector<Flow> flows = flows_of(records, q);

  std::map<uint32_t, json> nodes;
  std::map<std::pair<uint32_t, uint32_t>, json> edges;
  std::map<uint32_t, std::set<std::string>> workloads, ips;
  std::map<std::pair<uint32_t, uint32_t>, std::set<std::string>> ports;
  auto node = [&](const End& e) -> json& {
    auto [it, fresh] = nodes.try_emplace(e.identity);
    if (fresh)
      it->second = {{"id", std::to_string(e.identity)}, {"identity", e.identity}, {"namespace", e.ns},
                    {"labels", e.labels}, {"flows", 0}, {"alerts", json::array()}, {"quarantined", false}};
    if (e.name.find('/') != std::string::npos) workloads[e.identity].insert(e.name);
    else it->second["name"] = e.name;  // world, host, a CIDR, or the label set
    if (!e.ip.empty()) ips[e.identity].insert(e.ip);
    return it->second;
  };
  for (const auto& f : flows) {
    const Record& r = *f.decided;
    json& a = node(r.src);
    a["flows"] = a["flows"].get<uint64_t>() + 1;
    if (r.dst.identity != r.src.identity) {
      json& b = node(r.dst);
      b["flows"] = b["flows"].get<uint64_t>() + 1;
    }
    auto key = std::make_pair(r.src.identity, r.dst.identity);
    auto [it, fresh] = edges.try_emplace(key);
    json& e = it->second;
    if (fresh)
      e = {{"id", edge_id(key.first, key.second)}, {"from", std::to_string(key.first)},
           {"to", std::to_string(key.second)}, {"flows", 0}, {"allowed", 0}, {"denied", 0}, {"audit", 0},
           {"new", false}, {"verdict", r.verdict}};
    e["flows"] = e["flows"].get<uint64_t>() + 1;
    e[r.verdict] = e[r.verdict].get<uint64_t>() + 1;
    if (severity(r.verdict) > severity(e["verdict"].get<std::string>())) e["verdict"] = r.verdict;
    e["last"] = r.line.value("time", "");
    ports[key].insert(port_text(r));
  }
  for (auto& [id, n] : nodes) {
    const auto& w = workloads[id];
    n["workloads"] = w;
    n["ips"] = ips[id];
    if (!n.contains("name") || n["name"].get<std::string>().empty()) {
      // one workload: its name; several of a label set: the set, in its namespace
      std::string labels;
      for (const auto& [k, v] : n["labels"].items()) labels += (labels.empty() ? "" : ",") + k + "=" + v.get<std::string>();
      n["name"] = w.size() == 1 ? *w.begin() : n["namespace"].get<std::string>() + "/" + labels;
    }
  }
  for (auto& [key, e] : edges) {
    json shown = json::array();
    for (const auto& p : ports[key])
      if (shown.size() < kMaxPortsShown) shown.push_back(p);
    if (ports[key].size() > kMaxPortsShown) shown.push_back("+" + std::to_string(ports[key].size() - kMaxPortsShown));
    e["ports"] = shown;
  }

  // alerts: on their source's node; first-seen-edge marks its edge new
  for (const auto& text : in.alert_lines) {
    json a = json::parse(text, nullptr, false);
    if (!a.is_object() || !a.contains("source") || !a["source"].is_object()) continue;
    auto id = a["source"].find("identity");
    if (id == a["source"].end() || !id->is_number_unsigned()) continue;
    if (q.since_ns) {
      auto t = parse_rfc3339(str(a, "time"));
      if (!t || *t < *q.since_ns) continue;
    }
    uint32_t src = static_cast<uint32_t>(id->get<uint64_t>());
    auto n = nodes.find(src);
    if (n == nodes.end()) continue;
    json& list = n->second["alerts"];
    if (list.size() < kMaxAlertsPerNode)
      list.push_back({{"detector", str(a, "detector")}, {"severity", str(a, "severity")},
                      {"summary", str(a, "summary")}, {"time", str(a, "time")}});
    if (!in.baseline_learned || str(a, "detector") != "first-seen-edge" || !a.contains("targets") ||
        !a["targets"].is_array())
      continue;
    for (const auto& t : a["targets"]) {
      if (!t.is_string()) continue;
      for (const auto& host : target_hosts(t.get<std::string>()))
        for (auto& [key, e] : edges)
          if (key.first == src && (workloads[key.second].count(host) || ips[key.second].count(host))) e["new"] = true;
    }
  }
  // quarantines: by the addresses their targets stand for
  if (in.quarantines.is_array())
    for (const auto& qr : in.quarantines) {
      if (!qr.is_object()) continue;
      std::set<std::string> held;
      if (auto a = qr.find("addresses"); a != qr.end() && a->is_array())
        for (const auto& ip : *a)
          if (ip.is_string()) held.insert(ip.get<std::string>());
      std::string target = str(qr, "target");
      for (auto& [id, n] : nodes) {
        bool hit = workloads[id].count(target) || ips[id].count(target);
        for (const auto& ip : ips[id]) hit = hit || held.count(ip);
        if (hit) n["quarantined"] = true;
      }
    }

  json out = {{"nodes", json::array()}, {"edges", json::array()}, {"flows", flows.size()},
              {"skipped", skipped}, {"baseline", in.baseline_learned}};
  std::set<std::string> namespaces;
  for (auto& [id, n] : nodes) {
    namespaces.insert(n["namespace"].get<std::string>());
    out["nodes"].push_back(std::move(n));
  }
  for (auto& [key, e] : edges) out["edges"].push_back(std::move(e));
  out["namespaces"] = namespaces;
  return out;
}

json edge_flows(const GraphInput& in, const GraphQuery& q, uint32_t from, uint32_t to, size_t limit) {
  size_t skipped = 0;
  std::vector<Record> records = records_of(in, skipped);
  std::vector<Flow> flows = flows_of(records, q);
  json out = json::array();
  size_t total = 0;
  for (auto it = flows.rbegin(); it != flows.rend(); ++it) {
    const Record& r = *it->decided;
    if (r.src.identity != from || r.dst.identity != to) continue;
    total++;
    if (out.size() >= limit) continue;
    json seen = json::array();
    for (const Record* each : it->records)
      seen.push_back({{"interface", str(each->line, "interface")}, {"direction", str(each->line, "direction")},
                      {"verdict", each->verdict}, {"rule", str(each->line, "rule")}, {"why", str(each->line, "why")}});
    auto end = [](const End& e) {
      return e.has_port ? (e.ip.find(':') != std::string::npos ? "[" + e.ip + "]" : e.ip) + ":" + std::to_string(e.port)
                        : e.ip;
    };
    std::string rule = str(r.line, "rule");
    out.push_back({{"time", str(r.line, "time")}, {"protocol", r.protocol}, {"port", port_text(r)},
                   {"source", end(r.src)}, {"source_name", r.src.name}, {"destination", end(r.dst)},
                   {"destination_name", r.dst.name}, {"verdict", r.verdict}, {"reason", str(r.line, "reason")},
                   {"rule", rule.empty() ? str(r.line, "why") : rule}, {"policy", str(r.line, "policy")},
                   {"why", str(r.line, "why")}, {"records", seen}});
  }
  return {{"from", std::to_string(from)}, {"to", std::to_string(to)}, {"total", total}, {"flows", out}};
}

std::vector<Group> groups_of(const GraphInput& in, const std::vector<uint32_t>& identities) {
  std::set<uint32_t> wanted(identities.begin(), identities.end());
  std::map<uint32_t, Group> found;
  size_t skipped = 0;
  for (const auto& r : records_of(in, skipped))
    for (const End* e : {&r.src, &r.dst})
      if (wanted.count(e->identity) && !e->ns.empty()) found[e->identity] = {e->ns, e->labels};
  std::vector<Group> out;
  for (auto& [id, g] : found) out.push_back(std::move(g));
  return out;
}

}  // namespace zeroseg::ui
