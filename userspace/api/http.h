// SPDX-License-Identifier: Apache-2.0
// The agent's API transport: HTTP/1.1 over a Unix socket, one request per
// connection, JSON bodies. Small on purpose: cpp-httplib 0.11 (Debian 12)
// has no Unix socket support and no way to see the peer's credentials,
// which the agent checks (SO_PEERCRED) before reading a request.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <string>

#include "bpf/fd.h"

namespace zeroseg::api {

struct Request {
  std::string method, path, body;
  std::map<std::string, std::string> query;
  uid_t peer_uid = 0;
  pid_t peer_pid = 0;
};

struct Response {
  int status = 200;
  std::string body;  // JSON
};

using Handler = std::function<Response(const Request&)>;

class UnixHttpServer {
 public:
  // Binds path (mode 0600, replacing a stale socket), refuses peers whose
  // uid is not allowed_uid.
  UnixHttpServer(const std::string& path, uid_t allowed_uid, Handler handler);
  ~UnixHttpServer();
  // Serves until stop() (from a signal handler's flag or another thread).
  void serve();
  void stop() { stopping_ = true; }
  const std::string& path() const { return path_; }

 private:
  void handle(int fd);

  std::string path_;
  uid_t allowed_uid_;
  Handler handler_;
  UniqueFd listener_;
  std::atomic<bool> stopping_{false};
};

// The CLI's side: one request, its response. Throws Error when the agent
// cannot be reached, naming the socket.
Response call(const std::string& socket_path, const std::string& method, const std::string& path,
              const std::string& body = "");

}  // namespace zeroseg::api
