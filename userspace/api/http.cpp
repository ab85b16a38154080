// SPDX-License-Identifier: Apache-2.0
#include "api/http.h"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <thread>

#include "common/error.h"
#include "common/log.h"
#include "net/addr.h"

namespace zeroseg::api {
namespace {

constexpr size_t kMaxBody = 256u << 20;
constexpr int kIoTimeoutMs = 30000;

sockaddr_un unix_addr(const std::string& path) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  if (path.size() >= sizeof(a.sun_path)) throw Error("socket path too long: " + path);
  std::memcpy(a.sun_path, path.c_str(), path.size() + 1);
  return a;
}

bool write_all(int fd, const std::string& s) {
  size_t done = 0;
  while (done < s.size()) {
    ssize_t n = ::send(fd, s.data() + done, s.size() - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

bool wait_readable(int fd) {
  pollfd p{fd, POLLIN, 0};
  return poll(&p, 1, kIoTimeoutMs) == 1;
}

// Reads a whole HTTP message: head, then Content-Length bytes of body.
bool read_message(int fd, std::string& head, std::string& body) {
  std::string buf;
  char chunk[65536];
  size_t head_end = std::string::npos;
  while ((head_end = buf.find("\r\n\r\n")) == std::string::npos) {
    if (buf.size() > 65536 || !wait_readable(fd)) return false;
    ssize_t n = ::recv(fd, chunk, sizeof(chunk), 0);
    if (n <= 0) return false;
    buf.append(chunk, static_cast<size_t>(n));
  }
  head = buf.substr(0, head_end);
  body = buf.substr(head_end + 4);
  size_t length = 0;
  std::string lower = head;
  for (auto& c : lower) c = static_cast<char>(std::tolower(c));
  if (auto at = lower.find("content-length:"); at != std::string::npos) length = std::stoul(head.substr(at + 15));
  if (length > kMaxBody) return false;
  while (body.size() < length) {
    if (!wait_readable(fd)) return false;
    ssize_t n = ::recv(fd, chunk, std::min(sizeof(chunk), length - body.size()), 0);
    if (n <= 0) return false;
    body.append(chunk, static_cast<size_t>(n));
  }
  return true;
}

const char* reason(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 409: return "Conflict";
    default: return "Internal Server Error";
  }
}

std::string url_decode(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); i++) {
    if (s[i] == '%' && i + 2 < s.size()) {
      out += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      out += s[i] == '+' ? ' ' : s[i];
    }
  }
  return out;
}

}  // namespace

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
  if (listen(listener.get(), 64)) throw_errno("listening on " + path, errno);
  std::unique_ptr<HttpServer> s(new HttpServer(std::move(listener), "unix:" + path, allowed_uid, std::move(handler)));
  s->unix_path_ = path;
  return s;
}

std::unique_ptr<HttpServer> HttpServer::tcp(const std::string& listen_on, Handler handler) {
  SocketAddress at = resolve_host_port(listen_on, SOCK_STREAM, true, "--metrics-listen");
  UniqueFd listener(socket(at.family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!listener) throw_errno("creating the metrics socket", errno);
  int one = 1;
  setsockopt(listener.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (bind(listener.get(), reinterpret_cast<sockaddr*>(&at.addr), at.len)) throw_errno("binding " + listen_on, errno);
  if (listen(listener.get(), 64)) throw_errno("listening on " + listen_on, errno);
  sockaddr_storage bound{};
  socklen_t len = sizeof(bound);
  getsockname(listener.get(), reinterpret_cast<sockaddr*>(&bound), &len);
  char hostbuf[NI_MAXHOST], portbuf[NI_MAXSERV];
  getnameinfo(reinterpret_cast<sockaddr*>(&bound), len, hostbuf, sizeof(hostbuf), portbuf, sizeof(portbuf),
              NI_NUMERICHOST | NI_NUMERICSERV);
  std::string address = bound.ss_family == AF_INET6 ? "[" + std::string(hostbuf) + "]:" + portbuf
                                                    : std::string(hostbuf) + ":" + portbuf;
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(listener), address, std::nullopt, std::move(handler)));
}

HttpServer::HttpServer(UniqueFd listener, std::string address, std::optional<uid_t> allowed_uid, Handler handler)
    : listener_(std::move(listener)), address_(std::move(address)), allowed_uid_(allowed_uid),
      handler_(std::move(handler)) {}

HttpServer::~HttpServer() {
  if (!unix_path_.empty()) unlink(unix_path_.c_str());
}

void HttpServer::serve() {
  while (!stopping_) {
    pollfd p{listener_.get(), POLLIN, 0};
    int rc = poll(&p, 1, 200);
    if (rc <= 0) continue;
    int fd = accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    // one thread a connection: requests are short, and a slow client must
    // not hold up `zeroseg status` or a follow stream
    in_flight_++;
    std::thread([this, fd] {
      handle(fd);
      close(fd);
      in_flight_--;
    }).detach();
  }
  while (in_flight_ > 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
}

void HttpServer::handle(int fd) {
  Response resp;
  Request req;
  std::string head;
  ucred cred{};
  socklen_t len = sizeof(cred);
  bool allowed = !allowed_uid_ || (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 &&
                                   (cred.uid == *allowed_uid_ || cred.uid == 0));
  if (!allowed) {
    resp = {403, R"({"error":"permission denied: the zeroseg API is for root"})"};
  } else if (!read_message(fd, head, req.body)) {
    resp = {400, R"({"error":"malformed or incomplete request"})"};
  } else {
    req.peer_uid = cred.uid;
    req.peer_pid = cred.pid;
    auto line_end = head.find("\r\n");
    std::string line = head.substr(0, line_end);
    auto sp1 = line.find(' '), sp2 = line.rfind(' ');
    req.method = line.substr(0, sp1);
    std::string target = sp1 == std::string::npos ? "" : line.substr(sp1 + 1, sp2 - sp1 - 1);
    auto q = target.find('?');
    req.path = target.substr(0, q);
    if (q != std::string::npos) {
      std::string qs = target.substr(q + 1);
      size_t at = 0;
      while (at <= qs.size()) {
        size_t amp = qs.find('&', at);
        std::string kv = qs.substr(at, amp == std::string::npos ? std::string::npos : amp - at);
        auto eq = kv.find('=');
        if (!kv.empty()) req.query[url_decode(kv.substr(0, eq))] = eq == std::string::npos ? "" : url_decode(kv.substr(eq + 1));
        if (amp == std::string::npos) break;
        at = amp + 1;
      }
    }
    try {
      resp = handler_(req);
    } catch (const std::exception& e) {
      std::string msg = e.what();
      std::string escaped;
      for (char c : msg) {
        if (c == '"' || c == '\\') escaped += '\\';
        if (c == '\n') { escaped += "\\n"; continue; }
        escaped += c;
      }
      resp = {500, "{\"error\":\"" + escaped + "\"}"};
    }
  }
  std::string status_line = "HTTP/1.1 " + std::to_string(resp.status) + " " + reason(resp.status) +
                            "\r\nContent-Type: " + resp.content_type;
  if (!resp.stream) {
    write_all(fd, status_line + "\r\nContent-Length: " + std::to_string(resp.body.size()) +
                      "\r\nConnection: close\r\n\r\n" + resp.body);
    return;
  }
  // a stream: the body runs until the connection closes
  if (!write_all(fd, status_line + "\r\nConnection: close\r\n\r\n")) return;
  resp.stream([this, fd](std::string_view chunk) {
    if (stopping_) return false;
    if (chunk.empty()) {
      pollfd p{fd, POLLRDHUP, 0};
      return !(poll(&p, 1, 0) == 1 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)));
    }
    return write_all(fd, std::string(chunk));
  });
}

Response call(const std::string& socket_path, const std::string& method, const std::string& path,
              const std::string& body) {
  sockaddr_un addr = unix_addr(socket_path);
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)))
    throw Error("cannot reach the zeroseg agent at " + socket_path + ": " + std::strerror(errno) +
                " (is `zeroseg agent` running? --socket names another)");
  std::string req = method + " " + path + " HTTP/1.1\r\nHost: zeroseg\r\nContent-Type: application/json\r\n" +
                    "Content-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
  if (!write_all(fd.get(), req)) throw_errno("sending to the agent", errno);
  std::string head, rbody;
  if (!read_message(fd.get(), head, rbody)) throw Error("the agent closed the connection without an answer");
  Response r;
  r.status = std::stoi(head.substr(head.find(' ') + 1, 3));
  r.body = std::move(rbody);
  return r;
}

int call_stream(const std::string& socket_path, const std::string& path,
                const std::function<bool(std::string_view)>& on_chunk, std::string& error_body) {
  sockaddr_un addr = unix_addr(socket_path);
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)))
    throw Error("cannot reach the zeroseg agent at " + socket_path + ": " + std::strerror(errno) +
                " (is `zeroseg agent` running? --socket names another)");
  std::string req = "GET " + path + " HTTP/1.1\r\nHost: zeroseg\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
  if (!write_all(fd.get(), req)) throw_errno("sending to the agent", errno);
  std::string buf;
  char chunk[65536];
  size_t head_end;
  while ((head_end = buf.find("\r\n\r\n")) == std::string::npos) {
    ssize_t n = ::recv(fd.get(), chunk, sizeof(chunk), 0);
    if (n <= 0) throw Error("the agent closed the connection without an answer");
    buf.append(chunk, static_cast<size_t>(n));
  }
  int status = std::stoi(buf.substr(buf.find(' ') + 1, 3));
  std::string body = buf.substr(head_end + 4);
  if (status != 200) {
    // an error answer has a Content-Length body
    std::string head = buf.substr(0, head_end), rest;
    error_body = body;
    while (true) {
      ssize_t n = ::recv(fd.get(), chunk, sizeof(chunk), 0);
      if (n <= 0) break;
      error_body.append(chunk, static_cast<size_t>(n));
    }
    return status;
  }
  if (!body.empty() && !on_chunk(body)) return status;
  for (;;) {
    ssize_t n = ::recv(fd.get(), chunk, sizeof(chunk), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (!on_chunk(std::string_view(chunk, static_cast<size_t>(n)))) break;
  }
  return status;
}

}  // namespace zeroseg::api
