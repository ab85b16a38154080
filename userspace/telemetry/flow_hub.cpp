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
  keep_recent(std::move(batch), lines);
}

void FlowHub::keep_recent(std::string batch, size_t lines) {
  // Under churn most batches are a line or two, each in a string reserved
  // for a bigger one: kept one by one, 10k lines held ~7 MiB, not 4.
  if (batch.size() < kChunkBytes / 2) {
    if (recent_.empty() || recent_.back().text.size() + batch.size() > recent_.back().text.capacity()) {
      std::string chunk;
      chunk.reserve(kChunkBytes);
      recent_bytes_ += chunk.capacity();
      recent_.push_back({std::move(chunk), 0});
    }
    recent_.back().text += batch;
    recent_.back().lines += lines;
  } else {
    batch.shrink_to_fit();
    recent_bytes_ += batch.capacity();
    recent_.push_back({std::move(batch), lines});
  }
  recent_lines_ += lines;
  auto drop_oldest = [&] {
    recent_lines_ -= recent_.front().lines;
    recent_bytes_ -= recent_.front().text.capacity();
    recent_.pop_front();
  };
  while (recent_.size() > 1 && recent_lines_ - recent_.front().lines >= keep_) drop_oldest();
  while (recent_.size() > 1 && recent_bytes_ > keep_bytes_) drop_oldest();
}

size_t FlowHub::recent_bytes() const {
  std::lock_guard lock(mu_);
  return recent_bytes_;
}

std::vector<std::string> FlowHub::recent(size_t n, const FlowFilter& filter) const {
  std::lock_guard lock(mu_);
  n = std::min(n, keep_);  // a chunk holds more than keep_ lines may need
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
