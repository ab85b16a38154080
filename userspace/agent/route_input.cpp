// SPDX-License-Identifier: Apache-2.0
#include "agent/route_input.h"

#include <charconv>

#include "common/error.h"
#include "common/time.h"
#include "policy/yaml_reader.h"

namespace zeroseg {

using nlohmann::json;

namespace {

// Messages quote what the client sent: bytes that are not UTF-8 are
// replaced, or dump() would throw.
std::string json_text(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

// Bodies nest three levels (documents, one, its fields); a 32 MiB body of
// '[' took nlohmann ~1.5 GB to hold while it parsed.
constexpr int kMaxBodyDepth = 32;

}  // namespace

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

// get<uint16_t>() took 70000 as 4464, -1 as 65535 and 1e30 as 0, and
// traced them.
uint64_t bounded_integer(const json& body, const char* key, uint64_t max) {
  const json& v = body.at(key);
  if (!v.is_number_integer() || (v.is_number_unsigned() ? v.get<uint64_t>() > max : v.get<int64_t>() < 0 ||
                                                                                        v.get<uint64_t>() > max))
    throw Error(std::string(key) + ": " + json_text(v) + " is not an integer from 0 to " + std::to_string(max));
  return v.get<uint64_t>();
}

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

size_t query_number(const Query& query, const char* key, size_t fallback) {
  auto it = query.find(key);
  if (it == query.end() || it->second.empty()) return fallback;
  const std::string& text = it->second;
  // digits only: strtoul took " 5", "+5" and "-1" (as 2^64-1)
  size_t n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || end != text.data() + text.size() || text[0] < '0' || text[0] > '9')
    throw Error(std::string(key) + ": " + json_text(text) + " is not a number");
  return n;
}

TraceRequest trace_request(const json& body) {
  return {body.at("from").get<std::string>(), body.at("to").get<std::string>(),
          static_cast<uint16_t>(bounded_integer(body, "port", 65535)),
          static_cast<uint8_t>(bounded_integer(body, "proto", 255))};
}

QuarantineRequest quarantine_request(const json& body, int64_t now_ns) {
  QuarantineRequest q;
  q.target = body.at("target").get<std::string>();
  if (body.contains("expires")) {
    std::string text = body.at("expires").get<std::string>();
    if (auto d = parse_duration_ns(text); d && *d > 0) q.expires = now_ns + *d;
    else if (auto t = parse_rfc3339(text)) q.expires = *t;
    else throw Error("--expires: " + json_text(text) + " is neither a duration (1h, 30m) nor an RFC 3339 time");
    if (*q.expires <= now_ns) throw Error("--expires: " + json_text(text) + " is in the past");
  }
  for (const auto& m : body.value("management", json::array())) {
    auto p = Prefix::parse(m.get<std::string>());
    if (!p) throw Error("--allow-management: " + json_text(m) + " is not a CIDR");
    q.management.push_back(*p);
  }
  return q;
}

int64_t suggest_since(const Query& query, int64_t now_ns) {
  auto it = query.find("since");
  if (it == query.end() || it->second.empty()) return 0;
  auto d = parse_duration_ns(it->second);
  if (!d || *d <= 0) throw Error("--since: " + json_text(it->second) + " is not a duration (10m, 1h, 7d)");
  return now_ns - *d;
}

}  // namespace zeroseg
