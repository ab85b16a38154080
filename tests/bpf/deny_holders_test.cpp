// SPDX-License-Identifier: Apache-2.0
// The deny limiter's holders (issue 16; bpf/lib/deny_holders.h): a deny past
// the per-CPU budget looks its source's bucket up (to name what was held
// back on the source's next event) only when zs_deny_holders' bit of the
// source is set, which happens before every bucket is made. These tests try
// to make the skip lose a count: known sources of both families (and the
// spoofer's per-interface key) flooded past the budget must have every
// packet named on their next event, exactly; a flood of new sources past
// the budget sets no bit; a limiter pinned by a version without the bits
// gets every bit. One CPU throughout: the budget is per CPU.
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <sched.h>
#include <unistd.h>
#include <zeroseg/event.h>

#include <bit>
#include <filesystem>
#include <string>

#include "datapath_fixture.h"

namespace zeroseg::test {
namespace {

using PB = PacketBuilder;
constexpr uint8_t IN = ZS_DIR_INGRESS;
constexpr uint32_t kSelf = 300;

std::vector<uint8_t> probe(const std::string& src, uint16_t dport) {
  const bool v4 = src.find(':') == std::string::npos;
  return ip_header(v4 ? 4 : 6, src, v4 ? "10.0.1.10" : "fd00:1::10").tcp(51000, dport, PB::kSyn).build();
}

class DenyHoldersTest : public DatapathTest {
 protected:
  void SetUp() override {
    DatapathTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    set_endpoint(kSelf, ZS_MODE_ENFORCE, ZS_MODE_ENFORCE);
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(sched_getcpu(), &set);
    sched_setaffinity(0, sizeof(set), &set);
    clear_holders();
    drain_events();
  }
  void TearDown() override {
    cpu_set_t set;
    CPU_ZERO(&set);
    for (int i = 0; i < CPU_SETSIZE; i++) CPU_SET(i, &set);
    sched_setaffinity(0, sizeof(set), &set);
  }
  std::vector<zs_event> drain_events() {
    std::vector<zs_event> out;
    auto cb = [](void* ctx, void* data, size_t size) {
      if (size >= sizeof(zs_event)) static_cast<std::vector<zs_event>*>(ctx)->push_back(*static_cast<zs_event*>(data));
      return 0;
    };
    ring_buffer* rb = ring_buffer__new(dp().map("zs_events").fd(), cb, &out, nullptr);
    ring_buffer__consume(rb);
    ring_buffer__free(rb);
    return out;
  }
  // the fixture's datapath lives across tests: bits of earlier tests' buckets
  void clear_holders() {
    const uint64_t none = 0;
    for (uint32_t i = 0; i < ZS_DENY_HOLDERS_WORDS; i++) dp().map("zs_deny_holders").update(&i, &none);
  }
  uint64_t holder_bits() {
    uint64_t n = 0;
    for (uint32_t i = 0; i < ZS_DENY_HOLDERS_WORDS; i++) {
      uint64_t w = 0;
      EXPECT_TRUE(dp().map("zs_deny_holders").lookup(&i, &w));
      n += static_cast<uint64_t>(std::popcount(w));
    }
    return n;
  }
  // the budget refilled whole (as a second later)
  void refill_budget() {
    const uint32_t key = 0;
    std::vector<zs_deny_budget> empty(libbpf_num_possible_cpus());
    dp().map("zs_deny_budget").update(&key, empty.data());
  }
  static bool from(const zs_event& ev, const std::string& src) {
    char buf[INET6_ADDRSTRLEN];
    if (src.find(':') == std::string::npos)
      inet_ntop(AF_INET, &ev.tuple.saddr[0], buf, sizeof(buf));
    else
      inet_ntop(AF_INET6, ev.tuple.saddr, buf, sizeof(buf));
    return src == buf;
  }
};

// A known source (one reported deny: its bucket made) floods past an empty
// budget: each of its packets is held back and counted in its bucket, and
// its next reported deny names them all. Without its bit (the mark before
// the bucket's insert missing) the flood's packets were not counted there:
// "named 0, want 300".
TEST_P(DenyHoldersTest, AKnownSourcesDeniesPastTheBudgetAreAllNamed) {
  constexpr int kProbes = 300;
  for (const std::string src : {"203.0.113.66", "2001:db8:66::1", "::ffff:203.0.113.67"}) {
    SCOPED_TRACE(src);
    dp().set_deny_event_budget(1);
    refill_budget();
    drain_events();
    ASSERT_FALSE(send(IN, probe(src, 1))) << "its first deny, reported: its bucket made";
    ASSERT_EQ(drain_events().size(), 1u);
    for (int i = 0; i < 50; i++)
      ASSERT_FALSE(send(IN, probe("198.18.1." + std::to_string(i + 1), 9))) << "others, past the budget";
    for (int port = 2; port < 2 + kProbes; port++) ASSERT_FALSE(send(IN, probe(src, static_cast<uint16_t>(port))));
    refill_budget();
    ASSERT_FALSE(send(IN, probe(src, 9999)));
    // a probe the 1/s budget let through while the loop ran is reported,
    // naming those before it: reported + named counts each probe once
    uint64_t reported = 0, named = 0;
    for (const auto& ev : drain_events()) {
      if (!from(ev, src)) continue;
      reported++;
      named += ev.suppressed;
    }
    EXPECT_EQ(reported + named, static_cast<uint64_t>(kProbes) + 1) << "named " << named;
  }
}

// The same for the spoofer's key (source_check.h: events limited per
// interface, the key 0.0.0.ifindex and ones): an uplink's spoofs from a
// local workload's address.
TEST_P(DenyHoldersTest, ASpooferPastTheBudgetIsNamedOnItsNextEvent) {
  if (kind() != ZS_ATTACH_HOST) GTEST_SKIP() << "the uplink's spoof check";
  Transaction tx(dp());
  tx.set_source(Transaction::source_key(kIfindex, *IpAddr::parse("10.0.9.9")), ZS_SOURCE_LOCAL);
  tx.commit();
  dp().set_deny_event_budget(1);
  refill_budget();
  drain_events();
  ASSERT_FALSE(send(IN, probe("10.0.9.9", 1)));
  ASSERT_EQ(drain_events().size(), 1u);
  constexpr int kSpoofs = 100;
  for (int port = 2; port < 2 + kSpoofs; port++) ASSERT_FALSE(send(IN, probe("10.0.9.9", static_cast<uint16_t>(port))));
  refill_budget();
  ASSERT_FALSE(send(IN, probe("10.0.9.9", 9999)));
  uint64_t reported = 0, named = 0;
  for (const auto& ev : drain_events()) {
    reported++;
    named += ev.suppressed;
  }
  EXPECT_EQ(reported + named, static_cast<uint64_t>(kSpoofs) + 1) << "named " << named;
}

// Bits are made with buckets only: a flood of new sources past the budget
// makes neither, and a reported source one bit.
TEST_P(DenyHoldersTest, OnlySourcesWithABucketSetABit) {
  dp().set_deny_event_budget(1);
  refill_budget();
  ASSERT_FALSE(send(IN, probe("203.0.113.70", 1)));
  EXPECT_EQ(holder_bits(), 1u);
  for (int i = 0; i < 2000; i++)
    ASSERT_FALSE(send(IN, probe("198.18." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1), 9)));
  EXPECT_EQ(holder_bits(), 1u) << "past the budget, a new source makes no bucket and sets no bit";
  dp().set_deny_event_budget(0);
  for (int i = 0; i < 20; i++) ASSERT_FALSE(send(IN, probe("198.19.0." + std::to_string(i + 1), 9)));
  EXPECT_GE(holder_bits(), 2u);
  EXPECT_LE(holder_bits(), 21u);
}

INSTANTIATE_TEST_SUITE_P(Hooks, DenyHoldersTest, testing::Values(Variant::xdp_host, Variant::tc_workload),
                         variant_name);

// A limiter pinned by a version without zs_deny_holders: its buckets set no
// bit, so every bit is set when the bits are made beside them; a fresh pin
// directory starts with none.
TEST(DenyHoldersUpgrade, EveryBitIsSetOverALimiterPinnedWithoutThem) {
  ZS_REQUIRE_PRIVILEGED();
  const std::string dir = "/sys/fs/bpf/zs-holders-test-" + std::to_string(getpid());
  auto word = [](Datapath& dp, uint32_t idx) {
    uint64_t w = 0;
    EXPECT_TRUE(dp.map("zs_deny_holders").lookup(&idx, &w));
    return w;
  };
  {
    auto dp = Datapath::load({.pin_dir = dir, .pin = true});
    EXPECT_EQ(word(*dp, 0), 0u) << "a fresh install";
  }
  ASSERT_EQ(unlink((dir + "/zs_deny_holders").c_str()), 0);
  {
    auto dp = Datapath::load({.pin_dir = dir, .pin = true});
    for (uint32_t i : {0u, 1u, 5000u, ZS_DENY_HOLDERS_WORDS - 1u}) EXPECT_EQ(word(*dp, i), ~uint64_t{0}) << i;
  }
  Datapath::unpin(dir);
  EXPECT_FALSE(std::filesystem::exists(dir));
}

// A rollback (loader/pin_stamp.h): an older version re-pinned its programs
// over this one's pins, zs_deny_holders stayed pinned beside them and its
// buckets set no bit. The upgrade again sets every bit; a restart on this
// version's own pins keeps them exact.
TEST(DenyHoldersUpgrade, EveryBitIsSetAfterARollback) {
  ZS_REQUIRE_PRIVILEGED();
  const std::string dir = "/sys/fs/bpf/zs-holders-test-rb-" + std::to_string(getpid());
  auto word = [](Datapath& dp, uint32_t idx) {
    uint64_t w = 0;
    EXPECT_TRUE(dp.map("zs_deny_holders").lookup(&idx, &w));
    return w;
  };
  { auto dp = Datapath::load({.pin_dir = dir, .pin = true}); }
  {
    auto dp = Datapath::load({.pin_dir = dir, .pin = true});
    EXPECT_EQ(word(*dp, 0), 0u) << "a restart on its own pins";
  }
  {
    auto other = Datapath::load({.pin_dir = dir + "-other", .pin = true});
    for (Program p : {Program::xdp_ingress, Program::tc_ingress, Program::tc_egress, Program::tc_trace}) {
      const std::string path = dir + "/" + program_name(p);
      unlink(path.c_str());
      ASSERT_EQ(bpf_obj_pin(other->program_fd(p), path.c_str()), 0) << path;
    }
    other.reset();
    Datapath::unpin(dir + "-other");
  }
  {
    auto dp = Datapath::load({.pin_dir = dir, .pin = true});
    for (uint32_t i : {0u, 1u, 5000u, ZS_DENY_HOLDERS_WORDS - 1u}) EXPECT_EQ(word(*dp, i), ~uint64_t{0}) << i;
  }
  Datapath::unpin(dir);
  EXPECT_FALSE(std::filesystem::exists(dir));
}

}  // namespace
}  // namespace zeroseg::test
