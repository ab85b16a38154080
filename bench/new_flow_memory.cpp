// SPDX-License-Identifier: Apache-2.0
// datapath_bench --new-flow-memory: what a new flow's cost owes to memory.
// The new-flow floor on an array of buckets (bpf/floor.bpf.c,
// zs_floor_new_flow_buckets: a flow looked up, stored in place and
// recorded, with no allocation, no lists and no helper call to look up)
// is run in bursts (BurstRunner) with its flows spread over 64 to 16384
// buckets (256 to 65536 flows), and beside it the kernel's LRU hash floor
// (zs_floor_new_flow) of 65536 flows. Each cell is ns per new flow over
// XDP_PASS / TC_ACT_OK: per round the median of kRuns runs of (the
// program's run minus the floor's beside it, in an order drawn per run);
// the median and range over rounds. "claimed" is the bucket's way taken
// and no more (its line read and written); "stored, recorded" adds the
// flow's key and entry (144 bytes, three lines) and its record in the
// ring. A run is kBurst flows and the table is not warmed first: at 64
// buckets a run comes back to each ~8 times; of a run's flows ~21% land in
// a bucket the run used already at 1024 buckets, ~6% at 4096, ~2% at
// 16384. Every flow is checked to be new: a claim or a record each.
#include <cstdio>
#include <string>
#include <vector>

#include "new_flow_memory.h"

#include <zeroseg/conntrack.h>

#include "burst_runner.h"
#include "common/error.h"
#include "datapath_bench_setup.h"
#include "net/packet_builder.h"

namespace zeroseg::bench {

namespace {

using Work = Floors::BucketWork;
constexpr uint32_t kRuns = 3, kLruEntries = 65536;
constexpr uint16_t kSourcePort = 1024;  // the first repetition's
constexpr uint32_t kSpans[] = {64, 1024, 4096, 16384};  // buckets used
// bpf/floor.bpf.c's bucket: a line of tags, four slots of a key and an entry
constexpr uint32_t kTagBytes = 64, kSlotBytes = 144, kWays = 4;
static_assert(sizeof(zs_ct_key) + sizeof(zs_ct_entry) == kSlotBytes);

std::string kib_or_mib(double b) {
  char buf[32];
  if (b >= (1 << 20)) std::snprintf(buf, sizeof buf, "%.1f MiB", b / (1 << 20));
  else std::snprintf(buf, sizeof buf, "%.0f KiB", b / (1 << 10));
  return buf;
}

// a cell of the table: the bucket floor at a span doing `work`, or the LRU floor
struct Cell {
  uint32_t buckets;  // 0: the LRU floor
  Work work;
};

}  // namespace

// the LRU floor holds every flow of every round, none evicted: one round's
// worth of room left over for what its per-CPU free lists keep back
const int kNewFlowMemoryMostRounds = kLruEntries / (kHooks.size() * kRuns * kBurst) - 1;

int new_flow_memory(int rounds) {
  if (rounds < 1 || rounds > kNewFlowMemoryMostRounds)
    throw Error("--new-flow-memory: rounds must be 1.." + std::to_string(kNewFlowMemoryMostRounds));
  Floors floors(kLruEntries);
  BurstRunner burst;
  // a row of the table: a span's claim and store, then the LRU floor
  std::vector<Cell> cells;
  for (uint32_t b : kSpans) cells.push_back({b, Work::claim}), cells.push_back({b, Work::store});
  cells.push_back({0, Work::store});
  std::vector<std::vector<double>> ns(kHooks.size() * cells.size());  // [hook][cell]: a figure a round
  uint32_t peer = 0, lru_flows = 0;
  Xorshift32 rng;
  for (int round = 0; round < rounds; round++) {
    std::fprintf(stderr, "round %d/%d\n", round + 1, rounds);
    for (size_t hi = 0; hi < kHooks.size(); hi++) {
      const Program prog = kHooks[hi].second;
      for (size_t c = 0; c < cells.size(); c++) {
        const Cell cell = cells[c];
        if (cell.buckets) floors.set_new_flow_buckets(cell.buckets, cell.work);
        const int target = cell.buckets ? floors.new_flow_buckets(prog) : floors.new_flow(prog);
        std::vector<double> d;
        for (uint32_t i = 0; i < kRuns; i++) {
          // a peer of its own per run: every repetition a flow never seen
          const auto syn = tcp_from(++peer, kSourcePort, kPort, PacketBuilder::kSyn);
          const uint64_t claims = floors.bucket_claims();
          double t, f;
          if (rng.next() & 1) t = burst.run(prog, target, syn), f = burst.run(prog, floors.floor(prog), syn);
          else f = burst.run(prog, floors.floor(prog), syn), t = burst.run(prog, target, syn);
          // every flow new: the bucket floor claims a way for each, and
          // each that is stored is recorded
          const uint64_t claimed = floors.bucket_claims() - claims;
          const int recorded = floors.drain_new_flow();
          const uint64_t want_claims = cell.buckets ? kBurst : 0;
          const int want_records = cell.work == Work::store ? int(kBurst) : 0;
          if (claimed != want_claims || recorded != want_records)
            throw Error("--new-flow-memory: a run of " + std::to_string(kBurst) + " new flows made " +
                        std::to_string(claimed) + " claims and " + std::to_string(recorded) + " records");
          if (!cell.buckets) lru_flows += kBurst;
          d.push_back(t - f);
        }
        ns[hi * cells.size() + c].push_back(median(d));
      }
    }
  }
  if (floors.new_flow_held4() != lru_flows)
    throw Error("--new-flow-memory: the LRU floor holds " + std::to_string(floors.new_flow_held4()) + " flows of " +
                std::to_string(lru_flows) + ": it evicted");
  std::printf("| table | claimed: its tags | stored: tags and slots |");
  for (const auto& [hook, prog] : kHooks) std::printf(" %s: claimed | %s: stored, recorded |", hook, hook);
  std::printf("\n|---|---:|---:|");
  for (size_t hi = 0; hi < kHooks.size(); hi++) std::printf("---:|---:|");
  std::printf("\n");
  for (size_t c = 0; c < cells.size(); c += 2) {  // (a claim's cell, then its store's)
    const bool lru = cells[c].buckets == 0;
    const double buckets = cells[c].buckets;
    if (lru) std::printf("| kernel LRU hash, %u flows | | |", kLruEntries);
    else
      std::printf("| buckets, %u flows | %s | %s |", cells[c].buckets * kWays, kib_or_mib(buckets * kTagBytes).c_str(),
                  kib_or_mib(buckets * (kTagBytes + kWays * kSlotBytes)).c_str());
    for (size_t hi = 0; hi < kHooks.size(); hi++) {
      const auto& row = ns[hi * cells.size() + c];
      if (lru) std::printf(" | %s |", spread_cell(row).c_str());
      else std::printf(" %s | %s |", spread_cell(row).c_str(), spread_cell(ns[hi * cells.size() + c + 1]).c_str());
    }
    std::printf("\n");
  }
  std::printf(
      "\nns a new IPv4 flow over XDP_PASS / TC_ACT_OK, median (min-max) over %d rounds of the median of %u runs of "
      "%u new flows (each checked new: a claim or a record each); claimed: the bucket's way taken, no more; "
      "stored, recorded: the flow's key and entry written and a record in a ring, as the LRU floor "
      "(bpf/floor.bpf.c)\n",
      rounds, kRuns, kBurst);
  return 0;
}

}  // namespace zeroseg::bench
