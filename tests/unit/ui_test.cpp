// SPDX-License-Identifier: Apache-2.0
// The live map: the graph built from flow lines (a pure function), and its
// HTTP side: bad queries get clear 400s, nothing but GET is served, and the
// page and its assets come from the binary.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "api/http.h"
#include "common/error.h"
#include "common/handles.h"
#include "common/time.h"
#include "ui/map_graph.h"
#include "ui/ui_assets.h"
#include "ui/ui_routes.h"

using namespace zeroseg;
using nlohmann::json;

namespace {

// A flow line as telemetry writes it (flow_json.h), the fields the map reads.
std::string flow(const std::string& event, const std::string& verdict, uint32_t src_id, const std::string& src_ip,
                 uint32_t dst_id, const std::string& dst_ip, int dport, const std::string& src_ns = "prod",
                 const std::string& dst_ns = "prod", int sport = 40000, const std::string& time = "2026-12-01T10:00:00Z",
                 const std::string& rule = "") {
  auto end = [](uint32_t id, const std::string& ip, int port, const std::string& ns, const std::string& name) {
    json labels = json::object();
    if (!ns.empty()) labels = {{"app", name}, {"zeroseg.io/namespace", ns}, {"ns:team", "x"}};
    return json{{"ip", ip}, {"port", port}, {"identity", id},
                {"name", ns.empty() ? "world" : ns + "/" + name + "-1"}, {"labels", labels}};
  };
  json j = {{"time", time},
            {"event", event},
            {"interface", "zs-veth"},
            {"direction", "ingress"},
            {"protocol", "tcp"},
            {"source", end(src_id, src_ip, sport, src_ns, "n" + std::to_string(src_id))},
            {"destination", end(dst_id, dst_ip, dport, dst_ns, "n" + std::to_string(dst_id))},
            {"verdict", verdict},
            {"reason", verdict == "denied" ? "default-deny" : "none"},
            {"why", verdict + " because"}};
  if (!rule.empty()) j["rule"] = rule;
  return j.dump();
}

const json* find_edge(const json& g, const std::string& from, const std::string& to) {
  for (const auto& e : g["edges"])
    if (e["from"] == from && e["to"] == to) return &e;
  return nullptr;
}
const json* find_node(const json& g, const std::string& id) {
  for (const auto& n : g["nodes"])
    if (n["id"] == id) return &n;
  return nullptr;
}

ui::GraphInput sample() {
  ui::GraphInput in;
  in.flow_lines = {
      // web -> app allowed, reported at both ends: one flow
      flow("flow-start", "allowed", 256, "10.0.0.2", 257, "10.0.0.3", 8080, "prod", "prod", 40001,
           "2026-12-01T10:00:00Z", "SegmentPolicy/prod/app ingress[0]"),
      flow("flow-start", "allowed", 256, "10.0.0.2", 257, "10.0.0.3", 8080, "prod", "prod", 40001,
           "2026-12-01T10:00:00Z", "SegmentPolicy/prod/app ingress[0]"),
      // web -> db: allowed out of web, denied into db: one flow, denied
      flow("flow-start", "allowed", 256, "10.0.0.2", 258, "10.0.0.4", 5432, "prod", "prod", 40002),
      flow("deny", "denied", 256, "10.0.0.2", 258, "10.0.0.4", 5432, "prod", "prod", 40002),
      // the same denied flow retransmitted: still one
      flow("deny", "denied", 256, "10.0.0.2", 258, "10.0.0.4", 5432, "prod", "prod", 40002),
      // a second web -> app flow, audited
      flow("flow-start", "audit", 256, "10.0.0.2", 257, "10.0.0.3", 9090, "prod", "prod", 40003, "2026-12-01T11:00:00Z"),
      // world -> web, another namespace's view: dev -> prod
      flow("deny", "denied", 2, "192.0.2.9", 256, "10.0.0.2", 22, "", "prod", 50000, "2026-12-01T11:30:00Z"),
      flow("flow-start", "allowed", 300, "10.1.0.2", 257, "10.0.0.3", 8080, "dev", "prod", 41000, "2026-12-01T11:40:00Z"),
      // ends and noise are not conversations
      flow("flow-end", "allowed", 256, "10.0.0.2", 257, "10.0.0.3", 8080),
      "not json",
      R"({"event":"flow-start","source":{"identity":-1},"destination":{}})",
  };
  return in;
}

TEST(MapGraph, EdgesCountFlowsOnceWithTheStricterEndsVerdict) {
  json g = ui::build_graph(sample(), {});
  ASSERT_EQ(g["edges"].size(), 4u) << g.dump(1);
  const json* web_app = find_edge(g, "256", "257");
  ASSERT_TRUE(web_app);
  EXPECT_EQ((*web_app)["flows"], 2);
  EXPECT_EQ((*web_app)["allowed"], 1);
  EXPECT_EQ((*web_app)["audit"], 1);
  EXPECT_EQ((*web_app)["denied"], 0);
  EXPECT_EQ((*web_app)["verdict"], "audit");
  EXPECT_EQ((*web_app)["ports"], json({"tcp/8080", "tcp/9090"}));
  const json* web_db = find_edge(g, "256", "258");
  ASSERT_TRUE(web_db);
  EXPECT_EQ((*web_db)["flows"], 1);
  EXPECT_EQ((*web_db)["denied"], 1);
  EXPECT_EQ((*web_db)["allowed"], 0);
  EXPECT_EQ((*web_db)["verdict"], "denied");
  EXPECT_TRUE(find_edge(g, "2", "256"));
  EXPECT_TRUE(find_edge(g, "300", "257"));
  EXPECT_EQ(g["flows"], 5);
  EXPECT_EQ(g["skipped"], 3);  // the end, the junk, the bad identity
}

TEST(MapGraph, NodesAreIdentitiesInTheirNamespaces) {
  json g = ui::build_graph(sample(), {});
  ASSERT_EQ(g["nodes"].size(), 5u);
  const json* web = find_node(g, "256");
  ASSERT_TRUE(web);
  EXPECT_EQ((*web)["namespace"], "prod");
  EXPECT_EQ((*web)["name"], "prod/n256-1");
  EXPECT_EQ((*web)["labels"], json({{"app", "n256"}}));  // namespace labels left out
  EXPECT_EQ((*web)["flows"], 4);
  const json* world = find_node(g, "2");
  ASSERT_TRUE(world);
  EXPECT_EQ((*world)["namespace"], "");
  EXPECT_EQ((*world)["name"], "world");
  EXPECT_EQ(g["namespaces"], json({"", "dev", "prod"}));
}

TEST(MapGraph, FiltersNamespaceLabelVerdictAndSince) {
  auto edges = [](const ui::GraphQuery& q) {
    std::set<std::string> out;
    json g = ui::build_graph(sample(), q);
    for (const auto& e : g["edges"]) out.insert(e["id"].get<std::string>());
    return out;
  };
  EXPECT_EQ(edges({.ns = "dev"}), std::set<std::string>({"300>257"}));
  EXPECT_EQ(edges({.label = "app=n258"}), std::set<std::string>({"256>258"}));
  EXPECT_EQ(edges({.label = "zeroseg.io/namespace=dev"}), std::set<std::string>({"300>257"}));
  EXPECT_EQ(edges({.verdict = "denied"}), std::set<std::string>({"256>258", "2>256"}));
  EXPECT_EQ(edges({.verdict = "audit"}), std::set<std::string>({"256>257"}));
  auto since = ui::graph_query({{"since", "2026-12-01T11:10:00Z"}}, 0);
  EXPECT_EQ(edges(since), std::set<std::string>({"2>256", "300>257"}));
  // a duration counts back from now
  auto recent = ui::graph_query({{"since", "15m"}}, *parse_rfc3339("2026-12-01T11:50:00Z"));
  EXPECT_EQ(edges(recent), std::set<std::string>({"300>257"}));
}

TEST(MapGraph, AlertsQuarantinesAndNewEdgesAreMarked) {
  ui::GraphInput in = sample();
  in.alert_lines = {
      json{{"time", "2026-12-01T10:00:01Z"}, {"detector", "first-seen-edge"}, {"severity", "low"},
           {"source", {{"identity", 256}, {"name", "prod/n256-1"}}}, {"targets", {"prod/n258-1:5432"}},
           {"summary", "first traffic"}}
          .dump(),
      json{{"time", "2026-12-01T10:00:02Z"}, {"detector", "port-scan"}, {"severity", "medium"},
           {"source", {{"identity", 2}}}, {"targets", json::array()}}
          .dump(),
      "{broken",
  };
  in.quarantines = json::array({{{"target", "prod/n257-1"}, {"addresses", {"10.0.0.3"}}}});
  json g = ui::build_graph(in, {});
  EXPECT_EQ((*find_node(g, "256"))["alerts"].size(), 1u);
  EXPECT_EQ((*find_node(g, "2"))["alerts"][0]["detector"], "port-scan");
  EXPECT_TRUE((*find_node(g, "257"))["quarantined"]);
  EXPECT_FALSE((*find_node(g, "256"))["quarantined"]);
  // no baseline learned: nothing is "new"
  EXPECT_FALSE((*find_edge(g, "256", "258"))["new"]);
  in.baseline_learned = true;
  g = ui::build_graph(in, {});
  EXPECT_TRUE((*find_edge(g, "256", "258"))["new"]);
  EXPECT_FALSE((*find_edge(g, "256", "257"))["new"]);
}

TEST(MapGraph, EdgeFlowsNameTheRuleThatDecidedEach) {
  json e = ui::edge_flows(sample(), {}, 256, 258, 10);
  ASSERT_EQ(e["flows"].size(), 1u) << e.dump(1);
  EXPECT_EQ(e["flows"][0]["verdict"], "denied");
  EXPECT_EQ(e["flows"][0]["rule"], "denied because");  // no rule: default deny, its explanation
  EXPECT_EQ(e["flows"][0]["records"].size(), 3u);
  json a = ui::edge_flows(sample(), {}, 256, 257, 10);
  ASSERT_EQ(a["flows"].size(), 2u);
  EXPECT_EQ(a["flows"][0]["port"], "tcp/9090");  // newest first
  EXPECT_EQ(a["flows"][1]["rule"], "SegmentPolicy/prod/app ingress[0]");
  EXPECT_EQ(ui::edge_flows(sample(), {}, 256, 257, 1)["flows"].size(), 1u);
  EXPECT_EQ(ui::edge_flows(sample(), {}, 256, 257, 1)["total"], 2);
}

TEST(MapGraph, GroupsOfSelectedIdentities) {
  auto groups = ui::groups_of(sample(), {256, 2, 999});
  ASSERT_EQ(groups.size(), 1u);  // world has no namespace, 999 is in no flow
  EXPECT_EQ(groups[0].ns, "prod");
  EXPECT_EQ(groups[0].labels, (std::map<std::string, std::string>{{"app", "n256"}}));
}

TEST(MapGraph, BadQueriesNameTheParameter) {
  auto message = [](std::map<std::string, std::string> q) {
    try {
      ui::graph_query(q, 0);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  EXPECT_NE(message({{"verdict", "maybe"}}).find("verdict: expected allowed, denied or audit"), std::string::npos);
  EXPECT_NE(message({{"since", "yesterday"}}).find("since:"), std::string::npos);
  EXPECT_NE(message({{"since", "-5m"}}).find("since:"), std::string::npos);
  EXPECT_NE(message({{"label", "=x"}}).find("label:"), std::string::npos);
  EXPECT_NE(message({{"label", std::string(300, 'a')}}).find("longer than"), std::string::npos);
  EXPECT_NE(message({{"namspace", "prod"}}).find("unknown parameter \"namspace\""), std::string::npos);
  EXPECT_EQ(message({{"namespace", "prod"}, {"verdict", "denied"}, {"since", "1h30m"}}), "accepted");
}

TEST(MapHttp, ListenAddressesDefaultToLoopback) {
  EXPECT_EQ(ui::ui_listen_address("9000"), "127.0.0.1:9000");
  EXPECT_EQ(ui::ui_listen_address(":9000"), "127.0.0.1:9000");
  EXPECT_EQ(ui::ui_listen_address("localhost:9000"), "127.0.0.1:9000");
  EXPECT_EQ(ui::ui_listen_address("0.0.0.0:9000"), "0.0.0.0:9000");
  EXPECT_EQ(ui::ui_listen_address("[::1]:9000"), "[::1]:9000");
  EXPECT_TRUE(ui::loopback_listen(ui::ui_listen_address("9000")));
  EXPECT_TRUE(ui::loopback_listen("[::1]:9000"));
  EXPECT_FALSE(ui::loopback_listen("0.0.0.0:9000"));
  EXPECT_FALSE(ui::loopback_listen("[::]:9000"));
}

// --- HTTP ---

struct Served {
  std::unique_ptr<api::HttpServer> server;
  std::thread thread;
  int suggested = 0;
  explicit Served(ui::GraphInput in) {
    ui::MapSources s;
    s.flows = [in] { return in.flow_lines; };
    s.alerts = [in] { return in.alert_lines; };
    s.quarantines = [in] { return in.quarantines; };
    s.baseline_learned = [] { return false; };
    s.suggest = [this](const std::vector<ui::Group>& g) {
      suggested++;
      return "# " + std::to_string(g.size()) + " groups\n";
    };
    server = api::HttpServer::web("127.0.0.1:0", ui::ui_routes(std::move(s), {std::chrono::milliseconds(100)}));
    thread = std::thread([this] { server->serve(); });
  }
  ~Served() {
    server->stop();
    thread.join();
  }
};

// The whole answer, the server closing the connection.
std::string roundtrip(const std::string& address, const std::string& request, int timeout_s = 5) {
  UniqueFd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(std::stoi(address.substr(address.rfind(':') + 1))));
  if (connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a))) throw_errno("connect", errno);
  timeval t{timeout_s, 0};
  setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &t, sizeof(t));
  send(fd.get(), request.data(), request.size(), MSG_NOSIGNAL);
  std::string answer;
  char buf[4096];
  for (ssize_t n; (n = recv(fd.get(), buf, sizeof(buf), 0)) > 0;) answer.append(buf, static_cast<size_t>(n));
  return answer;
}
int status_of(const std::string& answer) {
  return answer.rfind("HTTP/1.1 ", 0) == 0 ? std::atoi(answer.substr(9, 3).c_str()) : 0;
}
std::string body_of(const std::string& answer) {
  auto at = answer.find("\r\n\r\n");
  return at == std::string::npos ? "" : answer.substr(at + 4);
}
std::string get(const std::string& address, const std::string& target) {
  return roundtrip(address, "GET " + target + " HTTP/1.1\r\nHost: localhost:9000\r\nConnection: close\r\n\r\n");
}

TEST(MapHttp, NothingButGetIsServed) {
  Served s(sample());
  for (const char* method : {"POST", "PUT", "DELETE", "PATCH", "OPTIONS"})
    for (const char* path : {"/", "/api/graph", "/api/suggest?ids=256", "/v1/apply", "/v1/quarantine/add"}) {
      std::string a = roundtrip(s.server->address(), std::string(method) + " " + path +
                                                        " HTTP/1.1\r\nHost: localhost:9000\r\nContent-Length: 2\r\n\r\n{}");
      EXPECT_EQ(status_of(a), 405) << method << " " << path << ": " << a.substr(0, 200);
      EXPECT_NE(a.find("read-only"), std::string::npos) << a;
    }
  // methods httplib knows nothing of never reach a route either
  for (const char* method : {"TRACE", "CONNECT", "FOO"}) {
    std::string a = roundtrip(s.server->address(), std::string(method) + " / HTTP/1.1\r\nHost: localhost:9000\r\n\r\n");
    EXPECT_GE(status_of(a), 400) << method;
  }
  EXPECT_EQ(s.suggested, 0);
  EXPECT_EQ(status_of(get(s.server->address(), "/api/graph")), 200) << "the server died";
}

TEST(MapHttp, BadQueriesGetClear400s) {
  Served s(sample());
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"/api/graph?verdict=maybe", "verdict: expected allowed, denied or audit"},
      {"/api/graph?since=never", "since:"},
      {"/api/graph?nosuch=1", "no parameter \\\"nosuch\\\""},
      {"/api/graph?label=%3Dx", "label:"},
      {"/api/graph?namespace=%ff%00", "namespace:"},
      {"/api/edge?from=256", "to: an identity number is needed"},
      {"/api/edge?from=abc&to=1", "from: expected an identity number"},
      {"/api/edge?from=99999999999&to=1", "from: expected an identity number"},
      {"/api/edge?from=-1&to=1", "from: expected an identity number"},
      {"/api/edge?from=1&to=2&limit=0", "limit: expected 1 to 1000"},
      {"/api/edge?from=1&to=2&limit=1000000", "limit: expected 1 to 1000"},
      {"/api/suggest", "ids: select one or more"},
      {"/api/suggest?ids=256,,257", "ids: an identity number is needed"},
      {"/api/suggest?ids=" + std::string(2000, '1'), "ids:"},
      {"/api/events?verdict=x", "verdict:"},
  };
  for (const auto& [target, says] : bad) {
    std::string a = get(s.server->address(), target);
    EXPECT_EQ(status_of(a), 400) << target << ": " << a.substr(0, 300);
    EXPECT_NE(body_of(a).find(says), std::string::npos) << target << ": " << body_of(a);
    EXPECT_TRUE(json::accept(body_of(a))) << target;
  }
  EXPECT_EQ(status_of(get(s.server->address(), "/api/suggest?ids=999")), 404);
  EXPECT_EQ(status_of(get(s.server->address(), "/nosuch")), 404);
  EXPECT_EQ(status_of(get(s.server->address(), "/../../etc/passwd")), 404);
  EXPECT_EQ(s.suggested, 0);
}

// A page elsewhere that points a DNS name of its own at 127.0.0.1 (DNS
// rebinding) must not read the map: its requests carry that name as Host.
TEST(MapHttp, OnLoopbackOnlyLoopbackHostsAreAnswered) {
  Served s(sample());
  for (const char* host : {"evil.example", "evil.example:9000", "127.0.0.1.evil.example", "10.0.0.1:9000", "[fe80::1]:9000", "",
                           "[::1].evil.example:9000"}) {
    std::string a = roundtrip(s.server->address(), "GET /api/graph HTTP/1.1\r\nHost: " + std::string(host) + "\r\n\r\n");
    EXPECT_EQ(status_of(a), 403) << host << ": " << a.substr(0, 300);
  }
  for (const char* host : {"localhost", "localhost:9000", "127.0.0.1:9000", "127.1.2.3", "[::1]:9000", "::1"}) {
    std::string a = roundtrip(s.server->address(), "GET /api/graph HTTP/1.1\r\nHost: " + std::string(host) + "\r\n\r\n");
    EXPECT_EQ(status_of(a), 200) << host << ": " << a.substr(0, 300);
  }
  EXPECT_TRUE(ui::loopback_host("127.0.0.1"));
  EXPECT_FALSE(ui::loopback_host("127.0.0.256"));
  EXPECT_FALSE(ui::loopback_host("localhost.evil.example"));
  // attack12: what follows a bracketed name must be a port, and a port digits
  EXPECT_TRUE(ui::loopback_host("[::1]"));
  EXPECT_TRUE(ui::loopback_host("[::1]:8080"));
  EXPECT_TRUE(ui::loopback_host("localhost:8080"));
  EXPECT_FALSE(ui::loopback_host("[::1].evil.example"));
  EXPECT_FALSE(ui::loopback_host("[::1]evil.example:80"));
  EXPECT_FALSE(ui::loopback_host("[::1]:80.evil.example"));
  EXPECT_FALSE(ui::loopback_host("[::1"));
  EXPECT_FALSE(ui::loopback_host("[::1]:"));
  EXPECT_FALSE(ui::loopback_host("localhost:80x"));
  EXPECT_FALSE(ui::loopback_host("127.0.0.1:"));
  EXPECT_FALSE(ui::loopback_host("+127.0.0.1"));
  EXPECT_FALSE(ui::loopback_host(" 127.0.0.1"));
}

// attack12: the Host check follows the address the map binds, not how it
// was spelled: ::1 and 127.0.0.1 written otherwise were served to any Host
// (DNS rebinding), as a bind to all addresses is not loopback.
TEST(MapHttp, LoopbackIsTheBoundAddressNotItsSpelling) {
  for (const char* at : {"127.0.0.1:9000", "127.3.2.1:0", "[::1]:9000", "[0:0:0:0:0:0:0:1]:9000", "[0::1]:9000",
                         "[::ffff:127.0.0.1]:9000", "localhost:9000"})
    EXPECT_TRUE(ui::loopback_listen(at)) << at;
  for (const char* at : {"0.0.0.0:9000", "[::]:9000", "10.1.2.3:9000", "[fe80::1]:9000", "[::ffff:10.0.0.1]:9000"})
    EXPECT_FALSE(ui::loopback_listen(at)) << at;
}

TEST(MapHttp, GraphEdgeSuggestAndAssets) {
  Served s(sample());
  std::string a = get(s.server->address(), "/api/graph?namespace=dev");
  ASSERT_EQ(status_of(a), 200) << a;
  json g = json::parse(body_of(a));
  ASSERT_EQ(g["edges"].size(), 1u);
  EXPECT_EQ(g["edges"][0]["id"], "300>257");
  json e = json::parse(body_of(get(s.server->address(), "/api/edge?from=256&to=258")));
  EXPECT_EQ(e["flows"].size(), 1u);
  json y = json::parse(body_of(get(s.server->address(), "/api/suggest?ids=256,257")));
  EXPECT_EQ(y["yaml"], "# 2 groups\n");
  for (const char* path : {"/", "/index.html", "/map.js", "/map.css", "/d3.min.js"}) {
    std::string page = get(s.server->address(), path);
    EXPECT_EQ(status_of(page), 200) << path;
    EXPECT_NE(page.find("Content-Security-Policy: default-src 'none'"), std::string::npos) << path;
    EXPECT_GT(body_of(page).size(), 100u) << path;
  }
  EXPECT_NE(body_of(get(s.server->address(), "/")).find("<script src=\"/d3.min.js\""), std::string::npos);
  EXPECT_NE(std::string(ui::find_asset("/d3.min.js")->body).find("d3"), std::string::npos);
}

// An open live stream: its head and first graph read, the socket kept.
UniqueFd open_stream(const std::string& address) {
  UniqueFd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(std::stoi(address.substr(address.rfind(':') + 1))));
  if (connect(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a))) throw_errno("connect", errno);
  timeval t{5, 0};
  setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &t, sizeof(t));
  std::string req = "GET /api/events HTTP/1.1\r\nHost: localhost:9000\r\n\r\n";
  send(fd.get(), req.data(), req.size(), MSG_NOSIGNAL);
  std::string got;
  char buf[4096];
  for (ssize_t n; got.find("event: graph") == std::string::npos && (n = recv(fd.get(), buf, sizeof(buf), 0)) > 0;)
    got.append(buf, static_cast<size_t>(n));
  EXPECT_NE(got.find("event: graph"), std::string::npos) << got.substr(0, 300);
  return fd;
}

// attack12: tabs (or a local user) opening live streams take the streams'
// share of the map's threads, never the page's: the fifth is refused, the
// graph is still served, a HEAD of the stream holds no slot, and streams
// whose clients went give their slots back.
TEST(MapHttp, StreamsCannotTakeEveryThread) {
  Served s(sample());
  const std::string addr = s.server->address();
  for (int i = 0; i < 6; i++)
    EXPECT_EQ(status_of(roundtrip(addr, "HEAD /api/events HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")),
              200);
  std::vector<UniqueFd> streams;
  for (int i = 0; i < 4; i++) streams.push_back(open_stream(addr));
  std::string fifth = roundtrip(addr, "GET /api/events HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(status_of(fifth), 503) << fifth.substr(0, 300);
  EXPECT_EQ(status_of(get(addr, "/api/graph")), 200);
  EXPECT_EQ(status_of(get(addr, "/map.js")), 200);
  streams.clear();  // the clients go: their streams end at their next write
  int status = 0;
  for (int i = 0; i < 100 && status != 200; i++) {
    std::string a = roundtrip(addr, "GET /api/events HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", 1);
    status = status_of(a);
    if (status != 200) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(status, 200) << "the streams' slots were not given back";
}

TEST(MapHttp, EventsStreamGraphSnapshots) {
  Served s(sample());
  std::string a = roundtrip(s.server->address(), "GET /api/events?verdict=denied HTTP/1.1\r\nHost: localhost:9000\r\n\r\n", 1);
  EXPECT_EQ(status_of(a), 200) << a.substr(0, 300);
  EXPECT_NE(a.find("Content-Type: text/event-stream"), std::string::npos);
  auto at = a.find("event: graph\r\ndata: ");
  if (at == std::string::npos) at = a.find("event: graph\ndata: ");
  ASSERT_NE(at, std::string::npos) << a.substr(0, 500);
  std::string data = a.substr(a.find("data: ", at) + 6);
  data = data.substr(0, data.find('\n'));
  json g = json::parse(data);
  EXPECT_EQ(g["edges"].size(), 2u);
}

}  // namespace
