// SPDX-License-Identifier: Apache-2.0
#include "api/connection_stream.h"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace zeroseg::api {
namespace {

using std::chrono::milliseconds;

// A read waits in slices this long so that stop() need not wait for a
// slow client's whole read timeout.
constexpr milliseconds kStopCheck{200};

int poll_once(int fd, short events, milliseconds timeout, short& revents) {
  pollfd p{fd, events, 0};
  int rc;
  do {
    rc = ::poll(&p, 1, static_cast<int>(timeout.count()));
  } while (rc < 0 && errno == EINTR);
  revents = p.revents;
  return rc;
}

void name_of(const sockaddr_storage& addr, socklen_t len, std::string& ip, int& port) {
  if (addr.ss_family != AF_INET && addr.ss_family != AF_INET6) return;  // a Unix peer has no address
  char host[NI_MAXHOST], service[NI_MAXSERV];
  if (getnameinfo(reinterpret_cast<const sockaddr*>(&addr), len, host, sizeof(host), service, sizeof(service),
                  NI_NUMERICHOST | NI_NUMERICSERV) == 0) {
    ip = host;
    port = std::atoi(service);
  }
}

}  // namespace

bool ConnectionStream::wait_readable() const {
  auto until_deadline =
      std::chrono::duration_cast<milliseconds>(request_deadline_ - std::chrono::steady_clock::now());
  for (milliseconds left = std::min(limits_.read_timeout, until_deadline); left.count() > 0; left -= kStopCheck) {
    short revents = 0;
    if (poll_once(fd_, POLLIN, std::min(left, kStopCheck), revents) != 0) return revents != 0;
    if (stopping_) return false;
  }
  return false;
}

bool ConnectionStream::is_readable() const {
  return buffered_at_ < buffered_end_ || read_at_ < read_.size() || wait_readable();
}

bool ConnectionStream::is_writable() const {
  short revents = 0;
  if (poll_once(fd_, POLLOUT | POLLRDHUP, milliseconds(0), revents) < 0) return false;
  return !(revents & (POLLRDHUP | POLLHUP | POLLERR));
}

// The head ends at the first "\r\n\r\n"; one request per connection, so
// everything after it is body.
void ConnectionStream::count(const char* data, size_t n) {
  static constexpr char kEnd[] = "\r\n\r\n";
  size_t i = 0;
  for (; i < n && head_end_matched_ < 4; i++, head_bytes_++)
    head_end_matched_ = data[i] == kEnd[head_end_matched_] ? head_end_matched_ + 1 : (data[i] == '\r' ? 1 : 0);
  body_bytes_ += n - i;
}

ssize_t ConnectionStream::read(char* ptr, size_t size) {
  bool in_head = head_end_matched_ < 4;
  // a head past its limit ends there, as if the client had stopped: httplib
  // then answers 414 or 400 rather than closing without a word
  if (in_head && head_bytes_ >= limits_.max_head) return 0;
  if (buffered_at_ == buffered_end_ && read_at_ < read_.size()) {
    buffered_at_ = 0;
    buffered_end_ = std::min(buffer_.size(), read_.size() - read_at_);
    std::memcpy(buffer_.data(), read_.data() + read_at_, buffered_end_);
    read_at_ += buffered_end_;
  }
  if (buffered_at_ == buffered_end_) {
    if (!wait_readable()) return -1;
    ssize_t n;
    do {
      n = ::recv(fd_, buffer_.data(), buffer_.size(), 0);
    } while (n < 0 && errno == EINTR);
    if (n <= 0) return n;
    buffered_at_ = 0;
    buffered_end_ = static_cast<size_t>(n);
  }
  size_t n = std::min(size, buffered_end_ - buffered_at_);
  if (in_head) n = std::min(n, limits_.max_head - head_bytes_);
  std::memcpy(ptr, buffer_.data() + buffered_at_, n);
  buffered_at_ += n;
  count(ptr, n);
  // a body past its limit fails the request (an end would pass it on cut short)
  if (body_bytes_ > limits_.max_body) return -1;
  return static_cast<ssize_t>(n);
}

ssize_t ConnectionStream::write(const char* ptr, size_t size) {
  short revents = 0;
  if (poll_once(fd_, POLLOUT, limits_.write_timeout, revents) != 1 || !(revents & POLLOUT)) return -1;
  ssize_t n;
  do {
    n = ::send(fd_, ptr, size, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  return n;
}

void ConnectionStream::get_remote_ip_and_port(std::string& ip, int& port) const {
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  if (getpeername(fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0) name_of(addr, len, ip, port);
}

void ConnectionStream::get_local_ip_and_port(std::string& ip, int& port) const {
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  if (getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0) name_of(addr, len, ip, port);
}

}  // namespace zeroseg::api
