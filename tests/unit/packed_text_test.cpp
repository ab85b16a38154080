// SPDX-License-Identifier: Apache-2.0
// PackedText: how the agent keeps each object's YAML.
#include <gtest/gtest.h>

#include <string>

#include "common/packed_text.h"

namespace zeroseg {
namespace {

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
