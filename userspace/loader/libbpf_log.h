// SPDX-License-Identifier: Apache-2.0
// libbpf's own messages (verifier logs included), routed into zeroseg's log.
#pragma once

namespace zeroseg::log {

// Warnings stay warnings, debug output only shows at Level::debug.
void route_libbpf();

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
