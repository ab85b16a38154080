// SPDX-License-Identifier: Apache-2.0
#include "telemetry/flow_json.h"

#include <zeroseg/proto.h>
#include <zeroseg/verdict.h>

#include <arpa/inet.h>

#include <charconv>
#include <ctime>

#include "abi/names.h"
#include "telemetry/community_id.h"

namespace zeroseg {
namespace {

void append_uint(std::string& out, uint64_t v) {
  char buf[24];
  auto res = std::to_chars(buf, buf + sizeof(buf), v);
  out.append(buf, res.ptr);
}

// "2026-11-29T10:00:00.123456789Z"; the seconds part is cached per thread
void append_time(std::string& out, int64_t unix_ns) {
  thread_local int64_t cached_sec = -1;
  thread_local char cached[32];
  int64_t sec = unix_ns / 1000000000, frac = unix_ns % 1000000000;
  if (frac < 0) { sec--; frac += 1000000000; }
  if (sec != cached_sec) {
    time_t t = static_cast<time_t>(sec);
    tm tm{};
    gmtime_r(&t, &tm);
    strftime(cached, sizeof(cached), "%Y-%m-%dT%H:%M:%S", &tm);
    cached_sec = sec;
  }
  out += '"';
  out += cached;
  char buf[12] = {'.'};
  for (int i = 9; i >= 1; i--) {
    buf[i] = static_cast<char>('0' + frac % 10);
    frac /= 10;
  }
  out.append(buf, 10);
  out += "Z\"";
}

// inet_ntop goes through printf: IPv4 is done by hand
void append_ip(std::string& out, const IpAddr& ip) {
  if (ip.family != 4) {
    out += ip.str();
    return;
  }
  for (int i = 0; i < 4; i++) {
    if (i) out += '.';
    append_uint(out, ip.bytes[i]);
  }
}

void append_party(std::string& out, const char* key, const IpAddr& ip, uint16_t port_be, bool has_ports,
                  uint32_t identity, const FlowCatalog& names) {
  out += ",\"";
  out += key;
  out += "\":{\"ip\":\"";
  append_ip(out, ip);
  out += '"';
  if (has_ports) {
    out += ",\"port\":";
    append_uint(out, ntohs(port_be));
  }
  out += ",\"identity\":";
  append_uint(out, identity);
  out += ",\"name\":";
  out += names.party(ip, identity).json;
  out += ",\"labels\":";
  out += names.identity(identity).labels_json;
  out += '}';
}

// value: a JSON value already (a Named's json)
void append_json(std::string& out, const char* key, const std::string& value) {
  out += ",\"";
  out += key;
  out += "\":";
  out += value;
}

// value: a fixed name that needs no escaping (verdicts, protocols, ...)
void append_name(std::string& out, const char* key, std::string_view value) {
  out += ",\"";
  out += key;
  out += "\":\"";
  out += value;
  out += '"';
}

void append_number(std::string& out, const char* key, uint64_t value) {
  out += ",\"";
  out += key;
  out += "\":";
  append_uint(out, value);
}

void append_pair(std::string& out, const char* key, const std::array<uint64_t, 2>& v) {
  out += ",\"";
  out += key;
  out += "\":{\"forward\":";
  append_uint(out, v[0]);
  out += ",\"reply\":";
  append_uint(out, v[1]);
  out += '}';
}

// 16 hex digits: a string, as JSON readers that parse numbers as doubles
// would round a 64-bit id
void append_flow_id(std::string& out, uint64_t id) {
  static const char hex[] = "0123456789abcdef";
  out += ",\"flow_id\":\"";
  for (int i = 60; i >= 0; i -= 4) out += hex[(id >> i) & 15];
  out += '"';
}

}  // namespace

std::string tcp_flags_str(uint8_t flags) {
  static const char* names[8] = {"FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"};
  std::string out;
  for (int i = 0; i < 8; i++)
    if (flags & (1 << i)) {
      if (!out.empty()) out += ',';
      out += names[i];
    }
  return out;
}

void append_flow_json(std::string& out, const FlowRecord& r, const FlowCatalog& names) {
  const zs_tuple& t = r.tuple;
  out += "{\"time\":";
  append_time(out, r.time_ns);
  append_name(out, "event", flow_event_name(r.event));
  append_flow_id(out, r.flow_id);
  append_name(out, "community_id", community_id(t, r.icmp_type, r.icmp_code));
  append_json(out, "node", names.node().json);
  append_json(out, "interface", names.endpoint(r.ifindex).interface.json);
  append_name(out, "direction", direction_name(r.direction));
  append_number(out, "ip_version", t.family == 6 ? 6 : 4);
  append_name(out, "protocol", proto_name(t.proto));
  append_party(out, "source", tuple_source(t), t.sport, zs_has_ports(t.proto), r.source_identity(), names);
  append_party(out, "destination", tuple_destination(t), t.dport, zs_has_ports(t.proto), r.destination_identity(),
               names);
  if (zs_is_icmp(t.proto)) {
    out += ",\"icmp\":{\"type\":";
    append_uint(out, r.icmp_type);
    out += ",\"code\":";
    append_uint(out, r.icmp_code);
    out += '}';
  }
  append_name(out, "verdict", verdict_name(r.verdict));
  append_name(out, "reason", reason_name(r.reason));
  append_number(out, "rule_id", r.rule_id);
  if (const FlowCatalog::Rule* rule = names.rule(r.rule_id)) {
    append_json(out, "policy", rule->policy.json);
    append_json(out, "rule", rule->name.json);
  }
  append_json(out, "why", names.explain(r).json);
  if (t.proto == ZS_PROTO_TCP) append_name(out, "tcp_flags", tcp_flags_str(r.tcp_flags[0]));
  if (r.event == FlowEvent::deny) append_number(out, "suppressed", r.suppressed);
  if (r.event == FlowEvent::end || r.event == FlowEvent::unanswered || r.event == FlowEvent::refused) {
    if (r.event == FlowEvent::end) append_name(out, "end_reason", flow_end_reason_name(r.end_reason));
    if (r.reported_unanswered) out += ",\"reported_unanswered\":true";
    if (r.reported_refused) out += ",\"reported_refused\":true";
    out += ",\"start\":";
    append_time(out, r.start_ns);
    append_number(out, "duration_ms", r.time_ns > r.start_ns ? (r.time_ns - r.start_ns) / 1000000 : 0);
    append_pair(out, "packets", r.packets);
    append_pair(out, "bytes", r.bytes);
    if (t.proto == ZS_PROTO_TCP) append_name(out, "tcp_flags_reply", tcp_flags_str(r.tcp_flags[1]));
  }
  out += "}\n";
}

}  // namespace zeroseg
