// SPDX-License-Identifier: Apache-2.0
// datapath_bench --new-flow-burst (bench/new_flow_burst.cpp): new allowed
// flows back to back against XDP_PASS and the new-flow floor; and
// --new-flow-memory (bench/new_flow_memory.cpp): the new-flow floor by the
// memory its flows span. Both run bursts through bench/new_flow_burst.bpf.c.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "loader/datapath.h"

struct new_flow_burst_bpf;

namespace zeroseg::bench {

// repetitions of one SYN in a run: each a new flow (a source port of its own)
constexpr uint32_t kBurst = 500;

// The wrapper of bench/new_flow_burst.bpf.c, loaded.
class BurstRunner {
 public:
  BurstRunner();
  // one run of kBurst repetitions of syn through the wrapper into the
  // program `target` (of prog's type): ns per repetition
  double run(Program prog, int target, const std::vector<uint8_t>& syn) const;

 private:
  struct Destroy {
    void operator()(new_flow_burst_bpf* s) const;
  };
  std::unique_ptr<new_flow_burst_bpf, Destroy> skel_;
};

// rounds: 1..kNewFlowBurstMostRounds (each round takes a family 3000 source
// ports of one peer, never one twice)
extern const int kNewFlowBurstMostRounds;
int new_flow_burst(int rounds);

// rounds: 1..kNewFlowMemoryMostRounds
extern const int kNewFlowMemoryMostRounds;
int new_flow_memory(int rounds);

}  // namespace zeroseg::bench
