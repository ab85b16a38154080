// SPDX-License-Identifier: Apache-2.0
// httplib's Server, given a listener we bound ourselves and a socket
// handler of our own: httplib 0.11 neither hands a handler the accepted
// socket nor checks a Unix peer's credentials, so the check happens in
// process_and_close_socket (a virtual httplib calls on a worker thread for
// each accepted socket) before httplib reads anything.
#pragma once

#include <httplib.h>

#include <atomic>
#include <optional>

#include "api/connection_stream.h"
#include "api/request_waiter.h"
#include "api/http.h"
#include "common/handles.h"

namespace zeroseg::api {

struct TransportLimits {
  StreamLimits stream;
  size_t threads;      // requests served at once (one thread each)
  size_t max_streams;  // of them, live streams (each holds a thread until its client goes)
  size_t max_waiting;  // accepted connections waiting for a thread; more are answered 503 once their request arrived
  size_t max_arriving;  // connections whose request is still arriving (no thread each); past it the oldest gets 503
                        // (twice as many for a moment, while the waiter's thread has not taken them in)
};

class Transport final : public httplib::Server {
 public:
  // allowed_uid: besides root, the uid that may talk; none: anyone (TCP).
  Transport(UniqueFd listener, std::optional<uid_t> allowed_uid, const TransportLimits& limits, api::Handler handler);
  // false if httplib gave up on the listener (an accept error) before stop()
  bool serve();
  // Safe before serve() and from another thread; ends streams at their
  // next write.
  void stop();

 private:
  bool process_and_close_socket(int sock) override;
  // a connection whose request arrived (or will not): read and answered here
  bool serve(ReadyConnection conn);
  WaitLimits wait_limits() const;
  bool peer_allowed(int sock) const;
  void refuse(int sock, const std::string& answer, bool wait) const;
  void answer(const httplib::Request& in, httplib::Response& out);
  void answer_with_stream(Response resp, httplib::Response& out);

  UniqueFd listener_;
  std::optional<uid_t> allowed_uid_;
  TransportLimits limits_;
  api::Handler handler_;  // ours (Handler alone is httplib's here)
  std::atomic<bool> stopping_{false};
  std::atomic<size_t> streams_{0};
  std::unique_ptr<RequestWaiter> waiter_;  // made with the worker threads, stopped before them
};

}  // namespace zeroseg::api
