// SPDX-License-Identifier: Apache-2.0
#include "abi/names.h"

#include <zeroseg/endpoint.h>
#include <zeroseg/identity.h>
#include <zeroseg/types.h>
#include <zeroseg/verdict.h>

#include <charconv>

namespace zeroseg {

const char* verdict_name(uint8_t v) {
  switch (v) {
    case ZS_VERDICT_ALLOWED: return "allowed";
    case ZS_VERDICT_DENIED: return "denied";
    case ZS_VERDICT_AUDIT: return "audit";
    case ZS_VERDICT_UNMANAGED: return "unmanaged";
  }
  return "?";
}

const char* reason_name(uint8_t r) {
  switch (r) {
    case ZS_REASON_NONE: return "none";
    case ZS_REASON_POLICY_DENY: return "policy-deny";
    case ZS_REASON_DEFAULT_DENY: return "default-deny";
    case ZS_REASON_MALFORMED_L2: return "malformed-l2";
    case ZS_REASON_MALFORMED_IPV4: return "malformed-ipv4";
    case ZS_REASON_MALFORMED_IPV6: return "malformed-ipv6";
    case ZS_REASON_MALFORMED_L4: return "malformed-l4";
    case ZS_REASON_IPV6_EXT_LIMIT: return "ipv6-ext-limit";
    case ZS_REASON_FRAG_NO_FIRST: return "fragment-without-first";
    case ZS_REASON_VLAN_LIMIT: return "vlan-limit";
  }
  return "?";
}

const char* direction_name(uint8_t d) { return d == ZS_DIR_EGRESS ? "egress" : "ingress"; }

const char* mode_name(uint8_t m) {
  switch (m) {
    case ZS_MODE_OFF: return "off";
    case ZS_MODE_AUDIT: return "audit";
    case ZS_MODE_ENFORCE: return "enforce";
  }
  return "?";
}

const char* attach_kind_name(uint8_t k) { return k == ZS_ATTACH_HOST ? "host" : "workload"; }

namespace {
struct ProtoName {
  uint8_t number;
  const char* name;
};
constexpr ProtoName kProtos[] = {{0, "any"}, {1, "icmp"}, {6, "tcp"}, {17, "udp"}, {58, "icmpv6"}, {132, "sctp"}};
}  // namespace

std::string proto_name(uint8_t proto) {
  for (const auto& p : kProtos)
    if (p.number == proto) return p.name;
  return std::to_string(proto);
}

std::optional<uint8_t> parse_proto(std::string_view s) {
  for (const auto& p : kProtos)
    if (s == p.name) return p.number;
  unsigned v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || v > 255) return std::nullopt;
  return static_cast<uint8_t>(v);
}

std::string identity_name(uint32_t id) {
  switch (id) {
    case ZS_ID_ANY: return "any";
    case ZS_ID_HOST: return "host";
    case ZS_ID_WORLD: return "world";
    case ZS_ID_QUARANTINE: return "quarantine";
  }
  return std::to_string(id);
}

std::optional<uint8_t> parse_mode(std::string_view s) {
  if (s == "off") return ZS_MODE_OFF;
  if (s == "audit") return ZS_MODE_AUDIT;
  if (s == "enforce") return ZS_MODE_ENFORCE;
  return std::nullopt;
}

std::optional<uint8_t> parse_direction(std::string_view s) {
  if (s == "ingress") return ZS_DIR_INGRESS;
  if (s == "egress") return ZS_DIR_EGRESS;
  return std::nullopt;
}

}  // namespace zeroseg
