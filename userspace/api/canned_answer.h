// SPDX-License-Identifier: Apache-2.0
// The transport's own answers, sent before (or instead of) reading a
// request: whole HTTP/1.1 responses with a JSON error body, then close.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace zeroseg::api {

// {"error": message}; bytes of the message that are not UTF-8 (a client's,
// quoted) replaced, or dump() would throw.
inline std::string json_error(const std::string& message) {
  return nlohmann::json{{"error", message}}.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

inline std::string canned_answer(int status, const char* reason, const std::string& message) {
  std::string body = json_error(message);
  return "HTTP/1.1 " + std::to_string(status) + " " + reason +
         "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\nConnection: close\r\n\r\n" + body;
}

// The answers more than one part of the transport sends.
inline const std::string& busy_answer() {
  static const std::string answer = canned_answer(503, "Service Unavailable", "the agent is busy: try again");
  return answer;
}
inline const std::string& late_answer() {
  static const std::string answer = canned_answer(408, "Request Timeout", "the request did not arrive in time");
  return answer;
}

}  // namespace zeroseg::api
