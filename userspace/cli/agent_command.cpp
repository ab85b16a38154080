// SPDX-License-Identifier: Apache-2.0
// `zeroseg agent`: the long-running agent, in the foreground.
#include <pthread.h>
#include <signal.h>

#include <iostream>
#include <thread>

#include "agent/agent.h"
#include "agent/link_watcher.h"
#include "api/http.h"
#include "api/routes.h"
#include "cli/options.h"
#include "common/log.h"

namespace zeroseg::cli {
namespace {

struct AgentFlags {
  std::string config, socket, pin_dir, state_dir, flow_log, metrics_listen;
  bool uninstall = false;
};

AgentConfig resolve(const AgentFlags& f) {
  AgentConfig c;
  if (!f.config.empty()) c.load_file(f.config);
  if (!f.socket.empty()) c.socket = f.socket;
  if (!f.pin_dir.empty()) c.pin_dir = f.pin_dir;
  if (!f.state_dir.empty()) c.state_dir = f.state_dir;
  if (!f.flow_log.empty()) c.flow_log = f.flow_log;
  if (!f.metrics_listen.empty()) c.metrics_listen = f.metrics_listen;
  return c;
}

void run_agent(const AgentFlags& flags) {
  AgentConfig config = resolve(flags);
  if (flags.uninstall) {
    Agent::uninstall(config);
    std::cout << "zeroseg agent: detached every endpoint and removed the pins under " << config.pin_dir << "\n";
    return;
  }
  // SIGTERM/SIGINT go to one thread, which stops the server: every other
  // thread runs with them blocked
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  Agent agent(config);
  api::UnixHttpServer server(config.socket, 0, api::routes(agent));
  LinkWatcher links([&agent] { agent.sync_links(); });
  std::thread signals([&] {
    int sig = 0;
    sigwait(&stop_signals, &sig);
    log::info(std::string("stopping on ") + (sig == SIGTERM ? "SIGTERM" : "SIGINT") +
              ": programs and pins stay, enforcement continues");
    server.stop();
  });
  log::info("serving on " + config.socket + " (pins under " + config.pin_dir + ", state in " + config.state_dir + ")");
  server.serve();
  signals.join();
}

}  // namespace

void add_agent_command(CLI::App& app, GlobalOptions&) {
  static AgentFlags flags;
  auto* cmd = app.add_subcommand("agent", "Run the agent (foreground)");
  cmd->add_option("--config", flags.config, "YAML file with the settings below");
  cmd->add_option("--socket", flags.socket, "API socket (default /run/zeroseg/zeroseg.sock)");
  cmd->add_option("--bpf-pin-dir", flags.pin_dir, "Pin directory (default /sys/fs/bpf/zeroseg)");
  cmd->add_option("--state-dir", flags.state_dir, "Desired state on disk (default /var/lib/zeroseg)");
  cmd->add_option("--flow-log", flags.flow_log, "Flow log file (JSON lines)");
  cmd->add_option("--metrics-listen", flags.metrics_listen, "ADDR:PORT for /metrics");
  cmd->add_flag("--uninstall", flags.uninstall, "Detach from every endpoint, remove the pins, and exit");
  cmd->callback([] { run_agent(flags); });
}

}  // namespace zeroseg::cli
