// SPDX-License-Identifier: Apache-2.0
// Datapath behaviour beyond single verdicts: audit mode, policy revisions
// cutting established flows, rule expiry, malformed packets and their
// reasons, events and their rate limit, and transaction failures.
#include <arpa/inet.h>
#include <bpf/libbpf.h>
#include <zeroseg/event.h>
#include <zeroseg/identity.h>

#include <chrono>
#include <cstring>
#include <thread>

#include "common/error.h"
#include "common/time.h"
#include "datapath_fixture.h"

namespace zeroseg::test {
namespace {

using PB = PacketBuilder;
constexpr uint8_t IN = ZS_DIR_INGRESS, OUT = ZS_DIR_EGRESS;
constexpr uint32_t kSelf = 300, kPeer = 400;
const std::string kSelfIp = "10.0.1.10", kPeerIp = "10.0.2.20";

std::vector<uint8_t> syn_in(uint16_t dport, uint16_t sport = 40000) {
  return PB().eth().ipv4(kPeerIp, kSelfIp).tcp(sport, dport, PB::kSyn).build();
}
std::vector<uint8_t> ack_in(uint16_t dport, uint16_t sport = 40000) {
  return PB().eth().ipv4(kPeerIp, kSelfIp).tcp(sport, dport, PB::kAck).build();
}

class BehaviourTest : public DatapathTest {
 protected:
  void SetUp() override {
    DatapathTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    set_endpoint(kSelf, ZS_MODE_ENFORCE, ZS_MODE_ENFORCE);
    set_identity(kPeerIp, kPeer);
  }
  RuleSpec http(uint64_t expires = 0) { return {kSelf, kPeer, IN, 6, 80, 80, 1, 0, expires}; }

  // Events in the ring buffer, drained.
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
};

TEST_P(BehaviourTest, AuditModePassesAndCounts) {
  set_endpoint(kSelf, ZS_MODE_AUDIT, ZS_MODE_ENFORCE);
  drain_events();
  EXPECT_TRUE(send(IN, syn_in(81)));
  EXPECT_EQ(counter(ZS_CTR_VERDICT(ZS_VERDICT_AUDIT, IN)), 1u);
  EXPECT_EQ(counter(ZS_CTR_REASON(ZS_REASON_DEFAULT_DENY)), 1u);
  EXPECT_EQ(counter(ZS_CTR_VERDICT(ZS_VERDICT_DENIED, IN)), 0u);
  // later packets of the audited flow are audited too, without new events
  EXPECT_TRUE(send(IN, ack_in(81)));
  EXPECT_EQ(counter(ZS_CTR_VERDICT(ZS_VERDICT_AUDIT, IN)), 2u);
  auto events = drain_events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].type, ZS_EVENT_FLOW_NEW);
  EXPECT_EQ(events[0].verdict, ZS_VERDICT_AUDIT);
  EXPECT_EQ(events[0].reason, ZS_REASON_DEFAULT_DENY);
  // the other direction still enforces
  EXPECT_FALSE(send(OUT, PB().eth().ipv4(kSelfIp, kPeerIp).tcp(40000, 22).build()));
}

TEST_P(BehaviourTest, AuditDenyRuleReportsWithoutDropping) {
  add_rule(http());
  add_rule({kSelf, kPeer, IN, 6, 80, 80, 0, 9, 0, /*audit=*/true});
  drain_events();
  EXPECT_TRUE(send(IN, syn_in(80)));
  auto events = drain_events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].verdict, ZS_VERDICT_AUDIT);
  EXPECT_EQ(events[0].rule_id, 9u);
}

TEST_P(BehaviourTest, RevisionBumpRejudgesEstablishedFlows) {
  add_rule(http());
  ASSERT_TRUE(send(IN, syn_in(80)));
  ASSERT_TRUE(send(IN, ack_in(80)));

  // an unrelated change: the flow is re-judged, and still allowed
  uint64_t before = dp().generation();
  set_identity("192.0.2.0/24", 777);
  EXPECT_GT(dp().generation(), before);
  EXPECT_TRUE(send(IN, ack_in(80)));
  EXPECT_EQ(counter(ZS_CTR_CT_REJUDGED), 1u);
  EXPECT_EQ(counter(ZS_CTR_CT_REVOKED), 0u);

  // revoking the rule cuts the established flow at its next packet
  drain_events();
  remove_rule(http());
  EXPECT_FALSE(send(IN, ack_in(80)));
  EXPECT_EQ(counter(ZS_CTR_CT_REVOKED), 1u);
  auto events = drain_events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].type, ZS_EVENT_REVOKED);
  // and its replies are cut as well
  EXPECT_FALSE(send(OUT, PB().eth().ipv4(kSelfIp, kPeerIp).tcp(80, 40000, PB::kAck).build()));
}

TEST_P(BehaviourTest, ExpiredRuleStopsMatching) {
  uint64_t past = realtime_to_tai_ns(realtime_now_ns() - 1'000'000'000);
  add_rule(http(past));
  EXPECT_FALSE(send(IN, syn_in(80)));
  EXPECT_EQ(counter(ZS_CTR_REASON(ZS_REASON_DEFAULT_DENY)), 1u);
}

TEST_P(BehaviourTest, ExpiryClosesAnEstablishedFlowInTheKernel) {
  uint64_t soon = realtime_to_tai_ns(realtime_now_ns() + 300'000'000);
  add_rule(http(soon));
  ASSERT_TRUE(send(IN, syn_in(80)));
  ASSERT_TRUE(send(IN, ack_in(80)));
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  // no agent action in between: the kernel compares against CLOCK_TAI
  EXPECT_FALSE(send(IN, ack_in(80)));
  EXPECT_FALSE(send(IN, syn_in(80, 40001)));
}

TEST_P(BehaviourTest, LongestLivedAllowWins) {
  uint64_t past = realtime_to_tai_ns(realtime_now_ns() - 1'000'000'000);
  add_rule(http(past));
  add_rule({kSelf, ZS_ID_ANY, IN, 6, 80, 80, 2});  // a wildcard allow, no expiry
  EXPECT_TRUE(send(IN, syn_in(80)));
}

TEST_P(BehaviourTest, ModeOffPassesAndTracks) {
  set_endpoint(kSelf, ZS_MODE_ENFORCE, ZS_MODE_OFF);
  // egress is unrestricted, and its replies come back through enforcing ingress
  EXPECT_TRUE(send(OUT, PB().eth().ipv4(kSelfIp, kPeerIp).tcp(40000, 22).build()));
  EXPECT_TRUE(send(IN, PB().eth().ipv4(kPeerIp, kSelfIp).tcp(22, 40000, PB::kSyn | PB::kAck).build()));
  EXPECT_FALSE(send(IN, syn_in(22)));
}

TEST_P(BehaviourTest, UnmanagedInterfacePasses) {
  Transaction tx(dp());
  tx.remove_endpoint(kIfindex);
  tx.commit();
  EXPECT_TRUE(send(IN, syn_in(81)));
  EXPECT_EQ(counter(ZS_CTR_VERDICT(ZS_VERDICT_UNMANAGED, 0)), 1u);
}

TEST_P(BehaviourTest, DenyEventsAreRateLimitedPerSource) {
  drain_events();
  const int burst = static_cast<int>(dp().config().deny_events_burst);
  for (int i = 0; i < burst + 50; i++) EXPECT_FALSE(send(IN, syn_in(81, static_cast<uint16_t>(10000 + i))));
  auto events = drain_events();
  // the burst, plus what refilled while the loop ran (at most a few)
  EXPECT_GE(events.size(), static_cast<size_t>(burst));
  EXPECT_LT(events.size(), static_cast<size_t>(burst + 10));
  uint64_t suppressed = counter(ZS_CTR_EVENTS_SUPPRESSED);
  EXPECT_EQ(events.size() + suppressed, static_cast<size_t>(burst + 50));
  for (const auto& e : events) {
    EXPECT_EQ(e.type, ZS_EVENT_DENY);
    EXPECT_EQ(e.reason, ZS_REASON_DEFAULT_DENY);
    EXPECT_EQ(e.subject, kSelf);
    EXPECT_EQ(e.peer, kPeer);
  }
}

TEST_P(BehaviourTest, NewFlowEventNamesRuleAndIdentities) {
  add_rule(http());
  drain_events();
  ASSERT_TRUE(send(IN, syn_in(80)));
  ASSERT_TRUE(send(IN, ack_in(80)));  // established: no second event
  auto events = drain_events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].type, ZS_EVENT_FLOW_NEW);
  EXPECT_EQ(events[0].verdict, ZS_VERDICT_ALLOWED);
  EXPECT_EQ(events[0].rule_id, 1u);
  EXPECT_EQ(events[0].subject, kSelf);
  EXPECT_EQ(events[0].peer, kPeer);
  EXPECT_EQ(events[0].direction, IN);
  EXPECT_EQ(ntohs(events[0].tuple.dport), 80);
  EXPECT_EQ(events[0].tcp_flags, PB::kSyn);
}

TEST_P(BehaviourTest, ConntrackCountsBothDirections) {
  add_rule(http());
  ASSERT_TRUE(send(IN, syn_in(80)));
  ASSERT_TRUE(send(OUT, PB().eth().ipv4(kSelfIp, kPeerIp).tcp(80, 40000, PB::kSyn | PB::kAck).build()));
  ASSERT_TRUE(send(IN, PB().eth().ipv4(kPeerIp, kSelfIp).tcp(40000, 80, PB::kAck).payload(100).build()));
  auto flows = dp().conntrack().entries();
  ASSERT_EQ(flows.size(), 1u);
  const zs_ct_entry& ct = flows[0].second;
  EXPECT_EQ(ct.packets[0], 2u);
  EXPECT_EQ(ct.packets[1], 1u);
  EXPECT_EQ(ct.tcp_flags[0], PB::kSyn | PB::kAck);
  EXPECT_EQ(ct.tcp_flags[1], PB::kSyn | PB::kAck);
  EXPECT_EQ(ct.rule_id, 1u);
  EXPECT_EQ(ct.direction, IN);
}

TEST_P(BehaviourTest, EstablishedPacketsCountInTheirOwnDirection) {
  // the established path finds the direction from the flow, not the endpoint
  add_rule(http());
  ASSERT_TRUE(send(IN, syn_in(80)));
  ASSERT_TRUE(send(OUT, PB().eth().ipv4(kSelfIp, kPeerIp).tcp(80, 40000, PB::kSyn | PB::kAck).build()));
  ASSERT_TRUE(send(IN, ack_in(80)));
  ASSERT_TRUE(send(OUT, PB().eth().ipv4(kSelfIp, kPeerIp).tcp(80, 40000, PB::kAck).build()));
  ASSERT_TRUE(send(OUT, PB().eth().ipv4(kSelfIp, kPeerIp).tcp(80, 40000, PB::kAck).build()));
  EXPECT_EQ(counter(ZS_CTR_VERDICT(ZS_VERDICT_ALLOWED, IN)), 2u);
  EXPECT_EQ(counter(ZS_CTR_VERDICT(ZS_VERDICT_ALLOWED, OUT)), 3u);
}

TEST_P(BehaviourTest, EndpointChangeRejudgesEstablishedFlows) {
  add_rule(http());
  ASSERT_TRUE(send(IN, syn_in(80)));
  ASSERT_TRUE(send(IN, ack_in(80)));
  // the interface now fronts another identity, which nothing allows
  set_endpoint(kSelf + 1, ZS_MODE_ENFORCE, ZS_MODE_ENFORCE);
  EXPECT_FALSE(send(IN, ack_in(80)));
  EXPECT_EQ(counter(ZS_CTR_CT_REVOKED), 1u);

  // an interface that stops being managed passes its flows as unmanaged
  set_endpoint(kSelf, ZS_MODE_ENFORCE, ZS_MODE_ENFORCE);
  ASSERT_TRUE(send(IN, syn_in(80, 40001)));
  Transaction tx(dp());
  tx.remove_endpoint(kIfindex);
  tx.commit();
  uint64_t unmanaged = counter(ZS_CTR_VERDICT(ZS_VERDICT_UNMANAGED, 0));
  EXPECT_TRUE(send(IN, ack_in(80, 40001)));
  EXPECT_EQ(counter(ZS_CTR_VERDICT(ZS_VERDICT_UNMANAGED, 0)), unmanaged + 1);
}

TEST_P(BehaviourTest, IdleFlowsTimeOutAndBusyOnesMoveTheirClock) {
  const zs_config saved = dp().config();
  dp().set_ct_timeouts(1, 1, 1, 1, 1);  // the flow below is half open (SYN, ACK back)
  add_rule(http());
  auto reply = PB().eth().ipv4(kSelfIp, kPeerIp).tcp(80, 40000, PB::kAck).build();
  ASSERT_TRUE(send(IN, syn_in(80)));
  ASSERT_TRUE(send(OUT, reply));

  // a packet more than a tick later moves the flow's last_seen_ns (the
  // established path reads the clock only when jiffies have moved)
  auto last_seen = [&] {
    auto flows = dp().conntrack().entries();
    return flows.size() == 1 ? flows[0].second.last_seen_ns : 0;
  };
  uint64_t before = last_seen();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ASSERT_TRUE(send(OUT, reply));
  EXPECT_GE(last_seen(), before + 30'000'000);

  // idle past the timeout: the reply is a new flow of its own, and no
  // egress rule opens it
  std::this_thread::sleep_for(std::chrono::milliseconds(1300));
  EXPECT_FALSE(send(OUT, reply));
  dp().set_ct_timeouts(saved.ct_timeout_tcp, saved.ct_timeout_tcp_closing, saved.ct_timeout_other,
                       saved.ct_timeout_tcp_syn_sent, saved.ct_timeout_tcp_syn_recv);
}

TEST_P(BehaviourTest, FlowsAreKeptByFamily) {
  set_identity("fd00::2/128", kPeer);
  add_rule(http());
  ASSERT_TRUE(send(IN, syn_in(80)));
  ASSERT_TRUE(send(IN, PB().eth().ipv6("fd00::2", "fd00::1").tcp(40000, 80, PB::kSyn).build()));
  ConntrackMap ct = dp().conntrack();
  EXPECT_EQ(ct.v4().count(), 1u);
  EXPECT_EQ(ct.v6().count(), 1u);

  // the view names both by zs_ct_key, and finds and removes them by it
  auto flows = ct.entries();
  ASSERT_EQ(flows.size(), 2u);
  for (const auto& [key, entry] : flows) {
    zs_ct_entry found{};
    ASSERT_TRUE(ct.lookup(key, &found));
    EXPECT_EQ(found.created_ns, entry.created_ns);
    EXPECT_EQ(ntohs(key.tuple.dport), 80);
    EXPECT_TRUE(ct.remove(key));
  }
  EXPECT_EQ(ct.entries().size(), 0u);
}

// --- malformed packets: each layer, dropped under enforce, counted ----------

struct Malformed {
  const char* name;
  std::vector<uint8_t> packet;
  uint8_t reason;
};

std::vector<uint8_t> truncate(std::vector<uint8_t> p, size_t n) {
  p.resize(n);
  return p;
}

std::vector<uint8_t> patch(std::vector<uint8_t> p, size_t at, uint8_t v) {
  p[at] = v;
  return p;
}

std::vector<Malformed> malformed_cases() {
  auto tcp4 = PB().eth().ipv4(kPeerIp, kSelfIp).tcp(40000, 80).build();
  auto udp4 = PB().eth().ipv4(kPeerIp, kSelfIp).udp(40000, 53).build();
  auto icmp4 = PB().eth().ipv4(kPeerIp, kSelfIp).icmp(8, 0).build();
  auto sctp4 = PB().eth().ipv4(kPeerIp, kSelfIp).sctp(1, 2).build();
  auto tcp6 = PB().eth().ipv6("fd00::2", "fd00::1").tcp(40000, 80).build();
  auto ext6 = PB().eth().ipv6("fd00::2", "fd00::1").ipv6_ext(0, 2).tcp(40000, 80).build();
  PB many;
  many.eth().ipv6("fd00::2", "fd00::1");
  for (int i = 0; i < 9; i++) many.ipv6_ext(60);
  auto qinq3 = PB().eth().vlan(1, 0x88a8).vlan(2).vlan(3).ipv4(kPeerIp, kSelfIp).tcp(1, 80).build();
  return {
      {"VLAN header cut short", truncate(PB().eth().vlan(5).ipv4(kPeerIp, kSelfIp).build(), 16), ZS_REASON_MALFORMED_L2},
      {"three VLAN tags", qinq3, ZS_REASON_VLAN_LIMIT},
      {"IPv4 header cut short", truncate(tcp4, 14 + 12), ZS_REASON_MALFORMED_IPV4},
      {"IPv4 IHL below 5", patch(tcp4, 14, 0x44), ZS_REASON_MALFORMED_IPV4},
      {"IPv4 IHL beyond the packet", patch(truncate(tcp4, 14 + 24), 14, 0x4f), ZS_REASON_MALFORMED_IPV4},
      {"IPv4 version 6 in an IPv4 frame", patch(tcp4, 14, 0x65), ZS_REASON_MALFORMED_IPV4},
      {"IPv4 total length below the header", patch(patch(tcp4, 16, 0), 17, 10), ZS_REASON_MALFORMED_IPV4},
      {"TCP header cut short", truncate(tcp4, 14 + 20 + 10), ZS_REASON_MALFORMED_L4},
      {"TCP data offset below 5", patch(tcp4, 14 + 20 + 12, 0x40), ZS_REASON_MALFORMED_L4},
      {"UDP header cut short", truncate(udp4, 14 + 20 + 6), ZS_REASON_MALFORMED_L4},
      {"ICMP header cut short", truncate(icmp4, 14 + 20 + 3), ZS_REASON_MALFORMED_L4},
      {"SCTP header cut short", truncate(sctp4, 14 + 20 + 8), ZS_REASON_MALFORMED_L4},
      {"IPv6 header cut short", truncate(tcp6, 14 + 30), ZS_REASON_MALFORMED_IPV6},
      {"IPv6 extension header cut short", truncate(ext6, 14 + 40 + 12), ZS_REASON_MALFORMED_IPV6},
      {"IPv6 more extension headers than walked", many.tcp(1, 80).build(), ZS_REASON_IPV6_EXT_LIMIT},
      {"TCP over IPv6 cut short", truncate(tcp6, 14 + 40 + 8), ZS_REASON_MALFORMED_L4},
  };
}

TEST_P(BehaviourTest, MalformedPacketsAreDroppedWithAReason) {
  add_rule({kSelf, ZS_ID_ANY, IN, 0, 0, 0, 1});  // even allow-all cannot judge them
  for (const auto& m : malformed_cases()) {
    SCOPED_TRACE(m.name);
    if (!testable(IN, m.packet)) continue;
    uint64_t before = counter(ZS_CTR_REASON(m.reason));
    EXPECT_FALSE(send(IN, m.packet));
    EXPECT_EQ(counter(ZS_CTR_REASON(m.reason)), before + 1);
  }
}

TEST_P(BehaviourTest, MalformedPacketsPassInAuditModeAndAreCounted) {
  set_endpoint(kSelf, ZS_MODE_AUDIT, ZS_MODE_AUDIT);
  for (const auto& m : malformed_cases()) {
    SCOPED_TRACE(m.name);
    if (!testable(IN, m.packet)) continue;
    uint64_t before = counter(ZS_CTR_REASON(m.reason));
    EXPECT_TRUE(send(IN, m.packet));
    EXPECT_EQ(counter(ZS_CTR_REASON(m.reason)), before + 1);
  }
}

// --- transactions -----------------------------------------------------------

TEST_P(BehaviourTest, ReservedIdentityZeroIsRefused) {
  Transaction tx(dp());
  EXPECT_THROW(tx.set_identity(*Prefix::parse("10.9.9.9"), 0), Error);
  EXPECT_THROW(tx.set_endpoint(5, zs_endpoint{}), Error);
}

TEST_P(BehaviourTest, TooManyPrefixLengthsFailsWholeAndKeepsOldState) {
  add_rule(http());
  uint64_t gen = dp().generation();
  size_t ipcache_before = dp().ipcache().entries().size();
  Transaction tx(dp());
  for (int len = 8; len <= 32; len++) tx.set_identity(*Prefix::parse("172.16.0.0/" + std::to_string(len)), 900);
  EXPECT_THROW(tx.commit(), Error);
  EXPECT_EQ(dp().generation(), gen);
  EXPECT_EQ(dp().ipcache().entries().size(), ipcache_before);
  EXPECT_TRUE(send(IN, syn_in(80)));  // what was enforced still is
  EXPECT_FALSE(send(IN, syn_in(81)));
}

TEST_P(BehaviourTest, SlotsAreLevelOnceSettled) {
  add_rule(http());
  // a commit returns at its flip: packets see the new state at once, and
  // the retired slot catches up after an RCU grace period (settle)
  EXPECT_FALSE(dp().settled());
  EXPECT_TRUE(send(IN, syn_in(80)));
  dp().settle();
  EXPECT_TRUE(dp().settled());
  for (auto& [k, v] : dp().policy().entries())
    EXPECT_EQ(std::memcmp(&v.slot[0], &v.slot[1], sizeof(v.slot[0])), 0);
  for (auto& [k, v] : dp().ipcache().entries()) EXPECT_EQ(v.identity[0], v.identity[1]);
  remove_rule(http());
  dp().settle();
  EXPECT_TRUE(dp().policy().entries().empty());
}

INSTANTIATE_TEST_SUITE_P(Hooks, BehaviourTest, testing::Values(Variant::xdp_host, Variant::tc_workload),
                         variant_name);

}  // namespace
}  // namespace zeroseg::test

namespace zeroseg::test {
namespace {

TEST(CapacityTest, FullMapFailsWithNumbersAndChangesNothing) {
  ZS_REQUIRE_PRIVILEGED();
  MapSizes sizes;
  sizes.policy = 4;
  auto dp = Datapath::load({.sizes = sizes, .pin = false});
  zs_policy_key k{};
  k.subject = 300;
  k.proto = 6;
  k.port_plen = 16;
  zs_policy_entry e{};
  e.allow_rule = 1;
  {
    Transaction tx(*dp);
    for (uint16_t port = 1; port <= 3; port++) {
      k.port = port;
      tx.set_rule(k, e);
    }
    tx.commit();
  }
  uint64_t gen = dp->generation();
  Transaction tx(*dp);
  for (uint16_t port = 10; port < 13; port++) {
    k.port = port;
    tx.set_rule(k, e);
  }
  try {
    tx.commit();
    FAIL() << "commit over capacity succeeded";
  } catch (const Error& err) {
    EXPECT_STREQ(err.what(), "map zs_policy would need 6 entries, its capacity is 4: nothing was changed");
  }
  EXPECT_EQ(dp->generation(), gen);
  EXPECT_EQ(dp->policy().entries().size(), 3u);
}

}  // namespace
}  // namespace zeroseg::test
