// SPDX-License-Identifier: Apache-2.0
#include "detect/flow_analyzer.h"

#include "common/log.h"
#include "common/time.h"

namespace zeroseg {

FlowAnalyzer::FlowAnalyzer(AnalyzerOptions options)
    : options_(std::move(options)), detection_(options_.detection) {
  if (!options_.alert_log.empty()) alert_log_ = std::make_unique<FlowLog>(options_.alert_log);
  thread_ = std::thread([this] { run(); });
}

FlowAnalyzer::~FlowAnalyzer() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
  detection_.save();
  alerts_.close();
}

void FlowAnalyzer::submit(std::shared_ptr<const FlowCatalog> names, std::vector<FlowRecord> records) {
  if (records.empty()) return;
  {
    std::lock_guard lock(mu_);
    if (queue_.size() >= kMaxBatches) {
      skipped_ += records.size();
      return;
    }
    queue_.push_back({std::move(names), std::move(records)});
  }
  cv_.notify_one();
}

void FlowAnalyzer::raise(Alert alert) {
  {
    std::lock_guard lock(mu_);
    raised_outside_[alert.detector]++;
    Batch b;
    b.raised.push_back(std::move(alert));
    queue_.push_back(std::move(b));  // never skipped: one a window at most
  }
  cv_.notify_one();
}

std::vector<Detection::Count> FlowAnalyzer::alert_counts() const {
  std::vector<Detection::Count> counts = detection_.counts();
  std::lock_guard lock(mu_);
  for (const auto& [detector, n] : raised_outside_) counts.push_back({detector, n, 0});
  return counts;
}

void FlowAnalyzer::drain() {
  std::unique_lock lock(mu_);
  idle_cv_.wait(lock, [&] { return queue_.empty() && !busy_; });
}

void FlowAnalyzer::run() {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, and all analysed
    Batch b = std::move(queue_.front());
    queue_.pop_front();
    busy_ = true;
    lock.unlock();
    try {
      analyse(b);
    } catch (const std::exception& e) {
      log::error(std::string("flow analysis: ") + e.what());
    }
    lock.lock();
    busy_ = false;
    if (queue_.empty()) idle_cv_.notify_all();
  }
}

void FlowAnalyzer::analyse(Batch& b) {
  std::vector<Alert> alerts;
  for (const auto& r : b.records) {
    detection_.observe(r, *b.names, alerts);
    ledger_.record(r);
  }
  int64_t raised = alerts.empty() ? 0 : realtime_now_ns();
  for (auto& a : alerts) a.raised_ns = raised;
  send(alerts);
  send(b.raised);
}

void FlowAnalyzer::send(std::vector<Alert>& alerts) {
  for (auto& a : alerts) {
    if (options_.respond) options_.respond(a);
    std::string line = alert_json(a);
    log::warn("alert: " + a.detector + " from " + a.source_name + " (" + a.source_ip + "): " + a.summary);
    if (alert_log_) alert_log_->write(line);
    if (options_.webhook) options_.webhook->send(line);
    alerts_.publish(std::move(line), 1);
  }
}

}  // namespace zeroseg
