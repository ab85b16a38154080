// SPDX-License-Identifier: Apache-2.0
#include <gtest/gtest.h>

#include "common/time.h"
#include "net/addr.h"

namespace zeroseg {
namespace {

TEST(Prefix, ParsesAndMasks) {
  auto p = Prefix::parse("10.1.2.3/8");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->str(), "10.0.0.0/8");
  EXPECT_EQ(Prefix::parse("10.1.2.3")->str(), "10.1.2.3/32");
  EXPECT_EQ(Prefix::parse("fd00:1:2::5/48")->str(), "fd00:1:2::/48");
  EXPECT_EQ(Prefix::parse("::/0")->str(), "::/0");
}

TEST(Prefix, RejectsBadInput) {
  for (const char* bad : {"10.0.0.0/33", "10.0.0/8", "fd00::/129", "10.0.0.0/", "10.0.0.0/8x", "", "host"})
    EXPECT_FALSE(Prefix::parse(bad)) << bad;
}

TEST(Prefix, Contains) {
  auto net = *Prefix::parse("10.0.3.0/24");
  EXPECT_TRUE(net.contains(*IpAddr::parse("10.0.3.7")));
  EXPECT_FALSE(net.contains(*IpAddr::parse("10.0.4.7")));
  EXPECT_FALSE(net.contains(*IpAddr::parse("::ffff:10.0.3.7")));
  EXPECT_TRUE(net.contains(*Prefix::parse("10.0.3.128/25")));
  EXPECT_FALSE(net.contains(*Prefix::parse("10.0.0.0/16")));
}

TEST(Time, Rfc3339) {
  EXPECT_EQ(parse_rfc3339("1970-01-01T00:00:10Z"), 10'000'000'000);
  EXPECT_EQ(parse_rfc3339("1970-01-01T01:00:00+01:00"), 0);
  EXPECT_EQ(parse_rfc3339("1970-01-01T00:00:00.5Z"), 500'000'000);
  EXPECT_FALSE(parse_rfc3339("1970-01-01 00:00:00"));
  EXPECT_FALSE(parse_rfc3339("1970-13-01T00:00:00Z"));
  // out of int64 nanoseconds (found by the fuzzer: year 0479 overflowed)
  EXPECT_FALSE(parse_rfc3339("0479-01-01T00:00:00Z"));
  EXPECT_FALSE(parse_rfc3339("9999-01-01T00:00:00Z"));
  EXPECT_TRUE(parse_rfc3339("2261-12-31T23:59:59Z"));
  EXPECT_EQ(format_rfc3339(*parse_rfc3339("2026-11-28T10:00:00Z")), "2026-11-28T10:00:00Z");
}

TEST(Time, Durations) {
  EXPECT_EQ(parse_duration_ns("90s"), 90'000'000'000);
  EXPECT_EQ(parse_duration_ns("15m"), 900'000'000'000);
  EXPECT_EQ(parse_duration_ns("500ms"), 500'000'000);
  EXPECT_FALSE(parse_duration_ns("10"));
  EXPECT_FALSE(parse_duration_ns("-5s"));
  EXPECT_FALSE(parse_duration_ns("9223372036854775807d"));
  // as format_duration prints them
  EXPECT_EQ(parse_duration_ns("1h30m"), 5'400'000'000'000);
  EXPECT_EQ(parse_duration_ns("1d2h3m4s"), ((26 * 60 + 3) * 60 + 4) * 1'000'000'000LL);
  EXPECT_EQ(parse_duration_ns("1s500ms"), 1'500'000'000);
  for (int64_t ns : {int64_t{1}, int64_t{59}, int64_t{3600}, int64_t{5400}, int64_t{90061}, int64_t{86400 * 400}})
    EXPECT_EQ(parse_duration_ns(format_duration(ns * 1'000'000'000)), ns * 1'000'000'000) << format_duration(ns * 1'000'000'000);
  EXPECT_FALSE(parse_duration_ns(""));
  EXPECT_FALSE(parse_duration_ns("1h30"));
  EXPECT_FALSE(parse_duration_ns("1h-30m"));
  EXPECT_FALSE(parse_duration_ns("h"));
  EXPECT_FALSE(parse_duration_ns("1h 30m"));
  EXPECT_TRUE(parse_duration_ns("53375d"));
  EXPECT_FALSE(parse_duration_ns("53375d53375d"));  // each part fits, the sum does not
}

TEST(Time, TaiRoundTrip) {
  int64_t now = realtime_now_ns();
  EXPECT_NEAR(static_cast<double>(tai_to_realtime_ns(realtime_to_tai_ns(now))), static_cast<double>(now), 1e6);
}

}  // namespace
}  // namespace zeroseg
