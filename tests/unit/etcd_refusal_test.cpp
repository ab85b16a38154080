// SPDX-License-Identifier: Apache-2.0
// etcd refusing a request, against a real etcd: the gateway's error reply
// ends in a trailer (Grpc-Trailer-Content-Type after the last chunk), which
// cpp-httplib 0.11 reads as a broken connection. A refusal must read as
// etcd's own reason and code, and only a connection that really failed as
// an outage (newcomer5: other refusals read as "etcd unreachable").
#include <gtest/gtest.h>

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <string>
#include <thread>

#include "etcd_server.h"
#include "sources/cluster_store.h"

namespace zeroseg {
namespace {

using namespace std::chrono_literals;
using zeroseg::testing::client_for;
using zeroseg::testing::EtcdServer;

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// limits low enough to reach in a test: 2 operations a transaction, 64 KiB a request
std::vector<std::string> low_limits() { return {"--max-txn-ops=2", "--max-request-bytes=65536"}; }

TEST(EtcdRefusal, ARefusedRequestSaysEtcdsReasonAndCodeNotUnreachable) {
  ZS_REQUIRE_ETCD();
  EtcdServer etcd(false, low_limits());
  ASSERT_TRUE(etcd.running());
  auto client = client_for(etcd);

  etcd::Txn three;  // one more than --max-txn-ops
  for (int i = 0; i < 3; i++) three.success.push_back(etcd::Op::get("/k" + std::to_string(i)));
  auto txn = client->txn(three);
  ASSERT_FALSE(txn);
  EXPECT_TRUE(has(txn.error(), "etcdserver: too many operations in txn request")) << txn.error();
  EXPECT_TRUE(has(txn.error(), "code 3, InvalidArgument")) << txn.error();
  EXPECT_FALSE(has(txn.error(), "unreachable")) << txn.error();
  EXPECT_TRUE(txn.refused());

  auto big = client->put("/big", std::string(100 * 1024, 'x'));  // over --max-request-bytes
  ASSERT_FALSE(big);
  EXPECT_TRUE(has(big.error(), "etcdserver: request is too large")) << big.error();
  EXPECT_FALSE(has(big.error(), "unreachable")) << big.error();
  EXPECT_TRUE(big.refused());

  auto first = client->put("/k", "1");
  ASSERT_TRUE(first) << first.error();
  auto second = client->put("/k", "2");
  ASSERT_TRUE(second) << second.error();
  ASSERT_TRUE(client->compact(*second)) << "compaction";
  auto old = client->range("/k", "", *first);  // a revision compacted away
  ASSERT_FALSE(old);
  EXPECT_TRUE(has(old.error(), "required revision has been compacted")) << old.error();
  EXPECT_TRUE(has(old.error(), "code 11, OutOfRange")) << old.error();
  EXPECT_FALSE(has(old.error(), "unreachable")) << old.error();
  EXPECT_TRUE(old.refused());

  // what etcd accepts still works, and a gone etcd is still unreachable
  ASSERT_TRUE(client->put("/small", "x"));
  etcd.stop();
  auto gone = client->put("/small", "y");
  ASSERT_FALSE(gone);
  EXPECT_TRUE(has(gone.error(), "etcd unreachable")) << gone.error();
  EXPECT_FALSE(gone.refused());
}

// The watcher's list is one transaction of its three prefixes: an etcd with
// --max-txn-ops=2 refuses it. That is etcd answering, not an outage: no
// outage start (status, metrics: OUTAGE since), the reason etcd gave. Once
// etcd really goes away, the outage is declared.
TEST(EtcdRefusal, ARefusedListIsReportedAsSuchAndDeclaresNoOutage) {
  ZS_REQUIRE_ETCD();
  EtcdServer etcd(false, low_limits());
  ASSERT_TRUE(etcd.running());
  ClusterWatcher w(client_for(etcd), ClusterKeys("node-b"),
                   {[](const ObjectSet&, int64_t) {}, [](const ObjectSet&, const ObjectSet&, int64_t) {}});
  w.start();
  for (int i = 0; i < 200 && w.status().last_error.empty(); i++) std::this_thread::sleep_for(50ms);
  WatchStatus refused = w.status();
  EXPECT_TRUE(has(refused.last_error, "too many operations in txn request")) << refused.last_error;
  EXPECT_FALSE(has(refused.last_error, "unreachable")) << refused.last_error;
  EXPECT_EQ(refused.outage_since_ns, 0) << "a refusal declared an outage";
  EXPECT_TRUE(refused.refused);
  EXPECT_FALSE(refused.connected);  // it does not follow the store

  etcd.stop();
  for (int i = 0; i < 200 && !has(w.status().last_error, "unreachable"); i++) std::this_thread::sleep_for(50ms);
  WatchStatus down = w.status();
  EXPECT_TRUE(has(down.last_error, "etcd unreachable")) << down.last_error;
  EXPECT_GT(down.outage_since_ns, 0);
  EXPECT_FALSE(down.refused);
  w.stop();
}

// A member that is not etcd, or not an honest one (attack14): one thread
// that answers every connection with what `reply` writes on its socket.
class FakeMember {
 public:
  explicit FakeMember(std::function<void(int)> reply) : reply_(std::move(reply)) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(fd_, 8) != 0 ||
        getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0)
      return;
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~FakeMember() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    close(fd_);
  }
  int port() const { return port_; }
  bool stopping() const { return stop_; }

 private:
  void serve() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      int c = accept(fd_, nullptr, nullptr);
      if (c < 0) continue;
      std::string req;  // the request's headers (its body is not read: the reply does not need it)
      char buf[4096];
      while (req.find("\r\n\r\n") == std::string::npos) {
        pollfd q{c, POLLIN, 0};
        if (poll(&q, 1, 1000) <= 0) break;
        ssize_t n = recv(c, buf, sizeof buf, 0);
        if (n <= 0) break;
        req.append(buf, size_t(n));
      }
      reply_(c);
      close(c);
    }
  }
  std::function<void(int)> reply_;
  int fd_ = -1, port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

bool send_all(int fd, const std::string& text) {
  return send(fd, text.data(), text.size(), MSG_NOSIGNAL) == ssize_t(text.size());
}

std::string reply_of(const std::string& status, const std::string& body) {
  return "HTTP/1.1 " + status + "\r\nContent-Type: text/html\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\nConnection: close\r\n\r\n" + body;
}

etcd::ClientOptions options_for(std::vector<int> ports) {
  etcd::ClientOptions o;
  for (int p : ports) o.endpoints.push_back({"127.0.0.1", p});
  o.connect_timeout = 500ms;
  o.request_timeout = 500ms;
  return o;
}

// A proxy's error page (a load balancer in front of etcd answering 503 while
// etcd is down) read as etcd's refusal: the next member was not asked, and
// the watcher, taking it for etcd's word, never declared the outage.
TEST(EtcdRefusal, AnErrorReplyThatIsNotEtcdsIsAMemberNotAnsweringNotARefusal) {
  for (std::string body : {std::string("<html><body>503 Service Unavailable</body></html>"),
                           std::string("{\"error\":\"x\",\"code\":3,\"message\":\"x\"}trailing\x01bytes")}) {
    FakeMember proxy([&](int c) { send_all(c, reply_of("503 Service Unavailable", body)); });
    ASSERT_GT(proxy.port(), 0);
    etcd::Client client(options_for({proxy.port()}));
    auto r = client.put("/k", "v");
    ASSERT_FALSE(r);
    EXPECT_FALSE(r.refused()) << r.error();
    EXPECT_TRUE(has(r.error(), "etcd unreachable")) << r.error();
    EXPECT_TRUE(has(r.error(), "HTTP 503")) << r.error();
    EXPECT_FALSE(has(r.error(), "\x01")) << "a reply's control bytes in a message";

    ClusterWatcher w(std::make_shared<etcd::Client>(options_for({proxy.port()})), ClusterKeys("node-b"),
                     {[](const ObjectSet&, int64_t) {}, [](const ObjectSet&, const ObjectSet&, int64_t) {}});
    w.start();
    for (int i = 0; i < 200 && w.status().outage_since_ns == 0; i++) std::this_thread::sleep_for(50ms);
    WatchStatus st = w.status();
    EXPECT_GT(st.outage_since_ns, 0) << "no outage behind an error page: " << st.last_error;
    EXPECT_FALSE(st.refused);
    w.stop();
  }
}

TEST(EtcdRefusal, AfterAnErrorPageTheNextMemberIsAsked) {
  ZS_REQUIRE_ETCD();
  EtcdServer etcd;
  ASSERT_TRUE(etcd.running());
  FakeMember proxy([](int c) { send_all(c, reply_of("502 Bad Gateway", "bad gateway")); });
  etcd::Client client(options_for({proxy.port(), etcd.port()}));
  auto r = client.put("/k", "v");
  EXPECT_TRUE(r) << r.error();
}

// httplib's read timeout is per read: a member that trickles its reply (or
// its headers) a byte at a time held the call for ever, and with it the
// watcher's thread, so no outage was ever declared.
TEST(EtcdRefusal, AMemberThatTricklesItsReplyIsCutOffAtTheDeadline) {
  for (bool in_headers : {false, true}) {
    FakeMember* self = nullptr;
    FakeMember slow([&](int c) {
      if (!send_all(c, in_headers ? "HTTP/1.1 200 OK\r\n" : "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n"))
        return;
      while (!self->stopping() && send_all(c, in_headers ? "X-Slow: 1\r\n" : "{")) std::this_thread::sleep_for(50ms);
    });
    self = &slow;
    etcd::Client client(options_for({slow.port()}));
    auto call = std::async(std::launch::async, [&] { return client.put("/k", "v"); });
    // (the deadline is 1 s; a minute is only the bound of a test that must end)
    ASSERT_EQ(call.wait_for(60s), std::future_status::ready) << "the call is still waiting on a trickle";
    auto r = call.get();
    ASSERT_FALSE(r);
    EXPECT_FALSE(r.refused());
    EXPECT_TRUE(has(r.error(), "no whole reply within 1000 ms")) << r.error();
  }
}

TEST(EtcdRefusal, AReplyOverTheBoundIsCutOffNotHeld) {
  std::string huge = "{\"header\":{\"revision\":\"1\"},\"pad\":\"" + std::string(1 << 20, 'x') + "\"}";
  FakeMember big([&](int c) { send_all(c, reply_of("200 OK", huge)); });
  auto o = options_for({big.port()});
  o.max_reply_bytes = 64 << 10;
  etcd::Client client(o);
  auto r = client.put("/k", "v");
  ASSERT_FALSE(r);
  EXPECT_TRUE(has(r.error(), "a reply over 65536 bytes")) << r.error();

  // a watch's message without its end, the same
  FakeMember endless([&](int c) {
    send_all(c, "HTTP/1.1 200 OK\r\nContent-Length: 10000000\r\n\r\n{\"result\":");
    std::string chunk(16 << 10, 'x');
    for (int i = 0; i < 32 && send_all(c, chunk); i++) {
    }
  });
  auto wo = options_for({endless.port()});
  wo.max_reply_bytes = 64 << 10;
  etcd::Client watcher(wo);
  auto w = watcher.watch("/a", "", 0, [](const etcd::WatchBatch&) { return true; }, 2000ms);
  ASSERT_FALSE(w);
  EXPECT_TRUE(has(w.error(), "a message over 65536 bytes")) << w.error();
}

}  // namespace
}  // namespace zeroseg
