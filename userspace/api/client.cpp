// SPDX-License-Identifier: Apache-2.0
#include <httplib.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cerrno>
#include <cstring>

#include "api/http.h"
#include "common/error.h"
#include "common/handles.h"

namespace zeroseg::api {
namespace {

using namespace std::chrono_literals;

// The agent answers an apply once the maps enforce it: seconds for a
// large state.
constexpr auto kCallTimeout = 120s;
// A --follow stream is silent while nothing happens, for as long as the
// user watches (httplib waits with poll, whose timeout is an int of ms).
constexpr auto kQuietStreamTimeout = std::chrono::hours(24 * 7);

// httplib's client: host is the socket's path once the family is AF_UNIX.
void configure(httplib::Client& client, std::chrono::seconds read_timeout) {
  client.set_address_family(AF_UNIX);
  client.set_connection_timeout(10s);
  client.set_read_timeout(read_timeout);
  client.set_write_timeout(30s);
  client.set_keep_alive(false);
}

// httplib says only "Connection"; a user needs to know why (no agent, or
// not allowed to open its socket): connect again and ask the kernel.
std::string why_unreachable(const std::string& socket_path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_path.size() >= sizeof(addr.sun_path)) return "the socket path is too long";
  std::memcpy(addr.sun_path, socket_path.c_str(), socket_path.size() + 1);
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) return std::strerror(errno);
  return "the connection failed";
}

[[noreturn]] void fail(const std::string& socket_path, httplib::Error error) {
  if (error == httplib::Error::Connection)
    throw Error("cannot reach the zeroseg agent at " + socket_path + ": " + why_unreachable(socket_path) +
                " (is `zeroseg agent` running? --socket names another)");
  throw Error("the zeroseg agent at " + socket_path + " gave no answer: " + httplib::to_string(error));
}

}  // namespace

std::string url_encode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
        c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

Response call(const std::string& socket_path, const std::string& method, const std::string& path,
              const std::string& body) {
  httplib::Client client(socket_path, 80);
  configure(client, kCallTimeout);
  httplib::Request req;
  req.method = method;
  req.path = path;
  req.body = body;
  if (!body.empty()) req.set_header("Content-Type", "application/json");
  // Debian's httplib is built with brotli and zlib, and its client asks for
  // "br, gzip" by default: the agent then spends ~1 ms compressing an answer
  // that crosses a local socket (apply_bench: a change 4.4 -> 5.4 ms).
  req.set_header("Accept-Encoding", "identity");
  httplib::Result result = client.send(req);
  if (!result) fail(socket_path, result.error());
  return {result->status, result->body, result->get_header_value("Content-Type"), {}};
}

int call_stream(const std::string& socket_path, const std::string& path,
                const std::function<bool(std::string_view)>& on_chunk, std::string& error_body) {
  httplib::Client client(socket_path, 80);
  configure(client, kQuietStreamTimeout);
  int status = 0;
  httplib::Result result = client.Get(
      path, {{"Accept-Encoding", "identity"}},
      [&](const httplib::Response& head) {
        status = head.status;
        return true;
      },
      [&](const char* data, size_t n) {
        if (status == 200) return on_chunk(std::string_view(data, n));
        error_body.append(data, n);
        return true;
      });
  // once the head came, an error is the stream's end: on_chunk had
  // enough, or the agent stopped
  if (!result && status == 0) fail(socket_path, result.error());
  return status;
}

}  // namespace zeroseg::api
