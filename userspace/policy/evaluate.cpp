// SPDX-License-Identifier: Apache-2.0
#include "policy/evaluate.h"

#include <zeroseg/identity.h>
#include <zeroseg/proto.h>

#include "common/time.h"

namespace zeroseg {

PolicyJudge::PolicyJudge(const Compiled& compiled, const ObjectSet& state)
    : c_(compiled), now_tai_(realtime_to_tai_ns(realtime_now_ns())) {
  for (const auto& w : state.workloads)
    for (const auto& ip : w.ips) {
      workload_of_[ip] = w.meta.ns + "/" + w.meta.name;
      if (!w.interface.empty()) interface_of_[ip] = w.interface;
    }
}

uint32_t PolicyJudge::identity_of(const IpAddr& ip) const {
  for (int len = ip.max_prefix(); len >= 0; len--) {
    auto it = c_.ipcache.find(Prefix::of(ip, static_cast<uint8_t>(len)));
    if (it != c_.ipcache.end()) return it->second;
  }
  return ZS_ID_WORLD;
}

PolicyJudge::Verdict PolicyJudge::side(const CompiledEndpoint& ep, const std::string& who, uint8_t dir,
                                       uint32_t peer, uint8_t proto, uint16_t port) const {
  uint8_t mode = ep.mode[dir];
  if (mode == ZS_MODE_OFF) return {};
  // for ICMP, port is the type: the key holds it as a type-only rule does
  uint16_t key_port = zs_is_icmp(proto) ? zs_policy_port(proto, 0, static_cast<uint8_t>(port), 0) : port;
  uint32_t allow = 0, audit = 0;
  auto live = [&](uint64_t expires) { return !expires || now_tai_ < expires; };
  for (uint32_t p : {peer, uint32_t{ZS_ID_ANY}}) {
    for (uint8_t pr : {proto, uint8_t{ZS_PROTO_ANY}}) {
      for (uint8_t plen = 0; plen <= 16; plen++) {
        if (pr == ZS_PROTO_ANY && plen) break;
        zs_policy_key k{};
        k.subject = ep.identity;
        k.peer = p;
        k.direction = dir;
        k.proto = pr;
        k.port_plen = plen;
        k.port = plen ? static_cast<uint16_t>(key_port & (0xffff << (16 - plen))) : 0;
        auto it = c_.policy.find(k);
        if (it == c_.policy.end()) continue;
        const zs_policy_entry& e = it->second;
        if (e.deny_rule && live(e.deny_expires)) {
          if (!e.deny_audit) return {ZS_VERDICT_DENIED, c_.rules.count(e.deny_rule) ? c_.rules.at(e.deny_rule).str() : ""};
          audit = audit ? audit : e.deny_rule;
        }
        if (e.allow_rule && live(e.allow_expires)) allow = allow ? allow : e.allow_rule;
      }
    }
  }
  auto name = [&](uint32_t id) { return c_.rules.count(id) ? c_.rules.at(id).str() : "rule " + std::to_string(id); };
  if (audit) return {ZS_VERDICT_AUDIT, name(audit)};
  if (allow) return {ZS_VERDICT_ALLOWED, name(allow)};
  std::string why = std::string("default deny at ") + who + (dir == ZS_DIR_INGRESS ? " ingress" : " egress");
  return {mode == ZS_MODE_ENFORCE ? uint8_t{ZS_VERDICT_DENIED} : uint8_t{ZS_VERDICT_AUDIT}, why};
}

PolicyJudge::Verdict PolicyJudge::judge(const IpAddr& src, const IpAddr& dst, uint8_t proto, uint16_t port) const {
  Verdict out;
  auto guarded = [&](const IpAddr& ip) -> const CompiledEndpoint* {
    auto it = interface_of_.find(ip);
    if (it == interface_of_.end()) return nullptr;
    auto ep = c_.endpoints.find(it->second);
    return ep == c_.endpoints.end() ? nullptr : &ep->second;
  };
  // the source's egress first, as the packet goes
  const std::pair<const IpAddr*, uint8_t> ends[] = {{&src, ZS_DIR_EGRESS}, {&dst, ZS_DIR_INGRESS}};
  for (auto [ip, dir] : ends) {
    const CompiledEndpoint* ep = guarded(*ip);
    if (!ep) continue;
    const IpAddr& other = dir == ZS_DIR_EGRESS ? dst : src;
    Verdict v = side(*ep, workload_of_.at(*ip), dir, identity_of(other), proto, port);
    if (v.verdict == ZS_VERDICT_DENIED) return v;
    if (v.verdict == ZS_VERDICT_AUDIT && out.verdict != ZS_VERDICT_AUDIT) out = v;
    if (out.why.empty()) out.why = v.why;
  }
  return out;
}

}  // namespace zeroseg
