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

void FlowHub::publish(std::string batch, size_t lines) {
  if (batch.empty()) return;
  std::lock_guard lock(mu_);
  if (!streams_.empty()) {
    std::string_view rest = batch;
    while (!rest.empty()) {
      size_t nl = rest.find('\n');
      std::string_view line = rest.substr(0, nl == std::string_view::npos ? rest.size() : nl + 1);
      rest.remove_prefix(line.size());
      for (auto& s : streams_) {
        std::lock_guard slock(s->mu_);
        if (!s->filter_.empty() && !s->filter_.matches_line(std::string(line))) continue;
        if (s->queue_.size() >= stream_queue_) {
          s->dropped_++;
          dropped_total_++;
          continue;
        }
        s->queue_.emplace_back(line);
      }
    }
    for (auto& s : streams_) s->cv_.notify_one();
  }
  recent_.push_back({std::move(batch), lines});
  recent_lines_ += lines;
  while (!recent_.empty() && recent_lines_ - recent_.front().lines >= keep_) {
    recent_lines_ -= recent_.front().lines;
    recent_.pop_front();
  }
}

std::vector<std::string> FlowHub::recent(size_t n, const FlowFilter& filter) const {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  for (auto b = recent_.rbegin(); b != recent_.rend() && out.size() < n; ++b) {
    // the batch's lines, newest first
    std::string_view text = b->text;
    size_t end = text.size();
    while (end > 0 && out.size() < n) {
      // the newline before this line's own
      size_t start = end >= 2 ? text.rfind('\n', end - 2) : std::string_view::npos;
      start = start == std::string_view::npos ? 0 : start + 1;
      std::string line(text.substr(start, end - start));
      if (filter.matches_line(line)) out.push_back(std::move(line));
      end = start;
    }
  }
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
