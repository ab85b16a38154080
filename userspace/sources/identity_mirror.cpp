// SPDX-License-Identifier: Apache-2.0
#include "sources/identity_mirror.h"

#include <algorithm>

#include "common/log.h"
#include "sources/backoff.h"
#include "sources/cluster_identities.h"
#include "sources/cluster_store.h"  // kWatchBackoffFirst, kWatchBackoffCap

namespace zeroseg {

IdentityMirror::IdentityMirror(const etcd::ClientOptions& options, std::string prefix)
    : client_(std::make_shared<etcd::Client>(options)), prefix_(std::move(prefix) + "by-key/") {}

IdentityMirror::~IdentityMirror() { stop(); }

void IdentityMirror::start() { thread_ = std::thread([this] { run(); }); }

void IdentityMirror::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    in_step_ = false;
  }
  cv_.notify_all();
  client_->stop();
  if (thread_.joinable()) thread_.join();
}

std::optional<uint32_t> IdentityMirror::number(const std::string& by_key_path) const {
  std::lock_guard lock(mu_);
  if (!in_step_) return std::nullopt;
  auto it = numbers_.find(by_key_path);
  if (it == numbers_.end()) return std::nullopt;
  return it->second;
}

bool IdentityMirror::in_step() const {
  std::lock_guard lock(mu_);
  return in_step_;
}

bool IdentityMirror::list() {
  auto r = client_->range_prefix(prefix_);
  if (!r) {
    log::debug("cluster: identity numbers not listed: " + r.error());
    return false;
  }
  std::unordered_map<std::string, uint32_t> numbers;
  for (const auto& kv : r->kvs)
    if (auto n = parse_identity_number(kv.value)) numbers[kv.key] = *n;
  std::lock_guard lock(mu_);
  numbers_ = std::move(numbers);
  revision_ = r->revision;
  in_step_ = !stopping_;
  return true;
}

void IdentityMirror::apply(const etcd::Event& e) {
  auto n = e.type == etcd::Event::Type::put ? parse_identity_number(e.kv.value) : std::nullopt;
  std::lock_guard lock(mu_);
  if (n)
    numbers_[e.kv.key] = *n;
  else
    numbers_.erase(e.kv.key);  // deleted, or no number: etcd's allocate would refuse it too
}

void IdentityMirror::run() {
  Backoff backoff(kWatchBackoffFirst, kWatchBackoffCap);
  bool listed = false;
  while (true) {
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
    }
    if (!listed) listed = list();
    if (listed) {
      bool compacted = false;
      auto next = client_->watch(prefix_, etcd::prefix_end(prefix_), revision_ + 1, [&](const etcd::WatchBatch& b) {
        if (b.compact_revision > 0) {
          compacted = true;
          return false;
        }
        for (const auto& e : b.events) apply(e);
        revision_ = std::max(revision_, b.revision);
        return true;
      });
      if (next && !compacted) {
        revision_ = std::max(revision_, *next - 1);  // a quiet end: watch on from there
        backoff.reset();
        continue;
      }
      if (!next) log::debug("cluster: identity numbers' watch ended: " + next.error());
      listed = false;  // compacted or failed: what was missed is listed again
      std::lock_guard lock(mu_);
      in_step_ = false;
    }
    std::unique_lock lock(mu_);
    if (cv_.wait_for(lock, backoff.next(), [&] { return stopping_; })) return;
  }
}

}  // namespace zeroseg
