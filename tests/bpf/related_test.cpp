// SPDX-License-Identifier: Apache-2.0
// ICMP and ICMPv6 errors as related traffic (bpf/lib/pipeline.h,
// zs_related): an error passes without policy only when it quotes a
// packet of a tracked flow whose verdict is current, goes back to that
// packet's sender, and is no bigger than an error ever needs to be.
// Everything else is judged by policy as ordinary ICMP: under the deny-all
// of ICMP here, dropped.
#include <zeroseg/identity.h>

#include "datapath_fixture.h"

namespace zeroseg::test {
namespace {

using PB = PacketBuilder;
constexpr uint8_t IN = ZS_DIR_INGRESS, OUT = ZS_DIR_EGRESS;
constexpr uint8_t kTcp = 6, kUdp = 17;
constexpr uint32_t kSelf = 300, kApp = 400;

struct Family {
  int family;
  std::string self, app, app_prefix, third;
  uint8_t icmp_proto, unreachable;
  size_t max_error;  // RFC 1812 4.3.2.3 (576), RFC 4443 2.4(c) (1280)
};

const Family kV4{4, "10.0.1.10", "10.0.2.20", "10.0.2.20/32", "198.51.100.9", 1, 3, 576};
const Family kV6{6, "fd00:1::10", "fd00:2::20", "fd00:2::20/128", "2001:db8::9", 58, 1, 1280};

PB ip(const Family& f, const std::string& src, const std::string& dst, bool with_eth = true) {
  return ip_header(f.family, src, dst, with_eth);
}

// The bare packet an error quotes.
std::vector<uint8_t> udp(const Family& f, const std::string& src, const std::string& dst, uint16_t sport,
                         uint16_t dport) {
  return ip(f, src, dst, false).udp(sport, dport).build();
}
std::vector<uint8_t> tcp(const Family& f, const std::string& src, const std::string& dst, uint16_t sport,
                         uint16_t dport, uint8_t flags = PB::kSyn) {
  return ip(f, src, dst, false).tcp(sport, dport, flags).build();
}

// A destination unreachable from src to dst quoting quoted; padded so the
// IP datagram is ip_len bytes when ip_len is given.
std::vector<uint8_t> unreachable(const Family& f, const std::string& src, const std::string& dst,
                                 const std::vector<uint8_t>& quoted, size_t ip_len = 0) {
  PB b = ip(f, src, dst);
  b.icmp_error(f.unreachable, 3, quoted);
  if (ip_len) b.pad_ip_to(ip_len);
  return b.build();
}

class RelatedTest : public DatapathTest {
 protected:
  // Opens, for family f: an egress UDP flow self:40000 -> app:53 and an
  // ingress TCP flow app:40000 -> self:80. No rule names ICMP.
  void open_flows(const Family& f) {
    SetUp();  // no flows or state from the family before
    Transaction tx(dp());
    set_endpoint(kSelf, ZS_MODE_ENFORCE, ZS_MODE_ENFORCE, &tx);
    set_identity(f.app_prefix, kApp, &tx);
    add_rule(dns_out(), &tx);
    add_rule({kSelf, kApp, IN, kTcp, 80, 80, 1}, &tx);
    tx.commit();
    ASSERT_TRUE(send(OUT, ip(f, f.self, f.app).udp(40000, 53).build()));
    ASSERT_TRUE(send(IN, ip(f, f.app, f.self).tcp(40000, 80, PB::kSyn).build()));
  }
  RuleSpec dns_out() const { return {kSelf, kApp, OUT, kUdp, 53, 53, 11}; }
};

TEST_P(RelatedTest, AnErrorBackToTheQuotedPacketsSenderPasses) {
  for (const Family* f : {&kV4, &kV6}) {
    SCOPED_TRACE("IPv" + std::to_string(f->family));
    open_flows(*f);
    auto dns = udp(*f, f->self, f->app, 40000, 53);
    // from the far end, and from a router on the path (any address)
    EXPECT_TRUE(send(IN, unreachable(*f, f->app, f->self, dns)));
    EXPECT_TRUE(send(IN, unreachable(*f, f->third, f->self, dns)));
    // the ingress flow's errors go out to its client
    EXPECT_TRUE(send(OUT, unreachable(*f, f->self, f->app, tcp(*f, f->app, f->self, 40000, 80))));
    // as big as an error may be
    EXPECT_TRUE(send(IN, unreachable(*f, f->app, f->self, dns, f->max_error)));
    EXPECT_EQ(counter(ZS_CTR_REASON(ZS_REASON_DEFAULT_DENY)), 0u);
  }
}

TEST_P(RelatedTest, AnErrorToAnyoneButTheQuotedPacketsSenderIsJudgedByPolicy) {
  for (const Family* f : {&kV4, &kV6}) {
    SCOPED_TRACE("IPv" + std::to_string(f->family));
    open_flows(*f);
    // a workload quoting its own flow to a third address: a channel out
    EXPECT_FALSE(send(OUT, unreachable(*f, f->self, f->third, tcp(*f, f->app, f->self, 40000, 80))));
    // or to the flow's peer, quoting a packet the peer never sent
    EXPECT_FALSE(send(OUT, unreachable(*f, f->self, f->app, udp(*f, f->self, f->app, 40000, 53))));
    // and in: an error the quoted packet's sender would never get
    EXPECT_FALSE(send(IN, unreachable(*f, f->app, f->third, udp(*f, f->self, f->app, 40000, 53))));
    EXPECT_EQ(counter(ZS_CTR_REASON(ZS_REASON_DEFAULT_DENY)), 3u);
  }
}

TEST_P(RelatedTest, AnOversizedErrorIsJudgedByPolicy) {
  for (const Family* f : {&kV4, &kV6}) {
    SCOPED_TRACE("IPv" + std::to_string(f->family));
    open_flows(*f);
    auto dns = udp(*f, f->self, f->app, 40000, 53);
    EXPECT_FALSE(send(IN, unreachable(*f, f->app, f->self, dns, f->max_error + 1)));
    EXPECT_FALSE(send(IN, unreachable(*f, f->app, f->self, dns, 1500)));
    EXPECT_TRUE(send(IN, unreachable(*f, f->app, f->self, dns, f->max_error)));
  }
}

TEST_P(RelatedTest, AnErrorQuotingAnUntrackedFlowIsJudgedByPolicy) {
  for (const Family* f : {&kV4, &kV6}) {
    SCOPED_TRACE("IPv" + std::to_string(f->family));
    open_flows(*f);
    EXPECT_FALSE(send(IN, unreachable(*f, f->app, f->self, udp(*f, f->self, f->app, 40001, 53))));
    EXPECT_FALSE(send(IN, unreachable(*f, f->app, f->self, udp(*f, f->self, f->third, 40000, 53))));
  }
}

TEST_P(RelatedTest, AnErrorQuotingAFlowThePolicyNoLongerAllowsIsJudgedByPolicy) {
  for (const Family* f : {&kV4, &kV6}) {
    SCOPED_TRACE("IPv" + std::to_string(f->family));
    open_flows(*f);
    auto error = unreachable(*f, f->app, f->self, udp(*f, f->self, f->app, 40000, 53));
    // a change that still allows the flow: re-judged, still related
    set_identity(f->family == 4 ? "192.0.2.0/24" : "2001:db8:1::/48", 777);
    EXPECT_TRUE(send(IN, error));
    EXPECT_EQ(counter(ZS_CTR_CT_REJUDGED), 1u);
    EXPECT_TRUE(send(IN, error));  // current again: no second re-judgement
    EXPECT_EQ(counter(ZS_CTR_CT_REJUDGED), 1u);
    // the rule goes: the flow is revoked by its error, which is dropped
    remove_rule(dns_out());
    EXPECT_FALSE(send(IN, error));
    EXPECT_EQ(counter(ZS_CTR_CT_REVOKED), 1u);
    EXPECT_FALSE(send(IN, error));
    EXPECT_FALSE(send(OUT, ip(*f, f->self, f->app).udp(40000, 53).build()));
  }
}

TEST_P(RelatedTest, ErrorsNeverOpenAFlow) {
  for (const Family* f : {&kV4, &kV6}) {
    SCOPED_TRACE("IPv" + std::to_string(f->family));
    open_flows(*f);
    // a rule allowing unreachables in: they pass by policy, and track nothing
    uint16_t type = static_cast<uint16_t>(f->unreachable << 8);
    add_rule({kSelf, kApp, IN, f->icmp_proto, type, static_cast<uint16_t>(type | 0xff), 12});
    size_t flows = dp().conntrack().entries().size();
    auto quote = udp(*f, f->self, f->app, 40009, 53);
    EXPECT_TRUE(send(IN, unreachable(*f, f->app, f->self, quote)));
    quote.resize(f->family == 4 ? 20 + 4 : 40 + 4);  // a quote cut short
    EXPECT_TRUE(send(IN, unreachable(*f, f->app, f->self, quote)));
    EXPECT_EQ(dp().conntrack().entries().size(), flows);
  }
}

INSTANTIATE_TEST_SUITE_P(Hooks, RelatedTest, testing::Values(Variant::xdp_host, Variant::tc_workload),
                         variant_name);

}  // namespace
}  // namespace zeroseg::test
