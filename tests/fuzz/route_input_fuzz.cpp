// SPDX-License-Identifier: Apache-2.0
// libFuzzer target: the API routes' own parsing of what a client sends
// (agent/route_input.h, telemetry/flow_filter.h): query values of
// /v1/flows, /v1/alerts and /v1/policy/suggest, and the JSON bodies of
// apply, trace and quarantine. The first byte picks the route, the rest is
// the body, or the query as KEY=VALUE&... (bytes as httplib hands them over,
// decoded: any byte at all). A clean Error or json::exception is the
// route's 400; any other exception would be a 500 for the client's
// mistake, and is a bug here, as are crashes, hangs, sanitizer reports and
// unbounded memory.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "agent/route_input.h"
#include "common/error.h"
#include "telemetry/flow_filter.h"

namespace {

using nlohmann::json;
using zeroseg::Query;

Query query_of(std::string_view text) {
  Query q;
  while (!text.empty()) {
    size_t amp = text.find('&');
    std::string_view pair = text.substr(0, amp);
    size_t eq = pair.find('=');
    q[std::string(pair.substr(0, eq))] = eq == std::string_view::npos ? "" : std::string(pair.substr(eq + 1));
    if (amp == std::string_view::npos) break;
    text.remove_prefix(amp + 1);
  }
  return q;
}

const json& a_flow() {
  static const json flow = json::parse(R"({"time":"2026-01-02T03:04:05.123456789Z","event":"flow-start",
    "verdict":"allowed","protocol":"tcp","source":{"name":"shop/web","ip":"10.0.0.1","labels":{"tier":"web"}},
    "destination":{"name":"shop/db","ip":"fd00::2","port":5432,"labels":{"tier":"db"}}})");
  return flow;
}

constexpr int64_t kNow = 1'780'000'000'000'000'000;  // 2026

void one(uint8_t route, std::string_view rest) {
  std::string text(rest);
  switch (route % 5) {
    case 0: {  // GET /v1/flows, /v1/alerts
      Query q = query_of(rest);
      zeroseg::FlowFilter f = zeroseg::FlowFilter::from_query(q);
      zeroseg::query_number(q, "last", 20);
      f.matches(a_flow());
      f.matches_line(a_flow().dump() + "\n");
      break;
    }
    case 1: {  // POST /v1/apply, /v1/delete
      json body = zeroseg::parse_body(text);
      zeroseg::documents(body);
      body.value("dry_run", false);
      break;
    }
    case 2:  // POST /v1/trace
      zeroseg::trace_request(zeroseg::parse_body(text));
      break;
    case 3: {  // POST /v1/quarantine/add, /remove
      json body = zeroseg::parse_body(text);
      zeroseg::quarantine_request(body, kNow);
      body.at("target").get<std::string>();
      break;
    }
    case 4:  // GET /v1/policy/suggest
      zeroseg::suggest_since(query_of(rest), kNow);
      break;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  try {
    one(data[0], std::string_view(reinterpret_cast<const char*>(data) + 1, size - 1));
  } catch (const zeroseg::Error&) {
  } catch (const json::exception&) {
    // both answered 400 by the routes
  }
  return 0;
}
