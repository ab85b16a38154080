// SPDX-License-Identifier: Apache-2.0
// Cluster mode against etcd as production runs it: three members, a
// leader that dies, a quorum lost and back, and a history compacted
// under a watcher (tests/etcd_server.h: EtcdCluster, real etcd processes).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <chrono>
#include <condition_variable>
#include <set>
#include <mutex>
#include <thread>

#include "etcd_server.h"
#include "policy/object_merge.h"
#include "policy/yaml_reader.h"
#include "sources/backoff.h"
#include "sources/cluster_store.h"

namespace zeroseg {
namespace {

using namespace std::chrono_literals;
using zeroseg::testing::EtcdCluster;
using zeroseg::testing::EtcdServer;
using zeroseg::testing::client_for;

ObjectSet workload(const std::string& name, const std::string& ip) {
  return load_yaml("apiVersion: zeroseg.io/v1\nkind: Workload\nmetadata: {name: " + name +
                       ", namespace: lab, labels: {app: " + name + "}}\nspec: {interface: zs-ut-" + name +
                       ", ips: [" + ip + "]}\n",
                   name + ".yaml");
}

ObjectSet ns(const std::string& name) {
  return load_yaml("apiVersion: v1\nkind: Namespace\nmetadata: {name: " + name + "}\n", name + ".yaml");
}

// What a watcher made of the store: the objects it holds (by ref), as a node would.
struct Mirror {
  std::mutex mu;
  std::set<std::string> refs;
  int snapshots = 0;
  ClusterWatcher::Callbacks callbacks() {
    return {[this](const ObjectSet& all, int64_t) {
              std::lock_guard lock(mu);
              refs.clear();
              for (const auto& w : all.workloads) refs.insert(ref_of(w));
              for (const auto& n : all.namespaces) refs.insert(ref_of(n));
              snapshots++;
            },
            [this](const ObjectSet& put, const ObjectSet& gone, int64_t) {
              std::lock_guard lock(mu);
              for (const auto& w : put.workloads) refs.insert(ref_of(w));
              for (const auto& n : put.namespaces) refs.insert(ref_of(n));
              for (const auto& w : gone.workloads) refs.erase(ref_of(w));
              for (const auto& n : gone.namespaces) refs.erase(ref_of(n));
            }};
  }
  bool has(const std::string& ref) {
    std::lock_guard lock(mu);
    return refs.count(ref) > 0;
  }
  int relists() {
    std::lock_guard lock(mu);
    return snapshots;
  }
};

// Retries a write until etcd takes it (a new leader is being elected).
etcd::Result<int64_t> put_within(ClusterStore& store, const ObjectSet& objs, std::chrono::seconds within) {
  auto until = std::chrono::steady_clock::now() + within;
  auto r = store.put(objs);
  while (!r && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(200ms);
    r = store.put(objs);
  }
  return r;
}

// The leader dies (SIGKILL, as a host that loses power): the clients fail
// over to the other members, the watcher's stream resumes, and writes
// through either node reach the other. Without the endpoint failover the
// writes fail ("etcd unreachable") once the client's member is the dead one.
TEST(EtcdCluster, TheLeaderDiesAndWatchesAndWritesGoOn) {
  ZS_REQUIRE_ETCD();
  EtcdCluster etcd(3);
  ASSERT_TRUE(etcd.ok());
  int leader = etcd.wait_leader();
  ASSERT_GE(leader, 0);
  // both "nodes" talk first to the leader: its death is theirs to survive
  auto eps = etcd.endpoints();
  std::rotate(eps.begin(), eps.begin() + leader, eps.end());
  etcd::ClientOptions oa, ob;
  oa.endpoints = ob.endpoints = eps;
  auto client_a = std::make_shared<etcd::Client>(oa), client_b = std::make_shared<etcd::Client>(ob);
  ClusterStore store_a(client_a, ClusterKeys("node-a")), store_b(client_b, ClusterKeys("node-b"));
  Mirror on_b;
  ClusterWatcher watcher_b(std::make_shared<etcd::Client>(ob), ClusterKeys("node-b"), on_b.callbacks());
  watcher_b.start();
  auto first = store_a.put(workload("before", "10.9.0.1"));
  ASSERT_TRUE(first) << first.error();
  ASSERT_TRUE(watcher_b.wait_applied(*first, 30s));
  ASSERT_TRUE(on_b.has("Workload/lab/before"));

  etcd.member(leader).kill_hard();
  auto during = put_within(store_a, workload("after-a", "10.9.0.2"), 30s);
  ASSERT_TRUE(during) << "a write through node a after the leader died: " << during.error();
  EXPECT_TRUE(watcher_b.wait_applied(*during, 30s)) << watcher_b.status().last_error;
  EXPECT_TRUE(on_b.has("Workload/lab/after-a"));
  int new_leader = etcd.wait_leader();
  EXPECT_GE(new_leader, 0);
  EXPECT_NE(new_leader, leader);
  auto from_b = put_within(store_b, ns("after-b"), 30s);
  ASSERT_TRUE(from_b) << from_b.error();
  EXPECT_TRUE(watcher_b.wait_applied(*from_b, 30s));
  EXPECT_TRUE(on_b.has("Namespace/after-b"));
  EXPECT_TRUE(on_b.has("Workload/lab/before")) << "what was there before the leader died is kept";
  EXPECT_TRUE(watcher_b.status().connected);
  watcher_b.stop();
}

// Every member stops: writes fail with etcd's unreachability named, the
// watcher reports the outage (and keeps what it had: no snapshot of
// nothing); back, a write made at once by another node arrives, by a
// relist, without a gap.
TEST(EtcdCluster, AllMembersDownThenBackTheWatcherCatchesUp) {
  ZS_REQUIRE_ETCD();
  EtcdCluster etcd(3);
  ASSERT_TRUE(etcd.ok());
  ASSERT_GE(etcd.wait_leader(), 0);
  ClusterStore store_b(client_for(etcd), ClusterKeys("node-b"));
  Mirror on_a;
  ClusterWatcher watcher_a(client_for(etcd), ClusterKeys("node-a"), on_a.callbacks());
  watcher_a.start();
  auto first = store_b.put(ns("kept"));
  ASSERT_TRUE(first) << first.error();
  ASSERT_TRUE(watcher_a.wait_applied(*first, 30s));

  etcd.stop_all();
  auto refused = store_b.put(workload("w2", "10.9.0.3"));
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().find("etcd unreachable"), std::string::npos) << refused.error();
  for (int i = 0; i < 200 && watcher_a.status().connected; i++) std::this_thread::sleep_for(50ms);
  WatchStatus down = watcher_a.status();
  EXPECT_FALSE(down.connected);
  EXPECT_GT(down.outage_since_ns, 0);
  EXPECT_EQ(down.connected_since_ns, 0);
  EXPECT_TRUE(on_a.has("Namespace/kept")) << "an outage removed what the node held";

  ASSERT_TRUE(etcd.start_all());
  auto back = put_within(store_b, workload("w2", "10.9.0.3"), 60s);
  ASSERT_TRUE(back) << back.error();
  ASSERT_TRUE(watcher_a.wait_applied(*back, 60s)) << watcher_a.status().last_error;
  EXPECT_TRUE(on_a.has("Workload/lab/w2"));
  EXPECT_TRUE(on_a.has("Namespace/kept"));
  EXPECT_TRUE(watcher_a.status().connected);
  EXPECT_GT(watcher_a.status().connected_since_ns, down.outage_since_ns);
  watcher_a.stop();
}

// A member without a leader (cut off from the others: here they are
// frozen) kept the watch open and silent, and every 10 s of quiet the
// watcher counted etcd's head as applied and watched the same member
// again: it said "connected" and in step while it followed nothing. The
// watch asks for a leader now: the member ends it, and the watcher says
// it is not following (the failover to a member that has one is the
// client's, as when a member dies: TheLeaderDiesAndWatchesAndWritesGoOn).
TEST(EtcdCluster, AWatchOnAMemberWithoutALeaderEnds) {
  ZS_REQUIRE_ETCD();
  EtcdCluster etcd(3);
  ASSERT_TRUE(etcd.ok());
  ASSERT_GE(etcd.wait_leader(), 0);
  etcd::ClientOptions o;
  o.endpoints = {etcd.endpoints()[0]};  // member 0 alone: nowhere to fail over to
  Mirror on_a;
  ClusterWatcher watcher(std::make_shared<etcd::Client>(o), ClusterKeys("node-a"), on_a.callbacks());
  watcher.start();
  ClusterStore store(client_for(etcd), ClusterKeys("node-b"));
  auto first = store.put(ns("before"));
  ASSERT_TRUE(first) << first.error();
  ASSERT_TRUE(watcher.wait_applied(*first, 30s));
  ASSERT_TRUE(watcher.status().connected);

  struct Frozen {  // members 1 and 2, however the test ends
    EtcdCluster& c;
    explicit Frozen(EtcdCluster& cl) : c(cl) { c.member(1).pause(), c.member(2).pause(); }
    ~Frozen() { c.member(1).resume(), c.member(2).resume(); }
  };
  {
    Frozen frozen(etcd);
    // etcd's election timeout is 1 s; the member gives up on its leader
    // after a few, then ends the stream: well within the 30 s asked here
    // (and past the watch's 10 s idle end, after which it came back silent)
    bool seen = false;
    for (int i = 0; i < 300 && !seen; i++) {
      seen = !watcher.status().connected;
      if (!seen) std::this_thread::sleep_for(100ms);
    }
    WatchStatus s = watcher.status();
    EXPECT_TRUE(seen) << "still 'connected' to a member with no leader for 30 s: applied " << s.applied_revision;
    EXPECT_FALSE(s.last_error.empty());  // "no leader", or its HTTP 503 when the watch is refused at once
  }
  ASSERT_GE(etcd.wait_leader(), 0);
  auto back = put_within(store, ns("after"), 30s);
  ASSERT_TRUE(back) << back.error();
  EXPECT_TRUE(watcher.wait_applied(*back, 30s)) << watcher.status().last_error;
  EXPECT_TRUE(on_a.has("Namespace/after"));
  EXPECT_TRUE(watcher.status().connected);
  watcher.stop();
}

// A watcher that resumes from a revision etcd has compacted away cannot
// watch from it (etcd answers compact_revision and cancels): it must list
// again, or it would watch from the same revision forever and never see
// the objects written meanwhile. The list's callback is held while the
// writes and the compaction happen, so the watch starts from a compacted
// revision every time.
TEST(ClusterWatcher, ACompactedStartRevisionIsListedAgain) {
  ZS_REQUIRE_ETCD();
  EtcdServer etcd;
  auto client = client_for(etcd);
  ClusterStore store(client, ClusterKeys("node-b"));
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  int snapshots = 0;
  std::set<std::string> refs;
  ClusterWatcher w(client_for(etcd), ClusterKeys("node-a"),
                   {[&](const ObjectSet& all, int64_t) {
                      std::unique_lock lock(mu);
                      snapshots++;
                      cv.notify_all();
                      cv.wait(lock, [&] { return release; });  // the first list waits for the compaction
                      for (const auto& n : all.namespaces) refs.insert(ref_of(n));
                    },
                    [&](const ObjectSet& put, const ObjectSet&, int64_t) {
                      std::lock_guard lock(mu);
                      for (const auto& n : put.namespaces) refs.insert(ref_of(n));
                    }});
  w.start();
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, 30s, [&] { return snapshots == 1; }));
  }
  int64_t last = 0;
  for (int i = 0; i < 5; i++) {
    auto r = store.put(ns("n" + std::to_string(i)));
    ASSERT_TRUE(r) << r.error();
    last = *r;
  }
  auto compacted = client->compact(last);
  ASSERT_TRUE(compacted) << compacted.error();
  {
    std::lock_guard lock(mu);
    release = true;
  }
  cv.notify_all();
  EXPECT_TRUE(w.wait_applied(last, 30s)) << "the watcher never caught up after the compaction";
  w.stop();
  std::lock_guard lock(mu);
  EXPECT_EQ(snapshots, 2) << "the compacted start revision was not listed again";
  for (int i = 0; i < 5; i++) EXPECT_TRUE(refs.count("Namespace/n" + std::to_string(i))) << i;
}

// Reconnects back off: bounded by the cap, growing, and jittered (a fleet
// that lost etcd together does not retry in lockstep).
TEST(Backoff, GrowsToTheCapWithJitterAndResets) {
  Backoff b(200ms, 5000ms, 42);
  std::vector<std::chrono::milliseconds> first;
  for (int i = 0; i < 40; i++) {
    auto d = b.next();
    EXPECT_LE(d, 5000ms);
    if (i == 0) {
      EXPECT_GE(d, 100ms);
      EXPECT_LE(d, 200ms);
    }
    if (i >= 6) {
      EXPECT_GE(d, 2500ms) << i;  // at the cap: its upper half
    }
    first.push_back(d);
  }
  b.reset();
  EXPECT_LE(b.next(), 200ms);
  Backoff other(200ms, 5000ms, 43);
  int same = 0;
  for (int i = 0; i < 40; i++) same += other.next() == first[i];
  EXPECT_LT(same, 10) << "two nodes' waits are the same: no jitter";
}

}  // namespace
}  // namespace zeroseg

namespace zeroseg {
namespace {

// The gateway's cost, measured (docs/ARCHITECTURE.md, "The etcd client"):
// 1000 puts one after another through this client (a new connection each,
// as it makes them), and the time from a put to its event on a watch. The
// test asserts what must hold (every put's event arrives, in order) and
// prints the times; it asserts no time (machines here are noisy).
TEST(EtcdGateway, AThousandPutsAndTheirWatchEventsArriveInOrder) {
  ZS_REQUIRE_ETCD();
  EtcdServer etcd;
  auto client = client_for(etcd), watching = client_for(etcd);
  constexpr int kPuts = 1000;
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::string> seen;
  std::vector<std::chrono::steady_clock::time_point> arrived;
  std::thread watcher([&] {
    (void)watching->watch("/zs-bench/", etcd::prefix_end("/zs-bench/"), 0, [&](const etcd::WatchBatch& b) {
      std::lock_guard lock(mu);
      for (const auto& e : b.events) {
        seen.push_back(e.kv.key);
        arrived.push_back(std::chrono::steady_clock::now());
      }
      cv.notify_all();
      return seen.size() < kPuts + 20;
    });
  });
  std::this_thread::sleep_for(500ms);  // the watch is created
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < kPuts; i++) ASSERT_TRUE(client->put("/zs-bench/" + std::to_string(i), "v"));
  auto t1 = std::chrono::steady_clock::now();
  // latency: one put at a time, to its event
  std::vector<double> latency_us;
  for (int i = 0; i < 20; i++) {
    auto sent = std::chrono::steady_clock::now();
    ASSERT_TRUE(client->put("/zs-bench/l" + std::to_string(i), "v"));
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, 10s, [&] { return seen.size() >= size_t(kPuts + i + 1); }));
    latency_us.push_back(std::chrono::duration<double, std::micro>(arrived[kPuts + i] - sent).count());
  }
  watching->stop();
  watcher.join();
  ASSERT_EQ(seen.size(), size_t(kPuts + 20));
  for (int i = 0; i < kPuts; i++) ASSERT_EQ(seen[i], "/zs-bench/" + std::to_string(i));
  std::sort(latency_us.begin(), latency_us.end());
  double total_ms = std::chrono::duration<double, std::milli>(t1 - t0).count();
  std::printf("etcd gateway: %d puts in %.0f ms (%.0f us each); put to watch event: median %.0f us, max %.0f us\n",
              kPuts, total_ms, total_ms * 1000 / kPuts, latency_us[latency_us.size() / 2], latency_us.back());
}

}  // namespace
}  // namespace zeroseg
