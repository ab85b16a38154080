// SPDX-License-Identifier: Apache-2.0
// The agent's HTTP/JSON API (v1). Every CLI word that needs the agent is
// one of these routes:
//   POST /v1/apply, /v1/delete   {"documents":[{"name","content"}], "dry_run"}
//   POST /v1/trace               {"from","to","port","proto"}
//   POST /v1/quarantine/add      {"target","expires","management"}
//   POST /v1/quarantine/remove   {"target"}
//   GET  /v1/cluster              cluster mode: etcd, revisions, outage
//   GET  /v1/policies, /v1/policy?ref=, /v1/workloads, /v1/identities, /v1/status, /v1/quarantines
//   GET  /v1/policy/suggest?since=&namespace=
//   GET  /v1/flows?last=N&follow=1&from=&to=&port=&protocol=&verdict=&event=&since=  (JSON lines)
//   GET  /v1/alerts?last=N&follow=1  (JSON lines)
#pragma once

#include "api/http.h"
#include "telemetry/flow_hub.h"

namespace zeroseg {

class Agent;
class ClusterMode;

// cluster: applies and deletes go through it (cluster mode), and status has its part.
api::Handler api_routes(Agent& agent, ClusterMode* cluster = nullptr);
// GET /v1/flows and /v1/alerts from these hubs, as api_routes serves them
// (errors included): what tests can serve without an agent.
api::Handler stream_routes(FlowHub& flows, FlowHub& alerts);
// GET /metrics, Prometheus text (served on --metrics-listen)
api::Handler metrics_routes(Agent& agent, ClusterMode* cluster = nullptr);
// The live map (served on --ui-listen, ui/ui_routes.h): read-only views of
// the agent's recent flows, alerts, quarantines and `policy suggest`.
// loopback_only: the listener is on loopback (Host checked against DNS rebinding).
api::Handler live_map_routes(Agent& agent, bool loopback_only);

}  // namespace zeroseg
