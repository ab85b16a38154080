// SPDX-License-Identifier: Apache-2.0
#include <vector>

#include "common/error.h"
#include "loader/datapath.h"
#include "loader/test_run.h"

namespace zeroseg {

zs_trace_result Datapath::trace(std::span<const uint8_t> packet, uint32_t ifindex, bool arriving) const {
  // odd, so never the zero of a slot no trace has written
  uint32_t seq = (++trace_seq_ << 1) | 1;
  test_run(program_fd(Program::tc_trace), Program::tc_trace, packet, ifindex, 1,
           arriving ? ZS_TRACE_ARRIVING : ZS_TRACE_LEAVING, seq);
  // the result is in the slot of whichever CPU ran the program
  std::vector<zs_trace_result> per_cpu(ncpus_);
  uint32_t zero = 0;
  map("zs_trace").lookup(&zero, per_cpu.data());
  for (const auto& r : per_cpu)
    if (r.seq == seq) return r;
  throw Error("the trace program left no result");
}

}  // namespace zeroseg
