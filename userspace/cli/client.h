// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <nlohmann/json.hpp>
#include <functional>
#include <string>
#include <vector>

#include "cli/options.h"

namespace zeroseg::cli {

// One API call; a non-200 answer throws Error with the agent's message.
nlohmann::json request(const GlobalOptions& g, const std::string& method, const std::string& path,
                       const nlohmann::json& body = nullptr);

// A JSON-lines route (/v1/flows, /v1/alerts): each line's object to
// `each`, as they come when following. Throws Error with the agent's
// message on a non-200 answer.
void read_json_lines(const std::string& socket, const std::string& path, bool follow,
                     const std::function<void(const nlohmann::json&)>& each);
// Following, until `each` returns false.
void follow_json_lines(const std::string& socket, const std::string& path,
                       const std::function<bool(const nlohmann::json&)>& each);

// The files behind -f (a file, a directory of *.yaml/*.yml, or "-":
// standard input, once), as the
// documents of an apply/delete request. A file with a control character
// or invalid UTF-8 throws Error "FILE:LINE:COLUMN: ...".
nlohmann::json read_documents(const std::vector<std::string>& paths);

}  // namespace zeroseg::cli
