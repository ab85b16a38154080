// SPDX-License-Identifier: Apache-2.0
// Identities numbered cluster-wide in etcd: the same label set gets the same
// number on every node. Under /zeroseg/v1/identities/:
//   by-key/KEY  -> NUMBER        (KEY: the label set, name=value lines, escaped)
//   by-id/NUMBER -> LABELS JSON  (for `identity list` and a node that sees only the number)
//   next        -> NUMBER        (the lowest number never handed out)
// A new key is numbered by one transaction that commits only if the key is
// still absent and `next` is unchanged since read (compare-and-swap): two
// nodes numbering the same new key at once end with one number (the loser
// reads the winner's), and two keys never get one number.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "identity/allocator.h"
#include "sources/etcd_client.h"

namespace zeroseg {

inline constexpr const char* kClusterIdentityPrefix = "/zeroseg/v1/identities/";

class EtcdIdentityAllocator : public IdentityAllocator {
 public:
  // client: shared with the node's other cluster users; prefix: tests use their own.
  explicit EtcdIdentityAllocator(std::shared_ptr<etcd::Client> client,
                                 std::string prefix = kClusterIdentityPrefix);

  // The key's number, from the cache or etcd; throws Error (naming etcd and
  // why) when etcd cannot be reached: a compile that needs a new identity
  // then fails whole, changing nothing.
  uint32_t allocate(const Labels& labels) override;
  // Forgets numbers this node no longer uses. The numbers stay taken in
  // etcd: a cluster-wide release needs every node's references (not yet).
  void release_unused(const std::set<uint32_t>& in_use) override;
  std::map<uint32_t, Labels> all() const override;

  // The etcd key of a label set (by-key/...), for tests and `cluster status`.
  std::string key_path(const Labels& labels) const;

 private:
  std::shared_ptr<etcd::Client> client_;
  std::string prefix_;
  mutable std::mutex mu_;
  std::map<std::string, uint32_t> by_key_;
  std::map<uint32_t, Labels> by_id_;
};

}  // namespace zeroseg
