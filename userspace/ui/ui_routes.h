// SPDX-License-Identifier: Apache-2.0
// The map's HTTP routes (`zeroseg agent --ui-listen ADDR`), read-only:
//   GET /, /map.js, /map.css, /d3.min.js   the page (ui_assets.h)
//   GET /api/graph?namespace=&label=&verdict=&since=     nodes and edges (map_graph.h)
//   GET /api/edge?from=ID&to=ID&limit=N&...             an edge's flows and their rules
//   GET /api/suggest?ids=ID,ID                          `policy suggest` for those identities
//   GET /api/events?...                                 Server-Sent Events: "graph" snapshots
// Any other method than GET (and HEAD, which httplib answers as GET
// without the body) is 405: nothing here changes the agent's state. The
// routes know no agent: it hands them its views (MapSources).
#pragma once

#include <chrono>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "api/http.h"
#include "ui/map_graph.h"

namespace zeroseg::ui {

struct MapSources {
  std::function<std::vector<std::string>()> flows;   // the recent flow lines, oldest first
  std::function<std::vector<std::string>()> alerts;  // the recent alert lines
  std::function<nlohmann::json()> quarantines;       // Agent::quarantines()
  std::function<bool()> baseline_learned;
  // `policy suggest` for the workloads of these groups
  std::function<std::string(const std::vector<Group>&)> suggest;
};

struct UiOptions {
  // how often /api/events looks for a changed graph
  std::chrono::milliseconds period{2000};
  // a comment line at least this often, so proxies keep the stream
  std::chrono::milliseconds keepalive{15000};
  // Bound to loopback: answer only requests whose Host is a loopback name
  // or address, so a web page elsewhere cannot read the map through a DNS
  // name it points at 127.0.0.1 (DNS rebinding).
  bool loopback_only = true;
};

// Whether a Host header names this machine's loopback ("localhost:9000",
// "127.0.0.1", "[::1]:9000").
bool loopback_host(const std::string& host);
// Whether the map listening on at ("ADDR:PORT", as the agent binds it)
// listens on loopback, whatever its spelling ("[0:0:0:0:0:0:0:1]:9000",
// "[::ffff:127.0.0.1]:9000", a name of 127.0.0.1): it then checks Host.
bool loopback_listen(const std::string& at);

// The address to bind for the ui-listen setting: "9000" or ":9000" ->
// "127.0.0.1:9000", "localhost:9000" -> "127.0.0.1:9000", anything else as
// given: the map is for this machine unless the address says otherwise.
std::string ui_listen_address(const std::string& text);

api::Handler ui_routes(MapSources sources, UiOptions options = {});

}  // namespace zeroseg::ui
