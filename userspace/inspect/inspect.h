// SPDX-License-Identifier: Apache-2.0
// The words that read or write the pinned maps themselves, like cilium-dbg:
// `zeroseg bpf ...` and `zeroseg status`. The one part besides the agent
// that may use the loader.
#pragma once

#include "cli/options.h"

namespace zeroseg::inspect {

void add_bpf_commands(CLI::App& app, cli::GlobalOptions& g);
void add_status_command(CLI::App& app, cli::GlobalOptions& g);

}  // namespace zeroseg::inspect
