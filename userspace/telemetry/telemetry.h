// SPDX-License-Identifier: Apache-2.0
// Telemetry: the agent's flow pipeline, on one thread of its own.
//
//   ring buffer (zs_events) --> FlowTable --> FlowRecord --> JSON line --> FlowLog (file/stdout)
//   conntrack walk (sweep)  -/                          \              \-> FlowHub (--last, --follow)
//                                                        \-> IpfixExporter, counters (metrics)
//                                                        \-> a FlowRecordSink: the agent wires detection
//                                                            (detect/flow_analyzer.h) here
//
// The kernel's side comes through abi/kernel_flows.h (the loader implements
// it); nothing here touches BPF. One thread drains the ring buffer and sweeps conntrack in turn, so a
// flow's start is always handled before its end and the FlowTable needs no
// lock. Names come from the FlowCatalog the agent publishes on each commit.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "abi/kernel_flows.h"
#include "telemetry/flow_catalog.h"
#include "telemetry/flow_hub.h"
#include "telemetry/flow_log.h"
#include "telemetry/flow_table.h"

namespace zeroseg {

// What an exporter sent, for /metrics (read from other threads).
struct ExportCounters {
  std::atomic<uint64_t> messages{0};     // messages handed to the socket
  std::atomic<uint64_t> records{0};      // data records in them
  std::atomic<uint64_t> send_errors{0};  // messages the socket refused (the collector down, ...)
};

// Where ended flows and denies go besides the log (IPFIX).
class FlowExporter {
 public:
  virtual ~FlowExporter() = default;
  virtual void add(const FlowRecord& r, const FlowCatalog& names) = 0;
  virtual void flush() = 0;
  const ExportCounters& counts() const { return counts_; }

 protected:
  ExportCounters counts_;
};

// The records' second reader (detection and the flow ledger). Must not
// block: it queues and returns.
class FlowRecordSink {
 public:
  virtual ~FlowRecordSink() = default;
  virtual void submit(std::shared_ptr<const FlowCatalog> names, std::vector<FlowRecord> records) = 0;
};

struct TelemetryOptions {
  std::string node;
  std::string flow_log;  // "" = none, "-" = stdout
  uint64_t flow_log_max_bytes = FlowLog::kDefaultMaxBytes;
  int flow_log_keep = FlowLog::kDefaultKeep;
  uint32_t sweep_interval_ms = 2000;
  // a flow with no reply this long after its first packet gets a
  // flow-unanswered record at the next sweep (0: never)
  int64_t unanswered_after_ns = FlowTable::kDefaultUnansweredAfterNs;
  std::unique_ptr<FlowExporter> exporter;  // optional
  FlowRecordSink* analysis = nullptr;  // optional; outlives the Telemetry
};

// What the pipeline did, for `zeroseg status` and /metrics.
struct TelemetryCounters {
  std::atomic<uint64_t> events{0};         // records read from the ring buffer
  std::atomic<uint64_t> flows_started{0};
  std::atomic<uint64_t> flows_ended{0};
  std::atomic<uint64_t> flows_unanswered{0};  // flow-unanswered records
  std::atomic<uint64_t> flows_refused{0};     // flow-refused records
  std::atomic<uint64_t> denies{0};          // deny records (reported denies)
  std::atomic<uint64_t> denies_suppressed{0};  // as the deny records say
  std::atomic<uint64_t> ended_by[5]{};      // by FlowEndReason
  std::atomic<uint64_t> live_flows{0};
  std::atomic<uint64_t> conntrack4_entries{0}, conntrack6_entries{0};
  std::atomic<uint64_t> sweeps{0};
  std::atomic<uint64_t> last_sweep_ns{0};
};

class Telemetry {
 public:
  Telemetry(KernelFlows kernel, TelemetryOptions options);
  ~Telemetry();  // stops the thread, flushes the sinks
  Telemetry(const Telemetry&) = delete;
  Telemetry& operator=(const Telemetry&) = delete;

  // Returns the catalog it replaces (for the caller to free where it likes).
  std::shared_ptr<const FlowCatalog> publish(std::shared_ptr<const FlowCatalog> catalog);
  FlowHub& hub() { return hub_; }
  const TelemetryCounters& counters() const { return counters_; }
  // The exporter's counts; nullptr when none is configured.
  const ExportCounters* export_counts() const { return options_.exporter ? &options_.exporter->counts() : nullptr; }
  // Runs a sweep on the next turn of the thread, and waits for it (tests,
  // `agent` shutdown).
  void sweep_now();
  // Conntrack entries each endpoint held at the last sweep.
  CtUsage ct_usage() const;

 private:
  void run();
  // One walk of conntrack: ended flows, and the kernel's per-endpoint
  // counts corrected from what the walk found (zs_ct_usage).
  void sweep_and_recount();
  void handle(const zs_event& ev);
  void emit(std::vector<FlowRecord>& records);  // hands them on to the sinks

  KernelFlows kernel_;
  TelemetryOptions options_;
  FlowTable table_;
  FlowHub hub_;
  std::unique_ptr<FlowLog> log_;
  TelemetryCounters counters_;
  FlowClock clock_;
  std::vector<FlowRecord> pending_;
  std::string batch_;

  mutable std::mutex catalog_mu_;
  std::shared_ptr<const FlowCatalog> catalog_;           // the telemetry thread's
  std::shared_ptr<const FlowCatalog> analysis_catalog_;  // the analyzer's (its own memos)

  mutable std::mutex usage_mu_;
  CtUsage usage_;

  std::mutex sweep_mu_;
  std::condition_variable sweep_cv_;
  uint64_t sweep_requested_ = 0, sweep_done_ = 0;

  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace zeroseg
