// SPDX-License-Identifier: Apache-2.0
#include "loader/lookup_plan.h"

#include "common/error.h"

namespace zeroseg {

void PrefixLengthUse::add_ip(uint8_t family, uint8_t plen, int delta) {
  if (family == 4 && plen <= 32) v4_[plen] += delta;
  if (family == 6 && plen <= 128) v6_[plen] += delta;
}

void PrefixLengthUse::add_port(uint8_t plen, int delta) {
  if (plen <= 16) port_[plen] += delta;
}

void PrefixLengthUse::add_policy_key(uint32_t peer, uint8_t proto, uint8_t port_plen, int delta) {
  if (proto != 0) add_port(port_plen, delta);
  if (peer == 0) any_peer_ += delta;
  if (proto == 0) any_proto_ += delta;
}

void PrefixLengthUse::add_source(uint8_t family, int delta) {
  if (family == 4) sources_v4_ += delta;
  if (family == 6) sources_v6_ += delta;
}

namespace {

template <size_t N>
uint8_t fill_longest_first(const std::array<int64_t, N>& use, uint8_t* out, size_t capacity,
                           const char* what) {
  size_t n = 0;
  for (size_t len = N; len-- > 0;) {
    if (use[len] <= 0) continue;
    if (n == capacity)
      throw Error(std::string("too many distinct ") + what + " prefix lengths in use (the datapath probes at most " +
                  std::to_string(capacity) + ")");
    out[n++] = static_cast<uint8_t>(len);
  }
  return static_cast<uint8_t>(n);
}

}  // namespace

zs_lookup_plan PrefixLengthUse::plan() const {
  zs_lookup_plan p{};
  p.n_v4_plens = fill_longest_first(v4_, p.v4_plens, ZS_MAX_PREFIX_LENS, "IPv4");
  p.n_v6_plens = fill_longest_first(v6_, p.v6_plens, ZS_MAX_PREFIX_LENS, "IPv6");
  p.n_port_plens = fill_longest_first(port_, p.port_plens, ZS_MAX_PORT_PLENS, "port");
  p.flags = static_cast<uint8_t>((any_peer_ > 0 ? ZS_PLAN_ANY_PEER : 0) | (any_proto_ > 0 ? ZS_PLAN_ANY_PROTO : 0) |
                                 (sources_v4_ > 0 ? ZS_PLAN_SOURCES_V4 : 0) |
                                 (sources_v6_ > 0 ? ZS_PLAN_SOURCES_V6 : 0) |
                                 (untracked_ > 0 ? ZS_PLAN_UNTRACKED : 0));
  return p;
}

}  // namespace zeroseg
