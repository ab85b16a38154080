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

// What of a verifier log reaches the log: its start (which program, the
// first instructions) and its end (the reason and the totals)
constexpr size_t kHeadLines = 20, kTailLines = 80;

int libbpf_print(enum libbpf_print_level lvl, const char* fmt, va_list args) {
  Level level = lvl == LIBBPF_WARN ? Level::warn
                : lvl == LIBBPF_INFO ? Level::info
                                     : Level::debug;
  if (level < log::level() || t_libbpf_quiet) return 0;
  va_list again;
  va_copy(again, args);
  int n = std::vsnprintf(nullptr, 0, fmt, args);
  std::string message(n > 0 ? static_cast<size_t>(n) : 0, '\0');
  if (n > 0) std::vsnprintf(message.data(), message.size() + 1, fmt, again);
  va_end(again);
  while (!message.empty() && message.back() == '\n') message.pop_back();
  write(level, clip_lines(message, kHeadLines, kTailLines));
  return n;
}

}  // namespace

std::string clip_lines(std::string_view message, size_t head, size_t tail) {
  size_t lines = message.empty() ? 0 : std::count(message.begin(), message.end(), '\n') + 1;
  if (lines <= head + tail) return std::string(message);
  size_t head_end = 0;  // just past the head's last newline
  for (size_t i = 0; i < head; i++) head_end = message.find('\n', head_end) + 1;
  size_t tail_start = message.size();  // the first character of the tail
  for (size_t i = 0; i < tail; i++) tail_start = message.rfind('\n', tail_start - 1 - (i > 0)) + 1;
  std::string out(message.substr(0, head_end));
  out += "[... " + std::to_string(lines - head - tail) + " lines cut; the end follows ...]\n";
  out += message.substr(tail_start);
  return out;
}

void route_libbpf() { libbpf_set_print(libbpf_print); }

QuietLibbpf::QuietLibbpf() : was_(t_libbpf_quiet) { t_libbpf_quiet = true; }
QuietLibbpf::~QuietLibbpf() { t_libbpf_quiet = was_; }

}  // namespace zeroseg::log
