// SPDX-License-Identifier: Apache-2.0
// A node's liveness in etcd: a lease of `ttl` seconds, kept alive every
// ttl/3, holding /zeroseg/v1/nodes/NODE and every workload the node wrote.
// When the node dies its lease runs out and etcd deletes those keys, so every
// other node's watcher removes the dead node's workloads after the TTL. A
// lease lost while etcd was away (an outage longer than the TTL) is granted
// anew and the node's workloads written again under it (on_lease).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "sources/etcd_client.h"

namespace zeroseg {

class NodeLease {
 public:
  // on_lease(id): a new lease holds the node key; write the node's workloads
  // with it. Runs on the lease's thread; an exception from it is logged and
  // the lease granted again at the next beat.
  // on_beat: after each keepalive that etcd answered (every ttl/3), on the
  // lease's thread; an exception from it is logged.
  NodeLease(std::shared_ptr<etcd::Client> client, std::string node_key, int64_t ttl_seconds,
            std::function<void(int64_t lease)> on_lease, std::function<void()> on_beat = nullptr);
  ~NodeLease();
  void start();
  void stop();
  int64_t id() const;  // 0 while none is held
  int64_t ttl() const { return ttl_; }
  // Why the last grant failed ("" after one that held): before a node holds
  // a lease its watcher has not started, and this is the outage's reason.
  std::string last_error() const;

 private:
  void run();
  bool grant();
  std::shared_ptr<etcd::Client> client_;
  std::string node_key_;
  int64_t ttl_;
  std::function<void(int64_t)> on_lease_;
  std::function<void()> on_beat_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  int64_t id_ = 0;
  std::string last_error_;  // under mu_
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace zeroseg
