// SPDX-License-Identifier: Apache-2.0
#include "telemetry/telemetry.h"

#include <chrono>

#include "common/error.h"
#include "common/log.h"
#include "telemetry/flow_json.h"

namespace zeroseg {

Telemetry::Telemetry(KernelFlows kernel, TelemetryOptions options)
    : kernel_(std::move(kernel)),
      options_(std::move(options)),
      table_(options_.unanswered_after_ns),
      catalog_(std::make_shared<FlowCatalog>(options_.node)),
      analysis_catalog_(catalog_->another_reader()) {
  if (!options_.flow_log.empty())
    log_ = std::make_unique<FlowLog>(options_.flow_log, options_.flow_log_max_bytes, options_.flow_log_keep);
  thread_ = std::thread([this] { run(); });
}

Telemetry::~Telemetry() {
  stopping_ = true;
  if (thread_.joinable()) thread_.join();
  hub_.close();
}

std::shared_ptr<const FlowCatalog> Telemetry::publish(std::shared_ptr<const FlowCatalog> catalog) {
  auto analysis = catalog->another_reader();
  std::lock_guard lock(catalog_mu_);
  std::swap(catalog_, catalog);
  analysis_catalog_ = std::move(analysis);
  return catalog;
}

void Telemetry::sweep_now() {
  std::unique_lock lock(sweep_mu_);
  uint64_t want = ++sweep_requested_;
  sweep_cv_.wait(lock, [&] { return sweep_done_ >= want || stopping_; });
}

CtUsage Telemetry::ct_usage() const {
  std::lock_guard lock(usage_mu_);
  return usage_;
}

void Telemetry::sweep_and_recount() {
  CtUsage before;
  try {
    if (kernel_.ct_usage) before = kernel_.ct_usage->read();
  } catch (const std::exception& e) {
    log::warn(std::string("reading per-endpoint conntrack counts: ") + e.what());
  }
  table_.sweep(*kernel_.conntrack, kernel_.config(), clock_, pending_);
  try {
    if (kernel_.ct_usage) kernel_.ct_usage->correct(table_.endpoint_usage(), before);
  } catch (const std::exception& e) {
    log::warn(std::string("correcting per-endpoint conntrack counts: ") + e.what());
  }
  std::lock_guard lock(usage_mu_);
  usage_ = table_.endpoint_usage();
}

void Telemetry::handle(const zs_event& ev) {
  counters_.events.fetch_add(1, std::memory_order_relaxed);
  table_.on_event(ev, clock_, pending_);
}

void Telemetry::emit(std::vector<FlowRecord>& records) {
  if (records.empty()) return;
  std::shared_ptr<const FlowCatalog> names, analysis_names;
  {
    std::lock_guard lock(catalog_mu_);
    names = catalog_;
    analysis_names = analysis_catalog_;
  }
  batch_.clear();
  for (const auto& r : records) {
    append_flow_json(batch_, r, *names);
    switch (r.event) {
      case FlowEvent::start: counters_.flows_started++; break;
      case FlowEvent::deny:
        counters_.denies++;
        counters_.denies_suppressed += r.suppressed;
        break;
      case FlowEvent::end:
        counters_.flows_ended++;
        counters_.ended_by[static_cast<int>(r.end_reason)]++;
        break;
      case FlowEvent::unanswered: counters_.flows_unanswered++; break;
      case FlowEvent::refused: counters_.flows_refused++; break;
    }
    if (options_.exporter && (r.event == FlowEvent::end || r.event == FlowEvent::deny))
      options_.exporter->add(r, *names);
  }
  size_t n = records.size();
  if (options_.analysis) options_.analysis->submit(std::move(analysis_names), std::move(records));
  if (log_) log_->write(batch_);
  hub_.publish(std::move(batch_), n);
  batch_ = std::string();
  batch_.reserve(records.size() * 640);
}

void Telemetry::run() {
  const EventSource::OnEvent on_event = [this](const zs_event& ev) { handle(ev); };
  auto next_sweep = std::chrono::steady_clock::now();
  while (!stopping_) {
    clock_ = FlowClock::now();
    int n = kernel_.events->read(100, on_event);
    if (n < 0 && n != -EINTR) log::warn("reading the event ring buffer: " + std::string(strerror(-n)));
    uint64_t requested;
    {
      std::lock_guard lock(sweep_mu_);
      requested = sweep_requested_;
    }
    bool sweep = requested > sweep_done_ || std::chrono::steady_clock::now() >= next_sweep;
    if (sweep) {
      // events already in the ring belong before the ends the sweep finds
      kernel_.events->read(0, on_event);
      clock_ = FlowClock::now();
      auto t0 = std::chrono::steady_clock::now();
      sweep_and_recount();
      counters_.last_sweep_ns = static_cast<uint64_t>(
          std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0).count());
      counters_.sweeps++;
      counters_.conntrack4_entries = table_.conntrack4_entries();
      counters_.conntrack6_entries = table_.conntrack6_entries();
      next_sweep = std::chrono::steady_clock::now() + std::chrono::milliseconds(options_.sweep_interval_ms);
    }
    try {
      emit(pending_);
    } catch (const std::exception& e) {
      log::error(std::string("flow telemetry: ") + e.what());
    }
    pending_.clear();
    counters_.live_flows = table_.live();
    if (options_.exporter) options_.exporter->flush();
    if (sweep) {
      std::lock_guard lock(sweep_mu_);
      sweep_done_ = requested;
      sweep_cv_.notify_all();
    }
  }
  // the last events and a final flush; flows still live stay in conntrack
  // and are reported by the next agent
  clock_ = FlowClock::now();
  kernel_.events->read(0, on_event);
  emit(pending_);
  pending_.clear();
  if (options_.exporter) options_.exporter->flush();
  std::lock_guard lock(sweep_mu_);
  sweep_done_ = sweep_requested_;
  sweep_cv_.notify_all();
}

}  // namespace zeroseg
