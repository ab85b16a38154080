// SPDX-License-Identifier: Apache-2.0
// The alert webhook: each alert's JSON (alert.h), POSTed to a URL for a
// SIEM or a chat relay. Its own thread and a bounded queue, so a slow or
// dead receiver never holds up the telemetry thread; what it could not
// deliver is counted. http:// or https:// (the server's certificate checked
// against a CA file, or the system's CAs); an optional header (a bearer
// token, an API key) read from a file or the environment and never logged;
// a failed delivery (no answer, 408, 429, 5xx) tried again with backoff.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <thread>

#include "detect/flow_analyzer.h"

namespace zeroseg {

struct WebhookOptions {
  std::string ca_file;      // https: the CA bundle to verify the server by ("": the system's)
  std::string auth_header;  // "Name: value" sent with every POST ("": none); a secret
  int retries = 3;          // tries after the first, per alert
  int backoff_ms = 500;     // before the first retry; doubles each time, at most 8 s
};

// The header for WebhookOptions::auth_header: the environment variable
// ZEROSEG_ALERT_WEBHOOK_AUTH when set and not empty, else the first line of
// file (when not ""). Throws Error naming the file (never its content) when
// it cannot be read or holds no "Name: value".
std::string webhook_auth_header(const std::string& file);

class WebhookSink : public AlertSink {
 public:
  static constexpr size_t kQueue = 1000;
  // Throws Error when the URL is not http(s)://HOST[:PORT][/PATH] or the
  // CA file cannot be read.
  explicit WebhookSink(const std::string& url, WebhookOptions options = {});
  ~WebhookSink() override;  // delivers what is queued for up to 3 s (each try 2 s at most, no retries), then stops

  void send(const std::string& json_line) override;

  struct Counts {
    // failed: given up after its retries; retries: tries after a failure
    std::atomic<uint64_t> sent{0}, failed{0}, dropped{0}, retries{0};
  };
  const Counts& counts() const { return counts_; }
  const std::string& url() const { return url_; }

 private:
  void run();
  // One alert: tries, with backoff, until delivered, out of retries, or stopping.
  bool deliver(class WebhookClient& client, const std::string& body);
  std::string url_, host_, path_;
  std::string shown_;  // in the log: scheme, host and port, never the path (it may be the secret)
  bool https_ = false;
  int port_ = 80;
  WebhookOptions options_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> queue_;
  bool stopping_ = false;
  bool warned_ = false;  // the webhook thread's: said once per outage
  Counts counts_;
  std::thread thread_;
};

}  // namespace zeroseg
