// SPDX-License-Identifier: Apache-2.0
#include "common/log.h"

#include <bpf/libbpf.h>

#include <atomic>
#include <cstdarg>
#include <cstdio>
#include <mutex>
#include <string>

namespace zeroseg::log {
namespace {

std::atomic<Level> g_level{Level::info};
std::mutex g_mutex;
thread_local bool t_libbpf_quiet = false;

const char* name(Level level) {
  switch (level) {
    case Level::debug: return "debug";
    case Level::info: return "info";
    case Level::warn: return "warning";
    case Level::error: return "error";
  }
  return "?";
}

int libbpf_print(enum libbpf_print_level lvl, const char* fmt, va_list args) {
  Level level = lvl == LIBBPF_WARN ? Level::warn
                : lvl == LIBBPF_INFO ? Level::info
                                     : Level::debug;
  if (level < g_level.load() || t_libbpf_quiet) return 0;
  char buf[4096];
  int n = std::vsnprintf(buf, sizeof(buf), fmt, args);
  std::string message(buf, n > 0 ? std::min<size_t>(n, sizeof(buf) - 1) : 0);
  while (!message.empty() && message.back() == '\n') message.pop_back();
  write(level, message);
  return n;
}

}  // namespace

void set_level(Level level) { g_level = level; }
Level level() { return g_level; }

void write(Level level, std::string_view message) {
  if (level < g_level.load()) return;
  std::lock_guard lock(g_mutex);
  std::fprintf(stderr, "zeroseg: %s: %.*s\n", name(level), static_cast<int>(message.size()),
               message.data());
}

void route_libbpf() { libbpf_set_print(libbpf_print); }

QuietLibbpf::QuietLibbpf() : was_(t_libbpf_quiet) { t_libbpf_quiet = true; }
QuietLibbpf::~QuietLibbpf() { t_libbpf_quiet = was_; }

}  // namespace zeroseg::log
