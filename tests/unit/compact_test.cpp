// SPDX-License-Identifier: Apache-2.0
// The compact containers the desired state is kept in: SmallVector (a
// rule's peers and ports) and PackedText (an object's YAML).
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "common/packed_text.h"
#include "common/small_vector.h"

namespace zeroseg {
namespace {

TEST(SmallVector, HoldsOneInlineAndMoreOnTheHeapInOrder) {
  SmallVector<std::string> v;
  EXPECT_TRUE(v.empty());
  EXPECT_EQ(v.begin(), v.end());
  for (int i = 0; i < 5; i++) {
    v.push_back(std::string(40, static_cast<char>('a' + i)));  // longer than the small-string buffer
    ASSERT_EQ(v.size(), static_cast<size_t>(i + 1));
    for (int j = 0; j <= i; j++) EXPECT_EQ(v[j], std::string(40, static_cast<char>('a' + j)));
  }
  EXPECT_EQ(v.back(), std::string(40, 'e'));
  v.clear();
  EXPECT_TRUE(v.empty());
}

TEST(SmallVector, CopiesAndMovesInEveryState) {
  auto counted = std::make_shared<int>(7);
  for (int n : {0, 1, 3}) {
    SmallVector<std::shared_ptr<int>> v;
    for (int i = 0; i < n; i++) v.push_back(counted);
    SmallVector<std::shared_ptr<int>> copy(v);
    EXPECT_EQ(copy.size(), static_cast<size_t>(n));
    EXPECT_EQ(counted.use_count(), 1 + 2 * n);
    SmallVector<std::shared_ptr<int>> moved(std::move(v));
    EXPECT_TRUE(v.empty());  // NOLINT(bugprone-use-after-move): moved-from is empty
    EXPECT_EQ(moved.size(), static_cast<size_t>(n));
    SmallVector<std::shared_ptr<int>> assigned{counted, counted};
    assigned = copy;
    EXPECT_EQ(assigned.size(), static_cast<size_t>(n));
    assigned = std::move(moved);
    EXPECT_EQ(counted.use_count(), 1 + 2 * n);  // copy's and assigned's; none leaked
    for (const auto& p : assigned) EXPECT_EQ(*p, 7);
  }
  EXPECT_EQ(counted.use_count(), 1);
}

TEST(PackedText, GivesBackWhatItWasGiven) {
  std::string yaml = "apiVersion: zeroseg.io/v1\nkind: SegmentPolicy\nspec:\n  ingress:\n";
  for (int r = 0; r < 100; r++) yaml += "  - from: [{selector: {matchLabels: {app: a" + std::to_string(r) + "}}}]\n";
  PackedText packed(yaml);
  EXPECT_TRUE(packed.packed());
  EXPECT_EQ(packed.size(), yaml.size());
  EXPECT_EQ(packed.str(), yaml);

  PackedText short_text("kind: Workload\n");  // too short to shrink: kept as is
  EXPECT_FALSE(short_text.packed());
  EXPECT_EQ(short_text.str(), "kind: Workload\n");
  EXPECT_TRUE(PackedText().empty());
  EXPECT_EQ(PackedText().str(), "");

  std::string noise;  // does not shrink: kept as is
  for (uint32_t x = 1; noise.size() < 4096;) noise += static_cast<char>((x = x * 1103515245 + 12345) >> 24);
  PackedText unpackable(noise);
  EXPECT_FALSE(unpackable.packed());
  EXPECT_EQ(unpackable.str(), noise);
}

TEST(PackedText, EqualTextsCompareEqualPacked) {
  std::string a(2000, 'x'), b = a;
  b[1500] = 'y';
  EXPECT_EQ(PackedText(a), PackedText(a));
  EXPECT_NE(PackedText(a), PackedText(b));
  EXPECT_NE(PackedText(a), PackedText(a + "\n"));
}

}  // namespace
}  // namespace zeroseg
