// SPDX-License-Identifier: Apache-2.0
#include "common/time.h"

#include <time.h>

#include <cctype>
#include <charconv>
#include <cstdint>
#include <cstdio>

namespace zeroseg {
namespace {

int64_t clock_ns(clockid_t id) {
  timespec ts{};
  clock_gettime(id, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

// The kernel's TAI offset is whole seconds: rounded, two reads of the clocks
// a few ns apart give the same answer (a recompile does not move expiries).
int64_t tai_offset_ns() {
  int64_t d = clock_ns(CLOCK_TAI) - clock_ns(CLOCK_REALTIME);
  int64_t s = (d >= 0 ? d + 500'000'000 : d - 500'000'000) / 1'000'000'000;
  return s * 1'000'000'000;
}

bool digits(std::string_view s, size_t at, size_t n, int& out) {
  if (at + n > s.size()) return false;
  auto [end, ec] = std::from_chars(s.data() + at, s.data() + at + n, out);
  return ec == std::errc() && end == s.data() + at + n;
}

}  // namespace

int64_t realtime_now_ns() { return clock_ns(CLOCK_REALTIME); }

std::optional<int64_t> parse_rfc3339(std::string_view s) {
  int Y, M, D, h, m, sec;
  if (!digits(s, 0, 4, Y) || s.size() < 20 || s[4] != '-' || !digits(s, 5, 2, M) || s[7] != '-' ||
      !digits(s, 8, 2, D) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || !digits(s, 11, 2, h) ||
      s[13] != ':' || !digits(s, 14, 2, m) || s[16] != ':' || !digits(s, 17, 2, sec))
    return std::nullopt;
  if (M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60) return std::nullopt;
  // int64 nanoseconds reach 2262; before 1970 no rule can still be live
  if (Y < 1970 || Y > 2261) return std::nullopt;
  size_t at = 19;
  int64_t frac_ns = 0;
  if (at < s.size() && s[at] == '.') {
    int64_t scale = 100000000;
    for (at++; at < s.size() && s[at] >= '0' && s[at] <= '9'; at++, scale /= 10) frac_ns += (s[at] - '0') * scale;
  }
  int64_t offset_s = 0;
  if (at < s.size() && (s[at] == 'Z' || s[at] == 'z')) {
    at++;
  } else if (at < s.size() && (s[at] == '+' || s[at] == '-')) {
    int oh, om;
    if (!digits(s, at + 1, 2, oh) || at + 3 >= s.size() || s[at + 3] != ':' || !digits(s, at + 4, 2, om))
      return std::nullopt;
    offset_s = (s[at] == '+' ? 1 : -1) * (oh * 3600 + om * 60);
    at += 6;
  } else {
    return std::nullopt;
  }
  if (at != s.size()) return std::nullopt;
  tm t{};
  t.tm_year = Y - 1900;
  t.tm_mon = M - 1;
  t.tm_mday = D;
  t.tm_hour = h;
  t.tm_min = m;
  t.tm_sec = sec;
  int64_t unix_s = timegm(&t) - offset_s;
  return unix_s * 1000000000 + frac_ns;
}

std::string format_rfc3339(int64_t unix_ns) {
  time_t s = unix_ns / 1000000000;
  tm t{};
  gmtime_r(&s, &t);
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02dZ", t.tm_year + 1900, t.tm_mon + 1, t.tm_mday,
                t.tm_hour, t.tm_min, t.tm_sec);
  return buf;
}

// A sum of NUMBER UNIT parts, as format_duration() prints and Go parses.
std::optional<int64_t> parse_duration_ns(std::string_view s) {
  constexpr int64_t kMost = INT64_MAX / 2;  // and room to add it to now
  if (s.empty()) return std::nullopt;
  int64_t total = 0;
  while (!s.empty()) {
    int64_t value = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
    if (ec != std::errc() || value < 0) return std::nullopt;
    s.remove_prefix(end - s.data());
    size_t unit_len = 0;
    while (unit_len < s.size() && std::isalpha(static_cast<unsigned char>(s[unit_len]))) unit_len++;
    std::string_view unit = s.substr(0, unit_len);
    s.remove_prefix(unit_len);
    int64_t scale;
    if (unit == "ms") scale = 1000000;
    else if (unit == "s") scale = 1000000000;
    else if (unit == "m") scale = 60LL * 1000000000;
    else if (unit == "h") scale = 3600LL * 1000000000;
    else if (unit == "d") scale = 86400LL * 1000000000;
    else return std::nullopt;
    if (value > (kMost - total) / scale) return std::nullopt;
    total += value * scale;
  }
  return total;
}

uint64_t realtime_to_tai_ns(int64_t unix_ns) { return static_cast<uint64_t>(unix_ns + tai_offset_ns()); }
int64_t tai_to_realtime_ns(uint64_t tai_ns) { return static_cast<int64_t>(tai_ns) - tai_offset_ns(); }

std::string format_duration(int64_t ns) {
  int64_t s = ns / 1'000'000'000;
  std::string out;
  for (auto [unit, n] : {std::pair{'d', 86400}, {'h', 3600}, {'m', 60}, {'s', 1}}) {
    if (s >= n) out += std::to_string(s / n) + unit;
    s %= n;
  }
  return out.empty() ? "0s" : out;
}

}  // namespace zeroseg
