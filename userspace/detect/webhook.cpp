// SPDX-License-Identifier: Apache-2.0
#include "detect/webhook.h"

#include <httplib.h>

#include <chrono>
#include <optional>

#include "common/error.h"
#include "common/log.h"

namespace zeroseg {

WebhookSink::WebhookSink(const std::string& url) : url_(url) {
  const std::string scheme = "http://";
  if (url.rfind(scheme, 0) != 0) throw Error("alert-webhook: \"" + url + "\" is not an http:// URL");
  std::string rest = url.substr(scheme.size());
  size_t slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  path_ = slash == std::string::npos ? "/" : rest.substr(slash);
  // HOST, HOST:PORT, [V6] or [V6]:PORT
  std::string port;
  if (!authority.empty() && authority.front() == '[') {
    size_t close = authority.find(']');
    if (close != std::string::npos) {
      host_ = authority.substr(1, close - 1);
      if (authority.size() > close + 1 && authority[close + 1] == ':') port = authority.substr(close + 2);
    }
  } else {
    size_t colon = authority.rfind(':');
    host_ = authority.substr(0, colon);
    if (colon != std::string::npos) port = authority.substr(colon + 1);
  }
  if (!port.empty()) {
    port_ = 0;
    if (port.find_first_not_of("0123456789") == std::string::npos && port.size() <= 5) port_ = std::stoi(port);
  }
  if (host_.empty() || port_ <= 0 || port_ > 65535) throw Error("alert-webhook: \"" + url + "\" has no usable host and port");
  thread_ = std::thread([this] { run(); });
}

WebhookSink::~WebhookSink() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void WebhookSink::send(const std::string& json_line) {
  {
    std::lock_guard lock(mu_);
    if (queue_.size() >= kQueue) {
      counts_.dropped++;
      return;
    }
    queue_.push_back(json_line);
  }
  cv_.notify_one();
}

void WebhookSink::run() {
  httplib::Client client(host_, port_);
  client.set_connection_timeout(2);
  client.set_read_timeout(2);
  client.set_write_timeout(2);
  bool warned = false;
  std::optional<std::chrono::steady_clock::time_point> give_up;  // once stopping: 3 s more at most
  for (;;) {
    std::string body;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_ && !give_up) give_up = std::chrono::steady_clock::now() + std::chrono::seconds(3);
      if (give_up && std::chrono::steady_clock::now() > *give_up) {
        counts_.dropped += queue_.size();
        queue_.clear();
      }
      if (queue_.empty()) return;
      body = std::move(queue_.front());
      queue_.pop_front();
    }
    if (!body.empty() && body.back() == '\n') body.pop_back();
    auto res = client.Post(path_, body, "application/json");
    if (res && res->status >= 200 && res->status < 300) {
      counts_.sent++;
      warned = false;
      continue;
    }
    counts_.failed++;
    if (!warned)  // once per outage, not per alert
      log::warn("alert webhook " + url_ + ": " +
                (res ? "answered " + std::to_string(res->status) : httplib::to_string(res.error())));
    warned = true;
  }
}

}  // namespace zeroseg
