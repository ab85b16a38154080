// SPDX-License-Identifier: Apache-2.0
#include "abi/names.h"

#include <zeroseg/endpoint.h>
#include <zeroseg/identity.h>
#include <zeroseg/proto.h>
#include <zeroseg/types.h>
#include <zeroseg/verdict.h>

#include <charconv>
#include <iterator>

namespace zeroseg {
namespace {

// The names of verdict.h's lists, in their order (which is their numbers').
#define ZS_NAME_OF(name, text) text,
constexpr const char* kVerdictNames[] = {ZS_VERDICTS(ZS_NAME_OF)};
constexpr const char* kReasonNames[] = {ZS_REASONS(ZS_NAME_OF)};
constexpr const char* kCounterNames[] = {ZS_COUNTERS(ZS_NAME_OF)};
#undef ZS_NAME_OF
static_assert(std::size(kVerdictNames) == ZS_VERDICT_MAX);
static_assert(std::size(kReasonNames) == ZS_REASON_MAX);
static_assert(std::size(kCounterNames) == ZS_CTR_MAX - ZS_CTR_EXTRA_FIRST);

}  // namespace

const char* verdict_name(uint8_t v) { return v < ZS_VERDICT_MAX ? kVerdictNames[v] : "?"; }

const char* reason_name(uint8_t r) { return r < ZS_REASON_MAX ? kReasonNames[r] : "?"; }

const char* counter_name(uint32_t slot) {
  return slot >= ZS_CTR_EXTRA_FIRST && slot < ZS_CTR_MAX ? kCounterNames[slot - ZS_CTR_EXTRA_FIRST] : "?";
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
constexpr ProtoName kProtos[] = {{ZS_PROTO_ANY, "any"},    {ZS_PROTO_ICMP, "icmp"},     {ZS_PROTO_TCP, "tcp"},
                                  {ZS_PROTO_UDP, "udp"},    {ZS_PROTO_ICMPV6, "icmpv6"}, {ZS_PROTO_SCTP, "sctp"}};
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
