// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/options.h"

namespace zeroseg::cli {

// One API call; a non-200 answer throws Error with the agent's message.
nlohmann::json request(const GlobalOptions& g, const std::string& method, const std::string& path,
                       const nlohmann::json& body = nullptr);

// The files behind -f (a file or a directory of *.yaml/*.yml), as the
// documents of an apply/delete request.
nlohmann::json read_documents(const std::vector<std::string>& paths);

}  // namespace zeroseg::cli
