// SPDX-License-Identifier: Apache-2.0
// Colour for people at a terminal, never for a pipe, a file or anyone who
// set NO_COLOR (https://no-color.org: present and not empty), nor for
// TERM=dumb. Tables pad before they paint: columns stay aligned.
#pragma once

#include <string>
#include <string_view>

namespace zeroseg::cli {

// SGR codes
inline constexpr const char* kRed = "31";
inline constexpr const char* kGreen = "32";
inline constexpr const char* kYellow = "33";
inline constexpr const char* kBold = "1";

// Whether output to fd (stdout by default) may be coloured.
bool colour_enabled(int fd = 1);

// text in the colour sgr when on (and sgr is set), else text itself.
std::string paint(std::string_view text, const char* sgr, bool on);

// denied red, audit yellow, allowed green; nullptr for anything else
const char* verdict_colour(std::string_view verdict);
// critical and high red, medium yellow; nullptr for anything else
const char* severity_colour(std::string_view severity);

}  // namespace zeroseg::cli
