// SPDX-License-Identifier: Apache-2.0
// The policy's answers remembered per CPU (bpf/lib/verdict_memo.h): a new
// flow asking what an earlier one asked, under the same generation, is
// answered without the policy map. What an attacker would want from it:
// an answer that outlives the policy or the rule end that gave it, or one
// borrowed by a flow that asked something else. Policy entries are changed
// behind the datapath's back (no new generation) to see who answered.
#include <zeroseg/identity.h>

#include <sched.h>

#include <chrono>
#include <thread>

#include "common/time.h"
#include "datapath_fixture.h"

namespace zeroseg::test {
namespace {

using PB = PacketBuilder;
constexpr uint8_t IN = ZS_DIR_INGRESS;
constexpr uint32_t kSelf = 300, kPeer = 400, kOther = 500;
const std::string kSelfIp = "10.0.1.10", kPeerIp = "10.0.2.20", kOtherIp = "10.0.3.30";

// each call a new flow (a new source port)
std::vector<uint8_t> udp_in(uint16_t dport, const std::string& from = kPeerIp) {
  static uint16_t sport = 20000;
  return PB().eth().ipv4(from, kSelfIp).udp(++sport, dport).build();
}

class VerdictMemoTest : public DatapathTest {
 protected:
  void SetUp() override {
    DatapathTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    set_endpoint(kSelf, ZS_MODE_ENFORCE, ZS_MODE_ENFORCE);
    set_identity(kPeerIp, kPeer);
    set_identity(kOtherIp, kOther);
  }
  OnOneCpu pinned_;  // the memo is per CPU: the flows must meet their answers
  // Takes every allow away, in both slots (the next generation's too),
  // behind the datapath's back.
  void allows_gone_behind_the_back() {
    dp().settle();  // the last change's levelling, which would write the allows back
    const MapRef& policy = dp().map("zs_policy");
    for (auto& key : policy.keys()) {
      zs_policy_value v{};
      ASSERT_TRUE(policy.lookup(key.data(), &v));
      v.slot[0].allow_rule = v.slot[1].allow_rule = 0;
      policy.update(key.data(), &v);
    }
  }
};

// A new flow asking the same (peer, port) is answered as the first was,
// though its allow is gone: the answer came from the memo. A flow asking
// anything else is judged (denied); so is the same question once the
// memo is emptied. Without the memo, the second flow is denied.
TEST_P(VerdictMemoTest, ARepeatedQuestionIsAnsweredAsBefore) {
  add_rule({kSelf, kPeer, IN, 17, 9, 9, 1});
  add_rule({kSelf, kOther, IN, 17, 9, 9, 2});
  add_rule({kSelf, kPeer, IN, 17, 10, 10, 3});
  ASSERT_TRUE(send(IN, udp_in(9)));
  ASSERT_TRUE(send(IN, udp_in(10)));
  allows_gone_behind_the_back();
  EXPECT_TRUE(send(IN, udp_in(9))) << "asked before: the memo's answer";
  EXPECT_TRUE(send(IN, udp_in(10))) << "asked before: the memo's answer";
  EXPECT_FALSE(send(IN, udp_in(9, kOtherIp))) << "another peer: judged";
  dp().clear_memos();
  EXPECT_FALSE(send(IN, udp_in(9))) << "judged again";
}

// verdict_memo.h's slot of a question (subject, peer, port, proto,
// direction, mode), mirrored: its hash's low 6 bits.
uint32_t memo_mix(uint32_t h, uint32_t w) {
  h ^= w;
  h *= 0x85ebca6bu;
  return h ^ (h >> 15);
}
uint32_t memo_slot(uint32_t subject, uint32_t peer, uint16_t port, uint8_t proto, uint8_t direction,
                   uint8_t mode) {
  uint32_t h = memo_mix(subject, peer);
  h = memo_mix(h, uint32_t{port} << 16 | uint32_t{proto} << 8 | direction);
  return memo_mix(h, mode) & 63;
}

// Two questions in one slot, which differ in the peer alone: the second
// is judged (denied: no rule for it), not given the first's allow, and
// takes the slot; the first, asked again, is judged again. Comparing the
// slot's question but its peer lets the second through.
TEST_P(VerdictMemoTest, AQuestionSharingASlotIsJudgedOnItsOwn) {
  const uint32_t slot = memo_slot(kSelf, kPeer, 9, 17, IN, ZS_MODE_ENFORCE);
  uint32_t twin = kOther + 1;
  while (memo_slot(kSelf, twin, 9, 17, IN, ZS_MODE_ENFORCE) != slot) twin++;
  const std::string twin_ip = "10.0.4.40";
  set_identity(twin_ip, twin);
  add_rule({kSelf, kPeer, IN, 17, 9, 9, 1});
  ASSERT_TRUE(send(IN, udp_in(9)));
  EXPECT_FALSE(send(IN, udp_in(9, twin_ip))) << "peer " << twin << " shares the slot: judged, denied";
  allows_gone_behind_the_back();
  EXPECT_FALSE(send(IN, udp_in(9))) << "the slot is the twin's now: judged again";
}

// An answer holds under the generation that gave it: any change (here an
// unrelated address's identity) and the next flow is judged.
TEST_P(VerdictMemoTest, ANewGenerationIsJudgedAgain) {
  add_rule({kSelf, kPeer, IN, 17, 9, 9, 1});
  ASSERT_TRUE(send(IN, udp_in(9)));
  allows_gone_behind_the_back();
  ASSERT_TRUE(send(IN, udp_in(9))) << "the memo's answer";
  set_identity("10.9.9.9", 999);
  EXPECT_FALSE(send(IN, udp_in(9))) << "a new generation: judged";
}

// An audited deny that ends decides nothing after its end, though the
// judgement it gave names no end (an audit keeps no flow from passing):
// the answer ends with the first end of any live entry the judgement
// read. Remembered without that end, new flows were audited for ever.
TEST_P(VerdictMemoTest, AnAnswerEndsWithTheFirstEndOfAnEntryItRead) {
  add_rule({kSelf, kPeer, IN, 17, 9, 9, 1});
  const uint64_t soon = realtime_to_tai_ns(realtime_now_ns() + 2'500'000'000);
  add_rule({kSelf, ZS_ID_ANY, IN, 17, 9, 9, 0, 7, soon, /*audit=*/true});
  const auto audited = [&] { return counter(ZS_CTR_VERDICT(ZS_VERDICT_AUDIT, IN)); };
  ASSERT_TRUE(send(IN, udp_in(9)));
  ASSERT_TRUE(send(IN, udp_in(9)));
  EXPECT_EQ(audited(), 2u) << "the audited deny, before its end";
  std::this_thread::sleep_for(std::chrono::milliseconds(2800));
  // no agent action in between, no generation change
  ASSERT_TRUE(send(IN, udp_in(9)));
  EXPECT_EQ(audited(), 2u) << "after its end, the allow alone";
  EXPECT_EQ(counter(ZS_CTR_VERDICT(ZS_VERDICT_ALLOWED, IN)), 1u);
}

INSTANTIATE_TEST_SUITE_P(Hooks, VerdictMemoTest, testing::Values(Variant::xdp_host, Variant::tc_workload),
                         variant_name);

}  // namespace
}  // namespace zeroseg::test
