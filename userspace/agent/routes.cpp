// SPDX-License-Identifier: Apache-2.0
#include "agent/routes.h"

#include <nlohmann/json.hpp>

#include "agent/agent.h"
#include "common/error.h"
#include "common/time.h"
#include "detect/flow_analyzer.h"
#include "loader/datapath.h"
#include "policy/yaml_reader.h"
#include "telemetry/flow_filter.h"
#include "telemetry/telemetry.h"

namespace zeroseg {
using api::Handler;
using api::Request;
using api::Response;
using api::StreamWriter;

namespace {

using nlohmann::json;

// Messages quote what the client sent (a query is any bytes once decoded):
// bytes that are not UTF-8 are replaced, or dump() would throw and the
// client get a 500 for its own mistake.
std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }
Response error(int status, const std::string& message) { return {status, dump(json{{"error", message}})}; }
Response ok(const json& j) { return {200, dump(j)}; }

// Bodies nest three levels (documents, one, its fields); a 32 MiB body of
// '[' took nlohmann ~1.5 GB to hold while it parsed.
constexpr int kMaxBodyDepth = 32;

json parse_body(const std::string& text) {
  int depth = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxBodyDepth) throw Error("the body nests deeper than " + std::to_string(kMaxBodyDepth) + " levels");
    } else if (c == ']' || c == '}') {
      depth--;
    }
  }
  return json::parse(text);
}

// A JSON integer within [0, max]: get<uint16_t>() took 70000 as 4464, -1
// as 65535 and 1e30 as 0, and traced them.
template <typename T>
T bounded_integer(const json& body, const char* key, T max) {
  const json& v = body.at(key);
  if (!v.is_number_integer() || (v.is_number_unsigned() ? v.get<uint64_t>() > max : v.get<int64_t>() < 0 ||
                                                                                        v.get<int64_t>() > max))
    throw Error(std::string(key) + ": " + dump(v) + " is not an integer from 0 to " + std::to_string(max));
  return static_cast<T>(v.get<uint64_t>());
}

// All documents of a request, validated together: one bad file fails all.
ObjectSet documents(const json& body) {
  ObjectSet all;
  std::map<std::string, SourceRef> seen;
  auto check = [&](const std::string& ref, const SourceRef& src) {
    auto [it, fresh] = seen.emplace(ref, src);
    if (!fresh) throw Error(src.str() + ": " + ref + " is also defined at " + it->second.str());
  };
  for (const auto& d : body.at("documents")) {
    ObjectSet one = load_yaml(d.at("content").get<std::string>(), d.at("name").get<std::string>());
    for (const auto& n : one.namespaces) check("Namespace/" + n.meta.name, n.meta.source);
    for (const auto& w : one.workloads) check("Workload/" + w.meta.ns + "/" + w.meta.name, w.meta.source);
    for (const auto& p : one.policies) check(p.ref(), p.meta.source);
    all.append(one);
  }
  return all;
}

size_t query_number(const Request& req, const char* key, size_t fallback) {
  auto it = req.query.find(key);
  if (it == req.query.end() || it->second.empty()) return fallback;
  char* end = nullptr;
  unsigned long n = std::strtoul(it->second.c_str(), &end, 10);
  if (*end) throw Error(std::string(key) + ": \"" + it->second + "\" is not a number");
  return n;
}

// GET /v1/flows?last=N&follow=1&from=&to=&port=&protocol=&verdict=&event=&since=
// JSON lines: the last N flows that pass the filters, then (follow) new
// ones as they come, until the client goes. GET /v1/alerts the same, from
// the alerts' hub.
Response json_lines(FlowHub& hub, const Request& req) {
  FlowFilter filter = FlowFilter::from_query(req.query);
  size_t last = query_number(req, "last", 20);
  bool follow = req.query.count("follow") && req.query.at("follow") != "0";
  Response r;
  r.content_type = "application/x-ndjson";
  std::vector<std::string> recent = hub.recent(last, filter);
  if (!follow) {
    for (const auto& line : recent) r.body += line;
    return r;
  }
  // subscribe before sending the backlog: nothing falls between the two.
  // The subscription ends with the stream function, whether or not it ever
  // runs: a follow refused (503, streams at their limit) or whose client
  // went before the head was sent left it subscribed, its queue filling
  // (65536 lines) and every publish walking it, for good.
  // (Made in place and never copied: a copy's destructor would unsubscribe
  // the stream it shares, before the first line.)
  struct Subscription {
    Subscription(FlowHub& h, std::shared_ptr<FlowHub::Stream> s) : hub(h), stream(std::move(s)) {}
    Subscription(const Subscription&) = delete;
    Subscription& operator=(const Subscription&) = delete;
    ~Subscription() { end(); }
    void end() {  // once: when the stream returns, else when the response goes
      if (!ended) hub.unsubscribe(stream);
      ended = true;
    }
    FlowHub& hub;
    std::shared_ptr<FlowHub::Stream> stream;
    bool ended = false;
  };
  auto subscription = std::make_shared<Subscription>(hub, hub.subscribe(filter));
  r.stream = [subscription, recent = std::move(recent)](const StreamWriter& write) {
    const auto& stream = subscription->stream;
    std::string backlog;
    for (const auto& line : recent) backlog += line;
    bool open = backlog.empty() ? write("") : write(backlog);
    uint64_t dropped = 0;
    while (open && !stream->closed()) {
      std::string chunk;
      for (auto& line : stream->wait(500)) chunk += line;
      if (uint64_t d = stream->dropped(); d != dropped) {
        chunk += "{\"event\":\"lost\",\"lines\":" + std::to_string(d - dropped) + "}\n";
        dropped = d;
      }
      open = write(chunk);
    }
    subscription->end();
  };
  return r;
}

// The routes that need only the hubs; the rest is 404.
Response hub_routes(const Request& req, FlowHub& flows, FlowHub& alerts) {
  if (req.method == "GET" && req.path == "/v1/flows") return json_lines(flows, req);
  if (req.method == "GET" && req.path == "/v1/alerts") return json_lines(alerts, req);
  return error(404, "no route " + req.method + " " + req.path);
}

}  // namespace

Handler metrics_routes(Agent& agent) {
  return [&agent](const Request& req) -> Response {
    if (req.method == "GET" && (req.path == "/metrics" || req.path == "/"))
      return {200, agent.metrics(), "text/plain; version=0.0.4; charset=utf-8"};
    return {404, "not found: /metrics is here\n", "text/plain"};
  };
}

namespace {

// {"target":..., "expires": "1h" | RFC 3339, "management": [CIDR...]}
json quarantine_add(Agent& agent, const json& body) {
  std::optional<int64_t> expires;
  if (body.contains("expires")) {
    std::string text = body["expires"];
    if (auto d = parse_duration_ns(text); d && *d > 0) expires = realtime_now_ns() + *d;
    else if (auto t = parse_rfc3339(text)) expires = *t;
    else throw Error("--expires: \"" + text + "\" is neither a duration (1h, 30m) nor an RFC 3339 time");
    if (*expires <= realtime_now_ns()) throw Error("--expires: " + text + " is in the past");
  }
  std::vector<Prefix> management;
  for (const auto& m : body.value("management", json::array())) {
    auto p = Prefix::parse(m.get<std::string>());
    if (!p) throw Error("--allow-management: \"" + m.get<std::string>() + "\" is not a CIDR");
    management.push_back(*p);
  }
  if (management.empty()) management = agent.config().quarantine_management;
  return agent.quarantine_add(body.at("target"), expires, management, "operator");
}

// ?since=DURATION&namespace=NS -> {"yaml": "..."}
json suggest(Agent& agent, const Request& req) {
  int64_t since = 0;
  if (auto it = req.query.find("since"); it != req.query.end() && !it->second.empty()) {
    auto d = parse_duration_ns(it->second);
    if (!d || *d <= 0) throw Error("--since: \"" + it->second + "\" is not a duration (10m, 1h, 7d)");
    since = realtime_now_ns() - *d;
  }
  auto ns = req.query.find("namespace");
  return {{"yaml", agent.suggest(since, ns == req.query.end() ? "" : ns->second)}};
}

}  // namespace

Handler api_routes(Agent& agent) {
  return [&agent](const Request& req) -> Response {
    try {
      if (req.method == "POST" && (req.path == "/v1/apply" || req.path == "/v1/delete")) {
        json body = parse_body(req.body);
        ObjectSet objs = documents(body);
        bool dry = body.value("dry_run", false);
        DesiredState& desired = agent;  // the seam every source of objects goes through
        ApplyResult r = req.path == "/v1/apply" ? desired.apply(objs, dry) : desired.remove(objs, dry);
        return ok(r.to_json());
      }
      if (req.method == "POST" && req.path == "/v1/trace") {
        json body = parse_body(req.body);
        return ok(agent.trace(body.at("from"), body.at("to"), bounded_integer<uint16_t>(body, "port", 65535),
                              bounded_integer<uint8_t>(body, "proto", 255)));
      }
      if (req.method == "POST" && req.path == "/v1/quarantine/add") return ok(quarantine_add(agent, parse_body(req.body)));
      if (req.method == "POST" && req.path == "/v1/quarantine/remove")
        return ok(agent.quarantine_remove(parse_body(req.body).at("target")));
      if (req.method == "GET" && req.path == "/v1/quarantines") return ok(agent.quarantines());
      if (req.method == "GET" && req.path == "/v1/policy/suggest") return ok(suggest(agent, req));
      if (req.method == "GET" && req.path == "/v1/policies") return ok(policies_view(agent.snapshot()));
      if (req.method == "GET" && req.path == "/v1/policy") {
        auto it = req.query.find("ref");
        if (it == req.query.end()) return error(400, "policy needs ?ref=Kind/namespace/name");
        return ok(policy_view(agent.snapshot(), it->second));
      }
      if (req.method == "GET" && req.path == "/v1/workloads") return ok(workloads_view(agent.snapshot()));
      if (req.method == "GET" && req.path == "/v1/identities") return ok(identities_view(agent.snapshot()));
      if (req.method == "GET" && req.path == "/v1/status") return ok(agent.status());
      return hub_routes(req, agent.telemetry().hub(), agent.analyzer().alerts());
    } catch (const json::exception& e) {
      return error(400, std::string("bad request: ") + e.what());
    } catch (const Error& e) {
      return error(400, e.what());
    }
  };
}

Handler stream_routes(FlowHub& flows, FlowHub& alerts) {
  return [&flows, &alerts](const Request& req) -> Response {
    try {
      return hub_routes(req, flows, alerts);
    } catch (const Error& e) {
      return error(400, e.what());
    }
  };
}

}  // namespace zeroseg
