// SPDX-License-Identifier: Apache-2.0
// Attachments against the kernel: check_attachment tells our programs from
// none and from another's, and attach refuses to count a hook as ours
// where an `ingress` qdisc would take both of our filters onto ingress.
// On a veth pair made for each test (zs-t<pid>a/b, removed after it).
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_link.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "bpf/datapath_fixture.h"
#include "common/error.h"
#include "loader/attach.h"

namespace zeroseg::test {
namespace {

bool sh(const std::string& cmd) { return std::system((cmd + " >/dev/null 2>&1").c_str()) == 0; }

class AttachTest : public DatapathTest {
 protected:
  void SetUp() override {
    DatapathTest::SetUp();
    if (IsSkipped()) return;
    ASSERT_TRUE(sh("ip link add " + name_ + " type veth peer name " + peer_)) << "making " << name_;
    ASSERT_TRUE(sh("ip link set " + name_ + " up") && sh("ip link set " + peer_ + " up"));
  }
  void TearDown() override { sh("ip link del " + name_); }

  Attachment attach_it() { return attach(dp(), {.ifname = name_, .kind = kind()}); }
  IngressHook wanted() const { return GetParam() == Variant::xdp_host ? IngressHook::xdp : IngressHook::tc; }

  const std::string tag_ = "zs-t" + std::to_string(getpid() % 100000);
  const std::string name_ = tag_ + "a", peer_ = tag_ + "b";
};

TEST_P(AttachTest, BothHooksAreOursAfterAnAttach) {
  Attachment a = attach_it();
  EXPECT_TRUE(a.complete()) << a.ingress_error << " / " << a.egress_error;
  EXPECT_EQ(a.ingress, wanted()) << "native XDP works on a veth";
  AttachmentCheck c = check_attachment(dp(), a);
  EXPECT_EQ(c.ingress, HookCheck::ours);
  EXPECT_EQ(c.egress, HookCheck::ours);
}

TEST_P(AttachTest, ADeletedQdiscIsMissingAndAttachedAgain) {
  Attachment a = attach_it();
  ASSERT_TRUE(a.complete());
  ASSERT_TRUE(sh("tc qdisc del dev " + name_ + " clsact"));
  AttachmentCheck c = check_attachment(dp(), a);
  EXPECT_EQ(c.egress, HookCheck::missing);
  EXPECT_EQ(c.ingress, wanted() == IngressHook::xdp ? HookCheck::ours : HookCheck::missing);
  attach_egress(dp(), a);
  attach_ingress(dp(), a);
  EXPECT_TRUE(check_attachment(dp(), a).ok());
}

TEST_P(AttachTest, XdpSwitchedOffIsMissing) {
  Attachment a = attach_it();
  ASSERT_TRUE(a.complete());
  ASSERT_TRUE(sh("ip link set dev " + name_ + " xdpdrv off"));
  // tc ingress: no XDP program was ours to lose
  EXPECT_EQ(check_attachment(dp(), a).ingress, wanted() == IngressHook::xdp ? HookCheck::missing : HookCheck::ours);
  attach_ingress(dp(), a);
  EXPECT_TRUE(check_attachment(dp(), a).ok());
}

TEST_P(AttachTest, AnotherProgramOnOurFilterIsForeign) {
  Attachment a = attach_it();
  ASSERT_TRUE(a.complete());
  // zs_tc_trace is a tc program of the same object, never attached: here it
  // plays someone else's, put on our handle and priority
  bpf_tc_hook hook{};
  hook.sz = sizeof(hook);
  hook.ifindex = static_cast<int>(a.ifindex);
  hook.attach_point = BPF_TC_EGRESS;
  bpf_tc_opts opts{};
  opts.sz = sizeof(opts);
  opts.handle = 0x7a73;
  opts.priority = 1;
  opts.prog_fd = dp().program_fd(Program::tc_trace);
  opts.flags = BPF_TC_F_REPLACE;
  ASSERT_EQ(bpf_tc_attach(&hook, &opts), 0);
  EXPECT_EQ(check_attachment(dp(), a).egress, HookCheck::foreign);
  attach_egress(dp(), a);
  EXPECT_TRUE(check_attachment(dp(), a).ok());
}

// An `ingress` qdisc answers to clsact's parents too: a filter for
// ffff:fff3 (egress) lands in its one ingress block. Attach says so
// instead of counting that as our egress hook.
TEST_P(AttachTest, AnIngressQdiscFailsTheTcHooks) {
  ASSERT_TRUE(sh("tc qdisc add dev " + name_ + " ingress"));
  Attachment a = attach_it();
  EXPECT_FALSE(a.complete());
  EXPECT_NE(a.egress_error.find("\"ingress\" qdisc"), std::string::npos) << a.egress_error;
  if (wanted() == IngressHook::xdp)
    EXPECT_EQ(a.ingress_error, "") << "XDP needs no qdisc: that direction is enforced";
  else
    EXPECT_NE(a.ingress_error.find("\"ingress\" qdisc"), std::string::npos) << a.ingress_error;
  AttachmentCheck c = check_attachment(dp(), a);
  EXPECT_EQ(c.egress, HookCheck::missing);
  EXPECT_THROW(attach_egress(dp(), a), Error);
  // once it is gone, the retry attaches
  ASSERT_TRUE(sh("tc qdisc del dev " + name_ + " ingress"));
  attach_egress(dp(), a);
  attach_ingress(dp(), a);
  EXPECT_TRUE(check_attachment(dp(), a).ok());
}

INSTANTIATE_TEST_SUITE_P(Hooks, AttachTest, testing::Values(Variant::tc_workload, Variant::xdp_host), variant_name);

}  // namespace
}  // namespace zeroseg::test
