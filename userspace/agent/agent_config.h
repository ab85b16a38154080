// SPDX-License-Identifier: Apache-2.0
// The agent's settings. One table (agent_settings()) names each setting
// once, with its parser, its help and how its value reads back: the config
// file, the `zeroseg agent --KEY` flags, the error messages and
// docs/agent-settings.md all come from it.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "abi/defaults.h"
#include "detect/detectors.h"
#include "detect/quarantine.h"
#include "net/addr.h"
#include "telemetry/flow_log.h"
#include "telemetry/flow_table.h"

namespace zeroseg {

struct AgentConfig {
  std::string socket = kDefaultSocket;
  std::string pin_dir = kDefaultPinDir;
  std::string state_dir = kDefaultStateDir;
  std::string node_name;      // in flow records; default: the host name
  std::string cluster;        // etcd://HOST:PORT[,...]: cluster mode ("" = this node alone)
  std::string etcd_ca, etcd_cert, etcd_key;  // TLS to etcd (PEM files)
  uint32_t cluster_lease_ttl = 15;           // seconds: a dead node's workloads go after this
  uint32_t cluster_identity_grace = 600;     // seconds an identity no node uses stays numbered
  std::string flow_log;       // JSON lines; "-" = stdout
  uint64_t flow_log_max_bytes = FlowLog::kDefaultMaxBytes;
  int flow_log_keep = FlowLog::kDefaultKeep;
  uint32_t flow_sweep_ms = 2000;  // how often conntrack is walked for ended flows
  // a flow with no reply this long after its first packet is reported (flow-unanswered)
  int64_t flow_unanswered_after_ns = FlowTable::kDefaultUnansweredAfterNs;
  uint32_t attach_check_ms = 10000;  // how often every attachment is compared with the kernel
  std::string ipfix_collector;    // HOST:PORT (UDP)
  std::string metrics_listen;     // ADDR:PORT
  std::string ui_listen;          // ADDR:PORT of the map (a bare port: 127.0.0.1)
  // conntrack lifetimes without a packet, seconds; 0 = keep the datapath's
  uint32_t ct_timeout_tcp = 0, ct_timeout_tcp_closing = 0, ct_timeout_other = 0;
  uint32_t ct_timeout_tcp_syn_sent = 0, ct_timeout_tcp_syn_recv = 0;
  // ct-endpoint-share: the percent of each conntrack table one endpoint may
  // hold per direction (100 = no limit)
  uint32_t ct_endpoint_share = ZS_DEFAULT_CT_ENDPOINT_PERCENT;
  // A change of a few workloads alone compiles and writes only what they
  // change (PolicyCompiler::compile_workloads); false: every change is
  // compiled whole. Not a setting: benchmarks and tests compare the two.
  bool incremental_workloads = true;
  std::string alert_log;  // JSON lines
  std::string alert_webhook;  // http(s)://HOST:PORT/PATH: each alert POSTed as JSON
  std::string alert_webhook_ca;         // https: CA file to verify the receiver by
  std::string alert_webhook_auth_file;  // a file whose first line is a header sent with each POST
  int alert_webhook_retries = 3;
  DetectionConfig detection;
  // the allow-list of a quarantine that names none
  std::vector<Prefix> quarantine_management;
  AutoQuarantine auto_quarantine;  // off unless detectors are named
  // deny events per source address and second (0 = no limit), and burst
  uint32_t deny_events_per_sec = ZS_DEFAULT_DENY_EVENTS_PER_SEC, deny_events_burst = ZS_DEFAULT_DENY_EVENTS_BURST;
  uint32_t deny_events_per_cpu = ZS_DEFAULT_DENY_EVENTS_PER_CPU;
  MapSizes sizes;

  // A YAML mapping of settings by their names; unknown names and bad
  // values are errors that name the file, line and setting.
  void load_file(const std::string& path);
  // One setting by its name; throws Error naming it when the value is bad.
  void set(const std::string& key, const std::string& value);
};

struct AgentSetting {
  const char* key;   // the YAML key and the flag (--key)
  const char* help;  // one line
  std::function<void(AgentConfig&, const std::string& key, const std::string& value)> set;
  std::function<std::string(const AgentConfig&)> show;  // the value as the file would say it ("" = unset)
};

// Every setting, in the order the docs list them.
const std::vector<AgentSetting>& agent_settings();

// docs/agent-settings.md: a table of every setting, its default and help.
std::string agent_settings_markdown();

}  // namespace zeroseg
