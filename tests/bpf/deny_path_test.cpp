// SPDX-License-Identifier: Apache-2.0
// The deny path's shortcuts (issue 16), each tried where it could lie:
//  - the denied-flow cache fills a slot on a flow's second denial, its
//    first leaves only a tag ("seen once", bpf/lib/deny_cache.h): a flow
//    seen once, or cached, must still be judged afresh after any change;
//  - on an uplink the source check decides by the endpoint's kind itself
//    (zs_source_spoofed), with no call of zs_source_miss: every change of
//    the endpoint must be seen by the very next packet.
// One CPU throughout: the cache is per CPU.
#include <zeroseg/identity.h>

#include <bpf/libbpf.h>
#include <sched.h>

#include "datapath_fixture.h"

namespace zeroseg::test {
namespace {

using PB = PacketBuilder;
constexpr uint8_t IN = ZS_DIR_INGRESS, OUT = ZS_DIR_EGRESS;
constexpr uint32_t kSelf = 300, kPeer = 400, kCidr = 600;

// A flow of one kind, from peer to self, and self's reply.
struct FlowKind {
  std::string name;
  int family;
  uint8_t proto;
  std::string peer_ip, self_ip;
};

const FlowKind kKinds[] = {
    {"udp4", 4, 17, "10.0.2.20", "10.0.1.10"},
    {"tcp4", 4, 6, "10.0.2.20", "10.0.1.10"},
    {"icmp4", 4, 1, "10.0.2.20", "10.0.1.10"},
    {"udp6", 6, 17, "fd00:2::20", "fd00:1::10"},
    {"icmp6", 6, 58, "fd00:2::20", "fd00:1::10"},
};

std::vector<uint8_t> first(const FlowKind& k, uint16_t sport = 40000) {
  PB b = ip_header(k.family, k.peer_ip, k.self_ip);
  if (k.proto == 17) return b.udp(sport, 9).build();
  if (k.proto == 6) return b.tcp(sport, 9, PB::kSyn).build();
  return b.icmp(k.family == 4 ? 8 : 128, 0, sport).build();  // echo request
}

std::vector<uint8_t> reply(const FlowKind& k, uint16_t sport = 40000) {
  PB b = ip_header(k.family, k.self_ip, k.peer_ip);
  if (k.proto == 17) return b.udp(9, sport).build();
  if (k.proto == 6) return b.tcp(9, sport, PB::kSyn | PB::kAck).build();
  return b.icmp(k.family == 4 ? 0 : 129, 0, sport).build();  // echo reply
}

class DenyPathTest : public DatapathTest {
 protected:
  void SetUp() override {
    DatapathTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(sched_getcpu(), &set);
    sched_setaffinity(0, sizeof(set), &set);
    // no tag left by other tests' flows: a tag already there would make a
    // first denial look like a second
    const MapRef& tags = dp().map("zs_deny_cache_tags");
    std::vector<uint8_t> none((tags.value_size() + 7) / 8 * 8 * libbpf_num_possible_cpus());
    const uint32_t zero = 0;
    tags.update(&zero, none.data());
    set_endpoint(kSelf, ZS_MODE_ENFORCE, ZS_MODE_ENFORCE);
    for (const auto& k : kKinds) set_identity(k.peer_ip, kPeer);
  }
  void TearDown() override {
    cpu_set_t set;
    CPU_ZERO(&set);
    for (int i = 0; i < CPU_SETSIZE; i++) CPU_SET(i, &set);
    sched_setaffinity(0, sizeof(set), &set);
  }
  // ICMP's policy port is type << 8 | code: the rules take every port
  static RuleSpec allow(const FlowKind& k, uint32_t peer = kPeer) {
    return k.proto == 6 || k.proto == 17 ? RuleSpec{kSelf, peer, IN, k.proto, 9, 9, 1}
                                         : RuleSpec{kSelf, peer, IN, k.proto, 0, 0, 1};
  }
  static RuleSpec deny(const FlowKind& k, uint32_t peer = kPeer) {
    RuleSpec r = allow(k, peer);
    r.allow_rule = 0;
    r.deny_rule = 7;
    return r;
  }
  // Turns every policy entry's deny into an allow behind the datapath's
  // back (no new generation): a packet still denied after it was answered
  // by the denied-flow cache, one that passes was judged.
  void deny_to_allow_behind_the_back() {
    const MapRef& policy = dp().map("zs_policy");
    for (auto& key : policy.keys()) {
      zs_policy_value v{};
      ASSERT_TRUE(policy.lookup(key.data(), &v));
      zs_policy_entry& e = v.slot[dp().active_slot()];
      if (!e.deny_rule) continue;
      e.deny_rule = 0;
      e.allow_rule = 1;
      policy.update(key.data(), &v);
    }
    dp().clear_memos();  // the policy's own answers: judged again
  }
  uint64_t denied_in() { return counter(ZS_CTR_VERDICT(ZS_VERDICT_DENIED, IN)); }
};

// A flow denied once has no slot yet: its next packet is judged (here
// against an allow put in behind the datapath's back, so it passes). From
// its second denial it has one: its third is answered from it. Storing on
// the first denial (a slot written per packet of a random flood) fails
// the first half.
// (Ports differ per kind: the cache's hash leaves the protocol out, so
// a TCP flow on a UDP flow's addresses and ports shares its tag.)
TEST_P(DenyPathTest, AFlowsFirstDenialFillsNoSlotItsSecondDoes) {
  uint16_t sport = 40000;
  for (const auto& k : kKinds) {
    SCOPED_TRACE(k.name);
    sport = static_cast<uint16_t>(sport + 2);
    add_rule(deny(k));
    ASSERT_FALSE(send(IN, first(k, sport)));
    deny_to_allow_behind_the_back();
    EXPECT_TRUE(send(IN, first(k, sport))) << "the first denial filled a slot";
    remove_rule(deny(k));
    add_rule(deny(k));
    ASSERT_FALSE(send(IN, first(k, sport + 1)));
    ASSERT_FALSE(send(IN, first(k, sport + 1)));
    deny_to_allow_behind_the_back();
    EXPECT_FALSE(send(IN, first(k, sport + 1))) << "the second denial filled no slot";
    remove_rule(deny(k));
  }
}

// Seen once, twice or more: after a change that allows the flow, its next
// packet passes, and so does the reply; after one that denies it again, it
// is dropped.
TEST_P(DenyPathTest, AFlowDeniedSeenOrCachedIsAllowedAtOnceAfterAChange) {
  for (int denials = 1; denials <= 3; denials++)
    for (const auto& k : kKinds) {
      SCOPED_TRACE(k.name + " denied " + std::to_string(denials) + "x");
      const uint16_t sport = static_cast<uint16_t>(41000 + denials);
      add_rule(deny(k));
      for (int i = 0; i < denials; i++) ASSERT_FALSE(send(IN, first(k, sport)));
      remove_rule(deny(k));
      add_rule(allow(k));
      EXPECT_TRUE(send(IN, first(k, sport)));
      EXPECT_TRUE(send(OUT, reply(k, sport))) << "the reply of the allowed flow";
      remove_rule(allow(k));
      dp().conntrack().clear();
      EXPECT_FALSE(send(IN, first(k, sport))) << "default deny again";
    }
}

// A flow denied under enforce, then its endpoint turned to audit: passes,
// counted as audit, whether it was seen once or cached.
TEST_P(DenyPathTest, AnAuditModeEndpointPassesAFlowDeniedBefore) {
  const FlowKind& k = kKinds[0];
  add_rule(deny(k));
  ASSERT_FALSE(send(IN, first(k, 42001)));
  ASSERT_FALSE(send(IN, first(k, 42002)));
  ASSERT_FALSE(send(IN, first(k, 42002)));
  set_endpoint(kSelf, ZS_MODE_AUDIT, ZS_MODE_ENFORCE);
  EXPECT_TRUE(send(IN, first(k, 42001)));
  EXPECT_TRUE(send(IN, first(k, 42002)));
  EXPECT_EQ(counter(ZS_CTR_VERDICT(ZS_VERDICT_AUDIT, IN)), 2u);
}

// A CIDR rule added later on the same port (a new identity for the
// source's prefix and an allow for it) is seen by the next packet.
TEST_P(DenyPathTest, ACidrRuleAddedLaterOnThatPortIsSeenAtOnce) {
  const FlowKind& k = kKinds[0];
  for (int i = 0; i < 3; i++) ASSERT_FALSE(send(IN, first(k, 43000)));
  Transaction tx(dp());
  set_identity("10.0.2.0/24", kCidr, &tx);
  add_rule(allow(k, kCidr), &tx);
  tx.commit();
  EXPECT_FALSE(send(IN, first(k, 43000))) << "the /32 still names the peer";
  set_identity("10.0.2.20/32", kCidr);
  EXPECT_TRUE(send(IN, first(k, 43000)));
}

// Quarantine as the compiler writes it: the endpoint takes the quarantine
// identity, which no allow names here. A flow allowed before, then its
// endpoint quarantined, is dropped by its next packet; released, passes.
TEST_P(DenyPathTest, AQuarantinedEndpointDropsAFlowAllowedBefore) {
  const FlowKind& k = kKinds[0];
  add_rule(allow(k));
  ASSERT_TRUE(send(IN, first(k, 44000)));
  set_endpoint(ZS_ID_QUARANTINE, ZS_MODE_ENFORCE, ZS_MODE_ENFORCE);
  EXPECT_FALSE(send(IN, first(k, 44000)));
  EXPECT_FALSE(send(IN, first(k, 44000)));
  EXPECT_FALSE(send(IN, first(k, 44000)));
  set_endpoint(kSelf, ZS_MODE_ENFORCE, ZS_MODE_ENFORCE);
  EXPECT_TRUE(send(IN, first(k, 44000)));
}

// On every arriving packet the source check reads the endpoint and, on an
// uplink, decides by it alone. Each change below (mode, identity,
// removal) must decide the very next packet, on an uplink with no local
// workload addresses (no zs_sources probe: the endpoint is the source
// check's only read) and with one.
TEST_P(DenyPathTest, EveryChangeOfTheEndpointDecidesTheNextArrivingPacket) {
  const FlowKind& k = kKinds[0];
  for (bool local : {false, true}) {
    SCOPED_TRACE(local ? "with a local workload address" : "no local address");
    if (local) {
      Transaction tx(dp());
      tx.set_source(Transaction::source_key(kIfindex, *IpAddr::parse("10.0.9.9")), ZS_SOURCE_LOCAL);
      tx.commit();
    }
    set_endpoint(kSelf, ZS_MODE_ENFORCE, ZS_MODE_ENFORCE);
    add_rule(deny(k));
    for (int i = 0; i < 3; i++) ASSERT_FALSE(send(IN, first(k, 45000)));
    set_endpoint(kSelf, ZS_MODE_OFF, ZS_MODE_ENFORCE);
    EXPECT_TRUE(send(IN, first(k, 45000))) << "mode off";
    set_endpoint(kSelf, ZS_MODE_ENFORCE, ZS_MODE_ENFORCE);
    EXPECT_FALSE(send(IN, first(k, 45000))) << "enforce again";
    set_endpoint(kPeer, ZS_MODE_ENFORCE, ZS_MODE_ENFORCE);
    add_rule({kPeer, kPeer, IN, k.proto, 9, 9, 2});
    EXPECT_TRUE(send(IN, first(k, 45000))) << "another identity, whose rule allows";
    remove_rule({kPeer, kPeer, IN, k.proto, 9, 9, 2});
    {
      Transaction tx(dp());
      tx.remove_endpoint(kIfindex);
      tx.commit();
    }
    uint64_t unmanaged = counter(ZS_CTR_VERDICT(ZS_VERDICT_UNMANAGED, 0));
    EXPECT_TRUE(send(IN, first(k, 45001))) << "no endpoint: unmanaged";
    EXPECT_EQ(counter(ZS_CTR_VERDICT(ZS_VERDICT_UNMANAGED, 0)), unmanaged + 1);
    remove_rule(deny(k));
  }
}

// On the XDP uplink: a source that is a local workload's address is
// dropped as uplink-spoofed before any policy; turned into a workload
// interface (no allowed source prefix covering the source), the next
// packet is dropped as spoofed-source instead; back to an uplink, the
// policy decides. The kind is the source check's own read.
TEST_P(DenyPathTest, TheSourceCheckJudgesByTheEndpointsCurrentKind) {
  if (GetParam() != Variant::xdp_host) GTEST_SKIP() << "the XDP uplink's case; the variant changes nothing";
  const FlowKind& k = kKinds[0];
  Transaction tx(dp());
  for (auto& [key, v] : dp().source_prefixes().entries()) tx.remove_source_prefix(key);
  tx.set_source(Transaction::source_key(kIfindex, *IpAddr::parse("10.0.9.9")), ZS_SOURCE_LOCAL);
  tx.set_source_prefix(Transaction::source_prefix_key(kIfindex, *Prefix::parse("10.0.9.0/24")));
  add_rule(allow(k), &tx);
  tx.commit();
  auto host = [&](zs_attach_kind kind) {
    zs_endpoint ep{};
    ep.identity = kSelf;
    ep.kind = static_cast<uint8_t>(kind);
    ep.mode[IN] = ep.mode[OUT] = ZS_MODE_ENFORCE;
    Transaction t(dp());
    t.set_endpoint(kIfindex, ep);
    t.commit();
  };
  auto arrive = [&](const std::string& src) {
    Program p = Program::xdp_ingress;
    auto pkt = PB().eth().ipv4(src, k.self_ip).udp(40000, 9).build();
    return test_run_passed(p, test_run(dp().program_fd(p), p, pkt, kIfindex).retval);
  };
  host(ZS_ATTACH_HOST);
  EXPECT_FALSE(arrive("10.0.9.9")) << "a local workload's address from outside";
  EXPECT_TRUE(arrive(k.peer_ip)) << "the policy allows the peer";
  EXPECT_EQ(counter(ZS_CTR_REASON(ZS_REASON_UPLINK_SPOOFED_SOURCE)), 1u);
  host(ZS_ATTACH_WORKLOAD);
  EXPECT_FALSE(arrive(k.peer_ip)) << "a workload sending from no source of its own";
  EXPECT_EQ(counter(ZS_CTR_REASON(ZS_REASON_SPOOFED_SOURCE)), 1u);
  host(ZS_ATTACH_HOST);
  EXPECT_TRUE(arrive(k.peer_ip)) << "an uplink again";
  EXPECT_EQ(counter(ZS_CTR_REASON(ZS_REASON_SPOOFED_SOURCE)), 1u);
}

INSTANTIATE_TEST_SUITE_P(Hooks, DenyPathTest, testing::Values(Variant::xdp_host, Variant::tc_workload),
                         variant_name);

}  // namespace
}  // namespace zeroseg::test
