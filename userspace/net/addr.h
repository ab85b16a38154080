// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace zeroseg {

// An IPv4 or IPv6 address in network byte order (IPv4 in the first 4 bytes).
struct IpAddr {
  uint8_t family = 4;  // 4 or 6, as zs_family
  std::array<uint8_t, 16> bytes{};

  static std::optional<IpAddr> parse(std::string_view text);
  std::string str() const;
  uint8_t max_prefix() const { return family == 4 ? 32 : 128; }
  bool operator==(const IpAddr&) const = default;
  auto operator<=>(const IpAddr&) const = default;
};

// An address prefix, always stored masked ("10.1.2.3/8" becomes 10.0.0.0/8).
struct Prefix {
  IpAddr addr;
  uint8_t len = 0;

  // "10.0.0.0/8", "fd00::/64", or a bare address (a /32 or /128).
  static std::optional<Prefix> parse(std::string_view text);
  static Prefix host(const IpAddr& addr) { return Prefix::of(addr, addr.max_prefix()); }
  static Prefix of(const IpAddr& addr, uint8_t len);
  std::string str() const;
  bool contains(const IpAddr& a) const;
  bool contains(const Prefix& p) const { return p.len >= len && contains(p.addr); }
  bool operator==(const Prefix&) const = default;
  auto operator<=>(const Prefix&) const = default;
};

// "HOST:PORT", "[v6]:PORT" or ":PORT", resolved for socket type socktype
// (SOCK_STREAM, SOCK_DGRAM); passive: for bind, numeric only, "" = any.
// Throws Error naming `setting` and the text when it does not resolve.
struct SocketAddress {
  int family = 0;
  sockaddr_storage addr{};
  socklen_t len = 0;
};
SocketAddress resolve_host_port(const std::string& text, int socktype, bool passive, const std::string& setting);

}  // namespace zeroseg
