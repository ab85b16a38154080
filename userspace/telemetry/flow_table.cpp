// SPDX-License-Identifier: Apache-2.0
#include "telemetry/flow_table.h"

#include <zeroseg/conntrack.h>
#include <zeroseg/ipcache.h>
#include <zeroseg/proto.h>
#include <zeroseg/verdict.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <random>

namespace zeroseg {
namespace {

// CLOCK_MONOTONIC_COARSE trails CLOCK_MONOTONIC by up to a tick
constexpr uint64_t kCoarseSlackNs = 50'000'000;

int64_t clock_ns(clockid_t id) {
  timespec ts{};
  clock_gettime(id, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

// conntrack_entries_'s index: zs_conntrack4, zs_conntrack6
int family_index(const zs_ct_key& key) { return key.tuple.family == ZS_FAMILY_IPV4 ? 0 : 1; }

// ICMP opens a flow only as a query's request (include/zeroseg/proto.h):
// errors, replies and any other message are judged on every packet and
// never tracked (bpf/lib/pipeline.h)
bool opens_no_flow(const zs_tuple& t, uint8_t type) {
  return zs_is_icmp(t.proto) && !zs_icmp_is_request(t.proto, type);
}

zs_tuple reversed(const zs_tuple& t) {
  zs_tuple r = t;
  std::memcpy(r.saddr, t.daddr, sizeof(r.saddr));
  std::memcpy(r.daddr, t.saddr, sizeof(r.daddr));
  r.sport = t.dport;
  r.dport = t.sport;
  return r;
}

// A TCP flow whose answer was a RST and never a SYN-ACK: a closed port (or
// a reset in the way). Known at the sweep after the RST; its end comes a
// closing timeout later (10 s by default), too late for a scan's alert.
bool refused_by_reset(const zs_ct_key& key, const zs_ct_entry& ct) {
  return key.tuple.proto == ZS_PROTO_TCP && (ct.tcp_flags[1] & ZS_TCP_RST) && !(ct.tcp_flags[1] & ZS_TCP_SYN);
}

}  // namespace

bool CtKeyEqual::operator()(const zs_ct_key& a, const zs_ct_key& b) const {
  return std::memcmp(&a, &b, sizeof(a)) == 0;
}

uint64_t FlowTable::random_id_base() {
  std::random_device rd;
  // the top bit clear: ids stay below 2^63 for collectors that read int64
  return ((uint64_t(rd()) << 32 | rd()) & ~(uint64_t(1) << 63)) & ~uint64_t(0xffffffff);
}

FlowClock FlowClock::now() {
  FlowClock c;
  c.mono_to_unix = clock_ns(CLOCK_REALTIME) - clock_ns(CLOCK_MONOTONIC);
  c.now_coarse = static_cast<uint64_t>(clock_ns(CLOCK_MONOTONIC_COARSE));
  return c;
}

FlowRecord FlowTable::end_record(const zs_ct_key& key, const Live& flow, FlowEndReason why,
                                 const FlowClock& clock) const {
  const zs_ct_entry& ct = flow.last;
  FlowRecord r;
  r.event = FlowEvent::end;
  r.end_reason = why;
  r.direction = ct.direction;
  r.verdict = ct.flags & ZS_CT_AUDIT ? ZS_VERDICT_AUDIT : ZS_VERDICT_ALLOWED;
  r.ifindex = key.ifindex;
  r.subject = ct.subject;
  r.peer = ct.peer;
  r.rule_id = ct.rule_id;
  r.start_ns = static_cast<int64_t>(ct.created_ns) + clock.mono_to_unix;
  r.time_ns = static_cast<int64_t>(ct.last_seen_ns) + clock.mono_to_unix;
  r.tuple = key.tuple;
  r.icmp_type = flow.icmp_type;
  r.icmp_code = flow.icmp_code;
  r.tcp_flags = {ct.tcp_flags[0], ct.tcp_flags[1]};
  r.packets = {ct.packets[0], ct.packets[1]};
  r.bytes = {ct.bytes[0], ct.bytes[1]};
  r.reported_unanswered = flow.unanswered;
  r.reported_refused = flow.refused;
  r.flow_id = flow.id;
  return r;
}

void FlowTable::report_unanswered(const zs_ct_key& key, Live& flow, const FlowClock& clock,
                                  std::vector<FlowRecord>& out) const {
  const zs_ct_entry& ct = flow.last;
  if (flow.unanswered || flow.refused) return;
  if (refused_by_reset(key, ct)) {
    FlowRecord r = end_record(key, flow, FlowEndReason::none, clock);
    r.event = FlowEvent::refused;
    r.time_ns = static_cast<int64_t>(clock.now_coarse) + clock.mono_to_unix;
    flow.refused = true;
    out.push_back(r);
    return;
  }
  if (!unanswered_after_ns_ || ct.packets[1] || clock.now_coarse < ct.created_ns ||
      clock.now_coarse - ct.created_ns < static_cast<uint64_t>(unanswered_after_ns_))
    return;
  FlowRecord r = end_record(key, flow, FlowEndReason::none, clock);
  r.event = FlowEvent::unanswered;
  r.time_ns = static_cast<int64_t>(clock.now_coarse) + clock.mono_to_unix;
  flow.unanswered = true;
  out.push_back(r);
}

void FlowTable::on_event(const zs_event& ev, const FlowClock& clock, std::vector<FlowRecord>& out) {
  FlowRecord r;
  r.direction = ev.direction;
  r.verdict = ev.verdict;
  r.reason = ev.reason;
  r.icmp_type = ev.icmp_type;
  r.icmp_code = ev.icmp_code;
  r.ifindex = ev.ifindex;
  r.subject = ev.subject;
  r.peer = ev.peer;
  r.rule_id = ev.rule_id;
  r.suppressed = ev.suppressed;
  r.time_ns = static_cast<int64_t>(ev.ts_ns) + clock.mono_to_unix;
  r.tuple = ev.tuple;
  r.tcp_flags[0] = ev.tcp_flags;

  zs_ct_key key{};
  key.ifindex = ev.ifindex;
  key.tuple = ev.tuple;
  switch (ev.type) {
    case ZS_EVENT_FLOW_NEW: {
      r.event = FlowEvent::start;
      if (!opens_no_flow(ev.tuple, ev.icmp_type)) {
        auto [it, fresh] = flows_.try_emplace(key);
        Live& flow = it->second;
        // a sweep may have found the entry between the kernel's insert and
        // this event: the same flow (conntrack's coarse clock lags by a tick)
        bool same = !fresh && !flow.started && flow.synced &&
                    flow.last.created_ns <= ev.ts_ns + kCoarseSlackNs && ev.ts_ns <= flow.last.created_ns + kCoarseSlackNs;
        if (same) {
          flow.started = true;
          r.flow_id = flow.id;
          out.push_back(r);
          return;
        }
        if (!fresh) out.push_back(end_record(key, flow, FlowEndReason::timeout, clock));
        flow.started = true;
        flow.unanswered = flow.refused = false;
        flow.id = r.flow_id = next_id();
        it->second.synced = false;
        it->second.icmp_type = ev.icmp_type;
        it->second.icmp_code = ev.icmp_code;
        zs_ct_entry& ct = it->second.last;
        ct = {};
        ct.created_ns = ct.last_seen_ns = ev.ts_ns;
        ct.packets[0] = 1;
        ct.rule_id = ev.rule_id;
        ct.subject = ev.subject;
        ct.peer = ev.peer;
        ct.direction = ev.direction;
        ct.flags = ev.verdict == ZS_VERDICT_AUDIT ? ZS_CT_AUDIT : 0;
        ct.tcp_flags[0] = ev.tcp_flags;
        it->second.sweep = sweeps_;
      } else {
        r.flow_id = next_id();
      }
      out.push_back(r);
      return;
    }
    case ZS_EVENT_DENY:
      r.event = FlowEvent::deny;
      r.flow_id = next_id();
      out.push_back(r);
      return;
    case ZS_EVENT_REVOKED: {
      // the packet that found the flow revoked may be a reply
      auto it = flows_.find(key);
      if (it == flows_.end()) {
        key.tuple = reversed(ev.tuple);
        it = flows_.find(key);
      }
      if (it != flows_.end()) {
        FlowRecord end = end_record(key, it->second, FlowEndReason::revoked, clock);
        end.verdict = ev.verdict;
        end.reason = ev.reason;
        end.rule_id = ev.rule_id;
        end.time_ns = r.time_ns;
        flows_.erase(it);
        out.push_back(end);
      } else {
        r.event = FlowEvent::end;
        r.end_reason = FlowEndReason::revoked;
        r.start_ns = r.time_ns;
        r.flow_id = next_id();
        out.push_back(r);
      }
      return;
    }
  }
}

void FlowTable::sweep(const ConntrackReader& conntrack, const zs_config& cfg, const FlowClock& clock,
                      std::vector<FlowRecord>& out) {
  uint64_t id = ++sweeps_;
  std::vector<std::pair<zs_ct_key, Live>> expired;
  size_t entries[2] = {};
  usage_.clear();
  conntrack.for_each([&](const zs_ct_key& key, const zs_ct_entry& ct) {
    entries[family_index(key)]++;
    ct_usage_add(usage_, key, ct, 1);
    auto [it, fresh] = flows_.try_emplace(key);
    Live& flow = it->second;
    if (fresh) flow.id = next_id();  // a flow the agent saw no start of (or started before it)
    if (fresh && zs_is_icmp(key.tuple.proto)) {  // a start the agent never saw: the key holds the request's type
      flow.icmp_type = static_cast<uint8_t>(zs_icmp_flow_port(&key.tuple) >> 8);
      flow.icmp_code = static_cast<uint8_t>(zs_icmp_flow_port(&key.tuple) & 0xff);
    }
    // a newer flow on a tuple whose old flow ended between sweeps
    if (flow.synced && flow.last.created_ns != ct.created_ns) {
      out.push_back(end_record(key, flow, FlowEndReason::timeout, clock));
      flow.icmp_type = flow.icmp_code = 0;
      flow.unanswered = flow.refused = false;
      flow.id = next_id();
    }
    flow.last = ct;
    flow.synced = true;
    flow.sweep = id;
    if (clock.now_coarse > ct.last_seen_ns &&
        clock.now_coarse - ct.last_seen_ns > zs_ct_timeout_ns(&cfg, &ct, key.tuple.proto))
      expired.emplace_back(key, flow);  // its end says it all
    else
      report_unanswered(key, flow, clock, out);
  });
  conntrack_entries_[0] = entries[0];
  conntrack_entries_[1] = entries[1];
  for (const auto& [key, flow] : expired) {
    // delete only what is still the flow we judged idle: a packet may have
    // opened a new flow on the tuple since
    const zs_ct_entry& ct = flow.last;
    zs_ct_entry now{};
    if (conntrack.lookup(key, &now) && now.created_ns == ct.created_ns) {
      if (now.last_seen_ns != ct.last_seen_ns) {
        flows_[key].last = now;  // a late packet: not idle after all
        continue;
      }
      if (conntrack.remove(key)) ct_usage_add(usage_, key, ct, -1);
    }
    out.push_back(end_record(key, flow, ct.flags & ZS_CT_CLOSING ? FlowEndReason::closed : FlowEndReason::timeout,
                             clock));
    flows_.erase(key);
    conntrack_entries_[family_index(key)]--;
  }
  for (auto it = flows_.begin(); it != flows_.end();) {
    zs_ct_entry ct{};
    if (it->second.sweep == id || (conntrack.lookup(it->first, &ct) &&
                                   (!it->second.synced || ct.created_ns == it->second.last.created_ns))) {
      ++it;
      continue;
    }
    out.push_back(end_record(it->first, it->second, FlowEndReason::evicted, clock));
    it = flows_.erase(it);
  }
}

}  // namespace zeroseg
