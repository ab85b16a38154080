// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/error.h"
#include "policy/objects.h"

namespace zeroseg {

// Multi-document YAML in, validated objects out. The first problem found
// throws, with "file:line:column: message"; nothing of a failed load is
// returned. Unknown kinds and fields, bad CIDRs, ports out of range,
// endPort below port, an except outside its CIDR and bad selectors are all
// errors.
ObjectSet load_yaml(std::string_view text, const std::string& filename);

// Throws "filename:line:column: ..." at the first character YAML does not
// allow here: a control character but tab and line breaks, or invalid
// UTF-8. load_yaml checks first; so does the CLI before it sends a file.
void check_characters(std::string_view text, const std::string& filename);

// A file, or every *.yaml / *.yml file of a directory (sorted by name), or
// "-": standard input, named kStdinName in errors.
inline constexpr const char* kStdinName = "<stdin>";
ObjectSet load_path(const std::string& path);

// The files load_path reads for path, with their text.
std::vector<std::pair<std::string, std::string>> read_yaml_files(const std::string& path);

}  // namespace zeroseg
