// SPDX-License-Identifier: Apache-2.0
#include "ui/ui_routes.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstdio>
#include <thread>

#include "common/error.h"
#include "common/time.h"
#include "ui/ui_assets.h"

namespace zeroseg::ui {

using api::Request;
using api::Response;
using nlohmann::json;

namespace {

constexpr size_t kMaxSelected = 64;
constexpr size_t kDefaultEdgeFlows = 100, kMaxEdgeFlows = 1000;

// The page loads its own script and style only, and talks to this origin
// alone: a label an attacker chose is text, never markup or code.
const std::vector<std::pair<std::string, std::string>> kPageHeaders = {
    {"Content-Security-Policy",
     "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
     "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"},
    {"X-Content-Type-Options", "nosniff"},
    {"Referrer-Policy", "no-referrer"},
    {"Cache-Control", "no-store"}};

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

Response with_headers(Response r) {
  r.headers = kPageHeaders;
  return r;
}
Response error(int status, const std::string& message) { return with_headers({status, dump(json{{"error", message}})}); }
Response ok(const json& j) { return with_headers({200, dump(j)}); }

uint32_t identity_param(const std::map<std::string, std::string>& query, const char* key) {
  auto it = query.find(key);
  if (it == query.end() || it->second.empty()) throw Error(std::string(key) + ": an identity number is needed");
  const std::string& v = it->second;
  if (v.size() > 10 || v.find_first_not_of("0123456789") != std::string::npos || std::stoull(v) > UINT32_MAX)
    throw Error(std::string(key) + ": expected an identity number, not \"" + v.substr(0, 32) + "\"");
  return static_cast<uint32_t>(std::stoull(v));
}

std::vector<uint32_t> id_list(const std::map<std::string, std::string>& query) {
  auto it = query.find("ids");
  if (it == query.end() || it->second.empty()) throw Error("ids: select one or more identities (ids=256,257)");
  std::vector<uint32_t> ids;
  std::string text = it->second + ",";
  for (size_t at = 0, comma; (comma = text.find(',', at)) != std::string::npos; at = comma + 1) {
    if (ids.size() == kMaxSelected) throw Error("ids: at most " + std::to_string(kMaxSelected) + " identities");
    ids.push_back(identity_param({{"ids", text.substr(at, comma - at)}}, "ids"));
  }
  return ids;
}

size_t limit_param(const std::map<std::string, std::string>& query) {
  auto it = query.find("limit");
  if (it == query.end()) return kDefaultEdgeFlows;
  const std::string& v = it->second;
  if (v.empty() || v.size() > 4 || v.find_first_not_of("0123456789") != std::string::npos || std::stoul(v) == 0 ||
      std::stoul(v) > kMaxEdgeFlows)
    throw Error("limit: expected 1 to " + std::to_string(kMaxEdgeFlows));
  return std::stoul(v);
}

GraphInput input_of(const MapSources& s) {
  GraphInput in;
  in.flow_lines = s.flows();
  in.alert_lines = s.alerts();
  in.quarantines = s.quarantines();
  in.baseline_learned = s.baseline_learned();
  return in;
}

// Parameters one route does not take are refused, not ignored: a
// misspelled filter must not show an unfiltered map as if filtered.
void only(const std::map<std::string, std::string>& query, std::initializer_list<const char*> allowed) {
  for (const auto& [key, value] : query) {
    bool known = false;
    for (const char* a : allowed) known = known || key == a;
    if (!known) {
      std::string names;
      for (const char* a : allowed) names += (names.empty() ? "" : ", ") + std::string(a);
      throw Error("this route takes no parameter \"" + key.substr(0, 64) + "\" (it takes " + names + ")");
    }
  }
}

// GET /api/events: the graph as a Server-Sent Event now, and again each
// time it changes (looked at every period), until the client goes.
Response events(const MapSources& sources, const Request& req, const UiOptions& options) {
  only(req.query, {"namespace", "label", "verdict", "since"});
  graph_query(req.query, realtime_now_ns());  // a bad filter is a 400 now, not a dead stream
  Response r = with_headers({200, ""});
  r.content_type = "text/event-stream";
  r.stream = [sources, query = req.query, options](const api::StreamWriter& write) {
    std::string last;
    auto quiet = std::chrono::steady_clock::now();
    for (;;) {
      json graph = build_graph(input_of(sources), graph_query(query, realtime_now_ns()));
      std::string text = dump(graph);
      auto now = std::chrono::steady_clock::now();
      if (text != last) {
        if (!write("event: graph\ndata: " + text + "\n\n")) return;
        last = std::move(text);
        quiet = now;
      } else if (now - quiet >= options.keepalive) {
        if (!write(": keepalive\n\n")) return;
        quiet = now;
      }
      for (auto waited = std::chrono::milliseconds(0); waited < options.period; waited += std::chrono::milliseconds(100)) {
        if (!write("")) return;  // the client went, or the agent stops
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    }
  };
  return r;
}

Response route(const MapSources& sources, const Request& req, const UiOptions& options) {
  if (req.path == "/api/graph") {
    only(req.query, {"namespace", "label", "verdict", "since"});
    return ok(build_graph(input_of(sources), graph_query(req.query, realtime_now_ns())));
  }
  if (req.path == "/api/edge") {
    only(req.query, {"from", "to", "limit", "namespace", "label", "verdict", "since"});
    uint32_t from = identity_param(req.query, "from"), to = identity_param(req.query, "to");
    size_t limit = limit_param(req.query);
    auto filters = req.query;
    for (const char* k : {"from", "to", "limit"}) filters.erase(k);
    return ok(edge_flows(input_of(sources), graph_query(filters, realtime_now_ns()), from, to, limit));
  }
  if (req.path == "/api/suggest") {
    only(req.query, {"ids"});
    std::vector<uint32_t> ids = id_list(req.query);
    std::vector<Group> groups = groups_of(input_of(sources), ids);
    if (groups.empty())
      return error(404, "no workload of the selected identities is in the recent flows: nothing to suggest for");
    return ok({{"yaml", sources.suggest(groups)}, {"groups", groups.size()}});
  }
  if (req.path == "/api/events") return events(sources, req, options);
  if (const Asset* a = find_asset(req.path == "/index.html" ? "/" : req.path)) {
    Response r = with_headers({200, std::string(a->body), std::string(a->content_type)});
    return r;
  }
  return error(404, "no such page: the map is at /");
}

}  // namespace

bool loopback_host(const std::string& host) {
  // NAME or NAME:PORT, where [v6] is a NAME: anything after the name but
  // a port ("[::1].evil.example", "[::1]x") is another host, not ours
  std::string name = host, port;
  if (!name.empty() && name.front() == '[') {
    size_t close = name.find(']');
    if (close == std::string::npos) return false;
    if (close + 1 < name.size() && name[close + 1] != ':') return false;
    port = close + 1 < name.size() ? name.substr(close + 2) : "";
    if (close + 1 < name.size() && port.empty()) return false;
    name = name.substr(1, close - 1);
  } else if (std::count(name.begin(), name.end(), ':') == 1) {
    port = name.substr(name.find(':') + 1);
    if (port.empty()) return false;
    name = name.substr(0, name.find(':'));
  }
  if (port.find_first_not_of("0123456789") != std::string::npos) return false;
  if (name == "localhost" || name == "::1") return true;
  unsigned a, b, c, d;
  char tail;
  return name.find_first_not_of("0123456789.") == std::string::npos &&  // no sign or blank %u would take
         std::sscanf(name.c_str(), "%u.%u.%u.%u%c", &a, &b, &c, &d, &tail) == 4 && a == 127 && b < 256 && c < 256 &&
         d < 256;
}

std::string ui_listen_address(const std::string& text) {
  std::string port = text;
  if (!text.empty() && text.front() == ':') port = text.substr(1);
  else if (text.rfind("localhost:", 0) == 0) port = text.substr(10);
  if (!port.empty() && port.find_first_not_of("0123456789") == std::string::npos) return "127.0.0.1:" + port;
  return text;
}

bool loopback_listen(const std::string& at) {
  // HOST:PORT or [V6]:PORT, as the server takes it (net/addr.h)
  std::string host = at.substr(0, at.rfind(':'));
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* found = nullptr;
  if (getaddrinfo(host.empty() ? nullptr : host.c_str(), nullptr, &hints, &found) != 0)
    return true;  // the bind will fail and say why; meanwhile the stricter answer
  bool loopback = false;  // any of them: the Host check where in doubt
  for (const addrinfo* a = found; a; a = a->ai_next) {
    if (a->ai_family == AF_INET) {
      loopback |= (ntohl(reinterpret_cast<const sockaddr_in*>(a->ai_addr)->sin_addr.s_addr) >> 24) == 127;
    } else if (a->ai_family == AF_INET6) {
      const in6_addr& v6 = reinterpret_cast<const sockaddr_in6*>(a->ai_addr)->sin6_addr;
      loopback |= IN6_IS_ADDR_LOOPBACK(&v6) || (IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127);
    }
  }
  freeaddrinfo(found);
  return loopback;
}

api::Handler ui_routes(MapSources sources, UiOptions options) {
  return [sources = std::move(sources), options](const Request& req) -> Response {
    if (req.method != "GET" && req.method != "HEAD")
      return error(405, "the map is read-only: " + req.method.substr(0, 16) + " is not served, only GET and HEAD");
    if (options.loopback_only && !loopback_host(req.host))
      return error(403, "this map listens on loopback and answers to localhost, 127.0.0.1 or [::1] only, "
                        "not Host \"" + req.host.substr(0, 64) + "\"");
    try {
      return route(sources, req, options);
    } catch (const json::exception& e) {
      return error(400, std::string("bad request: ") + e.what());
    } catch (const Error& e) {
      return error(400, e.what());
    }
  };
}

}  // namespace zeroseg::ui
