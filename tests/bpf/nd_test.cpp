// SPDX-License-Identifier: Apache-2.0
// IPv6 neighbour discovery under a deny-all policy: what passes without a
// rule (RFC 4861 messages that cannot have crossed, or cannot cross, a
// router: bpf/lib/parse.h, zs_nd_class) and what is judged, and so
// dropped, like any other ICMPv6. Through the real programs, for the XDP
// and the tc programs.
#include "datapath_fixture.h"

namespace zeroseg::test {
namespace {

using PB = PacketBuilder;
constexpr uint8_t IN = ZS_DIR_INGRESS, OUT = ZS_DIR_EGRESS;
constexpr uint8_t kRS = 133, kRA = 134, kNS = 135, kNA = 136, kRedirect = 137;
constexpr uint32_t kSelf = 300;

// The subject: fd00:1::10 and fe80::10; its router on the link: fe80::1
// and fd00:1::1; somewhere off the link: 2001:db8::9.
const std::string kSelfIp = "fd00:1::10", kSelfLl = "fe80::10", kSelfSolicited = "ff02::1:ff00:10";
const std::string kRouterIp = "fd00:1::1", kRouterLl = "fe80::1", kRouterSolicited = "ff02::1:ff00:1";
const std::string kFar = "2001:db8::9";

// An ND message of type from src to dst with hop limit hops, and data.
std::vector<uint8_t> nd(uint8_t type, const std::string& src, const std::string& dst, uint8_t hops = 255,
                        const std::string& target = kRouterIp, size_t data = 0) {
  return PB().eth().ipv6(src, dst).hop_limit(hops).nd(type, target).payload(data).build();
}

std::vector<Case> nd_cases() {
  return {
      // what the link needs
      {"NS, hop limit 255, link-local source, solicited-node destination",
       {{OUT, nd(kNS, kSelfLl, kRouterSolicited, 255, kRouterIp), true},
        {IN, nd(kNS, kRouterLl, kSelfSolicited, 255, kSelfIp), true}}},
      {"DAD NS from :: to the solicited-node address (7.1.1)",
       {{OUT, nd(kNS, "::", kSelfSolicited, 255, kSelfIp), true},
        {IN, nd(kNS, "::", kSelfSolicited, 255, kSelfIp), true}}},
      {"RA from link-local to all-nodes ff02::1 (6.1.2)",
       {{IN, nd(kRA, kRouterLl, "ff02::1"), true}, {OUT, nd(kRA, kSelfLl, "ff02::1"), true}}},
      {"RS from link-local or :: to all-routers ff02::2 (6.1.1)",
       {{OUT, nd(kRS, kSelfLl, "ff02::2"), true}, {OUT, nd(kRS, "::", "ff02::2"), true}}},
      {"NS from a global source to a solicited-node address (Linux resolves with the source of the packet "
       "waiting)",
       {{OUT, nd(kNS, kSelfIp, kRouterSolicited), true}, {IN, nd(kNS, kRouterIp, kSelfSolicited, 255, kSelfIp), true}}},
      {"unicast NS and solicited NA from a link-local source (NUD, 7.2.4)",
       {{OUT, nd(kNS, kSelfLl, kRouterIp), true}, {OUT, nd(kNA, kSelfLl, kRouterIp, 255, kSelfIp), true},
        {IN, nd(kNA, kRouterLl, kSelfIp), true}}},
      {"NA global to global unicast, hop limit 255, arriving: sent on this link",
       {{IN, nd(kNA, kRouterIp, kSelfIp), true}, {IN, nd(kNS, kRouterIp, kSelfIp, 255, kSelfIp), true}}},
      {"redirect from the router's link-local address (8.1)",
       {{IN, nd(kRedirect, kRouterLl, kSelfIp, 255, "fd00:1::2"), true}}},

      // what it does not
      {"NS with hop limit 64",
       {{OUT, nd(kNS, kSelfLl, kRouterSolicited, 64), false}, {IN, nd(kNS, kRouterLl, kSelfSolicited, 64), false}}},
      {"NS/NA/RA with data from a global source to a global unicast address on another link, sent",
       {{OUT, nd(kNS, kSelfIp, kFar, 255, kFar, 200), false},
        {OUT, nd(kNA, kSelfIp, kFar, 255, kSelfIp, 200), false},
        {OUT, nd(kRA, kSelfIp, kFar, 255, kFar, 200), false},
        {OUT, nd(kRedirect, kSelfIp, kFar, 255, kFar, 200), false}}},
      {"NS/NA/RA from a global source on another link, arriving (forwarded: hop limit 254)",
       {{IN, nd(kNS, kFar, kSelfIp, 254, kSelfIp, 200), false},
        {IN, nd(kNA, kFar, kSelfIp, 254, kFar, 200), false},
        {IN, nd(kRA, kFar, kSelfIp, 254, kFar, 200), false},
        {IN, nd(kNS, kRouterLl, kSelfSolicited, 254, kSelfIp), false}}},
      {"RA and redirect from a global source, even to all-nodes (6.1.2, 8.1)",
       {{IN, nd(kRA, kRouterIp, "ff02::1"), false}, {IN, nd(kRedirect, kRouterIp, kSelfIp, 255, "fd00:1::2"), false}}},
      {"ND to a multicast address beyond the link (ff0e::, ff05::)",
       {{OUT, nd(kNS, kSelfIp, "ff0e::1:ff00:1"), false}, {OUT, nd(kNA, kSelfIp, "ff05::1"), false}}},
      {":: source other than DAD NS and RS: NA, RA, NS to a unicast address",
       {{OUT, nd(kNA, "::", "ff02::1", 255, kSelfIp), false},
        {OUT, nd(kRA, "::", "ff02::1"), false},
        {OUT, nd(kNS, "::", kRouterIp), false}}},
      {"a multicast source", {{OUT, nd(kNS, "ff02::1", kRouterSolicited), false}}},
      {"ICMP code other than 0",
       {{OUT, PB().eth().ipv6(kSelfLl, kRouterSolicited).hop_limit(255).icmp(kNS, 1).payload(16).build(), false}}},
      {"ND in a fragment, or behind any extension header (RFC 6980 section 5)",
       {{OUT, PB().eth().ipv6(kSelfLl, kRouterSolicited).hop_limit(255).fragment(0, true, 5).nd(kNS, kRouterIp).build(),
         false},
        {OUT, PB().eth().ipv6(kSelfLl, kRouterSolicited).hop_limit(255).fragment(0, false, 6).nd(kNS, kRouterIp).build(),
         false},
        {OUT, PB().eth().ipv6(kSelfLl, kRouterSolicited).hop_limit(255).ipv6_ext(0).nd(kNS, kRouterIp).build(), false}}},
  };
}

class NeighbourDiscoveryTest : public DatapathTest {
 protected:
  void SetUp() override {
    DatapathTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    set_endpoint(kSelf, ZS_MODE_ENFORCE, ZS_MODE_ENFORCE);  // deny-all: no rules
  }
};

TEST_P(NeighbourDiscoveryTest, DenyAll) {
  for (const Case& c : nd_cases()) {
    SetUp();
    int n = 0;
    for (const Step& step : c.steps) {
      SCOPED_TRACE(c.name + ", step " + std::to_string(++n) + (step.direction == IN ? " (ingress)" : " (egress)"));
      EXPECT_EQ(send(step.direction, step.packet), step.pass);
    }
  }
}

TEST_P(NeighbourDiscoveryTest, OffLinkNdIsDroppedAsDefaultDenyAndCounted) {
  uint64_t before = counter(ZS_CTR_REASON(ZS_REASON_DEFAULT_DENY));
  EXPECT_FALSE(send(OUT, nd(kNS, kSelfIp, kFar, 255, kFar, 200)));
  EXPECT_EQ(counter(ZS_CTR_REASON(ZS_REASON_DEFAULT_DENY)), before + 1);
}

TEST_P(NeighbourDiscoveryTest, NdThatIsNotPassedIsJudgedByPolicy) {
  // an allow rule for NS to the world opens what the ND rules do not pass
  uint16_t ns = kNS << 8;
  add_rule({kSelf, ZS_ID_WORLD, OUT, 58, ns, static_cast<uint16_t>(ns | 0xff), 1});
  EXPECT_TRUE(send(OUT, nd(kNS, kSelfIp, kFar, 64, kFar)));
  EXPECT_FALSE(send(OUT, nd(kNA, kSelfIp, "2001:db8::8", 64, kSelfIp)));
}

INSTANTIATE_TEST_SUITE_P(Hooks, NeighbourDiscoveryTest, testing::Values(Variant::xdp_host, Variant::tc_workload),
                         variant_name);

}  // namespace
}  // namespace zeroseg::test
