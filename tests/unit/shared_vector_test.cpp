// SPDX-License-Identifier: Apache-2.0
// SharedVector: the desired state's objects, in chunks shared by copies.
#include <gtest/gtest.h>

#include "policy/objects.h"

namespace zeroseg {
namespace {

SharedVector<std::string> numbers(int n) {
  SharedVector<std::string> v;
  for (int i = 0; i < n; i++) v.push_back(std::to_string(i));
  return v;
}

TEST(SharedVector, ReadsInOrderAcrossChunks) {
  for (int n : {0, 1, 255, 256, 257, 600}) {
    SharedVector<std::string> v = numbers(n);
    ASSERT_EQ(v.size(), static_cast<size_t>(n));
    EXPECT_EQ(v.empty(), n == 0);
    int i = 0;
    for (const auto& s : v) EXPECT_EQ(s, std::to_string(i++));
    EXPECT_EQ(i, n);
    EXPECT_EQ(v.end() - v.begin(), n);
    if (n) {
      EXPECT_EQ(v.back(), std::to_string(n - 1));
    }
  }
}

TEST(SharedVector, ACopyChangesAloneAndSharesTheRest) {
  SharedVector<std::string> before = numbers(600);
  SharedVector<std::string> after = before;
  EXPECT_TRUE(after.same_objects(before));
  after.set(300, std::make_shared<const std::string>("x"));
  after.push_back(std::string("600"));
  EXPECT_EQ(before.size(), 600u);
  EXPECT_EQ(before[300], "300");  // the copy cloned the chunk it changed
  EXPECT_EQ(after[300], "x");
  EXPECT_EQ(after[600], "600");
  EXPECT_FALSE(after.same_objects(before));
  for (size_t i : {0u, 255u, 256u, 299u, 301u, 599u}) EXPECT_EQ(after.ptr(i), before.ptr(i)) << i;  // same objects

  // equal text is not the same object
  SharedVector<std::string> again = numbers(600);
  EXPECT_FALSE(again.same_objects(before));
  SharedVector<std::string> rebuilt;
  for (size_t i = 0; i < before.size(); i++) rebuilt.push_back(before.ptr(i));
  EXPECT_TRUE(rebuilt.same_objects(before));  // other chunks, the same objects
  rebuilt.clear();
  EXPECT_TRUE(rebuilt.empty());
}

}  // namespace
}  // namespace zeroseg
