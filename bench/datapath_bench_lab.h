// SPDX-License-Identifier: Apache-2.0
// What datapath_bench's modes share: a datapath with N rules over the
// peers 10.64.x.y / fd00:64::x:y, the packets from them, the floors of
// bpf/floor.bpf.c and the hooks timed.
#pragma once

#include <zeroseg/endpoint.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "loader/datapath.h"

struct floor_bpf;

namespace zeroseg::bench {

constexpr uint32_t kIfindex = 1;  // lo: test runs need a real device
constexpr uint32_t kSubject = 300, kFirstPeer = 1000;

std::string peer_ip(uint32_t i);
std::string peer_ip6(uint32_t i);
std::vector<uint8_t> tcp_from(uint32_t peer, uint16_t sport, uint16_t dport, uint8_t flags, bool v6 = false);
double median(std::vector<uint32_t> v);
// reads (and throws away) what waits in the event ring, as the agent would
void drain(Datapath& dp);

// Peer i has a /32 and a /128 with its own identity; `rules` rules are
// spread over min(rules, kMaxPrefixes) peers, peer i allowing tcp/80,
// tcp/81, ... (one port per rule; port 79 is never allowed). Plus a /24 and
// a /16 and a port range so several lengths are probed.
constexpr uint32_t kMaxPrefixes = 100000;
constexpr uint16_t kPort = 80, kDeniedPort = 79;

inline uint32_t prefixes_for(uint32_t rules) { return rules < kMaxPrefixes ? rules : kMaxPrefixes; }
void install(Datapath& dp, uint32_t rules, zs_attach_kind kind);

// The two floors of bpf/floor.bpf.c, loaded, with the key the lookup floor
// finds in its map.
class Floors {
 public:
  Floors();
  ~Floors();
  Floors(const Floors&) = delete;
  Floors& operator=(const Floors&) = delete;
  int floor(Program p) const;
  int lookup(Program p) const;
  // the least a new flow costs: found absent, stored, reported (floor.bpf.c)
  int new_flow(Program p) const;
  // reads (and throws away) what waits in the new-flow floor's ring
  void drain_new_flow() const;

 private:
  floor_bpf* skel_;
};

inline const std::vector<std::pair<const char*, Program>> kHooks = {{"xdp", Program::xdp_ingress},
                                                                    {"tc", Program::tc_ingress}};

// --new-flow-burst (bench/new_flow_burst.cpp)
int new_flow_burst(int rounds);

}  // namespace zeroseg::bench
