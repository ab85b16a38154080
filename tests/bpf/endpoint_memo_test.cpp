// SPDX-License-Identifier: Apache-2.0
// The endpoints read last, remembered per CPU (bpf/lib/endpoint_memo.h):
// a packet takes its interface's endpoint from the memo when the memo
// holds it under the current generation. What an attacker would want
// from it: an endpoint that outlives its change (a mode from enforce to
// audit and back, a removal, a new identity), or another interface's
// endpoint. The entry is changed behind the datapath's back (no new
// generation) to see who answered. On xdp_host the source check (XDP)
// reads the endpoint first and fills the memo; on tc_workload ingress is
// tc egress, which has no source check: the pipeline's read fills it.
#include <net/if.h>
#include <unistd.h>

#include <cstdlib>

#include "datapath_fixture.h"
#include "loader/slot_access.h"

namespace zeroseg::test {
namespace {

constexpr uint8_t IN = ZS_DIR_INGRESS;
constexpr uint32_t kSelf = 300, kOther = 301, kPeer = 600;

// each call a new flow (a new source port), from kPeer's address: denied
// unless the endpoint audits or is gone
std::vector<uint8_t> udp_in() {
  static uint16_t sport = 30000;
  return ip_header(4, "198.18.1.1", "10.0.1.10").udp(++sport, 9).build();
}

class EndpointMemoTest : public DatapathTest {
 protected:
  void SetUp() override {
    DatapathTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    set_endpoint(kSelf, ZS_MODE_ENFORCE, ZS_MODE_ENFORCE);
    set_identity("198.18.0.0/15", kPeer);  // no rule: every packet from it denied where enforced
  }
  void TearDown() override {
    if (!other_.empty()) std::system(("ip link del " + other_ + " 2>/dev/null").c_str());
  }
  OnOneCpu pinned_;  // the memo is per CPU: the packets must meet it

  zs_endpoint endpoint(uint32_t identity, uint8_t ingress_mode) const {
    zs_endpoint ep{};
    ep.identity = identity;
    ep.kind = static_cast<uint8_t>(kind());
    ep.mode[ZS_DIR_INGRESS] = ingress_mode;
    ep.mode[ZS_DIR_EGRESS] = ZS_MODE_ENFORCE;
    return ep;
  }
  // ifindex's endpoint, in both slots, behind the datapath's back
  void endpoint_behind_the_back(uint32_t ifindex, const zs_endpoint& ep) {
    dp().settle();  // the last change's levelling, which would write it back
    zs_endpoint_value v{};
    v.slot[0] = v.slot[1] = ep;
    dp().map("zs_endpoints").update(&ifindex, &v);
  }
  uint64_t unmanaged() { return counter(ZS_CTR_VERDICT(ZS_VERDICT_UNMANAGED, 0)); }

  // A veth whose ifindex shares kIfindex's memo slot (test_run needs a
  // real device for an ifindex): kIfindex + a multiple of 1024, the same
  // slot for any power of two of slots up to 1024. Its endpoint: kOther,
  // audited.
  uint32_t other_in_the_same_slot() {
    other_ = "zs-epm" + std::to_string(getpid() % 100000);
    std::system(("ip link del " + other_ + " 2>/dev/null").c_str());
    uint32_t ifindex = 0;
    for (uint32_t i = kIfindex + 1024; i < 1u << 20 && !ifindex; i += 1024) {
      const std::string add = "ip link add " + other_ + " index " + std::to_string(i) + " type veth peer name " +
                              other_ + "p 2>/dev/null";
      if (std::system(add.c_str()) == 0) ifindex = i;
    }
    if (!ifindex) {
      ADD_FAILURE() << "no free ifindex in kIfindex's slot";
      return 0;
    }
    EXPECT_EQ(if_nametoindex(other_.c_str()), ifindex);
    Transaction tx(dp());
    tx.set_endpoint(ifindex, endpoint(kOther, ZS_MODE_AUDIT));
    tx.set_source_prefix(Transaction::source_prefix_key(ifindex, *Prefix::parse("0.0.0.0/0")));
    tx.commit();
    return ifindex;
  }

  std::string other_;
};

// Under one generation the memo answers: the entry rewritten behind the
// datapath's back to audit is not seen until the memo is emptied. It
// shows the memo is read: a read of the map would see audit at once and
// pass the second packet.
TEST_P(EndpointMemoTest, TheMemoAnswersUnderItsGeneration) {
  ASSERT_FALSE(send(IN, udp_in())) << "enforced: denied";
  endpoint_behind_the_back(kIfindex, endpoint(kSelf, ZS_MODE_AUDIT));
  EXPECT_FALSE(send(IN, udp_in())) << "the memo's endpoint: enforced still";
  dp().clear_memos();
  EXPECT_TRUE(send(IN, udp_in())) << "read again: audited";
}

// Every change of the endpoint moves the generation on: its next packet
// sees it, whatever the memo held. Enforce -> audit -> gone (unmanaged)
// -> enforce -> a new identity, allowed, a packet after each. A memo that
// ignored the generation would answer enforce all along.
TEST_P(EndpointMemoTest, AChangeOfTheEndpointIsSeenByItsNextPacket) {
  ASSERT_FALSE(send(IN, udp_in())) << "enforced";
  set_endpoint(kSelf, ZS_MODE_AUDIT, ZS_MODE_ENFORCE);
  EXPECT_TRUE(send(IN, udp_in())) << "audited";
  const uint64_t before = unmanaged();
  {
    Transaction tx(dp());
    tx.remove_endpoint(kIfindex);
    tx.commit();
  }
  EXPECT_TRUE(send(IN, udp_in())) << "no endpoint: passes";
  EXPECT_EQ(unmanaged(), before + 1) << "counted as unmanaged";
  set_endpoint(kSelf, ZS_MODE_ENFORCE, ZS_MODE_ENFORCE);
  EXPECT_FALSE(send(IN, udp_in())) << "enforced again";
  {
    Transaction tx(dp());
    add_rule({kOther, kPeer, IN, 17, 9, 9, 1}, &tx);  // udp/9 from kPeer, to kOther only
    tx.set_endpoint(kIfindex, endpoint(kOther, ZS_MODE_ENFORCE));
    tx.commit();
  }
  EXPECT_TRUE(send(IN, udp_in())) << "the new identity's rule";
}

// Two interfaces whose ifindexes share a slot, packets alternating: each
// gets its own endpoint (kIfindex enforced, the other audited). Taken by
// slot alone, each would get the other's every second packet.
TEST_P(EndpointMemoTest, AnInterfaceInTheSameSlotGetsItsOwnEndpoint) {
  const uint32_t other = other_in_the_same_slot();
  ASSERT_NE(other, 0u);
  for (int i = 0; i < 3; i++) {
    EXPECT_FALSE(send(IN, udp_in())) << "kIfindex: enforced, round " << i;
    EXPECT_TRUE(send_on(other, IN, udp_in())) << "the other: audited, round " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Hooks, EndpointMemoTest, testing::Values(Variant::xdp_host, Variant::tc_workload),
                         variant_name);

}  // namespace
}  // namespace zeroseg::test
