// SPDX-License-Identifier: Apache-2.0
#include "detect/webhook.h"

#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <optional>

#include "common/error.h"
#include "common/log.h"

namespace zeroseg {

// cpp-httplib's client for http:// or https://, with the header and CA set.
class WebhookClient {
 public:
  WebhookClient(const std::string& scheme_host_port, const WebhookOptions& o) : client_(scheme_host_port) {
    client_.set_connection_timeout(2);
    client_.set_read_timeout(2);
    client_.set_write_timeout(2);
    if (!o.ca_file.empty()) client_.set_ca_cert_path(o.ca_file);
    client_.enable_server_certificate_verification(true);
    size_t colon = o.auth_header.find(':');
    if (colon != std::string::npos) {
      size_t v = o.auth_header.find_first_not_of(' ', colon + 1);
      headers_.emplace(o.auth_header.substr(0, colon), v == std::string::npos ? "" : o.auth_header.substr(v));
    }
  }
  httplib::Result post(const std::string& path, const std::string& body) {
    return client_.Post(path, headers_, body, "application/json");
  }

 private:
  httplib::Client client_;
  httplib::Headers headers_;
};

std::string webhook_auth_header(const std::string& file) {
  std::string line;
  if (const char* env = std::getenv("ZEROSEG_ALERT_WEBHOOK_AUTH"); env && *env) {
    line = env;
  } else if (!file.empty()) {
    std::ifstream in(file);
    if (!in || !std::getline(in, line)) throw Error("alert-webhook-auth-file: cannot read " + file);
  } else {
    return "";
  }
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
  size_t colon = line.find(':');
  bool token = colon != std::string::npos && colon > 0 &&
               line.find_first_of(" \t") > colon;  // a header name has no blank
  if (!token || line.find_first_not_of(' ', colon + 1) == std::string::npos)
    throw Error(std::string("alert webhook header from ") +
                (std::getenv("ZEROSEG_ALERT_WEBHOOK_AUTH") && *std::getenv("ZEROSEG_ALERT_WEBHOOK_AUTH")
                     ? "ZEROSEG_ALERT_WEBHOOK_AUTH"
                     : file) +
                ": not \"Name: value\" (e.g. \"Authorization: Bearer TOKEN\")");
  return line;
}

WebhookSink::WebhookSink(const std::string& url, WebhookOptions options) : url_(url), options_(std::move(options)) {
  https_ = url.rfind("https://", 0) == 0;
  const std::string scheme = https_ ? "https://" : "http://";
  if (url.rfind(scheme, 0) != 0) throw Error("alert-webhook: \"" + url + "\" is not an http:// or https:// URL");
  if (https_) port_ = 443;
  if (!options_.ca_file.empty() && !std::ifstream(options_.ca_file))
    throw Error("alert-webhook-ca: cannot read " + options_.ca_file);
  std::string rest = url.substr(scheme.size());
  size_t slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  path_ = slash == std::string::npos ? "/" : rest.substr(slash);
  // a webhook's path or query is often its secret (Slack's, a token=)
  shown_ = scheme + authority;
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

namespace {

// worth another try: no answer, or an answer that says "later"
bool transient(const httplib::Result& res) {
  return !res || res->status == 408 || res->status == 429 || res->status >= 500;
}

}  // namespace

bool WebhookSink::deliver(WebhookClient& client, const std::string& body) {
  int backoff = options_.backoff_ms;
  for (int attempt = 0;; attempt++) {
    auto res = client.post(path_, body);
    if (res && res->status >= 200 && res->status < 300) return true;
    std::unique_lock lock(mu_);
    if (!transient(res) || attempt >= options_.retries || stopping_) {
      lock.unlock();
      // the status or the error, never the request: it holds the header
      if (!warned_)  // once per outage, not per alert
        log::warn("alert webhook " + shown_ + ": " +
                  (res ? "answered " + std::to_string(res->status) : httplib::to_string(res.error())));
      warned_ = true;
      return false;
    }
    counts_.retries++;
    // a stop cuts the wait short: the destructor's deadline holds
    cv_.wait_for(lock, std::chrono::milliseconds(backoff), [&] { return stopping_; });
    backoff = std::min(backoff * 2, 8000);
  }
}

void WebhookSink::run() {
  std::string authority = host_.find(':') != std::string::npos ? "[" + host_ + "]" : host_;
  WebhookClient client((https_ ? "https://" : "http://") + authority + ":" + std::to_string(port_), options_);
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
    if (deliver(client, body)) {
      counts_.sent++;
      warned_ = false;
    } else {
      counts_.failed++;
    }
  }
}

}  // namespace zeroseg
