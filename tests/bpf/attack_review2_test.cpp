// SPDX-License-Identifier: Apache-2.0
// A second attack review of source validation (bpf/lib/source_check.h) and
// per-endpoint conntrack shares (zs_ct_share_room): a workload that wants to
// borrow another's address, or to starve another endpoint of conntrack.
// DISABLED_ tests are holes found here and not fixed yet: each fails now
// and says what the fix is.
#include <zeroseg/identity.h>

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

// HOLE. The source check runs only on packets the parser could judge
// (zs_datapath: rc == ZS_PARSE_IP). A packet it cannot judge (more IPv6
// extension headers than it walks, a cut TCP header) skips the check and
// goes to zs_unjudgeable, which passes it where the egress mode is audit or
// off: a workload in audit or off sends from any address it likes, other
// workloads' included, with a payload behind the ninth extension header
// (the kernel forwards such a packet; only the datapath gives up on it).
// source_check.h promises spoofed packets dropped in every mode.
// Fix: in zs_datapath, run zs_source_spoofed on every IP packet whose
// addresses were read (set p->tuple.saddr before any malformed-L4/ext
// return, and check `rc != ZS_PARSE_NON_IP && p.tuple.family`), not only
// on rc == ZS_PARSE_IP.
TEST_P(AttackReview2Test, DISABLED_AnUnjudgeablePacketFromAnotherWorkloadsAddressIsDroppedInEveryMode) {
  PB deep = ip(6, kV6.other, kV6.peer);
  for (int i = 0; i < 9; i++) deep.ipv6_ext(60);
  // IPv6: nine destination-options headers (ipv6-ext-limit); IPv4: a TCP
  // header cut to 4 bytes (malformed-l4). Routers forward both.
  const std::vector<std::vector<uint8_t>> packets = {deep.udp(5353, 53).payload(64).build(),
                                                     ip(4, kV4.other, kV4.peer).proto(6).payload(4).build()};
  for (uint8_t mode : {ZS_MODE_OFF, ZS_MODE_AUDIT, ZS_MODE_ENFORCE}) {
    setup(ZS_ATTACH_WORKLOAD, mode, {kV4.self, kV6.self});
    for (Program p : kArrivals)
      for (size_t i = 0; i < packets.size(); i++) {
        SCOPED_TRACE("mode " + std::to_string(mode) + (p == Program::xdp_ingress ? " xdp" : " tc") +
                     (i ? " IPv4 cut TCP" : " IPv6 ext chain"));
        uint64_t before = reason(ZS_REASON_SPOOFED_SOURCE);
        EXPECT_FALSE(arrives(p, packets[i]));
        EXPECT_EQ(reason(ZS_REASON_SPOOFED_SOURCE), before + 1);
      }
  }
}

// Held: the same unjudgeable packet from the workload's own address is
// what zs_unjudgeable says (pins that the test above is about the source).
TEST_P(AttackReview2Test, AnUnjudgeablePacketFromAnOwnAddressPassesInAuditOnly) {
  PB deep = ip(6, kV6.self, kV6.peer);
  for (int i = 0; i < 9; i++) deep.ipv6_ext(60);
  const std::vector<uint8_t> v6 = deep.udp(5353, 53).build();
  for (uint8_t mode : {ZS_MODE_AUDIT, ZS_MODE_ENFORCE}) {
    setup(ZS_ATTACH_WORKLOAD, mode, {kV4.self, kV6.self});
    EXPECT_EQ(arrives(Program::tc_ingress, v6), mode == ZS_MODE_AUDIT);
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
