// SPDX-License-Identifier: Apache-2.0
// Connections whose request has not all arrived wait here, read by one
// thread that polls them together, rather than each on one of the
// listener's few worker threads: a client that trickles its head
// (slowloris) or its body costs a descriptor and a buffer, never the
// thread a normal client needs (e2e.hostile_http: 300 slow clients, and a
// scrape answered). "Arrived": the head, and on a listener that waits for
// bodies too (max_body > 0) the Content-Length bytes after it.
#pragma once

#include <chrono>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/handles.h"

namespace zeroseg::api {

struct WaitLimits {
  size_t capacity;                    // connections waiting at once
  size_t max_head;                    // bytes of a head
  size_t max_body;                    // a body waited for (Content-Length); 0: the head alone
  std::chrono::milliseconds timeout;  // from accept to all of it
};

// True when `data` holds what a worker reads without waiting on the
// client: a whole head ("\r\n\r\n", or max_head bytes) and, if max_body,
// the body its Content-Length declares (one too long, or none, or one
// that cannot be read: the worker refuses it at once).
bool worker_need_not_wait(std::string_view data, const WaitLimits& limits);
// worker_need_not_wait on what `fd` holds (MSG_PEEK), or true when the client
// sent all it will (closed, or an error).
bool worker_need_not_wait(int fd, const WaitLimits& limits);

// A connection handed back: its socket, when it was accepted (its request
// deadline counts from then) and the bytes already read from it.
struct ReadyConnection {
  UniqueFd fd;
  std::chrono::steady_clock::time_point accepted;
  std::string read;
};

class RequestWaiter {
 public:
  using Limits = WaitLimits;
  using Ready = std::function<void(ReadyConnection)>;

  RequestWaiter(const Limits& limits, Ready ready);
  ~RequestWaiter();  // stop()
  RequestWaiter(const RequestWaiter&) = delete;
  RequestWaiter& operator=(const RequestWaiter&) = delete;

  // Takes `fd`. Its request arrived: handed to ready() (on this waiter's
  // thread). Its deadline passed: answered 408 and closed. Past capacity,
  // the connection waiting longest is answered 503 and closed. Before the
  // waiter's thread takes parked ones in, they are bounded apart: past
  // capacity, park closes the oldest of those (2 x capacity held at most).
  void park(UniqueFd&& fd, std::chrono::steady_clock::time_point accepted);
  // Closes every waiting connection; later ones are answered 503 as parked.
  void stop();

 private:
  struct Waiting {
    UniqueFd fd;
    std::chrono::steady_clock::time_point deadline;
    std::chrono::steady_clock::time_point accepted;
    std::string read;
  };
  void run();
  // reads what `w` has: true when its request arrived or nothing more will come
  bool read_more(Waiting& w) const;
  void take_parked();  // incoming_ into waiting_, the oldest closed past capacity

  const Limits limits_;
  const Ready ready_;
  UniqueFd wake_;  // an eventfd: parked, or stop
  std::mutex mutex_;
  std::vector<Waiting> incoming_;  // parked, not yet polled (under mutex_)
  bool stopping_ = false;          // (under mutex_)
  std::deque<Waiting> waiting_;    // oldest first; the waiter's thread alone
  std::thread thread_;
};

}  // namespace zeroseg::api
