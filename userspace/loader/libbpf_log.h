// SPDX-License-Identifier: Apache-2.0
// libbpf's own messages (verifier logs included), routed into zeroseg's log.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace zeroseg::log {

// Warnings stay warnings, debug output only shows at Level::debug.
void route_libbpf();

// A message longer than head + tail lines keeps its first `head` and last
// `tail` lines and says how many were cut between. A verifier log runs to
// hundreds of thousands of lines and gives its reason for refusing a
// program in its last ones: that end must reach the operator.
std::string clip_lines(std::string_view message, size_t head, size_t tail);

// Silences libbpf on this thread while alive: for calls whose failure is
// expected and handled (e.g. removing a tc filter that is not there).
class QuietLibbpf {
 public:
  QuietLibbpf();
  ~QuietLibbpf();
  QuietLibbpf(const QuietLibbpf&) = delete;
  QuietLibbpf& operator=(const QuietLibbpf&) = delete;

 private:
  bool was_;
};

}  // namespace zeroseg::log
