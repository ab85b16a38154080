// SPDX-License-Identifier: Apache-2.0
#include "cli/flow_rows.h"

#include <algorithm>
#include <cstdio>

#include "common/time.h"

namespace zeroseg::cli {

using nlohmann::json;

namespace {

std::string count(uint64_t n, const char* one, const char* many) { return std::to_string(n) + (n == 1 ? one : many); }

// "prod/db:5432", or the address where the end has no workload name
std::string party(const json& p, bool with_port) {
  std::string name = p.value("name", "");
  std::string ip = p.value("ip", "");
  if (name.empty() || name == "world" || name.find('/') == std::string::npos || name.find('.') != std::string::npos ||
      name.find(':') != std::string::npos)
    name = name.empty() || name == ip ? ip : name + "(" + ip + ")";
  if (with_port && p.contains("port")) name += ":" + std::to_string(p["port"].get<int>());
  return name;
}

std::string short_event(const std::string& e) {
  if (e == "flow-start") return "start";
  if (e == "flow-end") return "end";
  if (e == "flow-unanswered") return "unanswered";
  if (e == "flow-refused") return "refused";
  return e;
}

std::string human_bytes(uint64_t n) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(n);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    u++;
  }
  char buf[32];
  std::snprintf(buf, sizeof(buf), u ? "%.1f%s" : "%.0f%s", v, units[u]);
  return buf;
}

std::string protocol_text(const json& f) {
  std::string p = f.value("protocol", "");
  if (f.contains("icmp")) p += " " + std::to_string(f["icmp"]["type"].get<int>()) + "/" + std::to_string(f["icmp"]["code"].get<int>());
  return p;
}

}  // namespace

// what the last column says: the rule or reason; for ends, how it ended
std::string why_text(const json& f) {
  std::string why = f.value("why", "");
  if (f.value("event", "") == "flow-unanswered") {
    why = "no reply " + std::to_string(f.value("duration_ms", 0)) + "ms after the first packet, " +
          count(f["packets"]["forward"].get<uint64_t>(), " pkt", " pkts") + " sent";
  } else if (f.value("event", "") == "flow-refused") {
    why = "reset " + std::to_string(f.value("duration_ms", 0)) + "ms after the first packet, no SYN-ACK";
  } else if (f.value("event", "") == "flow-end") {
    const json& p = f["packets"];
    const json& b = f["bytes"];
    // the duration is first to last packet: a timeout comes an idle period
    // later, so "timeout after 0ms" (a lone SYN) read as a 0 ms timeout
    std::string reason = f.value("end_reason", ""), ms = std::to_string(f.value("duration_ms", 0)) + "ms";
    why = (reason == "timeout" ? "timed out idle, active " + ms : reason + " after " + ms) + ", " +
          std::to_string(p["forward"].get<uint64_t>()) + "/" + std::to_string(p["reply"].get<uint64_t>()) +
          " pkts, " + human_bytes(b["forward"].get<uint64_t>()) + "/" + human_bytes(b["reply"].get<uint64_t>());
  }
  if (f.value("suppressed", 0) > 0) why += " (+" + std::to_string(f["suppressed"].get<uint64_t>()) + " suppressed)";
  return why;
}

std::vector<std::string> flow_row(const json& f) {
  if (f.value("event", "") == "lost")
    return {"", "lost", "", std::to_string(f.value("lines", 0)) + " flows (this stream fell behind)", "", "", "", ""};
  std::string time = f.value("time", "");
  return {time.size() >= 23 ? time.substr(11, 12) : time,
          short_event(f.value("event", "")),
          f.value("verdict", ""),
          party(f["source"], false),
          "->",
          party(f["destination"], true),
          protocol_text(f),
          why_text(f)};
}

void order_by_time(std::vector<json>& flows) {
  // a line without a time (the stream's "lost" note) keeps its place after the record before it
  std::vector<std::pair<int64_t, size_t>> keys;
  int64_t before = 0;
  for (size_t i = 0; i < flows.size(); i++) {
    auto t = parse_rfc3339(flows[i].is_object() ? flows[i].value("time", "") : "");
    before = t ? *t : before;
    keys.push_back({before, i});
  }
  std::stable_sort(keys.begin(), keys.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<json> out;
  out.reserve(flows.size());
  for (const auto& k : keys) out.push_back(std::move(flows[k.second]));
  flows = std::move(out);
}

}  // namespace zeroseg::cli
