// SPDX-License-Identifier: Apache-2.0
// The cluster store of desired objects and its watcher, against a real etcd.
#include <gtest/gtest.h>

#include <chrono>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "common/error.h"
#include "etcd_server.h"
#include "policy/object_merge.h"
#include "policy/yaml_reader.h"
#include "sources/cluster_store.h"
#include "sources/node_lease.h"

namespace zeroseg {
namespace {

using namespace std::chrono_literals;
using zeroseg::testing::EtcdServer;

constexpr const char* kObjects = R"(apiVersion: zeroseg.io/v1
kind: Workload
metadata: {name: web, namespace: prod, labels: {app: web}}
spec: {interface: veth1, ips: [10.0.0.1]}
---
apiVersion: v1
kind: Namespace
metadata: {name: prod}
---
apiVersion: zeroseg.io/v1
kind: SegmentPolicy
metadata: {name: p, namespace: prod}
spec:
  selector: {matchLabels: {app: web}}
  ingress: [{from: [{entity: world}]}]
)";

using zeroseg::testing::client_for;

TEST(ClusterKeys, KeysDecodeBackAndRemoteWorkloadsLoseTheirInterface) {
  ObjectSet objs = load_yaml(kObjects, "t.yaml");
  ClusterKeys a("node-a"), b("node-b");
  EXPECT_EQ(a.key(objs.workloads[0]), "/zeroseg/v1/workloads/node-a/prod/web");
  EXPECT_EQ(a.key(objs.namespaces[0]), "/zeroseg/v1/namespaces/prod");
  EXPECT_EQ(a.key(objs.policies[0]), "/zeroseg/v1/policies/SegmentPolicy/prod/p");
  std::string wkey = a.key(objs.workloads[0]), wdoc = objs.workloads[0].meta.document.str();
  ObjectSet here, there;
  a.decode(wkey, wdoc, here);
  b.decode(wkey, wdoc, there);
  EXPECT_EQ(here.workloads[0].interface, "veth1");
  EXPECT_EQ(there.workloads[0].interface, "");  // node-b knows its addresses only
  EXPECT_EQ(there.workloads[0].ips.size(), 1u);
  // and its text, which the state directory keeps: read back after a
  // restart, it is no workload of node-b's (clusterlab13: a restarted node
  // wrote every remote workload under its own key)
  ObjectSet reread = load_yaml(there.workloads[0].meta.document.str(), "state");
  ASSERT_EQ(reread.workloads.size(), 1u);
  EXPECT_EQ(reread.workloads[0].interface, "");
  EXPECT_EQ(reread.workloads[0].ips, there.workloads[0].ips);
  EXPECT_EQ(reread.workloads[0].meta.labels, objs.workloads[0].meta.labels);
  EXPECT_EQ(here.workloads[0].meta.document.str(), wdoc) << "this node's own text is kept as written";
  // a value that does not match its key is refused, naming the key
  ObjectSet junk;
  EXPECT_THROW(a.decode("/zeroseg/v1/workloads/node-a/prod/other", wdoc, junk), Error);
  EXPECT_THROW(a.decode("/zeroseg/v1/namespaces/prod", wdoc, junk), Error);
  EXPECT_THROW(a.decode("/zeroseg/v1/policies/NetworkPolicy/prod/p", objs.policies[0].meta.document.str(), junk),
               Error);
  try {
    a.decode("/zeroseg/v1/namespaces/x", "kind: [", junk);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("etcd /zeroseg/v1/namespaces/x"), std::string::npos) << e.what();
  }
  EXPECT_EQ(junk.size(), 0u);
  ObjectSet named;
  EXPECT_TRUE(a.named_by("/zeroseg/v1/policies/NetworkPolicy/prod/np", named));
  EXPECT_EQ(named.policies[0].kind, Policy::Kind::network_policy);
  EXPECT_FALSE(a.named_by("/zeroseg/v1/identities/next", named));
}

// Attack review 4: workloads are named by namespace and name, not by node.
// node-b (hostile or merely with a workload of the same name) wrote
// workloads/node-b/prod/web: node-a's own prod/web (interface veth1) was
// replaced by an interface-less copy, its interface left unguarded; the
// deletion of that key, or of node-a's own key when its lease ended with
// the watch connected, removed it. Failed before keep_own_workloads was
// called (put held node-b's copy, gone named prod/web).
// A hostile node writes odd values under its own workloads/NODE/ keys
// (attack review 13). Each value another node takes in must be kept as a
// workload without an interface, and its text, as the state directory
// keeps it ("---" and the text: state_files.cpp), must read back as the
// same workload: a text that reads back with an interface makes a
// restarted node take it for its own, and one that does not read back
// stops the node's next start (a corrupt snapshot: refusing to start).
TEST(ClusterKeys, OddValuesOfAnotherNodeReadBackAsTheSameRemoteWorkload) {
  const std::string head = "apiVersion: zeroseg.io/v1\nkind: Workload\n";
  const std::string meta = "metadata: {name: web, namespace: prod, labels: {app: web}}\n";
  const std::vector<std::string> values = {
      head + meta + "spec: {interface: veth9, ips: [10.0.0.9], attach: host}\n",
      head + meta + "spec:\n  interface: veth9\n  ips:\n  - 10.0.0.9\n",
      head + meta + "spec:\n  \"interface\": veth9\n  'ips': [10.0.0.9]\n",
      head + meta + "spec:\n  !!str interface: veth9\n  ips: [10.0.0.9]\n",
      head + meta + "spec:\n  ? interface\n  : veth9\n  ips: [10.0.0.9]\n",
      head + meta + "spec: !!map {interface: veth9, ips: [10.0.0.9]}\n",
      head + meta + "spec: {ips: [10.0.0.9], interface: veth9, interface: veth8}\n",
      head + meta + "spec: {ips: [10.0.0.9]}\nspec: {interface: veth9, ips: [10.0.0.9]}\n",
      head + meta + "spec: &s {interface: veth9, ips: [10.0.0.9]}\n",
      head + meta + "spec: {interface: veth9, ips: [10.0.0.9]}\n...\nspec: {interface: veth7}\n",
      "apiVersion: v1\nkind: List\nitems:\n- apiVersion: zeroseg.io/v1\n  kind: Workload\n  " + meta +
          "  spec: {interface: veth9, ips: [10.0.0.9]}\n",
      head +
          "metadata:\n  name: web\n  namespace: prod\n  labels: {app: web}\n  annotations:\n"
          "    a: \"---\"\n    b: \"...\"\n    c: \"--- x\"\n    d: \"\\r\\n---\\r\\n\"\n    e: \"\\u2028---\"\n"
          "    f: \"\\x85interface: veth9\"\n    g: \"\\uFEFF\"\n    h: \" #x \"\n    i: \"null\"\n    j: \"\"\n"
          "    k: \"x\\ty\"\n    l: \"<<\"\n    m: \"%x\"\n    n: \"- x\"\n    o: \"? x\"\n    p: \"a: b\"\n"
          "    q: \"\\ttab\"\n    r: \"~\"\n    s: \"'\"\n    t: \"\\\"\"\n    u: \"\\u0085\"\n"
          "    v: \"trailing \"\n    v1: \"\\x01\\x1b\"\n    v2: \"\\U0001F600\\u00ff\"\n    w: \" leading\"\n    y: \"\\u00a0\"\n    z: \"\\\\\"\n"
          "    ? " + std::string(1100, 'k') + "\n    : long key\n"
          "spec: {interface: veth9, ips: [10.0.0.9]}\n",
      // DEL written as an escape: no raw control character in the value,
      // but yaml-cpp's emitter writes it raw (it escapes below 0x20 only)
      head + "metadata:\n  name: web\n  namespace: prod\n  annotations: {x: \"\\x7f\"}\n" +
          "spec: {interface: veth9, ips: [10.0.0.9]}\n",
  };
  ClusterKeys here("node-a");
  size_t kept = 0;
  for (const auto& value : values) {
    SCOPED_TRACE(value);
    ObjectSet got;
    try {
      here.decode("/zeroseg/v1/workloads/node-evil/prod/web", value, got);
    } catch (const Error&) {
      continue;  // refused: nothing of it is kept
    }
    ASSERT_EQ(got.workloads.size(), 1u);
    kept++;
    EXPECT_EQ(got.workloads[0].interface, "");
    EXPECT_EQ(got.workloads[0].attach, ZS_ATTACH_WORKLOAD);
    ObjectSet reread;
    try {
      reread = load_yaml("---\n" + got.workloads[0].meta.document.str() + "\n", "desired.yaml");
    } catch (const Error& e) {
      ADD_FAILURE() << "the kept text does not read back: " << e.what() << "\n" << got.workloads[0].meta.document.str();
      continue;
    }
    ASSERT_EQ(reread.workloads.size(), 1u) << got.workloads[0].meta.document.str();
    EXPECT_EQ(reread.workloads[0].interface, "") << got.workloads[0].meta.document.str();
    EXPECT_EQ(reread.workloads[0].attach, ZS_ATTACH_WORKLOAD);
    EXPECT_EQ(reread.workloads[0].ips, got.workloads[0].ips);
    EXPECT_EQ(reread.workloads[0].meta.labels, got.workloads[0].meta.labels);
  }
  EXPECT_EQ(kept, values.size() - 3)
      << "every value is kept but the one with DEL and the two with a key twice (interface, spec), which are refused";
}

TEST(ClusterKeys, AnotherNodesWorkloadOfTheSameNameNeitherReplacesNorRemovesOurs) {
  ObjectSet here = load_yaml(kObjects, "t.yaml");
  ClusterKeys a("node-a");
  std::string bkey = "/zeroseg/v1/workloads/node-b/prod/web";
  std::string bdoc = R"(apiVersion: zeroseg.io/v1
kind: Workload
metadata: {name: web, namespace: prod, labels: {app: web}}
spec: {interface: eth9, ips: [10.9.9.9]}
)";
  ObjectSet put, gone;
  a.decode(bkey, bdoc, put);
  ASSERT_TRUE(a.named_by(bkey, gone));
  ASSERT_EQ(put.workloads.size(), 1u);
  ASSERT_EQ(gone.workloads.size(), 1u);
  auto dropped = keep_own_workloads(here, {}, put, gone);
  // what ClusterMode::apply_here then does with them
  ObjectSet after = here;
  MergeOutcome outcome;
  merge_objects(after, put, outcome);
  ASSERT_EQ(after.workloads.size(), 1u);
  EXPECT_EQ(after.workloads[0].interface, "veth1");
  remove_objects(after, gone, outcome);
  ASSERT_EQ(after.workloads.size(), 1u);
  EXPECT_EQ(after.workloads[0].interface, "veth1");
  EXPECT_EQ(dropped.size(), 2u);
  // this node's own apply (its key, with the interface) and own delete still go through
  ObjectSet put2, gone2;
  a.decode(a.key(here.workloads[0]), here.workloads[0].meta.document.str(), put2);
  a.named_by(a.key(here.workloads[0]), gone2);
  EXPECT_TRUE(keep_own_workloads(here, {"Workload/prod/web"}, put2, gone2).empty());
  EXPECT_EQ(put2.workloads.size(), 1u);
  EXPECT_EQ(gone2.workloads.size(), 1u);
  // another node's workload of another name is untouched
  ObjectSet put3, gone3;
  a.decode("/zeroseg/v1/workloads/node-b/prod/db", R"(apiVersion: zeroseg.io/v1
kind: Workload
metadata: {name: db, namespace: prod}
spec: {ips: [10.9.9.8]}
)", put3);
  a.named_by("/zeroseg/v1/workloads/node-b/prod/db", gone3);
  EXPECT_TRUE(keep_own_workloads(here, {}, put3, gone3).empty());
  EXPECT_EQ(put3.workloads.size() + gone3.workloads.size(), 2u);
}

struct Seen {
  std::mutex mu;
  std::vector<std::pair<std::string, int64_t>> calls;  // "snapshot N" / "change P/G", revision
  ObjectSet last_put;
  void add(std::string what, int64_t rev) {
    std::lock_guard lock(mu);
    calls.emplace_back(std::move(what), rev);
  }
};

TEST(ClusterWatcher, ListsThenTurnsEachTransactionIntoOneChange) {
  ZS_REQUIRE_ETCD();
  EtcdServer etcd;
  ClusterStore store(client_for(etcd), ClusterKeys("node-a"));
  ObjectSet objs = load_yaml(kObjects, "t.yaml");
  ObjectSet ns;
  ns.namespaces.push_back(objs.namespaces.ptr(0));
  auto first = store.put(ns);
  ASSERT_TRUE(first);
  Seen seen;
  ClusterWatcher w(client_for(etcd), ClusterKeys("node-b"),
                   {[&](const ObjectSet& all, int64_t rev) { seen.add("snapshot " + std::to_string(all.size()), rev); },
                    [&](const ObjectSet& put, const ObjectSet& gone, int64_t rev) {
                      seen.add("change " + std::to_string(put.size()) + "/" + std::to_string(gone.size()), rev);
                      std::lock_guard lock(seen.mu);
                      if (put.size()) seen.last_put = put;
                    }});
  w.start();
  ASSERT_TRUE(w.wait_applied(*first, 20s));  // listed
  auto rev = store.put(objs);  // three objects, one transaction
  ASSERT_TRUE(rev) << rev.error();
  ASSERT_TRUE(w.wait_applied(*rev, 20s));
  auto del = store.remove(objs);
  ASSERT_TRUE(del) << del.error();
  ASSERT_TRUE(w.wait_applied(*del, 20s));
  EXPECT_TRUE(w.status().connected);
  w.stop();
  std::lock_guard lock(seen.mu);
  ASSERT_EQ(seen.calls.size(), 3u);
  EXPECT_EQ(seen.calls[0].first, "snapshot 1");
  EXPECT_EQ(seen.calls[1], std::make_pair(std::string("change 3/0"), *rev));
  EXPECT_EQ(seen.calls[2], std::make_pair(std::string("change 0/3"), *del));
  ASSERT_EQ(seen.last_put.workloads.size(), 1u);
  EXPECT_EQ(seen.last_put.workloads[0].interface, "");  // node-a's workload, seen from node-b
}

// A workload's key is under the node that runs it: a delete through another
// node named a key that does not exist, deleted nothing, and its apply
// answered "deleted" (seen in e2e.cluster_nodes). With the workload held,
// the transaction commits only where the key is this node's.
TEST(ClusterStore, ADeleteOfAnotherNodesWorkloadDeletesNothing) {
  ZS_REQUIRE_ETCD();
  EtcdServer etcd;
  ClusterStore a(client_for(etcd), ClusterKeys("node-a")), b(client_for(etcd), ClusterKeys("node-b"));
  ObjectSet objs = load_yaml(kObjects, "t.yaml");
  ASSERT_TRUE(a.put(objs));
  const std::set<std::string> held = {"Workload/prod/web"};
  auto refused = b.remove(objs, held);  // the workload, its namespace and policy: all or none
  ASSERT_TRUE(refused) << refused.error();
  EXPECT_EQ(*refused, 0);
  auto left = client_for(etcd)->range_prefix("/zeroseg/v1/");
  ASSERT_TRUE(left);
  EXPECT_EQ(left->kvs.size(), 3u);
  auto done = a.remove(objs, held);
  ASSERT_TRUE(done) << done.error();
  EXPECT_GT(*done, 0);
  left = client_for(etcd)->range_prefix("/zeroseg/v1/");
  ASSERT_TRUE(left);
  EXPECT_EQ(left->kvs.size(), 0u);
}

// etcd refuses a transaction of more than 128 operations (--max-txn-ops),
// with a reply cpp-httplib reads as a broken connection: a node's own
// workloads (written again under each new lease) go in batches, and an apply
// too large for one transaction is refused as such, not as "unreachable".
TEST(ClusterStore, ANodesManyWorkloadsGoInBatchesAndAnOversizedApplyIsRefusedAsSuch) {
  ZS_REQUIRE_ETCD();
  EtcdServer etcd;
  std::string yaml;
  for (int i = 0; i < 200; i++)
    yaml += "---\napiVersion: zeroseg.io/v1\nkind: Workload\nmetadata: {name: w" + std::to_string(i) +
            ", namespace: prod, labels: {app: web}}\nspec: {interface: veth" + std::to_string(i) + ", ips: [10.0." +
            std::to_string(i / 250) + "." + std::to_string(i % 250 + 1) + "]}\n";
  ObjectSet many = load_yaml(yaml, "many.yaml");
  ASSERT_EQ(many.workloads.size(), 200u);
  ClusterStore a(client_for(etcd), ClusterKeys("node-a"));
  auto whole = a.put(many);
  ASSERT_FALSE(whole);
  EXPECT_NE(whole.error().find("--max-txn-ops"), std::string::npos) << whole.error();
  auto batched = a.put_workloads(many.workloads, 0);
  ASSERT_TRUE(batched) << batched.error();
  auto left = client_for(etcd)->range_prefix("/zeroseg/v1/");
  ASSERT_TRUE(left);
  EXPECT_EQ(left->kvs.size(), 200u);
}

TEST(ClusterWatcher, AnOutageIsReportedAndTheReturnListsAgainWithoutAGap) {
  ZS_REQUIRE_ETCD();
  EtcdServer etcd;
  Seen seen;
  ClusterWatcher w(client_for(etcd), ClusterKeys("node-b"),
                   {[&](const ObjectSet& all, int64_t rev) { seen.add("snapshot " + std::to_string(all.size()), rev); },
                    [&](const ObjectSet& put, const ObjectSet& gone, int64_t rev) {
                      seen.add("change " + std::to_string(put.size()) + "/" + std::to_string(gone.size()), rev);
                    }});
  w.start();
  ASSERT_TRUE(w.wait_applied(1, 20s));
  etcd.stop();
  for (int i = 0; i < 200 && w.status().connected; i++) std::this_thread::sleep_for(50ms);
  WatchStatus down = w.status();
  EXPECT_FALSE(down.connected);
  EXPECT_GT(down.outage_since_ns, 0);
  EXPECT_NE(down.last_error.find("etcd"), std::string::npos) << down.last_error;
  ASSERT_TRUE(etcd.start());
  // written while this watcher may not yet be back: it must still arrive
  ClusterStore store(client_for(etcd), ClusterKeys("node-a"));
  auto rev = store.put(load_yaml(kObjects, "t.yaml"));
  ASSERT_TRUE(rev) << rev.error();
  ASSERT_TRUE(w.wait_applied(*rev, 30s));
  EXPECT_TRUE(w.status().connected);
  EXPECT_EQ(w.status().outage_since_ns, 0);
  w.stop();
  std::lock_guard lock(seen.mu);
  int objects_seen = 0;
  for (const auto& [what, r] : seen.calls)
    if (what == "snapshot 3" || what == "change 3/0") objects_seen++;
  EXPECT_EQ(objects_seen, 1) << "the three objects arrive once, by relist or by watch";
}

// The watch covers all of /zeroseg/v1/, where identities/ and nodes/ are
// written too (every new label set, every node's lease): they are no
// desired object, so no change and no "skipped" warning for them (each
// node warned about every other node's keys).
TEST(ClusterWatcher, IdentityAndNodeKeysAreNeitherChangesNorWarnings) {
  ZS_REQUIRE_ETCD();
  EtcdServer etcd;
  auto client = client_for(etcd);
  Seen seen;
  ClusterWatcher w(client_for(etcd), ClusterKeys("node-b"),
                   {[&](const ObjectSet& all, int64_t rev) { seen.add("snapshot " + std::to_string(all.size()), rev); },
                    [&](const ObjectSet& put, const ObjectSet& gone, int64_t rev) {
                      seen.add("change " + std::to_string(put.size()) + "/" + std::to_string(gone.size()), rev);
                    }});
  ::testing::internal::CaptureStderr();
  w.start();
  ASSERT_TRUE(w.wait_applied(1, 20s));
  ASSERT_TRUE(client->put("/zeroseg/v1/identities/next", "300"));
  ASSERT_TRUE(client->put("/zeroseg/v1/identities/by-id/299", "{\"app\":\"web\"}"));
  ASSERT_TRUE(client->put("/zeroseg/v1/nodes/node-a", "{\"since_ns\":1}"));
  ASSERT_TRUE(client->del("/zeroseg/v1/nodes/node-a"));
  ClusterStore store(client, ClusterKeys("node-a"));
  auto rev = store.put(load_yaml(kObjects, "t.yaml"));
  ASSERT_TRUE(rev) << rev.error();
  ASSERT_TRUE(w.wait_applied(*rev, 20s));
  w.stop();
  std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(err.find("skipped"), std::string::npos) << err;
  std::lock_guard lock(seen.mu);
  ASSERT_EQ(seen.calls.size(), 2u);  // the list, then the objects: nothing for the other keys
  EXPECT_EQ(seen.calls[1], std::make_pair(std::string("change 3/0"), *rev));
}

// What grows with the nodes: every node writes applied/NODE after each
// change it applies. Watching the whole prefix, every node received every
// node's report (N^2 events a change); the watch now covers the objects'
// range, so 200 reports and identities' writes reach it as nothing at all,
// and an object written next arrives as its own 3 events.
TEST(ClusterWatcher, OtherNodesReportsAndIdentitiesAreNotDeliveredAtAll) {
  ZS_REQUIRE_ETCD();
  EtcdServer etcd;
  auto client = client_for(etcd);
  ClusterKeys keys("node-b");
  const auto [begin, end] = keys.watch_range();
  for (const auto& p : keys.watched()) {
    EXPECT_GE(p, begin);
    EXPECT_LE(etcd::prefix_end(p), end) << p;
  }
  for (const char* outside : {"/zeroseg/v1/applied/node-a", "/zeroseg/v1/identities/used-by/300/node-a"})
    EXPECT_TRUE(std::string(outside) < begin || std::string(outside) >= end) << outside;
  Seen seen;
  ClusterWatcher w(client_for(etcd), keys,
                   {[&](const ObjectSet& all, int64_t rev) { seen.add("snapshot " + std::to_string(all.size()), rev); },
                    [&](const ObjectSet& put, const ObjectSet& gone, int64_t rev) {
                      seen.add("change " + std::to_string(put.size()) + "/" + std::to_string(gone.size()), rev);
                    }});
  w.start();
  ASSERT_TRUE(w.wait_applied(1, 20s));
  for (int i = 0; i < 100; i++) {
    ASSERT_TRUE(client->put("/zeroseg/v1/applied/node-" + std::to_string(i % 10), std::to_string(i)));
    ASSERT_TRUE(client->put("/zeroseg/v1/identities/used-by/300/node-" + std::to_string(i % 10), ""));
  }
  ClusterStore store(client, ClusterKeys("node-a"));
  auto rev = store.put(load_yaml(kObjects, "t.yaml"));
  ASSERT_TRUE(rev) << rev.error();
  ASSERT_TRUE(w.wait_applied(*rev, 20s));
  WatchStatus st = w.status();
  w.stop();
  EXPECT_EQ(st.watch_events, 3u) << "the watch delivered writes that are no object";
  EXPECT_EQ(st.lag(), 0);
  std::lock_guard lock(seen.mu);
  ASSERT_EQ(seen.calls.size(), 2u);
  EXPECT_EQ(seen.calls[1], std::make_pair(std::string("change 3/0"), *rev));
}

}  // namespace
}  // namespace zeroseg

namespace zeroseg {
namespace {

// A node's keys go with its lease: etcd deletes them when the node stops
// keeping it alive; a lease that ran out is granted anew and the node's
// keys written again.
TEST(NodeLease, KeysGoWithADeadNodeAndComeBackWithANewLease) {
  ZS_REQUIRE_ETCD();
  EtcdServer etcd;
  auto client = client_for(etcd);
  ClusterStore store(client, ClusterKeys("node-a"));
  ObjectSet objs = load_yaml(kObjects, "t.yaml");
  ObjectSet own;
  own.workloads.push_back(objs.workloads.ptr(0));
  std::mutex mu;
  std::vector<int64_t> leases;
  auto lease = std::make_unique<NodeLease>(client, store.keys().node_key(), 5, [&](int64_t id) {
    ASSERT_TRUE(store.put(own, id));
    std::lock_guard lock(mu);
    leases.push_back(id);
  });
  lease->start();
  auto wkey = store.keys().key(own.workloads[0]);
  auto held = [&] { return client->range(wkey)->kvs.size() == 1 && client->range(store.keys().node_key())->kvs.size() == 1; };
  for (int i = 0; i < 100 && !held(); i++) std::this_thread::sleep_for(100ms);
  ASSERT_TRUE(held());
  int64_t first = lease->id();
  ASSERT_NE(first, 0);
  EXPECT_EQ(client->range(wkey)->kvs.at(0).lease, first);
  // the lease runs out behind the node's back (as after a long partition)
  ASSERT_TRUE(client->lease_revoke(first));
  EXPECT_FALSE(client->range(wkey)->kvs.size());
  for (int i = 0; i < 200 && (lease->id() == first || lease->id() == 0 || !held()); i++)
    std::this_thread::sleep_for(100ms);
  ASSERT_TRUE(held()) << "the node's keys were not written again under a new lease";
  EXPECT_NE(lease->id(), first);
  // the node dies: no keepalive; etcd drops its keys after the TTL
  lease.reset();
  bool gone = false;
  for (int i = 0; i < 300 && !gone; i++) {
    std::this_thread::sleep_for(100ms);
    gone = client->range(wkey)->kvs.empty() && client->range(store.keys().node_key())->kvs.empty();
  }
  EXPECT_TRUE(gone) << "a dead node's workload outlived its lease by 30 s";
  std::lock_guard lock(mu);
  EXPECT_EQ(leases.size(), 2u);
}

// A lease whose node could not write its workloads under it is given back
// at once: a lease a second (the retry) would otherwise stay granted for
// its TTL, each holding nothing but a stale node key.
TEST(NodeLease, ALeaseTheNodeCouldNotUseIsRevoked) {
  ZS_REQUIRE_ETCD();
  EtcdServer etcd;
  auto client = client_for(etcd);
  std::mutex mu;
  std::vector<int64_t> offered;
  NodeLease lease(client, ClusterKeys("node-a").node_key(), 30, [&](int64_t id) {
    std::lock_guard lock(mu);
    offered.push_back(id);
    if (offered.size() == 1) throw Error("etcd went away while writing the workloads");
  });
  lease.start();
  for (int i = 0; i < 200 && lease.id() == 0; i++) std::this_thread::sleep_for(100ms);
  ASSERT_NE(lease.id(), 0);
  lease.stop();
  std::lock_guard lock(mu);
  ASSERT_EQ(offered.size(), 2u);
  EXPECT_EQ(lease.id(), offered[1]);
  auto ttl = client->lease_time_to_live(offered[0]);
  ASSERT_TRUE(ttl) << ttl.error();
  EXPECT_EQ(*ttl, -1) << "the unused lease is still granted";
}

}  // namespace
}  // namespace zeroseg
