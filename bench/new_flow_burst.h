// SPDX-License-Identifier: Apache-2.0
// datapath_bench --new-flow-burst (bench/new_flow_burst.cpp): new allowed
// flows back to back against XDP_PASS and the new-flow floor.
#pragma once

namespace zeroseg::bench {

// rounds: 1..kNewFlowBurstMostRounds (each round takes a family 3000 source
// ports of one peer, never one twice)
extern const int kNewFlowBurstMostRounds;
int new_flow_burst(int rounds);

}  // namespace zeroseg::bench
