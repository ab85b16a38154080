// SPDX-License-Identifier: Apache-2.0
// Connections whose request head has not all arrived wait here, read by
// one thread that polls them together, rather than each on one of the
// listener's few worker threads: a client that trickles its head
// (slowloris) costs a descriptor and a buffer, never the thread a normal
// client needs (e2e.hostile_http: 300 slow clients, and a scrape answered).
#pragma once

#include <chrono>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/handles.h"

namespace zeroseg::api {

// True when a worker can read `fd`'s head without waiting on the client:
// it holds "\r\n\r\n", or `max_head` bytes, or the client sent all it will
// (closed, or an error). Looks without reading (MSG_PEEK).
bool head_arrived(int fd, size_t max_head);

// A connection handed back: its socket, when it was accepted (its request
// deadline counts from then) and the bytes already read from it.
struct ArrivedHead {
  UniqueFd fd;
  std::chrono::steady_clock::time_point accepted;
  std::string read;
};

class HeadWaiter {
 public:
  struct Limits {
    size_t capacity;                    // connections waiting at once
    size_t max_head;                    // bytes of a head
    std::chrono::milliseconds timeout;  // from accept to a whole head
  };
  using Ready = std::function<void(ArrivedHead)>;

  HeadWaiter(const Limits& limits, Ready ready);
  ~HeadWaiter();  // stop()
  HeadWaiter(const HeadWaiter&) = delete;
  HeadWaiter& operator=(const HeadWaiter&) = delete;

  // Takes `fd`. Its head arrived: handed to ready() (on this waiter's
  // thread). Its deadline passed: answered 408 and closed. Past capacity,
  // the connection waiting longest is answered 503 and closed.
  void park(UniqueFd fd, std::chrono::steady_clock::time_point accepted);
  // Closes every waiting connection; later ones are closed as parked.
  void stop();

 private:
  struct Waiting {
    UniqueFd fd;
    std::chrono::steady_clock::time_point deadline;
    std::chrono::steady_clock::time_point accepted;
    std::string read;
  };
  void run();
  // reads what `w` has: true when its head is whole or nothing more will come
  bool read_more(Waiting& w) const;

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
