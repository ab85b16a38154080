// SPDX-License-Identifier: Apache-2.0
// Packet fuzzing through the real programs: random bytes and mutated valid
// packets (truncations, bad lengths, odd header chains). Invariants: the
// programs only ever pass or drop, every packet is counted exactly once,
// and under deny-all nothing but non-IP frames and IPv6 neighbour
// discovery that stays on its link (nd_may_pass) gets through. The seed is
// printed; ZEROSEG_FUZZ_SEED replays it.
#include <linux/bpf.h>
#include <linux/pkt_cls.h>

#include <algorithm>
#include <cstdlib>
#include <random>

#include "datapath_fixture.h"

namespace zeroseg::test {
namespace {

using PB = PacketBuilder;

std::vector<std::vector<uint8_t>> seeds() {
  const std::string a = "10.0.2.20", b = "10.0.1.10", a6 = "fd00:2::20", b6 = "fd00:1::10";
  std::vector<std::vector<uint8_t>> s = {
      PB().eth().ipv4(a, b).tcp(40000, 80).payload(20).build(),
      PB().eth().ipv4(a, b).udp(40000, 53).payload(30).build(),
      PB().eth().ipv4(a, b).icmp(8, 0, 5).payload(8).build(),
      PB().eth().ipv4(a, b).icmp(3, 3).payload(PB().ipv4(b, a).udp(1, 2).build()).build(),
      PB().eth().ipv4(a, b).sctp(1, 9000).payload(16).build(),
      PB().eth().ipv4(a, b).ipv4_options({1, 1, 7, 7, 4, 0, 0}).tcp(1, 80).build(),
      PB().eth().ipv4(a, b).fragment(0, true, 3).udp(1, 53).payload(40).build(),
      PB().eth().ipv4(a, b).fragment(48, false, 3).proto(17).payload(40).build(),
      PB().eth().ipv4(a, b).proto(47).payload(24).build(),
      PB().eth().vlan(3).vlan(4).ipv4(a, b).tcp(1, 80).build(),
      PB().eth().vlan(3, 0x88a8).ipv6(a6, b6).tcp(1, 80).build(),
      PB().eth().ipv6(a6, b6).tcp(40000, 80).payload(20).build(),
      PB().eth().ipv6(a6, b6).ipv6_ext(0).ipv6_ext(43, 1).ipv6_ext(60).udp(1, 53).build(),
      PB().eth().ipv6(a6, b6).fragment(0, true, 11).tcp(1, 80).payload(40).build(),
      PB().eth().ipv6(a6, b6).fragment(64, false, 11).proto(6).payload(40).build(),
      PB().eth().ipv6(a6, b6).icmp(128, 0, 9).build(),
      PB().eth().ipv6(a6, b6).icmp(135, 0).payload(16).build(),
      // neighbour discovery that passes, to mutate around its rules
      PB().eth().ipv6("fe80::1", "ff02::1:ff00:10").hop_limit(255).nd(135, b6).build(),
      PB().eth().ipv6("::", "ff02::1:ff00:10").hop_limit(255).nd(135, b6).build(),
      PB().eth().ipv6("fe80::1", "ff02::1").hop_limit(255).nd(134).payload(16).build(),
      PB().eth().ipv6(a6, b6).hop_limit(255).nd(136, a6).payload(8).build(),
      PB().eth().ipv6("fe80::1", b6).hop_limit(255).nd(137, a6).build(),
      PB().eth().ipv6(b6, "2001:db8::9").hop_limit(255).nd(135, "2001:db8::9").payload(64).build(),
      PB().eth().ipv6(a6, b6).icmp(1, 4).payload(PB().ipv6(b6, a6).udp(1, 2).build()).build(),
      PB().eth().ipv6(a6, b6).proto(51).payload(32).build(),
      PB().eth().arp().build(),
  };
  return s;
}

std::vector<uint8_t> mutate(std::vector<uint8_t> p, std::mt19937_64& rng) {
  auto pick = [&](size_t n) { return static_cast<size_t>(rng() % n); };
  int rounds = 1 + static_cast<int>(pick(4));
  for (int i = 0; i < rounds; i++) {
    switch (pick(6)) {
      case 0:  // truncate anywhere past Ethernet (the test run needs 14 bytes)
        p.resize(14 + pick(p.size() - 13));
        break;
      case 1:  // flip a byte in the headers
        p[pick(std::min<size_t>(p.size(), 96))] ^= static_cast<uint8_t>(1 + pick(255));
        break;
      case 2:  // a random byte anywhere
        p[pick(p.size())] = static_cast<uint8_t>(rng());
        break;
      case 3:  // insert bytes in the headers
        p.insert(p.begin() + static_cast<long>(14 + pick(std::min<size_t>(p.size() - 13, 80))), pick(16) + 1,
                 static_cast<uint8_t>(rng()));
        break;
      case 4:  // a length or next-header field set to an extreme
        if (p.size() > 24) p[14 + pick(std::min<size_t>(p.size() - 14, 48))] = pick(2) ? 0xff : 0x00;
        break;
      case 5:  // append junk
        p.insert(p.end(), pick(64), static_cast<uint8_t>(rng()));
        break;
    }
  }
  return p;
}

std::string hex(const std::vector<uint8_t>& p) {
  std::string s;
  char b[4];
  for (uint8_t c : p) {
    std::snprintf(b, sizeof(b), "%02x", c);
    s += b;
  }
  return s;
}

// IPv6 neighbour discovery that may pass without policy, restated from
// RFC 4861 (sections 6.1.1, 6.1.2, 7.1.1, 7.1.2, 8.1) and RFC 6980
// section 5, not from the parser. ip is the IPv6 header; arriving: the
// subject's ingress.
//  - ICMPv6 right after the fixed header (no extension header, so no
//    fragment), a whole ICMPv6 header, type 133-137, code 0;
//  - hop limit 255;
//  - a source that is not multicast; RA and redirect from link-local only;
//    the unspecified source only for NS (DAD) and RS, to ff02::/16;
//  - and it cannot have crossed, or cross, a router: a link-local source
//    (never forwarded), or a link-local or ff02::/16 destination (never
//    forwarded), or it is arriving (a forwarded packet's hop limit is
//    below 255).
bool nd_may_pass(const std::vector<uint8_t>& p, size_t ip, bool arriving) {
  const size_t icmp = ip + 40;
  if (p[ip + 6] != 58 || icmp + 8 > p.size()) return false;
  const uint8_t type = p[icmp], code = p[icmp + 1], hops = p[ip + 7];
  if (type < 133 || type > 137 || code != 0 || hops != 255) return false;
  const uint8_t* src = &p[ip + 8];
  const uint8_t* dst = &p[ip + 24];
  auto link_local = [](const uint8_t* a) { return a[0] == 0xfe && (a[1] & 0xc0) == 0x80; };
  auto link_multicast = [](const uint8_t* a) { return a[0] == 0xff && a[1] == 0x02; };
  bool unspecified = std::all_of(src, src + 16, [](uint8_t b) { return b == 0; });
  if (src[0] == 0xff) return false;
  if ((type == 134 || type == 137) && !link_local(src)) return false;
  if (unspecified) return (type == 133 || type == 135) && link_multicast(dst);
  return link_local(src) || link_local(dst) || link_multicast(dst) || arriving;
}

// What may pass a deny-all policy: frames that are not IP, and IPv6
// neighbour discovery by the rules above.
bool may_pass_deny_all(const std::vector<uint8_t>& p, uint8_t direction) {
  size_t off = 12;
  auto u16 = [&](size_t at) { return at + 2 <= p.size() ? (p[at] << 8 | p[at + 1]) : -1; };
  int type = u16(off);
  for (int i = 0; i < 2 && (type == 0x8100 || type == 0x88a8); i++) {
    off += 4;
    type = u16(off);
  }
  if (type == 0x8100 || type == 0x88a8) return false;  // vlan-limit: dropped
  if (type != 0x0800 && type != 0x86dd) return true;   // not IP
  if (type == 0x0800) return false;
  size_t ip = off + 2;
  if (ip + 40 > p.size() || (p[ip] >> 4) != 6) return false;
  return nd_may_pass(p, ip, direction == ZS_DIR_INGRESS);
}

// Where an IP packet's source address is, read as the receiving IP stack
// reads it: behind at most two VLAN tags, the ethertype names the header,
// and the frame holds its fixed part (20 or 40 bytes); the source is at
// 12 (IPv4) or 8 (IPv6) from there, whatever the header's other fields
// say. {offset, length}, or {0, 0} when there is no such header.
std::pair<size_t, size_t> source_field(const std::vector<uint8_t>& p) {
  size_t off = 12;
  auto u16 = [&](size_t at) { return at + 2 <= p.size() ? (p[at] << 8 | p[at + 1]) : -1; };
  int type = u16(off);
  for (int i = 0; i < 2 && (type == 0x8100 || type == 0x88a8); i++) {
    off += 4;
    type = u16(off);
  }
  size_t ip = off + 2;
  if (type == 0x0800 && ip + 20 <= p.size()) return {ip + 12, 4};
  if (type == 0x86dd && ip + 40 <= p.size()) return {ip + 8, 16};
  return {0, 0};
}

// Source validation restated (docs/threat-model.md), not from the
// parser: whatever follows the IP header, and in every mode, a packet
// leaving a workload whose source is none of its own addresses, not
// IPv6 link-local and not unspecified (the on-link exceptions narrow
// those further: left out here) is dropped; a packet arriving on an
// uplink with a local workload's address as source is dropped.
bool must_drop_as_spoofed(const std::vector<uint8_t>& p, zs_attach_kind kind,
                          const std::vector<std::vector<uint8_t>>& listed) {
  auto [at, len] = source_field(p);
  if (!len) return false;
  std::vector<uint8_t> src(p.begin() + static_cast<long>(at), p.begin() + static_cast<long>(at + len));
  bool is_listed = std::find(listed.begin(), listed.end(), src) != listed.end();
  if (kind == ZS_ATTACH_HOST) return is_listed;
  bool unspecified = std::all_of(src.begin(), src.end(), [](uint8_t b) { return b == 0; });
  bool link_local = len == 16 && src[0] == 0xfe && (src[1] & 0xc0) == 0x80;
  return !is_listed && !unspecified && !link_local;
}

class FuzzTest : public DatapathTest {};

TEST_P(FuzzTest, RandomAndMutatedPackets) {
  uint64_t seed = std::random_device{}();
  if (const char* s = std::getenv("ZEROSEG_FUZZ_SEED")) seed = std::strtoull(s, nullptr, 0);
  std::cout << "fuzz seed " << seed << " (replay with ZEROSEG_FUZZ_SEED=" << seed << ")\n";
  std::mt19937_64 rng(seed);

  set_endpoint(300, ZS_MODE_ENFORCE, ZS_MODE_ENFORCE);  // deny-all: no rules
  set_identity("10.0.2.20", 400);
  set_identity("fd00:2::20", 400);
  const auto base = seeds();
  constexpr int kPackets = 40000;
  uint64_t runs = 0;
  for (int i = 0; i < kPackets; i++) {
    std::vector<uint8_t> p;
    if (i % 5 == 0) {
      p.resize(14 + rng() % 200);
      for (auto& byte : p) byte = static_cast<uint8_t>(rng());
      if (i % 10 == 0) {  // random bytes behind a real ethertype
        p[12] = i % 20 ? 0x08 : 0x86;
        p[13] = i % 20 ? 0x00 : 0xdd;
      }
    } else {
      p = mutate(base[rng() % base.size()], rng);
    }
    uint8_t dir = static_cast<uint8_t>(rng() & 1);
    if (!testable(dir, p)) continue;
    uint32_t rv = retval(dir, p);
    runs++;
    Program prog = program_for(dir);
    if (prog == Program::xdp_ingress) {
      ASSERT_TRUE(rv == XDP_PASS || rv == XDP_DROP) << "XDP returned " << rv << " (packet " << i << ")";
    } else {
      ASSERT_TRUE(rv == TC_ACT_OK || rv == TC_ACT_SHOT) << "tc returned " << rv << " (packet " << i << ")";
    }
    if (test_run_passed(prog, rv)) {
      ASSERT_TRUE(may_pass_deny_all(p, dir)) << "packet " << i << " passed a deny-all policy (direction " << int{dir}
                                         << "): " << hex(p);
    }
  }
  uint64_t counted = counter(ZS_CTR_NON_IP);
  for (uint32_t v = 0; v < ZS_VERDICT_MAX; v++)
    for (uint32_t d = 0; d < ZS_DIR_MAX; d++) counted += counter(ZS_CTR_VERDICT(v, d));
  EXPECT_EQ(counted, runs) << "every packet is counted exactly once";
  EXPECT_EQ(counter(ZS_CTR_VERDICT(ZS_VERDICT_UNMANAGED, 0)), 0u);
}

// Mutated packets arriving (a workload's egress, an uplink's ingress),
// with no policy enforced (mode off: nothing else drops), a third of them
// given a chosen source after mutation: own/local, another workload's,
// unknown. Whatever the parser makes of the rest of the packet, a source
// the rule above forbids never passes.
TEST_P(FuzzTest, ForgedSourcesNeverPassWhateverFollowsTheAddresses) {
  uint64_t seed = std::random_device{}();
  if (const char* s = std::getenv("ZEROSEG_FUZZ_SEED")) seed = std::strtoull(s, nullptr, 0);
  std::cout << "fuzz seed " << seed << " (replay with ZEROSEG_FUZZ_SEED=" << seed << ")\n";
  std::mt19937_64 rng(seed);

  const bool host = kind() == ZS_ATTACH_HOST;
  // the seeds' sources are the workload's own; on an uplink, their
  // destinations are the local workload's
  const std::vector<std::string> listed = host ? std::vector<std::string>{"10.0.1.10", "fd00:1::10"}
                                               : std::vector<std::string>{"10.0.2.20", "fd00:2::20"};
  const std::vector<std::string> forged = {"10.0.3.30", "fd00:3::30", "10.0.1.10", "fd00:1::10", "10.0.2.20",
                                           "fd00:2::20", "192.0.2.1", "2001:db8::1"};
  set_endpoint(300, ZS_MODE_OFF, ZS_MODE_OFF);
  {
    Transaction tx(dp());
    for (auto& [k, v] : dp().source_prefixes().entries()) tx.remove_source_prefix(k);
    for (const auto& a : listed)
      tx.set_source(Transaction::source_key(kIfindex, *IpAddr::parse(a)), host ? ZS_SOURCE_LOCAL : ZS_SOURCE_OWN);
    tx.commit();
  }
  std::vector<std::vector<uint8_t>> listed_bytes;
  for (const auto& a : listed) {
    IpAddr ip = *IpAddr::parse(a);
    listed_bytes.emplace_back(ip.bytes.begin(), ip.bytes.begin() + (ip.family == 4 ? 4 : 16));
  }
  const uint8_t arriving = host ? ZS_DIR_INGRESS : ZS_DIR_EGRESS;
  const auto base = seeds();
  uint64_t forged_seen = 0, allowed_passed = 0;
  for (int i = 0; i < 20000; i++) {
    std::vector<uint8_t> p = mutate(base[rng() % base.size()], rng);
    if (auto [at, len] = source_field(p); len && rng() % 3 == 0) {
      IpAddr a;
      do a = *IpAddr::parse(forged[rng() % forged.size()]);
      while ((a.family == 4) != (len == 4));
      std::copy(a.bytes.begin(), a.bytes.begin() + static_cast<long>(len), p.begin() + static_cast<long>(at));
    }
    if (!testable(arriving, p)) continue;
    bool passed = send(arriving, p);
    if (must_drop_as_spoofed(p, kind(), listed_bytes)) {
      forged_seen++;
      ASSERT_FALSE(passed) << "packet " << i << " with a forged source passed: " << hex(p);
    } else if (passed && source_field(p).second) {
      allowed_passed++;
    }
  }
  std::cout << forged_seen << " forged sources dropped, " << allowed_passed << " allowed sources passed\n";
  EXPECT_GT(forged_seen, 200u);
  EXPECT_GT(allowed_passed, 200u);
}

INSTANTIATE_TEST_SUITE_P(Hooks, FuzzTest, testing::Values(Variant::xdp_host, Variant::tc_workload), variant_name);

}  // namespace
}  // namespace zeroseg::test
