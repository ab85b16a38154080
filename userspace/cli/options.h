// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "abi/defaults.h"

namespace zeroseg::cli {

// Thrown by a word that ends with an exit code but no error to print
// (`policy diff --exit-code`); main returns the code.
struct ExitWith {
  int code;
};

// Options every command takes.
struct GlobalOptions {
  std::string socket = kDefaultSocket;
  std::string pin_dir = kDefaultPinDir;
  std::string output = "table";  // table | json | yaml
  bool no_headers = false;
  bool structured() const { return output != "table"; }
};

// -o table|json|yaml and --no-headers
void add_output_options(CLI::App& cmd, GlobalOptions& g);
void add_global_options(CLI::App& cmd, GlobalOptions& g);
// --socket, which ZEROSEG_SOCKET sets when it is not given
void add_socket_option(CLI::App& cmd, std::string& socket);
// --socket and -o: for words answered by the agent
void add_client_options(CLI::App& cmd, GlobalOptions& g);

void add_apply_commands(CLI::App& app, GlobalOptions& g);
void add_policy_commands(CLI::App& app, GlobalOptions& g);
void add_inventory_commands(CLI::App& app, GlobalOptions& g);
void add_flows_command(CLI::App& app, GlobalOptions& g);
void add_alerts_command(CLI::App& app, GlobalOptions& g);
void add_quarantine_commands(CLI::App& app, GlobalOptions& g);
// `completion bash|zsh|fish`: add it last, it walks the words added before it
void add_completion_command(CLI::App& app);
// `man --output-dir DIR`: a man page per command, from the same tree (a build step)
void add_man_command(CLI::App& app, const std::string& version);

}  // namespace zeroseg::cli
