// SPDX-License-Identifier: Apache-2.0
// The numbers etcd gives label sets (identities/by-key/, sources/
// cluster_identities.h), kept here by a watch of their own, so that a node
// learns the number of a label set another node numbered without asking
// etcd in a change's path: the node that writes a workload numbers its label
// set first (its apply's dry run), so by the time the workload's change
// reaches the other nodes, its number is most often here already
// (EtcdIdentityAllocator::Learning reads this before etcd).
//
// Only by-key/ is watched: the uses (used-by/, which every node writes at
// its lease beats) and the sweep's marks are no business of a change, and
// the object watch (ClusterKeys::watch_range) leaves the whole identities/
// prefix out for the same reason.
//
// The mirror may trail etcd by the watch's delay: a number it has may have
// been released since (a sweep, after the grace, --cluster-identity-grace,
// 600 s by default, in which no node used it) and the label set numbered
// anew, in the milliseconds before the delete reaches here. A node that
// takes such a number holds the label set under an old number until it goes
// (numbers are never handed out twice, so it still means only that label
// set); docs/cluster.md, "Identities". It goes out of step (answers
// nothing) when its watch fails, is compacted away or finds the store's
// revision behind what it saw (etcd restored), until it has listed again.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>

#include "sources/etcd_client.h"

namespace zeroseg {

class IdentityMirror {
 public:
  // prefix: the identities' (kClusterIdentityPrefix; tests use their own).
  // The watch has a client of its own, made from `options` (a watch holds
  // its connection for as long as it runs).
  IdentityMirror(const etcd::ClientOptions& options, std::string prefix);
  ~IdentityMirror();  // stops
  IdentityMirror(const IdentityMirror&) = delete;
  IdentityMirror& operator=(const IdentityMirror&) = delete;

  void start();
  void stop();
  // The number under `by_key_path` (a full by-key/ key) as last seen; none
  // while the mirror is not in step with etcd (before its first list, after
  // a failed watch until it lists again, after stop).
  std::optional<uint32_t> number(const std::string& by_key_path) const;

 private:
  void run();
  bool list();  // false: failed
  void apply(const etcd::Event& e);
  std::shared_ptr<etcd::Client> client_;
  std::string prefix_;  // .../identities/by-key/
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::unordered_map<std::string, uint32_t> numbers_;  // under mu_
  bool in_step_ = false, stopping_ = false;            // under mu_
  int64_t revision_ = 0;                               // the store's, as of numbers_ (the run thread's)
  std::thread thread_;
};

}  // namespace zeroseg
