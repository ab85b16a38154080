// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace zeroseg {

// Nanoseconds since the Unix epoch (CLOCK_REALTIME).
int64_t realtime_now_ns();
// "2026-11-28T10:00:00Z", "2026-11-28T10:00:00.5+01:00"
std::optional<int64_t> parse_rfc3339(std::string_view text);
std::string format_rfc3339(int64_t unix_ns);
// "90s", "15m", "2h", "1d", "500ms", and sums as printed: "1h30m", "1d2h3s"
std::optional<int64_t> parse_duration_ns(std::string_view text);
// The other way, to the second: "1h", "1h30m", "45s"
std::string format_duration(int64_t ns);

// The kernel enforces rule expiry against CLOCK_TAI (bpf_ktime_get_tai_ns),
// which differs from CLOCK_REALTIME by the current leap-second offset.
uint64_t realtime_to_tai_ns(int64_t unix_ns);
int64_t tai_to_realtime_ns(uint64_t tai_ns);

}  // namespace zeroseg
