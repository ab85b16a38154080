// SPDX-License-Identifier: Apache-2.0
// What makes `zeroseg status` exit non-zero, read from the agent's own
// status (GET /v1/status): its exit codes are the contract scripts and
// health checks use.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace zeroseg::cli {

// `zeroseg status` exits with these (README "Exit codes", `status --help`).
inline constexpr int kStatusDegraded = 1;  // the agent answers, but something below fails
inline constexpr int kStatusNoAgent = 2;   // no agent answers on the socket

// Why the agent is degraded, one line each; empty when it is not:
// interfaces it could not attach to (not enforced), and events the kernel
// could not queue (flows missing from the logs and the detectors).
std::vector<std::string> agent_problems(const nlohmann::json& agent_status);

}  // namespace zeroseg::cli
