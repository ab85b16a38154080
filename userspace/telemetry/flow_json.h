// SPDX-License-Identifier: Apache-2.0
// A flow record as one JSON line (the flow log's, the live stream's and
// `zeroseg flows -o json`'s format). Written by hand, not through a DOM:
// the telemetry thread formats every event, up to a million a second.
//
//   {"time":"2026-11-29T10:00:00.123456789Z","event":"flow-start","flow_id":"1f3a9c0200000007",
//    "community_id":"1:wCb3OG7yAFWelaUydu0D+125CLM=","node":"n1",
//    "interface":"zs-web","direction":"ingress","ip_version":4,"protocol":"tcp",
//    "source":{"ip":"10.0.1.2","port":40312,"identity":260,"name":"prod/app","labels":{...}},
//    "destination":{...},"verdict":"allowed","reason":"none","rule_id":3,
//    "policy":"SegmentPolicy/prod/three-tier","rule":"SegmentPolicy/prod/three-tier ingress[0]",
//    "why":"allowed by ...","tcp_flags":"SYN"}
//
// flow_id: one flow at one interface, the same in all its records
// (FlowRecord::flow_id); community_id: Community ID v1, seed 0, the same
// for both directions and both interfaces of the flow, and in other tools'
// logs (telemetry/community_id.h).
// ICMP flows carry "icmp":{"type":8,"code":0}; denies "suppressed" (denies
// from the source the kernel did not report since the last one); ends
// "end_reason", "start", "duration_ms", "packets"/"bytes" {"forward","reply"}
// and "tcp_flags_reply". A "flow-unanswered" record (a flow no reply has
// reached flow-unanswered-after its first packet, once per flow; Zeek's
// conn_state S0) has the same fields as an end but "end_reason", its
// counters so far; the end of such a flow adds "reported_unanswered":true.
// A "flow-refused" record (a TCP flow whose first answer was a RST, once per
// flow; Zeek's REJ) likewise, and its end adds "reported_refused":true.
#pragma once

#include <string>

#include "telemetry/flow_catalog.h"

namespace zeroseg {

// Appends the record's JSON line (with a trailing newline) to out.
void append_flow_json(std::string& out, const FlowRecord& r, const FlowCatalog& names);

// "SYN,ACK,FIN"; "" when none
std::string tcp_flags_str(uint8_t flags);

}  // namespace zeroseg
