// SPDX-License-Identifier: Apache-2.0
// The map's page, script, style and d3 (Debian's libjs-d3), built into the
// binary: ui_assets.cpp is generated from userspace/ui/assets/ and
// /usr/share/javascript/d3/d3.min.js by embed_assets.cmake.
#pragma once

#include <string_view>

namespace zeroseg::ui {

struct Asset {
  std::string_view path;          // "/", "/map.js", ...
  std::string_view content_type;
  std::string_view body;
};

// null when no asset has that path
const Asset* find_asset(std::string_view path);

}  // namespace zeroseg::ui
