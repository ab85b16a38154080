// SPDX-License-Identifier: Apache-2.0
// The ipcache's answers remembered per block and CPU (bpf/lib/ipcache_memo.h):
// a new flow from an address whose /22 (IPv6: /54) another address asked
// about, under the same generation, takes that answer without the ipcache.
// What an attacker would want from it: an address inside a longer key
// (its own workload's /32, say) given its block's identity, or an answer
// that outlives the ipcache. The block's entry is changed behind the
// datapath's back (no new generation) to see who answered.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <unistd.h>
#include <zeroseg/identity.h>

#include <algorithm>
#include <filesystem>

#include "datapath_fixture.h"

namespace zeroseg::test {
namespace {

constexpr uint8_t IN = ZS_DIR_INGRESS;
constexpr uint32_t kSelf = 300, kBlock = 600, kOther = 700, kHost = 800;
const std::string kSelf4 = "10.0.1.10", kSelf6 = "fd00:1::10";

// each call a new flow (a new source port)
std::vector<uint8_t> udp_from(const std::string& src) {
  static uint16_t sport = 30000;
  const int family = src.find(':') == std::string::npos ? 4 : 6;
  return ip_header(family, src, family == 4 ? kSelf4 : kSelf6).udp(++sport, 9).build();
}

class IpcacheMemoTest : public DatapathTest {
 protected:
  void SetUp() override {
    DatapathTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    set_endpoint(kSelf, ZS_MODE_ENFORCE, ZS_MODE_ENFORCE);
    set_identity("198.18.0.0/15", kBlock);
    set_identity("2001:db8::/32", kBlock);
    add_rule({kSelf, kBlock, IN, 17, 9, 9, 1});  // udp/9 from the block's identity; kOther, kHost: none
  }
  OnOneCpu pinned_;  // the memo is per CPU: the flows must meet their answers
  // prefix's identity, in both slots, behind the datapath's back
  void identity_behind_the_back(const std::string& prefix, uint32_t identity) {
    dp().settle();  // the last change's levelling, which would write it back
    zs_ipcache_key key = Transaction::ipcache_key(*Prefix::parse(prefix));
    zs_ipcache_value v{};
    v.identity[0] = v.identity[1] = identity;
    dp().map("zs_ipcache").update(&key, &v);
  }
};

// Another address of the block is answered as the first was, though the
// block's key says otherwise now: the memo answered. An address of
// another block is asked of the ipcache (kOther: denied); so is the block
// once the memo is emptied. Without the memo, the second flow is denied.
TEST_P(IpcacheMemoTest, AnotherAddressOfTheBlockIsAnsweredAsBefore) {
  // 198.18.1.x and .3.x: one /22; .4.x another. 2001:db8:0:1:: and
  // 2001:db8:0:3ff::: one /54; 2001:db8:0:400:: another.
  for (const auto& [first, same_block, other_block, prefix] :
       {std::tuple{"198.18.1.1", "198.18.3.200", "198.18.4.1", "198.18.0.0/15"},
        std::tuple{"2001:db8:0:1::1", "2001:db8:0:3ff::9", "2001:db8:0:400::1", "2001:db8::/32"}}) {
    SCOPED_TRACE(first);
    dp().clear_memos();
    identity_behind_the_back(prefix, kBlock);
    ASSERT_TRUE(send(IN, udp_from(first)));
    identity_behind_the_back(prefix, kOther);
    EXPECT_TRUE(send(IN, udp_from(same_block))) << "the block's answer, remembered";
    EXPECT_FALSE(send(IN, udp_from(other_block))) << "another block: asked, kOther";
    dp().clear_memos();
    EXPECT_FALSE(send(IN, udp_from(same_block))) << "asked again: kOther";
  }
}

// A key longer than the block holds one of its addresses: no answer is
// the block's, none is remembered. The block's other address asks first
// (kBlock, allowed); the /32's own then gets its own identity (kHost,
// denied), not the block's. Remembered for the block, it passed.
TEST_P(IpcacheMemoTest, AnAddressUnderALongerKeyGetsItsOwnIdentity) {
  set_identity("198.18.1.77/32", kHost);
  set_identity("2001:db8:0:1::77/128", kHost);
  for (const auto& [other, host] :
       {std::pair{"198.18.1.1", "198.18.1.77"}, std::pair{"2001:db8:0:1::1", "2001:db8:0:1::77"}}) {
    SCOPED_TRACE(host);
    ASSERT_TRUE(send(IN, udp_from(other)));
    EXPECT_FALSE(send(IN, udp_from(host))) << "its /32 (/128): kHost, no rule";
    EXPECT_TRUE(send(IN, udp_from(other))) << "the block's others: kBlock still";
  }
}

// An answer holds under the generation that gave it: any change (here an
// unrelated address's identity) and the next flow asks the ipcache.
TEST_P(IpcacheMemoTest, ANewGenerationAsksAgain) {
  ASSERT_TRUE(send(IN, udp_from("198.18.1.1")));
  identity_behind_the_back("198.18.0.0/15", kOther);
  ASSERT_TRUE(send(IN, udp_from("198.18.1.2"))) << "the memo's answer";
  set_identity("10.9.9.9/32", 999);  // a new generation; the /15 not written
  EXPECT_FALSE(send(IN, udp_from("198.18.1.3"))) << "a new generation: kOther";
}

// A memo's per-CPU value, all CPUs': its size, and whether any byte is set.
size_t memo_bytes(Datapath& dp, const char* name) {
  bpf_map_info info{};
  uint32_t len = sizeof(info);
  EXPECT_EQ(bpf_obj_get_info_by_fd(dp.map(name).fd(), &info, &len), 0);
  return size_t{(info.value_size + 7u) / 8u * 8u} * static_cast<size_t>(libbpf_num_possible_cpus());
}

bool memo_set(Datapath& dp, const char* name) {
  const uint32_t key = 0;
  std::vector<uint8_t> v(memo_bytes(dp, name));
  EXPECT_TRUE(dp.map(name).lookup(&key, v.data()));
  return std::count(v.begin(), v.end(), uint8_t{0}) != static_cast<std::ptrdiff_t>(v.size());
}

void fill_memos(Datapath& dp) {
  const uint32_t key = 0;
  for (const char* name : Datapath::kMemoMaps) {
    std::vector<uint8_t> v(memo_bytes(dp, name), 0x5a);
    dp.map(name).update(&key, v.data());
  }
}

// The memos pinned beside a zs_config made anew (a version that knew no
// memo removed its pins but these) would answer under generations that
// start again: emptied at that load. Beside a pinned zs_config a load
// leaves them: emptying a per-CPU value is a plain copy, which could tear
// a slot a program still attached is writing.
TEST(MemoUpgrade, MemosAreEmptiedOnlyBesideAConfigMadeAnew) {
  ZS_REQUIRE_PRIVILEGED();
  const std::string dir = "/sys/fs/bpf/zs-memo-test-" + std::to_string(getpid());
  fill_memos(*Datapath::load({.pin_dir = dir, .pin = true}));
  {
    auto dp = Datapath::load({.pin_dir = dir, .pin = true});
    for (const char* name : Datapath::kMemoMaps) EXPECT_TRUE(memo_set(*dp, name)) << name << ": left beside the pinned zs_config";
  }
  ASSERT_EQ(unlink((dir + "/zs_config").c_str()), 0);
  {
    auto dp = Datapath::load({.pin_dir = dir, .pin = true});
    for (const char* name : Datapath::kMemoMaps) EXPECT_FALSE(memo_set(*dp, name)) << name << ": beside a zs_config made anew";
  }
  Datapath::unpin(dir);
  EXPECT_FALSE(std::filesystem::exists(dir));
}

// A rollback to a version that knew no endpoint memo leaves it pinned;
// that version makes its own zs_config, counting generations from the
// start; back on this version, that zs_config is pinned (no memo emptied
// for it), and the endpoint memo's slots would answer when the count
// reached theirs. The zs_config is made here as that version would.
// The endpoint memo is emptied (zs_endpoint_memo_config names another
// map); the other memos, which that version may write, are left.
TEST(MemoUpgrade, TheEndpointMemoIsEmptiedBesideAnotherVersionsConfig) {
  ZS_REQUIRE_PRIVILEGED();
  const std::string dir = "/sys/fs/bpf/zs-memo-test-" + std::to_string(getpid());
  fill_memos(*Datapath::load({.pin_dir = dir, .pin = true}));
  ASSERT_EQ(unlink((dir + "/zs_config").c_str()), 0);
  LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = BPF_F_MMAPABLE);
  const int config = bpf_map_create(BPF_MAP_TYPE_ARRAY, "zs_config", 4, sizeof(zs_config), 1, &opts);
  ASSERT_GE(config, 0);
  ASSERT_EQ(bpf_obj_pin(config, (dir + "/zs_config").c_str()), 0);
  close(config);
  {
    auto dp = Datapath::load({.pin_dir = dir, .pin = true});
    EXPECT_FALSE(memo_set(*dp, "zs_endpoint_memo")) << "beside another version's zs_config";
    EXPECT_TRUE(memo_set(*dp, "zs_verdict_memo")) << "left: that version's programs may write it";
    fill_memos(*dp);
  }
  {
    auto dp = Datapath::load({.pin_dir = dir, .pin = true});
    EXPECT_TRUE(memo_set(*dp, "zs_endpoint_memo")) << "left beside the zs_config it names now";
  }
  Datapath::unpin(dir);
  EXPECT_FALSE(std::filesystem::exists(dir));
}

INSTANTIATE_TEST_SUITE_P(Hooks, IpcacheMemoTest, testing::Values(Variant::xdp_host, Variant::tc_workload),
                         variant_name);

}  // namespace
}  // namespace zeroseg::test
