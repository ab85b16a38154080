// SPDX-License-Identifier: Apache-2.0
// `zeroseg agent`: the long-running agent, in the foreground.
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <chrono>
#include <condition_variable>
#include <iostream>
#include <map>
#include <mutex>
#include <thread>

#include "agent/agent.h"
#include "agent/agent_command.h"
#include "agent/agent_config.h"
#include "agent/cluster_mode.h"
#include "agent/link_watcher.h"
#include "agent/routes.h"
#include "api/http.h"
#include "common/log.h"
#include "common/systemd_notify.h"
#include "net/addr.h"
#include "policy/objects.h"
#include "ui/ui_routes.h"

namespace zeroseg {
namespace {

struct AgentFlags {
  std::string config;
  std::map<std::string, std::string> settings;  // flags given, by setting name
  bool uninstall = false;
};

// WatchdogSec= in the unit: WATCHDOG=1 at half the interval, each after
// taking the agent's lock (a snapshot), so an agent stuck in a commit is
// restarted by the manager while its pins keep enforcing.
class Watchdog {
 public:
  explicit Watchdog(const Agent& agent) {
    uint64_t usec = systemd::watchdog_usec();
    if (!usec) return;
    auto every = std::chrono::microseconds(usec / 2);
    thread_ = std::thread([this, &agent, every] {
      std::unique_lock lock(mu_);
      while (!cv_.wait_for(lock, every, [this] { return stop_; })) {
        (void)agent.snapshot();
        systemd::notify("WATCHDOG=1");
      }
    });
  }
  ~Watchdog() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

AgentConfig resolve(const AgentFlags& f) {
  AgentConfig c;
  if (!f.config.empty()) c.load_file(f.config);
  for (const auto& [key, value] : f.settings)
    if (!value.empty()) c.set(key, value);  // flags override the file
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
  // a peer that closes a connection mid-write (a CLI gone, etcd or a
  // webhook over TLS, whose writes do not pass MSG_NOSIGNAL) is an error
  // of that write, never the agent's end
  signal(SIGPIPE, SIG_IGN);
  // Every HTTP client, slow or not, holds a descriptor (up to 256 whose
  // request is still arriving on each listener): the soft limit of 1024 a
  // shell gives is raised (to the hard one, 65536 at most), as Go's runtime does.
  if (rlimit files{}; getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < std::min<rlim_t>(files.rlim_max, 65536)) {
    files.rlim_cur = std::min<rlim_t>(files.rlim_max, 65536);
    setrlimit(RLIMIT_NOFILE, &files);
  }

  // The listeners' addresses checked before anything loads: a typo in
  // them must fail the start before it loads and pins a datapath.
  if (!config.metrics_listen.empty())
    (void)resolve_host_port(config.metrics_listen, SOCK_STREAM, true, "--metrics-listen");
  if (!config.ui_listen.empty())
    (void)resolve_host_port(ui::ui_listen_address(config.ui_listen), SOCK_STREAM, true, "--ui-listen");
  std::shared_ptr<etcd::Client> etcd_client;
  if (!config.cluster.empty()) etcd_client = cluster_client(config);  // settings checked before anything loads
  auto etcd_identities = etcd_client ? cluster_identities(etcd_client, config.node_name) : nullptr;
  systemd::notify("STATUS=loading the datapath and enforcing the stored state");
  // Once constructed, the agent enforces the stored state: programs loaded
  // (or the pinned ones reused), maps reconciled, every endpoint attached.
  Agent agent(config, etcd_identities);
  std::unique_ptr<ClusterMode> cluster;
  if (etcd_client) {
    cluster = std::make_unique<ClusterMode>(agent, etcd_client, config.node_name, config.cluster_lease_ttl,
                                            etcd_identities, config.cluster_identity_grace);
    log::info("cluster mode: node " + config.node_name + ", etcd " + config.cluster);
  }
  auto server = api::HttpServer::unix_socket(config.socket, 0, api_routes(agent, cluster.get()));
  std::unique_ptr<api::HttpServer> metrics;
  std::thread metrics_thread;
  if (!config.metrics_listen.empty()) {
    metrics = api::HttpServer::tcp(config.metrics_listen, metrics_routes(agent, cluster.get()));
    metrics_thread = std::thread([&] { metrics->serve(); });
    log::info("metrics on http://" + metrics->address() + "/metrics");
  }
  std::unique_ptr<api::HttpServer> live_map;  // the web page of --ui-listen, not a BPF map
  std::thread live_map_thread;
  if (!config.ui_listen.empty()) {
    std::string at = ui::ui_listen_address(config.ui_listen);
    live_map = api::HttpServer::web(at, live_map_routes(agent, ui::loopback_listen(at)));
    live_map_thread = std::thread([&] { live_map->serve(); });
    log::info("the live map on http://" + live_map->address() + "/ (read-only)");
  }
  LinkWatcher links([&agent](bool event) { agent.sync_links(event); });
  std::thread signals([&] {
    int sig = 0;
    sigwait(&stop_signals, &sig);
    log::info(std::string("stopping on ") + (sig == SIGTERM ? "SIGTERM" : "SIGINT") +
              ": programs and pins stay, enforcement continues");
    systemd::notify("STOPPING=1\nSTATUS=stopping: programs and pins stay, enforcement continues");
    server->stop();
    if (metrics) metrics->stop();
    if (live_map) live_map->stop();
  });
  log::info("serving on " + config.socket + " (pins under " + config.pin_dir + ", state in " + config.state_dir + ")");
  // Type=notify: the stored state is enforced and the socket listens (a
  // CLI's connection waits in its backlog until serve() takes it), so units
  // ordered after zeroseg (network-pre.target) start behind enforcement.
  systemd::notify("READY=1\nSTATUS=enforcing " + std::to_string(agent.snapshot().desired->size()) +
                  " objects; serving on " + config.socket);
  Watchdog watchdog(agent);
  server->serve();
  signals.join();
  if (metrics_thread.joinable()) metrics_thread.join();
  if (live_map_thread.joinable()) live_map_thread.join();
}

}  // namespace

void add_agent_command(CLI::App& app) {
  static AgentFlags flags;
  static bool reference = false;
  auto* cmd = app.add_subcommand("agent", "Run the agent (foreground)");
  cmd->add_option("--config", flags.config, "YAML file with the settings below (flags override it)");
  for (const auto& s : agent_settings()) {
    std::string shown = s.show(AgentConfig());
    cmd->add_option(std::string("--") + s.key, flags.settings[s.key],
                    std::string(s.help) + (shown.empty() ? "" : " (default " + shown + ")"));
  }
  cmd->add_flag("--uninstall", flags.uninstall, "Detach from every endpoint, remove the pins, and exit");
  cmd->add_flag("--settings-reference", reference, "Print every setting as docs/agent-settings.md has it, and exit");
  cmd->callback([] {
    if (reference) {
      std::cout << agent_settings_markdown();
      return;
    }
    run_agent(flags);
  });
}

}  // namespace zeroseg
