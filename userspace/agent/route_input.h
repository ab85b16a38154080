// SPDX-License-Identifier: Apache-2.0
// What the API routes (routes.cpp) read from a request: bodies, their
// fields, query values. Pure, so that the fuzz target
// (tests/fuzz/route_input_fuzz.cpp) runs them without an agent. Each
// throws Error or nlohmann::json::exception for bad input (the routes
// answer 400); any other exception is a bug (it would answer 500).
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "net/addr.h"
#include "policy/objects.h"

namespace zeroseg {

using Query = std::map<std::string, std::string>;

// A JSON body, refused past kMaxBodyDepth levels of nesting.
nlohmann::json parse_body(const std::string& text);
// body[key]: a JSON integer within [0, max].
uint64_t bounded_integer(const nlohmann::json& body, const char* key, uint64_t max);
// {"documents":[{"name","content"}]}: all documents, validated together.
ObjectSet documents(const nlohmann::json& body);
// ?key=N (decimal digits only); fallback when absent or empty.
size_t query_number(const Query& query, const char* key, size_t fallback);

// POST /v1/trace {"from","to","port","proto"}
struct TraceRequest {
  std::string from, to;
  uint16_t port = 0;
  uint8_t proto = 0;
};
TraceRequest trace_request(const nlohmann::json& body);

// POST /v1/quarantine/add {"target", "expires": "1h" | RFC 3339, "management": [CIDR...]}
struct QuarantineRequest {
  std::string target;
  std::optional<int64_t> expires;  // realtime ns
  std::vector<Prefix> management;  // empty: the agent's setting
};
QuarantineRequest quarantine_request(const nlohmann::json& body, int64_t now_ns);

// GET /v1/policy/suggest?since=DURATION: the realtime ns it starts at (0: all)
int64_t suggest_since(const Query& query, int64_t now_ns);

}  // namespace zeroseg
