// SPDX-License-Identifier: Apache-2.0
// Every program loads, and the instructions the verifier had to walk stay
// within a budget well under the kernel's 1M limit: a change that blows up
// verifier states fails here, not on a user's kernel.
#include "loader/program_info.h"
#include "datapath_fixture.h"

namespace zeroseg::test {
namespace {

constexpr uint32_t kVerifierBudget = 350000;

TEST(VerifierBudget, EveryProgramLoadsWithinBudget) {
  ZS_REQUIRE_PRIVILEGED();
  auto dp = Datapath::load({.pin = false});
  for (Program p : {Program::xdp_ingress, Program::tc_ingress, Program::tc_egress, Program::tc_trace}) {
    ProgramInfo info = program_info(dp->program_fd(p));
    std::cout << info.name << ": " << info.verified_insns << " verified instructions (budget " << kVerifierBudget
              << "), " << info.jited_bytes << " bytes JITed\n";
    EXPECT_GT(info.verified_insns, 0u);
    EXPECT_LE(info.verified_insns, kVerifierBudget) << info.name;
  }
}

}  // namespace
}  // namespace zeroseg::test
