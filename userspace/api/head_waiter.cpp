// SPDX-License-Identifier: Apache-2.0
#include "api/head_waiter.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <string_view>

#include "common/error.h"

namespace zeroseg::api {
namespace {

using Clock = std::chrono::steady_clock;
constexpr std::string_view kHeadEnd = "\r\n\r\n";

// Sent without waiting (a client too slow to take it loses it) before the
// connection closes.
void answer_and_close(UniqueFd fd, int status, const char* reason) {
  std::string body = std::string("{\"error\": \"") +
                     (status == 408 ? "the request did not arrive in time" : "the agent is busy: try again") + "\"}";
  std::string answer = "HTTP/1.1 " + std::to_string(status) + " " + reason +
                       "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
                       "\r\nConnection: close\r\n\r\n" + body;
  (void)::send(fd.get(), answer.data(), answer.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  ::shutdown(fd.get(), SHUT_RDWR);
}

}  // namespace

bool head_arrived(int fd, size_t max_head) {
  std::string peek(max_head, '\0');
  ssize_t n;
  do {
    n = ::recv(fd, peek.data(), peek.size(), MSG_PEEK | MSG_DONTWAIT);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return errno != EAGAIN && errno != EWOULDBLOCK;  // an error: the worker sees it at once
  if (n == 0 || static_cast<size_t>(n) == max_head) return true;
  return std::string_view(peek.data(), static_cast<size_t>(n)).find(kHeadEnd) != std::string_view::npos;
}

HeadWaiter::HeadWaiter(const Limits& limits, Ready ready)
    : limits_(limits), ready_(std::move(ready)), wake_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
  if (!wake_) throw_errno("creating the HTTP listener's eventfd", errno);
  thread_ = std::thread([this] { run(); });
}

HeadWaiter::~HeadWaiter() { stop(); }

void HeadWaiter::park(UniqueFd fd, Clock::time_point accepted) {
  {
    std::lock_guard lock(mutex_);
    if (!stopping_) {
      incoming_.push_back({std::move(fd), accepted + limits_.timeout, accepted, {}});
    }
  }
  if (fd) return answer_and_close(std::move(fd), 503, "Service Unavailable");  // stopped
  uint64_t one = 1;
  (void)!::write(wake_.get(), &one, sizeof(one));
}

void HeadWaiter::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  uint64_t one = 1;
  (void)!::write(wake_.get(), &one, sizeof(one));
  if (thread_.joinable()) thread_.join();
}

bool HeadWaiter::read_more(Waiting& w) const {
  size_t had = w.read.size();
  w.read.resize(limits_.max_head);
  ssize_t n;
  do {
    n = ::recv(w.fd.get(), w.read.data() + had, limits_.max_head - had, MSG_DONTWAIT);
  } while (n < 0 && errno == EINTR);
  w.read.resize(had + static_cast<size_t>(std::max<ssize_t>(n, 0)));
  if (n < 0) return errno != EAGAIN && errno != EWOULDBLOCK;
  if (n == 0 || w.read.size() == limits_.max_head) return true;
  // the end may straddle what was read before
  size_t from = had >= kHeadEnd.size() - 1 ? had - (kHeadEnd.size() - 1) : 0;
  return w.read.find(kHeadEnd, from) != std::string::npos;
}

void HeadWaiter::run() {
  std::vector<pollfd> polled;
  for (;;) {
    polled.assign(1, pollfd{wake_.get(), POLLIN, 0});
    for (const auto& w : waiting_) polled.push_back({w.fd.get(), POLLIN, 0});
    int timeout = -1;  // the oldest has the first deadline (one timeout for all)
    if (!waiting_.empty()) {
      auto left = std::chrono::ceil<std::chrono::milliseconds>(waiting_.front().deadline - Clock::now());
      timeout = static_cast<int>(std::max<int64_t>(left.count(), 0));
    }
    if (::poll(polled.data(), polled.size(), timeout) < 0 && errno != EINTR) {
      // (EINVAL/ENOMEM only: the count stays under the descriptor limit)
      polled.assign(polled.size(), pollfd{-1, 0, 0});
    }

    auto now = Clock::now();
    std::deque<Waiting> still;
    for (size_t i = 0; i < waiting_.size(); i++) {
      Waiting& w = waiting_[i];
      if (polled[i + 1].revents && read_more(w)) {
        try {
          ready_({std::move(w.fd), w.accepted, std::move(w.read)});
        } catch (const std::exception&) {
          // (no memory for the job): the connection closes, the waiter goes on
        }
      } else if (now >= w.deadline) {
        answer_and_close(std::move(w.fd), 408, "Request Timeout");
      } else {
        still.push_back(std::move(w));
      }
    }
    waiting_.swap(still);

    std::vector<Waiting> arrived;
    {
      std::lock_guard lock(mutex_);
      if (stopping_) break;
      arrived.swap(incoming_);
    }
    uint64_t count;
    (void)!::read(wake_.get(), &count, sizeof(count));
    for (auto& w : arrived) waiting_.push_back(std::move(w));
    while (waiting_.size() > limits_.capacity) {
      answer_and_close(std::move(waiting_.front().fd), 503, "Service Unavailable");
      waiting_.pop_front();
    }
  }
  waiting_.clear();  // closes them
  std::lock_guard lock(mutex_);
  incoming_.clear();
}

}  // namespace zeroseg::api
