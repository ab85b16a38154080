// SPDX-License-Identifier: Apache-2.0
// Identities numbered in a real etcd (tests/etcd_server.h).
#include <gtest/gtest.h>

#include <barrier>
#include <set>
#include <thread>

#include <httplib.h>

#include "common/error.h"
#include "etcd_server.h"
#include "sources/cluster_identities.h"
#include "sources/identity_mirror.h"

namespace zeroseg {
namespace {

using zeroseg::testing::EtcdServer;

using zeroseg::testing::client_for;

TEST(ClusterIdentities, SameLabelsSameNumberOnEveryNode) {
  ZS_REQUIRE_ETCD();
  EtcdServer etcd;
  EtcdIdentityAllocator a(client_for(etcd)), b(client_for(etcd));
  uint32_t web = a.allocate({{"app", "web"}});
  uint32_t db = a.allocate({{"app", "db"}});
  EXPECT_GE(web, uint32_t(ZS_ID_FIRST_ALLOCATED));
  EXPECT_NE(web, db);
  // another node, asking in the other order, gets the same numbers
  EXPECT_EQ(b.allocate({{"app", "db"}}), db);
  EXPECT_EQ(b.allocate({{"app", "web"}}), web);
  EXPECT_EQ(b.all().at(web), (Labels{{"app", "web"}}));
  // label text that looks like the key's own structure is another key
  uint32_t tricky = a.allocate({{"app", "web\napp=db"}});
  EXPECT_NE(tricky, web);
  EXPECT_NE(tricky, db);
  EXPECT_NE(a.allocate({{"app=web", ""}}), tricky);
  // the labels of a number are readable in etcd
  auto by_id = client_for(etcd)->range(std::string(kClusterIdentityPrefix) + "by-id/" + std::to_string(web));
  ASSERT_TRUE(by_id && by_id->kvs.size() == 1);
  EXPECT_EQ(by_id->kvs[0].value, R"({"app":"web"})");
}

// Two nodes number the same new label sets at the same instant, 100 times:
// one number each time, and no number for two label sets.
TEST(ClusterIdentities, ConcurrentAllocationEndsWithOneNumber) {
  ZS_REQUIRE_ETCD();
  EtcdServer etcd;
  constexpr int kRounds = 100;
  std::vector<uint32_t> shared[2], own[2];
  std::barrier sync(2);
  std::string errors[2];
  auto node = [&](int n) {
    try {
      EtcdIdentityAllocator alloc(client_for(etcd));
      for (int i = 0; i < kRounds; i++) {
        sync.arrive_and_wait();
        shared[n].push_back(alloc.allocate({{"round", std::to_string(i)}}));
        own[n].push_back(alloc.allocate({{"round", std::to_string(i)}, {"node", std::to_string(n)}}));
      }
    } catch (const Error& e) {
      errors[n] = e.what();
    }
  };
  std::thread t0(node, 0), t1(node, 1);
  t0.join();
  t1.join();
  ASSERT_EQ(errors[0], "");
  ASSERT_EQ(errors[1], "");
  ASSERT_EQ(shared[0].size(), size_t(kRounds));
  ASSERT_EQ(shared[1].size(), size_t(kRounds));
  std::set<uint32_t> distinct;
  for (int i = 0; i < kRounds; i++) {
    EXPECT_EQ(shared[0][i], shared[1][i]) << "round " << i;
    distinct.insert({shared[0][i], own[0][i], own[1][i]});
  }
  EXPECT_EQ(distinct.size(), size_t(3 * kRounds));  // 300 label sets, 300 numbers
}

// Transactions etcd has answered (its own counter, /metrics).
int txns_answered(const EtcdServer& etcd) {
  httplib::Client http("127.0.0.1", etcd.port());
  auto r = http.Get("/metrics");
  if (!r || r->status != 200) throw Error("etcd /metrics: no answer");
  const std::string line = R"(grpc_server_handled_total{grpc_code="OK",grpc_method="Txn",grpc_service="etcdserverpb.KV",grpc_type="unary"} )";
  auto at = r->body.find(line);
  if (at == std::string::npos) throw Error("etcd /metrics: no count of Txn");
  return std::stoi(r->body.substr(at + line.size()));
}

// A label set new to the cluster is numbered in one etcd round trip once
// the node has seen `next`: the claim is sent at once and, failing, reads
// back what it needs to succeed the next time (pod churn: an identity that
// comes waited on two round trips). Another node's numbers are found, not
// taken again.
TEST(ClusterIdentities, ANewLabelSetIsNumberedInOneRoundTripOnceNextIsKnown) {
  ZS_REQUIRE_ETCD();
  EtcdServer etcd;
  EtcdIdentityAllocator a(client_for(etcd)), b(client_for(etcd));
  int before = txns_answered(etcd);
  uint32_t first = a.allocate({{"app", "first"}});  // etcd empty: `next` absent, as the claim assumed
  EXPECT_EQ(txns_answered(etcd) - before, 1);
  before = txns_answered(etcd);
  uint32_t second = a.allocate({{"app", "second"}});
  EXPECT_EQ(txns_answered(etcd) - before, 1) << "a new label set after a claim of this node's";
  EXPECT_EQ(second, first + 1);
  // b has never seen `next`: its first claim fails and reads it back
  before = txns_answered(etcd);
  uint32_t third = b.allocate({{"app", "third"}});
  EXPECT_EQ(txns_answered(etcd) - before, 2);
  EXPECT_EQ(third, second + 1);
  // a's `next` is stale now: one failed claim, then the number after b's
  before = txns_answered(etcd);
  uint32_t fourth = a.allocate({{"app", "fourth"}});
  EXPECT_EQ(txns_answered(etcd) - before, 2);
  EXPECT_EQ(fourth, third + 1);
  // a label set b numbered: a's claim fails and finds b's number
  before = txns_answered(etcd);
  EXPECT_EQ(a.allocate({{"app", "third"}}), third);
  EXPECT_EQ(txns_answered(etcd) - before, 1);
  EXPECT_EQ(a.all().at(third), (Labels{{"app", "third"}}));
}

// Whether NODE's use of number n is written in etcd.
bool used_by(etcd::Client& client, uint32_t n, const std::string& node) {
  auto r = client.range(std::string(kClusterIdentityPrefix) + "used-by/" + std::to_string(n) + "/" + node);
  if (!r) throw Error(r.error());
  return r->kvs.size() == 1;
}

// Waits up to 10 s for the mirror to hold `want` for the label set.
bool mirrored(const IdentityMirror& mirror, const EtcdIdentityAllocator& a, const Labels& l, std::optional<uint32_t> want) {
  for (int i = 0; i < 100 && mirror.number(a.key_path(l)) != want; i++)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  return mirror.number(a.key_path(l)) == want;
}

// A change another node wrote names a label set that node numbered first
// (its apply's dry run). The node applying the change (Learning), without
// a mirror, reads the number (one transaction, no write); its use is
// written at its next report, not in the change's path.
TEST(ClusterIdentities, ALearnedNumberIsReadOnceAndItsUseWrittenAtTheNextReport) {
  ZS_REQUIRE_ETCD();
  EtcdServer etcd;
  auto client = client_for(etcd);
  EtcdIdentityAllocator writer(client_for(etcd)), reader(client_for(etcd));
  writer.set_node("node-a");
  reader.set_node("node-b");
  const Labels web_labels{{"app", "web"}};
  uint32_t web = writer.allocate(web_labels);
  {
    EtcdIdentityAllocator::Learning learning;
    int before = txns_answered(etcd);
    EXPECT_EQ(reader.allocate(web_labels), web);
    EXPECT_EQ(txns_answered(etcd) - before, 1) << "more than one read";
  }
  EXPECT_FALSE(used_by(*client, web, "node-b")) << "written in the change's path";
  ASSERT_TRUE(reader.report_usage({web}));
  EXPECT_TRUE(used_by(*client, web, "node-b")) << "not written at the report";
  EXPECT_EQ(reader.sources().read, 1u);
}

// With the mirror of by-key/ (cluster mode runs one), the number is taken
// with no transaction at all: etcd stopped, the allocate still answers.
TEST(ClusterIdentities, ANumberInTheMirrorIsLearnedWithoutAskingEtcd) {
  ZS_REQUIRE_ETCD();
  EtcdServer etcd;
  auto client = client_for(etcd);
  EtcdIdentityAllocator writer(client_for(etcd)), reader(client_for(etcd));
  writer.set_node("node-a");
  reader.set_node("node-c");
  auto mirror = std::make_shared<IdentityMirror>(client->options(), kClusterIdentityPrefix);
  mirror->start();
  reader.set_mirror(mirror);
  const Labels db_labels{{"app", "db"}};
  uint32_t db = writer.allocate(db_labels);
  ASSERT_TRUE(mirrored(*mirror, reader, db_labels, db)) << "the mirror did not see db's number in 10 s";
  etcd.pause();  // an allocate that asked etcd would wait out its timeout and throw
  try {
    EtcdIdentityAllocator::Learning learning;
    EXPECT_EQ(reader.allocate(db_labels), db);
  } catch (const Error& e) {
    ADD_FAILURE() << "asked etcd: " << e.what();
  }
  etcd.resume();
  EXPECT_EQ(reader.sources().mirror, 1u);
  EXPECT_FALSE(used_by(*client, db, "node-c")) << "written in the change's path";
  ASSERT_TRUE(reader.report_usage({db}));
  EXPECT_TRUE(used_by(*client, db, "node-c")) << "not written at the report";
  mirror->stop();
  EXPECT_EQ(mirror->number(reader.key_path(db_labels)), std::nullopt) << "a stopped mirror answers";
}

// A number whose by-key/ key the mirror saw deleted (what it watches of a
// sweep's release) is not taken from it: etcd is asked, and numbers the
// label set anew; the mirror then holds the new number.
TEST(ClusterIdentities, ANumberTheMirrorSawDeletedIsNotLearned) {
  ZS_REQUIRE_ETCD();
  EtcdServer etcd;
  auto client = client_for(etcd);
  EtcdIdentityAllocator writer(client_for(etcd)), reader(client_for(etcd));
  auto mirror = std::make_shared<IdentityMirror>(client->options(), kClusterIdentityPrefix);
  mirror->start();
  reader.set_mirror(mirror);
  const Labels db_labels{{"app", "db"}};
  uint32_t db = writer.allocate(db_labels);
  ASSERT_TRUE(mirrored(*mirror, reader, db_labels, db));
  ASSERT_TRUE(client->del(reader.key_path(db_labels)));
  ASSERT_TRUE(mirrored(*mirror, reader, db_labels, std::nullopt)) << "the mirror kept a deleted number";
  EtcdIdentityAllocator::Learning learning;
  uint32_t again = reader.allocate(db_labels);
  EXPECT_NE(again, db);
  EXPECT_EQ(reader.sources().mirror, 0u);
  EXPECT_EQ(reader.sources().claimed, 1u);
  EXPECT_TRUE(mirrored(*mirror, reader, db_labels, again));
}

// A by-key/ value another node (or an attacker with etcd's keys) wrote
// that is no number etcd's allocate would take ("0256", "1": below the
// first allocatable, text) is not in the mirror: a Learning allocate then
// asks etcd, which refuses it by name, rather than take the mirror's word.
TEST(ClusterIdentities, TheMirrorHoldsNoNumberEtcdWouldRefuse) {
  ZS_REQUIRE_ETCD();
  EtcdServer etcd;
  auto client = client_for(etcd);
  EtcdIdentityAllocator reader(client_for(etcd));
  auto mirror = std::make_shared<IdentityMirror>(client->options(), kClusterIdentityPrefix);
  mirror->start();
  reader.set_mirror(mirror);
  const Labels good{{"app", "good"}};
  const std::vector<std::pair<Labels, std::string>> hostile = {
      {{{"app", "zero"}}, "0256"}, {{{"app", "low"}}, "1"}, {{{"app", "text"}}, "web"}, {{{"app", "big"}}, "99999999999"}};
  for (const auto& [labels, value] : hostile) ASSERT_TRUE(client->put(reader.key_path(labels), value));
  ASSERT_TRUE(client->put(reader.key_path(good), "300"));
  ASSERT_TRUE(mirrored(*mirror, reader, good, 300u)) << "the mirror did not see a valid number in 10 s";
  for (const auto& [labels, value] : hostile) {
    EXPECT_EQ(mirror->number(reader.key_path(labels)), std::nullopt) << value;
    EtcdIdentityAllocator::Learning learning;
    EXPECT_THROW(reader.allocate(labels), Error) << value;
  }
  EXPECT_EQ(reader.sources().mirror, 0u);
}

// A `next` another node wrote wrong (attack review, session 16): a label
// set numbered already is still found, whatever `next` holds; a new one
// fails naming it; and a `next` once seen at the last number does not
// stay in this node's cache once it is repaired.
TEST(ClusterIdentities, AHostileNextNeitherHidesNumberedSetsNorSticks) {
  ZS_REQUIRE_ETCD();
  EtcdServer etcd;
  auto writer = client_for(etcd);
  const std::string next = std::string(kClusterIdentityPrefix) + "next";
  EtcdIdentityAllocator a(client_for(etcd));
  uint32_t web = a.allocate({{"app", "web"}});

  ASSERT_TRUE(writer->put(next, "x"));
  EtcdIdentityAllocator b(client_for(etcd));
  EXPECT_EQ(b.allocate({{"app", "web"}}), web);
  try {
    b.allocate({{"app", "new"}});
    FAIL() << "numbered a new label set from a `next` of 'x'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("etcd holds 'x' at " + next), std::string::npos) << e.what();
  }

  ASSERT_TRUE(writer->put(next, "4294967295"));
  EtcdIdentityAllocator c(client_for(etcd));
  auto every_number_taken = [&] {
    try {
      c.allocate({{"app", "new"}});
      ADD_FAILURE() << "numbered a new label set past the last number";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("every number is taken in etcd (" + next + " holds 4294967295)"),
                std::string::npos)
          << e.what();
    }
  };
  every_number_taken();
  int before = txns_answered(etcd);
  every_number_taken();  // asked again: read from etcd, not from this node's cache
  EXPECT_EQ(txns_answered(etcd) - before, 1);
  EXPECT_EQ(c.allocate({{"app", "web"}}), web);
  ASSERT_TRUE(writer->put(next, std::to_string(web + 1)));  // repaired
  EXPECT_EQ(c.allocate({{"app", "new"}}), web + 1);

  // a number with a leading zero is none (its claim would compare "0NNN"
  // against "NNN" and fail every round)
  ASSERT_TRUE(writer->put(next, "0" + std::to_string(web + 2)));
  EtcdIdentityAllocator d(client_for(etcd));
  try {
    d.allocate({{"app", "other"}});
    FAIL() << "numbered a new label set from a `next` with a leading zero";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("etcd holds '0" + std::to_string(web + 2) + "' at " + next), std::string::npos)
        << e.what();
  }
}

TEST(ClusterIdentities, AnEtcdOutageFailsNewKeysClearlyAndKeepsKnownOnes) {
  ZS_REQUIRE_ETCD();
  EtcdServer etcd;
  EtcdIdentityAllocator a(client_for(etcd));
  uint32_t web = a.allocate({{"app", "web"}});
  etcd.stop();
  EXPECT_EQ(a.allocate({{"app", "web"}}), web);  // known: no call
  try {
    a.allocate({{"app", "new"}});
    FAIL() << "numbered a new key without etcd";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("identity for app=new: etcd unreachable"), std::string::npos) << e.what();
  }
  ASSERT_TRUE(etcd.start());
  EXPECT_NE(a.allocate({{"app", "new"}}), web);
}

// The agent's allocator keeps what its node uses and takes new numbers from
// etcd: two nodes that meet label sets in other orders still agree.
TEST(ClusterIdentities, ALocalAllocatorWithEtcdUpstreamAgreesAcrossNodes) {
  ZS_REQUIRE_ETCD();
  EtcdServer etcd;
  LocalIdentityAllocator a, b;
  a.set_upstream(std::make_shared<EtcdIdentityAllocator>(client_for(etcd)));
  b.set_upstream(std::make_shared<EtcdIdentityAllocator>(client_for(etcd)));
  uint32_t x = a.allocate({{"k", "x"}});
  uint32_t y = a.allocate({{"k", "y"}});
  EXPECT_EQ(b.allocate({{"k", "z"}}), y + 1);
  EXPECT_EQ(b.allocate({{"k", "y"}}), y);
  EXPECT_EQ(b.allocate({{"k", "x"}}), x);
  // a copy (the agent compiles with one) numbers the same way
  LocalIdentityAllocator copy = a;
  EXPECT_EQ(copy.allocate({{"k", "z"}}), y + 1);
  // released here, the number stays the key's in the cluster
  a.release_unused({});
  EXPECT_EQ(a.allocate({{"k", "y"}}), y);
}

}  // namespace
}  // namespace zeroseg
