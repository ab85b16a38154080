// SPDX-License-Identifier: Apache-2.0
// Table-driven verdict tests: packets from PacketBuilder through the real
// programs (BPF_PROG_TEST_RUN), for IPv4 and IPv6, for the XDP and the tc
// programs.
#include <zeroseg/identity.h>

#include "datapath_fixture.h"

namespace zeroseg::test {
namespace {

using PB = PacketBuilder;
constexpr uint8_t IN = ZS_DIR_INGRESS, OUT = ZS_DIR_EGRESS;
constexpr uint8_t kTcp = 6, kUdp = 17, kSctp = 132;

constexpr uint32_t kSelf = 300, kApp = 400, kDbNet = 500, kAdmin = 600;

// The test world: one subject (the endpoint) and its peers, per family.
struct World {
  int family;
  std::string self, app, member /* in db net */, admin /* a /32 in db net */, outsider;
  std::string app_prefix, db_prefix, admin_prefix;
  uint8_t icmp_proto;
  uint8_t echo_request, echo_reply, unreachable;
};

const World kV4{4, "10.0.1.10", "10.0.2.20", "10.0.3.8", "10.0.3.7", "198.51.100.9",
                "10.0.2.20/32", "10.0.3.0/24", "10.0.3.7/32", 1, 8, 0, 3};
const World kV6{6, "fd00:1::10", "fd00:2::20", "fd00:3::8", "fd00:3::7", "2001:db8::9",
                "fd00:2::20/128", "fd00:3::/64", "fd00:3::7/128", 58, 128, 129, 1};

PB ip(const World& w, const std::string& src, const std::string& dst) {
  PB b;
  b.eth();
  return w.family == 4 ? b.ipv4(src, dst) : b.ipv6(src, dst);
}

// Packets towards the subject (ingress) and from it (egress).
std::vector<uint8_t> in_tcp(const World& w, const std::string& from, uint16_t dport, uint8_t flags = PB::kSyn,
                            uint16_t sport = 40000) {
  return ip(w, from, w.self).tcp(sport, dport, flags).build();
}
std::vector<uint8_t> out_tcp(const World& w, const std::string& to, uint16_t dport, uint8_t flags = PB::kSyn,
                             uint16_t sport = 40000) {
  return ip(w, w.self, to).tcp(sport, dport, flags).build();
}

std::vector<Case> verdict_cases(const World& w) {
  const auto& s = w.self;
  std::vector<Case> cases = {
      {"allow by identity and port", {{IN, in_tcp(w, w.app, 80), true}}},
      {"default deny: port no rule names", {{IN, in_tcp(w, w.app, 81), false}}},
      {"default deny: peer no rule names", {{IN, in_tcp(w, w.member, 80), false}}},
      {"port range: port-1", {{IN, in_tcp(w, w.app, 7999), false}}},
      {"port range: port", {{IN, in_tcp(w, w.app, 8000), true}}},
      {"port range: endPort", {{IN, in_tcp(w, w.app, 8080), true}}},
      {"port range: endPort+1", {{IN, in_tcp(w, w.app, 8081), false}}},
      {"wildcard peer", {{IN, in_tcp(w, w.app, 443), true}, {IN, in_tcp(w, w.outsider, 443), true}}},
      {"deny beats allow", {{IN, in_tcp(w, w.member, 443), false}}},
      {"wildcard port", {{IN, in_tcp(w, w.admin, 22), true}, {IN, in_tcp(w, w.admin, 65535), true}}},
      {"longest prefix: a /32 inside a /24 keeps its own identity",
       {{IN, in_tcp(w, w.member, 22), false}, {IN, in_tcp(w, w.admin, 22), true}}},
      {"protocol mismatch: a UDP rule never opens TCP",
       {{IN, ip(w, w.app, s).udp(40000, 53).build(), true}, {IN, in_tcp(w, w.app, 53), false}}},
      {"world identity", {{IN, in_tcp(w, w.outsider, 25), true}, {IN, in_tcp(w, w.app, 25), false}}},
      {"icmp echo by type",
       {{IN, ip(w, w.app, s).icmp(w.echo_request, 0, 77).build(), true},
        {IN, ip(w, w.outsider, s).icmp(w.echo_request, 0, 78).build(), false}}},
      {"icmp echo out without a rule", {{OUT, ip(w, s, w.app).icmp(w.echo_request, 0, 79).build(), false}}},
      {"icmp echo reply to an allowed ping",
       {{IN, ip(w, w.app, s).icmp(w.echo_request, 0, 80).build(), true},
        {OUT, ip(w, s, w.app).icmp(w.echo_reply, 0, 80).build(), true}}},
      {"sctp", {{IN, ip(w, w.app, s).sctp(5000, 9000).build(), true},
                {IN, ip(w, w.app, s).sctp(5000, 9001).build(), false}}},
      {"vlan tagged",
       {{IN, [&] { PB b; b.eth().vlan(10); return (w.family == 4 ? b.ipv4(w.app, s) : b.ipv6(w.app, s)).tcp(40000, 80).build(); }(), true},
        {IN, [&] { PB b; b.eth().vlan(10); return (w.family == 4 ? b.ipv4(w.app, s) : b.ipv6(w.app, s)).tcp(40000, 81).build(); }(), false}}},
      {"802.1ad outer tag and 802.1Q inner tag",
       {{IN, [&] { PB b; b.eth().vlan(20, 0x88a8).vlan(10); return (w.family == 4 ? b.ipv4(w.app, s) : b.ipv6(w.app, s)).tcp(40000, 80).build(); }(), true}}},
      {"tcp reply of an allowed flow passes",
       {{OUT, out_tcp(w, w.app, 5432), true},
        {IN, ip(w, w.app, s).tcp(5432, 40000, PB::kSyn | PB::kAck).build(), true},
        {OUT, out_tcp(w, w.app, 5432, PB::kAck), true}}},
      {"unrelated inbound SYN does not",
       {{IN, ip(w, w.app, s).tcp(5432, 40000, PB::kSyn).build(), false}}},
      {"egress default deny", {{OUT, out_tcp(w, w.app, 5433), false}}},
      {"icmp error related to an allowed flow",
       {{OUT, ip(w, s, w.app).udp(40000, 53).build(), true},
        {IN, ip(w, w.app, s).icmp(w.unreachable, 3).payload([&] {
            PB q;
            return (w.family == 4 ? q.ipv4(s, w.app) : q.ipv6(s, w.app)).udp(40000, 53).build();
          }()).build(), true}}},
      {"icmp error about no known flow",
       {{IN, ip(w, w.app, s).icmp(w.unreachable, 3).payload([&] {
            PB q;
            return (w.family == 4 ? q.ipv4(s, w.app) : q.ipv6(s, w.app)).udp(40001, 53).build();
          }()).build(), false}}},
      {"first fragment, then a later one of the same datagram",
       {{IN, ip(w, w.app, s).fragment(0, true, 7).udp(40000, 53).payload(64).build(), true},
        {IN, ip(w, w.app, s).fragment(72, false, 7).proto(kUdp).payload(64).build(), true}}},
      {"later fragment without its first",
       {{IN, ip(w, w.app, s).fragment(72, false, 8).proto(kUdp).payload(64).build(), false}}},
      {"fragments of a denied datagram stay denied",
       {{IN, ip(w, w.app, s).fragment(0, true, 9).udp(40000, 54).payload(64).build(), false},
        {IN, ip(w, w.app, s).fragment(72, false, 9).proto(kUdp).payload(64).build(), false}}},
      {"non-IP (ARP) passes", {{IN, PB().eth().arp().build(), true}}},
  };
  if (w.family == 4) {
    cases.push_back({"IPv4 options",
                     {{IN, PB().eth().ipv4(w.app, s).ipv4_options({1, 1, 1, 0x94, 4, 0, 0}).tcp(40000, 80).build(), true},
                      {IN, PB().eth().ipv4(w.app, s).ipv4_options({1, 1, 1}).tcp(40000, 81).build(), false}}});
    cases.push_back({"ICMPv6 neighbour discovery inside IPv4 is judged like any protocol, not passed",
                     {{IN, PB().eth().ipv4(w.outsider, s).proto(58).payload({135, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}).build(),
                       false}}});
  } else {
    cases.push_back({"IPv6 extension header chain",
                     {{IN, PB().eth().ipv6(w.app, s).ipv6_ext(0).ipv6_ext(60, 1).ipv6_ext(43).tcp(40000, 80).build(), true},
                      {IN, PB().eth().ipv6(w.app, s).ipv6_ext(0).ipv6_ext(60).ipv6_ext(43).tcp(40000, 81).build(), false}}});
    // (the rules of what passes: nd_test.cpp)
    cases.push_back({"neighbour discovery on the link passes under default deny",
                     {{IN, ip(w, "fe80::1", "ff02::1:ff00:10").hop_limit(255).nd(135, s).build(), true},
                      {OUT, ip(w, s, "fe80::1").hop_limit(255).nd(136, s).build(), true}}});
    cases.push_back({"neighbour discovery with a hop limit below 255 is judged like any ICMPv6",
                     {{IN, ip(w, w.outsider, s).icmp(135, 0).payload(16).build(), false},
                      {OUT, ip(w, s, w.outsider).icmp(136, 0).payload(16).build(), false}}});
  }
  return cases;
}

class VerdictTest : public DatapathTest {
 protected:
  void install_world(const World& w) {
    Transaction tx(dp());
    set_endpoint(kSelf, ZS_MODE_ENFORCE, ZS_MODE_ENFORCE, &tx);
    set_identity(w.app_prefix, kApp, &tx);
    set_identity(w.db_prefix, kDbNet, &tx);
    set_identity(w.admin_prefix, kAdmin, &tx);
    uint16_t echo = static_cast<uint16_t>(w.echo_request << 8);
    for (const RuleSpec& r : std::vector<RuleSpec>{
             {kSelf, kApp, IN, kTcp, 80, 80, 1},
             {kSelf, kApp, IN, kTcp, 8000, 8080, 2},
             {kSelf, ZS_ID_ANY, IN, kTcp, 443, 443, 3},
             {kSelf, kDbNet, IN, kTcp, 443, 443, 0, 4},
             {kSelf, kAdmin, IN, kTcp, 0, 0, 5},
             {kSelf, kApp, IN, kUdp, 53, 53, 6},
             {kSelf, ZS_ID_WORLD, IN, kTcp, 25, 25, 7},
             {kSelf, kApp, IN, w.icmp_proto, echo, static_cast<uint16_t>(echo | 0xff), 8},
             {kSelf, kApp, IN, kSctp, 9000, 9000, 9},
             {kSelf, kApp, OUT, kTcp, 5432, 5432, 10},
             {kSelf, kApp, OUT, kUdp, 53, 53, 11},
         })
      add_rule(r, &tx);
    tx.commit();
  }
};

TEST_P(VerdictTest, Table) {
  for (const World* w : {&kV4, &kV6}) {
    for (const Case& c : verdict_cases(*w)) {
      SetUp();  // no flows or state from the case before
      install_world(*w);
      int n = 0;
      for (const Step& step : c.steps) {
        SCOPED_TRACE("IPv" + std::to_string(w->family) + ": " + c.name + ", step " + std::to_string(++n));
        EXPECT_EQ(send(step.direction, step.packet), step.pass);
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Hooks, VerdictTest, testing::Values(Variant::xdp_host, Variant::tc_workload),
                         variant_name);

}  // namespace
}  // namespace zeroseg::test
