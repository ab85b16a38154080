// SPDX-License-Identifier: Apache-2.0
// SharedMap against std::map: random changes to copies of copies, every
// copy kept and checked after its successors changed (snapshot isolation),
// and a reader thread on a snapshot while the writer changes its copies.
#include "common/shared_map.h"

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace zeroseg {
namespace {

using Map = SharedMap<uint32_t, std::string>;

void expect_same(const Map& got, const std::map<uint32_t, std::string>& want, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  auto w = want.begin();
  for (const auto& [k, v] : got) {
    ASSERT_EQ(k, w->first) << what;
    ASSERT_EQ(v, w->second) << what;
    ++w;
  }
  for (const auto& [k, v] : want) {
    auto it = got.find(k);
    ASSERT_TRUE(it != got.end()) << what << ": " << k;
    ASSERT_EQ(it->second, v) << what;
  }
}

TEST(SharedMapTest, CopiesAreSnapshotsWhateverTheirSuccessorsDo) {
  std::mt19937 rng(17);
  Map cur;
  std::map<uint32_t, std::string> model;
  std::vector<std::pair<Map, std::map<uint32_t, std::string>>> snapshots;
  for (int step = 0; step < 4000; step++) {
    // keys from a range that makes chunks split (dense runs) and empty
    // (runs erased), inserted at the front, middle and back
    uint32_t k = rng() % 3000;
    switch (rng() % 4) {
      case 0:
      case 1:
        cur[k] = "v" + std::to_string(step);
        model[k] = "v" + std::to_string(step);
        break;
      case 2:
        EXPECT_EQ(cur.erase(k), model.erase(k));
        break;
      case 3:
        EXPECT_EQ(cur.emplace(k, "e" + std::to_string(step)), model.emplace(k, "e" + std::to_string(step)).second);
        break;
    }
    if (step % 97 == 0) snapshots.emplace_back(cur, model);
    if (step % 500 == 0) expect_same(cur, model, "after step " + std::to_string(step));
  }
  expect_same(cur, model, "at the end");
  for (size_t i = 0; i < snapshots.size(); i++) expect_same(snapshots[i].first, snapshots[i].second, "snapshot " + std::to_string(i));
  // erase everything: no empty chunk is left behind to confuse a lookup
  for (const auto& [k, v] : model) cur.erase(k);
  EXPECT_TRUE(cur.empty());
  EXPECT_TRUE(cur.begin() == cur.end());
  EXPECT_TRUE(cur.find(5) == cur.end());
  cur[5] = "again";
  EXPECT_EQ(cur.at(5), "again");
}

TEST(SharedMapTest, LowerBoundAndEqualityAsAMap) {
  Map m;
  std::map<uint32_t, std::string> model;
  for (uint32_t k = 0; k < 1000; k += 3) m[k] = model[k] = std::to_string(k);
  for (uint32_t q = 0; q < 1005; q++) {
    auto a = m.lower_bound(q);
    auto b = model.lower_bound(q);
    if (b == model.end()) {
      EXPECT_TRUE(a == m.end()) << q;
    } else {
      ASSERT_TRUE(a != m.end()) << q;
      EXPECT_EQ(a->first, b->first) << q;
    }
  }
  Map copy = m;
  EXPECT_TRUE(copy == m);
  copy[1] = "x";
  EXPECT_FALSE(copy == m);
  EXPECT_EQ(m.count(1), 0u);
  copy.erase(1);
  EXPECT_TRUE(copy == m);  // equal by content, though chunks differ
  EXPECT_THROW(m.at(1), std::out_of_range);
}

// What the agent relies on: a published state's map is read by telemetry
// threads while the next states are made from copies of it.
TEST(SharedMapTest, ASnapshotReadOnAnotherThreadNeverChanges) {
  Map cur;
  for (uint32_t k = 0; k < 5000; k++) cur[k] = std::to_string(k);
  const Map published = cur;
  std::atomic<bool> stop{false};
  std::atomic<int> bad{0}, reads{0};
  std::thread reader([&] {
    while (!stop) {
      size_t n = 0;
      for (const auto& [k, v] : published) {
        if (v != std::to_string(k)) bad++;
        n++;
      }
      if (n != 5000) bad++;
      reads++;
    }
  });
  for (int round = 0; round < 200 || reads < 3; round++) {
    Map next = cur;
    for (uint32_t k = static_cast<uint32_t>(round) % 50; k < 5000; k += 50) next[k] = "changed";
    for (uint32_t k = static_cast<uint32_t>(round) % 7; k < 5000; k += 97) next.erase(k);
    for (uint32_t k = 5000; k < 5100; k++) next[k + static_cast<uint32_t>(round)] = "new";
    cur = std::move(next);
  }
  stop = true;
  reader.join();
  EXPECT_EQ(bad, 0);
  EXPECT_GE(reads, 3);
}

}  // namespace
}  // namespace zeroseg
