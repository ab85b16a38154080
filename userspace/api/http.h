// SPDX-License-Identifier: Apache-2.0
// The agent's HTTP/1.1 transport, over cpp-httplib: the API on a Unix
// socket (JSON bodies, peers checked with SO_PEERCRED before a byte of the
// request is read) and /metrics on TCP. One request per connection, a
// bounded number of threads, bounded heads and bodies. httplib stays behind
// this header: its users need neither its header nor its build flags.
#pragma once

#include <sys/types.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace zeroseg::api {

struct Request {
  std::string method, path, body;
  std::map<std::string, std::string> query;  // decoded; the last of a repeated key wins
  std::string host;  // the Host header ("" when none)
};

// Returns false once the client has gone or the server stops; an empty
// chunk only asks.
using StreamWriter = std::function<bool(std::string_view chunk)>;

struct Response {
  int status = 200;
  std::string body;  // JSON unless content_type says otherwise
  std::string content_type = "application/json";
  // A body of unknown length (a live stream, sent chunked): runs after the
  // head is sent and ends the response when it returns.
  std::function<void(const StreamWriter&)> stream;
  // Extra response headers (a page's Content-Security-Policy, Cache-Control).
  std::vector<std::pair<std::string, std::string>> headers;
};

using Handler = std::function<Response(const Request&)>;

class Transport;

class HttpServer {
 public:
  // The API: binds path (mode 0600, replacing a stale socket), refuses
  // peers whose uid is neither allowed_uid nor root.
  static std::unique_ptr<HttpServer> unix_socket(const std::string& path, uid_t allowed_uid, Handler handler);
  // Read-only endpoints for anyone (/metrics): "ADDR:PORT", "[v6]:PORT" or ":PORT".
  static std::unique_ptr<HttpServer> tcp(const std::string& listen, Handler handler);
  // A browser's pages (--ui-listen): as tcp, with a few live streams (SSE).
  static std::unique_ptr<HttpServer> web(const std::string& listen, Handler handler);
  ~HttpServer();
  // Serves until stop() (from another thread, before or during serve()),
  // then waits for the requests in flight; streams end within half a
  // second of stop().
  void serve();
  void stop();
  // "unix:PATH" or "ADDR:PORT" (with the port the kernel chose for ":0")
  const std::string& address() const { return address_; }

 private:
  HttpServer(std::unique_ptr<Transport> transport, std::string address, std::string unix_path);
  static std::unique_ptr<HttpServer> tcp_with(const std::string& listen, Handler handler, bool web);

  std::unique_ptr<Transport> transport_;
  std::string address_, unix_path_;
};

// A query value (or a path segment), percent-encoded: every byte but
// RFC 3986's unreserved ones (A-Z a-z 0-9 - . _ ~) as %XX, so that '%',
// '+', '&', '#', '?', '/', spaces and non-ASCII reach the agent as the
// caller wrote them.
std::string url_encode(std::string_view text);

// The CLI's side: one request, its response. Throws Error when the agent
// cannot be reached, naming the socket.
Response call(const std::string& socket_path, const std::string& method, const std::string& path,
              const std::string& body = "");
// A streamed GET: on_chunk gets the body as it arrives until the agent ends
// it (or on_chunk returns false). Returns the status; a non-200 answer's
// body is in error_body.
int call_stream(const std::string& socket_path, const std::string& path,
                const std::function<bool(std::string_view)>& on_chunk, std::string& error_body);

}  // namespace zeroseg::api
