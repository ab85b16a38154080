// SPDX-License-Identifier: Apache-2.0
// datapath_bench --new-flow-memory (bench/new_flow_memory.cpp): the
// new-flow floor on an array of buckets by how far its flows spread,
// beside the LRU hash's.
#pragma once

namespace zeroseg::bench {

// rounds: 1..kNewFlowMemoryMostRounds (the LRU floor holds every flow)
extern const int kNewFlowMemoryMostRounds;
int new_flow_memory(int rounds);

}  // namespace zeroseg::bench
