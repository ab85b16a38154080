// SPDX-License-Identifier: Apache-2.0
// Policy forms and the lazy peer (issue 16; bpf/lib/lazy_peer.h,
// include/zeroseg/policy_forms.h): a policy probe whose form (the key but
// its peer) no key ever had is skipped, and a flow that no key naming a
// peer can match is judged without its peer's identity, which is looked
// up only for what reports it (an event, the deny cache's slot, a tracked
// flow). Each test tries to make the shortcut lie: a rule of every form
// (port ranges, any peer, any protocol, ICMP types, /0 to /32 and /128
// prefixes, IPv6), added after traffic was judged without it; events of
// denies and audits that must still name the peer; the deny cache's
// answers; a datapath pinned without the filter.
// One CPU throughout: the deny cache and the event budget are per CPU.
#include <bpf/libbpf.h>
#include <sched.h>
#include <unistd.h>
#include <zeroseg/event.h>
#include <zeroseg/identity.h>
#include <zeroseg/policy_forms.h>
#include <zeroseg/proto.h>

#include <filesystem>

#include "datapath_fixture.h"

namespace zeroseg::test {
namespace {

using PB = PacketBuilder;
constexpr uint8_t IN = ZS_DIR_INGRESS, OUT = ZS_DIR_EGRESS;
constexpr uint32_t kSelf = 300;
// identities of prefixes of every length: /0, /16, /32; ::/0, /32, /128
constexpr uint32_t kAll4 = 700, kCidr4 = 701, kHost4 = 702, kAll6 = 703, kCidr6 = 704, kHost6 = 705;
const std::string kSelf4 = "10.0.1.10", kSelf6 = "fd00:1::10";

std::vector<uint8_t> udp(const std::string& src, uint16_t dport, uint16_t sport = 40000) {
  int family = src.find(':') == std::string::npos ? 4 : 6;
  return ip_header(family, src, family == 4 ? kSelf4 : kSelf6).udp(sport, dport).build();
}
std::vector<uint8_t> udp_reply(const std::string& to, uint16_t sport, uint16_t dport = 40000) {
  int family = to.find(':') == std::string::npos ? 4 : 6;
  return ip_header(family, family == 4 ? kSelf4 : kSelf6, to).udp(sport, dport).build();
}
std::vector<uint8_t> syn(const std::string& src, uint16_t dport, uint16_t sport = 40000) {
  int family = src.find(':') == std::string::npos ? 4 : 6;
  return ip_header(family, src, family == 4 ? kSelf4 : kSelf6).tcp(sport, dport, PB::kSyn).build();
}
std::vector<uint8_t> echo(const std::string& src, uint16_t id = 7) {
  int family = src.find(':') == std::string::npos ? 4 : 6;
  return ip_header(family, src, family == 4 ? kSelf4 : kSelf6).icmp(family == 4 ? 8 : 128, 0, id).build();
}

class LazyPeerTest : public DatapathTest {
 protected:
  void SetUp() override {
    DatapathTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(sched_getcpu(), &set);
    sched_setaffinity(0, sizeof(set), &set);
    // No policy key is left (the fixture removed them): forget every form
    // earlier tests wrote, so that only this test's keys set bits and a
    // form it never wrote is really skipped.
    const uint64_t none = 0;
    const MapRef& filter = dp().map("zs_policy_filter");
    for (uint32_t i = 0; i < ZS_POLICY_FILTER_WORDS; i++) filter.update(&i, &none);
    // every deny reported: the events are what is checked
    dp().set_deny_event_rate(1000000, 1000000);
    Transaction tx(dp());
    set_endpoint(kSelf, ZS_MODE_ENFORCE, ZS_MODE_ENFORCE, &tx);
    set_identity("0.0.0.0/0", kAll4, &tx);
    set_identity("10.9.0.0/16", kCidr4, &tx);
    set_identity("10.9.1.2/32", kHost4, &tx);
    set_identity("::/0", kAll6, &tx);
    set_identity("fd00:9::/32", kCidr6, &tx);
    set_identity("fd00:9::1:2/128", kHost6, &tx);
    // some form naming a peer exists (udp/9), so peers are looked up for it
    add_rule({kSelf, kCidr4, IN, 17, 9, 9, 1}, &tx);
    tx.commit();
    drain_events();
  }
  void TearDown() override {
    dp().set_deny_event_rate(ZS_DEFAULT_DENY_EVENTS_PER_SEC, ZS_DEFAULT_DENY_EVENTS_BURST);
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
  // Sends packet in; expects verdict `pass` and exactly one event of type
  // with peer and reason. Returns a description of what differed, or "".
  std::string expect(const std::vector<uint8_t>& packet, bool pass, uint8_t type, uint32_t peer,
                     uint8_t reason = ZS_REASON_NONE) {
    std::string what;
    if (send(IN, packet) != pass) what += pass ? "dropped; " : "passed; ";
    auto ev = drain_events();
    if (ev.size() != 1) return what + std::to_string(ev.size()) + " events";
    if (ev[0].type != type) what += "event type " + std::to_string(ev[0].type) + "; ";
    if (ev[0].peer != peer) what += "peer " + std::to_string(ev[0].peer) + ", want " + std::to_string(peer) + "; ";
    if (ev[0].subject != kSelf) what += "subject " + std::to_string(ev[0].subject) + "; ";
    if (ev[0].reason != reason) what += "reason " + std::to_string(ev[0].reason) + "; ";
    return what;
  }
};

// Nothing names a peer on these ports, so their verdict is judged without
// the peer; every deny event must still name it, whichever prefix length
// (or none: world) holds the source, for each protocol and family, and so
// must those of a flow answered from the deny cache (its third packet).
TEST_P(LazyPeerTest, DenyEventsNameThePeerThoughNoRuleNamesOne) {
  const std::pair<std::string, uint32_t> sources[] = {
      {"10.9.1.2", kHost4}, {"10.9.200.1", kCidr4}, {"192.0.2.1", kAll4},
      {"fd00:9::1:2", kHost6}, {"fd00:9::7", kCidr6}, {"2001:db8::1", kAll6},
  };
  uint16_t sport = 41000;
  for (const auto& [src, id] : sources) {
    SCOPED_TRACE(src);
    constexpr uint8_t kDeny = ZS_EVENT_DENY, kDefault = ZS_REASON_DEFAULT_DENY;
    EXPECT_EQ(expect(udp(src, 7, sport++), false, kDeny, id, kDefault), "") << "udp/7";
    EXPECT_EQ(expect(syn(src, 7, sport++), false, kDeny, id, kDefault), "") << "tcp/7";
    EXPECT_EQ(expect(echo(src, sport++), false, kDeny, id, kDefault), "") << "echo";
    auto flow = udp(src, 8, sport++);
    for (int i = 0; i < 3; i++)
      EXPECT_EQ(expect(flow, false, kDeny, id, kDefault), "") << "udp/8, packet " << i + 1 << " (3rd: the deny cache)";
  }
  EXPECT_EQ(expect(udp("10.9.1.2", 9), false, ZS_EVENT_DENY, kHost4, ZS_REASON_DEFAULT_DENY), "")
      << "udp/9: the /32 is not the /16";
  EXPECT_EQ(expect(udp("10.9.1.3", 9), true, ZS_EVENT_FLOW_NEW, kCidr4), "") << "udp/9 from the /16";
}

// Rules of every form, each added after traffic its form would have
// decided was judged without it: the next new flow sees it.
TEST_P(LazyPeerTest, ARuleOfEveryFormDecidesFromTheNextFlow) {
  constexpr uint8_t kNew = ZS_EVENT_FLOW_NEW, kDeny = ZS_EVENT_DENY;
  constexpr uint8_t kDefault = ZS_REASON_DEFAULT_DENY, kPolicy = ZS_REASON_POLICY_DENY;
  // a port range (several port prefix lengths) for one /32
  EXPECT_EQ(expect(udp("10.9.1.2", 7003, 1), false, kDeny, kHost4, kDefault), "");
  add_rule({kSelf, kHost4, IN, 17, 7000, 7010, 1});
  EXPECT_EQ(expect(udp("10.9.1.2", 7003, 2), true, kNew, kHost4), "") << "range";
  EXPECT_EQ(expect(udp("10.9.1.2", 7010, 3), true, kNew, kHost4), "") << "range's end";
  EXPECT_EQ(expect(udp("10.9.1.2", 7011, 4), false, kDeny, kHost4, kDefault), "") << "past it";
  EXPECT_EQ(expect(udp("10.9.1.3", 7003, 5), false, kDeny, kCidr4, kDefault), "") << "another peer";
  // any peer, one port, both families
  EXPECT_EQ(expect(syn("192.0.2.1", 22, 6), false, kDeny, kAll4, kDefault), "");
  add_rule({kSelf, ZS_ID_ANY, IN, 6, 22, 22, 2});
  EXPECT_EQ(expect(syn("192.0.2.1", 22, 7), true, kNew, kAll4), "") << "any peer, /0";
  EXPECT_EQ(expect(syn("2001:db8::1", 22, 8), true, kNew, kAll6), "") << "any peer, ::/0";
  // any protocol for a /16
  EXPECT_EQ(expect(udp("10.9.5.5", 5555, 9), false, kDeny, kCidr4, kDefault), "");
  add_rule({kSelf, kCidr4, IN, ZS_PROTO_ANY, 0, 0, 3});
  EXPECT_EQ(expect(udp("10.9.5.5", 5555, 10), true, kNew, kCidr4), "") << "any protocol";
  EXPECT_EQ(expect(echo("10.9.5.5", 11), true, kNew, kCidr4), "") << "any protocol, ICMP";
  EXPECT_EQ(expect(udp("192.0.2.1", 5555, 12), false, kDeny, kAll4, kDefault), "") << "not for /0";
  // an ICMPv6 type (a /8 of the ICMP "port") for a /128
  EXPECT_EQ(expect(echo("fd00:9::1:2", 13), false, kDeny, kHost6, kDefault), "");
  add_rule({kSelf, kHost6, IN, 58, 128 << 8, 128 << 8 | 255, 4});
  EXPECT_EQ(expect(echo("fd00:9::1:2", 14), true, kNew, kHost6), "") << "ICMPv6 echo, /128";
  EXPECT_EQ(expect(echo("fd00:9::1:3", 15), false, kDeny, kCidr6, kDefault), "") << "the /32 beside it";
  // the /0s themselves, one port
  EXPECT_EQ(expect(udp("198.51.100.1", 53, 16), false, kDeny, kAll4, kDefault), "");
  add_rule({kSelf, kAll4, IN, 17, 53, 53, 5});
  add_rule({kSelf, kAll6, IN, 17, 53, 53, 5});
  EXPECT_EQ(expect(udp("198.51.100.1", 53, 17), true, kNew, kAll4), "") << "0.0.0.0/0";
  EXPECT_EQ(expect(udp("2001:db8::5", 53, 18), true, kNew, kAll6), "") << "::/0";
  EXPECT_EQ(expect(udp("10.9.1.2", 53, 19), false, kDeny, kHost4, kDefault), "") << "longer prefixes win";
  // a deny added later beats the allows
  add_rule({kSelf, kHost4, IN, 17, 7005, 7005, 0, 6});
  EXPECT_EQ(expect(udp("10.9.1.2", 7005, 20), false, kDeny, kHost4, kPolicy), "") << "deny in the range";
  EXPECT_EQ(expect(udp("10.9.1.2", 7004, 21), true, kNew, kHost4), "");
  // a quarantine's shape: every peer, every protocol denied
  add_rule({kSelf, ZS_ID_ANY, IN, ZS_PROTO_ANY, 0, 0, 0, 7});
  EXPECT_EQ(expect(udp("10.9.1.2", 7004, 22), false, kDeny, kHost4, kPolicy), "") << "quarantined";
  EXPECT_EQ(expect(udp("10.9.5.5", 4444, 23), false, kDeny, kCidr4, kPolicy), "") << "quarantined";
}

// Audit: a flow no rule decides passes as audited and is tracked; its event
// names the peer, and its replies pass as the flow's.
TEST_P(LazyPeerTest, AnAuditedFlowNamesItsPeerAndItsRepliesPass) {
  set_endpoint(kSelf, ZS_MODE_AUDIT, ZS_MODE_ENFORCE);
  for (const auto& [src, id] : {std::pair<std::string, uint32_t>{"10.9.1.2", kHost4}, {"fd00:9::1:2", kHost6}}) {
    SCOPED_TRACE(src);
    EXPECT_EQ(expect(udp(src, 4444), true, ZS_EVENT_FLOW_NEW, id, ZS_REASON_DEFAULT_DENY), "");
    EXPECT_TRUE(send(OUT, udp_reply(src, 4444))) << "the reply of the audited flow";
    EXPECT_FALSE(send(OUT, udp_reply(src, 4445))) << "not a reply: egress enforces";
    auto ev = drain_events();
    ASSERT_EQ(ev.size(), 1u) << "the denied egress packet's only";
    EXPECT_EQ(ev[0].peer, id) << "egress: the peer is the destination";
    EXPECT_EQ(ev[0].direction, OUT);
  }
  set_endpoint(kSelf, ZS_MODE_ENFORCE, ZS_MODE_ENFORCE);
  EXPECT_EQ(expect(udp("10.9.1.2", 4444, 40001), false, ZS_EVENT_DENY, kHost4, ZS_REASON_DEFAULT_DENY), "");
}

// A flow denied often enough to sit in the deny cache, then allowed by a
// rule on its port (a form no key had): its next packet passes, and the
// reply of that allowed flow passes.
TEST_P(LazyPeerTest, ADeniedFlowPassesOnceARuleOnItsPortIsAdded) {
  for (const std::string src : {"10.9.1.2", "fd00:9::1:2"}) {
    SCOPED_TRACE(src);
    auto flow = udp(src, 6000);
    for (int i = 0; i < 3; i++) EXPECT_FALSE(send(IN, flow));
    add_rule({kSelf, src == "10.9.1.2" ? kHost4 : kHost6, IN, 17, 6000, 6000, 8});
    EXPECT_TRUE(send(IN, flow)) << "the rule added after the flow was cached";
    EXPECT_TRUE(send(OUT, udp_reply(src, 6000))) << "its reply";
  }
}

// Every key written sets its form's bit, in the map the programs read.
TEST_P(LazyPeerTest, EveryKeyWrittenSetsItsFormsBit) {
  const RuleSpec rules[] = {{kSelf, kHost4, IN, 17, 7000, 7010, 1},
                            {kSelf, ZS_ID_ANY, OUT, 6, 22, 22, 1},
                            {kSelf, kCidr4, IN, ZS_PROTO_ANY, 0, 0, 1},
                            {kSelf, kHost6, IN, 58, 128 << 8, 128 << 8 | 255, 1}};
  for (const auto& r : rules) add_rule(r);
  size_t checked = 0;
  for (auto& [key, value] : dp().policy().entries()) {
    uint32_t bit = zs_policy_form_bit(&key), idx = bit >> 6;
    uint64_t w = 0;
    ASSERT_TRUE(dp().map("zs_policy_filter").lookup(&idx, &w));
    EXPECT_TRUE(w >> (bit & 63) & 1) << "peer " << key.peer << " proto " << int(key.proto) << " port " << key.port
                                     << "/" << int(key.port_plen);
    checked++;
  }
  EXPECT_GE(checked, 6u);
}

INSTANTIATE_TEST_SUITE_P(Hooks, LazyPeerTest, testing::Values(Variant::xdp_host, Variant::tc_workload),
                         variant_name);

// A datapath pinned by a version without zs_policy_filter: its policy keys
// set no bit, so every bit is set when the filter is created beside them;
// a fresh pin directory starts with none.
TEST(PolicyFormsUpgrade, EveryFormIsSetOverAPolicyPinnedWithoutTheFilter) {
  ZS_REQUIRE_PRIVILEGED();
  const std::string dir = "/sys/fs/bpf/zs-forms-test-" + std::to_string(getpid());
  auto word = [](Datapath& dp, uint32_t idx) {
    uint64_t w = 0;
    EXPECT_TRUE(dp.map("zs_policy_filter").lookup(&idx, &w));
    return w;
  };
  {
    auto dp = Datapath::load({.pin_dir = dir, .pin = true});
    EXPECT_EQ(word(*dp, 0), 0u) << "a fresh install";
  }
  ASSERT_EQ(unlink((dir + "/zs_policy_filter").c_str()), 0);
  {
    auto dp = Datapath::load({.pin_dir = dir, .pin = true});
    for (uint32_t i : {0u, 1u, 5000u, ZS_POLICY_FILTER_WORDS - 1u}) EXPECT_EQ(word(*dp, i), ~uint64_t{0}) << i;
  }
  Datapath::unpin(dir);
  EXPECT_FALSE(std::filesystem::exists(dir));
}

}  // namespace
}  // namespace zeroseg::test
