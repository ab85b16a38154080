// SPDX-License-Identifier: Apache-2.0
// The untracked deny's trie (include/zeroseg/untracked.h), both slots'
// entries apart in one map: a commit writes its changes into the slot
// packets do not read, flips, and once the old generation's programs are
// done (the grace period) writes them into the other. Both then hold the
// same entries.
#pragma once

#include <zeroseg/untracked.h>

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "loader/map.h"
#include "net/addr.h"

namespace zeroseg {

// One slot's entries of zs_untracked. Keys in and out carry no slot (0):
// the view puts its own in.
class UntrackedTrie {
 public:
  UntrackedTrie(Map<zs_untracked_key, zs_untracked_value> map, int slot) : map_(std::move(map)), slot_(slot & 1) {}
  std::optional<zs_untracked_value> get(zs_untracked_key k) const {
    k.slot = static_cast<uint8_t>(slot_);
    return map_.get(k);
  }
  void put(zs_untracked_key k, const zs_untracked_value& v) const {
    k.slot = static_cast<uint8_t>(slot_);
    map_.put(k, v);
  }
  bool erase(zs_untracked_key k) const {
    k.slot = static_cast<uint8_t>(slot_);
    return map_.erase(k);
  }
  // this slot's entries, their keys' slot 0
  std::vector<std::pair<zs_untracked_key, zs_untracked_value>> entries() const;
  const MapRef& ref() const { return map_.ref(); }

 private:
  Map<zs_untracked_key, zs_untracked_value> map_;
  int slot_;
};

// The trie key of prefix on ifindex (slot 0: UntrackedTrie puts its own).
zs_untracked_key untracked_key(uint32_t ifindex, const Prefix& prefix);

// A commit's changes to the tries: key -> its value (nullopt: removed).
class UntrackedChanges {
 public:
  void set(const zs_untracked_key& key, std::optional<zs_untracked_value> value) {
    if (value) value->prefixlen = static_cast<uint8_t>(key.prefixlen);
    by_key_[std::string(reinterpret_cast<const char*>(&key), sizeof(key))] = {key, value};
  }
  size_t size() const { return by_key_.size(); }
  bool empty() const { return by_key_.empty(); }

  // Reads what `trie` holds for each key (a lookup each); new_keys and
  // removed_keys count against it. Throws when both slots (`entries` a
  // slot now, and this one's new keys) would not fit: nothing written.
  void stage(const UntrackedTrie& trie, size_t entries);
  // Writes the changes into trie; undo gets how to put each back.
  void write(const UntrackedTrie& trie, std::vector<std::function<void()>>* undo) const;
  size_t new_keys() const { return new_keys_; }
  size_t removed_keys() const { return removed_keys_; }

 private:
  struct Item {
    zs_untracked_key key;
    std::optional<zs_untracked_value> before, next;
  };
  std::map<std::string, std::pair<zs_untracked_key, std::optional<zs_untracked_value>>> by_key_;
  std::vector<Item> items_;
  size_t new_keys_ = 0, removed_keys_ = 0;
};

// Makes trie `to` hold what `from` holds; returns from's entries.
size_t level_untracked(const UntrackedTrie& from, const UntrackedTrie& to);

}  // namespace zeroseg
