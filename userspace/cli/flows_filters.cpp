// SPDX-License-Identifier: Apache-2.0
#include "cli/flows_filters.h"

#include <algorithm>
#include <cctype>

#include "abi/names.h"
#include "common/error.h"
#include "common/time.h"

namespace zeroseg::cli {

using nlohmann::json;

namespace {

const char* const kNegatable[] = {"from-label", "to-label", "pod", "port", "protocol", "verdict", "event"};

bool negatable(const std::string& flag) {
  return std::any_of(std::begin(kNegatable), std::end(kNegatable), [&](const char* f) { return flag == f; });
}

[[noreturn]] void bad(const std::string& flag, const std::string& value, const std::string& expected) {
  throw Error("--" + flag + " \"" + value + "\": " + expected);
}

// key=value, or several joined by commas (hubble's form): all must match
std::vector<std::pair<std::string, std::string>> label_pairs(const FlowFilterTerm& t) {
  std::vector<std::pair<std::string, std::string>> out;
  size_t at = 0;
  while (at <= t.value.size()) {
    size_t comma = t.value.find(',', at);
    std::string one = t.value.substr(at, comma == std::string::npos ? std::string::npos : comma - at);
    size_t eq = one.find('=');
    if (eq == std::string::npos || eq == 0) bad(t.flag, t.value, "expected key=value (e.g. app=web)");
    out.emplace_back(one.substr(0, eq), one.substr(eq + 1));
    if (comma == std::string::npos) break;
    at = comma + 1;
  }
  return out;
}

bool has_labels(const json& party, const std::string& spec) {
  FlowFilterTerm t{"", spec};
  const json labels = party.value("labels", json::object());
  for (const auto& [k, v] : label_pairs(t)) {
    auto it = labels.find(k);
    if (it == labels.end() || !it->is_string() || *it != v) return false;
  }
  return true;
}

// NAMESPACE/NAME is a workload; NAMESPACE/ every workload of it
bool is_pod(const json& party, const std::string& spec) {
  std::string name = party.value("name", "");
  if (spec.back() == '/') return name.size() > spec.size() && name.rfind(spec, 0) == 0;
  return name == spec;
}

void check(const FlowFilterTerm& t) {
  const std::string& v = t.value;
  if (t.flag == "from-label" || t.flag == "to-label") {
    label_pairs(t);
  } else if (t.flag == "pod") {
    size_t slash = v.find('/');
    if (slash == std::string::npos || slash == 0 || v.find('/', slash + 1) != std::string::npos)
      bad(t.flag, v, "expected NAMESPACE/NAME (or NAMESPACE/ for every workload of it)");
  } else if (t.flag == "port") {
    if (v.empty() || v.size() > 5 || !std::all_of(v.begin(), v.end(), ::isdigit) || std::stoul(v) > 65535)
      bad(t.flag, v, "expected a port number (0-65535)");
  } else if (t.flag == "protocol") {
    if (!parse_proto(v)) bad(t.flag, v, "expected a protocol name (tcp, udp, icmp, ...) or number");
  } else if (t.flag == "verdict") {
    if (v != "allowed" && v != "denied" && v != "audit") bad(t.flag, v, "expected allowed, denied or audit");
  } else if (t.flag == "event") {
    if (v != "start" && v != "end" && v != "unanswered" && v != "refused" && v != "deny")
      bad(t.flag, v, "expected start, end, unanswered, refused or deny");
  }
}

bool holds(const FlowFilterTerm& t, const json& f) {
  const json src = f.value("source", json::object()), dst = f.value("destination", json::object());
  if (t.flag == "from-label") return has_labels(src, t.value);
  if (t.flag == "to-label") return has_labels(dst, t.value);
  if (t.flag == "pod") return is_pod(src, t.value) || is_pod(dst, t.value);
  if (t.flag == "port") return dst.value("port", -1) == std::stoi(t.value);
  if (t.flag == "protocol") return f.value("protocol", "") == proto_name(*parse_proto(t.value));
  if (t.flag == "verdict") return f.value("verdict", "") == t.value;
  if (t.flag == "event") {
    std::string e = f.value("event", "");
    return e == t.value || e == "flow-" + t.value;
  }
  return true;
}

}  // namespace

int64_t parse_time_bound(const std::string& flag, const std::string& text, int64_t now_ns) {
  if (auto ago = parse_duration_ns(text)) return now_ns - *ago;
  if (auto t = parse_rfc3339(text)) return *t;
  bad(flag, text, "expected a duration back from now (30s, 5m, 1h30m) or an RFC 3339 time (2026-12-01T10:00:00Z)");
}

bool FlowFilters::for_agent(const FlowFilterTerm& t) const {
  return !t.negated && (t.flag == "port" || t.flag == "protocol" || t.flag == "verdict" || t.flag == "event");
}

bool FlowFilters::needs_client_side() const {
  return until_ns || std::any_of(terms.begin(), terms.end(), [&](const auto& t) { return !for_agent(t); });
}

bool FlowFilters::matches(const json& flow) const {
  if (since_ns || until_ns) {
    auto t = parse_rfc3339(flow.value("time", ""));
    if (!t || (since_ns && *t < *since_ns) || (until_ns && *t > *until_ns)) return false;
  }
  return std::all_of(terms.begin(), terms.end(), [&](const auto& t) { return holds(t, flow) != t.negated; });
}

FlowFilters parse_flow_filters(const std::vector<std::pair<std::string, std::string>>& in_order, int64_t now_ns) {
  FlowFilters out;
  std::optional<std::string> pending_not;  // what --not was given before, when it waits for its filter
  for (const auto& [flag, value] : in_order) {
    if (flag == "not") {
      if (pending_not) throw Error("--not --not: --not negates the one filter after it");
      pending_not = flag;
      continue;
    }
    if (flag == "since" || flag == "until") {
      if (pending_not) throw Error("--not cannot negate --" + flag + " (use --since and --until for a window)");
      int64_t t = parse_time_bound(flag, value, now_ns);
      (flag == "since" ? out.since_ns : out.until_ns) = t;
      continue;
    }
    if (pending_not && !negatable(flag))
      throw Error("--not cannot negate --" + flag +
                  " (it negates --from-label, --to-label, --pod, --port, --protocol, --verdict or --event)");
    if (flag == "from" || flag == "to") continue;  // the agent's, in its query
    FlowFilterTerm t{flag, value, pending_not.has_value()};
    check(t);
    out.terms.push_back(std::move(t));
    pending_not.reset();
  }
  if (pending_not) throw Error("--not must come before the filter it negates (e.g. --not --pod prod/web)");
  if (out.since_ns && out.until_ns && *out.until_ns < *out.since_ns)
    throw Error("--until is before --since: no flow can match");
  return out;
}

}  // namespace zeroseg::cli
