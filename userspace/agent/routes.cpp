// SPDX-License-Identifier: Apache-2.0
#include "agent/routes.h"

#include <nlohmann/json.hpp>

#include "agent/agent.h"
#include "agent/cluster_mode.h"
#include "agent/route_input.h"
#include "common/error.h"
#include "common/time.h"
#include "detect/flow_analyzer.h"
#include "loader/datapath.h"
#include "telemetry/flow_filter.h"
#include "telemetry/telemetry.h"
#include "ui/ui_routes.h"

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

// GET /v1/flows?last=N&follow=1&from=&to=&port=&protocol=&verdict=&event=&since=
// JSON lines: the last N flows that pass the filters, then (follow) new
// ones as they come, until the client goes. GET /v1/alerts the same, from
// the alerts' hub.
Response json_lines(FlowHub& hub, const Request& req) {
  FlowFilter filter = FlowFilter::from_query(req.query);
  size_t last = query_number(req.query, "last", 20);
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

Handler metrics_routes(Agent& agent, ClusterMode* cluster) {
  return [&agent, cluster](const Request& req) -> Response {
    if (req.method == "GET" && (req.path == "/metrics" || req.path == "/"))
      return {200, agent.metrics() + (cluster ? cluster->metrics() : ""), "text/plain; version=0.0.4; charset=utf-8"};
    return {404, "not found: /metrics is here\n", "text/plain"};
  };
}

Handler live_map_routes(Agent& agent, bool loopback_only) {
  // the map reads as many flows as the hub keeps (10k lines): what
  // `zeroseg flows --last 10000` shows
  ui::MapSources s;
  s.flows = [&agent] { return agent.telemetry().hub().recent(10000, FlowFilter()); };
  s.alerts = [&agent] { return agent.analyzer().alerts().recent(1000, FlowFilter()); };
  s.quarantines = [&agent] { return agent.quarantines(); };
  s.baseline_learned = [&agent] {
    auto b = agent.analyzer().baseline_status();
    return b.learning_ends_ns != 0 && realtime_now_ns() >= b.learning_ends_ns;
  };
  s.suggest = [&agent](const std::vector<ui::Group>& groups) {
    SuggestGroups only;
    for (const auto& g : groups) only.insert({g.ns, g.labels});
    return agent.suggest_for(only);
  };
  ui::UiOptions options;
  options.loopback_only = loopback_only;
  return ui::ui_routes(std::move(s), options);
}

Handler api_routes(Agent& agent, ClusterMode* cluster) {
  return [&agent, cluster](const Request& req) -> Response {
    try {
      if (req.method == "POST" && (req.path == "/v1/apply" || req.path == "/v1/delete")) {
        json body = parse_body(req.body);
        ObjectSet objs = documents(body);
        bool dry = body.value("dry_run", false);
        // the seam every source of objects goes through; in cluster mode
        // etcd first, then every node's watcher through the same seam
        DesiredState& desired = cluster ? static_cast<DesiredState&>(*cluster) : agent;
        bool wait_all = body.value("wait_all", false);
        if (wait_all && !cluster) return error(400, "--wait-all needs cluster mode (this agent runs without --cluster)");
        ApplyResult r = req.path == "/v1/apply" ? desired.apply(objs, dry) : desired.remove(objs, dry);
        json out = r.to_json();
        if (wait_all && !dry) {
          double secs = body.value("wait_timeout_seconds", 30.0);
          if (!(secs > 0 && secs <= 100)) return error(400, "wait_timeout_seconds: from 0 to 100");
          out["nodes"] = cluster->wait_all(r.cluster_revision, std::chrono::milliseconds(int64_t(secs * 1000)));
        }
        return ok(out);
      }
      if (req.method == "POST" && req.path == "/v1/trace") {
        TraceRequest t = trace_request(parse_body(req.body));
        return ok(agent.trace(t.from, t.to, t.port, t.proto));
      }
      if (req.method == "POST" && req.path == "/v1/quarantine/add") {
        QuarantineRequest q = quarantine_request(parse_body(req.body), realtime_now_ns());
        if (q.management.empty()) q.management = agent.config().quarantine_management;
        return ok(agent.quarantine_add(q.target, q.expires, q.management, "operator"));
      }
      if (req.method == "POST" && req.path == "/v1/quarantine/remove")
        return ok(agent.quarantine_remove(parse_body(req.body).at("target")));
      if (req.method == "GET" && req.path == "/v1/quarantines") return ok(agent.quarantines());
      if (req.method == "GET" && req.path == "/v1/policy/suggest") {
        auto ns = req.query.find("namespace");
        return ok({{"yaml", agent.suggest(suggest_since(req.query, realtime_now_ns()),
                                          ns == req.query.end() ? "" : ns->second)}});
      }
      if (req.method == "GET" && req.path == "/v1/policies") return ok(policies_view(agent.snapshot()));
      if (req.method == "GET" && req.path == "/v1/policy") {
        auto it = req.query.find("ref");
        if (it == req.query.end()) return error(400, "policy needs ?ref=Kind/namespace/name");
        return ok(policy_view(agent.snapshot(), it->second));
      }
      if (req.method == "GET" && req.path == "/v1/workloads") {
        json v = workloads_view(agent.snapshot());
        if (cluster) cluster->add_nodes(v);
        return ok(v);
      }
      if (req.method == "GET" && req.path == "/v1/identities") return ok(identities_view(agent.snapshot()));
      if (req.method == "GET" && req.path == "/v1/status") {
        json s = agent.status();
        if (cluster) s["cluster"] = cluster->status();
        return ok(s);
      }
      if (req.method == "GET" && req.path == "/v1/cluster") {
        if (!cluster) return {404, json{{"error", "this agent runs without --cluster"}}.dump(), "application/json"};
        return ok(cluster->cluster_view());
      }
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
