// SPDX-License-Identifier: Apache-2.0
// A second attack review of source validation (bpf/lib/source_check.h) and
// per-endpoint conntrack shares (zs_ct_share_take): a workload that wants to
// borrow another's address, or to starve another endpoint of conntrack.
// DISABLED_ tests are holes found here and not fixed yet: each fails now
// and says what the fix is.
#include <zeroseg/identity.h>

#include <map>

#include "datapath_fixture.h"

namespace zeroseg::test {
namespace {

using PB = PacketBuilder;
constexpr uint8_t IN = ZS_DIR_INGRESS, OUT = ZS_DIR_EGRESS;
constexpr uint32_t kSelf = 300, kPeer = 301, kOther = 302;

struct Family {
  int family;
  std::string self, peer, other;
};
const Family kV4{4, "10.0.1.10", "10.0.2.20", "10.0.3.30"};
const Family kV6{6, "fd00:1::10", "fd00:2::20", "fd00:3::30"};

PB ip(int family, const std::string& src, const std::string& dst) { return ip_header(family, src, dst); }

class AttackReview2Test : public DatapathTest {
 protected:
  void TearDown() override {
    if (dp_) dp().set_ct_endpoint_share(ZS_DEFAULT_CT_ENDPOINT_PERCENT);
  }
  // The endpoint on kIfindex with exactly these sources (no "any source"
  // prefixes of the fixture); peer and other known to the ipcache.
  void setup(zs_attach_kind kind, uint8_t mode, const std::vector<std::string>& own,
             const std::vector<std::string>& local = {}) {
    Transaction tx(dp());
    for (auto& [k, v] : dp().source_prefixes().entries()) tx.remove_source_prefix(k);
    zs_endpoint ep{};
    ep.identity = kind == ZS_ATTACH_HOST ? uint32_t{ZS_ID_HOST} : kSelf;
    ep.kind = static_cast<uint8_t>(kind);
    ep.mode[ZS_DIR_INGRESS] = ep.mode[ZS_DIR_EGRESS] = mode;
    tx.set_endpoint(kIfindex, ep);
    for (const auto& f : {kV4, kV6}) {
      tx.set_identity(*Prefix::parse(f.self), kSelf);
      tx.set_identity(*Prefix::parse(f.peer), kPeer);
      tx.set_identity(*Prefix::parse(f.other), kOther);
    }
    for (const auto& a : own) tx.set_source(Transaction::source_key(kIfindex, *IpAddr::parse(a)), ZS_SOURCE_OWN);
    for (const auto& a : local)
      tx.set_source(Transaction::source_key(kIfindex, *IpAddr::parse(a)), ZS_SOURCE_LOCAL);
    tx.commit();
  }
  // A packet leaving a workload (arriving on its veth), or arriving on an
  // uplink from outside: tc ingress or XDP.
  bool arrives(Program p, const std::vector<uint8_t>& packet) {
    return test_run_passed(p, test_run(dp().program_fd(p), p, packet, kIfindex).retval);
  }
  uint64_t reason(uint8_t r) { return counter(ZS_CTR_REASON(r)); }
};

constexpr Program kArrivals[] = {Program::tc_ingress, Program::xdp_ingress};

// Packets the parser gives up on after the IP header (a cut L4 header, an
// extension chain past the walk or cut short, a header length below 20)
// and a later fragment, from src to dst: each with what zs_unjudgeable
// (or the fragment lookup) says of it.
struct Unjudgeable {
  std::string what;
  std::vector<uint8_t> packet;
};
std::vector<Unjudgeable> unjudgeable(const Family& f, const std::string& src, const std::string& dst) {
  const std::string v = "IPv" + std::to_string(f.family) + " ";
  std::vector<Unjudgeable> out;
  const std::vector<std::pair<uint8_t, std::string>> cut = {{6, "cut TCP"}, {17, "cut UDP"},
                                                            {static_cast<uint8_t>(f.family == 4 ? 1 : 58), "cut ICMP"}};
  for (const auto& [proto, name] : cut) out.push_back({v + name, ip(f.family, src, dst).proto(proto).payload(4).build()});
  out.push_back({v + "later fragment", ip(f.family, src, dst).fragment(72, false, 99).payload(64).build()});
  if (f.family == 6) {
    PB deep = ip(6, src, dst);
    for (int i = 0; i < 9; i++) deep.ipv6_ext(60);
    out.push_back({v + "nine extension headers", deep.udp(5353, 53).payload(64).build()});
    out.push_back({v + "cut extension header", ip(6, src, dst).proto(60).payload(4).build()});
  } else {
    std::vector<uint8_t> short_header = ip(4, src, dst).udp(5353, 53).payload(16).build();
    short_header[14] = 0x44;  // version 4, header length 16 bytes
    out.push_back({v + "header length below 20", short_header});
  }
  return out;
}

// Was a hole: the source check ran only on packets the parser could judge
// (zs_datapath: rc == ZS_PARSE_IP). A packet it cannot judge (more IPv6
// extension headers than it walks, a cut TCP header) skipped the check
// and went to zs_unjudgeable, which passes it where the egress mode is
// audit or off: a workload in audit or off sent from any address it
// liked, other workloads' included, with a payload behind the ninth
// extension header (the kernel forwards such a packet; only the datapath
// gives up on it). Now the parser reads the addresses before anything
// else, and every packet whose addresses were read is checked.
TEST_P(AttackReview2Test, AnUnjudgeablePacketFromAnotherWorkloadsAddressIsDroppedInEveryMode) {
  for (uint8_t mode : {ZS_MODE_OFF, ZS_MODE_AUDIT, ZS_MODE_ENFORCE}) {
    setup(ZS_ATTACH_WORKLOAD, mode, {kV4.self, kV6.self});
    for (const Family* f : {&kV4, &kV6})
      for (const auto& [what, packet] : unjudgeable(*f, f->other, f->peer))
        for (Program p : kArrivals) {
          SCOPED_TRACE("mode " + std::to_string(mode) + (p == Program::xdp_ingress ? " xdp " : " tc ") + what);
          uint64_t before = reason(ZS_REASON_SPOOFED_SOURCE);
          EXPECT_FALSE(arrives(p, packet));
          EXPECT_EQ(reason(ZS_REASON_SPOOFED_SOURCE), before + 1);
        }
  }
}

// Held: the same unjudgeable packets from the workload's own address are
// what zs_unjudgeable says (pins that the test above is about the source):
// passed in audit and off, dropped under enforce, never as spoofed.
TEST_P(AttackReview2Test, AnUnjudgeablePacketFromAnOwnAddressPassesUnlessEnforced) {
  for (uint8_t mode : {ZS_MODE_OFF, ZS_MODE_AUDIT, ZS_MODE_ENFORCE}) {
    setup(ZS_ATTACH_WORKLOAD, mode, {kV4.self, kV6.self});
    for (const Family* f : {&kV4, &kV6})
      for (const auto& [what, packet] : unjudgeable(*f, f->self, f->peer))
        for (Program p : kArrivals) {
          SCOPED_TRACE("mode " + std::to_string(mode) + (p == Program::xdp_ingress ? " xdp " : " tc ") + what);
          uint64_t before = reason(ZS_REASON_SPOOFED_SOURCE);
          EXPECT_EQ(arrives(p, packet), mode != ZS_MODE_ENFORCE);
          EXPECT_EQ(reason(ZS_REASON_SPOOFED_SOURCE), before);
        }
  }
}

// Held: a VLAN tag does not hide the source (the parser walks two tags).
TEST_P(AttackReview2Test, AVlanTaggedPacketFromAnotherSourceIsSpoofed) {
  setup(ZS_ATTACH_WORKLOAD, ZS_MODE_OFF, {kV4.self, kV6.self});
  for (Program p : kArrivals) {
    uint64_t before = reason(ZS_REASON_SPOOFED_SOURCE);
    PB one, two;
    one.eth().vlan(10).ipv4(kV4.other, kV4.peer).udp(5353, 53);
    two.eth().vlan(10, 0x88a8).vlan(20).ipv6(kV6.other, kV6.peer).udp(5353, 53);
    EXPECT_FALSE(arrives(p, one.build()));
    EXPECT_FALSE(arrives(p, two.build()));
    EXPECT_EQ(reason(ZS_REASON_SPOOFED_SOURCE), before + 2);
  }
}

// Held: an IPv4-mapped IPv6 source (::ffff:a.b.c.d) of another workload
// is no own address (the sources map keys IPv4 as family 4): spoofed.
TEST_P(AttackReview2Test, AnIpv4MappedSourceOfAnotherWorkloadIsSpoofed) {
  setup(ZS_ATTACH_WORKLOAD, ZS_MODE_OFF, {kV4.self, kV6.self});
  for (const std::string& src : {"::ffff:" + kV4.other, "::ffff:" + kV4.self}) {
    SCOPED_TRACE(src);
    for (Program p : kArrivals) {
      uint64_t before = reason(ZS_REASON_SPOOFED_SOURCE);
      EXPECT_FALSE(arrives(p, ip(6, src, kV6.peer).udp(5353, 53).build()));
      EXPECT_EQ(reason(ZS_REASON_SPOOFED_SOURCE), before + 1);
    }
  }
}

// Held: from outside, a local workload's IPv4 address dressed as
// ::ffff:a.b.c.d passes the uplink's check (no IPv6 entry) but is judged
// as world, not as the workload: a rule for the workload does not admit it.
TEST_P(AttackReview2Test, AnIpv4MappedLocalAddressOnAnUplinkIsJudgedAsWorld) {
  setup(ZS_ATTACH_HOST, ZS_MODE_ENFORCE, {}, {kV4.self, kV6.self});
  add_rule({ZS_ID_HOST, kSelf, IN, 17, 0, 0, 7});
  for (Program p : kArrivals) {
    SCOPED_TRACE(p == Program::xdp_ingress ? "xdp" : "tc");
    uint64_t before = reason(ZS_REASON_UPLINK_SPOOFED_SOURCE);
    EXPECT_FALSE(arrives(p, ip(4, kV4.self, kV4.peer).udp(5353, 53).build()));
    EXPECT_EQ(reason(ZS_REASON_UPLINK_SPOOFED_SOURCE), before + 1);
    EXPECT_FALSE(arrives(p, ip(6, "::ffff:" + kV4.self, kV6.peer).udp(5353, 53).build()));
  }
}

// Was a hole: a router's allowedSourcePrefixes could cover another
// workload's address, and the router then sent as that workload (every
// receiver's ipcache judges the source as it). The compiler now carves
// each such address out (a denied host entry in zs_source_prefixes, as
// Reconciler::want_sources writes it): R, a router with 10.0.0.0/8 and
// fd00::/16, sends as V (peer) -> spoofed-source in every mode; as an
// address no workload has -> through the source check; as itself -> as
// ever.
TEST_P(AttackReview2Test, ARoutersPrefixHasOtherWorkloadsAddressesCarvedOut) {
  auto key = [](const std::string& prefix) { return Transaction::source_prefix_key(kIfindex, *Prefix::parse(prefix)); };
  auto route = [&](uint8_t mode, const std::vector<std::string>& allowed, const std::vector<std::string>& denied) {
    setup(ZS_ATTACH_WORKLOAD, mode, {kV4.self, kV6.self});
    Transaction tx(dp());
    for (const auto& a : allowed) tx.set_source_prefix(key(a));
    for (const auto& d : denied) tx.set_source_prefix(key(d), ZS_SOURCE_PREFIX_DENIED);
    tx.commit();
  };
  const std::map<int, std::string> outsider = {{4, "10.9.9.9"}, {6, "fd00:9::9"}};
  for (uint8_t mode : {ZS_MODE_OFF, ZS_MODE_AUDIT, ZS_MODE_ENFORCE}) {
    route(mode, {"10.0.0.0/8", "fd00::/16"}, {kV4.peer, kV6.peer});
    for (const Family* f : {&kV4, &kV6})
      for (Program p : kArrivals) {
        SCOPED_TRACE("mode " + std::to_string(mode) + (p == Program::xdp_ingress ? " xdp" : " tc") + " IPv" +
                     std::to_string(f->family));
        uint64_t before = reason(ZS_REASON_SPOOFED_SOURCE);
        EXPECT_FALSE(arrives(p, ip(f->family, f->peer, f->other).udp(5353, 53).build()));
        EXPECT_EQ(reason(ZS_REASON_SPOOFED_SOURCE), before + 1) << "as the carved-out workload";
        bool passes = mode != ZS_MODE_ENFORCE;  // enforce: denied by policy, not as spoofed
        EXPECT_EQ(arrives(p, ip(f->family, outsider.at(f->family), f->other).udp(5353, 53).build()), passes);
        EXPECT_EQ(arrives(p, ip(f->family, f->self, f->other).udp(5353, 53).build()), passes);
        EXPECT_EQ(reason(ZS_REASON_SPOOFED_SOURCE), before + 1) << "only the carved-out source is spoofed";
      }
  }
}

// Held: the carve-out holds through policy generations, whichever slot
// its entries are absent in: the datapath walks down to three entries
// (a carve-out and an allowed prefix of each generation, source.h).
TEST_P(AttackReview2Test, ACarveOutHoldsAcrossGenerations) {
  auto key = [](const std::string& prefix) { return Transaction::source_prefix_key(kIfindex, *Prefix::parse(prefix)); };
  setup(ZS_ATTACH_WORKLOAD, ZS_MODE_OFF, {kV4.self, kV6.self});
  auto sends_as = [&](const std::string& src) {
    bool tc = arrives(Program::tc_ingress, ip(4, src, kV4.other).udp(5353, 53).build());
    EXPECT_EQ(arrives(Program::xdp_ingress, ip(4, src, kV4.other).udp(5353, 53).build()), tc) << src;
    return tc;
  };
  {
    Transaction tx(dp());
    tx.set_source_prefix(key("10.0.0.0/16"));
    tx.set_source_prefix(key(kV4.peer), ZS_SOURCE_PREFIX_DENIED);
    tx.commit();
  }
  EXPECT_FALSE(sends_as(kV4.peer));
  EXPECT_TRUE(sends_as("10.0.9.9"));
  {  // a wider prefix, V gone: the /32 and the /16 absent in the slot read
    Transaction tx(dp());
    tx.remove_source_prefix(key("10.0.0.0/16"));
    tx.remove_source_prefix(key(kV4.peer));
    tx.set_source_prefix(key("10.0.0.0/8"));
    tx.commit();
  }
  EXPECT_TRUE(sends_as(kV4.peer));
  EXPECT_TRUE(sends_as("10.7.0.1"));
  {  // V back, inside the /8
    Transaction tx(dp());
    tx.set_source_prefix(key(kV4.peer), ZS_SOURCE_PREFIX_DENIED);
    tx.commit();
  }
  EXPECT_FALSE(sends_as(kV4.peer));
  {  // an allowed host prefix of V's address, then carved out: the carve-out wins
    Transaction tx(dp());
    tx.set_source_prefix(key(kV4.other));
    tx.commit();
    EXPECT_TRUE(sends_as(kV4.other));
    Transaction tx2(dp());
    tx2.set_source_prefix(key(kV4.other), ZS_SOURCE_PREFIX_DENIED);
    tx2.commit();
  }
  EXPECT_FALSE(sends_as(kV4.other));
}

// Held: a later fragment with another workload's source is dropped before
// the fragment lookup; it cannot ride the first fragment's entry.
TEST_P(AttackReview2Test, ALaterFragmentFromAnotherSourceIsSpoofed) {
  setup(ZS_ATTACH_WORKLOAD, ZS_MODE_OFF, {kV4.self, kV6.self});
  for (const Family* f : {&kV4, &kV6}) {
    SCOPED_TRACE("IPv" + std::to_string(f->family));
    ASSERT_TRUE(arrives(Program::tc_ingress,
                        ip(f->family, f->self, f->peer).fragment(0, true, 77).udp(5353, 53).payload(64).build()));
    uint64_t before = reason(ZS_REASON_SPOOFED_SOURCE);
    EXPECT_FALSE(
        arrives(Program::tc_ingress, ip(f->family, f->other, f->peer).fragment(72, false, 77).payload(64).build()));
    EXPECT_EQ(reason(ZS_REASON_SPOOFED_SOURCE), before + 1);
  }
}

// Held: the on-link exceptions are narrow. 0.0.0.0 only as a DHCP request
// to the broadcast address (not to a workload); :: only for ND/MLD to a
// link multicast group (not an MLD type to a workload).
TEST_P(AttackReview2Test, TheOnLinkExceptionsCarryNothingToAWorkload) {
  setup(ZS_ATTACH_WORKLOAD, ZS_MODE_OFF, {kV4.self, kV6.self});
  uint64_t before = reason(ZS_REASON_SPOOFED_SOURCE);
  EXPECT_FALSE(arrives(Program::tc_ingress, ip(4, "0.0.0.0", kV4.peer).udp(68, 67).payload(64).build()));
  EXPECT_FALSE(arrives(Program::tc_ingress, ip(4, "0.0.0.0", "255.255.255.255").udp(68, 53).build()));
  EXPECT_FALSE(arrives(Program::tc_ingress, ip(6, "::", kV6.peer).icmp(143, 0).payload(64).build()));
  EXPECT_FALSE(arrives(Program::tc_ingress, ip(6, "::", "ff05::16").icmp(143, 0).payload(64).build()));
  EXPECT_EQ(reason(ZS_REASON_SPOOFED_SOURCE), before + 4);
  // the DHCP request itself passes the check, to be judged by policy
  setup(ZS_ATTACH_WORKLOAD, ZS_MODE_ENFORCE, {kV4.self, kV6.self});
  EXPECT_FALSE(arrives(Program::tc_ingress, ip(4, "0.0.0.0", "255.255.255.255").udp(68, 67).build()));
  EXPECT_EQ(reason(ZS_REASON_SPOOFED_SOURCE), before + 4);
}

// Was a hole: a flow was charged to the interface whose entry it is,
// whoever opened it, so a peer that policy allows to reach V filled V's
// share with flows on V's ingress, and V's own new flows (its egress) were
// refused with ct-endpoint-limit: any client of a service (world, if the
// service is public) locked the service out of its own outbound
// connections (DNS, its database) for as long as it kept the share full.
// Fixed: an endpoint has an ingress and an egress share (zs_ct_usage);
// flows opened towards V fill only the first (ct_limit_test.cpp has the
// TCP case and the other way round).
TEST_P(AttackReview2Test, APeerAllowedInCannotFillTheEndpointsShareForItsOwnEgress) {
  Transaction tx(dp());
  set_endpoint(kSelf, ZS_MODE_ENFORCE, ZS_MODE_ENFORCE, &tx);
  for (const Family* f : {&kV4, &kV6}) set_identity(f->peer, kPeer, &tx);
  add_rule({kSelf, kPeer, IN, 17, 0, 0, 11}, &tx);
  add_rule({kSelf, kPeer, OUT, 6, 0, 0, 12}, &tx);
  tx.commit();
  dp().set_ct_endpoint_share_entries(3, 3);
  for (const Family* f : {&kV4, &kV6}) {
    SCOPED_TRACE("IPv" + std::to_string(f->family));
    // the peer, allowed in, opens three flows to V: V's share is full
    for (uint16_t sport = 50000; sport < 50003; sport++)
      ASSERT_TRUE(send(IN, ip(f->family, f->peer, f->self).udp(sport, 9000).build())) << sport;
    uint64_t refused = counter(ZS_CTR_REASON(ZS_REASON_CT_ENDPOINT_LIMIT));
    EXPECT_TRUE(send(OUT, ip(f->family, f->self, f->peer).tcp(40000, 5432, PB::kSyn).build()));
    EXPECT_EQ(counter(ZS_CTR_REASON(ZS_REASON_CT_ENDPOINT_LIMIT)), refused);
  }
}

// Held (pins the share): once full, the peer opens no more flows to V.
TEST_P(AttackReview2Test, APeerStopsAtTheEndpointsShare) {
  Transaction tx(dp());
  set_endpoint(kSelf, ZS_MODE_ENFORCE, ZS_MODE_ENFORCE, &tx);
  for (const Family* f : {&kV4, &kV6}) set_identity(f->peer, kPeer, &tx);
  add_rule({kSelf, kPeer, IN, 17, 0, 0, 11}, &tx);
  tx.commit();
  dp().set_ct_endpoint_share_entries(3, 3);
  for (const Family* f : {&kV4, &kV6}) {
    for (uint16_t sport = 50000; sport < 50003; sport++)
      ASSERT_TRUE(send(IN, ip(f->family, f->peer, f->self).udp(sport, 9000).build())) << sport;
    EXPECT_FALSE(send(IN, ip(f->family, f->peer, f->self).udp(50003, 9000).build()));
    // replies to the peer's flows are no new flows
    EXPECT_TRUE(send(OUT, ip(f->family, f->self, f->peer).udp(9000, 50000).build()));
  }
}

// Held: ICMPv6 carried in IPv4 (protocol 58) is not ICMP to the IPv4 echo
// flow: the key holds the protocol, so an "echo reply" of type 129 or of
// type 0 in protocol 58 with the flow's id is judged by policy (denied).
TEST_P(AttackReview2Test, IcmpV6InIpv4DoesNotRideAnIpv4EchoFlow) {
  Transaction tx(dp());
  set_endpoint(kSelf, ZS_MODE_ENFORCE, ZS_MODE_ENFORCE, &tx);
  set_identity(kV4.peer, kPeer, &tx);
  add_rule({kSelf, kPeer, OUT, 1, 8 << 8, 8 << 8, 31}, &tx);
  tx.commit();
  ASSERT_TRUE(send(OUT, ip(4, kV4.self, kV4.peer).icmp(8, 0, 9).payload(56).build()));
  EXPECT_FALSE(send(IN, ip(4, kV4.peer, kV4.self).proto(58).payload({129, 0, 0, 0, 0, 9, 0, 1}).build()));
  EXPECT_FALSE(send(IN, ip(4, kV4.peer, kV4.self).proto(58).payload({0, 0, 0, 0, 0, 9, 0, 1}).build()));
  EXPECT_TRUE(send(IN, ip(4, kV4.peer, kV4.self).icmp(0, 0, 9).payload(56).build()));
}

INSTANTIATE_TEST_SUITE_P(Hooks, AttackReview2Test, testing::Values(Variant::xdp_host, Variant::tc_workload),
                         variant_name);

}  // namespace
}  // namespace zeroseg::test
