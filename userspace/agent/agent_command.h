// SPDX-License-Identifier: Apache-2.0
// The `zeroseg agent` word: the agent's main.
#pragma once

#include <CLI/CLI.hpp>

namespace zeroseg {

void add_agent_command(CLI::App& app);

}  // namespace zeroseg
