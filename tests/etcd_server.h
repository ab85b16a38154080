// SPDX-License-Identifier: Apache-2.0
// A real etcd for a test: `etcd` (Debian's etcd-server) started on free
// loopback ports with a temporary data directory, stopped and removed at
// the end. Without the binary a test skips, saying why; under
// ZEROSEG_REQUIRE_PRIVILEGED=1 (CI) it fails instead, as the privileged
// tests do.
#pragma once

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>
#include <memory>

#include "sources/etcd_client.h"

namespace zeroseg::testing {

inline bool etcd_installed() { return std::system("command -v etcd >/dev/null 2>&1") == 0; }

#define ZS_REQUIRE_ETCD()                                                                            \
  do {                                                                                               \
    if (!::zeroseg::testing::etcd_installed()) {                                                     \
      const char* req = std::getenv("ZEROSEG_REQUIRE_PRIVILEGED");                                   \
      if (req && std::string(req) == "1") FAIL() << "etcd is not installed, and CI requires it";     \
      GTEST_SKIP() << "needs etcd (Debian's etcd-server; scripts/install-deps.sh installs it)";      \
    }                                                                                                \
  } while (0)

// A port nothing listens on now (the kernel's pick for a bind to port 0).
inline int free_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
    port = ntohs(a.sin_port);
  close(fd);
  return port;
}

class EtcdServer {
 public:
  // tls: etcd serves https only, with a certificate of a CA made here, and
  // asks clients for a certificate of that CA (--client-cert-auth), as
  // etcd deployments do: ca(), client_cert(), client_key() for the client.
  // flags: more of etcd's own (e.g. "--max-txn-ops=2"), for a test of its limits.
  explicit EtcdServer(bool tls = false, std::vector<std::string> flags = {}) : tls_(tls), flags_(std::move(flags)) {
    char tmpl[] = "/tmp/zs-etcd-XXXXXX";
    dir_ = mkdtemp(tmpl);
    client_port_ = free_port();
    peer_port_ = free_port();
    if (tls_ && !make_certs()) return;
    start();
  }
  // A member of a cluster (EtcdCluster): started by its owner, once every
  // member's peer URL is known (initial_cluster names them all).
  struct Member {
    std::string name;
    int client_port = 0, peer_port = 0;
    std::string initial_cluster;
  };
  explicit EtcdServer(const Member& m)
      : name_(m.name), initial_cluster_(m.initial_cluster), client_port_(m.client_port), peer_port_(m.peer_port) {
    char tmpl[] = "/tmp/zs-etcd-XXXXXX";
    dir_ = mkdtemp(tmpl);
  }
  std::string ca() const { return dir_ + "/ca.pem"; }
  std::string client_cert() const { return dir_ + "/client.pem"; }
  std::string client_key() const { return dir_ + "/client-key.pem"; }
  std::string dir() const { return dir_; }
  ~EtcdServer() {
    stop();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  EtcdServer(const EtcdServer&) = delete;
  EtcdServer& operator=(const EtcdServer&) = delete;

  int port() const { return client_port_; }
  std::string endpoint() const { return "127.0.0.1:" + std::to_string(client_port_); }
  bool running() const { return pid_ > 0; }

  // Starts it (again, on the same ports and data) and waits until it answers.
  bool start() { return spawn() && wait_ready(); }

  // Starts the process and returns (a cluster's members must all run
  // before any of them answers).
  bool spawn() {
    if (pid_ > 0) return true;
    std::string client = client_url();
    std::string peer = "http://127.0.0.1:" + std::to_string(peer_port_);
    std::string initial = initial_cluster_.empty() ? name_ + "=" + peer : initial_cluster_;
    pid_ = fork();
    if (pid_ == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);  // a test that dies leaves no etcd behind
      std::string log = dir_ + "/etcd.log";
      FILE* f = std::freopen(log.c_str(), "a", stderr);
      (void)f;
      std::freopen("/dev/null", "w", stdout);
      std::string cert = "--cert-file=" + dir_ + "/server.pem", key = "--key-file=" + dir_ + "/server-key.pem";
      std::string trusted = "--trusted-ca-file=" + ca();
      if (tls_)
        execlp("etcd", "etcd", "--name", name_.c_str(), "--data-dir", (dir_ + "/data").c_str(), "--listen-client-urls",
               client.c_str(), "--advertise-client-urls", client.c_str(), "--listen-peer-urls", peer.c_str(),
               "--initial-advertise-peer-urls", peer.c_str(), "--initial-cluster", initial.c_str(),
               "--log-level", "warn", "--logger", "zap", cert.c_str(), key.c_str(), trusted.c_str(),
               "--client-cert-auth", static_cast<char*>(nullptr));
      std::vector<std::string> args = {"etcd", "--name", name_, "--data-dir", dir_ + "/data", "--listen-client-urls",
                                       client, "--advertise-client-urls", client, "--listen-peer-urls", peer,
                                       "--initial-advertise-peer-urls", peer, "--initial-cluster", initial,
                                       "--log-level", "warn", "--logger", "zap"};
      args.insert(args.end(), flags_.begin(), flags_.end());
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execvp("etcd", argv.data());
      _exit(127);
    }
    return pid_ > 0;
  }

  bool wait_ready() {
    if (pid_ <= 0) return false;
    std::string client = client_url();
    // ready when the gateway answers (a few hundred ms; 30 s on a loaded machine)
    for (int i = 0; i < 300; i++) {
      std::string certs = tls_ ? " --cacert " + ca() + " --cert " + client_cert() + " --key " + client_key() : "";
      std::string cmd = "curl -sf -m 1 -o /dev/null" + certs + " -X POST -d '{\"key\":\"AA==\"}' " + client + "/v3/kv/range";
      if (std::system(cmd.c_str()) == 0) return true;
      int status;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }

  // SIGKILL: a member that dies, as a crashed host's does (no leader handover).
  void kill_hard() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    int status;
    waitpid(pid_, &status, 0);
    pid_ = -1;
  }

  std::string client_url() const {
    return (tls_ ? "https://127.0.0.1:" : "http://127.0.0.1:") + std::to_string(client_port_);
  }

  // SIGSTOP / SIGCONT: a member that stops answering anyone, its peers
  // included (a host frozen, or cut off), and comes back.
  void pause() {
    if (pid_ > 0) kill(pid_, SIGSTOP);
  }
  void resume() {
    if (pid_ > 0) kill(pid_, SIGCONT);
  }

  void stop() {
    if (pid_ <= 0) return;
    kill(pid_, SIGCONT);  // (a paused member ends only once it runs again)
    kill(pid_, SIGTERM);
    int status;
    waitpid(pid_, &status, 0);
    pid_ = -1;
  }

 private:
  // A CA, a server certificate for 127.0.0.1 and a client certificate, by the openssl CLI.
  bool make_certs() {
    std::string d = dir_;
    std::string sh =
        "cd " + d + " && exec >openssl.log 2>&1 && "
        "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=zs-test-ca -keyout ca-key.pem -out ca.pem && "
        "openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout server-key.pem -out server.csr && "
        "printf 'subjectAltName=IP:127.0.0.1\\nextendedKeyUsage=serverAuth,clientAuth\\n' >server.ext && "
        "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 1 -extfile server.ext "
        "-out server.pem && "
        "openssl req -newkey rsa:2048 -nodes -subj /CN=zs-node -keyout client-key.pem -out client.csr && "
        "printf 'extendedKeyUsage=clientAuth\\n' >client.ext && "
        "openssl x509 -req -in client.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 1 -extfile client.ext "
        "-out client.pem";
    return std::system(sh.c_str()) == 0;
  }
  bool tls_ = false;
  std::vector<std::string> flags_;  // plain http only
  std::string name_ = "zs-test", initial_cluster_;
  std::string dir_;
  int client_port_ = 0, peer_port_ = 0;
  pid_t pid_ = -1;
};

// etcd as a cluster of n members on loopback (each its own ports and data
// directory), as production runs it: a leader, and a quorum of n/2+1 for
// every write. Members can be killed and started again one by one.
class EtcdCluster {
 public:
  explicit EtcdCluster(size_t n = 3) {
    std::vector<EtcdServer::Member> ms(n);
    std::string initial;
    for (size_t i = 0; i < n; i++) {
      ms[i].name = "zs-m" + std::to_string(i);
      ms[i].client_port = free_port();
      ms[i].peer_port = free_port();
      initial += (i ? "," : "") + ms[i].name + "=http://127.0.0.1:" + std::to_string(ms[i].peer_port);
    }
    for (auto& m : ms) {
      m.initial_cluster = initial;
      members_.push_back(std::make_unique<EtcdServer>(m));
    }
    for (auto& m : members_) m->spawn();
    for (auto& m : members_) ok_ = m->wait_ready() && ok_;
  }
  bool ok() const { return ok_; }  // every member answered
  size_t size() const { return members_.size(); }
  EtcdServer& member(size_t i) { return *members_.at(i); }
  std::vector<etcd::Endpoint> endpoints() const {
    std::vector<etcd::Endpoint> out;
    for (const auto& m : members_) out.push_back({"127.0.0.1", m->port()});
    return out;
  }
  // The member that leads now (asked of every running member through
  // /v3/maintenance/status); -1 while none is elected.
  int leader() const {
    for (size_t i = 0; i < members_.size(); i++) {
      if (!members_[i]->running()) continue;
      etcd::ClientOptions o;
      o.endpoints = {{"127.0.0.1", members_[i]->port()}};
      etcd::Client c(o);
      auto st = c.status();
      if (st && st->leader != 0 && st->member_id == st->leader) return static_cast<int>(i);
    }
    return -1;
  }
  int wait_leader(std::chrono::seconds within = std::chrono::seconds(30)) const {
    auto until = std::chrono::steady_clock::now() + within;
    int l;
    while ((l = leader()) < 0 && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    return l;
  }
  void stop_all() {
    for (auto& m : members_) m->stop();
  }
  bool start_all() {
    for (auto& m : members_) m->spawn();
    bool ok = true;
    for (auto& m : members_) ok = m->wait_ready() && ok;
    return ok;
  }

 private:
  std::vector<std::unique_ptr<EtcdServer>> members_;
  bool ok_ = true;
};

// A client of every member of c, failing over between them.
inline std::shared_ptr<etcd::Client> client_for(const EtcdCluster& c) {
  etcd::ClientOptions o;
  o.endpoints = c.endpoints();
  return std::make_shared<etcd::Client>(o);
}

// A client of s over plain http (the tests of what uses one).
inline std::shared_ptr<etcd::Client> client_for(const EtcdServer& s) {
  etcd::ClientOptions o;
  o.endpoints = {{"127.0.0.1", s.port()}};
  return std::make_shared<etcd::Client>(o);
}

}  // namespace zeroseg::testing
