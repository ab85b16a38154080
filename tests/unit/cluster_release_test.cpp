// SPDX-License-Identifier: Apache-2.0
// Identities released cluster-wide (sources/cluster_identities.h): a number
// no node uses is gone after the grace; one node's use keeps it; a dead
// node's uses go with its lease. Against a real etcd, two allocators as two nodes.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "etcd_server.h"
#include "sources/cluster_identities.h"

namespace zeroseg {
namespace {

using namespace std::chrono_literals;
using zeroseg::testing::EtcdServer;
using zeroseg::testing::client_for;

constexpr int64_t kGrace = 600;  // seconds; the sweeps below pass "now" explicitly

struct Node {
  Node(std::shared_ptr<etcd::Client> c, const std::string& name, int64_t ttl) : client(c), ids(c) {
    ids.set_node(name);
    auto l = client->lease_grant(ttl);
    EXPECT_TRUE(l) << l.error();
    lease = l ? *l : 0;
    EXPECT_TRUE(ids.set_lease(lease));
  }
  std::shared_ptr<etcd::Client> client;
  EtcdIdentityAllocator ids;
  int64_t lease = 0;
};

bool numbered(etcd::Client& c, const EtcdIdentityAllocator& ids, const Labels& l) {
  auto r = c.range(ids.key_path(l));
  return r && !r->kvs.empty();
}

TEST(ClusterIdentityRelease, UnusedIsGoneAfterTheGraceAndNeverNumbersAnotherSet) {
  ZS_REQUIRE_ETCD();
  EtcdServer etcd;
  auto client = client_for(etcd);
  Node a(client, "node-a", 60);
  Labels web = {{"app", "web"}};
  uint32_t n = a.ids.allocate(web);
  ASSERT_TRUE(a.ids.report_usage({n}));
  ASSERT_TRUE(a.ids.sweep(kGrace, 100));
  auto none = a.ids.sweep(kGrace, 100 + 10 * kGrace);
  ASSERT_TRUE(none) << none.error();
  EXPECT_TRUE(none->empty()) << "released while node-a uses it";
  EXPECT_TRUE(numbered(*client, a.ids, web));
  ASSERT_TRUE(a.ids.report_usage({}));  // node-a stops using it
  ASSERT_TRUE(a.ids.sweep(kGrace, 1000));  // marked unused at 1000
  auto early = a.ids.sweep(kGrace, 1000 + kGrace - 1);
  ASSERT_TRUE(early);
  EXPECT_TRUE(early->empty()) << "released before the grace ended";
  EXPECT_TRUE(numbered(*client, a.ids, web));
  auto late = a.ids.sweep(kGrace, 1000 + kGrace);
  ASSERT_TRUE(late) << late.error();
  EXPECT_EQ(*late, std::vector<uint32_t>{n});
  EXPECT_FALSE(numbered(*client, a.ids, web));
  EXPECT_TRUE(client->range("/zeroseg/v1/identities/by-id/" + std::to_string(n))->kvs.empty());
  // the label set back: a new number (numbers are never handed out twice)
  EXPECT_NE(a.ids.allocate(web), n);
}

TEST(ClusterIdentityRelease, OneNodesUseKeepsItAndAUseDuringTheGraceCancelsTheRelease) {
  ZS_REQUIRE_ETCD();
  EtcdServer etcd;
  auto client = client_for(etcd);
  Node a(client, "node-a", 60), b(client, "node-b", 60);
  Labels db = {{"app", "db"}};
  uint32_t n = a.ids.allocate(db);
  ASSERT_EQ(b.ids.allocate(db), n);
  ASSERT_TRUE(a.ids.report_usage({}));  // node-a is done with it, node-b is not
  ASSERT_TRUE(a.ids.sweep(kGrace, 1000));
  auto kept = a.ids.sweep(kGrace, 1000 + 10 * kGrace);
  ASSERT_TRUE(kept) << kept.error();
  EXPECT_TRUE(kept->empty()) << "released while node-b uses it";
  EXPECT_TRUE(numbered(*client, a.ids, db));
  // node-b stops; marked; node-a takes it again within the grace: kept
  ASSERT_TRUE(b.ids.report_usage({}));
  ASSERT_TRUE(b.ids.sweep(kGrace, 2000));
  EXPECT_EQ(a.ids.allocate(db), n);
  auto again = b.ids.sweep(kGrace, 2000 + kGrace);
  ASSERT_TRUE(again);
  EXPECT_TRUE(again->empty()) << "released though node-a took it again during the grace";
  EXPECT_TRUE(numbered(*client, a.ids, db));
}

TEST(ClusterIdentityRelease, ADeadNodesUsesExpireWithItsLease) {
  ZS_REQUIRE_ETCD();
  EtcdServer etcd;
  auto client = client_for(etcd);
  Node a(client, "node-a", 60), b(client, "node-b", 3);
  Labels job = {{"app", "job"}};
  uint32_t n = b.ids.allocate(job);
  ASSERT_TRUE(b.ids.report_usage({n}));
  // node-b dies: nothing keeps its 3 s lease alive
  const std::string used = "/zeroseg/v1/identities/used-by/" + std::to_string(n) + "/node-b";
  ASSERT_EQ(client->range(used)->kvs.size(), 1u) << "node-b's use was not written";
  EXPECT_EQ(client->range(used)->kvs[0].lease, b.lease);
  ASSERT_TRUE(a.ids.sweep(kGrace, 100));
  ASSERT_TRUE(a.ids.sweep(kGrace, 100 + 10 * kGrace)->empty()) << "released while node-b lives and uses it";
  bool gone = false;
  for (int i = 0; i < 200 && !gone; i++) {
    std::this_thread::sleep_for(100ms);
    gone = client->range(used)->kvs.empty();
  }
  ASSERT_TRUE(gone) << "node-b's use outlived its lease";
  ASSERT_TRUE(a.ids.sweep(kGrace, 5000));
  auto released = a.ids.sweep(kGrace, 5000 + kGrace);
  ASSERT_TRUE(released) << released.error();
  EXPECT_EQ(*released, std::vector<uint32_t>{n});
  EXPECT_FALSE(numbered(*client, a.ids, job));
}

// A node that uses more numbers than etcd takes operations in one
// transaction (--max-txn-ops, 128 by default): its uses are written again
// under a new lease, and reported, in as many transactions as it takes. In
// one, etcd refused them all ("too many operations in txn request"): the
// lease's grant failed and was given back every second (the node never
// joined), and a report that dropped them failed at every beat.
TEST(ClusterIdentityRelease, UsesBeyondOneTransactionAreWrittenAndDropped) {
  ZS_REQUIRE_ETCD();
  EtcdServer etcd;
  auto client = client_for(etcd);
  EtcdIdentityAllocator ids(client);
  ids.set_node("node-a");  // numbered before the lease, as at an agent's start
  std::set<uint32_t> numbers;
  for (int i = 0; i < 200; i++) numbers.insert(ids.allocate({{"app", "w" + std::to_string(i)}}));
  ASSERT_EQ(numbers.size(), 200u);
  auto lease = client->lease_grant(60);
  ASSERT_TRUE(lease) << lease.error();
  auto written = ids.set_lease(*lease);
  ASSERT_TRUE(written) << written.error();
  const std::string used = "/zeroseg/v1/identities/used-by/";
  auto uses = client->range(used, etcd::prefix_end(used));
  ASSERT_TRUE(uses) << uses.error();
  ASSERT_EQ(uses->kvs.size(), 200u);
  for (const auto& kv : uses->kvs) EXPECT_EQ(kv.lease, *lease) << kv.key;
  ASSERT_TRUE(ids.report_usage(numbers));  // all reported already: nothing to write
  auto dropped = ids.report_usage({});
  ASSERT_TRUE(dropped) << dropped.error();
  EXPECT_TRUE(client->range(used, etcd::prefix_end(used))->kvs.empty());
  auto again = ids.report_usage(numbers);
  ASSERT_TRUE(again) << again.error();
  EXPECT_EQ(client->range(used, etcd::prefix_end(used))->kvs.size(), 200u);
}

// `zeroseg cluster status`'s table: every number etcd holds, its labels, the
// nodes using it, and since when a release is pending; a dead node's uses
// leave it with its lease.
TEST(ClusterIdentityRelease, TheTableListsNumbersLabelsUsersAndPendingReleases) {
  ZS_REQUIRE_ETCD();
  EtcdServer etcd;
  auto client = client_for(etcd);
  Node a(client, "node-a", 60), b(client, "node-b", 3);
  Labels web = {{"app", "web"}}, db = {{"app", "db"}}, job = {{"app", "job"}};
  uint32_t w = a.ids.allocate(web), d = a.ids.allocate(db), j = b.ids.allocate(job);
  ASSERT_EQ(b.ids.allocate(web), w);
  ASSERT_TRUE(a.ids.report_usage({w, d}));  // the numbers handed out since the last report: kept by the first
  ASSERT_TRUE(a.ids.report_usage({w}));     // node-a is done with db
  ASSERT_TRUE(a.ids.sweep(kGrace, 1234));  // db marked at 1234
  auto table = list_cluster_identities(*client);
  ASSERT_TRUE(table) << table.error();
  ASSERT_EQ(table->size(), 3u);
  std::map<uint32_t, ClusterIdentity> by;
  for (const auto& id : *table) by[id.number] = id;
  EXPECT_EQ(by[w].labels, web);
  EXPECT_EQ(by[w].nodes, (std::vector<std::string>{"node-a", "node-b"}));
  EXPECT_EQ(by[w].unused_since, 0);
  EXPECT_EQ(by[d].labels, db);
  EXPECT_TRUE(by[d].nodes.empty());
  EXPECT_EQ(by[d].unused_since, 1234) << "db's pending release not shown";
  EXPECT_EQ(by[j].nodes, std::vector<std::string>{"node-b"});
  // node-b dies: its uses go with its 3 s lease, web stays node-a's
  bool gone = false;
  for (int i = 0; i < 200 && !gone; i++) {
    std::this_thread::sleep_for(100ms);
    auto t = list_cluster_identities(*client);
    ASSERT_TRUE(t) << t.error();
    gone = true;
    for (const auto& id : *t) {
      if (id.number == j) gone = id.nodes.empty();
    }
  }
  EXPECT_TRUE(gone) << "node-b's use of job outlived its lease";
  table = list_cluster_identities(*client);
  ASSERT_TRUE(table);
  for (const auto& id : *table) {
    if (id.number == w) {
      EXPECT_EQ(id.nodes, std::vector<std::string>{"node-a"});
    }
  }
  // etcd unreachable: an error, not an empty table
  etcd.stop();
  auto down = list_cluster_identities(*client);
  EXPECT_FALSE(down) << "an unreachable etcd read as no identities";
}

}  // namespace
}  // namespace zeroseg
