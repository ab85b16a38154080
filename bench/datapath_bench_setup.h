// SPDX-License-Identifier: Apache-2.0
// What datapath_bench's modes share: a datapath with N rules over the
// peers 10.64.x.y / fd00:64::x:y, the packets from them, the floors of
// bpf/floor.bpf.c and the hooks timed.
#pragma once

#include <zeroseg/endpoint.h>

#include <algorithm>
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
// the middle value (the upper one of an even count), 0 of none
template <class T>
double median(std::vector<T> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : static_cast<double>(v[v.size() / 2]);
}
// "median (min-max)" of v, no decimals
std::string spread_cell(std::vector<double> v);
// a xorshift generator: the order of a run's programs, drawn per run
struct Xorshift32 {
  uint32_t state = 0x9e3779b9;
  uint32_t next() { return state ^= state << 13, state ^= state >> 17, state ^= state << 5; }
};
// reads (and throws away) what waits in a ring buffer map, as the agent
// would: the records read
int drain_ring(int ring_fd);
inline void drain(Datapath& dp) { drain_ring(dp.map("zs_events").fd()); }

// Peer i has a /32 and a /128 with its own identity; `rules` rules are
// spread over min(rules, kMaxPrefixes) peers, peer i allowing tcp/80,
// tcp/81, ... (one port per rule; port 79 is never allowed). Plus a /24 and
// a /16 and a port range so several lengths are probed.
constexpr uint32_t kMaxPrefixes = 100000;
constexpr uint16_t kPort = 80, kDeniedPort = 79;

inline uint32_t prefixes_for(uint32_t rules) { return rules < kMaxPrefixes ? rules : kMaxPrefixes; }
void install(Datapath& dp, uint32_t rules, zs_attach_kind kind);

// The floors of bpf/floor.bpf.c, loaded: XDP_PASS / TC_ACT_OK; the same
// with one conntrack lookup (its key in its map); and the new-flow floor,
// its conntrack tables sized as `conntrack_entries` (a flow found absent,
// stored, reported), and the same on an array of buckets.
class Floors {
 public:
  explicit Floors(uint32_t conntrack_entries = 65536);
  int floor(Program p) const;
  int lookup(Program p) const;
  int new_flow(Program p) const;
  // the new-flow floor on an array of buckets, its flows spread over
  // `buckets` (a power of 2, 1..16384) of 4 flows each, stored and
  // recorded or only their bucket's way claimed
  enum class BucketWork { claim, store };
  int new_flow_buckets(Program p) const;
  void set_new_flow_buckets(uint32_t buckets, BucketWork work) const;
  // reads (and throws away) what waits in the new-flow floors' ring: the
  // records read
  int drain_new_flow() const;
  // ways the bucket floor claimed since it was loaded
  uint64_t bucket_claims() const;
  // flows the LRU floor holds (IPv4)
  size_t new_flow_held4() const;

 private:
  struct Destroy {
    void operator()(floor_bpf* s) const;
  };
  std::unique_ptr<floor_bpf, Destroy> skel_;
};

inline const std::vector<std::pair<const char*, Program>> kHooks = {{"xdp", Program::xdp_ingress},
                                                                    {"tc", Program::tc_ingress}};

}  // namespace zeroseg::bench
