// SPDX-License-Identifier: Apache-2.0
// The denied-flow cache (bpf/lib/deny_cache.h): a denied flow's packets
// from its third on are answered from a per-CPU slot (its second denial
// fills it) stamped with the generation that judged it. What an attacker would want from it: a verdict that
// outlives the policy that gave it, or a verdict borrowed by another flow.
// Every change below must be seen by the very next packet.
#include <zeroseg/event.h>
#include <zeroseg/identity.h>

#include <arpa/inet.h>
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
const std::string kSelfIp = "10.0.1.10", kPeerIp = "10.0.2.20";

std::vector<uint8_t> udp_in(uint16_t dport, uint16_t sport = 40000) {
  return PB().eth().ipv4(kPeerIp, kSelfIp).udp(sport, dport).build();
}

class DenyCacheTest : public DatapathTest {
 protected:
  void SetUp() override {
    DatapathTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    set_endpoint(kSelf, ZS_MODE_ENFORCE, ZS_MODE_ENFORCE);
    set_identity(kPeerIp, kPeer);
    // the cache is per CPU: a flow's packets must meet their slot
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(sched_getcpu(), &set);
    sched_setaffinity(0, sizeof(set), &set);
  }
  void TearDown() override {
    cpu_set_t set;
    CPU_ZERO(&set);
    for (int i = 0; i < CPU_SETSIZE; i++) CPU_SET(i, &set);
    sched_setaffinity(0, sizeof(set), &set);
  }
  RuleSpec allow9(uint64_t expires = 0) { return {kSelf, kPeer, IN, 17, 9, 9, 1, 0, expires}; }
  RuleSpec deny9(uint64_t expires = 0) { return {kSelf, kPeer, IN, 17, 9, 9, 0, 7, expires}; }
  // a denied flow, sent twice: the second fills its slot, the next
  // packet is answered from it
  void denied_twice(uint16_t sport = 40000) {
    ASSERT_FALSE(send(IN, udp_in(9, sport)));
    ASSERT_FALSE(send(IN, udp_in(9, sport)));
  }
};

TEST_P(DenyCacheTest, ADeniedFlowPassesAtOnceWhenAPolicyAllowsIt) {
  denied_twice();
  add_rule(allow9());
  EXPECT_TRUE(send(IN, udp_in(9)));
}

TEST_P(DenyCacheTest, AnAllowedFlowIsDroppedAtOnceWhenAPolicyDeniesIt) {
  add_rule(allow9());
  ASSERT_TRUE(send(IN, udp_in(9)));
  add_rule(deny9());
  EXPECT_FALSE(send(IN, udp_in(9)));
  EXPECT_FALSE(send(IN, udp_in(9, 40001))) << "a new flow too";
}

TEST_P(DenyCacheTest, DeniedAllowedDeniedAllowed) {
  denied_twice();
  add_rule(allow9());
  ASSERT_TRUE(send(IN, udp_in(9)));
  add_rule(deny9());
  ASSERT_FALSE(send(IN, udp_in(9)));
  ASSERT_FALSE(send(IN, udp_in(9)));
  remove_rule(deny9());
  add_rule(allow9());
  EXPECT_TRUE(send(IN, udp_in(9)));
}

TEST_P(DenyCacheTest, ANewIdentityOfTheSourceIsSeenAtOnce) {
  add_rule({kSelf, kOther, IN, 17, 9, 9, 1});
  denied_twice();
  set_identity(kPeerIp, kOther);
  EXPECT_TRUE(send(IN, udp_in(9)));
}

TEST_P(DenyCacheTest, AModeChangeIsSeenAtOnce) {
  denied_twice();
  set_endpoint(kSelf, ZS_MODE_AUDIT, ZS_MODE_ENFORCE);
  EXPECT_TRUE(send(IN, udp_in(9)));
  EXPECT_EQ(counter(ZS_CTR_VERDICT(ZS_VERDICT_AUDIT, IN)), 1u);
}

// A slot answers only its own flow: not another port, source port or
// source, nor the same addresses in another protocol.
TEST_P(DenyCacheTest, AnotherFlowIsNotAnsweredByADeniedOne) {
  add_rule({kSelf, kPeer, IN, 17, 80, 80, 1});
  add_rule({kSelf, kPeer, IN, 6, 9, 9, 2});
  denied_twice();
  EXPECT_TRUE(send(IN, udp_in(80)));
  EXPECT_TRUE(send(IN, PB().eth().ipv4(kPeerIp, kSelfIp).tcp(40000, 9, PB::kSyn).build()));
  EXPECT_FALSE(send(IN, udp_in(9)));
}

// Denied flows that collide in the cache's slots still get their own verdicts.
TEST_P(DenyCacheTest, ManyFlowsKeepTheirOwnVerdicts) {
  add_rule({kSelf, kPeer, IN, 17, 100, 100, 1});
  for (int round = 0; round < 2; round++) {
    for (uint16_t i = 0; i < 6000; i++) {
      uint16_t sport = static_cast<uint16_t>(1024 + i);
      ASSERT_FALSE(send(IN, udp_in(9, sport))) << sport;
      if (i % 500 == 0) {
        ASSERT_TRUE(send(IN, udp_in(100, sport))) << sport;
      }
    }
  }
}

// An explicit deny with an expiry holds until then, not after.
TEST_P(DenyCacheTest, AnExpiringDenyEndsInTheKernel) {
  add_rule(allow9());
  uint64_t soon = realtime_to_tai_ns(realtime_now_ns() + 2'000'000'000);
  add_rule(deny9(soon));
  ASSERT_FALSE(send(IN, udp_in(9)));
  ASSERT_FALSE(send(IN, udp_in(9)));
  std::this_thread::sleep_for(std::chrono::milliseconds(2300));
  // no agent action in between, no generation change
  EXPECT_TRUE(send(IN, udp_in(9)));
}

// The deny event of a cached flow names what the judgement named.
TEST_P(DenyCacheTest, ACachedDenyIsCountedWithItsReason) {
  add_rule(deny9());
  denied_twice();
  EXPECT_EQ(counter(ZS_CTR_REASON(ZS_REASON_POLICY_DENY)), 2u);
  EXPECT_EQ(counter(ZS_CTR_VERDICT(ZS_VERDICT_DENIED, IN)), 2u);
}

// The cache answers a repeated denied flow by itself: the policy entry
// that denied it is turned into an allow behind the datapath's back (no
// new generation), and the flow stays denied, so the verdict came from the
// slot. (A tag filter that never matched would make every probe a miss:
// the flow would be judged again and pass.)
TEST_P(DenyCacheTest, ARepeatedDeniedFlowIsAnsweredFromItsSlot) {
  add_rule(deny9());
  denied_twice();
  const MapRef& policy = dp().map("zs_policy");
  ASSERT_EQ(policy.keys().size(), 1u);
  auto key = policy.keys()[0];
  zs_policy_value v{};
  ASSERT_TRUE(policy.lookup(key.data(), &v));
  zs_policy_entry& e = v.slot[dp().active_slot()];
  e.deny_rule = 0;
  e.allow_rule = 1;
  policy.update(key.data(), &v);
  dp().clear_memos();  // the policy's own answers (verdict_memo.h): judged again
  EXPECT_FALSE(send(IN, udp_in(9))) << "judged again, not answered from the cache";
  EXPECT_TRUE(send(IN, udp_in(9, 40001))) << "another flow is judged: the raw allow works";
}

// deny_cache.h's hash, mirrored: a slot's index is its low 12 bits, its
// tag the high 16 (| 1).
uint32_t deny_cache_mix(uint32_t h, uint32_t w) {
  h ^= w;
  h *= 0x85ebca6bu;
  return h ^ (h >> 15);
}

uint32_t deny_cache_hash(uint32_t ifindex, uint32_t saddr, uint32_t daddr, uint16_t sport, uint16_t dport) {
  uint32_t h = ifindex;
  h = deny_cache_mix(h, saddr);
  h = deny_cache_mix(h, 0);
  h = deny_cache_mix(h, daddr);
  h = deny_cache_mix(h, 0);
  return deny_cache_mix(h, static_cast<uint32_t>(htons(sport)) << 16 | htons(dport));
}

// Two flows with the same slot and the same tag: the tag is only a filter,
// the slot's own comparison decides. The second flow, allowed, must not
// borrow the first one's deny.
TEST_P(DenyCacheTest, AFlowWithTheSameSlotAndTagIsNotAnsweredByADeniedOne) {
  in_addr peer{}, self{};
  ASSERT_EQ(inet_pton(AF_INET, kPeerIp.c_str(), &peer), 1);
  ASSERT_EQ(inet_pton(AF_INET, kSelfIp.c_str(), &self), 1);
  const uint32_t want = deny_cache_hash(kIfindex, peer.s_addr, self.s_addr, 40000, 9);
  auto same = [&](uint32_t h) { return (h & 0xfff) == (want & 0xfff) && ((h >> 16) | 1) == ((want >> 16) | 1); };
  uint16_t sport = 0, dport = 0;
  for (uint32_t d = 100; d < 65536 && !sport; d++)
    for (uint32_t sp = 1024; sp < 65536; sp++)
      if (same(deny_cache_hash(kIfindex, peer.s_addr, self.s_addr, static_cast<uint16_t>(sp),
                               static_cast<uint16_t>(d)))) {
        sport = static_cast<uint16_t>(sp), dport = static_cast<uint16_t>(d);
        break;
      }
  ASSERT_NE(sport, 0) << "no colliding flow found";
  add_rule({kSelf, kPeer, IN, 17, 100, 65535, 1});
  denied_twice();
  EXPECT_TRUE(send(IN, udp_in(dport, sport))) << "udp " << sport << " -> " << dport;
  EXPECT_FALSE(send(IN, udp_in(9)));
}

INSTANTIATE_TEST_SUITE_P(Hooks, DenyCacheTest, testing::Values(Variant::xdp_host, Variant::tc_workload),
                         variant_name);

}  // namespace
}  // namespace zeroseg::test
