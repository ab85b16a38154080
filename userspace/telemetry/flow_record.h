// SPDX-License-Identifier: Apache-2.0
// One flow record: what the kernel reported (an event) or what conntrack
// held when the flow ended, in numbers. FlowCatalog gives it names and
// flow_json() its JSON line.
#pragma once

#include <zeroseg/conntrack.h>
#include <zeroseg/proto.h>

#include <array>
#include <cstdint>

namespace zeroseg {

enum class FlowEvent : uint8_t {
  start,    // first packet of an allowed or audited flow
  deny,     // a denied packet (rate-limited per source by the kernel)
  end,      // the flow ended: see FlowEndReason
  // no reply yet, flow-unanswered-after its first packet (Zeek's conn_state
  // S0): reported once, by the conntrack sweep, long before its end
  unanswered,
  // a TCP flow whose first answer was a RST (no SYN-ACK: a closed port, or a
  // firewall's reset): reported once, by the next conntrack sweep, not at
  // its end a closing timeout later (Zeek's conn_state REJ)
  refused,
};

enum class FlowEndReason : uint8_t {
  none,
  timeout,  // idle past its conntrack timeout
  closed,   // FIN or RST seen, then idle past the closing timeout
  revoked,  // a policy change cut it (the kernel re-judged it)
  evicted,  // its conntrack entry vanished (LRU eviction, or reused)
};

const char* flow_event_name(FlowEvent e);         // flow-start, deny, flow-end, flow-unanswered, flow-refused
const char* flow_end_reason_name(FlowEndReason r); // timeout, closed, ...

struct FlowRecord {
  FlowEvent event = FlowEvent::start;
  FlowEndReason end_reason = FlowEndReason::none;
  uint8_t direction = 0;  // zs_direction at the interface
  uint8_t verdict = 0;    // zs_verdict
  uint8_t reason = 0;     // zs_reason
  uint8_t icmp_type = 0, icmp_code = 0;
  uint32_t ifindex = 0;
  uint32_t subject = 0;   // identity of the guarded endpoint
  uint32_t peer = 0;      // identity of the other end
  uint32_t rule_id = 0;
  uint32_t suppressed = 0;  // denies from this source the kernel did not report before this one
  // One flow at one interface (a conntrack entry's life): the same in its
  // start, unanswered, refused and end records, never reused by this node
  // (FlowTable). A deny, or an ICMP message that opens no flow, has its own.
  uint64_t flow_id = 0;
  int64_t time_ns = 0;      // Unix ns: the event, or the flow's last packet for an end
  int64_t start_ns = 0;     // Unix ns: the flow's first packet (end records)
  zs_tuple tuple{};         // as the flow's first packet carried it
  std::array<uint8_t, 2> tcp_flags{};  // [0] forward (source to destination), [1] reply
  std::array<uint64_t, 2> packets{}, bytes{};  // end and unanswered records (so far)
  // an end whose flow had a flow-unanswered record: its failure was counted then
  bool reported_unanswered = false;
  // an end whose flow had a flow-refused record: likewise
  bool reported_refused = false;

  bool ingress() const { return direction == 0; }
  // The identities of the source and destination of the first packet.
  uint32_t source_identity() const { return ingress() ? peer : subject; }
  uint32_t destination_identity() const { return ingress() ? subject : peer; }
  // IPv6's own link plumbing (MLD 130-132 and 143, ND 133-137): not a
  // conversation between workloads, so neither learned nor news.
  bool link_control() const {
    return tuple.proto == ZS_PROTO_ICMPV6 &&
           (zs_icmp6_is_nd(icmp_type) || (icmp_type >= 130 && icmp_type <= 132) || icmp_type == 143);
  }
};

}  // namespace zeroseg
