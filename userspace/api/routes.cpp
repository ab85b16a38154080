// SPDX-License-Identifier: Apache-2.0
#include "api/routes.h"

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "policy/loader.h"

namespace zeroseg::api {
namespace {

using nlohmann::json;

Response error(int status, const std::string& message) { return {status, json{{"error", message}}.dump()}; }
Response ok(const json& j) { return {200, j.dump()}; }

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
    for (auto& n : one.namespaces) {
      check("Namespace/" + n.meta.name, n.meta.source);
      all.namespaces.push_back(std::move(n));
    }
    for (auto& w : one.workloads) {
      check("Workload/" + w.meta.ns + "/" + w.meta.name, w.meta.source);
      all.workloads.push_back(std::move(w));
    }
    for (auto& p : one.policies) {
      check(p.ref(), p.meta.source);
      all.policies.push_back(std::move(p));
    }
  }
  return all;
}

}  // namespace

Handler routes(Agent& agent) {
  return [&agent](const Request& req) -> Response {
    try {
      if (req.method == "POST" && (req.path == "/v1/apply" || req.path == "/v1/delete")) {
        json body = json::parse(req.body);
        ObjectSet objs = documents(body);
        bool dry = body.value("dry_run", false);
        ApplyResult r = req.path == "/v1/apply" ? agent.apply(objs, dry) : agent.remove(objs, dry);
        return ok(r.to_json());
      }
      if (req.method == "POST" && req.path == "/v1/trace") {
        json body = json::parse(req.body);
        return ok(agent.trace(body.at("from"), body.at("to"), body.at("port"), body.at("proto")));
      }
      if (req.method == "GET" && req.path == "/v1/policies") return ok(agent.policies());
      if (req.method == "GET" && req.path == "/v1/policy") {
        auto it = req.query.find("ref");
        if (it == req.query.end()) return error(400, "policy needs ?ref=Kind/namespace/name");
        return ok(agent.policy(it->second));
      }
      if (req.method == "GET" && req.path == "/v1/workloads") return ok(agent.workloads());
      if (req.method == "GET" && req.path == "/v1/identities") return ok(agent.identities());
      if (req.method == "GET" && req.path == "/v1/status") return ok(agent.status());
      return error(404, "no route " + req.method + " " + req.path);
    } catch (const json::exception& e) {
      return error(400, std::string("bad request: ") + e.what());
    } catch (const Error& e) {
      return error(400, e.what());
    }
  };
}

}  // namespace zeroseg::api
