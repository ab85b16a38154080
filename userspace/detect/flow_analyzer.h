// SPDX-License-Identifier: Apache-2.0
// FlowAnalyzer: the flow records' second reader, on a thread of its own so
// that the ring buffer's reader (Telemetry) keeps its pace:
//
//   batches of FlowRecords --> Detection --> Alert --> respond (the agent), alert log,
//   (with their catalog)   \                           alerts hub, webhook
//                           \-> FlowLedger (policy suggest, policy diff)
//
// When it falls kMaxBatches behind, a batch is skipped and counted: the
// ring's reader never waits for it.
#pragma once

#include <condition_variable>
#include <deque>
#include <map>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "detect/detection.h"
#include "telemetry/flow_hub.h"
#include "telemetry/flow_ledger.h"
#include "telemetry/flow_log.h"
#include "telemetry/telemetry.h"

namespace zeroseg {

// Where alerts go besides the log and the hub (a webhook).
class AlertSink {
 public:
  virtual ~AlertSink() = default;
  // Must not block: queue and return.
  virtual void send(const std::string& json_line) = 0;
};

struct AnalyzerOptions {
  DetectionConfig detection;
  std::string alert_log;  // JSON lines; "" = none
  // Sees each alert before it goes out, and may add actions (the agent's
  // automatic quarantine). Must not block.
  std::function<void(Alert&)> respond;
  std::unique_ptr<AlertSink> webhook;  // optional
};

class FlowAnalyzer : public FlowRecordSink {
 public:
  static constexpr size_t kMaxBatches = 256;

  explicit FlowAnalyzer(AnalyzerOptions options);
  ~FlowAnalyzer() override;  // analyses what is queued, then saves the baseline
  FlowAnalyzer(const FlowAnalyzer&) = delete;
  FlowAnalyzer& operator=(const FlowAnalyzer&) = delete;

  void submit(std::shared_ptr<const FlowCatalog> names, std::vector<FlowRecord> records) override;
  // An alert from outside the flow stream (detection-blind: the agent reads
  // the kernel's counter), sent where the detectors' go, on this thread.
  void raise(Alert alert);
  // Returns once everything submitted before is analysed.
  void drain();

  FlowHub& alerts() { return alerts_; }
  const FlowLedger& ledger() const { return ledger_; }
  std::vector<Detection::Count> alert_counts() const;
  Detection::BaselineStatus baseline_status() const { return detection_.baseline_status(); }
  uint64_t records_skipped() const { return skipped_.load(); }
  // For placing the thread on a CPU (benchmarks).
  std::thread::native_handle_type native_handle() { return thread_.native_handle(); }

 private:
  struct Batch {
    std::shared_ptr<const FlowCatalog> names;
    std::vector<FlowRecord> records;
    std::vector<Alert> raised;  // from raise()
  };
  void run();
  void analyse(Batch& b);
  void send(std::vector<Alert>& alerts);

  AnalyzerOptions options_;
  Detection detection_;
  FlowLedger ledger_;
  FlowHub alerts_{1000};
  std::unique_ptr<FlowLog> alert_log_;
  std::atomic<uint64_t> skipped_{0};
  std::map<std::string, uint64_t> raised_outside_;  // by detector, under mu_

  mutable std::mutex mu_;
  std::condition_variable cv_, idle_cv_;
  std::deque<Batch> queue_;
  bool busy_ = false, stopping_ = false;
  std::thread thread_;
};

}  // namespace zeroseg
