// SPDX-License-Identifier: Apache-2.0
// The pace of a node's applied/NODE reports in cluster mode. Every node
// reported each revision it applied, so etcd took nodes x changes writes
// (bench/RESULTS.md, "What 1000 nodes would need": ~10k/s at 1000 nodes).
// Now at most one a node per interval, the newest revision applied: the
// first change after a quiet interval is reported at once, a burst's
// changes within one interval by one write at its end (at most an interval
// after the last). `apply --wait-all` waits for a revision or a later one,
// so a report that covers several changes answers for all of them.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>

namespace zeroseg {

class ReportPacer {
 public:
  using Clock = std::chrono::steady_clock;
  explicit ReportPacer(Clock::duration interval) : interval_(interval) {}
  // A revision applied here (revisions only grow; an older one changes nothing).
  void applied(int64_t revision) { wanted_ = std::max(wanted_, revision); }
  // The revision to write now, or 0: none waits, or the last write is
  // younger than the interval (then due() says when). A write taken counts
  // for the pace whether it succeeds or not (a failing etcd is not asked
  // more often); written() says it did.
  int64_t take(Clock::time_point now) {
    if (!pending() || (tried_ && now < last_ + interval_)) return 0;
    tried_ = true;
    last_ = now;
    taken_epoch_ = epoch_;
    return wanted_;
  }
  // The write of what take() gave succeeded; one begun before a rewrite()
  // counts for nothing (it went under the old lease).
  void written(int64_t revision) {
    if (taken_epoch_ == epoch_) written_ = std::max(written_, revision);
  }
  // The node's lease was granted again: its applied/NODE key went with the
  // old one. The newest revision is written again at once, never an older one.
  void rewrite() {
    written_ = 0;
    tried_ = false;
    epoch_++;
  }
  bool pending() const { return wanted_ > written_; }
  Clock::time_point due() const { return last_ + interval_; }
  int64_t reported() const { return written_; }

 private:
  Clock::duration interval_;
  Clock::time_point last_{};
  bool tried_ = false;
  int64_t wanted_ = 0, written_ = 0;
  uint64_t epoch_ = 0, taken_epoch_ = 0;
};

}  // namespace zeroseg
