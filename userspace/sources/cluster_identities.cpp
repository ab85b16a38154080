// SPDX-License-Identifier: Apache-2.0
#include "sources/cluster_identities.h"

#include <zeroseg/identity.h>

#include <nlohmann/json.hpp>

#include "common/error.h"

namespace zeroseg {
namespace {

// Retries of the compare-and-swap: each failed round means another node
// numbered a key meanwhile, so this many in a row is contention no
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

std::optional<uint32_t> parse_number(const std::string& s) {
  if (s.empty() || s.size() > 10 || s.find_first_not_of("0123456789") != std::string::npos) return std::nullopt;
  uint64_t n = std::stoull(s);
  if (n < ZS_ID_FIRST_ALLOCATED || n > UINT32_MAX) return std::nullopt;
  return static_cast<uint32_t>(n);
}

}  // namespace

EtcdIdentityAllocator::EtcdIdentityAllocator(std::shared_ptr<etcd::Client> client, std::string prefix)
    : client_(std::move(client)), prefix_(std::move(prefix)) {}

std::string EtcdIdentityAllocator::key_path(const Labels& labels) const {
  return prefix_ + "by-key/" + escaped_key(labels);
}

uint32_t EtcdIdentityAllocator::allocate(const Labels& labels) {
  const std::string path = key_path(labels);
  std::lock_guard lock(mu_);
  if (auto it = by_key_.find(path); it != by_key_.end()) return it->second;
  const std::string next_path = prefix_ + "next";
  const std::string labels_json = nlohmann::json(labels).dump();
  for (int round = 0; round < kMaxRounds; round++) {
    // one read of both: the key may be numbered already; else the candidate
    etcd::Txn read{{}, {etcd::Op::get(path), etcd::Op::get(next_path)}, {}};
    auto seen = client_->txn(read);
    if (!seen) throw Error("identity for " + labels_str(labels) + ": " + seen.error());
    if (seen->ranges.size() != 2) throw Error("identity for " + labels_str(labels) + ": etcd answered no ranges");
    uint32_t number = 0;
    if (!seen->ranges[0].kvs.empty()) {
      auto n = parse_number(seen->ranges[0].kvs[0].value);
      if (!n) throw Error("identity for " + labels_str(labels) + ": etcd holds '" + seen->ranges[0].kvs[0].value +
                          "' at " + path + ", not an identity number");
      number = *n;
    } else {
      uint32_t candidate = ZS_ID_FIRST_ALLOCATED;
      int64_t next_mod = 0;
      if (!seen->ranges[1].kvs.empty()) {
        auto n = parse_number(seen->ranges[1].kvs[0].value);
        if (!n) throw Error("identities: etcd holds '" + seen->ranges[1].kvs[0].value + "' at " + next_path);
        candidate = *n;
        next_mod = seen->ranges[1].kvs[0].mod_revision;
      }
      if (candidate == UINT32_MAX) throw Error("identities: every number is taken in etcd");
      etcd::Txn claim;
      claim.compare = {etcd::Compare::absent(path),
                       next_mod ? etcd::Compare::mod_revision_is(next_path, next_mod) : etcd::Compare::absent(next_path),
                       etcd::Compare::absent(prefix_ + "by-id/" + std::to_string(candidate))};
      claim.success = {etcd::Op::put(path, std::to_string(candidate)),
                       etcd::Op::put(prefix_ + "by-id/" + std::to_string(candidate), labels_json),
                       etcd::Op::put(next_path, std::to_string(candidate + 1))};
      auto done = client_->txn(claim);
      if (!done) throw Error("identity for " + labels_str(labels) + ": " + done.error());
      if (!done->succeeded) continue;  // another node numbered something meanwhile: read again
      number = candidate;
    }
    by_key_[path] = number;
    by_id_[number] = labels;
    return number;
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
