// SPDX-License-Identifier: Apache-2.0
// The request waiter on its own (api/request_waiter.h): what it holds
// while its thread cannot run.
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "api/request_waiter.h"
#include "common/handles.h"

namespace zeroseg {
namespace {

using namespace std::chrono_literals;

struct Pair {
  UniqueFd client, server;
};

Pair socket_pair() {
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds)) ADD_FAILURE() << "socketpair";
  return {UniqueFd(fds[0]), UniqueFd(fds[1])};
}

// The waiter's thread took parked connections in and closed the oldest
// past its capacity; parked faster than it ran (a burst on a busy
// machine), they piled up without bound, each holding a descriptor. Here
// its thread is held in the hand-off of a request that arrived, and 20
// idle connections are parked behind it: all but 4 are answered and
// closed at once.
TEST(RequestWaiter, ParkedConnectionsAreBoundedWhileItsThreadIsBusy) {
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<int> handed{0};
  std::vector<api::ReadyConnection> ready;
  const api::WaitLimits limits{.capacity = 4, .max_head = 1024, .max_body = 0, .timeout = 10s};
  api::RequestWaiter waiter(limits, [&](api::ReadyConnection conn) {
    ready.push_back(std::move(conn));
    if (handed++ == 0) released.wait();
  });

  Pair first = socket_pair();
  const std::string request = "GET / HTTP/1.1\r\n\r\n";
  ASSERT_EQ(send(first.client.get(), request.data(), request.size(), 0), static_cast<ssize_t>(request.size()));
  waiter.park(std::move(first.server), std::chrono::steady_clock::now());
  for (auto start = std::chrono::steady_clock::now(); handed == 0 && std::chrono::steady_clock::now() - start < 5s;)
    std::this_thread::sleep_for(5ms);
  ASSERT_EQ(handed, 1) << "the waiter did not hand on a request that had arrived";

  std::vector<UniqueFd> idle;
  for (int i = 0; i < 20; i++) {
    Pair p = socket_pair();
    waiter.park(std::move(p.server), std::chrono::steady_clock::now());
    idle.push_back(std::move(p.client));
  }
  int answered = 0;
  for (size_t i = 0; i < idle.size(); i++) {
    char buf[512];
    ssize_t n = recv(idle[i].get(), buf, sizeof(buf), MSG_DONTWAIT);
    if (n < 0) continue;  // still held
    answered++;
    EXPECT_EQ(std::string(buf, static_cast<size_t>(n)).substr(0, 12), "HTTP/1.1 503") << "connection " << i;
    EXPECT_LT(i, 16u) << "one of the 4 newest was closed: the oldest go first";
  }
  EXPECT_EQ(answered, 16) << "parked connections held past the waiter's capacity while its thread was busy";
  release.set_value();
  waiter.stop();
  EXPECT_EQ(handed, 1);
}

}  // namespace
}  // namespace zeroseg
