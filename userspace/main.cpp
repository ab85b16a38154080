// SPDX-License-Identifier: Apache-2.0
// zeroseg: the agent and its CLI in one binary.
#include <iostream>
#include <string_view>

#include "agent/agent_command.h"
#include "cli/options.h"
#include "common/error.h"
#include "common/log.h"
#include "inspect/inspect.h"

int main(int argc, char** argv) {
  using namespace zeroseg;
  CLI::App app{"zeroseg: identity-based microsegmentation on eBPF"};
  app.require_subcommand(1);
  bool verbose = false;  // read from argv below, before any command runs
  app.add_flag("-v,--verbose", verbose, "Debug logging (libbpf and verifier messages included)");
  for (int i = 1; i < argc; i++)
    if (std::string_view(argv[i]) == "-v" || std::string_view(argv[i]) == "--verbose")
      log::set_level(log::Level::debug);
  const std::string version = "zeroseg 0.1.0";
  app.set_version_flag("--version", version);

  cli::GlobalOptions global;
  add_agent_command(app);
  cli::add_apply_commands(app, global);
  cli::add_policy_commands(app, global);
  cli::add_inventory_commands(app, global);
  cli::add_flows_command(app, global);
  cli::add_alerts_command(app, global);
  cli::add_quarantine_commands(app, global);
  inspect::add_status_command(app, global);
  inspect::add_bpf_commands(app, global);
  cli::add_completion_command(app);
  cli::add_man_command(app, version);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const cli::ExitWith& e) {
    return e.code;
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return 2;
  } catch (const Error& e) {
    log::error(e.what());
    return 1;
  } catch (const std::exception& e) {
    log::error(e.what());
    return 1;
  }
  return 0;
}
