// SPDX-License-Identifier: Apache-2.0
#include "telemetry/flow_filter.h"

#include "abi/names.h"
#include "common/error.h"
#include "common/time.h"
#include "net/addr.h"

namespace zeroseg {
namespace {

// LABEL (key=value), CIDR or address, or WORKLOAD (name or namespace/name)
bool party_matches(const std::string& spec, const nlohmann::json& party) {
  if (spec.empty()) return true;
  if (auto eq = spec.find('='); eq != std::string::npos) {
    const auto& labels = party.value("labels", nlohmann::json::object());
    auto it = labels.find(spec.substr(0, eq));
    return it != labels.end() && it->is_string() && *it == spec.substr(eq + 1);
  }
  std::string name = party.value("name", "");
  if (name == spec || (name.size() > spec.size() && name.ends_with("/" + spec))) return true;
  if (auto prefix = Prefix::parse(spec)) {
    auto ip = IpAddr::parse(party.value("ip", ""));
    return ip && prefix->contains(*ip);
  }
  return false;
}

}  // namespace

FlowFilter FlowFilter::from_query(const std::map<std::string, std::string>& q) {
  FlowFilter f;
  auto get = [&](const char* key) {
    auto it = q.find(key);
    return it == q.end() ? std::string() : it->second;
  };
  f.from_ = get("from");
  f.to_ = get("to");
  if (auto p = get("port"); !p.empty()) {
    char* end = nullptr;
    unsigned long n = std::strtoul(p.c_str(), &end, 10);
    if (*end || n > 65535) throw Error("port: \"" + p + "\" is not a port number (0-65535)");
    f.port_ = static_cast<uint16_t>(n);
  }
  if (auto p = get("protocol"); !p.empty()) {
    auto proto = parse_proto(p);
    if (!proto) throw Error("protocol: \"" + p + "\" is not a protocol name or number");
    f.protocol_ = proto_name(*proto);
  }
  f.verdict_ = get("verdict");
  if (!f.verdict_.empty() && f.verdict_ != "allowed" && f.verdict_ != "denied" && f.verdict_ != "audit")
    throw Error("verdict: \"" + f.verdict_ + "\" is not one of allowed, denied, audit");
  if (auto t = get("since"); !t.empty()) {
    f.since_ = parse_rfc3339(t);
    if (!f.since_) throw Error("since: \"" + t + "\" is not an RFC 3339 time");
  }
  f.event_ = get("event");
  if (!f.event_.empty() && f.event_ != "flow-start" && f.event_ != "flow-end" && f.event_ != "deny" &&
      f.event_ != "flow-unanswered" && f.event_ != "flow-refused")
    throw Error("event: \"" + f.event_ + "\" is not one of flow-start, flow-end, flow-unanswered, flow-refused, deny");
  return f;
}

bool FlowFilter::empty() const {
  return from_.empty() && to_.empty() && protocol_.empty() && verdict_.empty() && event_.empty() && !port_ &&
         !since_;
}

bool FlowFilter::matches(const nlohmann::json& flow) const {
  if (!verdict_.empty() && flow.value("verdict", "") != verdict_) return false;
  if (!event_.empty() && flow.value("event", "") != event_) return false;
  if (!protocol_.empty() && flow.value("protocol", "") != protocol_) return false;
  if (since_) {
    auto t = parse_rfc3339(flow.value("time", ""));
    if (!t || *t < *since_) return false;
  }
  const auto& dst = flow.value("destination", nlohmann::json::object());
  if (port_ && dst.value("port", -1) != *port_) return false;
  return party_matches(from_, flow.value("source", nlohmann::json::object())) && party_matches(to_, dst);
}

bool FlowFilter::matches_line(const std::string& line) const {
  if (empty()) return true;
  auto j = nlohmann::json::parse(line, nullptr, false);
  return !j.is_discarded() && matches(j);
}

}  // namespace zeroseg
