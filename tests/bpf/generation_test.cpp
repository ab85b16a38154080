// SPDX-License-Identifier: Apache-2.0
// A conntrack entry says which generation judged it, and the established
// path trusts it while that generation is current. So the generation an
// entry carries must be the one whose slot gave the verdict: stamped with
// a later one, a flow judged by the old policy would pass as judged by
// the new (a flow opened during a policy switch surviving its revocation).
//
// The two reads can differ only when a flip falls between them, a race: a
// thread here flips the generation without pause while flows are opened
// and re-judged, and the two slots of the one policy entry name different
// rules, so each entry tells which slot judged it.
#include <atomic>
#include <iostream>
#include <thread>

#include "datapath_fixture.h"

namespace zeroseg::test {
namespace {

using PB = PacketBuilder;
constexpr uint8_t IN = ZS_DIR_INGRESS;
constexpr uint32_t kSelf = 300, kPeer = 400;
constexpr uint32_t kRuleOfSlot[2] = {10, 11};
constexpr int kFlows = 3000;

class GenerationTest : public DatapathTest {
 protected:
  std::vector<uint8_t> in(uint16_t sport, uint8_t flags) {
    return PB().eth().ipv4("10.0.2.20", "10.0.1.10").tcp(sport, 80, flags).build();
  }

  // Entries whose generation's slot is not the slot that judged them; and
  // how many entries each slot judged.
  int mismatched(int judged_by[2]) {
    int bad = 0;
    judged_by[0] = judged_by[1] = 0;
    for (const auto& [key, ct] : dp().conntrack().entries()) {
      int slot = static_cast<int>(ct.generation & 1);
      if (ct.rule_id == kRuleOfSlot[0] || ct.rule_id == kRuleOfSlot[1])
        judged_by[ct.rule_id == kRuleOfSlot[1]]++;
      if (ct.rule_id != kRuleOfSlot[slot]) bad++;
    }
    return bad;
  }
};

TEST_P(GenerationTest, AnEntryCarriesTheGenerationWhoseSlotJudgedIt) {
  set_endpoint(kSelf, ZS_MODE_ENFORCE, ZS_MODE_ENFORCE);
  set_identity("10.0.2.20", kPeer);
  add_rule({kSelf, kPeer, IN, 6, 80, 80, 1});
  dp().settle();  // every slot level, then the policy entry's two disagree
  auto policy = dp().policy();
  for (auto [key, value] : policy.entries()) {
    value.slot[0].allow_rule = kRuleOfSlot[0];
    value.slot[1].allow_rule = kRuleOfSlot[1];
    policy.put(key, value);
  }

  // the config map is mmapped: the flips are the agent's own 8-byte stores
  auto* generation = &const_cast<zs_config&>(dp().config()).generation;
  const uint64_t start = dp().generation();
  std::atomic<bool> stop{false};
  std::thread flipper([&] {
    while (!stop.load(std::memory_order_relaxed)) __atomic_fetch_add(generation, 1, __ATOMIC_RELEASE);
  });
  while (dp().generation() == start) std::this_thread::yield();  // flipping
  int judged_by[2];
  // new flows, judged once each
  for (int i = 0; i < kFlows; i++) send(IN, in(static_cast<uint16_t>(10000 + i), PB::kSyn));
  int bad_new = mismatched(judged_by);
  // their next packets find them stale, almost all: judged again
  for (int i = 0; i < kFlows; i++) send(IN, in(static_cast<uint16_t>(10000 + i), PB::kAck));
  stop = true;
  flipper.join();
  const uint64_t flips = dp().generation() - start;
  if ((dp().generation() & 1) != (start & 1)) __atomic_fetch_add(generation, 1, __ATOMIC_RELEASE);
  int rejudged_by[2];
  int bad_rejudged = mismatched(rejudged_by);

  EXPECT_EQ(bad_new, 0) << "of " << kFlows << " new flows";
  EXPECT_EQ(bad_rejudged, 0) << "of " << kFlows << " re-judged flows";
  // how hard the flips raced the packets (on a loaded machine the flipper
  // may get little CPU: reported, not asserted)
  std::cout << flips << " flips; new flows judged by slot 0/1: " << judged_by[0] << "/" << judged_by[1]
            << ", re-judged: " << rejudged_by[0] << "/" << rejudged_by[1] << " ("
            << counter(ZS_CTR_CT_REJUDGED) << " re-judgements)\n";
}

INSTANTIATE_TEST_SUITE_P(Hooks, GenerationTest, testing::Values(Variant::xdp_host, Variant::tc_workload),
                         variant_name);

}  // namespace
}  // namespace zeroseg::test
