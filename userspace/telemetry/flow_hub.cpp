// SPDX-License-Identifier: Apache-2.0
#include "telemetry/flow_hub.h"

#include <algorithm>
#include <chrono>

namespace zeroseg {

std::vector<std::string> FlowHub::Stream::wait(int timeout_ms) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [&] { return !queue_.empty() || closed_; });
  std::vector<std::string> out(std::make_move_iterator(queue_.begin()), std::make_move_iterator(queue_.end()));
  queue_.clear();
  return out;
}

bool FlowHub::Stream::closed() const {
  std::lock_guard lock(mu_);
  return closed_;
}

uint64_t FlowHub::Stream::dropped() const {
  std::lock_guard lock(mu_);
  return dropped_;
}

void FlowHub::publish(const std::vector<std::string>& lines) {
  if (lines.empty()) return;
  std::lock_guard lock(mu_);
  for (const auto& line : lines) {
    recent_.push_back(line);
    if (recent_.size() > keep_) recent_.pop_front();
  }
  for (auto& s : streams_) {
    std::lock_guard slock(s->mu_);
    for (const auto& line : lines) {
      if (!s->filter_.matches_line(line)) continue;
      if (s->queue_.size() >= stream_queue_) {
        s->dropped_++;
        dropped_total_++;
        continue;
      }
      s->queue_.push_back(line);
    }
    s->cv_.notify_one();
  }
}

std::vector<std::string> FlowHub::recent(size_t n, const FlowFilter& filter) const {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  for (auto it = recent_.rbegin(); it != recent_.rend() && out.size() < n; ++it)
    if (filter.matches_line(*it)) out.push_back(*it);
  std::reverse(out.begin(), out.end());
  return out;
}

std::shared_ptr<FlowHub::Stream> FlowHub::subscribe(FlowFilter filter) {
  auto s = std::make_shared<Stream>();
  s->filter_ = std::move(filter);
  std::lock_guard lock(mu_);
  streams_.push_back(s);
  return s;
}

void FlowHub::unsubscribe(const std::shared_ptr<Stream>& s) {
  std::lock_guard lock(mu_);
  streams_.erase(std::remove(streams_.begin(), streams_.end(), s), streams_.end());
}

void FlowHub::close() {
  std::lock_guard lock(mu_);
  for (auto& s : streams_) {
    std::lock_guard slock(s->mu_);
    s->closed_ = true;
    s->cv_.notify_all();
  }
  streams_.clear();
}

uint64_t FlowHub::streams_dropped() const {
  std::lock_guard lock(mu_);
  return dropped_total_;
}

}  // namespace zeroseg
