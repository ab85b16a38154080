// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <nlohmann/json.hpp>
#include <ostream>
#include <string>

#include "cli/options.h"
#include "cli/table.h"

namespace zeroseg::cli {

// -o table|json|yaml: what a command shows, as a table for people or as the
// same data for machines.
void print_structured(const GlobalOptions& g, const nlohmann::json& data);
void print_output(const GlobalOptions& g, const nlohmann::json& data, const Table& table);

// One record of a stream (flows, alerts): a JSON line, or a YAML document.
void print_record(const std::string& output, const nlohmann::json& record);

// YAML as kubectl prints it: block style, strings quoted only where a
// reader would take them for another type.
std::string to_yaml(const nlohmann::json& data);

}  // namespace zeroseg::cli
