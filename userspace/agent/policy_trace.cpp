// SPDX-License-Identifier: Apache-2.0
// `zeroseg policy trace`: the loaded datapath judges a crafted packet.
#include <net/if.h>
#include <zeroseg/identity.h>
#include <zeroseg/proto.h>
#include <zeroseg/trace.h>

#include <vector>

#include "abi/names.h"
#include "agent/agent.h"
#include "agent/reconciler.h"
#include "common/error.h"
#include "detect/flow_analyzer.h"
#include "loader/datapath.h"
#include "net/packet_builder.h"
#include "telemetry/flow_catalog.h"
#include "telemetry/telemetry.h"

namespace zeroseg {

using nlohmann::json;

// One end of a trace: a workload (maybe guarded by zeroseg) or an address.
struct Agent::TraceEnd {
  std::string name;  // namespace/name, or the address
  std::vector<IpAddr> ips;
  std::string interface;
  zs_attach_kind kind = ZS_ATTACH_WORKLOAD;
};

Agent::TraceEnd Agent::trace_end(const std::string& spec) const {
  if (auto ip = IpAddr::parse(spec)) {
    for (const auto& w : desired_->workloads)
      for (const auto& a : w.ips)
        if (a == *ip) return {w.meta.ns + "/" + w.meta.name, {*ip}, w.interface, w.attach};
    return {spec, {*ip}, "", ZS_ATTACH_WORKLOAD};
  }
  const Workload* found = desired_->find_workload(spec);
  if (!found) throw Error("no workload or address \"" + spec + "\"");
  if (found->ips.empty()) throw Error("workload " + spec + " has no IP address to trace from or to");
  return {found->meta.ns + "/" + found->meta.name, found->ips, found->interface, found->attach};
}

namespace {

std::string explain(const zs_trace_result& r, const Compiled& c, const std::string& who) {
  const char* dir = direction_name(r.direction);
  auto rule = [&](uint32_t id) {
    auto it = c.rules.find(id);
    return it == c.rules.end() ? "rule " + std::to_string(id) : it->second.str();
  };
  auto selectors = [&] {
    auto it = c.selected_by->find(r.subject);
    return it == c.selected_by->end() ? std::vector<std::string>{} : it->second[r.direction & 1];
  };
  if (r.mode == ZS_MODE_OFF) return std::string("allowed: no policy selects ") + who + " for " + dir;
  if (r.verdict == ZS_VERDICT_ALLOWED) return "allowed by " + rule(r.rule_id);
  std::string why = r.reason == ZS_REASON_POLICY_DENY
                        ? "denied by " + rule(r.rule_id)
                        : default_deny_why(selectors(), who, dir);
  return r.verdict == ZS_VERDICT_AUDIT ? "audit (passes): would be " + why : why;
}

}  // namespace

json Agent::trace(const std::string& from, const std::string& to, uint16_t port, uint8_t proto) {
  std::lock_guard lock(mu_);
  TraceEnd src = trace_end(from), dst = trace_end(to);
  // the family both ends have; IPv4 first
  const IpAddr *s = nullptr, *d = nullptr;
  for (uint8_t family : {4, 6}) {
    for (const auto& a : src.ips) if (a.family == family && !s) s = &a;
    for (const auto& b : dst.ips) if (b.family == family && !d) d = &b;
    if (s && d && s->family == d->family) break;
    s = d = nullptr;
  }
  if (!s || !d) throw Error(src.name + " and " + dst.name + " share no address family");

  PacketBuilder pb;
  pb.eth();
  if (s->family == 4) pb.ipv4(s->str(), d->str());
  else pb.ipv6(s->str(), d->str());
  if (proto == ZS_PROTO_TCP) pb.tcp(40000, port, PacketBuilder::kSyn);
  else if (proto == ZS_PROTO_UDP) pb.udp(40000, port);
  else if (proto == ZS_PROTO_SCTP) pb.sctp(40000, port);
  else if (zs_is_icmp(proto)) pb.icmp(static_cast<uint8_t>(port), 0, 1);
  else throw Error("trace knows tcp, udp, sctp and icmp");
  std::vector<uint8_t> packet = pb.build();

  json out = {{"from", src.name}, {"to", dst.name}, {"source_ip", s->str()}, {"destination_ip", d->str()},
              {"port", port}, {"protocol", proto_name(proto)}, {"steps", json::array()}};
  bool allowed = true, audited = false;
  // the source's egress, then the destination's ingress
  for (int side = 0; side < 2; side++) {
    const TraceEnd& end = side == 0 ? src : dst;
    unsigned ifindex = end.interface.empty() ? 0 : if_nametoindex(end.interface.c_str());
    if (!ifindex || !reconciler_->has_endpoint(ifindex)) {
      out["steps"].push_back({{"at", end.name}, {"direction", side == 0 ? "egress" : "ingress"},
                              {"verdict", "unguarded"},
                              {"explanation", end.name + " is not behind an interface zeroseg guards here"}});
      continue;
    }
    // a workload's egress arrives on its veth; a host's egress leaves its uplink
    bool arriving = (side == 0) == (end.kind == ZS_ATTACH_WORKLOAD);
    zs_trace_result result = dp_->trace(packet, ifindex, arriving);
    const zs_trace_result* r = &result;
    allowed = allowed && r->verdict != ZS_VERDICT_DENIED;
    audited = audited || r->verdict == ZS_VERDICT_AUDIT;
    out["steps"].push_back({{"at", end.name},
                            {"direction", direction_name(r->direction)},
                            {"verdict", verdict_name(r->verdict)},
                            {"reason", reason_name(r->reason)},
                            {"rule", r->rule_id},
                            {"subject", r->subject},
                            {"peer", identity_name(r->peer)},
                            {"explanation", explain(*r, *compiled_, end.name)}});
  }
  out["verdict"] = !allowed ? "denied" : audited ? "audit" : "allowed";
  return out;
}

}  // namespace zeroseg
