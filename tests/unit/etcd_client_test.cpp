// SPDX-License-Identifier: Apache-2.0
// The etcd client against a real etcd (tests/etcd_server.h).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "etcd_server.h"
#include "sources/etcd_client.h"

namespace zeroseg::etcd {
namespace {

using namespace std::chrono_literals;
using zeroseg::testing::EtcdServer;
using zeroseg::testing::free_port;

TEST(EtcdBase64, RoundTripsEveryByteAndRefusesJunk) {
  std::string all;
  for (int i = 0; i < 256; i++) all += char(i);
  for (size_t n = 0; n <= all.size(); n += 37) {
    auto back = base64_decode(base64_encode(all.substr(0, n)));
    ASSERT_TRUE(back);
    EXPECT_EQ(*back, all.substr(0, n));
  }
  EXPECT_EQ(base64_encode("ab"), "YWI=");
  EXPECT_EQ(base64_encode("abc"), "YWJj");
  EXPECT_FALSE(base64_decode("YWI"));      // not a multiple of 4
  EXPECT_FALSE(base64_decode("Y=Ij"));     // padding inside
  EXPECT_FALSE(base64_decode("YW!j"));     // not of the alphabet
  EXPECT_FALSE(base64_decode(std::string("YW\0j", 4)));
}

TEST(EtcdUrl, ParsesEndpointsAndNamesWhatIsWrong) {
  std::string error;
  auto e = parse_cluster_url("etcd://10.0.0.1:2379,h2:32379,[::1]:1", error);
  ASSERT_TRUE(e) << error;
  ASSERT_EQ(e->size(), 3u);
  EXPECT_EQ((*e)[0].str(), "10.0.0.1:2379");
  EXPECT_EQ((*e)[1].port, 32379);
  EXPECT_EQ((*e)[2].host, "::1");
  EXPECT_FALSE(parse_cluster_url("etcd://h:0", error));
  EXPECT_NE(error.find("'h:0'"), std::string::npos) << error;
  EXPECT_FALSE(parse_cluster_url("etcd://h:2379,", error));
  EXPECT_FALSE(parse_cluster_url("etcd://h:99999", error));
  EXPECT_FALSE(parse_cluster_url("http://h:2379", error));
  EXPECT_EQ(prefix_end("/a/"), "/a0");
  EXPECT_EQ(prefix_end(std::string("a\xff")), "b");
}

ClientOptions options_for(const EtcdServer& s) {
  ClientOptions o;
  o.endpoints = {{"127.0.0.1", s.port()}};
  return o;
}

TEST(EtcdClient, PutRangeDeleteAndTransactions) {
  ZS_REQUIRE_ETCD();
  EtcdServer etcd;
  ASSERT_TRUE(etcd.running());
  Client c(options_for(etcd));
  auto r1 = c.put("/t/a", std::string("one\0two", 7));
  ASSERT_TRUE(r1) << r1.error();
  ASSERT_TRUE(c.put("/t/b", "2"));
  ASSERT_TRUE(c.put("/u", "outside"));
  auto all = c.range_prefix("/t/");
  ASSERT_TRUE(all) << all.error();
  ASSERT_EQ(all->kvs.size(), 2u);
  EXPECT_EQ(all->kvs[0].value, std::string("one\0two", 7));  // bytes, not text
  EXPECT_EQ(all->kvs[0].mod_revision, *r1);
  EXPECT_GE(all->revision, *r1);

  // compare-and-swap: create only when absent, the second attempt sees the first
  Txn create{{Compare::absent("/t/new")}, {Op::put("/t/new", "first")}, {Op::get("/t/new")}};
  auto t1 = c.txn(create);
  ASSERT_TRUE(t1) << t1.error();
  EXPECT_TRUE(t1->succeeded);
  create.success = {Op::put("/t/new", "second")};
  auto t2 = c.txn(create);
  ASSERT_TRUE(t2) << t2.error();
  EXPECT_FALSE(t2->succeeded);
  ASSERT_EQ(t2->ranges.size(), 1u);
  ASSERT_EQ(t2->ranges[0].kvs.size(), 1u);
  EXPECT_EQ(t2->ranges[0].kvs[0].value, "first");

  auto d = c.del("/t/", prefix_end("/t/"));
  ASSERT_TRUE(d) << d.error();
  EXPECT_EQ(*d, 3);
  EXPECT_TRUE(c.range_prefix("/t/")->kvs.empty());
  EXPECT_EQ(c.range("/u")->kvs.size(), 1u);
}

TEST(EtcdClient, LeasedKeysGoWithTheirLease) {
  ZS_REQUIRE_ETCD();
  EtcdServer etcd;
  Client c(options_for(etcd));
  auto lease = c.lease_grant(30);
  ASSERT_TRUE(lease) << lease.error();
  ASSERT_GT(*lease, 0);
  ASSERT_TRUE(c.put("/node/a", "alive", *lease));
  auto ttl = c.lease_keepalive(*lease);
  ASSERT_TRUE(ttl) << ttl.error();
  EXPECT_GT(*ttl, 0);
  auto left = c.lease_time_to_live(*lease);
  ASSERT_TRUE(left) << left.error();
  EXPECT_GT(*left, 0);
  EXPECT_LE(*left, 30);
  EXPECT_EQ(c.range("/node/a")->kvs.at(0).lease, *lease);
  ASSERT_TRUE(c.lease_revoke(*lease));
  EXPECT_TRUE(c.range("/node/a")->kvs.empty());
  auto gone = c.lease_keepalive(*lease);
  ASSERT_TRUE(gone) << gone.error();
  EXPECT_EQ(*gone, 0);  // the lease is no more
  EXPECT_EQ(*c.lease_time_to_live(*lease), -1);
  EXPECT_FALSE(c.put("/node/b", "x", *lease));  // etcd refuses a put with a dead lease
}

TEST(EtcdClient, WatchSeesOneTransactionAsOneRevisionAndStops) {
  ZS_REQUIRE_ETCD();
  EtcdServer etcd;
  Client writer(options_for(etcd));
  Client watcher(options_for(etcd));
  auto start = writer.put("/w/before", "x");
  ASSERT_TRUE(start);
  std::vector<WatchBatch> seen;
  std::mutex mu;
  std::atomic<bool> done{false};
  Result<int64_t> ended = Result<int64_t>::failure("not run");
  std::thread t([&] {
    ended = watcher.watch("/w/", prefix_end("/w/"), *start, [&](const WatchBatch& b) {
      std::lock_guard lock(mu);
      seen.push_back(b);
      return true;
    }, 30s);
    done = true;
  });
  auto tx = writer.txn({{}, {Op::put("/w/a", "1"), Op::put("/w/b", "2"), Op::put("/other", "3")}, {}});
  ASSERT_TRUE(tx && tx->succeeded);
  ASSERT_TRUE(writer.del("/w/a"));
  for (int i = 0; i < 100; i++) {
    {
      std::lock_guard lock(mu);
      size_t events = 0;
      for (const auto& b : seen) events += b.events.size();
      if (events >= 4) break;
    }
    std::this_thread::sleep_for(50ms);
  }
  watcher.stop();  // ends the stream long before its 30 s idle
  t.join();
  ASSERT_TRUE(ended) << ended.error();
  std::lock_guard lock(mu);
  std::vector<Event> events;
  for (const auto& b : seen)
    for (const auto& e : b.events) events.push_back(e);
  ASSERT_EQ(events.size(), 4u);  // the start revision's put, the txn's two, the delete; not /other
  EXPECT_EQ(events[0].kv.key, "/w/before");
  EXPECT_EQ(events[1].kv.key, "/w/a");
  EXPECT_EQ(events[2].kv.key, "/w/b");
  EXPECT_EQ(events[1].kv.mod_revision, tx->revision);
  EXPECT_EQ(events[2].kv.mod_revision, tx->revision);
  EXPECT_EQ(events[3].type, Event::Type::del);
  EXPECT_EQ(events[3].kv.key, "/w/a");
  EXPECT_EQ(*ended, events[3].kv.mod_revision + 1);
}

TEST(EtcdClient, AnUnreachableEtcdIsAnErrorValueInBoundedTime) {
  ClientOptions o;
  o.endpoints = {{"127.0.0.1", free_port()}};
  o.connect_timeout = 500ms;
  Client c(o);
  auto t0 = std::chrono::steady_clock::now();
  auto r = c.range("/x");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().find("etcd unreachable"), std::string::npos) << r.error();
  auto w = c.watch("/x", "", 1, [](const WatchBatch&) { return true; }, 1s);
  EXPECT_FALSE(w);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 10s);
}

TEST(EtcdClient, TriesTheNextEndpoint) {
  ZS_REQUIRE_ETCD();
  EtcdServer etcd;
  ClientOptions o = options_for(etcd);
  o.endpoints.insert(o.endpoints.begin(), Endpoint{"127.0.0.1", free_port()});
  Client c(o);
  auto r = c.put("/k", "v");
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(c.range("/k")->kvs.at(0).value, "v");
}

// Mutual TLS, as etcd deployments run it: the server checked against the
// CA, this node known by its client certificate; without either, an error
// value (never an exception, never plain http).
TEST(EtcdClient, MutualTls) {
  ZS_REQUIRE_ETCD();
  EtcdServer etcd(true);
  ASSERT_TRUE(etcd.running()) << "etcd with TLS did not start (see " << etcd.dir() << ")";
  ClientOptions o = options_for(etcd);
  o.ca = etcd.ca();
  o.cert = etcd.client_cert();
  o.key = etcd.client_key();
  {
    Client c(o);
    auto put = c.put("/tls", "yes");
    ASSERT_TRUE(put) << put.error();
    EXPECT_EQ(c.range("/tls")->kvs.at(0).value, "yes");
    std::atomic<int> events{0};
    std::thread t([&] {
      auto w = c.watch("/tls", "", *put, [&](const WatchBatch& b) {
        events += static_cast<int>(b.events.size());
        return false;  // the first message is enough
      }, 5s);
      EXPECT_TRUE(w) << w.error();
    });
    t.join();
    EXPECT_EQ(events.load(), 1);
  }
  ClientOptions no_cert = o;
  no_cert.cert.clear();
  no_cert.key.clear();
  auto asked = Client(no_cert).range("/tls");  // etcd asks for a client certificate
  ASSERT_FALSE(asked);
  // the error says what to set, not that a certificate never given was refused
  EXPECT_NE(asked.error().find("none is set: give --etcd-cert and --etcd-key"), std::string::npos) << asked.error();
  ClientOptions plain = options_for(etcd);
  EXPECT_FALSE(Client(plain).range("/tls"));  // no http on a TLS etcd
  ClientOptions wrong_ca = o;
  wrong_ca.ca = etcd.client_cert();  // not the CA that signed the server
  auto r = Client(wrong_ca).range("/tls");
  EXPECT_FALSE(r);
}

}  // namespace
}  // namespace zeroseg::etcd
