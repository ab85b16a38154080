// SPDX-License-Identifier: Apache-2.0
// A burst of new flows through BPF_PROG_TEST_RUN: one SYN repeated kBurst
// times through the wrapper of bench/new_flow_burst.bpf.c, which gives
// each repetition a source port of its own and tail-calls the program
// under test (datapath_bench --new-flow-burst and --new-flow-memory).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "loader/datapath.h"

struct new_flow_burst_bpf;

namespace zeroseg::bench {

// repetitions of one SYN in a run: each a new flow
constexpr uint32_t kBurst = 500;

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

}  // namespace zeroseg::bench
