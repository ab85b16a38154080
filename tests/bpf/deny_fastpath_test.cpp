// SPDX-License-Identifier: Apache-2.0
// The probes a flood skips (bpf/lib/deny_fastpath.h), each skipped only
// when its answer is known to be "absent". What breaking them would look
// like, and what each test sends to catch it:
//  - conntrack's reply probe skipped when a flow was tracked from that
//    port: the reply of an allowed flow (UDP, TCP, ICMP echo; IPv4, IPv6;
//    opened either way) is dropped;
//  - zs_ct_origin_ports not filled over conntrack pinned by a version
//    without it: the replies of flows it tracked are dropped after an
//    upgrade;
//  - the source check's probe skipped while zs_sources holds an entry of
//    the family in the slot packets read: a local workload's address
//    passes on an uplink, a workload's own address is refused;
//  - an ipcache probe skipped for a key the ipcache holds: the address
//    is judged as world (a CIDR allow lost, a CIDR or host deny lost).
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <unistd.h>
#include <zeroseg/identity.h>

#include <filesystem>
#include <utility>

#include "datapath_fixture.h"

namespace zeroseg::test {
namespace {

using PB = PacketBuilder;
constexpr uint8_t IN = ZS_DIR_INGRESS, OUT = ZS_DIR_EGRESS;
constexpr uint32_t kSelf = 300, kPeer = 301;

struct Addrs {
  int family;
  std::string self, peer, local;
};
const Addrs kV4{4, "10.0.1.10", "10.0.2.20", "10.0.3.30"};
const Addrs kV6{6, "fd00:1::10", "fd00:2::20", "fd00:3::30"};

PB ip(const Addrs& a, const std::string& src, const std::string& dst) { return ip_header(a.family, src, dst); }

class DenyFastpathTest : public DatapathTest {
 protected:
  void SetUp() override {
    DatapathTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    Transaction tx(dp());
    set_endpoint(kSelf, ZS_MODE_ENFORCE, ZS_MODE_ENFORCE, &tx);
    for (const Addrs& a : {kV4, kV6}) {
      set_identity(a.self, kSelf, &tx);
      set_identity(a.peer, kPeer, &tx);
    }
    tx.commit();
  }
  // port's bits: some flow's first packet came from it, went to it
  std::pair<bool, bool> origin_bits(uint16_t port) {
    uint16_t net = htons(port);
    uint32_t idx = net >> 6;
    zs_ct_port_bits b{};
    EXPECT_TRUE(dp().map("zs_ct_origin_ports").lookup(&idx, &b));
    return {(b.as_source >> (net & 63)) & 1, (b.as_dest >> (net & 63)) & 1};
  }
  uint64_t reason(uint8_t r) { return counter(ZS_CTR_REASON(r)); }
};

// Every port's bit starts clear here (DatapathTest::SetUp clears them with
// conntrack): a reply that needs its bit finds it only if the flow set it.
TEST_P(DenyFastpathTest, RepliesOfFlowsOpenedOutwardsPass) {
  add_rule({kSelf, kPeer, OUT, 17, 53, 53, 1});
  add_rule({kSelf, kPeer, OUT, 6, 80, 80, 2});
  for (const Addrs& a : {kV4, kV6}) {
    SCOPED_TRACE(a.family);
    ASSERT_FALSE(send(IN, ip(a, a.peer, a.self).udp(53, 61001).build())) << "no flow yet: denied";
    ASSERT_TRUE(send(OUT, ip(a, a.self, a.peer).udp(61001, 53).build()));
    EXPECT_TRUE(send(IN, ip(a, a.peer, a.self).udp(53, 61001).build())) << "the UDP reply";
    EXPECT_FALSE(send(IN, ip(a, a.peer, a.self).udp(54, 61001).build())) << "not the flow's peer port";
    EXPECT_FALSE(send(IN, ip(a, a.peer, a.self).udp(53, 61002).build())) << "no flow from that port";

    ASSERT_TRUE(send(OUT, ip(a, a.self, a.peer).tcp(61003, 80, PB::kSyn).build()));
    EXPECT_TRUE(send(IN, ip(a, a.peer, a.self).tcp(80, 61003, PB::kSyn | PB::kAck).build())) << "the SYN-ACK";
    EXPECT_TRUE(send(IN, ip(a, a.peer, a.self).tcp(80, 61003, PB::kAck).build()));
  }
}

TEST_P(DenyFastpathTest, RepliesOfFlowsOpenedInwardsPass) {
  add_rule({kSelf, kPeer, IN, 17, 9, 9, 1});
  for (const Addrs& a : {kV4, kV6}) {
    SCOPED_TRACE(a.family);
    ASSERT_FALSE(send(OUT, ip(a, a.self, a.peer).udp(9, 61011).build())) << "no flow yet: denied";
    ASSERT_TRUE(send(IN, ip(a, a.peer, a.self).udp(61011, 9).build()));
    EXPECT_TRUE(send(OUT, ip(a, a.self, a.peer).udp(9, 61011).build())) << "the reply";
  }
}

TEST_P(DenyFastpathTest, EchoRepliesPass) {
  add_rule({kSelf, kPeer, OUT, 1, 0, 0, 1});
  add_rule({kSelf, kPeer, OUT, 58, 0, 0, 2});
  ASSERT_TRUE(send(OUT, ip(kV4, kV4.self, kV4.peer).icmp(8, 0, 4242).build()));
  EXPECT_TRUE(send(IN, ip(kV4, kV4.peer, kV4.self).icmp(0, 0, 4242).build()));
  ASSERT_TRUE(send(OUT, ip(kV6, kV6.self, kV6.peer).icmp(128, 0, 4243).build()));
  EXPECT_TRUE(send(IN, ip(kV6, kV6.peer, kV6.self).icmp(129, 0, 4243).build()));
}

// The bits are the flow's first packet's ports, and only a tracked flow
// sets them: a denied flood leaves the filter as it was.
TEST_P(DenyFastpathTest, OnlyATrackedFlowMarksItsPorts) {
  add_rule({kSelf, kPeer, IN, 17, 61020, 61020, 1});
  EXPECT_EQ(origin_bits(61021), std::make_pair(false, false));
  EXPECT_EQ(origin_bits(61020), std::make_pair(false, false));
  ASSERT_TRUE(send(IN, ip(kV4, kV4.peer, kV4.self).udp(61021, 61020).build()));
  EXPECT_EQ(origin_bits(61021), std::make_pair(true, false)) << "came from it";
  EXPECT_EQ(origin_bits(61020), std::make_pair(false, true)) << "went to it";
  for (uint16_t sport = 61022; sport < 61030; sport++)
    ASSERT_FALSE(send(IN, ip(kV4, kV4.peer, kV4.self).udp(sport, 61019).build()));
  for (uint16_t port = 61019; port < 61030; port++)
    if (port != 61020 && port != 61021) {
      EXPECT_EQ(origin_bits(port), std::make_pair(false, false)) << port;
    }
}

// The flow's own packets, after the first: found by the probe the filter
// allows only once a flow went to that port. Then a policy change: the
// stale flow's next packet is judged again and revoked, not skipped.
TEST_P(DenyFastpathTest, AFlowsOwnPacketsAreFoundAndRevoked) {
  for (const Addrs& a : {kV4, kV6}) {
    SCOPED_TRACE(a.family);
    RuleSpec allow{kSelf, kPeer, IN, 17, 9, 9, 1};
    add_rule(allow);
    ASSERT_TRUE(send(IN, ip(a, a.peer, a.self).udp(61041, 9).build()));
    uint64_t rejudged = counter(ZS_CTR_CT_REJUDGED);
    set_identity("192.0.2.1", 999);  // a new generation: the flow is judged again, still allowed
    EXPECT_TRUE(send(IN, ip(a, a.peer, a.self).udp(61041, 9).build()));
    EXPECT_EQ(counter(ZS_CTR_CT_REJUDGED), rejudged + 1) << "found in conntrack, not judged as new";
    remove_rule(allow);
    uint64_t revoked = counter(ZS_CTR_CT_REVOKED);
    EXPECT_FALSE(send(IN, ip(a, a.peer, a.self).udp(61041, 9).build()));
    EXPECT_EQ(counter(ZS_CTR_CT_REVOKED), revoked + 1) << "the stale flow revoked";
  }
}

// A rule added later: the flow it allows sets its bit like any other.
TEST_P(DenyFastpathTest, AFlowAllowedByALaterRuleIsAnsweredToo) {
  ASSERT_FALSE(send(OUT, ip(kV4, kV4.self, kV4.peer).udp(61031, 53).build()));
  ASSERT_FALSE(send(IN, ip(kV4, kV4.peer, kV4.self).udp(53, 61031).build()));
  add_rule({kSelf, kPeer, OUT, 17, 53, 53, 1});
  ASSERT_TRUE(send(OUT, ip(kV4, kV4.self, kV4.peer).udp(61031, 53).build()));
  EXPECT_TRUE(send(IN, ip(kV4, kV4.peer, kV4.self).udp(53, 61031).build()));
}

// zs_sources' probe: skipped only while the slot holds no entry of the
// family. Each change must be seen by the next packet, through commits
// that leave the other slot behind (not settled) and ones that settle it.
TEST_P(DenyFastpathTest, TheSourceProbeFollowsTheEntriesOfEachFamily) {
  const bool uplink = kind() == ZS_ATTACH_HOST;
  {
    Transaction tx(dp());  // sources exactly as below: no prefixes
    for (auto& [k, v] : dp().source_prefixes().entries()) tx.remove_source_prefix(k);
    tx.commit();
  }
  add_rule({kSelf, ZS_ID_ANY, IN, 17, 9, 9, 1});
  add_rule({kSelf, ZS_ID_ANY, OUT, 17, 9, 9, 2});
  // an uplink's arriving packets come from outside (IN); a workload's from
  // the workload (OUT)
  const uint8_t arriving = uplink ? IN : OUT;
  auto from = [&](const Addrs& a, const std::string& src) {
    const std::string& dst = uplink ? a.self : a.peer;
    return send(arriving, ip(a, src, dst).udp(5000, 9).build());
  };
  auto entry = [&](const Addrs& a) {
    return Transaction::source_key(kIfindex, *IpAddr::parse(uplink ? a.local : a.self));
  };
  const zs_source_kind kind = uplink ? ZS_SOURCE_LOCAL : ZS_SOURCE_OWN;
  // with no entry: an uplink takes any source, a workload none
  for (const Addrs& a : {kV4, kV6}) EXPECT_EQ(from(a, uplink ? a.local : a.self), uplink) << a.family;

  for (int settle = 0; settle < 2; settle++) {
    SCOPED_TRACE(settle ? "settled" : "not settled");
    {
      Transaction tx(dp());
      tx.set_source(entry(kV4), kind);
      tx.commit();
      if (settle) dp().settle();
    }
    EXPECT_EQ(from(kV4, uplink ? kV4.local : kV4.self), !uplink) << "an IPv4 entry, seen at once";
    EXPECT_EQ(from(kV6, uplink ? kV6.local : kV6.self), uplink) << "no IPv6 entry yet";
    {
      Transaction tx(dp());
      tx.set_source(entry(kV6), kind);
      tx.commit();
      if (settle) dp().settle();
    }
    for (const Addrs& a : {kV4, kV6}) EXPECT_EQ(from(a, uplink ? a.local : a.self), !uplink) << a.family;
    set_identity("192.0.2.1", 999);  // a commit about something else
    for (const Addrs& a : {kV4, kV6}) EXPECT_EQ(from(a, uplink ? a.local : a.self), !uplink) << a.family;
    {
      Transaction tx(dp());
      tx.remove_source(entry(kV4));
      tx.commit();
      if (settle) dp().settle();
    }
    EXPECT_EQ(from(kV4, uplink ? kV4.local : kV4.self), uplink) << "the IPv4 entry gone";
    EXPECT_EQ(from(kV6, uplink ? kV6.local : kV6.self), !uplink) << "the IPv6 one stays";
    {
      Transaction tx(dp());
      tx.remove_source(entry(kV6));
      tx.commit();
      if (settle) dp().settle();
    }
  }
  const uint8_t r = uplink ? ZS_REASON_UPLINK_SPOOFED_SOURCE : ZS_REASON_SPOOFED_SOURCE;
  EXPECT_GT(reason(r), 0u) << "the drops were the source check's";
}

// zs_ipcache_blocks: every prefix written is found, whatever its length,
// from the next packet on; sources that no prefix covers stay world.
TEST_P(DenyFastpathTest, EveryIpcacheEntryIsFoundFromTheNextPacket) {
  constexpr uint32_t kCidr = 302, kHost = 303;
  add_rule({kSelf, kCidr, IN, 17, 9, 9, 1});
  add_rule({kSelf, kHost, IN, 17, 9, 9, 0, 2});  // a deny
  auto from = [&](const std::string& src, int family = 4) {
    return send(IN, ip_header(family, src, family == 4 ? kV4.self : kV6.self).udp(5000, 9).build());
  };
  EXPECT_FALSE(from("10.9.1.2")) << "world";
  set_identity("10.9.0.0/16", kCidr);
  EXPECT_TRUE(from("10.9.1.2")) << "the /16, seen at once";
  EXPECT_TRUE(from("10.9.200.7"));
  EXPECT_FALSE(from("10.10.1.2")) << "outside it: world";
  set_identity("10.9.1.2/32", kHost);
  EXPECT_FALSE(from("10.9.1.2")) << "the /32 inside it, denied";
  EXPECT_TRUE(from("10.9.1.3"));
  set_identity("fd00:9::/32", kCidr);
  set_identity("fd00:9::1:2/128", kHost);
  EXPECT_TRUE(from("fd00:9::1:3", 6));
  EXPECT_FALSE(from("fd00:9::1:2", 6));
  EXPECT_FALSE(from("fd00:a::1", 6)) << "world";
  // lengths whose bit stands for a /22 (/54) of a block (ipcache.h):
  // /17-/32 and /49-/128; every key is found, whatever bits its length's
  // masks leave in the block's 6, and an address beside it in the same
  // /22 (a false hit: probed, missed) has the shorter prefix's identity
  set_identity("10.9.128.0/17", kHost);
  EXPECT_FALSE(from("10.9.200.7")) << "the /17";
  EXPECT_TRUE(from("10.9.127.7")) << "beside the /17: the /16";
  set_identity("10.9.4.0/22", kHost);
  EXPECT_FALSE(from("10.9.7.255")) << "the /22";
  EXPECT_TRUE(from("10.9.8.0")) << "the next /22: the /16";
  set_identity("10.9.64.128/25", kHost);
  EXPECT_FALSE(from("10.9.64.129")) << "the /25";
  EXPECT_TRUE(from("10.9.64.127")) << "its /22, outside it: the /16";
  set_identity("fd00:9:0:ff00::/56", kHost);
  EXPECT_FALSE(from("fd00:9:0:ffaa::1", 6)) << "the /56";
  EXPECT_TRUE(from("fd00:9:0:feff::1", 6)) << "beside the /56: the /32";
  set_identity("fd00:9:1:0:8000::/65", kHost);
  EXPECT_FALSE(from("fd00:9:1:0:8000::5", 6)) << "the /65";
  EXPECT_TRUE(from("fd00:9:1:0:7fff::5", 6)) << "its /54, outside it: the /32";
  // each key's bit is set in the map the programs read
  for (const char* prefix : {"10.9.0.0/16", "10.9.1.2/32", "fd00:9::/32", "fd00:9::1:2/128", "10.9.128.0/17",
                             "10.9.4.0/22", "10.9.64.128/25", "fd00:9:0:ff00::/56", "fd00:9:1:0:8000::/65"}) {
    zs_ipcache_key key = Transaction::ipcache_key(*Prefix::parse(prefix));
    uint32_t bit = zs_ipcache_filter_bit(&key), idx = bit >> 6;
    uint64_t w = 0;
    ASSERT_TRUE(dp().map("zs_ipcache_blocks").lookup(&idx, &w));
    EXPECT_TRUE(w >> (bit & 63) & 1) << prefix;
  }
}

INSTANTIATE_TEST_SUITE_P(Hooks, DenyFastpathTest, testing::Values(Variant::xdp_host, Variant::tc_workload),
                         variant_name);

// A datapath pinned by a version without zs_ct_origin_ports and
// zs_ipcache_blocks: the flows in its conntrack and the keys in its
// ipcache set no bit, so every bit is set when the maps are created beside
// pinned ones; a fresh pin directory starts with none.
TEST(DenyFastpathUpgrade, OriginPortsAreAllSetOverConntrackPinnedWithoutThem) {
  ZS_REQUIRE_PRIVILEGED();
  const std::string dir = "/sys/fs/bpf/zs-fastpath-test-" + std::to_string(getpid());
  // both words of entry idx, ANDed: all ones only when both are
  auto word = [](Datapath& dp, uint32_t idx) {
    zs_ct_port_bits b{};
    EXPECT_TRUE(dp.map("zs_ct_origin_ports").lookup(&idx, &b));
    return b.as_source & b.as_dest;
  };
  {
    auto dp = Datapath::load({.pin_dir = dir, .pin = true});
    for (uint32_t i : {0u, ZS_CT_ORIGIN_PORT_WORDS - 1u}) {
      zs_ct_port_bits b{~uint64_t{0}, ~uint64_t{0}};
      ASSERT_TRUE(dp->map("zs_ct_origin_ports").lookup(&i, &b));
      EXPECT_EQ(b.as_source | b.as_dest, 0u) << "a fresh install";
    }
    uint32_t i = 0;
    uint64_t w = ~uint64_t{0};
    ASSERT_TRUE(dp->map("zs_ipcache_blocks").lookup(&i, &w));
    EXPECT_EQ(w, 0u);
  }
  auto filter_word = [](Datapath& dp, uint32_t idx) {
    uint64_t w = 0;
    EXPECT_TRUE(dp.map("zs_ipcache_blocks").lookup(&idx, &w));
    return w;
  };
  ASSERT_EQ(unlink((dir + "/zs_ct_origin_ports").c_str()), 0);
  ASSERT_EQ(unlink((dir + "/zs_ipcache_blocks").c_str()), 0);
  // and the filter of the versions before zs_ipcache_blocks, which this
  // version's keys set no bit in: every bit set (the old programs, still
  // attached, read it until they are replaced), then unpinned, so that a
  // rollback makes it anew
  const std::string retired = dir + "/zs_ipcache_filter";
  LIBBPF_OPTS(bpf_map_create_opts, mmapable, .map_flags = BPF_F_MMAPABLE);
  const int old_filter = bpf_map_create(BPF_MAP_TYPE_ARRAY, "zs_ipcache_filt", 4, 8, ZS_IPCACHE_FILTER_WORDS, &mmapable);
  ASSERT_GE(old_filter, 0);
  ASSERT_EQ(bpf_obj_pin(old_filter, retired.c_str()), 0);
  {
    auto dp = Datapath::load({.pin_dir = dir, .pin = true});
    for (uint32_t i : {0u, 1u, 500u, ZS_CT_ORIGIN_PORT_WORDS - 1u}) EXPECT_EQ(word(*dp, i), ~uint64_t{0}) << i;
    for (uint32_t i : {0u, 1u, 5000u, ZS_IPCACHE_FILTER_WORDS - 1u}) EXPECT_EQ(filter_word(*dp, i), ~uint64_t{0}) << i;
    EXPECT_FALSE(std::filesystem::exists(retired));
    for (uint32_t i : {0u, 1u, 5000u, ZS_IPCACHE_FILTER_WORDS - 1u}) {
      uint64_t w = 0;
      EXPECT_EQ(bpf_map_lookup_elem(old_filter, &i, &w), 0);
      EXPECT_EQ(w, ~uint64_t{0}) << "the retired filter's word " << i;
    }
  }
  close(old_filter);
  Datapath::unpin(dir);
  EXPECT_FALSE(std::filesystem::exists(dir));
}

}  // namespace
}  // namespace zeroseg::test
