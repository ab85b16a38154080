// SPDX-License-Identifier: Apache-2.0
// ChunkedMap against std::map: the same contents and order after random
// changes, and copies that do not see each other's changes.
#include "common/chunked_map.h"

#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <random>
#include <vector>

namespace zeroseg {
namespace {

struct ByTens {
  uint64_t operator()(int k) const { return static_cast<uint64_t>(k / 10); }
};
using Chunked = ChunkedMap<int, int, std::less<int>, ByTens>;

void expect_same(const Chunked& c, const std::map<int, int>& m) {
  ASSERT_EQ(c.size(), m.size());
  std::vector<std::pair<int, int>> a(c.begin(), c.end()), b(m.begin(), m.end());
  EXPECT_EQ(a, b);
  for (const auto& [k, v] : m) {
    ASSERT_NE(c.find(k), c.end());
    EXPECT_EQ(c.at(k), v);
  }
}

TEST(ChunkedMapTest, BehavesLikeAMapAndCopiesAreIndependent) {
  std::mt19937 rng(7);
  Chunked c;
  std::map<int, int> m;
  std::vector<std::pair<Chunked, std::map<int, int>>> snapshots;
  for (int i = 0; i < 5000; i++) {
    int k = static_cast<int>(rng() % 300);
    if (rng() % 3 == 0) {
      EXPECT_EQ(c.erase(k), m.erase(k) == 1);
    } else {
      c[k] = i;
      m[k] = i;
    }
    if (i % 500 == 0) snapshots.emplace_back(c, m);  // copies share chunks
  }
  expect_same(c, m);
  for (const auto& [snap, want] : snapshots) expect_same(snap, want);  // untouched by later changes
  EXPECT_EQ(c.find(1000), c.end());
  EXPECT_EQ(c.count(1000), 0u);
  EXPECT_THROW(c.at(1000), std::out_of_range);
  c.clear();
  EXPECT_TRUE(c.empty());
  EXPECT_EQ(c.begin(), c.end());
}

}  // namespace
}  // namespace zeroseg
