// SPDX-License-Identifier: Apache-2.0
#include "cli/colour.h"

#include <unistd.h>

#include <cstdlib>

namespace zeroseg::cli {

bool colour_enabled(int fd) {
  const char* no_color = std::getenv("NO_COLOR");
  if (no_color && *no_color) return false;
  const char* term = std::getenv("TERM");
  if (term && std::string_view(term) == "dumb") return false;
  return isatty(fd) == 1;
}

std::string paint(std::string_view text, const char* sgr, bool on) {
  if (!on || !sgr || text.empty()) return std::string(text);
  return "\033[" + std::string(sgr) + "m" + std::string(text) + "\033[0m";
}

const char* verdict_colour(std::string_view v) {
  if (v == "denied") return kRed;
  if (v == "audit") return kYellow;
  if (v == "allowed") return kGreen;
  return nullptr;
}

const char* severity_colour(std::string_view s) {
  if (s == "critical" || s == "high") return kRed;
  if (s == "medium") return kYellow;
  return nullptr;
}

}  // namespace zeroseg::cli
