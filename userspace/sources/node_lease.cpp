// SPDX-License-Identifier: Apache-2.0
#include "sources/node_lease.h"

#include "common/log.h"
#include "common/time.h"

namespace zeroseg {

NodeLease::NodeLease(std::shared_ptr<etcd::Client> client, std::string node_key, int64_t ttl_seconds,
                     std::function<void(int64_t)> on_lease, std::function<void()> on_beat)
    : client_(std::move(client)),
      node_key_(std::move(node_key)),
      ttl_(ttl_seconds),
      on_lease_(std::move(on_lease)),
      on_beat_(std::move(on_beat)) {}

NodeLease::~NodeLease() { stop(); }

void NodeLease::start() { thread_ = std::thread([this] { run(); }); }

void NodeLease::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

int64_t NodeLease::id() const {
  std::lock_guard lock(mu_);
  return id_;
}

std::string NodeLease::last_error() const {
  std::lock_guard lock(mu_);
  return last_error_;
}

bool NodeLease::grant() {
  auto failed = [this](const std::string& why) {
    log::warn("cluster: " + why);
    std::lock_guard lock(mu_);
    last_error_ = why;
    return false;
  };
  auto lease = client_->lease_grant(ttl_);
  if (!lease) return failed("no node lease: " + lease.error());
  // a lease this node cannot use is given back: granted anew a second
  // later, each would otherwise hold a stale node key for its TTL
  auto give_back = [&] { (void)client_->lease_revoke(*lease); };
  auto put = client_->put(node_key_, "{\"since_ns\":" + std::to_string(realtime_now_ns()) + "}", *lease);
  if (!put) {
    give_back();
    return failed("node key not written: " + put.error());
  }
  try {
    on_lease_(*lease);
  } catch (const std::exception& e) {
    give_back();
    return failed(std::string("the node's workloads not written under its lease: ") + e.what());
  }
  std::lock_guard lock(mu_);
  id_ = *lease;
  last_error_.clear();
  return true;
}

void NodeLease::run() {
  const auto beat = std::chrono::milliseconds(ttl_ * 1000 / 3);
  while (true) {
    int64_t id = this->id();
    if (id == 0) {
      grant();
    } else if (auto left = client_->lease_keepalive(id); left && *left == 0) {
      // etcd let it run out (away longer than the TTL): the node's keys are gone
      log::warn("cluster: the node lease ran out; writing the node's workloads again");
      {
        std::lock_guard lock(mu_);
        id_ = 0;
      }
      grant();
    } else if (left && on_beat_) {
      try {
        on_beat_();
      } catch (const std::exception& e) {
        log::warn(std::string("cluster: ") + e.what());
      }
    }  // an unreachable etcd: try again at the next beat
    std::unique_lock lock(mu_);
    if (cv_.wait_for(lock, id_ ? beat : std::chrono::milliseconds(1000), [&] { return stopping_; })) return;
  }
}

}  // namespace zeroseg
