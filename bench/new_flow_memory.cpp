// SPDX-License-Identifier: Apache-2.0
// datapath_bench --new-flow-memory: what a new flow's cost owes to memory.
// The new-flow floor on an array of buckets (bpf/floor.bpf.c,
// zs_floor_bucket_flow: a flow looked up, stored in place and recorded,
// with no allocation, no lists and no helper call to look up) is run in
// bursts (BurstRunner) with its flows spread over tables of 256 to 65536
// flows, and beside it the kernel's LRU hash floor (zs_floor_new_flow) of
// 65536 flows. Each cell is ns per new flow over XDP_PASS / TC_ACT_OK: per
// round the median of kRuns runs of (the program's run minus the floor's
// beside it, in an order drawn per run); the median and range over rounds.
// "claimed" is the bucket's way claimed and no more: the bucket's line
// read and written; "stored" adds the flow's key and entry (three more
// lines) and its record in the ring.
#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "common/error.h"
#include "datapath_bench_setup.h"
#include "net/packet_builder.h"
#include "new_flow_burst.h"

namespace zeroseg::bench {

namespace {

constexpr uint32_t kRuns = 3, kFirstPort = 1024, kLruEntries = 65536;
// buckets of 4 flows the bucket floor uses; a bucket's tags are 64 bytes,
// its four slots (a conntrack key and entry each) 4 x 144
constexpr uint32_t kSpans[] = {64, 1024, 4096, 16384};
constexpr uint32_t kBucketBytes = 64 + 4 * 144;

std::string cell(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.0f (%.0f-%.0f)", median(v), v.front(), v.back());
  return buf;
}

std::string bytes(uint64_t b) {
  return b >= (1 << 20) ? std::to_string(b >> 20) + " MiB" : std::to_string(b >> 10) + " KiB";
}

}  // namespace

// the LRU floor holds every flow of every round (no eviction): a run is
// kBurst flows, kRuns runs per hook and round
const int kNewFlowMemoryMostRounds = kLruEntries / (2 * kRuns * kBurst);

int new_flow_memory(int rounds) {
  if (rounds < 1 || rounds > kNewFlowMemoryMostRounds)
    throw Error("--new-flow-memory: rounds must be 1.." + std::to_string(kNewFlowMemoryMostRounds));
  Floors floors(kLruEntries);
  BurstRunner burst;
  // cells: per hook, per span (claimed, stored), then the LRU floor
  constexpr size_t kSpanCount = sizeof(kSpans) / sizeof(kSpans[0]), kCells = 2 * kSpanCount + 1;
  std::vector<std::vector<double>> ns(kHooks.size() * kCells);
  uint32_t peer = 0, rng = 0x9e3779b9;
  for (int round = 0; round < rounds; round++) {
    std::fprintf(stderr, "round %d/%d\n", round + 1, rounds);
    for (size_t hi = 0; hi < kHooks.size(); hi++) {
      const Program prog = kHooks[hi].second;
      for (size_t c = 0; c < kCells; c++) {
        const bool lru = c == kCells - 1;
        if (!lru) floors.set_bucket_floor(kSpans[c / 2], c % 2 == 1);
        const int target = lru ? floors.new_flow(prog) : floors.bucket_flow(prog);
        std::vector<double> d;
        for (uint32_t i = 0; i < kRuns; i++) {
          // a peer of its own per run: every repetition a flow never seen
          const auto syn = tcp_from(++peer, kFirstPort, kPort, PacketBuilder::kSyn);
          rng ^= rng << 13, rng ^= rng >> 17, rng ^= rng << 5;
          double t, f;
          if (rng & 1) t = burst.run(prog, target, syn), f = burst.run(prog, floors.floor(prog), syn);
          else f = burst.run(prog, floors.floor(prog), syn), t = burst.run(prog, target, syn);
          floors.drain_new_flow();
          d.push_back(t - f);
        }
        ns[hi * kCells + c].push_back(median(d));
      }
    }
  }
  std::printf("| table | its memory | xdp: claimed | xdp: stored, recorded | tc: claimed | tc: stored, recorded |\n"
              "|---|---:|---:|---:|---:|---:|\n");
  for (size_t s = 0; s < kSpanCount; s++)
    std::printf("| buckets, %u flows | %s | %s | %s | %s | %s |\n", kSpans[s] * 4,
                bytes(uint64_t{kSpans[s]} * kBucketBytes).c_str(), cell(ns[2 * s]).c_str(),
                cell(ns[2 * s + 1]).c_str(), cell(ns[kCells + 2 * s]).c_str(), cell(ns[kCells + 2 * s + 1]).c_str());
  std::printf("| kernel LRU hash, %u flows | | | %s | | %s |\n", kLruEntries, cell(ns[kCells - 1]).c_str(),
              cell(ns[2 * kCells - 1]).c_str());
  std::printf(
      "\nns a new IPv4 flow over XDP_PASS / TC_ACT_OK, median (min-max) over %d rounds of the median of %u runs of "
      "%u; claimed: the bucket's way taken, no more; stored, recorded: the flow's key and entry written and a "
      "record in a ring, as the LRU floor (bpf/floor.bpf.c)\n",
      rounds, kRuns, kBurst);
  return 0;
}

}  // namespace zeroseg::bench
