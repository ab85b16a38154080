// SPDX-License-Identifier: Apache-2.0
#include "burst_runner.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <string>

#include "common/error.h"
#include "datapath_bench_setup.h"
#include "loader/test_run.h"
#include "new_flow_burst.skel.h"

namespace zeroseg::bench {

void BurstRunner::Destroy::operator()(new_flow_burst_bpf* s) const { new_flow_burst_bpf__destroy(s); }

BurstRunner::BurstRunner() : skel_(new_flow_burst_bpf__open_and_load()) {
  if (!skel_) throw Error("loading bench/new_flow_burst.bpf.c failed");
}

double BurstRunner::run(Program prog, int target, const std::vector<uint8_t>& syn) const {
  const bool xdp = prog == Program::xdp_ingress;
  int wrapper = bpf_program__fd(xdp ? skel_->progs.zs_burst_xdp : skel_->progs.zs_burst_tc);
  int slots = bpf_map__fd(xdp ? skel_->maps.zs_burst_xdp_target : skel_->maps.zs_burst_tc_target);
  uint32_t zero = 0;
  if (bpf_map_update_elem(slots, &zero, &target, BPF_ANY)) throw Error("a burst's tail call target was refused");
  skel_->bss->zs_burst_reps = 0;
  TestRun r = test_run(wrapper, prog, syn, kIfindex, kBurst);
  if (skel_->bss->zs_burst_reps != kBurst || !test_run_passed(prog, r.retval))
    throw Error("a burst's wrapper ran " + std::to_string(skel_->bss->zs_burst_reps) + " times of " +
                std::to_string(kBurst) + ", or the last repetition was not passed");
  return static_cast<double>(r.duration_ns);
}

}  // namespace zeroseg::bench
