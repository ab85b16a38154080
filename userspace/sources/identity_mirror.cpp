// SPDX-License-Identifier: Apache-2.0
#include "sources/identity_mirror.h"

#include <algorithm>
#include <chrono>

#include "common/log.h"
#include "sources/backoff.h"
#include "sources/cluster_identities.h"
#include "sources/cluster_store.h"  // kWatchIdle, kWatchBackoffFirst, kWatchBackoffCap

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
      bool compacted = false, quiet = true;
      int64_t created_at = 0;
      const auto began = std::chrono::steady_clock::now();
      auto next = client_->watch(
          prefix_, etcd::prefix_end(prefix_), revision_ + 1,
          [&](const etcd::WatchBatch& b) {
            if (b.compact_revision > 0) {
              compacted = true;
              return false;
            }
            quiet = quiet && b.events.empty();
            // resumed from the events' revisions, never the header's: a
            // message of a watch catching up holds part of what is missed,
            // under the store's head revision
            for (const auto& e : b.events) {
              apply(e);
              revision_ = std::max(revision_, e.kv.mod_revision);
            }
            return true;
          },
          kWatchIdle, &created_at);
      const bool whole_idle = std::chrono::steady_clock::now() - began >= kWatchIdle;
      // the store behind what was seen (etcd restored from an older
      // snapshot, or wiped): numbers may mean other label sets now
      const bool went_back = created_at > 0 && created_at < revision_;
      if (next && !compacted && !went_back && (!quiet || whole_idle)) {
        // quiet for the whole idle time: nothing under by-key/ came before
        // the revision the watch was created at (etcd sends a watch's past
        // events at once), so the next watch starts there, not at the last
        // new label set (an old start makes etcd scan every revision since)
        if (quiet && created_at > 0) revision_ = std::max(revision_, created_at);
        backoff.reset();
        continue;
      }
      if (!next) log::debug("cluster: identity numbers' watch ended: " + next.error());
      // compacted, gone back, failed, or ended at once: listed again after
      // a wait (what was missed is in the list)
      listed = false;
      std::lock_guard lock(mu_);
      in_step_ = false;
    }
    std::unique_lock lock(mu_);
    if (cv_.wait_for(lock, backoff.next(), [&] { return stopping_; })) return;
  }
}

}  // namespace zeroseg
