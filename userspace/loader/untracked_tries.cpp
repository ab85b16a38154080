// SPDX-License-Identifier: Apache-2.0
#include "loader/untracked_tries.h"

#include <cstring>


namespace zeroseg {
namespace {

// get(), but an LPM trie's lookup returns a covering prefix's entry when
// the key has none: the value names its key's length
std::optional<zs_untracked_value> get_exact(const UntrackedTrie& trie, const zs_untracked_key& key) {
  auto v = trie.get(key);
  if (v && v->prefixlen != static_cast<uint8_t>(key.prefixlen)) return std::nullopt;
  return v;
}

// every entry, by its key's bytes (startup's levelling only)
std::map<std::string, zs_untracked_value> contents(const UntrackedTrie& trie) {
  std::map<std::string, zs_untracked_value> out;
  for (const auto& [k, v] : trie.entries()) out[std::string(reinterpret_cast<const char*>(&k), sizeof(k))] = v;
  return out;
}

}  // namespace

std::vector<std::pair<zs_untracked_key, zs_untracked_value>> UntrackedTrie::entries() const {
  std::vector<std::pair<zs_untracked_key, zs_untracked_value>> out;
  for (auto [k, v] : map_.entries()) {
    if (k.slot != slot_) continue;
    k.slot = 0;
    out.emplace_back(k, v);
  }
  return out;
}

zs_untracked_key untracked_key(uint32_t ifindex, const Prefix& prefix) {
  zs_untracked_key key{};
  key.prefixlen = ZS_UNTRACKED_KEY_BITS + prefix.len;
  key.ifindex = ifindex;
  key.family = prefix.addr.family;
  std::memcpy(key.addr, prefix.addr.bytes.data(), prefix.addr.family == 4 ? 4 : 16);
  return key;
}

void UntrackedChanges::stage(const UntrackedTrie& trie, size_t entries) {
  items_.clear();
  new_keys_ = removed_keys_ = 0;
  for (const auto& [bytes, change] : by_key_) {
    Item item{change.first, get_exact(trie, change.first), change.second};
    new_keys_ += !item.before && item.next;
    removed_keys_ += item.before && !item.next;
    items_.push_back(item);
  }
  // both slots at their fullest: while this one is written (the other's
  // E entries beside E + N), and while the other catches up (E + N - R
  // beside E + N), puts and erases in key order
  check_room(trie.ref(), 2 * entries + new_keys_ + (new_keys_ > removed_keys_ ? new_keys_ - removed_keys_ : 0));
}

void UntrackedChanges::write(const UntrackedTrie& trie, std::vector<std::function<void()>>* undo) const {
  for (const auto& item : items_) {
    if (undo)  // harmless for an item not reached: it puts back what is there
      undo->push_back([&trie, item] {
        if (item.before)
          trie.put(item.key, *item.before);
        else
          trie.erase(item.key);
      });
    if (item.next)
      trie.put(item.key, *item.next);
    else
      trie.erase(item.key);
  }
}

size_t level_untracked(const UntrackedTrie& from, const UntrackedTrie& to) {
  auto want = contents(from), have = contents(to);
  for (const auto& [bytes, v] : have)
    if (!want.count(bytes)) {
      zs_untracked_key k;
      std::memcpy(&k, bytes.data(), sizeof(k));
      to.erase(k);
    }
  for (const auto& [bytes, v] : want) {
    auto it = have.find(bytes);
    if (it != have.end() && std::memcmp(&it->second, &v, sizeof(v)) == 0) continue;
    zs_untracked_key k;
    std::memcpy(&k, bytes.data(), sizeof(k));
    to.put(k, v);
  }
  return want.size();
}

}  // namespace zeroseg
