// SPDX-License-Identifier: Apache-2.0
// datapath_bench --new-flow-burst: new allowed flows back to back, as a
// burst of connections arrives at a node. test_run repeats one SYN kBurst
// times through bench/new_flow_burst.bpf.c, which gives each repetition a
// source port of its own and tail-calls zeroseg's program (or the floor,
// XDP_PASS / TC_ACT_OK, or the new-flow floor: a lookup, an LRU insert and
// a ring record, what any stateful filter that logs flows pays): every
// repetition is a new flow (a conntrack insert, a flow-start event), and the
// code stays warm, where --new-flow times one packet per system call, its
// code and data cold. A run's figure is the mean per repetition (test_run's
// duration); per round and cell, the median over kRuns runs of (a
// program's run minus the floor's run beside it), the three programs in a
// rotation drawn per run. The event rings are read after each run (kBurst
// records stay under zeroseg's wakeup mark, as when the agent keeps up).
#include "new_flow_burst.h"

#include <cstdio>
#include <string>
#include <vector>

#include "burst_runner.h"
#include "common/error.h"
#include "datapath_bench_setup.h"
#include "net/packet_builder.h"

namespace zeroseg::bench {

namespace {

constexpr uint32_t kRuns = 3, kFirstPort = 1024, kConntrackEntries = 65536;
// a run's flow-start records (88 bytes each in the ring, with its header)
// wait under the ring's wakeup mark (bpf/lib/events.h: 64 KiB)
static_assert(kBurst * 88 < (64 << 10));

}  // namespace

// A family's source ports are never handed out twice (every repetition a
// new flow): one peer's ports from kFirstPort, a round taking kRuns runs of
// kBurst per hook.
const int kNewFlowBurstMostRounds = (65535 - kFirstPort) / (2 * kRuns * kBurst);

int new_flow_burst(int rounds) {
  if (rounds < 1 || rounds > kNewFlowBurstMostRounds)
    throw Error("--new-flow-burst: rounds must be 1.." + std::to_string(kNewFlowBurstMostRounds));
  MapSizes ms;
  ms.conntrack4 = ms.conntrack6 = kConntrackEntries;
  auto dp = Datapath::load({.sizes = ms, .pin = false});
  dp->set_ct_endpoint_share_entries(ms.conntrack4, ms.conntrack6);
  install(*dp, 10, ZS_ATTACH_HOST);
  Floors floors(kConntrackEntries);
  BurstRunner burst;

  Xorshift32 rng;
  // [family * 2 + hook]: per round, ns over the floor of zeroseg and of the
  // new-flow floor
  std::vector<std::vector<double>> over(4), least(4);
  uint32_t next_port[2] = {kFirstPort, kFirstPort}, flows[2] = {0, 0};
  const uint32_t peer = 3;  // one peer: the ports alone make the flows new
  for (int round = 0; round < rounds; round++) {
    std::fprintf(stderr, "round %d/%d\n", round + 1, rounds);
    for (int v6 = 0; v6 < 2; v6++)
      for (size_t hi = 0; hi < kHooks.size(); hi++) {
        Program prog = kHooks[hi].second;
        const int targets[3] = {floors.floor(prog), floors.new_flow(prog), dp->program_fd(prog)};
        std::vector<double> d, l;
        for (uint32_t i = 0; i < kRuns; i++) {
          auto syn = tcp_from(peer, static_cast<uint16_t>(next_port[v6]), kPort, PacketBuilder::kSyn, v6);
          next_port[v6] += kBurst;
          flows[v6] += kBurst;
          double ns[3];
          const uint32_t first = rng.next() % 3;
          for (uint32_t j = 0; j < 3; j++) {  // in a rotation drawn per run
            const uint32_t t = (j + first) % 3;
            ns[t] = burst.run(prog, targets[t], syn);
          }
          drain(*dp);
          floors.drain_new_flow();
          d.push_back(ns[2] - ns[0]);
          l.push_back(ns[1] - ns[0]);
        }
        over[v6 * 2 + hi].push_back(median(d));
        least[v6 * 2 + hi].push_back(median(l));
      }
  }
  // every repetition was a new flow: each left its entry
  const size_t held[2] = {dp->map("zs_conntrack4").count(), dp->map("zs_conntrack6").count()};
  for (int v6 = 0; v6 < 2; v6++)
    if (held[v6] != flows[v6])
      throw Error("--new-flow-burst: conntrack holds " + std::to_string(held[v6]) + " flows of " +
                  std::to_string(flows[v6]) + " new ones (" + (v6 ? "ipv6" : "ipv4") + ")");
  std::printf(
      "| family | hook | zeroseg - floor | new-flow floor - floor | zeroseg - new-flow floor |\n"
      "|---|---|---:|---:|---:|\n");
  for (int v6 = 0; v6 < 2; v6++)
    for (size_t hi = 0; hi < kHooks.size(); hi++) {
      const size_t c = v6 * 2 + hi;
      std::vector<double> own;
      for (size_t r = 0; r < over[c].size(); r++) own.push_back(over[c][r] - least[c][r]);
      std::printf("| %s | %s | %s | %s | %s |\n", v6 ? "ipv6" : "ipv4", kHooks[hi].first, spread_cell(over[c]).c_str(),
                  spread_cell(least[c]).c_str(), spread_cell(own).c_str());
    }
  std::printf(
      "\nns a new flow, median (min-max) over %d rounds of the median of %u runs of %u (the last column: of each "
      "round's difference of the two before); %u + %u new flows, each held by conntrack after the run. The "
      "new-flow floor: its flow looked up, stored and reported, no more (bpf/floor.bpf.c)\n",
      rounds, kRuns, kBurst, flows[0], flows[1]);
  return 0;
}

}  // namespace zeroseg::bench
