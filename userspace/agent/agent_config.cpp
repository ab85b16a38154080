// SPDX-License-Identifier: Apache-2.0
#include "agent/agent_config.h"

#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cstdlib>
#include <set>

#include "common/error.h"
#include "common/time.h"

namespace zeroseg {
namespace {

constexpr int64_t kSecond = 1'000'000'000;

// Parsers, each naming the setting in its error.
int64_t duration_setting(const std::string& key, const std::string& value, int64_t min_ns, int64_t max_ns,
                         const char* range) {
  auto ns = parse_duration_ns(value);
  if (!ns || *ns < min_ns || *ns > max_ns) throw Error(key + ": \"" + value + "\" is not a duration " + range);
  return *ns;
}

int64_t seconds_ns_setting(const std::string& key, const std::string& value) {
  int64_t ns = duration_setting(key, value, kSecond, int64_t{1} << 62, "of 1s or more (e.g. 30s, 5m, 6h)");
  return ns / kSecond * kSecond;  // to the second, as the kernel and detectors count
}

uint64_t number_setting(const std::string& key, const std::string& value, uint64_t min, uint64_t max) {
  char* end = nullptr;
  errno = 0;
  unsigned long long n = std::strtoull(value.c_str(), &end, 10);
  if (value.empty() || value[0] == '-' || *end || errno || n < min || n > max)
    throw Error(key + ": \"" + value + "\" is not a number from " + std::to_string(min) + " to " + std::to_string(max));
  return n;
}

// Setting makers: a field of AgentConfig (or of its detection config), its
// parser and its read-back.
template <class Field>
AgentSetting text(const char* key, Field field, const char* help) {
  return {key, help, [field](AgentConfig& c, const std::string&, const std::string& v) { c.*field = v; },
          [field](const AgentConfig& c) { return c.*field; }};
}

template <class Get>
AgentSetting number(const char* key, uint64_t min, uint64_t max, Get get, const char* help) {
  return {key, help,
          [=](AgentConfig& c, const std::string& k, const std::string& v) {
            auto& f = get(c);
            f = static_cast<std::remove_reference_t<decltype(f)>>(number_setting(k, v, min, max));
          },
          [=](const AgentConfig& c) { return std::to_string(get(const_cast<AgentConfig&>(c))); }};
}

// Seconds kept as uint32 seconds; 0 reads back as unset (the datapath's own).
template <class Get>
AgentSetting seconds(const char* key, Get get, const char* help) {
  return {key, help,
          [=](AgentConfig& c, const std::string& k, const std::string& v) {
            get(c) = static_cast<uint32_t>(seconds_ns_setting(k, v) / kSecond);
          },
          [=](const AgentConfig& c) {
            uint32_t s = get(const_cast<AgentConfig&>(c));
            return s ? format_duration(int64_t{s} * kSecond) : std::string();
          }};
}

// A detection period kept in nanoseconds.
AgentSetting detect_period(const char* key, int64_t DetectionConfig::*field, const char* help) {
  return {key, help,
          [field](AgentConfig& c, const std::string& k, const std::string& v) {
            c.detection.*field = seconds_ns_setting(k, v);
          },
          [field](const AgentConfig& c) { return format_duration(c.detection.*field); }};
}

template <class T>
AgentSetting detect_count(const char* key, uint64_t min, T DetectionConfig::*field, const char* help) {
  return number(key, min, 1000000, [field](AgentConfig& c) -> T& { return c.detection.*field; }, help);
}

std::string prefix_list_text(const std::vector<Prefix>& list) {
  std::string out;
  for (const auto& p : list) out += (out.empty() ? "" : ",") + p.str();
  return out;
}

std::string auto_quarantine_text(const AutoQuarantine& a) {
  std::string out;
  for (const auto& [detector, rank] : a.detectors) out += (out.empty() ? "" : ",") + detector + ":" + severity_name(rank);
  return out;
}

std::vector<AgentSetting> make_settings() {
  using C = AgentConfig;
  return {
      text("socket", &C::socket, "The API socket (root only)"),
      text("bpf-pin-dir", &C::pin_dir, "Where the datapath's maps and programs are pinned"),
      text("state-dir", &C::state_dir, "The desired state on disk"),
      text("node-name", &C::node_name, "This node's name in flow records and, in cluster mode, in etcd (default: the host name)"),
      text("cluster", &C::cluster,
           "etcd://HOST:PORT[,HOST:PORT...]: cluster mode, desired state and identities in etcd (needs node-name)"),
      text("etcd-ca", &C::etcd_ca, "Cluster mode: TLS to etcd, its servers checked against this CA file (PEM)"),
      text("etcd-cert", &C::etcd_cert, "Cluster mode: this node's client certificate for etcd (PEM; with etcd-key)"),
      text("etcd-key", &C::etcd_key, "Cluster mode: the client certificate's key (PEM)"),
      seconds("cluster-lease-ttl", [](C& c) -> uint32_t& { return c.cluster_lease_ttl; },
              "Cluster mode: how long a dead node's workloads outlive it (its etcd lease)"),
      seconds("cluster-identity-grace", [](C& c) -> uint32_t& { return c.cluster_identity_grace; },
              "Cluster mode: how long an identity no node uses stays numbered before it is released"),
      text("flow-log", &C::flow_log, "Flow log: a file of JSON lines (rotated by size), or - for stdout"),
      number("flow-log-max-bytes", 4096, uint64_t{1} << 40, [](C& c) -> uint64_t& { return c.flow_log_max_bytes; },
             "Rotate the flow log at this size"),
      number("flow-log-keep", 1, 1000, [](C& c) -> int& { return c.flow_log_keep; }, "Rotated flow logs kept"),
      {"flow-sweep-interval", "How often conntrack is walked for ended flows (100ms to 1h)",
       [](C& c, const std::string& k, const std::string& v) {
         c.flow_sweep_ms = static_cast<uint32_t>(duration_setting(k, v, kSecond / 10, 3600 * kSecond, "from 100ms to 1h") / 1000000);
       },
       [](const C& c) {
         return c.flow_sweep_ms % 1000 ? std::to_string(c.flow_sweep_ms) + "ms" : format_duration(int64_t{c.flow_sweep_ms} * 1000000);
       }},
      {"flow-unanswered-after",
       "A flow no reply has reached this long after its first packet is reported at the next sweep "
       "(flow-unanswered): detectors count it as failed then, not at its end (100ms to 1h)",
       [](C& c, const std::string& k, const std::string& v) {
         c.flow_unanswered_after_ns = duration_setting(k, v, kSecond / 10, 3600 * kSecond, "from 100ms to 1h");
       },
       [](const C& c) {
         return c.flow_unanswered_after_ns % kSecond ? std::to_string(c.flow_unanswered_after_ns / 1000000) + "ms"
                                                     : format_duration(c.flow_unanswered_after_ns);
       }},
      {"attach-check-interval",
       "How often every interface's hooks are compared with the kernel and repaired (1s to 1h; also on every "
       "link or tc change)",
       [](C& c, const std::string& k, const std::string& v) {
         c.attach_check_ms = static_cast<uint32_t>(duration_setting(k, v, kSecond, 3600 * kSecond, "from 1s to 1h") / 1000000);
       },
       [](const C& c) {
         return c.attach_check_ms % 1000 ? std::to_string(c.attach_check_ms) + "ms" : format_duration(int64_t{c.attach_check_ms} * 1000000);
       }},
      text("ipfix-collector", &C::ipfix_collector, "HOST:PORT: export ended flows and denies as IPFIX over UDP"),
      text("metrics-listen", &C::metrics_listen, "ADDR:PORT for Prometheus /metrics"),
      text("ui-listen", &C::ui_listen,
           "ADDR:PORT for the live map, a read-only web page (a bare PORT or :PORT binds 127.0.0.1; off when empty). "
           "On loopback, however written, it answers only Host localhost, 127.x or [::1] (DNS rebinding); "
           "elsewhere anyone who reaches it, without authentication"),
      seconds("ct-timeout-tcp", [](C& c) -> uint32_t& { return c.ct_timeout_tcp; },
              "An established TCP flow's lifetime without a packet (default: the datapath's, 6h)"),
      seconds("ct-timeout-tcp-closing", [](C& c) -> uint32_t& { return c.ct_timeout_tcp_closing; },
              "A closing TCP flow's lifetime without a packet (default: the datapath's)"),
      seconds("ct-timeout-other", [](C& c) -> uint32_t& { return c.ct_timeout_other; },
              "A UDP flow's, an ICMP query's or another protocol's lifetime without a packet (default: the datapath's)"),
      seconds("ct-timeout-tcp-syn-sent", [](C& c) -> uint32_t& { return c.ct_timeout_tcp_syn_sent; },
              "A TCP flow's lifetime while its SYN has no answer (default: the datapath's, 2m)"),
      seconds("ct-timeout-tcp-syn-recv", [](C& c) -> uint32_t& { return c.ct_timeout_tcp_syn_recv; },
              "A TCP flow's lifetime once answered but not established, or picked up without SYN "
              "until both ends ACK (default: the datapath's, 1m)"),
      number("ct-endpoint-share", 1, 100, [](C& c) -> uint32_t& { return c.ct_endpoint_share; },
             "Percent of each conntrack table one endpoint may hold for the flows it opens, and again "
             "for the flows opened towards it; new flows beyond are dropped (ct-endpoint-limit). 100: no limit"),
      number("conntrack4-entries", 64, uint64_t{1} << 24, [](C& c) -> uint32_t& { return c.sizes.conntrack4; },
             "Size of the IPv4 conntrack table (a change needs the maps unpinned)"),
      number("conntrack6-entries", 64, uint64_t{1} << 24, [](C& c) -> uint32_t& { return c.sizes.conntrack6; },
             "Size of the IPv6 conntrack table (a change needs the maps unpinned)"),
      number("deny-events-per-sec", 0, 1000000, [](C& c) -> uint32_t& { return c.deny_events_per_sec; },
             "Deny events per source address and second (0: no limit)"),
      number("deny-events-burst", 1, 1000000, [](C& c) -> uint32_t& { return c.deny_events_burst; },
             "Deny events a source may send at once before the rate applies"),
      number("deny-events-per-cpu", 0, 1000000, [](C& c) -> uint32_t& { return c.deny_events_per_cpu; },
             "Deny events per CPU and second from all sources together; the rest counted, named on their source's next event, and alerted as detection-blind (0: no budget)"),
      text("alert-log", &C::alert_log, "Every alert as JSON lines in this file (zeroseg alerts keeps the last 1000 in memory)"),
      text("alert-webhook", &C::alert_webhook, "http://HOST:PORT/PATH or https://...: each alert POSTed as JSON"),
      text("alert-webhook-ca", &C::alert_webhook_ca,
           "https webhook: the CA file (PEM) the receiver's certificate is checked against (default: the system's CAs)"),
      text("alert-webhook-auth-file", &C::alert_webhook_auth_file,
           "A file whose first line is a header sent with each webhook POST (\"Authorization: Bearer TOKEN\"); "
           "the environment's ZEROSEG_ALERT_WEBHOOK_AUTH wins over it; never logged"),
      number("alert-webhook-retries", 0, 10, [](C& c) -> int& { return c.alert_webhook_retries; },
             "Tries again after a failed webhook delivery (no answer, 408, 429, 5xx), backing off 0.5 s, 1 s, 2 s, ..."),
      detect_period("alert-suppress", &DetectionConfig::suppress_ns,
                    "One alert per source and detector within this period"),
      detect_period("detect-window", &DetectionConfig::window_ns, "The port-scan and host-sweep window"),
      detect_count("detect-port-scan-ports", 2, &DetectionConfig::port_scan_ports,
                   "Ports of one host within the window that make a port scan"),
      detect_count("detect-host-sweep-hosts", 2, &DetectionConfig::host_sweep_hosts,
                   "Hosts within the window that make a host sweep"),
      detect_count("detect-host-sweep-hosts-lateral", 2, &DetectionConfig::host_sweep_hosts_lateral,
                   "The same, on lateral-movement ports (SSH, SMB, RDP, ...)"),
      detect_count("detect-denied-burst", 2, &DetectionConfig::denied_burst,
                   "Denied attempts of one source within 10s that make a burst"),
      detect_count("detect-denied-burst-targets", 1, &DetectionConfig::denied_burst_targets,
                   "Distinct targets (host, protocol, port) a denied burst needs; fewer is a blocked dependency"),
      detect_count("detect-blocked-dependency-repeats", 2, &DetectionConfig::blocked_dependency_repeats,
                   "Denials of one target to one source within 60s that report a blocked dependency"),
      detect_count("detect-state-keys", 64, &DetectionConfig::state_keys,
                   "Keys (sources, pairs) each detector keeps; past it the least recent is forgotten"),
      detect_period("detect-learning-period", &DetectionConfig::learning_ns,
                    "How long the baseline of edges and services learns before new ones alert"),
      detect_period("detect-chain-window", &DetectionConfig::chain_window_ns,
                    "How far apart the hops of a lateral-movement chain may be"),
      {"quarantine-management", "Prefixes that still reach a quarantined workload (comma-separated)",
       [](C& c, const std::string& k, const std::string& v) { c.quarantine_management = parse_prefix_list(k, v); },
       [](const C& c) { return prefix_list_text(c.quarantine_management); }},
      {"auto-quarantine", "Alerts that quarantine their source: detector[:lowest severity],... or *:high",
       [](C& c, const std::string& k, const std::string& v) {
         int64_t duration = c.auto_quarantine.duration_ns;
         c.auto_quarantine = AutoQuarantine::parse(k, v);
         c.auto_quarantine.duration_ns = duration;
       },
       [](const C& c) { return auto_quarantine_text(c.auto_quarantine); }},
      {"auto-quarantine-duration", "How long an automatic quarantine lasts",
       [](C& c, const std::string& k, const std::string& v) {
         c.auto_quarantine.duration_ns = duration_setting(k, v, kSecond, int64_t{1} << 62, "of 1s or more");
       },
       [](const C& c) { return format_duration(c.auto_quarantine.duration_ns); }},
  };
}

}  // namespace

const std::vector<AgentSetting>& agent_settings() {
  static const std::vector<AgentSetting> settings = make_settings();
  return settings;
}

void AgentConfig::set(const std::string& key, const std::string& value) {
  for (const auto& s : agent_settings())
    if (key == s.key) return s.set(*this, key, value);
  throw Error("unknown agent setting \"" + key + "\"");
}

void AgentConfig::load_file(const std::string& path) {
  YAML::Node n;
  try {
    n = YAML::LoadFile(path);
  } catch (const YAML::Exception& e) {
    throw Error(path + ":" + std::to_string(e.mark.line + 1) + ":" + std::to_string(e.mark.column + 1) + ": " + e.msg);
  }
  if (n.IsNull()) return;
  if (!n.IsMap()) throw Error(path + ": the agent config must be a mapping");
  std::set<std::string> seen;
  for (const auto& kv : n) {
    auto where = [&](const YAML::Node& at) {
      return path + ":" + std::to_string(at.Mark().line + 1) + ":" + std::to_string(at.Mark().column + 1) + ": ";
    };
    // a key twice: which one wins differs between YAML tools (here the
    // last, as set in order): refused, as in policies
    if (kv.first.IsScalar() && !seen.insert(kv.first.as<std::string>()).second)
      throw Error(where(kv.first) + kv.first.as<std::string>() + ": given twice");
    if (!kv.second.IsScalar()) throw Error(where(kv.second) + kv.first.as<std::string>() + ": expected a single value");
    try {
      set(kv.first.as<std::string>(), kv.second.as<std::string>());
    } catch (const Error& e) {
      throw Error(where(kv.first) + e.what());
    }
  }
}

std::string agent_settings_markdown() {
  std::string out =
      "# Agent settings\n\n"
      "Each is a key of the agent's YAML config file (`zeroseg agent --config FILE`) and a flag of\n"
      "`zeroseg agent` of the same name; a flag overrides the file. Generated from the agent's own\n"
      "table (`userspace/agent/agent_config.cpp`): `zeroseg agent --settings-reference` prints this page.\n\n"
      "| setting | default | what it does |\n|---|---|---|\n";
  AgentConfig defaults;
  for (const auto& s : agent_settings()) {
    std::string value = s.show(defaults);
    out += std::string("| `") + s.key + "` | " + (value.empty() ? "" : "`" + value + "`") + " | " + s.help + " |\n";
  }
  return out;
}

}  // namespace zeroseg
