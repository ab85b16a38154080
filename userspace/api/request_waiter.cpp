// SPDX-License-Identifier: Apache-2.0
#include "api/request_waiter.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <memory>

#include "api/canned_answer.h"
#include "common/error.h"
#include "common/log.h"

namespace zeroseg::api {
namespace {

using Clock = std::chrono::steady_clock;
constexpr std::string_view kHeadEnd = "\r\n\r\n";

// Sent without waiting (a client too slow to take it loses it) before the
// connection closes.
void answer_and_close(UniqueFd fd, const std::string& answer) {
  (void)::send(fd.get(), answer.data(), answer.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  ::shutdown(fd.get(), SHUT_RDWR);
}

// The Content-Length a head declares (its leading digits): nullopt when
// none (the worker refuses a bad one before any body is read).
std::optional<size_t> content_length(std::string_view head) {
  static constexpr std::string_view kName = "\r\ncontent-length:";
  for (size_t at = 0; at + kName.size() <= head.size(); at++) {
    bool match = true;
    for (size_t i = 0; i < kName.size() && match; i++)
      match = std::tolower(static_cast<unsigned char>(head[at + i])) == kName[i];
    if (!match) continue;
    size_t v = at + kName.size();
    while (v < head.size() && (head[v] == ' ' || head[v] == '\t')) v++;
    size_t length = 0, digits = 0;
    for (; v < head.size() && std::isdigit(static_cast<unsigned char>(head[v])) && digits < 19; v++, digits++)
      length = length * 10 + static_cast<size_t>(head[v] - '0');
    if (digits == 0) return std::nullopt;
    return length;
  }
  return std::nullopt;
}

size_t most_read(const WaitLimits& limits) { return limits.max_head + limits.max_body; }

}  // namespace

bool worker_need_not_wait(std::string_view data, const WaitLimits& limits) {
  size_t end = data.find(kHeadEnd);
  if (end == std::string_view::npos) return data.size() >= limits.max_head;
  if (limits.max_body == 0) return true;
  size_t body_at = end + kHeadEnd.size();
  auto length = content_length(data.substr(0, body_at));
  return !length || *length > limits.max_body || data.size() - body_at >= *length;
}

bool worker_need_not_wait(int fd, const WaitLimits& limits) {
  // (not zero-filled: up to 64 KiB for every accepted connection)
  const size_t size = most_read(limits);
  auto peek = std::make_unique_for_overwrite<char[]>(size);
  ssize_t n;
  do {
    n = ::recv(fd, peek.get(), size, MSG_PEEK | MSG_DONTWAIT);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return errno != EAGAIN && errno != EWOULDBLOCK;  // an error: the worker sees it at once
  if (n == 0) return true;
  return worker_need_not_wait(std::string_view(peek.get(), static_cast<size_t>(n)), limits);
}

RequestWaiter::RequestWaiter(const Limits& limits, Ready ready)
    : limits_(limits), ready_(std::move(ready)), wake_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
  if (!wake_) throw_errno("creating the HTTP listener's eventfd", errno);
  thread_ = std::thread([this] { run(); });
}

RequestWaiter::~RequestWaiter() { stop(); }

void RequestWaiter::park(UniqueFd&& fd, Clock::time_point accepted) {
  UniqueFd oldest;
  {
    std::lock_guard lock(mutex_);
    if (!stopping_) {
      incoming_.reserve(incoming_.size() + 1);  // (if it throws, the caller still holds fd)
      // bounded before this waiter's thread runs, too: a burst accepted
      // while it waits for a core holds capacity more descriptors at most
      if (incoming_.size() >= limits_.capacity) {
        oldest = std::move(incoming_.front().fd);
        incoming_.erase(incoming_.begin());
      }
      incoming_.push_back({std::move(fd), accepted + limits_.timeout, accepted, {}});
    }
  }
  if (oldest) answer_and_close(std::move(oldest), busy_answer());
  if (fd) return answer_and_close(std::move(fd), busy_answer());  // stopped
  uint64_t one = 1;
  (void)!::write(wake_.get(), &one, sizeof(one));
}

void RequestWaiter::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  uint64_t one = 1;
  (void)!::write(wake_.get(), &one, sizeof(one));
  if (thread_.joinable()) thread_.join();
}

bool RequestWaiter::read_more(Waiting& w) const {
  char buffer[4096];
  size_t room = most_read(limits_) - w.read.size();
  ssize_t n;
  do {
    n = ::recv(w.fd.get(), buffer, std::min(room, sizeof(buffer)), MSG_DONTWAIT);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return errno != EAGAIN && errno != EWOULDBLOCK;
  if (n == 0) return true;
  w.read.append(buffer, static_cast<size_t>(n));
  return w.read.size() >= most_read(limits_) || worker_need_not_wait(w.read, limits_);
}

void RequestWaiter::take_parked() {
  // the eventfd drained before incoming_ is taken: a park after this wakes
  // the next poll (drained after, it could swallow that park's wake-up)
  uint64_t count;
  (void)!::read(wake_.get(), &count, sizeof(count));
  std::vector<Waiting> arrived;
  {
    std::lock_guard lock(mutex_);
    arrived.swap(incoming_);
  }
  for (auto& w : arrived) waiting_.push_back(std::move(w));
  while (waiting_.size() > limits_.capacity) {
    answer_and_close(std::move(waiting_.front().fd), busy_answer());
    waiting_.pop_front();
  }
}

void RequestWaiter::run() {
  std::vector<pollfd> polled;
  for (;;) {
    {
      std::lock_guard lock(mutex_);
      if (stopping_) break;
    }
    try {
      take_parked();
      polled.assign(1, pollfd{wake_.get(), POLLIN, 0});
      for (const auto& w : waiting_) polled.push_back({w.fd.get(), POLLIN, 0});
      int timeout = -1;
      if (!waiting_.empty()) {
        auto first = waiting_.front().deadline;  // (in park order, nearly deadline order)
        for (const auto& w : waiting_) first = std::min(first, w.deadline);
        auto left = std::chrono::ceil<std::chrono::milliseconds>(first - Clock::now());
        timeout = static_cast<int>(std::max<int64_t>(left.count(), 0));
      }
      if (::poll(polled.data(), polled.size(), timeout) < 0) continue;  // EINTR (ENOMEM: tried again)

      auto now = Clock::now();
      std::deque<Waiting> still;
      for (size_t i = 0; i < waiting_.size(); i++) {
        Waiting& w = waiting_[i];
        if (polled[i + 1].revents && read_more(w)) {
          ready_({std::move(w.fd), w.accepted, std::move(w.read)});
        } else if (now >= w.deadline) {
          answer_and_close(std::move(w.fd), late_answer());
        } else {
          still.push_back(std::move(w));
        }
      }
      waiting_.swap(still);
    } catch (const std::exception& e) {
      // no memory: what waits is closed (it would wait on), the waiter goes on
      log::warn(std::string("HTTP connections waiting for their requests dropped: ") + e.what());
      waiting_.clear();
    }
  }
  waiting_.clear();  // closes them
  std::lock_guard lock(mutex_);
  incoming_.clear();
}

}  // namespace zeroseg::api
