// SPDX-License-Identifier: Apache-2.0
// A host uplink's conntrack shares hold the host's own flows only
// (bpf/lib/ct_charge.h): a flow between a local workload and the outside
// is charged to, and refused by, the workload's share on its own
// interface, and the uplink's entry for it is in no share
// (ZS_CT_UNCHARGED). Each test plays the whole path: a flow out arrives on
// the workload's interface (its tc ingress) and leaves by the uplink (tc
// egress, skb->ingress_ifindex the workload's); a flow in arrives on the
// uplink (XDP, or tc ingress) and leaves by the workload's interface (tc
// egress, ingress_ifindex the uplink's). The uplink is on lo (the
// fixture's kIfindex), the two workloads P and V on the ends of a veth of
// the test's own (test_run needs real devices).
#include <net/if.h>
#include <unistd.h>
#include <zeroseg/identity.h>
#include <zeroseg/source.h>

#include <cstdlib>
#include <cstring>

#include "datapath_fixture.h"
#include "loader/conntrack_map.h"

namespace zeroseg::test {
namespace {

using PB = PacketBuilder;
constexpr uint8_t IN = ZS_DIR_INGRESS, OUT = ZS_DIR_EGRESS;
constexpr uint32_t kHost = ZS_ID_HOST, kP = 300, kV = 301;

struct Family {
  int family;
  int table;
  std::string host, p, v, world, world2;
};
const Family kV4{4, 0, "192.0.2.1", "10.0.1.10", "10.0.1.11", "198.51.100.7", "198.51.100.8"};
const Family kV6{6, 1, "2001:db8::1", "fd00:1::10", "fd00:1::11", "2001:db8:7::7", "2001:db8:7::8"};

class UplinkShareTest : public DatapathTest {
 protected:
  void SetUp() override {
    DatapathTest::SetUp();
    if (HasFatalFailure() || IsSkipped()) return;
    name_ = "zs-ul" + std::to_string(getpid() % 100000);
    std::system(("ip link del " + name_ + " 2>/dev/null").c_str());
    ASSERT_EQ(std::system(("ip link add " + name_ + " type veth peer name " + name_ + "p").c_str()), 0);
    p_if_ = if_nametoindex(name_.c_str());
    v_if_ = if_nametoindex((name_ + "p").c_str());
    ASSERT_NE(p_if_, 0u);
    ASSERT_NE(v_if_, 0u);
    Transaction tx(dp());
    // the uplink: the host's identity, judging nothing, only tracking
    set_endpoint(kHost, ZS_MODE_OFF, ZS_MODE_OFF, &tx);
    zs_endpoint ep{};
    ep.kind = ZS_ATTACH_WORKLOAD;
    ep.mode[IN] = ep.mode[OUT] = ZS_MODE_OFF;
    ep.identity = kP;
    tx.set_endpoint(p_if_, ep);
    ep.identity = kV;
    tx.set_endpoint(v_if_, ep);
    for (const Family* f : {&kV4, &kV6}) {
      // as Reconciler::want_sources writes them: own on a workload's
      // interface, local on the uplink
      tx.set_source(Transaction::source_key(p_if_, *IpAddr::parse(f->p)), ZS_SOURCE_OWN);
      tx.set_source(Transaction::source_key(v_if_, *IpAddr::parse(f->v)), ZS_SOURCE_OWN);
      tx.set_source(Transaction::source_key(kIfindex, *IpAddr::parse(f->p)), ZS_SOURCE_LOCAL);
      tx.set_source(Transaction::source_key(kIfindex, *IpAddr::parse(f->v)), ZS_SOURCE_LOCAL);
    }
    tx.commit();
    dp().set_ct_endpoint_share_entries(3, 3);
  }
  void TearDown() override {
    if (dp_) dp().set_ct_endpoint_share(ZS_DEFAULT_CT_ENDPOINT_PERCENT);
    if (!name_.empty()) std::system(("ip link del " + name_ + " 2>/dev/null").c_str());
  }

  bool run(Program prog, uint32_t ifindex, const std::vector<uint8_t>& pkt, uint32_t from = 0) {
    return test_run_passed(prog, test_run(dp().program_fd(prog), prog, pkt, ifindex, 1, 0, 0, from).retval);
  }
  // out of workload wif to the world: its interface, then the uplink
  bool out_of(uint32_t wif, const std::vector<uint8_t>& pkt) {
    return run(Program::tc_ingress, wif, pkt) && run(Program::tc_egress, kIfindex, pkt, wif);
  }
  // from the world in to workload wif: the uplink (by arrival), then its interface
  bool in_to(uint32_t wif, const std::vector<uint8_t>& pkt, Program arrival = Program::xdp_ingress) {
    return run(arrival, kIfindex, pkt) && run(Program::tc_egress, wif, pkt, kIfindex);
  }
  static std::vector<uint8_t> syn(const Family& f, const std::string& src, const std::string& dst, uint16_t sport,
                                  uint16_t dport = 443) {
    return ip_header(f.family, src, dst).tcp(sport, dport, PB::kSyn).build();
  }
  uint32_t count(uint32_t ifindex, const Family& f, uint8_t dir) {
    CtUsage u = CtUsageMap(dp().map("zs_ct_usage")).read();
    auto it = u.find(ifindex);
    return it == u.end() ? 0 : it->second.entries[f.table][dir];
  }
  // the uplink's entries for flows of f, charged or not
  size_t uplink_entries(const Family& f, bool charged) {
    size_t n = 0;
    dp().conntrack().for_each([&](const zs_ct_key& k, const zs_ct_entry& ct) {
      n += k.ifindex == kIfindex && k.tuple.family == (f.family == 4 ? ZS_FAMILY_IPV4 : ZS_FAMILY_IPV6) &&
           (zs_ct_charged(&ct) != 0) == charged;
    });
    return n;
  }
  uint64_t refused() { return counter(ZS_CTR_REASON(ZS_REASON_CT_ENDPOINT_LIMIT)); }
  // Each case starts with no flow tracked and every share at 0.
  void no_flows() {
    dp().conntrack().clear();
    CtUsageMap usage(dp().map("zs_ct_usage"));
    usage.correct({}, usage.read());
  }

  std::string name_;
  uint32_t p_if_ = 0, v_if_ = 0;
};

// P fills its own egress share, then its ingress share: each further flow
// is refused on P's interface (its own share still holds it), while V's
// first flows, out and in, and the host's own pass; the uplink's shares
// count the host's flows alone. IPv4 and IPv6; in by XDP and by tc.
TEST_P(UplinkShareTest, AWorkloadFillsItsOwnSharesNeverTheUplinks) {
  for (const Family* f : {&kV4, &kV6}) {
    for (Program arrival : {Program::xdp_ingress, Program::tc_ingress}) {
      SCOPED_TRACE("IPv" + std::to_string(f->family) + (arrival == Program::xdp_ingress ? " xdp" : " tc"));
      no_flows();
      uint64_t before = refused();
      for (uint16_t sport = 40000; sport < 40003; sport++)
        ASSERT_TRUE(out_of(p_if_, syn(*f, f->p, f->world, sport))) << sport;
      EXPECT_FALSE(out_of(p_if_, syn(*f, f->p, f->world, 40003))) << "P's egress share is full";
      EXPECT_EQ(refused(), before + 1);
      EXPECT_TRUE(out_of(v_if_, syn(*f, f->v, f->world, 50000))) << "V's first flow out";
      for (uint16_t sport = 40000; sport < 40003; sport++)
        ASSERT_TRUE(in_to(p_if_, syn(*f, f->world, f->p, sport), arrival)) << sport;
      EXPECT_FALSE(in_to(p_if_, syn(*f, f->world, f->p, 40003), arrival)) << "P's ingress share is full";
      EXPECT_EQ(refused(), before + 2);
      EXPECT_TRUE(in_to(v_if_, syn(*f, f->world2, f->v, 50000), arrival)) << "V's first client";
      // the host's own flows, out and in, fill the uplink's shares alone
      for (uint16_t sport = 60000; sport < 60003; sport++) {
        ASSERT_TRUE(run(Program::tc_egress, kIfindex, syn(*f, f->host, f->world, sport))) << sport;
        ASSERT_TRUE(run(arrival, kIfindex, syn(*f, f->world, f->host, sport, 22))) << sport;
      }
      EXPECT_EQ(refused(), before + 2);
      EXPECT_FALSE(run(Program::tc_egress, kIfindex, syn(*f, f->host, f->world, 60003)));
      EXPECT_FALSE(run(arrival, kIfindex, syn(*f, f->world, f->host, 60003, 22)));
      EXPECT_EQ(refused(), before + 4);
      EXPECT_EQ(count(kIfindex, *f, OUT), 3u);
      EXPECT_EQ(count(kIfindex, *f, IN), 3u);
      EXPECT_EQ(count(p_if_, *f, OUT), 3u);
      EXPECT_EQ(count(p_if_, *f, IN), 3u);
      EXPECT_EQ(count(v_if_, *f, OUT), 1u);
      EXPECT_EQ(count(v_if_, *f, IN), 1u);
      // P's and V's flows on the uplink: in no share; and the flow in that
      // P's share refused left the uplink no entry
      EXPECT_EQ(uplink_entries(*f, false), 8u);
      EXPECT_EQ(uplink_entries(*f, true), 6u);
    }
  }
}

// A packet that leaves by the uplink with a local workload's source but did
// not arrive on that workload's interface (the host sending from it, which
// IP_FREEBIND allows any user; an unmanaged interface; the uplink itself)
// is the host's, in the uplink's share; one arriving from outside with it
// is dropped as spoofed before anything else.
TEST_P(UplinkShareTest, AHostSenderClaimingAWorkloadsSourceStaysInTheUplinksShare) {
  constexpr uint32_t kUnmanaged = 7777;
  for (const Family* f : {&kV4, &kV6}) {
    SCOPED_TRACE("IPv" + std::to_string(f->family));
    uint64_t before = refused();
    EXPECT_TRUE(run(Program::tc_egress, kIfindex, syn(*f, f->p, f->world, 40000), 0)) << "the host";
    EXPECT_TRUE(run(Program::tc_egress, kIfindex, syn(*f, f->p, f->world, 40001), kUnmanaged)) << "unmanaged";
    EXPECT_TRUE(run(Program::tc_egress, kIfindex, syn(*f, f->p, f->world, 40002), kIfindex)) << "the uplink";
    EXPECT_EQ(count(kIfindex, *f, OUT), 3u);
    EXPECT_FALSE(run(Program::tc_egress, kIfindex, syn(*f, f->p, f->world, 40003), 0)) << "the uplink's share";
    EXPECT_EQ(refused(), before + 1);
    // P itself still opens its own (its interface's share is empty)
    EXPECT_TRUE(out_of(p_if_, syn(*f, f->p, f->world, 40004)));
    uint64_t spoofed = counter(ZS_CTR_REASON(ZS_REASON_UPLINK_SPOOFED_SOURCE));
    EXPECT_FALSE(run(Program::xdp_ingress, kIfindex, syn(*f, f->p, f->v, 40005)));
    EXPECT_EQ(counter(ZS_CTR_REASON(ZS_REASON_UPLINK_SPOOFED_SOURCE)), spoofed + 1);
    EXPECT_EQ(uplink_entries(*f, false), 1u);
  }
}

// A flow in that the workload's policy refuses leaves the uplink no entry:
// else a peer the uplink lets in would fill the table, in no share, with
// flows the workload refuses.
TEST_P(UplinkShareTest, AFlowInTheWorkloadRefusesLeavesTheUplinkNoEntry) {
  {
    Transaction tx(dp());
    zs_endpoint ep{};
    ep.kind = ZS_ATTACH_WORKLOAD;
    ep.identity = kP;
    ep.mode[IN] = ZS_MODE_ENFORCE;
    tx.set_endpoint(p_if_, ep);
    add_rule({kP, ZS_ID_WORLD, IN, 6, 443, 443, 1}, &tx);
    tx.commit();
  }
  for (const Family* f : {&kV4, &kV6}) {
    SCOPED_TRACE("IPv" + std::to_string(f->family));
    for (uint16_t sport = 40000; sport < 40010; sport++)
      EXPECT_FALSE(in_to(p_if_, syn(*f, f->world, f->p, sport, 22))) << sport;
    EXPECT_TRUE(in_to(p_if_, syn(*f, f->world, f->p, 41000)));
    EXPECT_EQ(uplink_entries(*f, false), 1u) << "only the allowed flow's";
    EXPECT_EQ(uplink_entries(*f, true), 0u);
  }
}

// The sweep's recount (FlowTable::sweep counts each entry with
// ct_usage_add) skips what the kernel does not charge, so it agrees with
// the kernel's counts and a correction moves nothing; a revoked flow in no
// share gives the uplink nothing back, a revoked flow of the host's own
// does.
TEST_P(UplinkShareTest, TheRecountAndRevocationsAgreeWithTheKernel) {
  add_rule({kHost, ZS_ID_WORLD, IN, 6, 0, 0, 9});
  set_endpoint(kHost, ZS_MODE_ENFORCE, ZS_MODE_OFF);
  for (const Family* f : {&kV4, &kV6}) {
    ASSERT_TRUE(out_of(p_if_, syn(*f, f->p, f->world, 40000)));
    ASSERT_TRUE(in_to(p_if_, syn(*f, f->world, f->p, 40001)));
    ASSERT_TRUE(in_to(v_if_, syn(*f, f->world, f->v, 40002)));
    ASSERT_TRUE(run(Program::xdp_ingress, kIfindex, syn(*f, f->world, f->host, 40003, 22)));
    ASSERT_TRUE(run(Program::tc_egress, kIfindex, syn(*f, f->host, f->world, 40004)));
  }
  CtUsageMap usage(dp().map("zs_ct_usage"));
  CtUsage before = usage.read();
  CtUsage walked;
  dp().conntrack().for_each([&](const zs_ct_key& k, const zs_ct_entry& e) { ct_usage_add(walked, k, e, 1); });
  for (uint32_t ifindex : {kIfindex, p_if_, v_if_}) {
    SCOPED_TRACE(ifindex);
    EXPECT_EQ(std::memcmp(&walked[ifindex], &before[ifindex], sizeof(zs_ct_usage)), 0);
  }
  EXPECT_EQ(walked.size(), 3u);
  EXPECT_EQ(walked[kIfindex].entries[0][IN], 1u);
  EXPECT_EQ(walked[kIfindex].entries[1][OUT], 1u);
  usage.correct(walked, before);
  EXPECT_EQ(std::memcmp(&usage.read()[kIfindex], &before[kIfindex], sizeof(zs_ct_usage)), 0);
  // revoked on the uplink: P's flow in (in no share), then the host's own
  remove_rule({kHost, ZS_ID_WORLD, IN, 6, 0, 0, 9});
  for (const Family* f : {&kV4, &kV6}) {
    SCOPED_TRACE("IPv" + std::to_string(f->family));
    EXPECT_FALSE(run(Program::xdp_ingress, kIfindex,
                     ip_header(f->family, f->world, f->p).tcp(40001, 443, PB::kAck).build()));
    EXPECT_EQ(count(kIfindex, *f, IN), 1u);
    EXPECT_FALSE(run(Program::xdp_ingress, kIfindex,
                     ip_header(f->family, f->world, f->host).tcp(40003, 22, PB::kAck).build()));
    EXPECT_EQ(count(kIfindex, *f, IN), 0u);
  }
}

// A new flow on the key of one that idled out replaces its entry: the old
// entry's charge goes with it and the new one's is made (zs_ct_store), so
// the counts follow whichever share each holds, without waiting for the
// sweep.
TEST_P(UplinkShareTest, AnEntryReplacedOnItsKeyHandsItsChargeOver) {
  auto age_uplink_entries = [&] {
    for (auto [k, ct] : dp().conntrack().entries())
      if (k.ifindex == kIfindex) {
        ct.last_seen_ns = 1;
        ct.last_seen_jiffies = 0;
        dp().conntrack().put(k, ct);
      }
  };
  for (const Family* f : {&kV4, &kV6}) {
    SCOPED_TRACE("IPv" + std::to_string(f->family));
    auto pkt = syn(*f, f->p, f->world, 40000);
    ASSERT_TRUE(run(Program::tc_egress, kIfindex, pkt, p_if_));  // P's: in no share
    EXPECT_EQ(count(kIfindex, *f, OUT), 0u);
    age_uplink_entries();
    ASSERT_TRUE(run(Program::tc_egress, kIfindex, pkt, 0));  // the host's, same key
    EXPECT_EQ(count(kIfindex, *f, OUT), 1u);
    EXPECT_EQ(uplink_entries(*f, true), 1u);
    age_uplink_entries();
    ASSERT_TRUE(run(Program::tc_egress, kIfindex, pkt, p_if_));  // P's again
    EXPECT_EQ(count(kIfindex, *f, OUT), 0u);
    EXPECT_EQ(uplink_entries(*f, false), 1u);
    age_uplink_entries();
    ASSERT_TRUE(run(Program::tc_egress, kIfindex, pkt, p_if_));  // P's again: as it was
    EXPECT_EQ(count(kIfindex, *f, OUT), 0u);
  }
}

// Attack review 4: a flow in to a local workload's address is in no share
// of the uplink's because the workload's interface judges and charges it,
// and takes the uplink's entry with it when it refuses it. A packet the
// host does not forward reaches neither: TTL (hop limit) 1, which any
// sender picks. A peer the uplink lets in sent SYNs with TTL 1 to a
// workload, from ports of its choosing: each left the uplink an entry in
// no share for the SYN-SENT timeout (2 min), without bound, where the
// uplink's ingress share (3 here) bounded them before. Such a packet now
// stays in the uplink's share and is refused past it; a flow in that is
// forwarded is still in no share of the uplink's. Failed before the fix:
// 10 entries in no share. IPv4 and IPv6, in by XDP and by tc.
TEST_P(UplinkShareTest, APacketTheHostDoesNotForwardStaysInTheUplinksShare) {
  for (const Family* f : {&kV4, &kV6}) {
    for (Program arrival : {Program::xdp_ingress, Program::tc_ingress}) {
      SCOPED_TRACE("IPv" + std::to_string(f->family) + (arrival == Program::xdp_ingress ? " xdp" : " tc"));
      no_flows();
      uint64_t before = refused();
      int passed = 0;
      for (uint16_t sport = 40000; sport < 40010; sport++)
        passed += run(arrival, kIfindex, ip_header(f->family, f->world, f->p).hop_limit(1).tcp(sport, 443).build());
      EXPECT_EQ(uplink_entries(*f, false), 0u) << "TTL 1 flows in no share";
      EXPECT_EQ(uplink_entries(*f, true), 3u);
      EXPECT_EQ(passed, 3);
      EXPECT_EQ(refused(), before + 7);
      // a flow in the host forwards is still the workload's to charge
      EXPECT_TRUE(in_to(v_if_, syn(*f, f->world2, f->v, 50000), arrival)) << "V's first client";
      EXPECT_EQ(uplink_entries(*f, false), 1u);
    }
  }
}

// A flow in by the uplink looks its destination up in zs_sources only when
// some address of its family is there (the lookup plan's
// ZS_PLAN_SOURCES_V4/V6, ct_charge.h: a node with no local workload of the
// family pays no probe per new flow). With the workloads' addresses of one
// family only, a flow in to them is still theirs, in no share of the
// uplink's, and one of the other family to the same hosts' numbers (no
// local address there) stays the uplink's. Tried with the family's flag
// mixed up (the IPv4 flag read for both): the IPv6-only case failed,
// charged to the uplink.
TEST_P(UplinkShareTest, AFlowInToWorkloadsOfOneFamilyOnlyIsTheirs) {
  for (const Family* only : {&kV4, &kV6}) {
    const Family* other = only == &kV4 ? &kV6 : &kV4;
    SCOPED_TRACE("local workloads of IPv" + std::to_string(only->family) + " only");
    Transaction tx(dp());
    for (const Family* f : {&kV4, &kV6}) {
      auto p_key = Transaction::source_key(kIfindex, *IpAddr::parse(f->p));
      auto v_key = Transaction::source_key(kIfindex, *IpAddr::parse(f->v));
      auto p_own = Transaction::source_key(p_if_, *IpAddr::parse(f->p));
      auto v_own = Transaction::source_key(v_if_, *IpAddr::parse(f->v));
      if (f == only) {
        tx.set_source(p_key, ZS_SOURCE_LOCAL);
        tx.set_source(v_key, ZS_SOURCE_LOCAL);
        tx.set_source(p_own, ZS_SOURCE_OWN);
        tx.set_source(v_own, ZS_SOURCE_OWN);
      } else {
        tx.remove_source(p_key);
        tx.remove_source(v_key);
        tx.remove_source(p_own);
        tx.remove_source(v_own);
      }
    }
    tx.commit();
    no_flows();
    ASSERT_TRUE(in_to(p_if_, syn(*only, only->world, only->p, 40000)));
    EXPECT_EQ(count(kIfindex, *only, IN), 0u);
    EXPECT_EQ(count(p_if_, *only, IN), 1u);
    EXPECT_EQ(uplink_entries(*only, false), 1u);
    // the other family: no local address, so the uplink's
    ASSERT_TRUE(run(Program::xdp_ingress, kIfindex, syn(*other, other->world, other->p, 40000)));
    EXPECT_EQ(count(kIfindex, *other, IN), 1u);
    EXPECT_EQ(uplink_entries(*other, true), 1u);
  }
}

INSTANTIATE_TEST_SUITE_P(Hooks, UplinkShareTest, testing::Values(Variant::xdp_host), variant_name);

}  // namespace
}  // namespace zeroseg::test
