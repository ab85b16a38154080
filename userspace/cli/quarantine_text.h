// SPDX-License-Identifier: Apache-2.0
// How `zeroseg quarantine` says what still reaches a quarantined workload.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace zeroseg::cli {

// The management prefixes ("10.0.9.0/24,fd00:9::/64"), or "none" when the
// quarantine lets nothing through: neither --allow-management nor the
// agent's quarantine-management named a prefix.
std::string management_text(const nlohmann::json& prefixes);

}  // namespace zeroseg::cli
