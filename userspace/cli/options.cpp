// SPDX-License-Identifier: Apache-2.0
#include "cli/options.h"

namespace zeroseg::cli {

void add_global_options(CLI::App& cmd, GlobalOptions& g) {
  cmd.add_option("--bpf-pin-dir", g.pin_dir, "Where the datapath's maps and programs are pinned")
      ->capture_default_str();
  cmd.add_option("-o,--output", g.output, "Output format")
      ->check(CLI::IsMember({"table", "json"}))
      ->capture_default_str();
}

void add_client_options(CLI::App& cmd, GlobalOptions& g) {
  cmd.add_option("--socket", g.socket, "The agent's API socket")->capture_default_str();
  cmd.add_option("-o,--output", g.output, "Output format")
      ->check(CLI::IsMember({"table", "json"}))
      ->capture_default_str();
}

}  // namespace zeroseg::cli
