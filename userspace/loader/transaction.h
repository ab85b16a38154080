// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <zeroseg/endpoint.h>
#include <zeroseg/ipcache.h>
#include <zeroseg/policy.h>
#include <zeroseg/source.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "loader/untracked_tries.h"
#include "net/addr.h"

namespace zeroseg {

class Datapath;

// A set of endpoint, ipcache and policy changes that packets see all at
// once, or not at all (see include/zeroseg/slots.h for how). Only the
// entries named are touched. commit() either applies everything or
// nothing, and throws with the reason (e.g. needed vs capacity).
class Transaction {
 public:
  explicit Transaction(Datapath& dp);

  void set_endpoint(uint32_t ifindex, const zs_endpoint& ep);
  void remove_endpoint(uint32_t ifindex);
  void set_identity(const Prefix& prefix, uint32_t identity);
  void remove_identity(const Prefix& prefix);
  void set_rule(const zs_policy_key& key, const zs_policy_entry& entry);
  void remove_rule(const zs_policy_key& key);
  // Source validation (include/zeroseg/source.h; keys by source_key and
  // source_prefix_key): an address own (ZS_SOURCE_OWN) on a workload's
  // ifindex, or a local workload's (ZS_SOURCE_LOCAL) on an uplink's; a
  // prefix of a workload's allowedSourcePrefixes (ZS_SOURCE_PREFIX_ALLOWED),
  // or another workload's address carved out of them (ZS_SOURCE_PREFIX_DENIED).
  void set_source(const zs_source_key& key, zs_source_kind kind);
  void remove_source(const zs_source_key& key);
  void set_source_prefix(const zs_source_prefix_key& key,
                         zs_source_prefix_state state = ZS_SOURCE_PREFIX_ALLOWED);
  void remove_source_prefix(const zs_source_prefix_key& key);
  // An untracked deny's trie entry (include/zeroseg/untracked.h; keys by
  // untracked_key): both tries get it, the inactive one first.
  void set_untracked(const zs_untracked_key& key, const zs_untracked_value& value);
  void remove_untracked(const zs_untracked_key& key);

  size_t size() const {
    return endpoints_.size() + ipcache_.size() + policy_.size() + sources_.size() + source_prefixes_.size() +
           untracked_.size();
  }
  // Applies the changes and bumps the generation (the policy revision),
  // which re-judges established flows on their next packet.
  void commit();

  static zs_ipcache_key ipcache_key(const Prefix& prefix);
  static Prefix prefix_of(const zs_ipcache_key& key);
  static zs_source_key source_key(uint32_t ifindex, const IpAddr& addr);
  static zs_source_prefix_key source_prefix_key(uint32_t ifindex, const Prefix& prefix);

 private:
  template <class Key, class Slot>
  struct Changes {
    std::map<std::string, std::pair<Key, std::optional<Slot>>> by_key;
    void set(const Key& k, std::optional<Slot> s) {
      by_key[std::string(reinterpret_cast<const char*>(&k), sizeof(k))] = {k, std::move(s)};
    }
    size_t size() const { return by_key.size(); }
  };

  Datapath& dp_;
  Changes<uint32_t, zs_endpoint> endpoints_;
  Changes<zs_ipcache_key, uint32_t> ipcache_;
  Changes<zs_policy_key, zs_policy_entry> policy_;
  Changes<zs_source_key, uint8_t> sources_;
  Changes<zs_source_prefix_key, uint8_t> source_prefixes_;
  UntrackedChanges untracked_;
};

}  // namespace zeroseg
