// SPDX-License-Identifier: Apache-2.0
// A commit that fails part way puts back what it wrote to the inactive
// slots, map by map, even when the kernel refuses one map's undo
// (Transaction::commit): one refusal must not leave the other maps' new
// values in the inactive slot, where the next commit's flip would put them
// in force. The kernel is made to refuse by freezing a map (BPF_MAP_FREEZE:
// no more writes from user space), which fails its write and its undo.
#include <bpf/bpf.h>
#include <gtest/gtest.h>
#include <zeroseg/endpoint.h>
#include <zeroseg/identity.h>
#include <zeroseg/policy.h>

#include "common/error.h"
#include "loader/datapath.h"
#include "loader/transaction.h"
#include "net/addr.h"
#include "privileged.h"

namespace zeroseg::test {
namespace {

constexpr uint32_t kIfindex = 7, kSubject = 300;

zs_endpoint endpoint(uint32_t identity) {
  zs_endpoint ep{};
  ep.identity = identity;
  ep.kind = ZS_ATTACH_WORKLOAD;
  ep.mode[ZS_DIR_INGRESS] = ep.mode[ZS_DIR_EGRESS] = ZS_MODE_ENFORCE;
  return ep;
}

zs_policy_key rule_key(uint16_t port) {
  zs_policy_key k{};
  k.subject = kSubject;
  k.proto = 6;
  k.port = port;
  k.port_plen = 16;
  return k;
}

TEST(TransactionUndoTest, AnUndoTheKernelRefusesDoesNotSkipTheOtherMaps) {
  ZS_REQUIRE_PRIVILEGED();
  auto dp = Datapath::load({.pin = false});
  zs_policy_entry allow{};
  allow.allow_rule = 1;
  {
    Transaction tx(*dp);
    tx.set_endpoint(kIfindex, endpoint(kSubject));
    tx.set_identity(*Prefix::parse("10.1.0.0/16"), 900);
    tx.set_rule(rule_key(80), allow);
    tx.commit();
  }
  dp->settle();
  const uint64_t gen = dp->generation();
  const auto endpoints_before = dp->endpoints().entries();
  const auto ipcache_before = dp->ipcache().entries();
  ASSERT_EQ(endpoints_before.size(), 1u);
  ASSERT_EQ(ipcache_before.size(), 1u);

  // endpoints and the ipcache are written before the policy, whose write
  // the kernel refuses: their undos run after the policy's, refused too
  Transaction tx(*dp);
  tx.set_endpoint(kIfindex, endpoint(kSubject + 1));
  tx.set_identity(*Prefix::parse("10.2.0.0/16"), 901);
  tx.set_rule(rule_key(81), allow);
  ASSERT_EQ(bpf_map_freeze(dp->map("zs_policy").fd()), 0);
  EXPECT_THROW(tx.commit(), std::exception);

  EXPECT_EQ(dp->generation(), gen) << "a failed commit flipped";
  const auto endpoints_after = dp->endpoints().entries();
  ASSERT_EQ(endpoints_after.size(), 1u);
  for (int slot = 0; slot < ZS_SLOTS; slot++)
    EXPECT_EQ(endpoints_after[0].second.slot[slot].identity, kSubject)
        << "slot " << slot << " kept the failed commit's endpoint";
  const auto ipcache_after = dp->ipcache().entries();
  EXPECT_EQ(ipcache_after.size(), ipcache_before.size()) << "the failed commit's ipcache key was left behind";
  for (const auto& [key, value] : ipcache_after)
    for (int slot = 0; slot < ZS_SLOTS; slot++) EXPECT_EQ(value.identity[slot], 900u);
}

}  // namespace
}  // namespace zeroseg::test
