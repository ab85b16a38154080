// SPDX-License-Identifier: Apache-2.0
// libbpf's messages in zeroseg's log: a verifier log longer than a page
// reaches the operator with its end, where the verifier says why it refused
// (Debian 12's 6.1 kernel refuses the datapath; that log was cut at 4 KiB,
// before its reason).
#include <bpf/libbpf.h>
#include <gtest/gtest.h>

#include <cstdarg>
#include <string>

#include "loader/libbpf_log.h"

namespace zeroseg::log {
namespace {

std::string numbered(int n) {
  std::string s;
  for (int i = 1; i <= n; i++) s += "line " + std::to_string(i) + (i < n ? "\n" : "");
  return s;
}

TEST(ClipLines, ShortMessagesPassWhole) {
  EXPECT_EQ(clip_lines("", 2, 3), "");
  EXPECT_EQ(clip_lines(numbered(5), 2, 3), numbered(5));
}

TEST(ClipLines, KeepsTheHeadAndTheTailAndCountsWhatIsCut) {
  EXPECT_EQ(clip_lines(numbered(10), 2, 3), "line 1\nline 2\n[... 5 lines cut; the end follows ...]\nline 8\nline 9\nline 10");
  EXPECT_EQ(clip_lines(numbered(10), 0, 1), "[... 9 lines cut; the end follows ...]\nline 10");
  EXPECT_EQ(clip_lines(numbered(10), 1, 0), "line 1\n[... 9 lines cut; the end follows ...]\n");
}

// through libbpf's own print hook, as a failed load prints its log
int print(libbpf_print_fn_t fn, const char* fmt, ...) {
  va_list args;
  va_start(args, fmt);
  int n = fn(LIBBPF_WARN, fmt, args);
  va_end(args);
  return n;
}

TEST(RouteLibbpf, AVerifierLogOfManyPagesEndsWithItsReason) {
  route_libbpf();
  libbpf_print_fn_t fn = libbpf_set_print(nullptr);
  libbpf_set_print(fn);
  ASSERT_NE(fn, nullptr);
  std::string log;
  for (int i = 0; i < 5000; i++) log += std::to_string(i) + ": (bf) r1 = r6 ; R1_w=ctx() R6=ctx()\n";
  log += "R2 invalid mem access 'scalar'\nprocessed 5000 insns (limit 1000000)\n";
  testing::internal::CaptureStderr();
  print(fn, "libbpf: prog 'zs_xdp': -- BEGIN PROG LOAD LOG --\n%s-- END PROG LOAD LOG --\n", log.c_str());
  std::string out = testing::internal::GetCapturedStderr();
  EXPECT_NE(out.find("BEGIN PROG LOAD LOG"), std::string::npos) << out.substr(0, 300);
  EXPECT_NE(out.find("R2 invalid mem access 'scalar'"), std::string::npos) << "the reason was cut";
  EXPECT_NE(out.find("-- END PROG LOAD LOG --"), std::string::npos);
  EXPECT_NE(out.find("lines cut"), std::string::npos);
  EXPECT_LT(out.size(), 16000u) << "the whole log was printed";
}

}  // namespace
}  // namespace zeroseg::log
