// SPDX-License-Identifier: Apache-2.0
#include "loader/lookup_plan.h"

#include <gtest/gtest.h>

#include "common/error.h"

namespace zeroseg {
namespace {

TEST(LookupPlan, LongestFirstAndOnlyWhatIsUsed) {
  PrefixLengthUse use;
  use.add_ip(4, 24, 1);
  use.add_ip(4, 32, 3);
  use.add_ip(4, 8, 1);
  use.add_ip(4, 8, -1);  // gone again
  use.add_ip(6, 128, 1);
  use.add_port(16, 5);
  use.add_port(0, 1);
  zs_lookup_plan p = use.plan();
  ASSERT_EQ(p.n_v4_plens, 2);
  EXPECT_EQ(p.v4_plens[0], 32);
  EXPECT_EQ(p.v4_plens[1], 24);
  ASSERT_EQ(p.n_v6_plens, 1);
  EXPECT_EQ(p.v6_plens[0], 128);
  ASSERT_EQ(p.n_port_plens, 2);
  EXPECT_EQ(p.port_plens[0], 16);
  EXPECT_EQ(p.port_plens[1], 0);
}

TEST(LookupPlan, TooManyDistinctLengthsIsAnError) {
  PrefixLengthUse use;
  for (int len = 0; len <= ZS_MAX_PREFIX_LENS; len++) use.add_ip(4, static_cast<uint8_t>(len), 1);
  try {
    use.plan();
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "too many distinct IPv4 prefix lengths in use (the datapath probes at most 16)");
  }
}

TEST(LookupPlan, EveryPortLengthFits) {
  PrefixLengthUse use;
  for (int len = 0; len <= 16; len++) use.add_port(static_cast<uint8_t>(len), 1);
  EXPECT_EQ(use.plan().n_port_plens, 17);
}

// The source check skips its probe of zs_sources while no entry of the
// packet's family is there (bpf/lib/deny_fastpath.h): each flag must
// follow its own family's count, to zero and back.
TEST(LookupPlan, SourceFlagsFollowEachFamilysEntries) {
  PrefixLengthUse use;
  EXPECT_EQ(use.plan().flags & (ZS_PLAN_SOURCES_V4 | ZS_PLAN_SOURCES_V6), 0);
  use.add_source(4, 1);
  use.add_source(4, 1);
  EXPECT_EQ(use.plan().flags & (ZS_PLAN_SOURCES_V4 | ZS_PLAN_SOURCES_V6), ZS_PLAN_SOURCES_V4);
  use.add_source(6, 1);
  use.add_source(4, -1);
  EXPECT_EQ(use.plan().flags & (ZS_PLAN_SOURCES_V4 | ZS_PLAN_SOURCES_V6), ZS_PLAN_SOURCES_V4 | ZS_PLAN_SOURCES_V6);
  use.add_source(4, -1);
  EXPECT_EQ(use.plan().flags & (ZS_PLAN_SOURCES_V4 | ZS_PLAN_SOURCES_V6), ZS_PLAN_SOURCES_V6);
  use.add_source(6, -1);
  EXPECT_EQ(use.plan().flags & (ZS_PLAN_SOURCES_V4 | ZS_PLAN_SOURCES_V6), 0);
  use.add_policy_key(0, 0, 0, 1);  // the other flags are their own
  EXPECT_EQ(use.plan().flags, ZS_PLAN_ANY_PEER | ZS_PLAN_ANY_PROTO);
}

}  // namespace
}  // namespace zeroseg
