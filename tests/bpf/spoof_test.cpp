// SPDX-License-Identifier: Apache-2.0
// Source address validation (bpf/lib/source_check.h): a workload's egress
// carries one of its own addresses, a source inside its
// allowedSourcePrefixes, or an on-link IPv6 source (link-local, :: for
// DAD); anything else is dropped as spoofed-source, before conntrack, in
// every policy mode. A host uplink drops packets from outside that carry a
// local workload's address (uplink-spoofed-source). Through the real
// programs: tc ingress and XDP on a workload, XDP and tc ingress on an
// uplink, IPv4 and IPv6.
#include <zeroseg/identity.h>

#include "datapath_fixture.h"

namespace zeroseg::test {
namespace {

using PB = PacketBuilder;
constexpr uint8_t IN = ZS_DIR_INGRESS, OUT = ZS_DIR_EGRESS;
constexpr uint32_t kSelf = 300, kPeer = 301, kOther = 302;

struct Family {
  int family;
  std::string self, peer, other, world, routed, routed_prefix, routed_inner;
};

// self: the workload under test; peer: the workload it talks to; other: a
// third local workload (whose address a spoofer would borrow); routed: a
// network behind self, when self is a router.
const Family kV4{4, "10.0.1.10", "10.0.2.20", "10.0.3.30", "198.51.100.7", "192.168.50.9", "192.168.50.0/24",
                 "192.168.50.128/25"};
const Family kV6{6, "fd00:1::10", "fd00:2::20", "fd00:3::30", "2001:db8::7", "fd00:99::9", "fd00:99::/64",
                 "fd00:99::/80"};

PB ip(const Family& f, const std::string& src, const std::string& dst) { return ip_header(f.family, src, dst); }
std::vector<uint8_t> tcp(const Family& f, const std::string& src, const std::string& dst, uint16_t sport,
                         uint16_t dport, uint8_t flags = PB::kSyn) {
  return ip(f, src, dst).tcp(sport, dport, flags).build();
}
std::vector<uint8_t> udp(const Family& f, const std::string& src, const std::string& dst) {
  return ip(f, src, dst).udp(5353, 53).build();
}

// Which program receives the packets that arrive on the interface.
enum class Hook { tc, xdp };

class SpoofTest : public DatapathTest {
 protected:
  const Family& fam() const { return GetParam() == Variant::tc_workload ? kV4 : kV6; }

  // The endpoint: kind, modes; its own addresses and allowed prefixes; the
  // ipcache knows peer and other as workloads. No "any source" prefixes
  // (the fixture's): the sources are exactly these.
  void setup(zs_attach_kind kind, uint8_t mode, const std::vector<std::string>& own,
             const std::vector<std::string>& prefixes, const std::vector<std::string>& local = {}) {
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
    for (const auto& p : prefixes) tx.set_source_prefix(Transaction::source_prefix_key(kIfindex, *Prefix::parse(p)));
    tx.commit();
  }
  // self may reach peer on tcp/80 and udp/53 (egress), peer self on tcp/80 (ingress)
  void allow_peer() {
    Transaction tx(dp());
    add_rule({kSelf, kPeer, ZS_DIR_EGRESS, 6, 80, 80, 1}, &tx);
    add_rule({kSelf, kPeer, ZS_DIR_EGRESS, 17, 53, 53, 2}, &tx);
    add_rule({kSelf, kPeer, ZS_DIR_INGRESS, 6, 80, 80, 3}, &tx);
    tx.commit();
  }
  // A packet leaving the workload: it arrives on the interface.
  bool sent(Hook hook, const std::vector<uint8_t>& packet) {
    Program p = hook == Hook::xdp ? Program::xdp_ingress : Program::tc_ingress;
    return test_run_passed(p, test_run(dp().program_fd(p), p, packet, kIfindex).retval);
  }
  bool received(const std::vector<uint8_t>& packet) {
    return test_run_passed(Program::tc_egress, test_run(dp().program_fd(Program::tc_egress), Program::tc_egress,
                                                        packet, kIfindex).retval);
  }
  uint64_t reason(uint8_t r) { return counter(ZS_CTR_REASON(r)); }
};

// GetParam() picks the family here (tc_workload: IPv4, xdp_host: IPv6);
// every test runs both hooks.
constexpr Hook kHooks[] = {Hook::tc, Hook::xdp};
const char* hook_name(Hook h) { return h == Hook::xdp ? "xdp" : "tc"; }

TEST_P(SpoofTest, OwnSourcePassesToPolicyOthersAreDroppedInEveryMode) {
  const Family& f = fam();
  for (uint8_t mode : {ZS_MODE_OFF, ZS_MODE_AUDIT, ZS_MODE_ENFORCE}) {
    setup(ZS_ATTACH_WORKLOAD, mode, {f.self}, {});
    allow_peer();
    for (Hook h : kHooks) {
      SCOPED_TRACE(std::string(hook_name(h)) + " mode " + std::to_string(mode));
      uint64_t before = reason(ZS_REASON_SPOOFED_SOURCE);
      EXPECT_TRUE(sent(h, tcp(f, f.self, f.peer, 40000, 80)));
      EXPECT_TRUE(sent(h, udp(f, f.self, f.peer)));
      // policy still judges an own source: port 22 is not allowed
      EXPECT_EQ(sent(h, tcp(f, f.self, f.peer, 40001, 22)), mode != ZS_MODE_ENFORCE);
      EXPECT_EQ(reason(ZS_REASON_SPOOFED_SOURCE), before);
      // another local workload's address, and a world address
      EXPECT_FALSE(sent(h, tcp(f, f.other, f.peer, 40002, 80)));
      EXPECT_FALSE(sent(h, udp(f, f.other, f.peer)));
      EXPECT_FALSE(sent(h, tcp(f, f.world, f.peer, 40003, 80)));
      EXPECT_FALSE(sent(h, tcp(f, f.peer, f.self, 40004, 80)));
      EXPECT_EQ(reason(ZS_REASON_SPOOFED_SOURCE), before + 4);
    }
  }
  EXPECT_EQ(reason(ZS_REASON_UPLINK_SPOOFED_SOURCE), 0u);
}

TEST_P(SpoofTest, AllowedSourcePrefixesPass) {
  const Family& f = fam();
  setup(ZS_ATTACH_WORKLOAD, ZS_MODE_ENFORCE, {f.self}, {f.routed_prefix});
  allow_peer();
  for (Hook h : kHooks) {
    SCOPED_TRACE(hook_name(h));
    EXPECT_TRUE(sent(h, tcp(f, f.routed, f.peer, 40000, 80)));
    EXPECT_FALSE(sent(h, tcp(f, f.world, f.peer, 40001, 80)));
  }
}

// The prefix trie holds both generations during a change: a prefix of the
// old one inside the new one's (or around it) must not hide it.
TEST_P(SpoofTest, APrefixChangeIsSeenAtOnce) {
  const Family& f = fam();
  setup(ZS_ATTACH_WORKLOAD, ZS_MODE_OFF, {f.self}, {f.routed_inner});
  EXPECT_TRUE(sent(Hook::tc, udp(f, f.routed, f.peer)) == Prefix::parse(f.routed_inner)->contains(*IpAddr::parse(f.routed)));
  {
    Transaction tx(dp());
    tx.remove_source_prefix(Transaction::source_prefix_key(kIfindex, *Prefix::parse(f.routed_inner)));
    tx.set_source_prefix(Transaction::source_prefix_key(kIfindex, *Prefix::parse(f.routed_prefix)));
    tx.commit();  // not settled: both generations' entries are in the trie
    EXPECT_TRUE(sent(Hook::tc, udp(f, f.routed, f.peer)));
    std::string inner = f.family == 4 ? "192.168.50.200" : "fd00:99::1";
    EXPECT_TRUE(sent(Hook::tc, udp(f, inner, f.peer)));
  }
  {
    Transaction tx(dp());  // settles the last, then narrows again
    tx.remove_source_prefix(Transaction::source_prefix_key(kIfindex, *Prefix::parse(f.routed_prefix)));
    tx.set_source_prefix(Transaction::source_prefix_key(kIfindex, *Prefix::parse(f.routed_inner)));
    tx.commit();
    std::string outside_inner = f.family == 4 ? "192.168.50.9" : "fd00:99:0:0:1::9";
    std::string in_inner = f.family == 4 ? "192.168.50.200" : "fd00:99::1";
    EXPECT_FALSE(sent(Hook::tc, udp(f, outside_inner, f.peer)));
    EXPECT_TRUE(sent(Hook::tc, udp(f, in_inner, f.peer)));
  }
}

TEST_P(SpoofTest, AWorkloadWithoutAddressesSendsOnlyFromItsPrefixes) {
  const Family& f = fam();
  setup(ZS_ATTACH_WORKLOAD, ZS_MODE_OFF, {}, {});
  for (Hook h : kHooks) {
    EXPECT_FALSE(sent(h, tcp(f, f.self, f.peer, 40000, 80)));
    EXPECT_FALSE(sent(h, tcp(f, f.peer, f.self, 40000, 80)));
  }
}

// A forged packet of the real owner's established flow (here: the reply
// side of the workload's own flow, which conntrack would pass as a reply)
// is dropped before conntrack sees it.
TEST_P(SpoofTest, ASpoofedAckOrRstIntoAnEstablishedFlowIsDropped) {
  const Family& f = fam();
  setup(ZS_ATTACH_WORKLOAD, ZS_MODE_ENFORCE, {f.self}, {});
  allow_peer();
  for (Hook h : kHooks) {
    SCOPED_TRACE(hook_name(h));
    uint16_t sport = h == Hook::xdp ? 41000 : 42000;
    ASSERT_TRUE(sent(h, tcp(f, f.self, f.peer, sport, 80)));
    ASSERT_TRUE(received(tcp(f, f.peer, f.self, 80, sport, PB::kSyn | PB::kAck)));
    ASSERT_TRUE(sent(h, tcp(f, f.self, f.peer, sport, 80, PB::kAck)));
    uint64_t before = reason(ZS_REASON_SPOOFED_SOURCE);
    EXPECT_FALSE(sent(h, tcp(f, f.peer, f.self, 80, sport, PB::kAck)));
    EXPECT_FALSE(sent(h, tcp(f, f.peer, f.self, 80, sport, PB::kRst)));
    EXPECT_EQ(reason(ZS_REASON_SPOOFED_SOURCE), before + 2);
    EXPECT_TRUE(sent(h, tcp(f, f.self, f.peer, sport, 80, PB::kAck)));  // the flow itself goes on
  }
}

TEST_P(SpoofTest, OnLinkSources) {
  const Family& f = fam();
  setup(ZS_ATTACH_WORKLOAD, ZS_MODE_OFF, {f.self}, {});
  for (Hook h : kHooks) {
    SCOPED_TRACE(hook_name(h));
    if (f.family == 6) {
      // link-local: any, to policy
      EXPECT_TRUE(sent(h, PB().eth().ipv6("fe80::10", "fe80::1").udp(546, 547).build()));
      EXPECT_TRUE(sent(h, PB().eth().ipv6("fe80::99", "fd00:2::20").tcp(40000, 80).build()));
      // ::, only for DAD, router solicitation and MLD reports
      EXPECT_TRUE(sent(h, PB().eth().ipv6("::", "ff02::1:ff00:10").hop_limit(255).nd(135, f.self).build()));
      EXPECT_TRUE(sent(h, PB().eth().ipv6("::", "ff02::2").hop_limit(255).nd(133).build()));
      EXPECT_TRUE(sent(h, PB().eth().ipv6("::", "ff02::16").hop_limit(1).icmp(143, 0).payload(8).build()));
      EXPECT_FALSE(sent(h, PB().eth().ipv6("::", f.peer).tcp(40000, 80).build()));
      EXPECT_FALSE(sent(h, PB().eth().ipv6("::", "ff02::1").hop_limit(255).nd(136, f.self).build()));
      // ND from another's global address
      EXPECT_FALSE(sent(h, PB().eth().ipv6(f.other, "ff02::1:ff00:20").hop_limit(255).nd(135, f.peer).build()));
      EXPECT_TRUE(sent(h, PB().eth().ipv6(f.self, "ff02::1:ff00:20").hop_limit(255).nd(135, f.peer).build()));
    } else {
      // 0.0.0.0: a DHCP request to the broadcast address only
      EXPECT_TRUE(sent(h, PB().eth().ipv4("0.0.0.0", "255.255.255.255").udp(68, 67).build()));
      EXPECT_FALSE(sent(h, PB().eth().ipv4("0.0.0.0", "10.0.2.20").udp(68, 67).build()));
      EXPECT_FALSE(sent(h, PB().eth().ipv4("0.0.0.0", "255.255.255.255").tcp(68, 67).build()));
      EXPECT_FALSE(sent(h, PB().eth().ipv4("169.254.1.1", "10.0.2.20").tcp(40000, 80).build()));
    }
  }
}

// Packets sent to the workload (tc egress) are not its egress: any source.
TEST_P(SpoofTest, PacketsToTheWorkloadAreNotChecked) {
  const Family& f = fam();
  setup(ZS_ATTACH_WORKLOAD, ZS_MODE_OFF, {f.self}, {});
  EXPECT_TRUE(received(tcp(f, f.world, f.self, 40000, 80)));
  EXPECT_TRUE(received(tcp(f, f.other, f.self, 40000, 80)));
}

TEST_P(SpoofTest, AnUplinkDropsLocalWorkloadSourcesFromOutside) {
  const Family& f = fam();
  for (uint8_t mode : {ZS_MODE_OFF, ZS_MODE_ENFORCE}) {
    setup(ZS_ATTACH_HOST, mode, {}, {}, {f.self, f.peer});
    if (mode == ZS_MODE_ENFORCE) add_rule({ZS_ID_HOST, ZS_ID_WORLD, ZS_DIR_INGRESS, 6, 80, 80, 7});
    for (Hook h : kHooks) {
      SCOPED_TRACE(std::string(hook_name(h)) + " mode " + std::to_string(mode));
      uint64_t before = reason(ZS_REASON_UPLINK_SPOOFED_SOURCE);
      EXPECT_TRUE(sent(h, tcp(f, f.world, f.self, 40000, 80)));
      EXPECT_FALSE(sent(h, tcp(f, f.self, f.peer, 40000, 80)));
      EXPECT_FALSE(sent(h, udp(f, f.peer, f.self)));
      EXPECT_EQ(reason(ZS_REASON_UPLINK_SPOOFED_SOURCE), before + 2);
      // other sources of the link are the policy's (other is no local workload here)
      EXPECT_EQ(sent(h, tcp(f, f.other, f.self, 40000, 80)), mode == ZS_MODE_OFF);
    }
  }
  EXPECT_EQ(reason(ZS_REASON_SPOOFED_SOURCE), 0u);
}

// A spoofed packet is reported as a deny event naming the reason.
TEST_P(SpoofTest, ASpoofIsCountedAsADeny) {
  const Family& f = fam();
  setup(ZS_ATTACH_WORKLOAD, ZS_MODE_OFF, {f.self}, {});
  uint64_t denied = counter(ZS_CTR_VERDICT(ZS_VERDICT_DENIED, ZS_DIR_EGRESS));
  EXPECT_FALSE(sent(Hook::tc, tcp(f, f.other, f.peer, 40000, 80)));
  EXPECT_EQ(counter(ZS_CTR_VERDICT(ZS_VERDICT_DENIED, ZS_DIR_EGRESS)), denied + 1);
}

INSTANTIATE_TEST_SUITE_P(Families, SpoofTest, testing::Values(Variant::tc_workload, Variant::xdp_host),
                         [](const testing::TestParamInfo<Variant>& i) {
                           return std::string(i.param == Variant::tc_workload ? "ipv4" : "ipv6");
                         });

}  // namespace
}  // namespace zeroseg::test
