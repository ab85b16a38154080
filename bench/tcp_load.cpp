// SPDX-License-Identifier: Apache-2.0
// Small TCP load for bench/run.sh (Debian has no netperf):
//
//   tcp_load serve PORT
//     one epoll thread on [::] (IPv4 too): PORT echoes what it reads;
//     PORT+1 closes each connection right after accept, so the connect
//     loop measures open + close
//   tcp_load rr HOST PORT SECONDS
//     one connection, TCP_NODELAY, 1-byte request / 1-byte response in a
//     loop: prints {"transactions":N,"seconds":S,"mean_us":..,"p50_us":..,"p99_us":..}
//   tcp_load connect HOST PORT SECONDS
//     connect, wait for the server's close, close; in a loop: prints
//     {"connections":N,"seconds":S,"per_sec":..,"failed":N}
//
// Loops are bounded in time (and the connect loop in count); addresses are
// the test's own namespaces.
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
constexpr uint64_t kMaxConnections = 5'000'000;

int die(const char* what) {
  std::fprintf(stderr, "tcp_load: %s: %s\n", what, std::strerror(errno));
  return 1;
}

int listen_on(int port) {
  int ls = socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK, 0);
  if (ls < 0) return -1;
  int one = 1, zero = 0;
  setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  setsockopt(ls, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  a.sin6_port = htons(static_cast<uint16_t>(port));
  a.sin6_addr = in6addr_any;
  if (bind(ls, reinterpret_cast<sockaddr*>(&a), sizeof a) || listen(ls, 4096)) {
    close(ls);
    return -1;
  }
  return ls;
}

int serve(int port) {
  int echo = listen_on(port), closer = listen_on(port + 1);
  if (echo < 0 || closer < 0) return die("listen");
  int ep = epoll_create1(0), one = 1;
  for (int ls : {echo, closer}) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = ls;
    epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
  }
  std::vector<epoll_event> events(256);
  char buf[4096];
  for (;;) {
    int n = epoll_wait(ep, events.data(), static_cast<int>(events.size()), -1);
    for (int i = 0; i < n; i++) {
      int fd = events[i].data.fd;
      if (fd == closer) {
        for (int c; (c = accept4(closer, nullptr, nullptr, SOCK_NONBLOCK)) >= 0;) close(c);
        continue;
      }
      if (fd == echo) {
        for (int c; (c = accept4(echo, nullptr, nullptr, SOCK_NONBLOCK)) >= 0;) {
          setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          epoll_event cev{};
          cev.events = EPOLLIN;
          cev.data.fd = c;
          epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
        }
        continue;
      }
      ssize_t r = read(fd, buf, sizeof buf);
      if (r <= 0 && !(r < 0 && errno == EAGAIN)) {
        close(fd);
        continue;
      }
      if (r > 0 && write(fd, buf, static_cast<size_t>(r)) < 0) close(fd);
    }
  }
}

int connect_to(const char* host, const char* port) {
  addrinfo hints{}, *res = nullptr;
  hints.ai_socktype = SOCK_STREAM;
  if (getaddrinfo(host, port, &hints, &res) || !res) return -1;
  int fd = socket(res->ai_family, SOCK_STREAM, 0);
  if (fd >= 0 && connect(fd, res->ai_addr, res->ai_addrlen)) {
    close(fd);
    fd = -1;
  }
  freeaddrinfo(res);
  return fd;
}

int rr(const char* host, const char* port, double seconds) {
  int fd = connect_to(host, port);
  if (fd < 0) return die("connect");
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  std::vector<double> us;
  us.reserve(1 << 20);
  char c = 'x';
  const auto start = Clock::now();
  const auto end = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  for (auto t = start; t < end;) {
    if (write(fd, &c, 1) != 1 || read(fd, &c, 1) != 1) return die("request/response");
    auto now = Clock::now();
    us.push_back(std::chrono::duration<double, std::micro>(now - t).count());
    t = now;
  }
  close(fd);
  double total = std::chrono::duration<double>(Clock::now() - start).count(), sum = 0;
  for (double u : us) sum += u;
  std::sort(us.begin(), us.end());
  std::printf("{\"transactions\":%zu,\"seconds\":%.3f,\"mean_us\":%.2f,\"p50_us\":%.2f,\"p99_us\":%.2f}\n", us.size(),
              total, sum / static_cast<double>(us.size()), us[us.size() / 2], us[us.size() * 99 / 100]);
  return 0;
}

int connect_loop(const char* host, const char* port, double seconds) {
  uint64_t ok = 0, failed = 0;
  char c;
  const auto start = Clock::now();
  const auto end = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  while (Clock::now() < end && ok + failed < kMaxConnections) {
    int fd = connect_to(host, port);
    if (fd < 0) {
      failed++;
      continue;
    }
    // the server closes first: its side keeps the TIME_WAIT, ours no port
    if (read(fd, &c, 1) != 0) failed++;
    else ok++;
    close(fd);
  }
  double total = std::chrono::duration<double>(Clock::now() - start).count();
  std::printf("{\"connections\":%llu,\"seconds\":%.3f,\"per_sec\":%.0f,\"failed\":%llu}\n",
              static_cast<unsigned long long>(ok), total, static_cast<double>(ok) / total,
              static_cast<unsigned long long>(failed));
  return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "serve" && argc == 3) return serve(std::atoi(argv[2]));
  if (mode == "rr" && argc == 5) return rr(argv[2], argv[3], std::atof(argv[4]));
  if (mode == "connect" && argc == 5) return connect_loop(argv[2], argv[3], std::atof(argv[4]));
  std::fprintf(stderr, "usage: tcp_load serve PORT | rr HOST PORT SECONDS | connect HOST PORT SECONDS\n");
  return 2;
}
