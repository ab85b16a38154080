// SPDX-License-Identifier: Apache-2.0
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <filesystem>
#include <mutex>
#include <system_error>
#include <thread>
#include <nlohmann/json.hpp>

#include "api/canned_answer.h"
#include "api/http.h"
#include "api/request_checks.h"
#include "api/transport.h"
#include "common/error.h"
#include "common/handles.h"
#include "common/log.h"
#include "net/addr.h"

namespace zeroseg::api {
namespace {

using namespace std::chrono_literals;

// Connections whose request is still arriving, on each listener (each a
// descriptor and a buffer, no thread: request_waiter.h); past it the one
// waiting longest is answered 503.
constexpr size_t kMaxArriving = 256;

// The API: root's CLI. An apply carries the whole state it names, and the
// benchmark's state (10k workloads, 1000 policies) is 10 MB of YAML, a
// little more as a JSON string: 32 MiB leaves it room to grow. Streams
// (flows/alerts --follow) each hold a thread; the rest stay for short calls.
// A request has 5 s to arrive whole: 32 MiB over a Unix socket takes
// milliseconds. A connection gets a thread once its head has arrived
// (request_waiter.h): until then it waits with the others arriving, so 300
// clients trickling their heads (slowloris, e2e.hostile_http) hold no thread.
const TransportLimits kApiLimits{{64 << 10, 32 << 20, 30s, 30s, 5s}, 16, 12, 64, kMaxArriving};
// /metrics: anyone on the network, GETs only. A scraper sends its request
// at once: 5 s for all of it. Anyone can open connections, and each one
// accepted holds a descriptor of the agent's until it is served: past 16
// waiting for a thread, a connection whose request has arrived is answered
// 503 and closed at once (one still arriving waits without a thread). A
// request arrives whole (its body too: Content-Length only, else 411/400)
// before a thread reads it.
const TransportLimits kMetricsLimits{{16 << 10, 4 << 10, 5s, 30s, 5s}, 4, 0, 16, kMaxArriving};
// The map's pages (--ui-listen): GETs from a browser, which opens a few
// connections at once (page, script, style, data) and keeps one live
// stream (SSE) per open tab: 4 streams at most, and room for the rest.
const TransportLimits kWebLimits{{16 << 10, 4 << 10, 5s, 30s, 5s}, 8, 4, 16, kMaxArriving};

// Listen backlog: connections the kernel holds while every thread is busy.
constexpr int kBacklog = 64;

// Set while a connection no thread may take runs on the thread that
// queued it (httplib's accept loop, or the request waiter): it is answered
// 503 at once, unless its request is still arriving and the accept loop
// can park it in the request waiter (process_and_close_socket).
thread_local bool t_shed = false;
// When the job a worker runs was queued (for httplib's: when its
// connection was accepted; its request's time counts from then, not from
// when a thread took it).
thread_local std::chrono::steady_clock::time_point t_accepted;

Request request_of(const httplib::Request& in) {
  Request req{in.method, in.path, in.body, {}, in.get_header_value("Host")};
  for (const auto& [key, value] : in.params) req.query[key] = value;
  return req;
}

// A live stream's claim on one of the server's threads, given back however
// the stream ends (httplib drops the provider that holds it).
class StreamSlot {
 public:
  explicit StreamSlot(std::atomic<size_t>& count) : count_(count) {}
  StreamSlot(const StreamSlot&) = delete;
  StreamSlot& operator=(const StreamSlot&) = delete;
  ~StreamSlot() { count_--; }

 private:
  std::atomic<size_t>& count_;
};

// Runs each connection on a thread of its own, at most `limit` at once,
// which exits when no connection waits. httplib's ThreadPool keeps its
// threads, and glibc gives each thread that allocates an arena of its own,
// which keeps what the thread's requests freed: the benchmark's applies,
// served by 16 pool threads in turn, left the agent 8 MiB bigger (65.9
// against 57.2 MiB). A thread that exits hands its arena to the next.
class BoundedThreads final : public httplib::TaskQueue {
 public:
  BoundedThreads(size_t limit, size_t max_waiting) : limit_(limit), max_waiting_(max_waiting) {}

  // stops what enqueues besides httplib's accept loop (the request waiter)
  std::function<void()> before_shutdown;

  // httplib's accept loop: a job that runs one accepted connection
  void enqueue(std::function<void()> job) override { add(std::move(job), /*may_run_here=*/true); }
  // the request waiter's: never serves a request on the waiter's thread (it
  // would hold up every connection waiting there)
  void enqueue_arrived(std::function<void()> job) { add(std::move(job), /*may_run_here=*/false); }

 private:
  void add(std::function<void()> job, bool may_run_here) {
    std::unique_lock lock(mutex_);
    if (waiting_.size() >= max_waiting_) {
      // each waiting connection holds a descriptor: shed this one now
      lock.unlock();
      t_shed = true;
      job();
      t_shed = false;
      return;
    }
    waiting_.push_back([job = std::move(job), at = std::chrono::steady_clock::now()] {
      t_accepted = at;
      job();
    });
    if (running_ == limit_) return;  // a running thread takes it next
    running_++;
    try {
      std::thread([this] { work(); }).detach();
    } catch (const std::system_error& e) {
      running_--;
      log::warn(std::string("no thread for an HTTP connection: ") + e.what());
      if (running_ > 0) return;
      std::function<void()> last = std::move(waiting_.back());
      waiting_.pop_back();
      lock.unlock();
      if (!may_run_here) {
        // answered 503 here, at once
        t_shed = true;
        last();
        t_shed = false;
        return;
      }
      // nobody else would ever take it: serve it here, holding up accept
      lock.lock();
      waiting_.push_back(std::move(last));
      running_++;
      lock.unlock();
      work();
    }
  }

 public:
  // httplib calls this when the listener closes: waits for every connection
  void shutdown() override {
    if (before_shutdown) before_shutdown();
    std::unique_lock lock(mutex_);
    idle_.wait(lock, [this] { return running_ == 0; });
  }

 private:
  void work() {
    std::unique_lock lock(mutex_);
    while (!waiting_.empty()) {
      std::function<void()> job = std::move(waiting_.front());
      waiting_.pop_front();
      lock.unlock();
      job();  // process_and_close_socket, which lets no exception out
      lock.lock();
    }
    if (--running_ == 0) idle_.notify_all();
  }

  const size_t limit_, max_waiting_;
  std::mutex mutex_;
  std::condition_variable idle_;
  std::deque<std::function<void()>> waiting_;
  size_t running_ = 0;
};

sockaddr_un unix_addr(const std::string& path) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  if (path.size() >= sizeof(a.sun_path)) throw Error("socket path too long: " + path);
  std::memcpy(a.sun_path, path.c_str(), path.size() + 1);
  return a;
}

std::string bound_address(int fd) {
  sockaddr_storage bound{};
  socklen_t len = sizeof(bound);
  getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &len);
  char host[NI_MAXHOST], port[NI_MAXSERV];
  getnameinfo(reinterpret_cast<sockaddr*>(&bound), len, host, sizeof(host), port, sizeof(port),
              NI_NUMERICHOST | NI_NUMERICSERV);
  return bound.ss_family == AF_INET6 ? "[" + std::string(host) + "]:" + port : std::string(host) + ":" + port;
}

}  // namespace

Transport::Transport(UniqueFd listener, std::optional<uid_t> allowed_uid, const TransportLimits& limits,
                     api::Handler handler)
    : listener_(std::move(listener)), allowed_uid_(allowed_uid), limits_(limits), handler_(std::move(handler)) {
  svr_sock_ = listener_.get();
  new_task_queue = [this] {
    auto* queue = new BoundedThreads(limits_.threads, limits_.max_waiting);
    try {
      waiter_ = std::make_unique<RequestWaiter>(wait_limits(), [this, queue](ReadyConnection conn) {
        auto held = std::make_shared<ReadyConnection>(std::move(conn));
        queue->enqueue_arrived([this, held] { serve(std::move(*held)); });
      });
      queue->before_shutdown = [this] { waiter_->stop(); };
    } catch (const std::exception& e) {
      // (no thread or eventfd): every connection then waits on a worker
      log::warn(std::string("HTTP connections will wait for their requests on worker threads: ") + e.what());
    }
    return queue;
  };
  set_payload_max_length(limits.stream.max_body);
  auto on_request = [this](const httplib::Request& in, httplib::Response& out) { answer(in, out); };
  // every path and method to the one handler, which routes by itself
  Get(".*", on_request).Post(".*", on_request).Put(".*", on_request).Patch(".*", on_request);
  Delete(".*", on_request).Options(".*", on_request);
  set_pre_routing_handler([max_body = limits.stream.max_body, tcp = !allowed_uid](const httplib::Request& in,
                                                                                  httplib::Response& out) {
    // before httplib reads the body
    if (compressed(in)) {
      out.status = 415;
      out.set_content(json_error(transport_error(415)), "application/json");
      return HandlerResponse::Handled;
    }
    if (tcp && !length_framed(in)) {
      // only a Content-Length body arrives whole before a thread takes it (wait_limits)
      out.status = in.has_header("Transfer-Encoding") ? 400 : 411;
      out.set_content(json_error("a body needs a Content-Length here"), "application/json");
      return HandlerResponse::Handled;
    }
    auto status = bad_length(in, max_body);
    if (!status) return HandlerResponse::Unhandled;
    out.status = *status;
    out.set_content(json_error(*status == 413 ? "request body too large" : "bad Content-Length"), "application/json");
    return HandlerResponse::Handled;
  });
  set_error_handler(HandlerWithResponse([](const httplib::Request&, httplib::Response& out) {
    if (!out.body.empty()) return HandlerResponse::Unhandled;  // a route's own answer
    out.set_content(json_error(transport_error(out.status)), "application/json");
    return HandlerResponse::Handled;
  }));
  // answer() catches what routes throw; this is for httplib's own reading
  // of a request (e.g. std::bad_alloc), which must not reach the worker thread
  set_exception_handler([](const httplib::Request&, httplib::Response& out, std::exception_ptr) {
    out.status = 500;
    out.set_content(json_error("internal error reading the request"), "application/json");
  });
}

bool Transport::serve() {
  if (listen_after_bind() || stopping_) return true;
  listener_.release();  // httplib closed it, accept having failed for good
  return false;
}

void Transport::stop() {
  stopping_ = true;
  // what httplib's stop() does, but closing nothing (the listener is ours
  // until destruction) and whether or not serve() has started yet: accept
  // wakes up (EINVAL) and httplib's loop sees the invalid socket
  svr_sock_ = INVALID_SOCKET;
  ::shutdown(listener_.get(), SHUT_RDWR);
}

bool Transport::peer_allowed(int sock) const {
  if (!allowed_uid_) return true;
  ucred peer{};
  socklen_t len = sizeof(peer);
  return getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &peer, &len) == 0 && (peer.uid == 0 || peer.uid == *allowed_uid_);
}

// Answers status without parsing a byte the peer sent, then reads (and
// drops) its request for a moment: closing with it unread would reset the
// connection before the client could read why. The moment is a second in
// all, however the peer paces its bytes.
void Transport::refuse(int sock, const std::string& answer, bool wait) const {
  if (::send(sock, answer.data(), answer.size(), MSG_NOSIGNAL | MSG_DONTWAIT) != static_cast<ssize_t>(answer.size()))
    return;
  ::shutdown(sock, SHUT_WR);
  auto deadline = std::chrono::steady_clock::now() + 1s;
  char drop[4096];
  for (size_t dropped = 0; dropped < limits_.stream.max_head;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    pollfd p{sock, POLLIN, 0};
    if (!wait || left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) != 1) return;
    ssize_t n = ::recv(sock, drop, sizeof(drop), 0);
    if (n <= 0) return;
    dropped += static_cast<size_t>(n);
  }
}

// Anyone may connect to a TCP listener: its requests wait for their
// (small) bodies too; the API's (root's) for their heads alone.
WaitLimits Transport::wait_limits() const {
  return {limits_.max_arriving, limits_.stream.max_head, allowed_uid_ ? 0 : limits_.stream.max_body,
          limits_.stream.request_timeout};
}

bool Transport::process_and_close_socket(int sock) {
  fcntl(sock, F_SETFD, FD_CLOEXEC);  // httplib accepts without it
  ReadyConnection conn{UniqueFd(sock), t_shed ? std::chrono::steady_clock::now() : t_accepted, {}};
  // a request still arriving waits without a thread; the allowed peer
  // only: the refusal below answers at once. Shed on the accepting thread
  // (every worker busy) too: only a request that has arrived is answered
  // 503 there. Otherwise a burst of idle connections, accepted faster than
  // the workers park them, was mostly shed, and the waiter's bound
  // (oldest out first) never came into play.
  try {
    if (waiter_ && peer_allowed(sock) && !worker_need_not_wait(sock, wait_limits())) {
      waiter_->park(std::move(conn.fd), conn.accepted);
      return true;
    }
  } catch (const std::exception& e) {
    // (no memory to look or to park): served here. This may be httplib's
    // accept loop: nothing thrown may leave it (the agent would end), the
    // warning's own allocation included.
    try {
      log::warn(std::string("API connection not parked: ") + e.what());
    } catch (...) {
    }
  }
  return serve(std::move(conn));
}

bool Transport::serve(ReadyConnection conn) {
  int sock = conn.fd.get();
  bool ok = false;
  try {
    if (t_shed) {
      // on the accepting (or request waiter's) thread: no waiting for the peer
      refuse(sock, busy_answer(), /*wait=*/false);
    } else if (!peer_allowed(sock)) {
      static const std::string answer =
          canned_answer(403, "Forbidden", "permission denied: the zeroseg API is for root");
      refuse(sock, answer, /*wait=*/true);
    } else {
      ConnectionStream stream(sock, limits_.stream, stopping_, conn.accepted, std::move(conn.read));
      bool closed = false;
      // A Range made httplib answer a copy of the body per range asked
      // for (2700 copies in an 8 KiB head): every answer here is whole.
      ok = process_request(stream, /*close_connection=*/true, closed, [](httplib::Request& req) { req.ranges.clear(); });
    }
    ::shutdown(sock, SHUT_RDWR);
  } catch (const std::exception& e) {
    // this runs on a worker thread: an exception here would end the agent
    log::warn(std::string("API connection dropped: ") + e.what());
  } catch (...) {
    log::warn("API connection dropped: unknown exception");
  }
  return ok;
}

void Transport::answer(const httplib::Request& in, httplib::Response& out) {
  Response resp;
  try {
    resp = handler_(request_of(in));
  } catch (const std::exception& e) {
    resp = {500, json_error(e.what())};
  } catch (...) {
    resp = {500, json_error("unknown error")};
  }
  if (resp.stream) return answer_with_stream(std::move(resp), out);
  for (const auto& [name, value] : resp.headers) out.set_header(name.c_str(), value);
  out.status = resp.status;
  out.set_content(resp.body, resp.content_type.c_str());
}

void Transport::answer_with_stream(Response resp, httplib::Response& out) {
  if (streams_.fetch_add(1) >= limits_.max_streams) {
    streams_--;
    out.status = 503;
    out.set_content(json_error("the agent serves " + std::to_string(limits_.max_streams) +
                               " live streams at most: end another --follow first"),
                    "application/json");
    return;
  }
  auto slot = std::make_shared<StreamSlot>(streams_);
  for (const auto& [name, value] : resp.headers) out.set_header(name.c_str(), value);
  out.status = resp.status;
  out.set_chunked_content_provider(
      resp.content_type, [this, stream = std::move(resp.stream), slot](size_t, httplib::DataSink& sink) {
        StreamWriter write = [this, &sink](std::string_view chunk) {
          if (stopping_) return false;
          if (chunk.empty()) return sink.is_writable();
          return sink.write(chunk.data(), chunk.size());
        };
        try {
          stream(write);
        } catch (const std::exception& e) {
          log::warn(std::string("API stream ended: ") + e.what());
          return false;  // no last chunk: the client sees the stream cut, not ended
        }
        sink.done();
        return true;
      });
}

HttpServer::HttpServer(std::unique_ptr<Transport> transport, std::string address, std::string unix_path)
    : transport_(std::move(transport)), address_(std::move(address)), unix_path_(std::move(unix_path)) {}

HttpServer::~HttpServer() {
  if (!unix_path_.empty()) unlink(unix_path_.c_str());
}

void HttpServer::serve() {
  if (!transport_->serve()) log::error("the HTTP listener on " + address_ + " failed: no longer serving it");
}

void HttpServer::stop() { transport_->stop(); }

std::unique_ptr<HttpServer> HttpServer::unix_socket(const std::string& path, uid_t allowed_uid, Handler handler) {
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
  sockaddr_un addr = unix_addr(path);
  UniqueFd listener(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!listener) throw_errno("creating the API socket", errno);
  // a socket nobody answers on is stale: replace it; a live one is another agent
  UniqueFd probe(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (connect(probe.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0)
    throw Error("another agent is listening on " + path + ": use another --socket");
  unlink(path.c_str());
  mode_t old = umask(0177);  // the socket is born 0600
  int rc = bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  umask(old);
  if (rc) throw_errno("binding the API socket " + path, errno);
  chmod(path.c_str(), 0600);
  if (listen(listener.get(), kBacklog)) throw_errno("listening on " + path, errno);
  auto transport = std::make_unique<Transport>(std::move(listener), allowed_uid, kApiLimits, std::move(handler));
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(transport), "unix:" + path, path));
}

std::unique_ptr<HttpServer> HttpServer::tcp(const std::string& listen_on, Handler handler) {
  return tcp_with(listen_on, std::move(handler), false);
}

std::unique_ptr<HttpServer> HttpServer::web(const std::string& listen_on, Handler handler) {
  return tcp_with(listen_on, std::move(handler), true);
}

std::unique_ptr<HttpServer> HttpServer::tcp_with(const std::string& listen_on, Handler handler, bool web) {
  const std::string setting = web ? "--ui-listen" : "--metrics-listen";
  SocketAddress at = resolve_host_port(listen_on, SOCK_STREAM, true, setting);
  UniqueFd listener(socket(at.family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!listener) throw_errno(web ? "creating the map's socket" : "creating the metrics socket", errno);
  int one = 1;
  setsockopt(listener.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  // the setting named: "Address already in use" alone does not say which of the agent's listeners to move
  if (bind(listener.get(), reinterpret_cast<sockaddr*>(&at.addr), at.len))
    throw_errno("binding " + setting + " " + listen_on, errno);
  if (listen(listener.get(), kBacklog)) throw_errno("listening on " + setting + " " + listen_on, errno);
  // a connection is accepted once it has sent something (or after 5 s):
  // fewer clients wait for their requests (RequestWaiter), none that sent nothing
  int head_wait = 5;
  setsockopt(listener.get(), IPPROTO_TCP, TCP_DEFER_ACCEPT, &head_wait, sizeof(head_wait));
  std::string address = bound_address(listener.get());
  auto transport =
      std::make_unique<Transport>(std::move(listener), std::nullopt, web ? kWebLimits : kMetricsLimits, std::move(handler));
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(transport), address, ""));
}

}  // namespace zeroseg::api
