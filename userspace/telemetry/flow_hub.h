// SPDX-License-Identifier: Apache-2.0
// FlowHub: the recent flow lines (for `zeroseg flows --last N`) and the
// live streams (`zeroseg flows --follow`). A stream that cannot keep up
// loses lines, and is told how many.
#pragma once

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "telemetry/flow_filter.h"

namespace zeroseg {

class FlowHub {
 public:
  class Stream {
   public:
    // Waits up to timeout_ms for lines; returns what came (maybe nothing).
    // Sets closed() when the hub shuts down.
    std::vector<std::string> wait(int timeout_ms);
    bool closed() const;
    uint64_t dropped() const;

   private:
    friend class FlowHub;
    mutable std::mutex mu_;
    std::condition_variable cv_;
    std::deque<std::string> queue_;
    FlowFilter filter_;
    uint64_t dropped_ = 0;
    bool closed_ = false;
  };

  // The recent lines are bounded twice: at most `keep` lines and about
  // keep_bytes of memory, whichever is less (lines differ in length: a
  // flow line is ~400 bytes, 10k of them ~4 MiB); the newest batch is
  // always kept, even when it alone is larger.
  static constexpr size_t kDefaultKeepBytes = 4u << 20;
  explicit FlowHub(size_t keep = 10000, size_t stream_queue = 65536, size_t keep_bytes = kDefaultKeepBytes)
      : keep_(keep), stream_queue_(stream_queue), keep_bytes_(keep_bytes) {}
  ~FlowHub() { close(); }

  // A batch of whole lines, each ending with '\n'. The recent buffer
  // holds batches, not a string per line; small batches are packed into
  // chunks of kChunkBytes, so a line costs its bytes, not an allocation
  // and the spare capacity of the string it came in.
  void publish(std::string batch, size_t lines);
  // The last n lines that pass the filter, oldest first.
  std::vector<std::string> recent(size_t n, const FlowFilter& filter) const;
  std::shared_ptr<Stream> subscribe(FlowFilter filter);
  void unsubscribe(const std::shared_ptr<Stream>& s);
  void close();
  uint64_t streams_dropped() const;
  size_t recent_bytes() const;  // the memory the recent lines hold

  static constexpr size_t kChunkBytes = 64u << 10;

 private:
  void keep_recent(std::string batch, size_t lines);  // mu_ held

  size_t keep_, stream_queue_, keep_bytes_;
  mutable std::mutex mu_;
  struct Batch {
    std::string text;
    size_t lines;
  };
  std::deque<Batch> recent_;  // oldest first; at least keep_ lines when there are, within keep_bytes_
  size_t recent_lines_ = 0;
  size_t recent_bytes_ = 0;  // the capacity of recent_'s strings
  std::vector<std::shared_ptr<Stream>> streams_;
  uint64_t dropped_total_ = 0;
};

}  // namespace zeroseg
