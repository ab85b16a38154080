// SPDX-License-Identifier: Apache-2.0
#include "common/log.h"
#include "common/log_journal.h"

#include <sys/stat.h>

#include <atomic>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>

namespace zeroseg::log {
namespace {

std::atomic<Level> g_level{Level::info};
std::mutex g_mutex;
std::once_flag g_journal_once;
std::atomic<bool> g_journal{false};

const char* name(Level level) {
  switch (level) {
    case Level::debug: return "debug";
    case Level::info: return "info";
    case Level::warn: return "warning";
    case Level::error: return "error";
  }
  return "?";
}

// syslog(3)'s priorities, which journald reads from the prefix
char priority(Level level) {
  switch (level) {
    case Level::debug: return '7';
    case Level::info: return '6';
    case Level::warn: return '4';
    case Level::error: return '3';
  }
  return '6';
}

// $JOURNAL_STREAM is "DEVICE:INODE" of the stream journald handed the
// service; a child or a redirect inherits the variable but not the stream.
bool stderr_is_journal() {
  const char* env = std::getenv("JOURNAL_STREAM");
  if (!env || !*env) return false;
  unsigned long long dev = 0, ino = 0;
  char tail = 0;
  if (std::sscanf(env, "%llu:%llu%c", &dev, &ino, &tail) != 2) return false;
  struct stat st {};
  if (fstat(2, &st)) return false;
  return static_cast<unsigned long long>(st.st_dev) == dev && static_cast<unsigned long long>(st.st_ino) == ino;
}

}  // namespace

void set_level(Level level) { g_level = level; }
Level level() { return g_level; }

void detect_journal() { g_journal = stderr_is_journal(); }
bool to_journal() {
  std::call_once(g_journal_once, [] { detect_journal(); });
  return g_journal;
}

void write(Level level, std::string_view message) {
  if (level < g_level.load()) return;
  std::string line;
  const bool journal = to_journal();
  const std::string prefix = journal ? std::string("<") + priority(level) + ">" : std::string();
  line = prefix + "zeroseg: " + name(level) + ": ";
  // journald cuts at newlines, and at NULs: every line of a message keeps
  // its priority (text a workload chose must not start a line "<0>...")
  for (char c : message) {
    line += c == '\0' && journal ? '\n' : c;
    if ((c == '\n' || c == '\0') && journal) line += prefix;
  }
  line += '\n';
  std::lock_guard lock(g_mutex);
  std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace zeroseg::log
