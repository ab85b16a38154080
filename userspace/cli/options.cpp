// SPDX-License-Identifier: Apache-2.0
#include "cli/options.h"

#include <cstdlib>

namespace zeroseg::cli {

void add_output_options(CLI::App& cmd, GlobalOptions& g) {
  cmd.add_option("-o,--output", g.output, "Output format")
      ->check(CLI::IsMember({"table", "json", "yaml"}))
      ->capture_default_str();
  cmd.add_flag("--no-headers", g.no_headers, "Tables without their header line");
}

void add_global_options(CLI::App& cmd, GlobalOptions& g) {
  cmd.add_option("--bpf-pin-dir", g.pin_dir, "Where the datapath's maps and programs are pinned")
      ->capture_default_str();
  add_output_options(cmd, g);
}

// The environment sets the default rather than CLI11's envname(): sibling
// words share one variable, and envname() would write it for each of them.
void add_socket_option(CLI::App& cmd, std::string& socket) {
  if (const char* env = std::getenv("ZEROSEG_SOCKET"); env && *env) socket = env;
  cmd.add_option("--socket", socket, "The agent's API socket (default: $ZEROSEG_SOCKET, else " +
                                         std::string(kDefaultSocket) + ")");
}

void add_client_options(CLI::App& cmd, GlobalOptions& g) {
  add_socket_option(cmd, g.socket);
  add_output_options(cmd, g);
}

}  // namespace zeroseg::cli
