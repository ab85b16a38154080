// SPDX-License-Identifier: Apache-2.0
// The filters by block (include/zeroseg/ipcache.h, source.h): where a key's
// bit is, which a flood's cache footprint depends on and a version after
// this one must keep (a pinned filter outlives the version that set its
// bits); and zs_sources_blocks' upkeep across loads.
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <random>
#include <set>
#include <string>

#include "datapath_fixture.h"

namespace zeroseg::test {
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
// move (ipcache_blocks' since it was made; sources_blocks' since its
// first version). Figures from the versions that set them.
TEST(FilterBlocks, AKeysBitIsWhereEarlierVersionsSetIt) {
  auto ip_bit = [](const char* prefix) {
    zs_ipcache_key k = Transaction::ipcache_key(*Prefix::parse(prefix));
    return zs_ipcache_filter_bit(&k);
  };
  auto source_bit = [](const char* addr) {
    zs_source_key k = Transaction::source_key(1, *IpAddr::parse(addr));
    return zs_source_block_bit(k.family, k.addr);
  };
  EXPECT_EQ(ip_bit("198.18.7.1/32"), 389377u);
  EXPECT_EQ(ip_bit("2001:db8:7:1234::1/128"), 51524u);
  EXPECT_EQ(ip_bit("10.9.0.0/16"), 468417u);
  EXPECT_EQ(ip_bit("fd00:9::/32"), 462160u);
  EXPECT_EQ(source_bit("198.18.7.1"), 8193u);
  EXPECT_EQ(source_bit("2001:db8:7:1234::1"), 49412u);
}

// Where sources_blocks keeps an address's bit (source.h): a flood from one
// /16 (/48) reads one word, a bit per /22 (/54) of it; other blocks spread
// over the words.
TEST(SourceBlocks, AFloodFromOneBlockReadsOneWord) {
  std::mt19937 rng(11);
  auto bit_of = [](const std::string& addr) {
    zs_source_key k = Transaction::source_key(kIfindex, *IpAddr::parse(addr));
    return zs_source_block_bit(k.family, k.addr);
  };
  const uint32_t w4 = bit_of("198.18.0.1") >> 6, w6 = bit_of("2001:db8:7::1") >> 6;
  std::set<uint32_t> bits4, bits6, words4, words6;
  for (int i = 0; i < 4096; i++) {
    const uint32_t r = rng();
    const std::string v4 = "198.18." + std::to_string(r >> 8 & 255) + "." + std::to_string(r & 255);
    char v6[64];
    std::snprintf(v6, sizeof v6, "2001:db8:7:%x:%x:%x::%x", r >> 16, r & 0xffff, r >> 3 & 0xffff, r >> 7 & 0xffff);
    EXPECT_EQ(bit_of(v4) >> 6, w4) << v4;
    EXPECT_EQ(bit_of(v6) >> 6, w6) << v6;
    bits4.insert(bit_of(v4) & 63);
    bits6.insert(bit_of(v6) & 63);
    words4.insert(bit_of(std::to_string(r >> 24) + "." + std::to_string(r >> 16 & 255) + ".1.1") >> 6);
    std::snprintf(v6, sizeof v6, "2001:%x:%x::1", r >> 16, r & 0xffff);
    words6.insert(bit_of(v6) >> 6);
  }
  EXPECT_EQ(bits4.size(), 64u) << "a bit per /22 of the /16";
  EXPECT_EQ(bits6.size(), 64u) << "a bit per /54 of the /48";
  EXPECT_NE(bit_of("198.19.0.1") >> 6, w4) << "another /16, another word";
  EXPECT_GT(words4.size(), 900u) << "/16s (4096 drawn) spread over the 1024 words";
  EXPECT_GT(words6.size(), 900u) << "and /48s";
}

// zs_sources pinned by a version without zs_sources_blocks: its keys set
// no bit, so the load sets every bit; the first transaction of the
// writers' lock holder fits the filter to the keys there, as it does at
// every start (a removed key's bit goes).
TEST(DenyFastpathUpgrade, SourcesBlocksAreAllSetOverSourcesPinnedWithoutThemThenFitted) {
  ZS_REQUIRE_PRIVILEGED();
  const std::string dir = "/sys/fs/bpf/zs-fastpath-test-" + std::to_string(getpid());
  const zs_source_key local = Transaction::source_key(7, *IpAddr::parse("10.68.0.1")),
                      own = Transaction::source_key(8, *IpAddr::parse("fd00:68::1"));
  auto bits = [](Datapath& dp) {
    int set = 0;
    for (uint32_t i = 0; i < ZS_SOURCE_BLOCKS_WORDS; i++) {
      uint64_t w = 0;
      EXPECT_TRUE(dp.map("zs_sources_blocks").lookup(&i, &w));
      set += __builtin_popcountll(w);
    }
    return set;
  };
  auto has = [](Datapath& dp, const zs_source_key& k) {
    uint32_t bit = zs_source_block_bit(k.family, k.addr), idx = bit >> 6;
    uint64_t w = 0;
    EXPECT_TRUE(dp.map("zs_sources_blocks").lookup(&idx, &w));
    return (w >> (bit & 63) & 1) != 0;
  };
  {
    auto dp = Datapath::load({.pin_dir = dir, .pin = true});
    dp->lock_writers("test");
    Transaction tx(*dp);
    tx.set_source(local, ZS_SOURCE_LOCAL);
    tx.set_source(own, ZS_SOURCE_OWN);
    tx.commit();
    EXPECT_EQ(bits(*dp), 2);
  }
  ASSERT_EQ(unlink((dir + "/zs_sources_blocks").c_str()), 0);
  {
    auto dp = Datapath::load({.pin_dir = dir, .pin = true});
    EXPECT_EQ(bits(*dp), int{ZS_SOURCE_BLOCKS_WORDS} * 64) << "every bit, at load";
    dp->lock_writers("test");
    Transaction tx(*dp);
    EXPECT_EQ(bits(*dp), 2) << "the two keys' bits, and no other";
    EXPECT_TRUE(has(*dp, local));
    EXPECT_TRUE(has(*dp, own));
    tx.remove_source(own);
    tx.commit();
    EXPECT_TRUE(has(*dp, own)) << "a bit is not cleared by a removal";
  }
  {
    auto dp = Datapath::load({.pin_dir = dir, .pin = true});
    Transaction tx(*dp);  // no lock: another process may write
    EXPECT_TRUE(has(*dp, own));
  }
  {
    auto dp = Datapath::load({.pin_dir = dir, .pin = true});
    dp->lock_writers("test");
    Transaction tx(*dp);
    EXPECT_EQ(bits(*dp), 1) << "fitted at the next start";
    EXPECT_TRUE(has(*dp, local));
    // a rollback: a version that knows no filter writes a key, and stamps
    // the pins with its own program as this version does (the stamp
    // cannot tell: pin_stamp.h), so the next load takes the filter as
    // this version's
    const zs_source_value both{{ZS_SOURCE_LOCAL, ZS_SOURCE_LOCAL}};
    dp->sources().put(own, both);
    EXPECT_FALSE(has(*dp, own));
  }
  {
    auto dp = Datapath::load({.pin_dir = dir, .pin = true});
    dp->lock_writers("test");
    Transaction tx(*dp);
    EXPECT_TRUE(has(*dp, own)) << "the key the rollback wrote, fitted in";
    EXPECT_EQ(bits(*dp), 2);
  }
  Datapath::unpin(dir);
  EXPECT_FALSE(std::filesystem::exists(dir));
}

}  // namespace
}  // namespace zeroseg::test
