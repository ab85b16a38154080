// SPDX-License-Identifier: Apache-2.0
// Headers outside the skb's linear part, on a real tc hook (test_run builds
// only linear skbs): zs_tc pulls before the parse unless a TCP packet's
// headers are all linear already (bpf/lib/tc_pull.h). Frames leave a veth
// of the test's own through a packet socket with PACKET_VNET_HDR, whose
// hdr_len sets how much the kernel keeps linear (frames over a page;
// the rest goes in pages), and cross its tc egress: the workload's
// ingress, enforced, TCP to port 7000 allowed from the peer. Each split of
// a TCP SYN, IPv4 and IPv6, is judged as the linear packet is: to 7000
// allowed, to 7001 denied by policy, never malformed. Tried with the
// shortcut taking the IP header alone for the headers (the TCP header's
// 20 bytes left out of the check): the SYNs with their TCP header in pages
// were dropped as malformed-l4.
#include <linux/if_packet.h>
#include <net/if.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

#include "bpf/datapath_fixture.h"
#include "loader/attach.h"

namespace zeroseg::test {
namespace {

using PB = PacketBuilder;
constexpr uint32_t kSelf = 300, kPeer = 400;
constexpr uint8_t kTcp = 6;

bool sh(const std::string& cmd) { return std::system((cmd + " >/dev/null 2>&1").c_str()) == 0; }

class PagedHeadersTest : public DatapathTest {
 protected:
  void SetUp() override {
    DatapathTest::SetUp();
    if (HasFatalFailure() || IsSkipped()) return;
    sh("ip link del " + name_);
    ASSERT_TRUE(sh("ip link add " + name_ + " type veth peer name " + name_ + "b"));
    // no IPv6 of the kernel's own (router solicitations, MLD) through the
    // hook while the counters are read
    for (const std::string& dev : {name_, name_ + "b"})
      ASSERT_TRUE(sh("sysctl -qw net.ipv6.conf." + dev + ".disable_ipv6=1"));
    ASSERT_TRUE(sh("ip link set " + name_ + " mtu 9000 up") && sh("ip link set " + name_ + "b mtu 9000 up"));
    ifindex_ = if_nametoindex(name_.c_str());
    ASSERT_NE(ifindex_, 0u);
    Transaction tx(dp());
    zs_endpoint ep{};
    ep.identity = kSelf;
    ep.kind = ZS_ATTACH_WORKLOAD;
    ep.mode[ZS_DIR_INGRESS] = ep.mode[ZS_DIR_EGRESS] = ZS_MODE_ENFORCE;
    tx.set_endpoint(ifindex_, ep);
    set_identity("10.9.0.0/16", kPeer, &tx);
    set_identity("fd09::/64", kPeer, &tx);
    add_rule({kSelf, kPeer, ZS_DIR_INGRESS, kTcp, 7000, 7000, 1}, &tx);
    tx.commit();
    Attachment a = attach(dp(), {.ifname = name_, .kind = ZS_ATTACH_WORKLOAD});
    ASSERT_TRUE(a.complete()) << a.ingress_error << " / " << a.egress_error;
  }
  void TearDown() override { sh("ip link del " + name_); }

  // Sends frame out of the veth with its first linear bytes in the skb's
  // linear part, the rest in pages; false when the egress hook dropped it
  // (ENOBUFS: the frame was shot on its way out).
  bool send_split(const std::vector<uint8_t>& frame, uint16_t linear) {
    int fd = socket(AF_PACKET, SOCK_RAW, 0);
    EXPECT_GE(fd, 0);
    int on = 1;
    EXPECT_EQ(setsockopt(fd, SOL_PACKET, PACKET_VNET_HDR, &on, sizeof(on)), 0);
    sockaddr_ll to{};
    to.sll_family = AF_PACKET;
    to.sll_ifindex = static_cast<int>(ifindex_);
    to.sll_halen = 6;
    // struct virtio_net_hdr: flags, gso_type (none), hdr_len, gso_size,
    // csum_start, csum_offset; little-endian hdr_len
    std::vector<uint8_t> buf(10, 0);
    buf[2] = static_cast<uint8_t>(linear & 0xff);
    buf[3] = static_cast<uint8_t>(linear >> 8);
    buf.insert(buf.end(), frame.begin(), frame.end());
    ssize_t n = sendto(fd, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof(to));
    int err = errno;
    close(fd);
    if (n < 0 && err == ENOBUFS) return false;
    EXPECT_EQ(n, static_cast<ssize_t>(buf.size())) << "sendto: " << std::strerror(err);
    return true;
  }

  const std::string name_ = "zs-ph" + std::to_string(getpid() % 100000);
  uint32_t ifindex_ = 0;
};

TEST_P(PagedHeadersTest, TcpIsJudgedWhereverItsHeadersAre) {
  struct Family {
    int family;
    std::string peer, self;
    uint16_t ip_end;  // Ethernet and IP headers
  };
  for (const Family& f : {Family{4, "10.9.0.7", "10.8.0.1", 14 + 20}, Family{6, "fd09::7", "fd08::1", 14 + 40}}) {
    // linear: the Ethernet header alone; Ethernet and IP; all the headers
    for (uint16_t linear : {uint16_t(14), f.ip_end, uint16_t(f.ip_end + 20)}) {
      SCOPED_TRACE("IPv" + std::to_string(f.family) + ", " + std::to_string(linear) + " bytes linear");
      for (uint16_t port : {uint16_t(7000), uint16_t(7001)}) {
        bool allowed = port == 7000;
        uint64_t pass = counter(ZS_CTR_VERDICT(ZS_VERDICT_ALLOWED, ZS_DIR_INGRESS));
        uint64_t deny = counter(ZS_CTR_VERDICT(ZS_VERDICT_DENIED, ZS_DIR_INGRESS));
        uint64_t malformed = counter(ZS_CTR_REASON(ZS_REASON_MALFORMED_L4));
        auto frame = ip_header(f.family, f.peer, f.self).tcp(40000 + linear, port, PB::kSyn).payload(8000).build();
        EXPECT_EQ(send_split(frame, linear), allowed) << port;
        EXPECT_EQ(counter(ZS_CTR_VERDICT(ZS_VERDICT_ALLOWED, ZS_DIR_INGRESS)), pass + (allowed ? 1 : 0)) << port;
        EXPECT_EQ(counter(ZS_CTR_VERDICT(ZS_VERDICT_DENIED, ZS_DIR_INGRESS)), deny + (allowed ? 0 : 1)) << port;
        EXPECT_EQ(counter(ZS_CTR_REASON(ZS_REASON_MALFORMED_L4)), malformed) << port;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Hooks, PagedHeadersTest, testing::Values(Variant::tc_workload), variant_name);

}  // namespace
}  // namespace zeroseg::test
