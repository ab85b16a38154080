// SPDX-License-Identifier: Apache-2.0
// Every example under policies/ loads, validates and compiles.
#include <gtest/gtest.h>

#include <filesystem>

#include "identity/allocator.h"
#include "common/error.h"
#include "policy/compiler.h"
#include "policy/yaml_reader.h"

namespace zeroseg {
namespace {

TEST(ExamplePolicies, EveryFileLoadsAndCompiles) {
  const std::string dir = ZEROSEG_SOURCE_DIR "/policies";
  size_t files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.path().extension() != ".yaml") continue;
    files++;
    SCOPED_TRACE(e.path().string());
    ObjectSet s;
    ASSERT_NO_THROW(s = load_path(e.path().string()));
    EXPECT_FALSE(s.policies.empty() && s.workloads.empty() && s.namespaces.empty());
    LocalIdentityAllocator ids;
    RuleIdAllocator rules;
    EXPECT_NO_THROW(PolicyCompiler(ids, rules).compile(s));
  }
  EXPECT_GE(files, 5u);
  // and all of them at once, as `zeroseg apply -f policies/` sends them
  ObjectSet all = load_path(dir);
  LocalIdentityAllocator ids;
  RuleIdAllocator rules;
  EXPECT_NO_THROW(PolicyCompiler(ids, rules).compile(all));
}

}  // namespace
}  // namespace zeroseg
