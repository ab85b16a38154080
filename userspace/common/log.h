// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <string_view>

namespace zeroseg::log {

enum class Level { debug, info, warn, error };

void set_level(Level level);
Level level();
void write(Level level, std::string_view message);

inline void debug(std::string_view m) { write(Level::debug, m); }
inline void info(std::string_view m) { write(Level::info, m); }
inline void warn(std::string_view m) { write(Level::warn, m); }
inline void error(std::string_view m) { write(Level::error, m); }

// Routes libbpf's own messages (verifier logs included) into this logger:
// warnings stay warnings, debug output only shows at Level::debug.
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
