// SPDX-License-Identifier: Apache-2.0
// One accepted connection as httplib reads and writes it. httplib 0.11
// keeps its own socket stream inside the library; ours is what lets the
// server see the socket before a request is read (the peer check), bound
// what a client may send in total (httplib bounds a Content-Length, but
// neither the number of header lines nor a chunked or length-less body),
// and stop waiting for a slow client once the server stops.
#pragma once

#include <httplib.h>

#include <array>
#include <atomic>
#include <chrono>
#include <string>

namespace zeroseg::api {

struct StreamLimits {
  size_t max_head;  // request line and headers, bytes
  size_t max_body;  // bytes after the head, framing included
  std::chrono::milliseconds read_timeout, write_timeout;
  // The whole request (head and body) arrives within this, however the
  // client paces it: read_timeout bounds one wait, so a client sending a
  // byte a little faster would otherwise hold its thread for hours.
  std::chrono::milliseconds request_timeout;
};

class ConnectionStream final : public httplib::Stream {
 public:
  // accepted: when the request's time began; read: its first bytes, read
  // already (while it arrived, see request_waiter.h)
  ConnectionStream(int fd, const StreamLimits& limits, const std::atomic<bool>& stopping,
                   std::chrono::steady_clock::time_point accepted, std::string read = {})
      : fd_(fd),
        limits_(limits),
        request_deadline_(accepted + limits.request_timeout),
        stopping_(stopping),
        read_(std::move(read)) {}

  bool is_readable() const override;
  // The client is still there (httplib's DataSink asks this between the
  // chunks of a stream; a client that went away must end it).
  bool is_writable() const override;
  ssize_t read(char* ptr, size_t size) override;
  ssize_t write(const char* ptr, size_t size) override;
  void get_remote_ip_and_port(std::string& ip, int& port) const override;
  void get_local_ip_and_port(std::string& ip, int& port) const override;
  int socket() const override { return fd_; }

 private:
  bool wait_readable() const;
  void count(const char* data, size_t n);

  int fd_;
  StreamLimits limits_;
  std::chrono::steady_clock::time_point request_deadline_;
  const std::atomic<bool>& stopping_;
  std::string read_;  // given at construction, served before the socket's
  size_t read_at_ = 0;
  std::array<char, 4096> buffer_{};  // httplib reads the head a byte at a time
  size_t buffered_at_ = 0, buffered_end_ = 0;
  size_t head_bytes_ = 0, body_bytes_ = 0;
  int head_end_matched_ = 0;  // of "\r\n\r\n"; 4 once the head is complete
};

}  // namespace zeroseg::api
