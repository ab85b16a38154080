// SPDX-License-Identifier: Apache-2.0
// Flow telemetry without a kernel: records from events, their JSON lines,
// filters, the rotating log and the IPFIX wire format.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <malloc.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <zeroseg/conntrack.h>
#include <zeroseg/verdict.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "fake_conntrack.h"
#include "common/error.h"
#include "policy/yaml_reader.h"
#include "telemetry/community_id.h"
#include "telemetry/flow_filter.h"
#include "telemetry/flow_hub.h"
#include "telemetry/flow_json.h"
#include "telemetry/flow_ledger.h"
#include "telemetry/flow_log.h"
#include "telemetry/flow_table.h"
#include "telemetry/ipfix.h"

namespace zeroseg {
namespace {

using nlohmann::json;

zs_event event(uint8_t type, uint16_t sport, uint16_t dport, uint64_t ts = 1'000'000'000) {
  zs_event ev{};
  ev.ts_ns = ts;
  ev.type = type;
  ev.direction = ZS_DIR_INGRESS;
  ev.ifindex = 7;
  ev.subject = 300;
  ev.peer = 301;
  ev.tuple.family = 4;
  ev.tuple.proto = 6;
  ev.tuple.saddr[0] = htonl(0x0a000202);  // 10.0.2.2
  ev.tuple.daddr[0] = htonl(0x0a000102);  // 10.0.1.2
  ev.tuple.sport = htons(sport);
  ev.tuple.dport = htons(dport);
  ev.tcp_flags = 0x02;
  return ev;
}

FlowClock clock_at(int64_t offset) {
  FlowClock c;
  c.mono_to_unix = offset;
  return c;
}

TEST(FlowTable, StartAndDenyBecomeRecords) {
  FlowTable t;
  std::vector<FlowRecord> out;
  t.on_event(event(ZS_EVENT_FLOW_NEW, 40000, 80), clock_at(0), out);
  zs_event deny = event(ZS_EVENT_DENY, 40001, 81);
  deny.verdict = ZS_VERDICT_DENIED;
  deny.reason = ZS_REASON_DEFAULT_DENY;
  deny.suppressed = 3;
  t.on_event(deny, clock_at(0), out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].event, FlowEvent::start);
  EXPECT_EQ(out[1].event, FlowEvent::deny);
  EXPECT_EQ(out[1].suppressed, 3u);
  EXPECT_EQ(out[0].source_identity(), 301u);  // ingress: the peer sent it
  EXPECT_EQ(out[0].destination_identity(), 300u);
  EXPECT_EQ(t.live(), 1u);  // denies open no flow
}

TEST(FlowTable, ANewStartOnALiveTupleEndsTheOldFlow) {
  FlowTable t;
  std::vector<FlowRecord> out;
  t.on_event(event(ZS_EVENT_FLOW_NEW, 40000, 80, 1'000'000'000), clock_at(0), out);
  t.on_event(event(ZS_EVENT_FLOW_NEW, 40000, 80, 9'000'000'000), clock_at(0), out);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[1].event, FlowEvent::end);
  EXPECT_EQ(out[1].end_reason, FlowEndReason::timeout);
  EXPECT_EQ(out[2].event, FlowEvent::start);
  EXPECT_EQ(t.live(), 1u);
}

TEST(FlowTable, ARevokeEndsTheFlowFoundByItsReply) {
  FlowTable t;
  std::vector<FlowRecord> out;
  t.on_event(event(ZS_EVENT_FLOW_NEW, 40000, 80), clock_at(5), out);
  // the server's reply is the packet that finds the flow revoked
  zs_event rev = event(ZS_EVENT_REVOKED, 80, 40000, 2'000'000'000);
  std::swap(rev.tuple.saddr[0], rev.tuple.daddr[0]);
  rev.verdict = ZS_VERDICT_DENIED;
  rev.reason = ZS_REASON_DEFAULT_DENY;
  t.on_event(rev, clock_at(5), out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[1].event, FlowEvent::end);
  EXPECT_EQ(out[1].end_reason, FlowEndReason::revoked);
  EXPECT_EQ(ntohs(out[1].tuple.dport), 80);  // reported as the flow went, not as the reply
  EXPECT_EQ(out[1].start_ns, 1'000'000'005);
  EXPECT_EQ(t.live(), 0u);
}

TEST(FlowTable, IcmpErrorsOpenNoFlow) {
  FlowTable t;
  std::vector<FlowRecord> out;
  zs_event ev = event(ZS_EVENT_FLOW_NEW, 0, 0);
  ev.tuple.proto = 1;
  ev.icmp_type = 3;  // destination unreachable
  t.on_event(ev, clock_at(0), out);
  EXPECT_EQ(out.size(), 1u);
  EXPECT_EQ(t.live(), 0u);
}

// The kernel's rule (include/zeroseg/proto.h): only an ICMP query's request
// opens a flow; errors, replies and any other message are judged on every
// packet, whatever the family.
TEST(FlowTable, OnlyIcmpRequestsOpenFlows) {
  FlowTable t;
  std::vector<FlowRecord> out;
  zs_event ev = event(ZS_EVENT_FLOW_NEW, 0, 0);
  ev.tuple.family = 6;
  ev.tuple.proto = 58;
  for (uint8_t type : {1, 100, 129, 140, 135, 0}) {  // error, experimental, replies, ND, reserved
    ev.icmp_type = type;
    t.on_event(ev, clock_at(0), out);
  }
  EXPECT_EQ(out.size(), 6u);
  EXPECT_EQ(t.live(), 0u);
  ev.icmp_type = 139;  // node information query
  t.on_event(ev, clock_at(0), out);
  EXPECT_EQ(t.live(), 1u);
  ev.tuple.proto = 1;  // ICMP in IPv6: its own queries, no errors
  ev.icmp_type = 3;
  t.on_event(ev, clock_at(0), out);
  EXPECT_EQ(t.live(), 1u);
  ev.icmp_type = 13;  // timestamp request
  ev.tuple.sport = 1;
  t.on_event(ev, clock_at(0), out);
  EXPECT_EQ(t.live(), 2u);
  for (uint8_t type : {4, 5, 14}) {  // source quench and redirect: never related, never flows
    ev.icmp_type = type;
    t.on_event(ev, clock_at(0), out);
  }
  EXPECT_EQ(t.live(), 2u);
}

using test::FakeConntrack;

// An ICMP flow whose start the agent never saw is named by its key, which
// holds the request's type and code (zs_icmp_query_ports), not taken for
// an echo.
TEST(FlowTable, AnIcmpFlowFoundBySweepIsNamedByItsKey) {
  FlowTable t;
  FakeConntrack ct;
  zs_ct_key key{};
  key.ifindex = 7;
  key.tuple.family = 4;
  key.tuple.proto = ZS_PROTO_ICMP;
  zs_icmp_query_ports(&key.tuple, 13, 13, 0, htons(5));  // a timestamp request
  zs_ct_entry e{};
  e.created_ns = e.last_seen_ns = 1'000'000'000;
  ct.flows.push_back({key, e});
  zs_config cfg{};
  cfg.ct_timeout_other = 60;
  std::vector<FlowRecord> out;
  FlowClock clock = clock_at(0);
  clock.now_coarse = 1'000'000'000;
  t.sweep(ct, cfg, clock, out);
  EXPECT_EQ(t.live(), 1u);
  ct.flows.clear();  // evicted
  t.sweep(ct, cfg, clock, out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].icmp_type, 13);
  EXPECT_EQ(out[0].icmp_code, 0);
}

// One flow in conntrack as the sweep sees it: the start event's tuple,
// first packet at 1 s, `replies` packets back.
zs_ct_entry ct_entry(uint64_t replies, uint64_t last_seen_ns = 1'000'000'000) {
  zs_ct_entry e{};
  e.created_ns = 1'000'000'000;
  e.last_seen_ns = last_seen_ns;
  e.packets[0] = 1;
  e.packets[1] = replies;
  e.tcp_flags[0] = 0x02;
  e.direction = ZS_DIR_INGRESS;
  e.subject = 300;
  e.peer = 301;
  return e;
}
zs_ct_key key_of(const zs_event& ev) {
  zs_ct_key k{};
  k.ifindex = ev.ifindex;
  k.tuple = ev.tuple;
  return k;
}
std::vector<FlowRecord> sweep_at(FlowTable& t, const FakeConntrack& ct, uint64_t now_ns, uint32_t timeout_s = 120) {
  zs_config cfg{};
  cfg.ct_timeout_tcp_syn_sent = cfg.ct_timeout_tcp_syn_recv = cfg.ct_timeout_other = cfg.ct_timeout_tcp_closing = timeout_s;
  FlowClock clock = clock_at(0);
  clock.now_coarse = now_ns;
  std::vector<FlowRecord> out;
  t.sweep(ct, cfg, clock, out);
  return out;
}
size_t count_of(const std::vector<FlowRecord>& out, FlowEvent e) {
  size_t n = 0;
  for (const auto& r : out) n += r.event == e;
  return n;
}

// A SYN with no answer is reported seconds after it, not at its SYN-SENT
// timeout (2 min), exactly once; its end says it was.
TEST(FlowTable, AFlowWithNoReplyIsReportedOnceBySweepsAfterItsDelay) {
  FlowTable t(3'000'000'000);
  std::vector<FlowRecord> out;
  zs_event ev = event(ZS_EVENT_FLOW_NEW, 40000, 80);
  t.on_event(ev, clock_at(0), out);
  FakeConntrack ct;
  ct.flows.push_back({key_of(ev), ct_entry(0)});
  EXPECT_TRUE(sweep_at(t, ct, 2'000'000'000).empty());  // 1 s old
  EXPECT_TRUE(sweep_at(t, ct, 3'900'000'000).empty());  // 2.9 s old
  out = sweep_at(t, ct, 4'000'000'000);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].event, FlowEvent::unanswered);
  EXPECT_EQ(out[0].start_ns, 1'000'000'000);
  EXPECT_EQ(out[0].time_ns, 4'000'000'000);
  EXPECT_EQ(out[0].packets[1], 0u);
  EXPECT_EQ(out[0].source_identity(), 301u);
  for (uint64_t s = 5; s < 100; s += 2) EXPECT_TRUE(sweep_at(t, ct, s * 1'000'000'000).empty()) << s;
  out = sweep_at(t, ct, 200'000'000'000);  // idle past its timeout
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].event, FlowEvent::end);
  EXPECT_TRUE(out[0].reported_unanswered);
}

// A SYN answered by a RST (a closed port: nmap -sT/-sS) is reported as
// refused by the sweep right after the RST, once, not at its end a closing
// timeout (10 s) later; its end says it was. (Before flow-refused, the
// first word of it was the end: a connect scan's alert came 10 s late.)
TEST(FlowTable, ASynAnsweredByAResetIsReportedRefusedAtTheNextSweep) {
  FlowTable t(3'000'000'000);
  std::vector<FlowRecord> out;
  zs_event ev = event(ZS_EVENT_FLOW_NEW, 40000, 80);
  t.on_event(ev, clock_at(0), out);
  FakeConntrack ct;
  zs_ct_entry e = ct_entry(1, 1'001'000'000);
  e.tcp_flags[1] = ZS_TCP_RST | ZS_TCP_ACK;
  e.flags = ZS_CT_CLOSING;
  ct.flows.push_back({key_of(ev), e});
  out = sweep_at(t, ct, 1'500'000'000);  // half a second after the SYN
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].event, FlowEvent::refused);
  EXPECT_EQ(out[0].start_ns, 1'000'000'000);
  EXPECT_EQ(out[0].time_ns, 1'500'000'000);
  EXPECT_EQ(out[0].packets[1], 1u);
  EXPECT_EQ(out[0].source_identity(), 301u);
  for (uint64_t s = 2; s < 100; s += 2) EXPECT_TRUE(sweep_at(t, ct, s * 1'000'000'000).empty()) << s;
  out = sweep_at(t, ct, 200'000'000'000);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].event, FlowEvent::end);
  EXPECT_TRUE(out[0].reported_refused);
  EXPECT_FALSE(out[0].reported_unanswered);
}

// A connection answered (SYN-ACK) and reset later is not refused, and
// neither is a UDP flow whose entry holds the RST bit (only TCP has one).
// (That a refused flow is not also reported unanswered: the test above.)
TEST(FlowTable, AnAnsweredFlowResetLaterIsNotRefused) {
  FlowTable t(3'000'000'000);
  std::vector<FlowRecord> out;
  zs_event ev = event(ZS_EVENT_FLOW_NEW, 40000, 80);
  t.on_event(ev, clock_at(0), out);
  zs_event udp = event(ZS_EVENT_FLOW_NEW, 40001, 53);
  udp.tuple.proto = 17;
  t.on_event(udp, clock_at(0), out);
  FakeConntrack ct;
  zs_ct_entry e = ct_entry(3, 2'000'000'000);
  e.tcp_flags[0] = ZS_TCP_SYN | ZS_TCP_ACK;
  e.tcp_flags[1] = ZS_TCP_SYN | ZS_TCP_ACK | ZS_TCP_RST;
  e.flags = ZS_CT_CLOSING;
  ct.flows.push_back({key_of(ev), e});
  zs_ct_entry u = ct_entry(1, 2'000'000'000);
  u.tcp_flags[0] = 0;
  u.tcp_flags[1] = ZS_TCP_RST;
  ct.flows.push_back({key_of(udp), u});
  EXPECT_TRUE(sweep_at(t, ct, 5'000'000'000).empty());
  out = sweep_at(t, ct, 500'000'000'000);
  ASSERT_EQ(out.size(), 2u);
  for (const auto& r : out) {
    EXPECT_EQ(r.event, FlowEvent::end);
    EXPECT_FALSE(r.reported_refused);
  }
}

TEST(FlowTable, AnAnsweredFlowIsNeverUnanswered) {
  FlowTable t(3'000'000'000);
  std::vector<FlowRecord> out;
  zs_event ev = event(ZS_EVENT_FLOW_NEW, 40000, 80);
  t.on_event(ev, clock_at(0), out);
  FakeConntrack ct;
  ct.flows.push_back({key_of(ev), ct_entry(1)});
  EXPECT_TRUE(sweep_at(t, ct, 10'000'000'000).empty());
  out = sweep_at(t, ct, 500'000'000'000);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_FALSE(out[0].reported_unanswered);
}

// A flow whose timeout is shorter than the delay ends with no reply: its end
// is the report, no flow-unanswered before it in the same sweep.
TEST(FlowTable, AFlowEndingInTheSweepThatWouldReportItGetsOnlyItsEnd) {
  FlowTable t(3'000'000'000);
  std::vector<FlowRecord> out;
  zs_event ev = event(ZS_EVENT_FLOW_NEW, 40000, 80);
  t.on_event(ev, clock_at(0), out);
  FakeConntrack ct;
  ct.flows.push_back({key_of(ev), ct_entry(0)});
  out = sweep_at(t, ct, 5'000'000'000, 1);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].event, FlowEvent::end);
  EXPECT_FALSE(out[0].reported_unanswered);
}

// A new flow on the tuple of a reported one is a flow of its own: reported
// again when no reply reaches it either; 0 turns reports off.
TEST(FlowTable, ATupleReusedByANewFlowIsReportedAgainAndZeroReportsNothing) {
  FlowTable t(3'000'000'000);
  std::vector<FlowRecord> out;
  zs_event ev = event(ZS_EVENT_FLOW_NEW, 40000, 80);
  t.on_event(ev, clock_at(0), out);
  FakeConntrack ct;
  ct.flows.push_back({key_of(ev), ct_entry(0)});
  EXPECT_EQ(count_of(sweep_at(t, ct, 5'000'000'000), FlowEvent::unanswered), 1u);
  ct.flows[0].second.created_ns = ct.flows[0].second.last_seen_ns = 10'000'000'000;  // reused between sweeps
  out = sweep_at(t, ct, 11'000'000'000);
  ASSERT_EQ(out.size(), 1u);  // the old flow's end
  EXPECT_TRUE(out[0].reported_unanswered);
  out = sweep_at(t, ct, 13'000'000'000);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].event, FlowEvent::unanswered);
  EXPECT_EQ(out[0].start_ns, 10'000'000'000);

  FlowTable off(0);
  off.on_event(ev, clock_at(0), out);
  ct.flows[0].second = ct_entry(0);
  EXPECT_TRUE(sweep_at(off, ct, 60'000'000'000).empty());
}

// The sweep's recount, which the kernel's per-endpoint counts are
// corrected to, splits each endpoint's entries by table and by the
// direction that opened the flow, as the kernel charges them
// (zs_ct_share_take): flows opened towards an endpoint never count
// against the share of the flows it opens.
TEST(FlowTable, TheSweepCountsEachEndpointsSharesByTheDirectionThatOpened) {
  FlowTable t;
  FakeConntrack ct;
  auto add = [&](uint32_t ifindex, uint8_t family, uint8_t direction, uint16_t sport) {
    zs_ct_key key{};
    key.ifindex = ifindex;
    key.tuple.family = family;
    key.tuple.proto = ZS_PROTO_UDP;
    key.tuple.sport = htons(sport);
    zs_ct_entry e{};
    e.created_ns = e.last_seen_ns = 1'000'000'000;
    e.direction = direction;
    ct.flows.push_back({key, e});
  };
  for (uint16_t p = 1; p <= 3; p++) add(7, ZS_FAMILY_IPV4, ZS_DIR_INGRESS, p);
  add(7, ZS_FAMILY_IPV4, ZS_DIR_EGRESS, 10);
  add(7, ZS_FAMILY_IPV6, ZS_DIR_INGRESS, 11);
  add(8, ZS_FAMILY_IPV6, ZS_DIR_EGRESS, 12);
  zs_config cfg{};
  cfg.ct_timeout_other = 60;
  std::vector<FlowRecord> out;
  FlowClock clock = clock_at(0);
  clock.now_coarse = 1'000'000'000;
  t.sweep(ct, cfg, clock, out);
  const CtUsage& u = t.endpoint_usage();
  ASSERT_EQ(u.size(), 2u);
  EXPECT_EQ(u.at(7).entries[0][ZS_DIR_INGRESS], 3u);
  EXPECT_EQ(u.at(7).entries[0][ZS_DIR_EGRESS], 1u);
  EXPECT_EQ(u.at(7).entries[1][ZS_DIR_INGRESS], 1u);
  EXPECT_EQ(u.at(7).entries[1][ZS_DIR_EGRESS], 0u);
  EXPECT_EQ(u.at(8).entries[1][ZS_DIR_EGRESS], 1u);
  EXPECT_EQ(u.at(8).entries[0][ZS_DIR_INGRESS] + u.at(8).entries[0][ZS_DIR_EGRESS] + u.at(8).entries[1][ZS_DIR_INGRESS], 0u);
}

// A host uplink's entry for a local workload's flow is in no share
// (ZS_CT_UNCHARGED: the workload's interface charged it): the recount
// skips it as the kernel does, so the correction never puts a charge on
// the uplink that the kernel never made.
TEST(FlowTable, TheSweepCountsNoEntryInNoShare) {
  FlowTable t;
  FakeConntrack ct;
  auto add = [&](uint32_t ifindex, uint8_t flags, uint16_t sport) {
    zs_ct_key key{};
    key.ifindex = ifindex;
    key.tuple.family = ZS_FAMILY_IPV4;
    key.tuple.proto = ZS_PROTO_UDP;
    key.tuple.sport = htons(sport);
    zs_ct_entry e{};
    e.created_ns = e.last_seen_ns = 1'000'000'000;
    e.direction = ZS_DIR_EGRESS;
    e.flags = flags;
    ct.flows.push_back({key, e});
  };
  add(1, ZS_CT_UNCHARGED, 1);  // the uplink: workloads' flows out
  add(1, ZS_CT_UNCHARGED | ZS_CT_CLOSING, 2);
  add(1, 0, 3);                // the host's own
  add(7, 0, 1);                // the workload's entry of the first
  add(9, ZS_CT_UNCHARGED, 4);  // an uplink with no flow of its own
  zs_config cfg{};
  cfg.ct_timeout_other = 60;
  std::vector<FlowRecord> out;
  FlowClock clock = clock_at(0);
  clock.now_coarse = 1'000'000'000;
  t.sweep(ct, cfg, clock, out);
  const CtUsage& u = t.endpoint_usage();
  EXPECT_EQ(u.at(1).entries[0][ZS_DIR_EGRESS], 1u) << "the host's own only";
  EXPECT_EQ(u.at(7).entries[0][ZS_DIR_EGRESS], 1u);
  EXPECT_FALSE(u.contains(9));
}

class FlowJsonTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ObjectSet objs = load_yaml(R"(apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: zeroseg.io/v1
kind: Workload
metadata: {name: web, namespace: shop, labels: {tier: web}}
spec: {interface: zs-none-web, ips: [10.0.1.2]}
---
apiVersion: zeroseg.io/v1
kind: Workload
metadata: {name: app, namespace: shop, labels: {tier: app}}
spec: {interface: zs-none-app, ips: [10.0.2.2]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web, namespace: shop}
spec:
  podSelector: {matchLabels: {tier: web}}
  ingress: [{from: [{podSelector: {matchLabels: {tier: app}}}], ports: [{port: 80}]}]
)", "objects.yaml");
    compiled_ = PolicyCompiler(ids_, rules_).compile(objs);
    names_ = std::make_shared<const FlowCatalog>("node-1", std::make_shared<const Compiled>(compiled_));
    for (const auto& [id, ident] : compiled_.identities) {
      if (ident.labels.count("tier") && ident.labels.at("tier") == "web") web_ = id;
      if (ident.labels.count("tier") && ident.labels.at("tier") == "app") app_ = id;
    }
    rule_ = compiled_.rules.begin()->first;
  }
  json line(const FlowRecord& r) {
    std::string s;
    append_flow_json(s, r, *names_);
    EXPECT_EQ(s.back(), '\n');
    return json::parse(s);
  }
  FlowRecord record(FlowEvent e) {
    FlowTable t;
    std::vector<FlowRecord> out;
    zs_event ev = event(e == FlowEvent::deny ? ZS_EVENT_DENY : ZS_EVENT_FLOW_NEW, 40000, 80);
    ev.subject = web_;
    ev.peer = app_;
    ev.rule_id = e == FlowEvent::deny ? 0 : rule_;
    if (e == FlowEvent::deny) {
      ev.verdict = ZS_VERDICT_DENIED;
      ev.reason = ZS_REASON_DEFAULT_DENY;
    }
    t.on_event(ev, clock_at(1'795'000'000'000'000'000), out);
    return out.at(0);
  }
  LocalIdentityAllocator ids_;
  RuleIdAllocator rules_;
  Compiled compiled_;
  std::shared_ptr<const FlowCatalog> names_;
  uint32_t web_ = 0, app_ = 0, rule_ = 0;
};

TEST_F(FlowJsonTest, AStartNamesBothEndsAndTheRule) {
  json j = line(record(FlowEvent::start));
  EXPECT_EQ(j["event"], "flow-start");
  EXPECT_EQ(j["node"], "node-1");
  EXPECT_EQ(j["direction"], "ingress");
  EXPECT_EQ(j["protocol"], "tcp");
  EXPECT_EQ(j["source"]["name"], "shop/app");
  EXPECT_EQ(j["source"]["ip"], "10.0.2.2");
  EXPECT_EQ(j["source"]["port"], 40000);
  EXPECT_EQ(j["source"]["labels"]["tier"], "app");
  EXPECT_EQ(j["destination"]["name"], "shop/web");
  EXPECT_EQ(j["destination"]["port"], 80);
  EXPECT_EQ(j["verdict"], "allowed");
  EXPECT_EQ(j["policy"], "NetworkPolicy/shop/web");
  EXPECT_EQ(j["rule"], "NetworkPolicy/shop/web ingress[0]");
  EXPECT_EQ(j["why"], "allowed by NetworkPolicy/shop/web ingress[0]");
  EXPECT_EQ(j["tcp_flags"], "SYN");
  EXPECT_EQ(j["time"], "2026-11-18T11:06:41.000000000Z");
}

TEST_F(FlowJsonTest, ADefaultDenyNamesThePolicyThatSelects) {
  json j = line(record(FlowEvent::deny));
  EXPECT_EQ(j["event"], "deny");
  EXPECT_EQ(j["reason"], "default-deny");
  EXPECT_EQ(j["why"],
            "default deny: NetworkPolicy/shop/web selects shop/web for ingress and no rule allows this");
  EXPECT_FALSE(j.contains("rule"));
}

// `policy trace` and the flow log say it alike, in the plural when several
// policies select the workload (the tour's prod/db: two do)
TEST(DefaultDenyWhy, AgreesInNumberWithThePoliciesThatSelect) {
  EXPECT_EQ(default_deny_why({"SegmentPolicy/prod/db"}, "prod/db", "ingress"),
            "default deny: SegmentPolicy/prod/db selects prod/db for ingress and no rule allows this");
  EXPECT_EQ(default_deny_why({"SegmentPolicy/prod/db", "SegmentPolicy/prod/admin-ssh"}, "prod/db", "ingress"),
            "default deny: SegmentPolicy/prod/db, SegmentPolicy/prod/admin-ssh select prod/db for ingress and no "
            "rule allows this");
  EXPECT_EQ(default_deny_why({}, "prod/db", "egress"),
            "default deny: a policy selects prod/db for egress and no rule allows this");
}

TEST_F(FlowJsonTest, AnotherReaderNamesTheSameAndKeepsItsSerial) {
  auto other = names_->another_reader();
  EXPECT_EQ(other->serial(), names_->serial());
  EXPECT_EQ(other->identity(web_).name.text, "shop/web");
  EXPECT_EQ(other->identity(web_).labels_json, names_->identity(web_).labels_json);
  ASSERT_NE(other->rule(rule_), nullptr);
  EXPECT_EQ(other->rule(rule_)->name.text, "NetworkPolicy/shop/web ingress[0]");
  // an address no workload has is named by its identity; reserved ones by name
  EXPECT_EQ(other->party(*IpAddr::parse("192.0.2.9"), ZS_ID_WORLD).text, "world");
  EXPECT_EQ(other->party(*IpAddr::parse("10.0.1.2"), ZS_ID_WORLD).text, "shop/web");
  // a fresh catalog is another serial: identity numbers may mean other labels
  FlowCatalog fresh("node-1");
  EXPECT_NE(fresh.serial(), names_->serial());
}

TEST_F(FlowJsonTest, AnEndCarriesCountersBothWays) {
  FlowRecord r = record(FlowEvent::start);
  r.event = FlowEvent::end;
  r.end_reason = FlowEndReason::closed;
  r.start_ns = r.time_ns - 1'500'000'000;
  r.packets = {5, 4};
  r.bytes = {344, 280};
  r.tcp_flags = {0x13, 0x12};
  json j = line(r);
  EXPECT_EQ(j["end_reason"], "closed");
  EXPECT_EQ(j["duration_ms"], 1500);
  EXPECT_EQ(j["packets"]["forward"], 5);
  EXPECT_EQ(j["bytes"]["reply"], 280);
  EXPECT_EQ(j["tcp_flags"], "FIN,SYN,ACK");
  EXPECT_EQ(j["tcp_flags_reply"], "SYN,ACK");
}

TEST_F(FlowJsonTest, AnUnansweredRecordSaysSoAndItsEndSaysItWasReported) {
  FlowRecord r = record(FlowEvent::start);
  r.event = FlowEvent::unanswered;
  r.start_ns = r.time_ns - 3'000'000'000;
  r.packets = {2, 0};
  json j = line(r);
  EXPECT_EQ(j["event"], "flow-unanswered");
  EXPECT_EQ(j["verdict"], "allowed");
  EXPECT_FALSE(j.contains("end_reason"));
  EXPECT_EQ(j["duration_ms"], 3000);
  EXPECT_EQ(j["packets"]["reply"], 0);
  EXPECT_FALSE(j.contains("reported_unanswered"));
  EXPECT_TRUE(FlowFilter::from_query({{"event", "flow-unanswered"}}).matches(j));
  r.event = FlowEvent::end;
  r.end_reason = FlowEndReason::timeout;
  r.reported_unanswered = true;
  j = line(r);
  EXPECT_EQ(j["end_reason"], "timeout");
  EXPECT_EQ(j["reported_unanswered"], true);
}

TEST_F(FlowJsonTest, ARefusedRecordSaysSoAndItsEndSaysItWasReported) {
  FlowRecord r = record(FlowEvent::start);
  r.event = FlowEvent::refused;
  r.start_ns = r.time_ns - 500'000'000;
  r.packets = {1, 1};
  r.tcp_flags = {0x02, 0x14};
  json j = line(r);
  EXPECT_EQ(j["event"], "flow-refused");
  EXPECT_FALSE(j.contains("end_reason"));
  EXPECT_EQ(j["duration_ms"], 500);
  EXPECT_EQ(j["tcp_flags_reply"], "RST,ACK");
  EXPECT_TRUE(FlowFilter::from_query({{"event", "flow-refused"}}).matches(j));
  EXPECT_FALSE(FlowFilter::from_query({{"event", "flow-unanswered"}}).matches(j));
  r.event = FlowEvent::end;
  r.end_reason = FlowEndReason::closed;
  r.reported_refused = true;
  j = line(r);
  EXPECT_EQ(j["reported_refused"], true);
  EXPECT_FALSE(j.contains("reported_unanswered"));
}

TEST_F(FlowJsonTest, FiltersMatchLabelsWorkloadsCidrsAndPorts) {
  json j = line(record(FlowEvent::start));
  auto f = [](std::map<std::string, std::string> q) { return FlowFilter::from_query(q); };
  EXPECT_TRUE(f({{"from", "tier=app"}, {"to", "shop/web"}}).matches(j));
  EXPECT_TRUE(f({{"from", "app"}, {"port", "80"}, {"protocol", "tcp"}}).matches(j));
  EXPECT_TRUE(f({{"from", "10.0.0.0/16"}, {"verdict", "allowed"}, {"event", "flow-start"}}).matches(j));
  EXPECT_FALSE(f({{"from", "tier=web"}}).matches(j));
  EXPECT_FALSE(f({{"to", "10.0.2.0/24"}}).matches(j));
  EXPECT_FALSE(f({{"port", "81"}}).matches(j));
  EXPECT_FALSE(f({{"verdict", "denied"}}).matches(j));
  EXPECT_TRUE(f({{"since", "2026-11-18T11:06:41Z"}}).matches(j));
  EXPECT_FALSE(f({{"since", "2026-11-18T11:06:41.5Z"}}).matches(j));
  EXPECT_THROW(f({{"since", "yesterday"}}), Error);
  EXPECT_THROW(f({{"port", "http"}}), Error);
  EXPECT_THROW(f({{"verdict", "maybe"}}), Error);
}

TEST(FlowLog, RotatesByWholeLinesAndKeepsN) {
  auto dir = std::filesystem::temp_directory_path() / ("zs-flowlog-" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  std::string path = (dir / "flows.json").string();
  {
    FlowLog log(path, 100, 2);
    std::string line(39, 'x');
    line += '\n';  // 40 bytes: two fit in 100
    for (int i = 0; i < 7; i++) log.write(line);
    EXPECT_EQ(log.rotations(), 3u);
  }
  EXPECT_EQ(std::filesystem::file_size(path), 40u);
  EXPECT_EQ(std::filesystem::file_size(path + ".1"), 80u);
  EXPECT_EQ(std::filesystem::file_size(path + ".2"), 80u);
  EXPECT_FALSE(std::filesystem::exists(path + ".3"));
  std::filesystem::remove_all(dir);
}

// A UDP socket on loopback that plays collector.
struct Collector {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  uint16_t port = 0;
  Collector() {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
    socklen_t len = sizeof(a);
    getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
    timeval tv{2, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  }
  ~Collector() { close(fd); }
  std::vector<uint8_t> receive() {
    std::vector<uint8_t> buf(65536);
    ssize_t n = recv(fd, buf.data(), buf.size(), 0);
    buf.resize(n > 0 ? static_cast<size_t>(n) : 0);
    return buf;
  }
};

uint16_t be16(const std::vector<uint8_t>& b, size_t at) { return static_cast<uint16_t>(b[at] << 8 | b[at + 1]); }
uint32_t be32(const std::vector<uint8_t>& b, size_t at) { return static_cast<uint32_t>(be16(b, at)) << 16 | be16(b, at + 2); }

TEST_F(FlowJsonTest, IpfixSendsTemplatesThenRecordsWithSequenceNumbers) {
  Collector c;
  IpfixExporter x("127.0.0.1:" + std::to_string(c.port), 42);
  FlowRecord end = record(FlowEvent::start);
  end.event = FlowEvent::end;
  end.end_reason = FlowEndReason::closed;
  end.start_ns = end.time_ns - 1'000'000;
  end.packets = {5, 4};
  end.bytes = {344, 280};
  x.add(end, *names_);
  x.add(record(FlowEvent::deny), *names_);
  x.flush();

  auto tmpl = c.receive();
  ASSERT_GE(tmpl.size(), 20u);
  EXPECT_EQ(be16(tmpl, 0), 10);                 // IPFIX
  EXPECT_EQ(be16(tmpl, 2), tmpl.size());        // message length
  EXPECT_EQ(be32(tmpl, 8), 0u);                 // no data records before
  EXPECT_EQ(be32(tmpl, 12), 42u);               // observation domain
  EXPECT_EQ(be16(tmpl, 16), 2);                 // a template set
  EXPECT_EQ(be16(tmpl, 18), tmpl.size() - 16);  // the set fills the message
  EXPECT_EQ(be16(tmpl, 20), 256);               // the IPv4 template first

  auto data = c.receive();
  ASSERT_GE(data.size(), 20u);
  EXPECT_EQ(be16(data, 2), data.size());
  EXPECT_EQ(be32(data, 8), 0u);
  EXPECT_EQ(be16(data, 16), 256);  // one IPv4 data set with both records
  EXPECT_EQ(be16(data, 18), data.size() - 16);
  size_t rec = 20;
  EXPECT_EQ(be32(data, rec + 16), 0x0a000202u);  // source address after the two timestamps
  EXPECT_EQ(be16(data, rec + 24), 40000);        // source port
  EXPECT_EQ(be16(data, rec + 26), 80);
  EXPECT_EQ(data[rec + 28], 6);                  // TCP
  EXPECT_EQ(be32(data, rec + 33) , 0u);          // packetDeltaCount, high half
  EXPECT_EQ(be32(data, rec + 37), 5u);
  EXPECT_EQ(x.records_sent(), 2u);

  x.add(record(FlowEvent::deny), *names_);
  x.flush();
  auto next = c.receive();
  EXPECT_EQ(be32(next, 8), 2u);  // two data records went before
}

// The template set's fields of template id, as (element id, enterprise) pairs.
std::vector<std::pair<uint16_t, uint32_t>> template_fields(const std::vector<uint8_t>& msg, uint16_t id) {
  size_t at = 20;  // after the message and set headers
  while (at + 4 <= msg.size()) {
    uint16_t tid = be16(msg, at), count = be16(msg, at + 2);
    at += 4;
    std::vector<std::pair<uint16_t, uint32_t>> f;
    for (uint16_t i = 0; i < count; i++) {
      uint16_t ie = be16(msg, at);
      uint32_t pen = 0;
      at += 4;
      if (ie & 0x8000) pen = be32(msg, at), at += 4;
      f.push_back({static_cast<uint16_t>(ie & 0x7fff), pen});
    }
    if (tid == id) return f;
  }
  return {};
}

// A record of packets leaving by the interface names it egressInterface
// (IE 14), in a template of its own; one arriving, ingressInterface (10).
TEST_F(FlowJsonTest, IpfixEgressRecordsCarryEgressInterface) {
  Collector c;
  IpfixExporter x("127.0.0.1:" + std::to_string(c.port), 1);
  FlowRecord out = record(FlowEvent::deny);
  out.direction = ZS_DIR_EGRESS;
  out.ifindex = 9;
  x.add(out, *names_);
  x.flush();
  auto tmpl = c.receive();
  auto ingress = template_fields(tmpl, 256), egress = template_fields(tmpl, 258);
  ASSERT_EQ(ingress.size(), egress.size());
  ASSERT_EQ(template_fields(tmpl, 259).size(), egress.size());
  size_t iface = 0;
  for (; iface < egress.size(); iface++)
    if (egress[iface] != ingress[iface]) break;
  ASSERT_LT(iface, egress.size()) << "the templates do not differ";
  EXPECT_EQ(ingress[iface], (std::pair<uint16_t, uint32_t>{10, 0}));
  EXPECT_EQ(egress[iface], (std::pair<uint16_t, uint32_t>{14, 0}));
  EXPECT_EQ(std::count(egress.begin(), egress.end(), std::pair<uint16_t, uint32_t>{10, 0}), 0);
  EXPECT_EQ(std::count(egress.begin(), egress.end(), std::pair<uint16_t, uint32_t>{148, 0}), 1);  // flowId
  EXPECT_EQ(std::count(egress.begin(), egress.end(), std::pair<uint16_t, uint32_t>{8, kZeroSegPen}), 1);  // communityId

  auto data = c.receive();
  ASSERT_GE(data.size(), 20u);
  EXPECT_EQ(be16(data, 16), 258);  // the egress IPv4 data set
  // the interface: after two timestamps (16), two addresses (8), ports (4), proto (1), flags (2),
  // ICMP (2) and four counters (32)
  EXPECT_EQ(be32(data, 20 + 65), 9u);
  EXPECT_EQ(data[20 + 69], 1);  // flowDirection: egress
}

// A collector that is not there: the kernel refuses the next message
// (ECONNREFUSED, from the ICMP port unreachable of the one before), and
// the exporter counts it and goes on.
TEST_F(FlowJsonTest, IpfixCountsMessagesTheSocketRefuses) {
  uint16_t port;
  {
    Collector gone;
    port = gone.port;
  }
  IpfixExporter x("127.0.0.1:" + std::to_string(port), 1);
  for (int i = 0; i < 3; i++) {
    x.add(record(FlowEvent::deny), *names_);
    x.flush();
  }
  EXPECT_GE(x.send_errors(), 1u);
  EXPECT_EQ(x.counts().send_errors.load(), x.send_errors());
  EXPECT_LT(x.records_sent(), 3u);  // a refused message's records are not counted as sent
  EXPECT_GE(x.messages_sent(), 4u);  // the templates and three data messages were tried
}

TEST_F(FlowJsonTest, EveryRecordCarriesItsFlowIdAndCommunityId) {
  FlowRecord r = record(FlowEvent::start);
  json j = line(r);
  ASSERT_NE(r.flow_id, 0u);
  char hex[17];
  snprintf(hex, sizeof(hex), "%016llx", static_cast<unsigned long long>(r.flow_id));
  EXPECT_EQ(j["flow_id"], hex);
  EXPECT_EQ(j["community_id"], community_id(r.tuple, 0, 0));
  EXPECT_EQ(j["community_id"].get<std::string>().substr(0, 2), "1:");
  // a deny of the reply's direction: the same conversation, the same id
  FlowRecord back = record(FlowEvent::deny);
  std::swap(back.tuple.saddr, back.tuple.daddr);
  std::swap(back.tuple.sport, back.tuple.dport);
  EXPECT_EQ(line(back)["community_id"], j["community_id"]);
  EXPECT_NE(line(back)["flow_id"], j["flow_id"]);
}

}  // namespace
}  // namespace zeroseg

namespace zeroseg {
namespace {

TEST(FlowHub, RecentLinesComeFromBatchesOldestFirst) {
  FlowHub hub(3);
  hub.publish("{\"n\":1}\n{\"n\":2}\n", 2);
  hub.publish("{\"n\":3}\n", 1);
  hub.publish("{\"n\":4}\n{\"n\":5}\n", 2);
  FlowFilter none;
  auto last = hub.recent(3, none);
  ASSERT_EQ(last.size(), 3u);
  EXPECT_EQ(last[0], "{\"n\":3}\n");
  EXPECT_EQ(last[2], "{\"n\":5}\n");
  EXPECT_EQ(hub.recent(100, none).size(), 3u);  // older batches were let go
}

TEST(FlowHub, StreamsGetNewLinesAndCountWhatTheyMiss) {
  FlowHub hub(10, 2);
  auto s = hub.subscribe(FlowFilter());
  hub.publish("{\"n\":1}\n{\"n\":2}\n{\"n\":3}\n", 3);
  auto got = s->wait(100);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[1], "{\"n\":2}\n");
  EXPECT_EQ(s->dropped(), 1u);
  hub.close();
  EXPECT_TRUE(s->closed());
}

// A line at a time, as telemetry publishes under churn (one flow per
// turn, in a string reserved for a bigger batch): the heap the hub holds
// stays within its byte bound however many lines came. Measured with
// mallinfo2, not the hub's own count, so spare capacity is not missed.
TEST(FlowHub, RecentLinesHoldAtMostTheirByteBoundOfHeap) {
  std::string line(399, 'x');
  line += '\n';
  auto heap = [] {
    struct mallinfo2 m = mallinfo2();
    return m.uordblks + m.hblkhd;  // from the arena and mmapped
  };
  size_t before = heap();
  {
    FlowHub hub;  // the defaults: 10000 lines, 4 MiB
    for (int i = 0; i < 30000; i++) {
      std::string batch;
      batch.reserve(640);
      batch += line;
      hub.publish(std::move(batch), 1);
    }
    size_t held = heap() - before;
    EXPECT_LE(held, (4u << 20) + (256u << 10)) << "bytes of heap for 10000 lines of 400 bytes";
    auto last = hub.recent(20000, FlowFilter());
    EXPECT_GE(last.size(), 10000u * 9 / 10) << "the bound still keeps about 10000 such lines";
    EXPECT_EQ(last.back(), line);
  }
}

TEST(FlowHub, LongLinesAreBoundedByBytesNotLines) {
  FlowHub hub(10000, 16, 1u << 20);
  std::string line(4095, 'y');
  line += '\n';
  for (int i = 0; i < 2000; i++) hub.publish(line, 1);  // 8 MiB of lines
  EXPECT_LE(hub.recent_bytes(), 1u << 20);
  auto last = hub.recent(10000, FlowFilter());
  EXPECT_GE(last.size(), 200u);
  EXPECT_LE(last.size(), 256u);
  // a batch bigger than the bound is kept whole while it is the newest
  hub.publish(std::string(3u << 20, 'z') + "\n", 1);
  EXPECT_EQ(hub.recent(10, FlowFilter()).size(), 1u);
  hub.publish(line, 1);  // and let go of when it is not
  EXPECT_EQ(hub.recent(10, FlowFilter()).size(), 1u);
  EXPECT_LE(hub.recent_bytes(), 2 * FlowHub::kChunkBytes);
}

FlowRecord ledger_start(uint16_t sport, int64_t t, uint8_t verdict = ZS_VERDICT_ALLOWED) {
  FlowRecord r;
  r.event = FlowEvent::start;
  r.time_ns = t;
  r.verdict = verdict;
  r.tuple.family = 4;
  r.tuple.proto = 6;
  r.tuple.saddr[0] = htonl(0x0a000202);
  r.tuple.daddr[0] = htonl(0x0a000102);
  r.tuple.sport = htons(sport);
  r.tuple.dport = htons(80);
  return r;
}

TEST(FlowLedger, OneConversationCountsEachFlowOnceThoughSeenAtBothEnds) {
  FlowLedger ledger;
  ledger.record(ledger_start(40000, 1'000'000'000));
  ledger.record(ledger_start(40000, 1'000'100'000));  // the same flow at the other end
  ledger.record(ledger_start(40001, 2'000'000'000));  // a second flow
  FlowRecord end = ledger_start(40001, 3'000'000'000);
  end.event = FlowEvent::end;
  ledger.record(end);  // ends are no new flows
  end.event = FlowEvent::unanswered;
  ledger.record(end);  // nor unanswered ones
  auto all = ledger.snapshot();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].flows, 2u);
  EXPECT_EQ(all[0].port, 80);
  EXPECT_EQ(all[0].first_ns, 1'000'000'000);
  EXPECT_EQ(all[0].last_ns, 2'000'000'000);
  // allowed out of one end, denied into the other: the flow was denied
  ledger.record(ledger_start(40002, 4'000'000'000));
  ledger.record(ledger_start(40002, 4'000'000'100, ZS_VERDICT_DENIED));
  EXPECT_EQ(ledger.snapshot()[0].verdict, ZS_VERDICT_DENIED);
  EXPECT_EQ(ledger.snapshot()[0].flows, 3u);
}

}  // namespace
}  // namespace zeroseg
