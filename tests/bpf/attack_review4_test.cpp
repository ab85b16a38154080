// SPDX-License-Identifier: Apache-2.0
// Attack review 4: what is pinned here is a hole found and not fixed (the
// fixed ones are tested beside the code they fix: UplinkShareTest,
// ClusterKeys, FirstSeenEdge).
#include <arpa/inet.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "datapath_fixture.h"
#include "loader/conntrack_map.h"
#include "privileged.h"

namespace zeroseg::test {
namespace {

// A rollback, then the upgrade again. zs_ct_origin_ports is filled with
// ones only when it is created beside a pinned conntrack
// (Datapath::load). Roll back to a version without it: its pin stays in
// the directory, and the old version's programs track flows without
// marking their ports. Upgrade again: the pin is there, nothing fills it,
// and those flows' replies skip conntrack's probe (deny_fastpath.h):
// judged as new flows, dropped where the policy does not allow them in
// (DenyFastpathTest.RepliesOfFlowsOpenedOutwardsPass shows a clear bit
// drops the reply). The same happens to the ipcache filter's keys until
// the first transaction's recount marks them. Here the old version's
// insert is a flow put from user space into the pinned map. A fix needs
// a marker of which version last loaded the pins (or a walk of conntrack
// under the programs of the old version still attached), so pinned.
TEST(AttackReview4, DISABLED_FlowsTrackedAcrossARollbackAreFoundAfterTheUpgradeAgain) {
  ZS_REQUIRE_PRIVILEGED();
  const std::string dir = "/sys/fs/bpf/zs-ar4-" + std::to_string(getpid());
  { auto dp = Datapath::load({.pin_dir = dir, .pin = true}); }  // the first upgrade
  const uint16_t sport = htons(61234), dport = htons(61235);
  {
    // the old version runs on the same pins: a flow tracked, no port marked
    auto dp = Datapath::load({.pin_dir = dir, .pin = true});
    zs_ct_key key{};
    key.ifindex = kIfindex;
    key.tuple.family = ZS_FAMILY_IPV4;
    key.tuple.proto = ZS_PROTO_UDP;
    key.tuple.saddr[0] = htonl(0x0a000001);
    key.tuple.daddr[0] = htonl(0x0a000002);
    key.tuple.sport = sport;
    key.tuple.dport = dport;
    zs_ct_entry ct{};
    ct.generation = 1;
    dp->conntrack().put(key, ct);
  }
  auto dp = Datapath::load({.pin_dir = dir, .pin = true});  // the upgrade again
  auto bits = [&](uint16_t port) {
    uint32_t idx = port >> 6;
    zs_ct_port_bits b{};
    EXPECT_TRUE(dp->map("zs_ct_origin_ports").lookup(&idx, &b));
    return b;
  };
  EXPECT_TRUE(bits(sport).as_source >> (sport & 63) & 1) << "its replies are probed";
  EXPECT_TRUE(bits(dport).as_dest >> (dport & 63) & 1) << "its own packets are probed";
  dp.reset();
  Datapath::unpin(dir);
}

}  // namespace
}  // namespace zeroseg::test
