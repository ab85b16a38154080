// SPDX-License-Identifier: Apache-2.0
// etcd refusing a request, against a real etcd: the gateway's error reply
// ends in a trailer (Grpc-Trailer-Content-Type after the last chunk), which
// cpp-httplib 0.11 reads as a broken connection. A refusal must read as
// etcd's own reason and code, and only a connection that really failed as
// an outage (newcomer5: other refusals read as "etcd unreachable").
#include <gtest/gtest.h>

#include <chrono>
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

}  // namespace
}  // namespace zeroseg
