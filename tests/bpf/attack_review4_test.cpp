// SPDX-License-Identifier: Apache-2.0
// Attack review 4: the holes it found, each tested beside the code that
// fixed it (UplinkShareTest, ClusterKeys, FirstSeenEdge), but the rollback's
// (its fix, loader/pin_stamp.h, has no test of its own): here.
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "datapath_fixture.h"
#include "common/handles.h"
#include "loader/conntrack_map.h"
#include "loader/pin_stamp.h"
#include "privileged.h"

namespace zeroseg::test {
namespace {

// A rollback, then the upgrade again. zs_ct_origin_ports was filled with
// ones only when it was created beside a pinned conntrack
// (Datapath::load). Roll back to a version without it: its pin stays in
// the directory, and the old version's programs track flows without
// marking their ports. Upgrade again: the pin was there, nothing filled it,
// and those flows' replies skipped conntrack's probe (deny_fastpath.h):
// judged as new flows, dropped where the policy does not allow them in
// (DenyFastpathTest.RepliesOfFlowsOpenedOutwardsPass shows a clear bit
// drops the reply). The same held for the ipcache's and the policy's
// filter words. Fixed by a stamp beside the pins (loader/pin_stamp.h): the
// id of the program this version pinned last; an older loader re-pins its
// own programs, the ids differ, and the bits are taken as unknown (all
// set). Here the old version is a flow put from user space into the pinned
// map and programs pinned by another loader (another load's, unstamped).
class RollbackTest : public ::testing::Test {
 protected:
  void SetUp() override { ZS_REQUIRE_PRIVILEGED(); }
  void TearDown() override { Datapath::unpin(dir_); }

  // the old version on the same pins: it re-pins its own programs and
  // tracks a flow without marking its ports
  void old_version_runs(bool keeps_stamp_pin) {
    auto other = Datapath::load({.pin_dir = dir_ + "-other", .pin = true});
    for (Program p : {Program::xdp_ingress, Program::tc_ingress, Program::tc_egress, Program::tc_trace}) {
      std::string path = dir_ + "/" + program_name(p);
      unlink(path.c_str());
      ASSERT_EQ(bpf_obj_pin(other->program_fd(p), path.c_str()), 0) << path;
    }
    if (!keeps_stamp_pin) unlink((dir_ + "/zs_loader_stamp").c_str());
    auto ct = Datapath::open_pinned(dir_);
    zs_ct_key key{};
    key.ifindex = kIfindex;
    key.tuple.family = ZS_FAMILY_IPV4;
    key.tuple.proto = ZS_PROTO_UDP;
    key.tuple.saddr[0] = htonl(0x0a000001);
    key.tuple.daddr[0] = htonl(0x0a000002);
    key.tuple.sport = kSport;
    key.tuple.dport = kDport;
    zs_ct_entry entry{};
    entry.generation = 1;
    ct->conntrack().put(key, entry);
    other.reset();
    Datapath::unpin(dir_ + "-other");
  }

  // zs_ct_origin_ports, as the upgraded datapath will read it
  static zs_ct_port_bits bits(Datapath& dp, uint16_t port) {
    uint32_t idx = port >> 6;
    zs_ct_port_bits b{};
    EXPECT_TRUE(dp.map("zs_ct_origin_ports").lookup(&idx, &b));
    return b;
  }

  const std::string dir_ = "/sys/fs/bpf/zs-ar4-" + std::to_string(getpid());
  static constexpr uint16_t kSport = 0x32ef, kDport = 0x33ef;  // ports 61234 and 61235 in network order
};

TEST_F(RollbackTest, FlowsTrackedAcrossARollbackAreFoundAfterTheUpgradeAgain) {
  { auto dp = Datapath::load({.pin_dir = dir_, .pin = true}); }  // the first upgrade
  old_version_runs(/*keeps_stamp_pin=*/true);
  auto dp = Datapath::load({.pin_dir = dir_, .pin = true});  // the upgrade again
  EXPECT_TRUE(bits(*dp, kSport).as_source >> (kSport & 63) & 1) << "its replies are probed";
  EXPECT_TRUE(bits(*dp, kDport).as_dest >> (kDport & 63) & 1) << "its own packets are probed";
}

TEST_F(RollbackTest, AStampThatIsGoneCountsAsAnotherLoader) {
  { auto dp = Datapath::load({.pin_dir = dir_, .pin = true}); }
  old_version_runs(/*keeps_stamp_pin=*/false);
  auto dp = Datapath::load({.pin_dir = dir_, .pin = true});
  EXPECT_TRUE(bits(*dp, kSport).as_source >> (kSport & 63) & 1);
  EXPECT_TRUE(bits(*dp, kDport).as_dest >> (kDport & 63) & 1);
}

// The stamp costs nothing when this version restarts on its own pins: the
// bits it set stay exact (a port no flow used stays clear).
TEST_F(RollbackTest, ARestartOnItsOwnPinsKeepsTheBitsExact) {
  { auto dp = Datapath::load({.pin_dir = dir_, .pin = true}); }
  auto dp = Datapath::load({.pin_dir = dir_, .pin = true});
  EXPECT_FALSE(bits(*dp, kSport).as_source >> (kSport & 63) & 1);
  EXPECT_FALSE(bits(*dp, kDport).as_dest >> (kDport & 63) & 1);
}

// Attack review 13: the stamp says the bits are this version's to trust,
// so it is written last. An upgrade that stops after pinning its programs
// but before taking the old version's bits as unknown (here: the pinned
// zs_ct_origin_ports frozen, so the load throws at filling it; a kill or
// a failed mmap does the same) must leave no stamp naming its programs:
// stamped first, the next start trusted bits the rollback never set, and
// the replies of the flows it tracked were dropped.
TEST_F(RollbackTest, AnUpgradeThatStopsHalfWayLeavesNoStampClaimingItsPins) {
  { auto dp = Datapath::load({.pin_dir = dir_, .pin = true}); }
  old_version_runs(/*keeps_stamp_pin=*/true);
  {
    UniqueFd ports(bpf_obj_get((dir_ + "/zs_ct_origin_ports").c_str()));
    ASSERT_GE(ports.get(), 0);
    ASSERT_EQ(bpf_map_freeze(ports.get()), 0);
  }
  EXPECT_THROW(Datapath::load({.pin_dir = dir_, .pin = true}), std::exception) << "the fill was refused";
  EXPECT_FALSE(pins_stamped_by_us(dir_, program_name(Program::tc_egress)))
      << "the half-done upgrade stamped the pins: the next start trusts the old version's bits";
}

}  // namespace
}  // namespace zeroseg::test
