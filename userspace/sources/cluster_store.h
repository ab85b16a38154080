// SPDX-License-Identifier: Apache-2.0
// The desired objects of a cluster, in etcd (cluster mode). Under /zeroseg/v1/:
//   namespaces/NAME                      cluster-wide
//   policies/KIND/NAMESPACE/NAME         cluster-wide (KIND: SegmentPolicy, NetworkPolicy)
//   workloads/NODE/NAMESPACE/NAME        the node's that runs them
// each holding the object's YAML as written. An apply or delete is one
// transaction (all its objects or none); ClusterWatcher turns the store's
// revisions into changes of one node's desired objects: other nodes'
// workloads arrive without their interface (their addresses only: an
// identity for each in this node's ipcache, nothing to attach here).
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>

#include "policy/objects.h"
#include "sources/etcd_client.h"

namespace zeroseg {

inline constexpr const char* kClusterStatePrefix = "/zeroseg/v1/";

// Keys of objects, and objects of keys and values.
class ClusterKeys {
 public:
  ClusterKeys(std::string node, std::string prefix = kClusterStatePrefix)
      : node_(std::move(node)), prefix_(std::move(prefix)) {}
  // A workload with an interface runs on a node: its key is that node's,
  // under the node's lease. One without (addresses alone: a host outside
  // the cluster) runs on no node: its key is kNoNode's, with no lease, so
  // that it stays until deleted, whichever node's lease it came through.
  static constexpr const char* kNoNode = "-";
  std::string key(const Workload& w) const { return workload_key(node_, w); }
  std::string unowned_key(const Workload& w) const { return workload_key(kNoNode, w); }
  std::string key(const Namespace& n) const { return prefix_ + "namespaces/" + n.meta.name; }
  std::string node_key() const { return prefix_ + "nodes/" + node_; }
  std::string key(const Policy& p) const {
    return prefix_ + "policies/" + p.kind_name() + "/" + p.meta.ns + "/" + p.meta.name;
  }
  // The prefixes a node watches: the objects' kinds, not identities/.
  std::vector<std::string> watched() const {
    return {prefix_ + "namespaces/", prefix_ + "policies/", prefix_ + "workloads/"};
  }
  // The one key range a node watches: from namespaces/ to the end of
  // workloads/, all of watched() (one stream, so a transaction's objects
  // arrive together) and nodes/ between them, but not applied/ or
  // identities/, which sort before: every node writes its applied/ report
  // after each change, and with a watch of the whole prefix every node
  // received every node's report (N^2 deliveries a change, docs/cluster.md
  // "Scale"); identities' uses are written at each lease beat.
  std::pair<std::string, std::string> watch_range() const {
    return {prefix_ + "namespaces/", etcd::prefix_end(prefix_ + "workloads/")};
  }
  // Whether key is under one of watched(): the watch stream also carries
  // nodes/, which are no object.
  bool of_objects(const std::string& key) const;
  // The object a stored value holds, into `into`; a remote workload loses
  // its interface. Throws Error naming the key when the value is not one
  // valid object of the key's kind, namespace and name.
  void decode(const std::string& key, const std::string& value, ObjectSet& into) const;
  // The object a deleted key named (name, namespace and kind only) into `into`;
  // false for a key of no object.
  bool named_by(const std::string& key, ObjectSet& into) const;
  // The node a workload's key names (kNoNode for one that runs on none);
  // "" for any other key.
  std::string node_of(const std::string& key) const;
  const std::string& node() const { return node_; }
  const std::string& prefix() const { return prefix_; }

 private:
  std::string workload_key(const std::string& node, const Workload& w) const {
    return prefix_ + "workloads/" + node + "/" + w.meta.ns + "/" + w.meta.name;
  }
  std::string node_, prefix_;
};

// Writes applies and deletes, each as one transaction.
class ClusterStore {
 public:
  ClusterStore(std::shared_ptr<etcd::Client> client, ClusterKeys keys)
      : client_(std::move(client)), keys_(std::move(keys)) {}
  // The revision that holds the change, or why none does. Workloads with
  // an interface are written under `lease` (the node's: they go when it
  // dies; 0: none), those without under kNoNode with no lease.
  // At most etcd::kMaxTxnOps objects (etcd refuses a larger transaction).
  // `moving` (refs): workloads whose key is of the other kind now (this
  // node's, or no node's), deleted in the same transaction.
  etcd::Result<int64_t> put(const ObjectSet& objects, int64_t lease = 0, const std::set<std::string>& moving = {});
  // Writes a node's own workloads again under a new lease: each key stands
  // alone, so in transactions of at most etcd::kMaxTxnOps (a node runs more).
  etcd::Result<int64_t> put_workloads(const SharedVector<Workload>& workloads, int64_t lease);
  // Deletes commit only if every workload of `held` (refs) has its key under
  // this node: a workload's key is under the node that runs it, so a delete
  // through another node would delete nothing. 0: one was not (nothing
  // deleted). The workloads of `unowned` (refs) are deleted from kNoNode's
  // keys, through any node.
  etcd::Result<int64_t> remove(const ObjectSet& objects, const std::set<std::string>& held = {},
                               const std::set<std::string>& unowned = {});
  const ClusterKeys& keys() const { return keys_; }

 private:
  std::shared_ptr<etcd::Client> client_;
  ClusterKeys keys_;
};

// Which node's key holds each workload of a list or change (workload ref ->
// node): objects carry no node, their keys do (`workload list`'s NODE).
struct WorkloadNodes {
  bool snapshot = false;  // a list: these are all of them
  std::map<std::string, std::string> put, gone;
};

// What a watcher has done, for `status` and metrics.
struct WatchStatus {
  bool connected = false;       // listed and watching
  int64_t applied_revision = 0;  // the store's revision this node's objects equal
  int64_t store_revision = 0;    // etcd's newest revision seen (list, watch headers)
  int64_t outage_since_ns = 0;   // realtime; 0 while connected
  int64_t connected_since_ns = 0;  // realtime, of the last (re)list; 0 during an outage
  std::string last_error;
  // etcd answered and refused the list or watch (last_error has its reason
  // and code): not connected, as the node follows no change, but no outage
  bool refused = false;
  uint64_t relists = 0;
  uint64_t watch_events = 0;  // events the watch delivered (what etcd sends this node)
  // revisions of etcd not yet applied here (as of the last revision the
  // watch or a list saw: writes outside watch_range() are not seen)
  int64_t lag() const { return std::max<int64_t>(0, store_revision - applied_revision); }
};

// When the watcher took in its last change of objects (steady clock): the
// watch message read, its events decoded, the change applied here (the
// callbacks returned). bench/etcd_churn_bench times a change from etcd's
// commit to this node's maps by them.
struct ChangeStamps {
  int64_t revision = 0;
  std::chrono::steady_clock::time_point received, decoded, applied;
};

// Lists the objects, then watches from the list's revision on, in a thread
// of its own: on_snapshot(all objects, revision) after each (re)list,
// on_change(put, gone, revision) for each later revision. A lost stream is
// watched again from the next revision (backoff up to 5 s); a compacted one
// is listed again. A watch that stayed quiet for its idle time (nothing
// under the prefix changed) counts the revision etcd had when it was
// created as applied, so the lag does not grow with writes of others to
// the same etcd. The callbacks run on the watcher's thread, one at a time;
// an exception from one is logged and the revision counted as applied (its
// owner reports the failure and asks for a relist: relist_after).
class ClusterWatcher {
 public:
  struct Callbacks {
    std::function<void(const ObjectSet& all, int64_t revision)> on_snapshot;
    std::function<void(const ObjectSet& put, const ObjectSet& gone, int64_t revision)> on_change;
    // before each of the above: the nodes whose keys hold its workloads
    std::function<void(const WorkloadNodes& nodes)> on_nodes;
  };
  ClusterWatcher(std::shared_ptr<etcd::Client> client, ClusterKeys keys, Callbacks callbacks);
  ~ClusterWatcher();
  void start();
  void stop();
  WatchStatus status() const;
  // Waits until the objects of revision `revision` are applied, up to
  // `timeout`; false on timeout or stop.
  bool wait_applied(int64_t revision, std::chrono::milliseconds timeout);
  ChangeStamps last_stamps() const;
  // Lists again once `delay` has passed (a change failed here: the list
  // brings the whole state back, to apply again). The watch ends for it at
  // its next message or its idle end (kWatchIdle, 10 s), whichever comes first.
  void relist_after(std::chrono::milliseconds delay);

 private:
  bool relist_due() const;
  void run();
  bool list();  // false: failed (status says why)
  void failed(const std::string& why, bool refused);
  void applied(int64_t revision);
  void seen_head(int64_t revision);  // etcd's revision, as a watch message's header says
  std::shared_ptr<etcd::Client> client_;
  ClusterKeys keys_;
  Callbacks callbacks_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  WatchStatus status_;
  ChangeStamps stamps_;
  bool stopping_ = false;
  std::chrono::steady_clock::time_point relist_at_{};  // under mu_; {}: none asked
  std::thread thread_;
};

// A watch with no message for this long ends and is made again (a quiet store).
inline constexpr std::chrono::milliseconds kWatchIdle{10000};
// Tries at etcd after a failure: 0.2 s doubling to 5 s, jittered (sources/backoff.h).
inline constexpr std::chrono::milliseconds kWatchBackoffFirst{200}, kWatchBackoffCap{5000};

// What a change read from etcd may do to this node's own workloads (those
// with an interface in `here`). Workloads are named by namespace and name
// alone, whatever node's key holds them: another node's workload of the
// same name (interface empty: ClusterKeys::decode) replaced the local one,
// and the deletion of that other key removed it, leaving its interface
// unguarded; so did the deletion of this node's own keys when its lease
// ended with the watch connected (a relist keeps them: ClusterMode). So a
// workload in `put` without an interface that names one of this node's is
// dropped, and so is a workload in `gone` that names one of this node's
// and is not in `deleting` (refs this node's own delete is removing).
// Returns the refs dropped, to be reported.
std::vector<std::string> keep_own_workloads(const ObjectSet& here, const std::set<std::string>& deleting,
                                            ObjectSet& put, ObjectSet& gone);

}  // namespace zeroseg
