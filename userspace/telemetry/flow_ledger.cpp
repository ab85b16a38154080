// SPDX-License-Identifier: Apache-2.0
#include "telemetry/flow_ledger.h"

#include <arpa/inet.h>
#include <zeroseg/proto.h>
#include <zeroseg/verdict.h>

#include <algorithm>

namespace zeroseg {
namespace {

int strictness(uint8_t verdict) {
  switch (verdict) {
    case ZS_VERDICT_DENIED: return 2;
    case ZS_VERDICT_AUDIT: return 1;
    default: return 0;
  }
}

}  // namespace

void FlowLedger::record(const FlowRecord& r) {
  if ((r.event != FlowEvent::start && r.event != FlowEvent::deny) || r.link_control()) return;
  uint8_t proto = r.tuple.proto;
  Key k{tuple_source(r.tuple), tuple_destination(r.tuple), proto,
        static_cast<uint16_t>(zs_has_ports(proto) ? ntohs(r.tuple.dport) : zs_is_icmp(proto) ? r.icmp_type : 0)};
  std::lock_guard lock(mu_);
  auto it = seen_.find(k);
  if (it == seen_.end()) {
    if (seen_.size() >= kMax) {
      dropped_++;
      return;
    }
    it = seen_.emplace(k, Conversation{k.src, k.dst, k.proto, k.port, 0, r.time_ns, r.time_ns, r.verdict}).first;
  }
  Conversation& c = it->second;
  // a flow between two of our endpoints is seen at both: once egress,
  // once ingress, with the same source port, moments apart
  bool other_end = c.flows && c.last_sport == r.tuple.sport && r.time_ns - c.last_ns < 2'000'000'000;
  c.last_ns = std::max(c.last_ns, r.time_ns);
  c.last_sport = r.tuple.sport;
  if (!other_end) {
    c.flows++;
    c.verdict = r.verdict;
  } else if (strictness(r.verdict) > strictness(c.verdict)) {
    c.verdict = r.verdict;
  }
}

std::vector<Conversation> FlowLedger::snapshot() const {
  std::lock_guard lock(mu_);
  std::vector<Conversation> out;
  out.reserve(seen_.size());
  for (const auto& [k, c] : seen_) out.push_back(c);
  return out;
}

uint64_t FlowLedger::dropped() const {
  std::lock_guard lock(mu_);
  return dropped_;
}

}  // namespace zeroseg
