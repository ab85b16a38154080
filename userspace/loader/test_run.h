// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "loader/datapath.h"

namespace zeroseg {

// Runs a loaded (not necessarily attached) program on one packet through
// BPF_PROG_TEST_RUN, as if it arrived on ifindex: used by tests, the
// benchmarks and `policy trace`. from_ifindex: a tc program's
// skb->ingress_ifindex, the interface a forwarded packet arrived on (0: sent
// by the host).
struct TestRun {
  uint32_t retval = 0;
  uint32_t duration_ns = 0;  // mean over repeat runs, measured by the kernel
};

TestRun test_run(int prog_fd, Program program, std::span<const uint8_t> packet, uint32_t ifindex,
                 uint32_t repeat = 1, uint32_t mark = 0, uint32_t priority = 0,
                 uint32_t from_ifindex = 0);

// The verdict as ZS_PASS-like booleans, whatever the hook's return codes.
bool test_run_passed(Program program, uint32_t retval);

}  // namespace zeroseg
