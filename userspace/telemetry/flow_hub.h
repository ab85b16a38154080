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

  explicit FlowHub(size_t keep = 10000, size_t stream_queue = 65536) : keep_(keep), stream_queue_(stream_queue) {}
  ~FlowHub() { close(); }

  // A batch of whole lines, each ending with '\n'. Kept as it is: the
  // recent buffer holds batches, not copies of each line.
  void publish(std::string batch, size_t lines);
  // The last n lines that pass the filter, oldest first.
  std::vector<std::string> recent(size_t n, const FlowFilter& filter) const;
  std::shared_ptr<Stream> subscribe(FlowFilter filter);
  void unsubscribe(const std::shared_ptr<Stream>& s);
  void close();
  uint64_t streams_dropped() const;

 private:
  size_t keep_, stream_queue_;
  mutable std::mutex mu_;
  struct Batch {
    std::string text;
    size_t lines;
  };
  std::deque<Batch> recent_;  // oldest first; at least keep_ lines when there are
  size_t recent_lines_ = 0;
  std::vector<std::shared_ptr<Stream>> streams_;
  uint64_t dropped_total_ = 0;
};

}  // namespace zeroseg
