// SPDX-License-Identifier: Apache-2.0
// Community ID v1 against the spec's published results, and the flow id's
// promises (one per flow at an interface, the same in all its records).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <zeroseg/conntrack.h>
#include <zeroseg/event.h>
#include <zeroseg/proto.h>

#include <cstring>
#include <set>
#include <string>

#include "fake_conntrack.h"
#include "telemetry/community_id.h"
#include "telemetry/flow_table.h"

namespace zeroseg {
namespace {

// The spec's baseline results: github.com/corelight/community-id-spec at
// commit b1fe530faa0c6edc56fad01abf0bfe71f01134ed, baseline/baseline_deflt.json
// and baseline/baseline_seed1.json (community-id-pcap over
// pcaps/combined.pcap.gz; ICMP "ports" there are the type and its
// counterpart, or type and code when one-way) and the tables of
// baseline/README.md (ICMP as type and code), copied unchanged. A port of
// -1: a protocol without ports.
struct Vector {
  const char* source;
  uint16_t seed;
  uint8_t proto;
  const char *saddr, *daddr;
  int sport, dport;
  const char* expected;
};
const Vector kSpecVectors[] = {
    {"baseline/baseline_deflt.json", 0, 58, "fe80::200:86ff:fe05:80da", "fe80::260:97ff:fe07:69ea", 135, 136, "1:dGHyGvjMfljg6Bppwm3bg0LO8TY="},
    {"baseline/baseline_deflt.json", 0, 58, "fe80::260:97ff:fe07:69ea", "fe80::200:86ff:fe05:80da", 136, 135, "1:dGHyGvjMfljg6Bppwm3bg0LO8TY="},
    {"baseline/baseline_deflt.json", 0, 58, "fe80::260:97ff:fe07:69ea", "fe80::200:86ff:fe05:80da", 135, 136, "1:zavyT/cezQr1fmImYCwYnMXbgck="},
    {"baseline/baseline_deflt.json", 0, 58, "fe80::200:86ff:fe05:80da", "fe80::260:97ff:fe07:69ea", 136, 135, "1:zavyT/cezQr1fmImYCwYnMXbgck="},
    {"baseline/baseline_deflt.json", 0, 58, "3ffe:501:1800:2345::2", "3ffe:507:0:1:200:86ff:fe05:80da", 3, 0, "1:2ObVBgIn28oZvibYZhZMBgh7WdQ="},
    {"baseline/baseline_deflt.json", 0, 58, "3ffe:501:410:0:2c0:dfff:fe47:33e", "3ffe:507:0:1:200:86ff:fe05:80da", 1, 4, "1:hLZd0XGWojozrvxqE0dWB1iM6R0="},
    {"baseline/baseline_deflt.json", 0, 58, "3ffe:507:0:1:200:86ff:fe05:80da", "3ffe:501:0:1001::2", 128, 129, "1:+TW+HtLHvV1xnGhV1lv7XoJrqQg="},
    {"baseline/baseline_deflt.json", 0, 58, "3ffe:501:0:1001::2", "3ffe:507:0:1:200:86ff:fe05:80da", 129, 128, "1:+TW+HtLHvV1xnGhV1lv7XoJrqQg="},
    {"baseline/baseline_deflt.json", 0, 58, "fe80::200:86ff:fe05:80da", "ff02::2", 133, 134, "1:hO+sN4H+MG5MY/8hIrXPqc4ZQz0="},
    {"baseline/baseline_deflt.json", 0, 58, "fe80::260:97ff:fe07:69ea", "ff02::1", 134, 133, "1:pkvHqCL88/tg1k4cPigmZXUtL00="},
    {"baseline/baseline_deflt.json", 0, 1, "192.168.0.89", "192.168.0.1", 8, 0, "1:X0snYXpgwiv9TZtqg64sgzUn6Dk="},
    {"baseline/baseline_deflt.json", 0, 1, "192.168.0.1", "192.168.0.89", 0, 8, "1:X0snYXpgwiv9TZtqg64sgzUn6Dk="},
    {"baseline/baseline_deflt.json", 0, 1, "10.0.0.1", "10.0.0.2", 11, 0, "1:YHxtAirCG//0OzkcVAukqKQN9xM="},
    {"baseline/baseline_deflt.json", 0, 6, "2001:470:e5bf:dead:4957:2174:e82c:4887", "2607:f8b0:400c:c03::1a", 63943, 25, "1:/qFaeAR+gFe1KYjMzVDsMv+wgU4="},
    {"baseline/baseline_deflt.json", 0, 6, "2607:f8b0:400c:c03::1a", "2001:470:e5bf:dead:4957:2174:e82c:4887", 25, 63943, "1:/qFaeAR+gFe1KYjMzVDsMv+wgU4="},
    {"baseline/baseline_deflt.json", 0, 132, "192.168.170.8", "192.168.170.56", 7, 7, "1:MP2EtRCAUIZvTw6MxJHLV7N7JDs="},
    {"baseline/baseline_deflt.json", 0, 132, "192.168.170.56", "192.168.170.8", 7, 7, "1:MP2EtRCAUIZvTw6MxJHLV7N7JDs="},
    {"baseline/baseline_deflt.json", 0, 6, "128.232.110.120", "66.35.250.204", 34855, 80, "1:LQU9qZlK+B5F3KDmev6m5PMibrg="},
    {"baseline/baseline_deflt.json", 0, 6, "66.35.250.204", "128.232.110.120", 80, 34855, "1:LQU9qZlK+B5F3KDmev6m5PMibrg="},
    {"baseline/baseline_deflt.json", 0, 17, "192.168.1.52", "8.8.8.8", 54585, 53, "1:d/FP5EW3wiY1vCndhwleRRKHowQ="},
    {"baseline/baseline_deflt.json", 0, 17, "8.8.8.8", "192.168.1.52", 53, 54585, "1:d/FP5EW3wiY1vCndhwleRRKHowQ="},
    {"baseline/baseline_deflt.json", 0, 46, "10.1.12.1", "10.1.12.2", -1, -1, "1:KHlLkgoJW7ifUTyTSgyVfkFHzKw="},
    {"baseline/baseline_deflt.json", 0, 46, "10.1.12.2", "10.1.12.1", -1, -1, "1:KHlLkgoJW7ifUTyTSgyVfkFHzKw="},
    {"baseline/baseline_seed1.json", 1, 58, "fe80::200:86ff:fe05:80da", "fe80::260:97ff:fe07:69ea", 135, 136, "1:kHa1FhMYIT6Ym2Vm2AOtoOARDzY="},
    {"baseline/baseline_seed1.json", 1, 58, "fe80::260:97ff:fe07:69ea", "fe80::200:86ff:fe05:80da", 136, 135, "1:kHa1FhMYIT6Ym2Vm2AOtoOARDzY="},
    {"baseline/baseline_seed1.json", 1, 58, "fe80::260:97ff:fe07:69ea", "fe80::200:86ff:fe05:80da", 135, 136, "1:2hSqmsDZ2kdcY9kbiUzOEBic0iM="},
    {"baseline/baseline_seed1.json", 1, 58, "fe80::200:86ff:fe05:80da", "fe80::260:97ff:fe07:69ea", 136, 135, "1:2hSqmsDZ2kdcY9kbiUzOEBic0iM="},
    {"baseline/baseline_seed1.json", 1, 58, "3ffe:501:1800:2345::2", "3ffe:507:0:1:200:86ff:fe05:80da", 3, 0, "1:lVEtCZpYu84Xqaa++3lXFyuu2n4="},
    {"baseline/baseline_seed1.json", 1, 58, "3ffe:501:410:0:2c0:dfff:fe47:33e", "3ffe:507:0:1:200:86ff:fe05:80da", 1, 4, "1:W8MHwXpWzpoSTD+cGcaJr4u0ys8="},
    {"baseline/baseline_seed1.json", 1, 58, "3ffe:507:0:1:200:86ff:fe05:80da", "3ffe:501:0:1001::2", 128, 129, "1:GfZxjAkDk2MkegpBYHV6tadtFXQ="},
    {"baseline/baseline_seed1.json", 1, 58, "3ffe:501:0:1001::2", "3ffe:507:0:1:200:86ff:fe05:80da", 129, 128, "1:GfZxjAkDk2MkegpBYHV6tadtFXQ="},
    {"baseline/baseline_seed1.json", 1, 58, "fe80::200:86ff:fe05:80da", "ff02::2", 133, 134, "1:L7Ka0ZMYu+J3bL4ulW2PrqyXNo8="},
    {"baseline/baseline_seed1.json", 1, 58, "fe80::260:97ff:fe07:69ea", "ff02::1", 134, 133, "1:K/ee5UCqAMAQXDorP5nSa2CGLjc="},
    {"baseline/baseline_seed1.json", 1, 1, "192.168.0.89", "192.168.0.1", 8, 0, "1:03g6IloqVBdcZlPyX8r0hgoE7kA="},
    {"baseline/baseline_seed1.json", 1, 1, "192.168.0.1", "192.168.0.89", 0, 8, "1:03g6IloqVBdcZlPyX8r0hgoE7kA="},
    {"baseline/baseline_seed1.json", 1, 1, "10.0.0.1", "10.0.0.2", 11, 0, "1:XjUibYHaafLQ3pxQeiMI8g25q20="},
    {"baseline/baseline_seed1.json", 1, 6, "2001:470:e5bf:dead:4957:2174:e82c:4887", "2607:f8b0:400c:c03::1a", 63943, 25, "1:eJYTW6AOzFLlSUoESovMjnu7rMw="},
    {"baseline/baseline_seed1.json", 1, 6, "2607:f8b0:400c:c03::1a", "2001:470:e5bf:dead:4957:2174:e82c:4887", 25, 63943, "1:eJYTW6AOzFLlSUoESovMjnu7rMw="},
    {"baseline/baseline_seed1.json", 1, 132, "192.168.170.8", "192.168.170.56", 7, 7, "1:5w3ZRjeKBzqT3zsaEECDGjUbYeg="},
    {"baseline/baseline_seed1.json", 1, 132, "192.168.170.56", "192.168.170.8", 7, 7, "1:5w3ZRjeKBzqT3zsaEECDGjUbYeg="},
    {"baseline/baseline_seed1.json", 1, 6, "128.232.110.120", "66.35.250.204", 34855, 80, "1:3V71V58M3Ksw/yuFALMcW0LAHvc="},
    {"baseline/baseline_seed1.json", 1, 6, "66.35.250.204", "128.232.110.120", 80, 34855, "1:3V71V58M3Ksw/yuFALMcW0LAHvc="},
    {"baseline/baseline_seed1.json", 1, 17, "192.168.1.52", "8.8.8.8", 54585, 53, "1:Q9We8WO3piVF8yEQBNJF4uiSVrI="},
    {"baseline/baseline_seed1.json", 1, 17, "8.8.8.8", "192.168.1.52", 53, 54585, "1:Q9We8WO3piVF8yEQBNJF4uiSVrI="},
    {"baseline/baseline_seed1.json", 1, 46, "10.1.12.1", "10.1.12.2", -1, -1, "1:rYir8gphR31noO9iDRQmF/BteEI="},
    {"baseline/baseline_seed1.json", 1, 46, "10.1.12.2", "10.1.12.1", -1, -1, "1:rYir8gphR31noO9iDRQmF/BteEI="},
    {"baseline/README.md", 0, 6, "1.2.3.4", "5.6.7.8", 1122, 3344, "1:wCb3OG7yAFWelaUydu0D+125CLM="},
    {"baseline/README.md", 0, 6, "5.6.7.8", "1.2.3.4", 3344, 1122, "1:wCb3OG7yAFWelaUydu0D+125CLM="},
    {"baseline/README.md", 0, 17, "1.2.3.4", "5.6.7.8", 1122, 3344, "1:0Mu9InQx6z4ZiCZM/7HXi2WMhOg="},
    {"baseline/README.md", 0, 17, "5.6.7.8", "1.2.3.4", 3344, 1122, "1:0Mu9InQx6z4ZiCZM/7HXi2WMhOg="},
    {"baseline/README.md", 0, 132, "1.2.3.4", "5.6.7.8", 1122, 3344, "1:EKt4MsxuyaE6mL+hmrEkQ9csDD8="},
    {"baseline/README.md", 0, 132, "5.6.7.8", "1.2.3.4", 3344, 1122, "1:EKt4MsxuyaE6mL+hmrEkQ9csDD8="},
    {"baseline/README.md", 0, 1, "1.2.3.4", "5.6.7.8", 8, 0, "1:crodRHL2FEsHjbv3UkRrfbs4bZ0="},
    {"baseline/README.md", 0, 1, "5.6.7.8", "1.2.3.4", 0, 0, "1:crodRHL2FEsHjbv3UkRrfbs4bZ0="},
    {"baseline/README.md", 0, 1, "1.2.3.4", "5.6.7.8", 11, 0, "1:f/YiSyWqczrTgfUCZlBUnvHRcPk="},
    {"baseline/README.md", 0, 58, "fe80:0001:0203:0405:0607:0809:0A0B:0C0D", "fe80:1011:1213:1415:1617:1819:1A1B:1C1D", 128, 0, "1:0bf7hyMJUwt3fMED7z8LIfRpBeo="},
    {"baseline/README.md", 0, 58, "fe80:1011:1213:1415:1617:1819:1A1B:1C1D", "fe80:0001:0203:0405:0607:0809:0A0B:0C0D", 129, 0, "1:0bf7hyMJUwt3fMED7z8LIfRpBeo="},
    {"baseline/README.md", 0, 58, "fe80:0001:0203:0405:0607:0809:0A0B:0C0D", "fe80:1011:1213:1415:1617:1819:1A1B:1C1D", 146, 0, "1:fYC8+pz24E+EhANP1EZhpX0Dw10="},
    {"baseline/README.md", 0, 46, "1.2.3.4", "5.6.7.8", -1, -1, "1:ikv3kmf89luf73WPz1jOs49S768="},
    {"baseline/README.md", 0, 46, "5.6.7.8", "1.2.3.4", -1, -1, "1:ikv3kmf89luf73WPz1jOs49S768="},
    {"baseline/README.md", 0, 46, "fe80:0001:0203:0405:0607:0809:0A0B:0C0D", "fe80:1011:1213:1415:1617:1819:1A1B:1C1D", -1, -1, "1:wQ/2mwrnXP4lmJcHdGL5ePjR+e0="},
    {"baseline/README.md", 0, 46, "fe80:1011:1213:1415:1617:1819:1A1B:1C1D", "fe80:0001:0203:0405:0607:0809:0A0B:0C0D", -1, -1, "1:wQ/2mwrnXP4lmJcHdGL5ePjR+e0="},
    {"baseline/README.md", 1, 6, "1.2.3.4", "5.6.7.8", 1122, 3344, "1:HhA1B+6CoLbiKPEs5nhNYN4XWfk="},
    {"baseline/README.md", 1, 6, "5.6.7.8", "1.2.3.4", 3344, 1122, "1:HhA1B+6CoLbiKPEs5nhNYN4XWfk="},
    {"baseline/README.md", 1, 17, "1.2.3.4", "5.6.7.8", 1122, 3344, "1:OShq+iKDAMVouh/4bMxB9Sz4amw="},
    {"baseline/README.md", 1, 17, "5.6.7.8", "1.2.3.4", 3344, 1122, "1:OShq+iKDAMVouh/4bMxB9Sz4amw="},
    {"baseline/README.md", 1, 132, "1.2.3.4", "5.6.7.8", 1122, 3344, "1:uitchpn5MMGAQKBJh7bIr/bAr7s="},
    {"baseline/README.md", 1, 132, "5.6.7.8", "1.2.3.4", 3344, 1122, "1:uitchpn5MMGAQKBJh7bIr/bAr7s="},
    {"baseline/README.md", 1, 1, "1.2.3.4", "5.6.7.8", 8, 0, "1:9pr4ZGTICiuZoIh90RRYE2RyXpU="},
    {"baseline/README.md", 1, 1, "5.6.7.8", "1.2.3.4", 0, 0, "1:9pr4ZGTICiuZoIh90RRYE2RyXpU="},
    {"baseline/README.md", 1, 1, "1.2.3.4", "5.6.7.8", 11, 0, "1:1DD7cWGC/Yg91YGsQeni8du3pIA="},
    {"baseline/README.md", 1, 58, "fe80:0001:0203:0405:0607:0809:0A0B:0C0D", "fe80:1011:1213:1415:1617:1819:1A1B:1C1D", 128, 0, "1:IO27GQzPuCtNnwFvjWALMHu5tJE="},
    {"baseline/README.md", 1, 58, "fe80:1011:1213:1415:1617:1819:1A1B:1C1D", "fe80:0001:0203:0405:0607:0809:0A0B:0C0D", 129, 0, "1:IO27GQzPuCtNnwFvjWALMHu5tJE="},
    {"baseline/README.md", 1, 58, "fe80:0001:0203:0405:0607:0809:0A0B:0C0D", "fe80:1011:1213:1415:1617:1819:1A1B:1C1D", 146, 0, "1:Cv4IKJe56BNkF0MBW2YxQ3Nwc3s="},
    {"baseline/README.md", 1, 46, "1.2.3.4", "5.6.7.8", -1, -1, "1:/buhqeOmaRCopOZFy9HnoJd5XW8="},
    {"baseline/README.md", 1, 46, "5.6.7.8", "1.2.3.4", -1, -1, "1:/buhqeOmaRCopOZFy9HnoJd5XW8="},
    {"baseline/README.md", 1, 46, "fe80:0001:0203:0405:0607:0809:0A0B:0C0D", "fe80:1011:1213:1415:1617:1819:1A1B:1C1D", -1, -1, "1:j6EyyfBzL4vWKHFXgUqb5Az3OxM="},
    {"baseline/README.md", 1, 46, "fe80:1011:1213:1415:1617:1819:1A1B:1C1D", "fe80:0001:0203:0405:0607:0809:0A0B:0C0D", -1, -1, "1:j6EyyfBzL4vWKHFXgUqb5Az3OxM="},
};

zs_tuple tuple_of(const Vector& v) {
  zs_tuple t{};
  t.proto = v.proto;
  bool v6 = std::strchr(v.saddr, ':') != nullptr;
  t.family = v6 ? 6 : 4;
  int af = v6 ? AF_INET6 : AF_INET;
  EXPECT_EQ(inet_pton(af, v.saddr, t.saddr), 1) << v.saddr;
  EXPECT_EQ(inet_pton(af, v.daddr, t.daddr), 1) << v.daddr;
  if (v.sport >= 0) t.sport = htons(static_cast<uint16_t>(v.sport));
  if (v.dport >= 0) t.dport = htons(static_cast<uint16_t>(v.dport));
  return t;
}

TEST(CommunityId, MatchesEveryPublishedVectorOfTheSpec) {
  int checked = 0;
  for (const Vector& v : kSpecVectors) {
    zs_tuple t = tuple_of(v);
    // ICMP: the record carries type and code; the vectors' "ports" are the
    // type and its counterpart (a counterpart replaces the code in the
    // hash) or the type and the code
    uint8_t type = 0, code = 0;
    if (zs_is_icmp(v.proto)) {
      type = static_cast<uint8_t>(v.sport);
      code = static_cast<uint8_t>(v.dport);
      t.sport = t.dport = htons(0x1234);  // what zeroseg's tuple holds there (id, policy port) must not count
    }
    EXPECT_EQ(community_id(t, type, code, v.seed), v.expected)
        << v.source << ": seed " << v.seed << " proto " << int(v.proto) << " " << v.saddr << ":" << v.sport << " -> "
        << v.daddr << ":" << v.dport;
    checked++;
  }
  EXPECT_EQ(checked, 78);
}

// The published vectors hold one-way ICMP only from the lower address:
// the spec's reference (community-id.py, `if is_one_way or is_lt(...)`)
// keeps a one-way message's order whatever its addresses, so a Time
// Exceeded from the higher address hashes differently from one to it.
// Expected: that logic run by Python's hashlib (tests/e2e/telemetry.sh's
// cid()), not by this code.
TEST(CommunityId, OneWayIcmpKeepsPacketOrderFromTheHigherAddress) {
  zs_tuple back = tuple_of({"", 0, 1, "5.6.7.8", "1.2.3.4", 11, 0, ""});
  EXPECT_EQ(community_id(back, 11, 0), "1:1Vae9INpTJ+fZaSmjhtK/hyOPac=");
  zs_tuple out = tuple_of({"", 0, 1, "1.2.3.4", "5.6.7.8", 11, 0, ""});
  EXPECT_EQ(community_id(out, 11, 0), "1:f/YiSyWqczrTgfUCZlBUnvHRcPk=");  // the README's vector
}

TEST(CommunityId, Sha1MatchesFips180Examples) {
  auto hex = [](const std::string& msg) {
    uint8_t d[20];
    sha1(reinterpret_cast<const uint8_t*>(msg.data()), msg.size(), d);
    std::string out;
    char buf[3];
    for (uint8_t b : d) snprintf(buf, sizeof(buf), "%02x", b), out += buf;
    return out;
  };
  EXPECT_EQ(hex("abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
  EXPECT_EQ(hex(""), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
  // 56 bytes: the length no longer fits the block, padding takes a second
  EXPECT_EQ(hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
}

zs_event start_event(uint16_t sport, uint32_t ifindex, uint64_t ts = 1'000'000'000) {
  zs_event ev{};
  ev.ts_ns = ts;
  ev.type = ZS_EVENT_FLOW_NEW;
  ev.ifindex = ifindex;
  ev.tuple.family = 4;
  ev.tuple.proto = ZS_PROTO_TCP;
  ev.tuple.saddr[0] = htonl(0x0a000202);
  ev.tuple.daddr[0] = htonl(0x0a000102);
  ev.tuple.sport = htons(sport);
  ev.tuple.dport = htons(80);
  return ev;
}

// A flow's start, unanswered and end records share one id; another flow,
// the same tuple at another interface, the same tuple again later, and
// each deny get ids of their own.
TEST(FlowId, OnePerFlowAtAnInterfaceAndTheSameInAllItsRecords) {
  FlowTable t(3'000'000'000);
  FlowClock clock{};
  std::vector<FlowRecord> out;
  t.on_event(start_event(40000, 7), clock, out);
  t.on_event(start_event(40000, 8), clock, out);  // the same flow seen at the other end's interface
  t.on_event(start_event(40001, 7), clock, out);
  zs_event deny = start_event(40002, 7);
  deny.type = ZS_EVENT_DENY;
  t.on_event(deny, clock, out);
  t.on_event(deny, clock, out);
  ASSERT_EQ(out.size(), 5u);
  std::set<uint64_t> ids;
  for (const auto& r : out) {
    EXPECT_NE(r.flow_id, 0u);
    ids.insert(r.flow_id);
  }
  EXPECT_EQ(ids.size(), 5u);
  // both ends of one flow: one Community ID, two flow ids
  EXPECT_EQ(community_id(out[0].tuple, 0, 0), community_id(out[1].tuple, 0, 0));

  // the first flow: no reply (unanswered), then gone from conntrack (its end)
  test::FakeConntrack ct;
  zs_ct_key key{};
  key.ifindex = 7;
  key.tuple = start_event(40000, 7).tuple;
  zs_ct_entry e{};
  e.created_ns = e.last_seen_ns = 1'000'000'000;
  e.packets[0] = 1;
  e.tcp_flags[0] = 0x02;  // a SYN, unanswered
  ct.flows.push_back({key, e});
  zs_config cfg{};
  cfg.ct_timeout_tcp_syn_sent = cfg.ct_timeout_tcp_syn_recv = cfg.ct_timeout_other = cfg.ct_timeout_tcp_closing = 120;
  clock.now_coarse = 5'000'000'000;
  std::vector<FlowRecord> later;
  t.sweep(ct, cfg, clock, later);
  ct.flows.clear();
  t.sweep(ct, cfg, clock, later);
  size_t of_first = 0;
  for (const auto& r : later)
    if (r.ifindex == 7 && ntohs(r.tuple.sport) == 40000) {
      EXPECT_EQ(r.flow_id, out[0].flow_id) << flow_event_name(r.event);
      of_first++;
    }
  EXPECT_EQ(of_first, 2u);  // flow-unanswered and flow-end

  // the tuple opened again: a new flow, a new id
  std::vector<FlowRecord> again;
  t.on_event(start_event(40000, 7, 9'000'000'000), clock, again);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(ids.count(again[0].flow_id), 0u);
}

// Two agents (a restart) do not number flows alike: their logs can be
// joined by flow id.
TEST(FlowId, AnotherTableGivesOtherIds) {
  FlowTable a, b;
  FlowClock clock{};
  std::vector<FlowRecord> out;
  a.on_event(start_event(40000, 7), clock, out);
  b.on_event(start_event(40000, 7), clock, out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_NE(out[0].flow_id, out[1].flow_id);
}

}  // namespace
}  // namespace zeroseg
