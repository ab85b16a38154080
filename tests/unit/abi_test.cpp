// SPDX-License-Identifier: Apache-2.0
// The ABI's vocabulary (include/zeroseg): names are an interface (JSON,
// metrics, scripts that grep them), so they are pinned here one by one; and
// the protocol rules user space shares with the kernel.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <zeroseg/conntrack.h>
#include <zeroseg/proto.h>
#include <zeroseg/verdict.h>

#include <string>

#include "abi/names.h"

namespace zeroseg {
namespace {

TEST(AbiNames, VerdictsKeepTheirNumbersAndNames) {
  EXPECT_STREQ(verdict_name(0), "allowed");
  EXPECT_STREQ(verdict_name(1), "denied");
  EXPECT_STREQ(verdict_name(2), "audit");
  EXPECT_STREQ(verdict_name(3), "unmanaged");
  EXPECT_STREQ(verdict_name(ZS_VERDICT_MAX), "?");
}

TEST(AbiNames, ReasonsKeepTheirNumbersAndNames) {
  const char* names[] = {"none",           "policy-deny",    "default-deny",   "malformed-l2",
                         "malformed-ipv4", "malformed-ipv6", "malformed-l4",   "ipv6-ext-limit",
                         "fragment-without-first", "vlan-limit", "spoofed-source",
                         "uplink-spoofed-source", "ct-endpoint-limit", "untracked-deny"};
  ASSERT_EQ(std::size(names), size_t{ZS_REASON_MAX});
  for (uint8_t r = 0; r < ZS_REASON_MAX; r++) EXPECT_STREQ(reason_name(r), names[r]) << int{r};
  EXPECT_EQ(ZS_REASON_FRAG_NO_FIRST, 8);
  EXPECT_EQ(ZS_REASON_SPOOFED_SOURCE, 10);
  EXPECT_EQ(ZS_REASON_UPLINK_SPOOFED_SOURCE, 11);
  EXPECT_EQ(ZS_REASON_CT_ENDPOINT_LIMIT, 12);
  EXPECT_EQ(ZS_REASON_UNTRACKED_DENY, 13);
  EXPECT_STREQ(reason_name(ZS_REASON_MAX), "?");
}

TEST(AbiNames, CountersKeepTheirSlotsAndNames) {
  EXPECT_EQ(ZS_CTR_EVENTS_LOST, 22);
  EXPECT_EQ(ZS_CTR_NON_IP, 26);
  EXPECT_STREQ(counter_name(ZS_CTR_EVENTS_LOST), "events-lost");
  EXPECT_STREQ(counter_name(ZS_CTR_EVENTS_SUPPRESSED), "deny-events-suppressed");
  EXPECT_STREQ(counter_name(ZS_CTR_CT_REJUDGED), "flows-rejudged");
  EXPECT_STREQ(counter_name(ZS_CTR_CT_REVOKED), "flows-revoked");
  EXPECT_STREQ(counter_name(ZS_CTR_NON_IP), "non-ip-passed");
  EXPECT_EQ(ZS_CTR_EVENTS_OVER_BUDGET, 27);
  EXPECT_STREQ(counter_name(ZS_CTR_EVENTS_OVER_BUDGET), "deny-events-over-budget");
  EXPECT_EQ(ZS_CTR_EXTRA_FIRST, ZS_CTR_REASON(ZS_REASON_MAX));
  EXPECT_STREQ(counter_name(ZS_CTR_REASON(ZS_REASON_VLAN_LIMIT)), "?");  // named by reason_name
  EXPECT_STREQ(counter_name(ZS_CTR_MAX), "?");
}

TEST(AbiNames, ProtocolsByNameAndNumber) {
  EXPECT_EQ(proto_name(ZS_PROTO_SCTP), "sctp");
  EXPECT_EQ(proto_name(ZS_PROTO_ICMPV6), "icmpv6");
  EXPECT_EQ(proto_name(47), "47");
  EXPECT_EQ(parse_proto("udp"), ZS_PROTO_UDP);
  EXPECT_EQ(parse_proto("any"), ZS_PROTO_ANY);
}

TEST(AbiProto, PolicyPortIsDestinationPortOrIcmpTypeAndCode) {
  EXPECT_EQ(zs_policy_port(ZS_PROTO_TCP, 443, 0, 0), 443);
  EXPECT_EQ(zs_policy_port(ZS_PROTO_SCTP, 9, 3, 4), 9);
  EXPECT_EQ(zs_policy_port(ZS_PROTO_ICMP, 1234, 3, 4), 0x0304);  // ports ignored: echo ids live there
  EXPECT_EQ(zs_policy_port(ZS_PROTO_ICMPV6, 0, 128, 0), 0x8000);
  EXPECT_EQ(zs_policy_port(47, 80, 3, 4), 0);  // no ports, not ICMP
}

TEST(AbiProto, IcmpErrorsAreTheFamilysOwn) {
  for (int type : {3, 11, 12}) EXPECT_TRUE(zs_icmp_is_error(ZS_FAMILY_IPV4, type)) << type;
  // source quench and redirect are never related: policy judges them
  for (int type : {0, 4, 5, 8, 13}) EXPECT_FALSE(zs_icmp_is_error(ZS_FAMILY_IPV4, type)) << type;
  for (int type : {1, 2, 3, 4}) EXPECT_TRUE(zs_icmp_is_error(ZS_FAMILY_IPV6, type)) << type;
  for (int type : {0, 5, 127, 128, 135}) EXPECT_FALSE(zs_icmp_is_error(ZS_FAMILY_IPV6, type)) << type;
  EXPECT_EQ(zs_icmp_proto(ZS_FAMILY_IPV4), ZS_PROTO_ICMP);
  EXPECT_EQ(zs_icmp_proto(ZS_FAMILY_IPV6), ZS_PROTO_ICMPV6);
  EXPECT_TRUE(zs_has_ports(ZS_PROTO_UDP));
  EXPECT_FALSE(zs_has_ports(ZS_PROTO_ICMP));
  EXPECT_TRUE(zs_is_icmp(ZS_PROTO_ICMPV6));
  EXPECT_FALSE(zs_is_icmp(ZS_PROTO_TCP));
}

// The one rule by which the kernel expires flows and the agent's sweep
// deletes and reports them: hours only for an established TCP flow.
TEST(AbiConntrack, ATcpFlowLivesLongOnlyOnceBothEndsAcknowledged) {
  zs_config cfg{};
  cfg.ct_timeout_tcp = 21600;
  cfg.ct_timeout_tcp_closing = 10;
  cfg.ct_timeout_other = 60;
  cfg.ct_timeout_tcp_syn_sent = 120;
  cfg.ct_timeout_tcp_syn_recv = 30;
  struct Case {
    uint8_t sent, answered, flags;
    uint64_t seconds;
  } cases[] = {
      {ZS_TCP_SYN, 0, 0, 120},                            // SYN-SENT
      {ZS_TCP_SYN | ZS_TCP_ACK, 0, 0, 120},               // its own ACK establishes nothing
      {ZS_TCP_SYN, ZS_TCP_SYN | ZS_TCP_ACK, 0, 30},       // SYN-RECV
      {ZS_TCP_SYN | ZS_TCP_ACK, ZS_TCP_SYN | ZS_TCP_ACK, 0, 21600},
      {ZS_TCP_ACK, 0, 0, 30},                             // picked up without SYN
      {ZS_TCP_ACK, ZS_TCP_ACK, 0, 21600},
      {ZS_TCP_SYN | ZS_TCP_ACK, ZS_TCP_ACK, ZS_CT_CLOSING, 10},
  };
  for (const auto& c : cases) {
    zs_ct_entry ct{};
    ct.tcp_flags[0] = c.sent;
    ct.tcp_flags[1] = c.answered;
    ct.flags = c.flags;
    EXPECT_EQ(zs_ct_timeout_ns(&cfg, &ct, ZS_PROTO_TCP), c.seconds * ZS_NS_PER_SEC)
        << int{c.sent} << "/" << int{c.answered};
    EXPECT_EQ(zs_ct_timeout_ns(&cfg, &ct, ZS_PROTO_UDP), 60 * ZS_NS_PER_SEC);
  }
}

// Linux's conntrack pairs (nf_conntrack_proto_icmp.c, icmpv6): a reply maps
// to its request's type; nothing else is a query.
TEST(AbiProto, IcmpQueriesAreTheRequestReplyPairs) {
  const std::pair<int, int> v4[] = {{8, 8}, {0, 8}, {13, 13}, {14, 13}, {15, 15}, {16, 15}, {17, 17}, {18, 17}};
  for (auto [type, request] : v4) EXPECT_EQ(zs_icmp_request_type(ZS_PROTO_ICMP, type), request) << type;
  const std::pair<int, int> v6[] = {{128, 128}, {129, 128}, {139, 139}, {140, 139}};
  for (auto [type, request] : v6) EXPECT_EQ(zs_icmp_request_type(ZS_PROTO_ICMPV6, type), request) << type;
  for (int type : {1, 3, 4, 5, 9, 10, 11, 12, 19, 128, 129, 139, 140, 255})
    EXPECT_EQ(zs_icmp_request_type(ZS_PROTO_ICMP, type), 0) << type;
  for (int type : {0, 1, 8, 13, 127, 130, 133, 135, 137, 138, 141, 200})
    EXPECT_EQ(zs_icmp_request_type(ZS_PROTO_ICMPV6, type), 0) << type;
  EXPECT_EQ(zs_icmp_request_type(ZS_PROTO_UDP, 8), 0);
  EXPECT_TRUE(zs_icmp_is_request(ZS_PROTO_ICMP, 13));
  EXPECT_FALSE(zs_icmp_is_request(ZS_PROTO_ICMP, 0));
  EXPECT_FALSE(zs_icmp_is_request(ZS_PROTO_ICMPV6, 0));  // reserved, no request
  EXPECT_FALSE(zs_icmp_is_request(ZS_PROTO_ICMPV6, 140));
}

// A reply's reversed ports are its request's; the key holds id, type, code.
TEST(AbiProto, IcmpQueryPortsPutTheRequestTypeInTheKey) {
  zs_tuple req{}, rep{};
  req.proto = rep.proto = ZS_PROTO_ICMP;
  zs_icmp_query_ports(&req, 13, 13, 0, htons(77));
  zs_icmp_query_ports(&rep, 13, 14, 0, htons(77));
  EXPECT_EQ(rep.sport, req.dport);
  EXPECT_EQ(rep.dport, req.sport);
  EXPECT_EQ(zs_icmp_flow_port(&req), 13 << 8);
  EXPECT_EQ(zs_icmp_flow_id(&req), 77);
  zs_tuple echo{};
  echo.proto = ZS_PROTO_ICMP;
  zs_icmp_query_ports(&echo, 8, 8, 0, htons(77));
  EXPECT_NE(echo.dport, req.dport);  // same id, another type: another flow
  EXPECT_EQ(zs_htons(0x0102), htons(0x0102));
}

}  // namespace
}  // namespace zeroseg
