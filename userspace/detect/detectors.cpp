// SPDX-License-Identifier: Apache-2.0
#include "detect/detectors.h"

#include <arpa/inet.h>
#include <zeroseg/proto.h>
#include <zeroseg/verdict.h>

#include <cmath>
#include <tuple>
#include <unordered_set>

#include "abi/names.h"
#include "detect/detector_state.h"

namespace zeroseg {
namespace {

struct PairHash {
  size_t operator()(const std::pair<IpAddr, IpAddr>& p) const { return IpAddrHash()(p.first) * 31 + IpAddrHash()(p.second); }
};
// (address, protocol << 16 | port)
struct AddrPortHash {
  size_t operator()(const std::pair<IpAddr, uint32_t>& p) const { return IpAddrHash()(p.first) * 31 + p.second; }
};

// A destination: host, protocol and port
struct Target {
  IpAddr host;
  uint8_t proto;
  uint16_t port;
  bool operator<(const Target& o) const { return std::tie(host, proto, port) < std::tie(o.host, o.proto, o.port); }
};

// port-scan: distinct ports tried on one host by one source
class PortScan : public Detector {
 public:
  explicit PortScan(const DetectionConfig& c) : c_(c), state_(c.state_keys) {}
  const char* name() const override { return "port-scan"; }
  void observe(const Attempt& a, const FlowCatalog& names, std::vector<Alert>& out) override {
    if (!a.outcome || !a.failed || !a.port) return;
    State& s = state_.touch({a.src, a.dst}, a.time_ns);
    s.last = a.time_ns;
    s.keep(a);
    s.ports.see(a.port, a.time_ns, c_.window_ns);
    if (s.ports.size() < c_.port_scan_ports) return;
    Alert al = make_alert(name(), "medium", {"T1046"}, s, names);
    std::string host = host_label(names, a.dst), ports;
    for (const auto& [p, t] : s.ports.seen) ports += (ports.empty() ? "" : ",") + std::to_string(p);
    al.targets = {host};
    al.summary = std::to_string(s.ports.size()) + " ports tried on " + host + " within " +
                 std::to_string(c_.window_ns / 60'000'000'000) + " min, unanswered or denied (" + ports + ")";
    out.push_back(std::move(al));
    s.ports.seen.clear();
  }
  void expire(int64_t before) override { state_.expire(before); }
  size_t keys() const override { return state_.size(); }

 private:
  struct State : Trail {
    DistinctWindow<uint16_t> ports;
  };
  DetectionConfig c_;
  RecentMap<std::pair<IpAddr, IpAddr>, State, PairHash> state_;
};

// host-sweep: distinct hosts tried on one port by one source
class HostSweep : public Detector {
 public:
  explicit HostSweep(const DetectionConfig& c) : c_(c), state_(c.state_keys) {}
  const char* name() const override { return "host-sweep"; }
  void observe(const Attempt& a, const FlowCatalog& names, std::vector<Alert>& out) override {
    if (!a.outcome || !a.failed) return;
    // by protocol too: tcp/53 and udp/53 are two services, ICMP echo no port
    State& s = state_.touch({a.src, uint32_t{a.proto} << 16 | a.port}, a.time_ns);
    s.last = a.time_ns;
    s.keep(a);
    s.hosts.see(a.dst, a.time_ns, c_.window_ns);
    bool lateral = zs_has_ports(a.proto) && lateral_movement_port(a.port);
    size_t threshold = lateral ? c_.host_sweep_hosts_lateral : c_.host_sweep_hosts;
    if (s.hosts.size() < threshold) return;
    Alert al = make_alert(name(), lateral ? "high" : "medium", {"T1046", "T1018"}, s, names);
    std::string port = zs_has_ports(a.proto) ? ":" + std::to_string(a.port) : "";
    for (const auto& [h, t] : s.hosts.seen) al.targets.push_back(host_label(names, h) + port);
    al.summary = std::to_string(s.hosts.size()) + " hosts tried on " + proto_name(a.proto) +
                 (zs_has_ports(a.proto) ? "/" + std::to_string(a.port) : "") +
                 (lateral ? " (a lateral-movement service)" : "") + ", unanswered, refused or denied";
    out.push_back(std::move(al));
    s.hosts.seen.clear();
  }
  void expire(int64_t before) override { state_.expire(before); }
  size_t keys() const override { return state_.size(); }

 private:
  struct State : Trail {
    DistinctWindow<IpAddr> hosts;
  };
  DetectionConfig c_;
  RecentMap<std::pair<IpAddr, uint32_t>, State, AddrPortHash> state_;
};

// scan-trw: sequential hypothesis test over the outcomes of first contacts
class ThresholdRandomWalk : public Detector {
 public:
  explicit ThresholdRandomWalk(const DetectionConfig& c)
      : c_(c),
        up_((1 - c.trw_theta1) / (1 - c.trw_theta0)),
        down_(c.trw_theta1 / c.trw_theta0),
        eta1_(c.trw_beta / c.trw_alpha),
        eta0_((1 - c.trw_beta) / (1 - c.trw_alpha)),
        state_(c.state_keys) {}
  const char* name() const override { return "scan-trw"; }
  void observe(const Attempt& a, const FlowCatalog& names, std::vector<Alert>& out) override {
    if (!a.outcome) return;
    State& s = state_.touch(a.src, a.time_ns);
    s.last = a.time_ns;
    // a source contacting more hosts than this starts its list again: a
    // re-contact then counts as a first contact (memory, not precision)
    if (s.contacted.size() >= kMaxContacts) s.contacted.clear();
    if (!s.contacted.insert(a.dst).second) return;  // only first contacts count
    s.ratio *= a.failed ? up_ : down_;
    if (a.failed) {
      s.keep(a);
      s.failures++;
      if (s.failed_hosts.size() < kMaxTargets) s.failed_hosts.push_back(host_label(names, a.dst));
    }
    if (s.ratio <= eta0_) {
      s.ratio = 1;  // benign so far: walk again from the start
      return;
    }
    if (s.ratio < eta1_) return;
    Alert al = make_alert(name(), "high", {"T1046"}, s, names);
    al.targets = s.failed_hosts;
    char ratio[32];
    std::snprintf(ratio, sizeof(ratio), "%.0f", s.ratio);
    al.summary = std::to_string(s.failures) + " failed first contacts: likelihood ratio " + ratio +
                 " >= " + std::to_string(static_cast<int>(std::lround(eta1_))) + " (threshold random walk)";
    out.push_back(std::move(al));
    s.ratio = 1;
    s.failures = 0;
    s.failed_hosts.clear();
    s.evidence.clear();
  }
  void expire(int64_t before) override { state_.expire(before); }
  size_t keys() const override { return state_.size(); }

 private:
  static constexpr size_t kMaxContacts = 4096, kMaxTargets = 100;
  struct State : Trail {
    double ratio = 1;
    size_t failures = 0;
    std::unordered_set<IpAddr, IpAddrHash> contacted;
    std::vector<std::string> failed_hosts;  // the first kMaxTargets
  };
  DetectionConfig c_;
  double up_, down_, eta1_, eta0_;
  RecentMap<IpAddr, State, IpAddrHash> state_;
};

// denied-burst: many denies from one source in a short window, over many
// targets (few targets denied again and again are blocked-dependency's)
class DeniedBurst : public Detector {
 public:
  explicit DeniedBurst(const DetectionConfig& c) : c_(c), state_(c.state_keys) {}
  const char* name() const override { return "denied-burst"; }
  void observe(const Attempt& a, const FlowCatalog& names, std::vector<Alert>& out) override {
    if (!a.denied) return;
    State& s = state_.touch(a.src, a.time_ns);
    s.times.push_back(a.time_ns);
    s.last = a.time_ns;
    s.keep(a);
    s.targets.see({a.dst, a.proto, a.port}, a.time_ns, c_.denied_burst_window_ns);
    // a retry loop keeps its times within the threshold: the deque stays bounded
    while (!s.times.empty() &&
           (a.time_ns - s.times.front() > c_.denied_burst_window_ns || s.times.size() > c_.denied_burst))
      s.times.pop_front();
    if (s.times.size() < c_.denied_burst || s.targets.size() < c_.denied_burst_targets) return;
    Alert al = make_alert(name(), "medium", {"T1046"}, s, names);
    al.summary = std::to_string(s.times.size()) + " denied attempts on " + std::to_string(s.targets.size()) +
                 " targets within " + std::to_string(c_.denied_burst_window_ns / 1'000'000'000) + " s";
    out.push_back(std::move(al));
    s.times.clear();
    s.targets.seen.clear();
  }
  void expire(int64_t before) override { state_.expire(before); }
  size_t keys() const override { return state_.size(); }

 private:
  struct State : Trail {
    std::deque<int64_t> times;
    DistinctWindow<Target> targets;
  };
  DetectionConfig c_;
  RecentMap<IpAddr, State, IpAddrHash> state_;
};

// conntrack-limit: a flow refused because an endpoint holds a whole share of
// conntrack: a flood of new flows. Egress: the flows the endpoint opened
// (the source is the endpoint); ingress: the flows opened towards it (the
// source is one of the peers). The engine's suppression makes it one alert
// per source, share and period.
class ConntrackLimit : public Detector {
 public:
  const char* name() const override { return "conntrack-limit"; }
  void observe(const Attempt& a, const FlowCatalog& names, std::vector<Alert>& out) override {
    if (!a.denied || a.reason != ZS_REASON_CT_ENDPOINT_LIMIT) return;
    Trail t;
    t.keep(a);
    Alert al = make_alert(name(), "high", {"T1499"}, t, names);
    if (a.direction == ZS_DIR_EGRESS) {
      al.summary = "new flows from " + names.identity(a.src_identity).name.text +
                   " refused: it holds its whole egress share of conntrack (a flood of flows it opened)";
    } else {
      al.targets = {host_label(names, a.dst)};
      // one alert per endpoint whose share is full, whichever peer was refused;
      // that peer may be an innocent client, so it is never quarantined
      al.about = "ingress share of " + al.targets.front();
      al.source_is_culprit = false;
      al.summary = "new flows from " + names.identity(a.src_identity).name.text + " to " + al.targets.front() +
                   " refused: it holds its whole ingress share of conntrack (a flood of flows opened towards it)";
    }
    out.push_back(std::move(al));
  }
  void expire(int64_t) override {}
};

// first-seen-edge: traffic on an edge the baseline has not seen
class FirstSeenEdge : public Detector {
 public:
  const char* name() const override { return "first-seen-edge"; }
  void observe(const Attempt& a, const FlowCatalog& names, std::vector<Alert>& out) override {
    if (!a.new_edge) return;
    Trail t;
    t.keep(a);
    bool lateral = lateral_movement_port(a.port);
    Alert al = make_alert(name(), lateral ? "medium" : "low", {remote_service_technique(a.port)}, t, names);
    std::string host = host_label(names, a.dst);
    al.targets = {host + port_suffix(a)};
    // one per source and destination host (per suppression period), not per
    // port: a scanner whose SYNs its own end lets through starts a new edge
    // on every port it tries (980 alerts for one nmap -sS, pushing all
    // else out of `zeroseg alerts`); port-scan names the ports. One per
    // host and severity: one per host let an attacker hide its SSH edge
    // (medium) behind a low alert for a port of no interest tried first
    // (attack review 4)
    al.about = lateral ? host + " (lateral movement)" : host;
    al.summary = "first traffic from " + names.identity(a.src_identity).name.text + " to " +
                 names.identity(a.dst_identity).name.text + " on " + proto_name(a.proto) + port_suffix(a, "/") +
                 " since the baseline was learned";
    out.push_back(std::move(al));
  }
  void expire(int64_t) override {}

 private:
  static std::string port_suffix(const Attempt& a, const char* sep = ":") {
    return a.port ? sep + std::to_string(a.port) : "";
  }
};

// lateral-service: a source's first try of a lateral-movement service
class LateralService : public Detector {
 public:
  const char* name() const override { return "lateral-service"; }
  void observe(const Attempt& a, const FlowCatalog& names, std::vector<Alert>& out) override {
    if (!a.new_service) return;
    Trail t;
    t.keep(a);
    Alert al = make_alert(name(), "high", {remote_service_technique(a.port)}, t, names);
    std::string target = host_label(names, a.dst) + ":" + std::to_string(a.port);
    al.targets = {target};
    al.about = std::to_string(a.port);
    const char* outcome = a.start ? "let through" : a.denied ? "denied" : a.failed ? "unanswered" : "answered";
    al.summary = std::string("first ") + lateral_movement_service(a.port) + " (" + proto_name(a.proto) + "/" +
                 std::to_string(a.port) + ") by " + names.identity(a.src_identity).name.text + ", to " + target +
                 ": " + outcome;
    out.push_back(std::move(al));
  }
  void expire(int64_t) override {}
};

// chain: A -> B on a new edge, then B -> C on a new edge within a window
class Chain : public Detector {
 public:
  explicit Chain(const DetectionConfig& c) : c_(c), arrivals_(c.state_keys) {}
  const char* name() const override { return "chain"; }
  void observe(const Attempt& a, const FlowCatalog& names, std::vector<Alert>& out) override {
    if (!a.new_edge) return;
    // the hop into this source, if recent and not from where we now go
    const Arrival* in = arrivals_.find(a.src);
    if (in && a.time_ns - in->last <= c_.chain_window_ns && in->from != a.dst) {
      Trail t = *in;
      t.keep(a);
      Alert al = make_alert(name(), "high", {"T1021"}, t, names);
      std::string from = host_label(names, in->from), via = host_label(names, a.src),
                  to = host_label(names, a.dst);
      al.targets = {via, to};
      al.about = to;
      al.summary = from + " -> " + via + " -> " + to + ": two new edges within " +
                   std::to_string((a.time_ns - in->last) / 1'000'000'000) + " s";
      out.push_back(std::move(al));
    }
    Arrival& next = arrivals_.touch(a.dst, a.time_ns);
    next.evidence.clear();
    next.keep(a);
    next.from = a.src;
    next.last = a.time_ns;
  }
  void expire(int64_t before) override { arrivals_.expire(before); }
  size_t keys() const override { return arrivals_.size(); }

 private:
  struct Arrival : Trail {
    IpAddr from;
  };
  DetectionConfig c_;
  RecentMap<IpAddr, Arrival, IpAddrHash> arrivals_;  // by the address reached
};

}  // namespace

std::string host_label(const FlowCatalog& names, const IpAddr& ip) {
  const std::string& n = names.party(ip, 0).text;
  return n == identity_name(0) ? ip.str() : n;
}

Alert make_alert(const char* detector, const char* severity, std::vector<std::string> mitre, const Trail& trail,
                 const FlowCatalog& names) {
  Alert al;
  al.detector = detector;
  al.severity = severity;
  al.mitre = std::move(mitre);
  for (const auto& a : trail.evidence) al.evidence.push_back(evidence_line(a, names));
  return al;
}

const char* lateral_movement_service(uint16_t port) {
  switch (port) {
    case 22: return "ssh";
    case 135: return "msrpc";
    case 139: return "netbios-ssn";
    case 445: return "smb";
    case 3389: return "rdp";
    case 5900: return "vnc";
    case 5985: return "winrm";
    case 5986: return "winrm-https";
    default: return "";
  }
}

const char* remote_service_technique(uint16_t port) {
  switch (port) {
    case 3389: return "T1021.001";  // Remote Desktop Protocol
    case 139: case 445: return "T1021.002";  // SMB/Windows Admin Shares
    case 135: return "T1021.003";  // Distributed Component Object Model
    case 22: return "T1021.004";  // SSH
    case 5900: return "T1021.005";  // VNC
    case 5985: case 5986: return "T1021.006";  // Windows Remote Management
    default: return "T1021";  // Remote Services
  }
}

bool lateral_movement_port(uint16_t port) { return *lateral_movement_service(port) != 0; }

Attempt attempt_of(const FlowRecord& r) {
  Attempt a;
  a.time_ns = r.time_ns;
  a.src = tuple_source(r.tuple);
  a.dst = tuple_destination(r.tuple);
  a.proto = r.tuple.proto;
  a.port = zs_has_ports(a.proto) ? ntohs(r.tuple.dport) : 0;
  a.src_identity = r.source_identity();
  a.dst_identity = r.destination_identity();
  a.reason = r.reason;
  a.direction = r.direction;
  a.rule_id = r.rule_id;
  a.start = r.event == FlowEvent::start;
  if (a.start) return a;
  a.outcome = true;
  if (r.event == FlowEvent::unanswered) {  // no reply yet, seconds after the first packet
    a.failed = true;
    return a;
  }
  if (r.event == FlowEvent::refused) {  // a RST for its SYN, at the sweep after it
    a.failed = a.refused = true;
    return a;
  }
  a.denied = r.event == FlowEvent::deny || (r.event == FlowEvent::end && r.end_reason == FlowEndReason::revoked);
  // refused: the reply carried a RST and never a SYN-ACK (Zeek's REJ); a
  // service that accepted (SYN-ACK) and then reset was answered (Zeek's
  // RSTR; TRW counts a SYN-ACK as a success). Unanswered: no reply at all
  a.refused = r.tuple.proto == ZS_PROTO_TCP && (r.tcp_flags[1] & ZS_TCP_RST) && !(r.tcp_flags[1] & ZS_TCP_SYN);
  a.failed = a.denied || (r.event == FlowEvent::end && (r.packets[1] == 0 || a.refused));
  // counted as failed at its flow-unanswered or flow-refused record: its end adds nothing
  // (a late answer still counts as traffic)
  if ((r.reported_unanswered || r.reported_refused) && a.failed) a.outcome = a.failed = a.denied = a.refused = false;
  return a;
}

std::string evidence_line(const Attempt& a, const FlowCatalog& names) {
  return names.party(a.src, a.src_identity).text + " -> " + names.party(a.dst, a.dst_identity).text +
         (a.port ? ":" + std::to_string(a.port) : "") + " " + proto_name(a.proto) + " " +
         (a.denied ? std::string("denied (") + reason_name(a.reason) + ")"
                   : a.start ? "started" : a.failed ? (a.refused ? "refused" : "unanswered") : "answered");
}

std::vector<std::unique_ptr<Detector>> make_detectors(const DetectionConfig& c) {
  std::vector<std::unique_ptr<Detector>> d;
  d.push_back(std::make_unique<PortScan>(c));
  d.push_back(std::make_unique<HostSweep>(c));
  d.push_back(std::make_unique<ThresholdRandomWalk>(c));
  d.push_back(std::make_unique<DeniedBurst>(c));
  d.push_back(make_blocked_dependency(c));
  d.push_back(std::make_unique<ConntrackLimit>());
  d.push_back(std::make_unique<FirstSeenEdge>());
  d.push_back(std::make_unique<LateralService>());
  d.push_back(std::make_unique<Chain>(c));
  return d;
}

}  // namespace zeroseg
