// SPDX-License-Identifier: Apache-2.0
// Lateral-movement detectors over the flow stream, per source address.
//
// Each sees every flow record and keeps its own sliding-window state,
// bounded (detector_state.h). An *attempt* is a denied record, a flow no
// reply reached flow-unanswered-after its first packet (its
// flow-unanswered record, seconds after it started; the flow's end is not
// counted again), a TCP flow refused by a RST (its flow-refused record, at
// the sweep after the RST, not at its end a closing timeout later), or an
// ended flow that got no answer (no reply packet) or was refused (a RST and
// no SYN-ACK back); a *success* is an ended flow that was answered (a
// SYN-ACK then a RST too: TRW's success, Zeek's RSTR). docs/detection.md
// has the table of thresholds against their sources.
// A flow between two local workloads is seen at both ends: detectors count
// distinct targets, so seeing it twice counts once.
//
// Thresholds, and their sources where they differ:
//   port-scan     distinct ports tried on one host   (Zeek scan.zeek: 15 in 5 min)      T1046
//   host-sweep    distinct hosts tried on one protocol and port, whether an address
//                 is a workload or not (Zeek: 25 in 5 min; 5 on the lateral-movement
//                 ports 22 135 139 445 3389 5900 5985 5986, as Snort sfPortscan's
//                 low-sense portsweep: 5 hosts). ICMP queries are one "port".      T1046, T1018
//   scan-trw      threshold random walk over first contacts (Jung et al. 2004:
//                 theta0 0.8, theta1 0.2, alpha 0.01, beta 0.99: eta1 = 99)           T1046
//   denied-burst  denies from one source in a short window (50 in 10 s) over at least
//                 5 distinct targets (host, protocol, port; sfPortscan's low sense
//                 counts 5 distinct ports or hosts): fewer is a retry loop         T1046
//   blocked-dependency  one target (host, protocol, port) denied to one source again
//                 and again (5 times in 60 s): what every enforcement rollout
//                 makes. Low, no ATT&CK id; says which policy change allows it
//                 (blocked_dependency.cpp). Zeek and sfPortscan have no such notice.
//   conntrack-limit  a new flow refused because an endpoint holds its share
//                 of conntrack (ct-endpoint-limit): a flood of flows            T1499
//   first-seen-edge  traffic on an (identity, identity, proto, port) edge that is
//                 not in the learned baseline (baseline.h): let in at the end that
//                 decides, or answered (Detection::mark_news); one alert per source and
//                 destination host per suppression period, whatever the ports, and
//                 per severity (a low edge first hides no lateral-movement edge)         T1021[.x]
//   lateral-service  a source's first try of a lateral-movement service, answered
//                 or not (22 ssh, 135 msrpc, 139/445 smb, 3389 rdp, 5900 vnc,
//                 5985/5986 winrm)                                                  T1021.x
//   chain         A reaches B on a new edge, then B reaches C on a new edge within
//                 a window (10 min): a multi-hop path                               T1021
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "detect/alert.h"
#include "telemetry/flow_catalog.h"

namespace zeroseg {

struct DetectionConfig {
  int64_t window_ns = 300'000'000'000;  // port-scan and host-sweep window: 5 min
  size_t port_scan_ports = 15;
  size_t host_sweep_hosts = 25;
  size_t host_sweep_hosts_lateral = 5;  // on lateral-movement ports
  double trw_theta0 = 0.8, trw_theta1 = 0.2, trw_alpha = 0.01, trw_beta = 0.99;
  size_t denied_burst = 50;
  int64_t denied_burst_window_ns = 10'000'000'000;
  size_t denied_burst_targets = 5;  // distinct (host, protocol, port) a burst needs
  size_t blocked_dependency_repeats = 5;  // denies of one target that make a blocked dependency
  int64_t blocked_dependency_window_ns = 60'000'000'000;
  size_t state_keys = 16384;  // per-detector keys kept (detector_state.h)
  int64_t suppress_ns = 600'000'000'000;  // one alert per source and detector per 10 min
  int64_t learning_ns = 86'400'000'000'000;  // baseline learning period: 24 h
  int64_t chain_window_ns = 600'000'000'000;
  std::string state_dir;  // where baseline.json is kept; "" = not kept
};

bool lateral_movement_port(uint16_t port);
// "ssh", "smb", ... for a lateral-movement port; "" for others
const char* lateral_movement_service(uint16_t port);
// The ATT&CK technique of traffic to a port: T1021.004 for ssh, ...; T1021 for others.
const char* remote_service_technique(uint16_t port);

// What a detector reads of a flow record. Kept as evidence too, and put
// into words only when an alert goes out (not per record).
struct Attempt {
  int64_t time_ns = 0;
  IpAddr src, dst;
  uint16_t port = 0;  // destination port (ICMP: 0)
  uint8_t proto = 0;
  uint8_t reason = 0;  // zs_reason of a deny
  uint8_t direction = 0;  // zs_direction at the interface that judged it
  uint32_t rule_id = 0;   // the rule that decided it (0: a default)
  // judged at the destination's end (else the source's)
  bool ingress() const { return direction == ZS_DIR_INGRESS; }
  uint32_t src_identity = 0, dst_identity = 0;
  bool outcome = false;  // an attempt with a known outcome (deny or end)
  bool failed = false;
  bool denied = false;
  bool refused = false;  // RST back
  bool start = false;    // a flow's first packet, allowed (or audited)
  // set by Detection from the baseline before detectors see the attempt
  bool new_edge = false, new_service = false;
};
// "prod/web -> prod/db:22 tcp denied (default-deny)"
std::string evidence_line(const Attempt& a, const FlowCatalog& names);
// What a record says about an attempt: a start, a deny or an end.
Attempt attempt_of(const FlowRecord& r);

class Detector {
 public:
  virtual ~Detector() = default;
  virtual const char* name() const = 0;
  // Alerts this attempt completes (the engine fills in the source).
  virtual void observe(const Attempt& a, const FlowCatalog& names, std::vector<Alert>& out) = 0;
  // Forgets state idle since before `before`.
  virtual void expire(int64_t before) = 0;
  // Keys of state held (each at most DetectionConfig::state_keys).
  virtual size_t keys() const { return 0; }
};

std::vector<std::unique_ptr<Detector>> make_detectors(const DetectionConfig& config);
std::unique_ptr<Detector> make_blocked_dependency(const DetectionConfig& config);  // blocked_dependency.cpp

}  // namespace zeroseg
