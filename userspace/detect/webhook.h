// SPDX-License-Identifier: Apache-2.0
// The alert webhook: each alert's JSON (alert.h), POSTed to a URL for a
// SIEM or a chat relay. Its own thread and a bounded queue, so a slow or
// dead receiver never holds up the telemetry thread; what it could not
// deliver is counted. http:// only (put a TLS relay in front for https).
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <thread>

#include "detect/flow_analyzer.h"

namespace zeroseg {

class WebhookSink : public AlertSink {
 public:
  static constexpr size_t kQueue = 1000;
  // Throws Error when the URL is not http://HOST[:PORT][/PATH].
  explicit WebhookSink(const std::string& url);
  ~WebhookSink() override;  // delivers what is queued for up to 3 s (each try 2 s at most), then stops

  void send(const std::string& json_line) override;

  struct Counts {
    std::atomic<uint64_t> sent{0}, failed{0}, dropped{0};
  };
  const Counts& counts() const { return counts_; }
  const std::string& url() const { return url_; }

 private:
  void run();
  std::string url_, host_, path_;
  int port_ = 80;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> queue_;
  bool stopping_ = false;
  Counts counts_;
  std::thread thread_;
};

}  // namespace zeroseg
