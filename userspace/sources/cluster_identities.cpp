// SPDX-License-Identifier: Apache-2.0
#include "sources/cluster_identities.h"

#include <zeroseg/identity.h>

#include <algorithm>
#include <optional>
#include <utility>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/log.h"
#include "sources/identity_mirror.h"

namespace zeroseg {
namespace {

// Retries of the compare-and-swap: a failed round means this node's
// `next` was stale (always so on an allocator's first claim) or another
// node numbered a key meanwhile, so this many in a row is contention no
// cluster has; past it the apply fails rather than spin.
constexpr int kMaxRounds = 64;

// name=value lines, with every byte but [A-Za-z0-9._/-] as %XX (the '='
// and line ends between them too): readable in
// etcdctl, and no label text can forge the line structure.
std::string escaped_key(const Labels& labels) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  auto put = [&](const std::string& s) {
    for (unsigned char c : s) {
      if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
          c == '/' || c == '-') {
        out += char(c);
      } else {
        out += '%';
        out += kHex[c >> 4];
        out += kHex[c & 15];
      }
    }
  };
  for (const auto& [name, value] : labels) {
    put(name);
    out += '=';
    put(value);
    out += "%0A";
  }
  return out;
}

}  // namespace

std::optional<uint32_t> parse_identity_number(const std::string& s) {
  // decimal as std::to_string writes it: no leading zero (a claim of
  // "0256" would compare it against "256" and fail every round)
  if (s.empty() || s.size() > 10 || s[0] == '0' || s.find_first_not_of("0123456789") != std::string::npos)
    return std::nullopt;
  uint64_t n = std::stoull(s);
  if (n < ZS_ID_FIRST_ALLOCATED || n > UINT32_MAX) return std::nullopt;
  return static_cast<uint32_t>(n);
}

EtcdIdentityAllocator::EtcdIdentityAllocator(std::shared_ptr<etcd::Client> client, std::string prefix)
    : client_(std::move(client)), prefix_(std::move(prefix)) {}

std::string EtcdIdentityAllocator::key_path(const Labels& labels) const {
  return prefix_ + "by-key/" + escaped_key(labels);
}

namespace {
thread_local bool t_learning = false;  // EtcdIdentityAllocator::Learning
}  // namespace

EtcdIdentityAllocator::Learning::Learning() : was_(std::exchange(t_learning, true)) {}
EtcdIdentityAllocator::Learning::~Learning() { t_learning = was_; }

std::optional<uint32_t> EtcdIdentityAllocator::read_back(const etcd::TxnResult& done, const std::string& path,
                                                         const Labels& labels) {
  if (done.ranges.size() != 2) throw Error("identity for " + labels_str(labels) + ": etcd answered no ranges");
  const std::string next_path = prefix_ + "next";
  // `next` as read, for the next claim; one that is no number is refused
  // only if a number must be taken from it: a label set numbered already
  // is found whatever `next` holds
  const auto& next_kvs = done.ranges[1].kvs;
  std::optional<uint32_t> next = ZS_ID_FIRST_ALLOCATED;
  if (!next_kvs.empty()) next = parse_identity_number(next_kvs[0].value);
  next_seen_ = next.value_or(ZS_ID_FIRST_ALLOCATED);
  next_mod_ = next_kvs.empty() || !next ? 0 : next_kvs[0].mod_revision;
  const auto& key_kvs = done.ranges[0].kvs;
  if (key_kvs.empty()) {
    if (!next) throw Error("identities: etcd holds '" + next_kvs[0].value + "' at " + next_path);
    if (*next == UINT32_MAX)
      throw Error("identities: every number is taken in etcd (" + next_path + " holds " + next_kvs[0].value + ")");
    return std::nullopt;
  }
  auto n = parse_identity_number(key_kvs[0].value);
  if (!n)
    throw Error("identity for " + labels_str(labels) + ": etcd holds '" + key_kvs[0].value + "' at " + path +
                ", not an identity number");
  return n;
}

uint32_t EtcdIdentityAllocator::allocate(const Labels& labels) {
  const std::string path = key_path(labels);
  std::lock_guard lock(mu_);
  if (auto it = by_key_.find(path); it != by_key_.end()) return it->second;
  const std::string next_path = prefix_ + "next";
  auto keep = [&](uint32_t number, bool use_written) {
    by_key_[path] = number;
    by_id_[number] = labels;
    if (node_.empty()) return number;
    if (use_written) reported_.insert(number);
    fresh_.insert(number);  // reported at the next beat even if no compile keeps it yet
    return number;
  };
  const std::vector<etcd::Op> reads = {etcd::Op::get(path), etcd::Op::get(next_path)};
  if (t_learning) {
    if (mirror_) {
      if (auto n = mirror_->number(path)) {
        sources_.mirror++;
        return keep(*n, false);
      }
    }
    // a read (no raft write, no fsync): the number, or `next` for the claim below
    auto seen = client_->txn({{}, reads, {}});
    if (!seen) throw Error("identity for " + labels_str(labels) + ": " + seen.error());
    if (auto n = read_back(*seen, path, labels)) {
      sources_.read++;
      return keep(*n, false);
    }
  }
  sources_.claimed++;
  const std::string labels_json = nlohmann::json(labels).dump();
  for (int round = 0; round < kMaxRounds; round++) {
    // One transaction claims `next` as this node last saw it: it commits
    // only while the key and by-id/NUMBER are absent and `next` is
    // unchanged (compare-and-swap). Failing, the same transaction reads
    // the key and `next`: the winner's number, or the `next` to claim on
    // the next round. An allocator's first claim, `next` never seen,
    // fails unless `next` is absent (nothing ever numbered).
    const uint32_t candidate = next_seen_;
    // every number seen taken: no claim, only the reads (the key may be
    // numbered; `next` may have been repaired since it was seen)
    const bool seen_full = candidate == UINT32_MAX;
    etcd::Txn claim;
    if (seen_full) {
      claim.success = reads;
    } else {
      // `next` compared by value and by revision: a revision alone could
      // come round again after etcd is restored from a snapshot
      claim.compare = {etcd::Compare::absent(path), etcd::Compare::absent(prefix_ + "by-id/" + std::to_string(candidate))};
      if (next_mod_) {
        claim.compare.push_back(etcd::Compare::mod_revision_is(next_path, next_mod_));
        claim.compare.push_back(etcd::Compare::value_is(next_path, std::to_string(candidate)));
      } else {
        claim.compare.push_back(etcd::Compare::absent(next_path));
      }
      claim.success = {etcd::Op::put(path, std::to_string(candidate)),
                       etcd::Op::put(prefix_ + "by-id/" + std::to_string(candidate), labels_json),
                       etcd::Op::put(next_path, std::to_string(candidate + 1))};
      if (!node_.empty()) claim.success.push_back(etcd::Op::put(used_key(candidate), "", lease_));
      claim.failure = reads;
    }
    auto done = client_->txn(claim);
    if (!done) throw Error("identity for " + labels_str(labels) + ": " + done.error());
    if (done->succeeded && !seen_full) {
      next_seen_ = candidate + 1;
      next_mod_ = done->revision;  // the put of `next` is this revision's
      return keep(candidate, true);
    }
    auto number = read_back(*done, path, labels);
    if (!number) continue;  // the key is still new: claim `next` as just read
    if (!node_.empty()) {
      // the use is written only while the number is still this key's: a
      // sweep that released it meanwhile makes this fail, and we claim again
      etcd::Txn use;
      use.compare = {etcd::Compare::value_is(path, std::to_string(*number))};
      use.success = {etcd::Op::put(used_key(*number), "", lease_), etcd::Op::del(prefix_ + "unused/" + std::to_string(*number))};
      auto used = client_->txn(use);
      if (!used) throw Error("identity for " + labels_str(labels) + ": " + used.error());
      if (!used->succeeded) continue;
    }
    return keep(*number, true);
  }
  throw Error("identity for " + labels_str(labels) + ": etcd stayed contended for " + std::to_string(kMaxRounds) +
              " rounds");
}

void EtcdIdentityAllocator::release_unused(const std::set<uint32_t>& in_use) {
  std::lock_guard lock(mu_);
  for (auto it = by_key_.begin(); it != by_key_.end();) {
    if (in_use.count(it->second)) {
      ++it;
    } else {
      by_id_.erase(it->second);
      it = by_key_.erase(it);
    }
  }
}

std::map<uint32_t, Labels> EtcdIdentityAllocator::all() const {
  std::lock_guard lock(mu_);
  return by_id_;
}

}  // namespace zeroseg

namespace zeroseg {

std::string EtcdIdentityAllocator::used_key(uint32_t number) const {
  return prefix_ + "used-by/" + std::to_string(number) + "/" + node_;
}

EtcdIdentityAllocator::Sources EtcdIdentityAllocator::sources() const {
  std::lock_guard lock(mu_);
  return sources_;
}

void EtcdIdentityAllocator::set_mirror(std::shared_ptr<const IdentityMirror> mirror) {
  std::lock_guard lock(mu_);
  mirror_ = std::move(mirror);
}

void EtcdIdentityAllocator::set_node(std::string node) {
  std::lock_guard lock(mu_);
  node_ = std::move(node);
}

etcd::Result<int64_t> EtcdIdentityAllocator::set_lease(int64_t lease) {
  std::lock_guard lock(mu_);
  lease_ = lease;
  if (node_.empty() || reported_.empty()) return int64_t{0};
  std::vector<etcd::Op> ops;
  for (uint32_t n : reported_) ops.push_back(etcd::Op::put(used_key(n), "", lease_));
  // Each used-by key stands alone: in batches (a node using more than ~100
  // numbers could otherwise neither take a lease nor report many uses).
  return etcd::txn_in_batches(*client_, ops);
}

etcd::Result<int64_t> EtcdIdentityAllocator::report_usage(const std::set<uint32_t>& in_use_now) {
  std::lock_guard lock(mu_);
  if (node_.empty()) return int64_t{0};
  std::set<uint32_t> in_use = in_use_now;
  in_use.insert(fresh_.begin(), fresh_.end());
  std::vector<etcd::Op> ops;
  for (uint32_t n : in_use)
    if (n >= ZS_ID_FIRST_ALLOCATED && !reported_.count(n)) {
      ops.push_back(etcd::Op::put(used_key(n), "", lease_));
      ops.push_back(etcd::Op::del(prefix_ + "unused/" + std::to_string(n)));
    }
  std::vector<uint32_t> dropped;
  for (uint32_t n : reported_)
    if (!in_use.count(n)) {
      ops.push_back(etcd::Op::del(used_key(n)));
      dropped.push_back(n);
    }
  if (ops.empty()) {
    fresh_.clear();
    return int64_t{0};
  }
  auto r = etcd::txn_in_batches(*client_, ops);
  if (!r) return r;
  // forgotten here too: a later use asks etcd again (or the mirror, under
  // Learning), and the use is written then or at the next beat (or the key
  // numbered anew, when a sweep released this number meanwhile)
  for (uint32_t n : dropped)
    if (auto it = by_id_.find(n); it != by_id_.end()) {
      by_key_.erase(key_path(it->second));
      by_id_.erase(it);
    }
  reported_.clear();
  for (uint32_t n : in_use)
    if (n >= ZS_ID_FIRST_ALLOCATED) reported_.insert(n);
  fresh_.clear();
  return *r;
}

etcd::Result<std::vector<uint32_t>> EtcdIdentityAllocator::sweep(int64_t grace_seconds, int64_t now_seconds) {
  using R = etcd::Result<std::vector<uint32_t>>;
  const std::string by_id = prefix_ + "by-id/", used = prefix_ + "used-by/", unused = prefix_ + "unused/";
  auto seen = client_->txn({{}, {etcd::Op::get_prefix(by_id), etcd::Op::get_prefix(used), etcd::Op::get_prefix(unused)}, {}});
  if (!seen) return R::failure("identity sweep: " + seen.error());
  if (seen->ranges.size() != 3) return R::failure("identity sweep: etcd answered no ranges");
  std::set<uint32_t> in_use;
  for (const auto& kv : seen->ranges[1].kvs) {
    std::string rest = kv.key.substr(used.size());
    if (auto n = parse_identity_number(rest.substr(0, rest.find('/')))) in_use.insert(*n);
  }
  std::map<uint32_t, const etcd::KeyValue*> marks;
  for (const auto& kv : seen->ranges[2].kvs)
    if (auto n = parse_identity_number(kv.key.substr(unused.size()))) marks[*n] = &kv;
  std::vector<uint32_t> released;
  for (const auto& id : seen->ranges[0].kvs) {
    auto n = parse_identity_number(id.key.substr(by_id.size()));
    if (!n) continue;
    const std::string num = std::to_string(*n), mark_key = unused + num, users = used + num + "/";
    auto mark = marks.find(*n);
    if (in_use.count(*n)) {
      if (mark != marks.end())  // used again: the mark is stale (report_usage and allocate delete it too)
        (void)client_->txn({{etcd::Compare::mod_revision_is(mark_key, mark->second->mod_revision)}, {etcd::Op::del(mark_key)}, {}});
      continue;
    }
    if (mark == marks.end()) {
      // the grace starts now, if still no node uses it
      (void)client_->txn({{etcd::Compare::absent(mark_key), etcd::Compare::none_under(users)},
                          {etcd::Op::put(mark_key, std::to_string(now_seconds))},
                          {}});
      continue;
    }
    int64_t since = 0;
    try {
      since = std::stoll(mark->second->value);
    } catch (const std::exception&) {
      since = 0;  // unreadable: as old as can be
    }
    if (now_seconds - since < grace_seconds) continue;
    Labels labels;
    try {
      labels = nlohmann::json::parse(id.value).get<Labels>();
    } catch (const std::exception&) {
      log::warn("identity sweep: " + id.key + " holds no label set; left");
      continue;
    }
    const std::string key = key_path(labels);
    etcd::Txn release;
    release.compare = {etcd::Compare::none_under(users), etcd::Compare::mod_revision_is(mark_key, mark->second->mod_revision),
                       etcd::Compare::mod_revision_is(id.key, id.mod_revision), etcd::Compare::value_is(key, num)};
    release.success = {etcd::Op::del(key), etcd::Op::del(id.key), etcd::Op::del(mark_key)};
    auto done = client_->txn(release);
    if (!done) return R::failure("identity sweep: " + done.error());
    if (done->succeeded) released.push_back(*n);
  }
  if (!released.empty()) {
    std::lock_guard lock(mu_);
    for (uint32_t n : released) {
      if (auto it = by_id_.find(n); it != by_id_.end()) {
        by_key_.erase(key_path(it->second));
        by_id_.erase(it);
      }
    }
  }
  return released;
}

etcd::Result<std::vector<ClusterIdentity>> list_cluster_identities(etcd::Client& client, const std::string& prefix) {
  using R = etcd::Result<std::vector<ClusterIdentity>>;
  const std::string by_id = prefix + "by-id/", used = prefix + "used-by/", unused = prefix + "unused/";
  auto seen = client.txn({{}, {etcd::Op::get_prefix(by_id), etcd::Op::get_prefix(used), etcd::Op::get_prefix(unused)}, {}});
  if (!seen) return R::failure("identities: " + seen.error());
  if (seen->ranges.size() != 3) return R::failure("identities: etcd answered no ranges");
  std::map<uint32_t, ClusterIdentity> table;
  for (const auto& kv : seen->ranges[0].kvs) {
    auto n = parse_identity_number(kv.key.substr(by_id.size()));
    if (!n) continue;
    ClusterIdentity& id = table[*n];
    id.number = *n;
    try {
      id.labels = nlohmann::json::parse(kv.value).get<Labels>();
    } catch (const std::exception&) {
      id.labels = {};  // listed anyway: the number is taken whatever it holds
    }
  }
  for (const auto& kv : seen->ranges[1].kvs) {
    std::string rest = kv.key.substr(used.size());
    size_t slash = rest.find('/');
    auto n = parse_identity_number(rest.substr(0, slash));
    if (n && slash != std::string::npos && table.count(*n)) table[*n].nodes.push_back(rest.substr(slash + 1));
  }
  for (const auto& kv : seen->ranges[2].kvs) {
    auto n = parse_identity_number(kv.key.substr(unused.size()));
    if (!n || !table.count(*n)) continue;
    try {
      table[*n].unused_since = std::stoll(kv.value);
    } catch (const std::exception&) {
      table[*n].unused_since = 0;
    }
  }
  std::vector<ClusterIdentity> out;
  for (auto& [_, id] : table) out.push_back(std::move(id));
  return out;
}

}  // namespace zeroseg
