// SPDX-License-Identifier: Apache-2.0
// Deny events under a flood (issue 16): every CPU has one budget of deny
// events a second, from all sources together, checked before the
// per-source limiter. A flood from more sources than that limiter holds
// (16k) used to insert every source into it and report every packet. Each
// packet is still dropped and counted; what is not reported is counted as
// suppressed. Spoofed sources (source_check.h) draw on the same budget.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <sched.h>
#include <zeroseg/event.h>
#include <zeroseg/identity.h>

#include <string>

#include "datapath_fixture.h"

namespace zeroseg::test {
namespace {

using PB = PacketBuilder;
constexpr uint8_t IN = ZS_DIR_INGRESS;
constexpr uint32_t kSelf = 300;
const std::string kSelfIp = "10.0.1.10";
// more sources than zs_deny_ratelimit holds (ZS_DEFAULT_DENY_LIMITER_ENTRIES)
constexpr int kSources = ZS_DEFAULT_DENY_LIMITER_ENTRIES + 3000;

std::string source(int i) {
  return "198.18." + std::to_string(i / 250 % 250) + "." + std::to_string(i % 250 + 1);
}
std::vector<uint8_t> udp_from(const std::string& src, uint16_t sport = 40000) {
  return PB().eth().ipv4(src, kSelfIp).udp(sport, 9).build();
}

class DenyBudgetTest : public DatapathTest {
 protected:
  void SetUp() override {
    DatapathTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    set_endpoint(kSelf, ZS_MODE_ENFORCE, ZS_MODE_ENFORCE);
    // one CPU, one budget: the test's bounds are then exact
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(sched_getcpu(), &set);
    sched_setaffinity(0, sizeof(set), &set);
    drain_events();
  }
  void TearDown() override {
    cpu_set_t set;
    CPU_ZERO(&set);
    for (int i = 0; i < CPU_SETSIZE; i++) CPU_SET(i, &set);
    sched_setaffinity(0, sizeof(set), &set);
  }
  size_t drain_events() {
    size_t n = 0;
    auto cb = [](void* ctx, void*, size_t) {
      ++*static_cast<size_t*>(ctx);
      return 0;
    };
    ring_buffer* rb = ring_buffer__new(dp().map("zs_events").fd(), cb, &n, nullptr);
    ring_buffer__consume(rb);
    ring_buffer__free(rb);
    return n;
  }
  uint64_t limiter_entries() {
    uint64_t n = 0;
    const MapRef& m = dp().map("zs_deny_ratelimit");
    std::vector<uint8_t> key(m.key_size()), next(m.key_size());
    for (void* prev = nullptr; bpf_map_get_next_key(m.fd(), prev, next.data()) == 0; prev = key.data()) {
      key = next;
      n++;
    }
    return n;
  }
};

TEST_P(DenyBudgetTest, AFloodFromManySourcesReportsWithinTheCpuBudget) {
  constexpr uint32_t kBudget = 50;
  dp().set_deny_event_budget(kBudget);
  uint64_t denied = counter(ZS_CTR_VERDICT(ZS_VERDICT_DENIED, IN));
  for (int i = 0; i < kSources; i++) ASSERT_FALSE(send(IN, udp_from(source(i), static_cast<uint16_t>(1024 + i))));
  size_t events = drain_events();
  // the budget, plus what refilled while the loop ran (50/s: a few)
  EXPECT_GE(events, kBudget);
  EXPECT_LT(events, kBudget + 50);
  EXPECT_EQ(counter(ZS_CTR_VERDICT(ZS_VERDICT_DENIED, IN)), denied + kSources) << "every drop is counted";
  EXPECT_EQ(events + counter(ZS_CTR_EVENTS_SUPPRESSED), static_cast<uint64_t>(kSources))
      << "what was not reported is counted as suppressed";
  // past the budget a denied packet touches no per-source state
  EXPECT_LT(limiter_entries(), kBudget + 50);
  // every source new: all it suppressed was the budget's (detection-blind)
  EXPECT_EQ(counter(ZS_CTR_EVENTS_OVER_BUDGET), counter(ZS_CTR_EVENTS_SUPPRESSED));
}

TEST_P(DenyBudgetTest, ARepeatedSourceIsStillLimitedBySourceWithinTheBudget) {
  const uint32_t burst = dp().config().deny_events_burst;
  dp().set_deny_event_budget(burst + 5);
  for (uint32_t i = 0; i < burst + 50; i++) ASSERT_FALSE(send(IN, udp_from("198.18.0.1", static_cast<uint16_t>(1024 + i))));
  size_t events = drain_events();
  EXPECT_GE(events, burst);
  EXPECT_LT(events, burst + 10);
  // held back by its own bucket (named on its next event), not by the budget
  EXPECT_GT(counter(ZS_CTR_EVENTS_SUPPRESSED), 0u);
  EXPECT_EQ(counter(ZS_CTR_EVENTS_OVER_BUDGET), 0u);
  // a source's refusal hands its token back: another source still reports
  ASSERT_FALSE(send(IN, udp_from("198.18.0.2")));
  EXPECT_EQ(drain_events(), 1u);
}

TEST_P(DenyBudgetTest, NoBudgetLeavesThePerSourceLimiterAlone) {
  dp().set_deny_event_budget(0);
  for (int i = 0; i < 300; i++) ASSERT_FALSE(send(IN, udp_from(source(i))));
  EXPECT_EQ(drain_events(), 300u);
  EXPECT_EQ(counter(ZS_CTR_EVENTS_SUPPRESSED), 0u);
}

// A spoofer picks its sources: its events are limited per interface
// (source_check.h), and within the CPU's budget too.
TEST_P(DenyBudgetTest, SpoofedSourcesDrawOnTheSameBudget) {
  constexpr uint32_t kBudget = 5;
  Transaction tx(dp());
  for (auto& [k, v] : dp().source_prefixes().entries()) tx.remove_source_prefix(k);
  tx.set_source(Transaction::source_key(kIfindex, *IpAddr::parse(kSelfIp)), ZS_SOURCE_OWN);
  tx.commit();
  dp().set_deny_event_budget(kBudget);
  // a workload's egress: its packets arrive on the interface
  const uint8_t out = ZS_DIR_EGRESS;
  const uint8_t reason = kind() == ZS_ATTACH_HOST ? ZS_REASON_UPLINK_SPOOFED_SOURCE : ZS_REASON_SPOOFED_SOURCE;
  if (kind() == ZS_ATTACH_HOST) {
    // an uplink drops arrivals from a local workload's address
    Transaction t2(dp());
    t2.set_source(Transaction::source_key(kIfindex, *IpAddr::parse("10.0.9.9")), ZS_SOURCE_LOCAL);
    t2.commit();
  }
  uint64_t spoofed = counter(ZS_CTR_REASON(reason));
  constexpr int kSpoofs = 200;
  for (int i = 0; i < kSpoofs; i++) {
    auto p = kind() == ZS_ATTACH_HOST ? udp_from("10.0.9.9", static_cast<uint16_t>(1024 + i))
                                      : PB().eth().ipv4(source(i), "10.0.2.20").udp(40000, 53).build();
    ASSERT_FALSE(send(kind() == ZS_ATTACH_HOST ? IN : out, p));
  }
  EXPECT_EQ(counter(ZS_CTR_REASON(reason)), spoofed + kSpoofs) << "every spoof is dropped and counted";
  size_t events = drain_events();
  EXPECT_GE(events, 1u);
  EXPECT_LE(events, kBudget + 5);
}

INSTANTIATE_TEST_SUITE_P(Hooks, DenyBudgetTest, testing::Values(Variant::xdp_host, Variant::tc_workload),
                         variant_name);

}  // namespace
}  // namespace zeroseg::test
