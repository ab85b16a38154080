// SPDX-License-Identifier: Apache-2.0
#include "loader/libbpf_log.h"

#include <bpf/libbpf.h>

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <string>

#include "common/log.h"

namespace zeroseg::log {
namespace {

thread_local bool t_libbpf_quiet = false;

int libbpf_print(enum libbpf_print_level lvl, const char* fmt, va_list args) {
  Level level = lvl == LIBBPF_WARN ? Level::warn
                : lvl == LIBBPF_INFO ? Level::info
                                     : Level::debug;
  if (level < log::level() || t_libbpf_quiet) return 0;
  char buf[4096];
  int n = std::vsnprintf(buf, sizeof(buf), fmt, args);
  std::string message(buf, n > 0 ? std::min<size_t>(n, sizeof(buf) - 1) : 0);
  while (!message.empty() && message.back() == '\n') message.pop_back();
  write(level, message);
  return n;
}

}  // namespace

void route_libbpf() { libbpf_set_print(libbpf_print); }

QuietLibbpf::QuietLibbpf() : was_(t_libbpf_quiet) { t_libbpf_quiet = true; }
QuietLibbpf::~QuietLibbpf() { t_libbpf_quiet = was_; }

}  // namespace zeroseg::log
