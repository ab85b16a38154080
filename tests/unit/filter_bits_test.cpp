// SPDX-License-Identifier: Apache-2.0
// The probe filters' bits (bpf/lib/deny_fastpath.h): where a key's bit is,
// which a flood's cache footprint depends on (zs_ipcache_blocks, by block:
// include/zeroseg/ipcache.h) and which a later version must keep (a
// pinned filter outlives the version that set its bits).
#include <gtest/gtest.h>
#include <zeroseg/identity.h>
#include <zeroseg/ipcache.h>
#include <zeroseg/policy_forms.h>

#include <cstdint>
#include <cstdio>
#include <random>
#include <set>
#include <string>

#include "loader/transaction.h"
#include "net/addr.h"

namespace zeroseg {
namespace {

// Where ipcache_blocks keeps a key's bit (ipcache.h): a flood from one /16
// (IPv4) or /48 (IPv6) reads one word per prefix length, whatever its
// addresses; each /22 (/54) of the block has a bit of its own; keys of
// other lengths, or of /16 (/48) and shorter, spread over the words.
TEST(IpcacheBlocks, AFloodFromOneBlockReadsOneWordPerLength) {
  std::mt19937 rng(7);
  auto key = [](const std::string& prefix) { return Transaction::ipcache_key(*Prefix::parse(prefix)); };
  auto word = [&](const std::string& prefix) { auto k = key(prefix); return zs_ipcache_filter_bit(&k) >> 6; };
  auto bit = [&](const std::string& prefix) { auto k = key(prefix); return zs_ipcache_filter_bit(&k) & 63; };
  const uint32_t w32 = word("198.18.0.1/32"), w6 = word("2001:db8:7::1/128");
  std::set<uint32_t> bits32, bits128, words16, words6;
  for (int i = 0; i < 4096; i++) {
    const uint32_t r = rng();
    const std::string v4 = "198.18." + std::to_string(r >> 8 & 255) + "." + std::to_string(r & 255);
    char v6[64];
    std::snprintf(v6, sizeof v6, "2001:db8:7:%x:%x:%x::%x", r >> 16, r & 0xffff, r >> 3 & 0xffff, r >> 7 & 0xffff);
    EXPECT_EQ(word(v4 + "/32"), w32) << v4;
    EXPECT_EQ(word(std::string(v6) + "/128"), w6) << v6;
    bits32.insert(bit(v4 + "/32"));
    bits128.insert(bit(std::string(v6) + "/128"));
    words16.insert(word("10." + std::to_string(r >> 8 & 255) + ".0.0/16"));
    std::snprintf(v6, sizeof v6, "2001:%x:%x::/48", r >> 16, r & 0xffff);
    words6.insert(word(v6));
  }
  EXPECT_EQ(bits32.size(), 64u) << "a bit per /22 of the /16";
  EXPECT_EQ(bits128.size(), 64u) << "a bit per /54 of the /48";
  EXPECT_NE(word("198.18.0.1/24"), w32) << "another length, another word";
  EXPECT_NE(word("198.19.0.1/32"), w32) << "another /16, another word";
  EXPECT_GT(words16.size(), 200u) << "keys of /16 (up to 256 here) spread over the words";
  EXPECT_GT(words6.size(), 200u) << "and of /48";
}

// A filter pinned by one version is read by the next: a key's bit must not
// move. Figures of the versions that made the filters, computed with their
// headers: zs_ipcache_blocks, 4d0772f (a block's key: /32, /128; a whole
// key: /16, /32); zs_policy_filter, f040ff0.
TEST(IpcacheBlocks, AKeysBitIsWhereEarlierVersionsSetIt) {
  auto bit = [](const char* prefix) {
    zs_ipcache_key k = Transaction::ipcache_key(*Prefix::parse(prefix));
    return zs_ipcache_filter_bit(&k);
  };
  EXPECT_EQ(bit("198.18.7.1/32"), 389377u);
  EXPECT_EQ(bit("2001:db8:7:1234::1/128"), 51524u);
  EXPECT_EQ(bit("10.9.0.0/16"), 468417u);
  EXPECT_EQ(bit("fd00:9::/32"), 462160u);
}

TEST(PolicyFilter, AFormsBitIsWhereEarlierVersionsSetIt) {
  zs_policy_key a{}, b{};
  a.subject = 300, a.peer = 301, a.direction = ZS_DIR_INGRESS, a.proto = 17, a.port_plen = 16, a.port = 9;
  b.subject = 70000, b.peer = ZS_ID_ANY, b.direction = ZS_DIR_EGRESS, b.proto = 6, b.port_plen = 8, b.port = 0x1f00;
  EXPECT_EQ(zs_policy_form_bit(&a), 1034308u);
  EXPECT_EQ(zs_policy_form_bit(&b), 811908u);
}

}  // namespace
}  // namespace zeroseg
