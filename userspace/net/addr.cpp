// SPDX-License-Identifier: Apache-2.0
#include "net/addr.h"

#include <arpa/inet.h>
#include <netdb.h>

#include <algorithm>
#include <charconv>
#include <cstring>

#include "common/error.h"

namespace zeroseg {

std::optional<IpAddr> IpAddr::parse(std::string_view text) {
  std::string s(text);
  IpAddr a;
  if (inet_pton(AF_INET, s.c_str(), a.bytes.data()) == 1) {
    a.family = 4;
    return a;
  }
  if (inet_pton(AF_INET6, s.c_str(), a.bytes.data()) == 1) {
    a.family = 6;
    return a;
  }
  return std::nullopt;
}

std::string IpAddr::str() const {
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(family == 4 ? AF_INET : AF_INET6, bytes.data(), buf, sizeof(buf));
  return buf;
}

Prefix Prefix::of(const IpAddr& addr, uint8_t len) {
  Prefix p{addr, len};
  for (int i = 0; i < 16; i++) {
    int bits = std::clamp(static_cast<int>(len) - i * 8, 0, 8);
    p.addr.bytes[i] &= static_cast<uint8_t>(0xff00 >> bits);
  }
  return p;
}

std::optional<Prefix> Prefix::parse(std::string_view text) {
  auto slash = text.find('/');
  auto addr = IpAddr::parse(text.substr(0, slash));
  if (!addr) return std::nullopt;
  int len = addr->max_prefix();
  if (slash != std::string_view::npos) {
    auto digits = text.substr(slash + 1);
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), len);
    if (ec != std::errc() || end != digits.data() + digits.size() || digits.empty() || len < 0 ||
        len > addr->max_prefix())
      return std::nullopt;
  }
  return Prefix::of(*addr, static_cast<uint8_t>(len));
}

std::string Prefix::str() const { return addr.str() + "/" + std::to_string(len); }

bool Prefix::contains(const IpAddr& a) const {
  return a.family == addr.family && Prefix::of(a, len).addr == addr;
}

SocketAddress resolve_host_port(const std::string& text, int socktype, bool passive, const std::string& setting) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos) throw Error(setting + " \"" + text + "\": expected HOST:PORT");
  std::string host = text.substr(0, colon), port = text.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  addrinfo hints{}, *res = nullptr;
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = socktype;
  if (passive) hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV;
  if (int rc = getaddrinfo(host.empty() && passive ? nullptr : host.c_str(), port.c_str(), &hints, &res))
    throw Error(setting + " \"" + text + "\": " + gai_strerror(rc));
  SocketAddress out;
  out.family = res->ai_family;
  out.len = res->ai_addrlen;
  std::memcpy(&out.addr, res->ai_addr, res->ai_addrlen);
  freeaddrinfo(res);
  return out;
}

}  // namespace zeroseg
