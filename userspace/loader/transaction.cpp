// SPDX-License-Identifier: Apache-2.0
#include "loader/transaction.h"

#include <cstring>
#include <functional>
#include <vector>

#include "common/error.h"
#include "loader/datapath.h"
#include "loader/slot_access.h"

namespace zeroseg {

Transaction::Transaction(Datapath& dp) : dp_(dp) {
  dp_.settle();
  if (!dp_.counted_) {
    dp_.repair_and_count();
    dp_.counted_ = true;
  }
}

zs_ipcache_key Transaction::ipcache_key(const Prefix& prefix) {
  zs_ipcache_key key{};
  key.family = prefix.addr.family;
  key.prefixlen = prefix.len;
  std::memcpy(key.addr, prefix.addr.bytes.data(), prefix.addr.family == 4 ? 4 : 16);
  return key;
}

Prefix Transaction::prefix_of(const zs_ipcache_key& key) {
  IpAddr a;
  a.family = key.family;
  std::memcpy(a.bytes.data(), key.addr, 16);
  return Prefix::of(a, key.prefixlen);
}

zs_source_key Transaction::source_key(uint32_t ifindex, const IpAddr& addr) {
  zs_source_key key{};
  key.ifindex = ifindex;
  key.family = addr.family;
  std::memcpy(key.addr, addr.bytes.data(), addr.family == 4 ? 4 : 16);
  return key;
}

// IPv4 as ::ffff:a.b.c.d; the length counts the ifindex's bits.
zs_source_prefix_key Transaction::source_prefix_key(uint32_t ifindex, const Prefix& prefix) {
  zs_source_prefix_key key{};
  key.ifindex = ifindex;
  auto* bytes = reinterpret_cast<uint8_t*>(key.addr);
  if (prefix.addr.family == 4) {
    bytes[10] = bytes[11] = 0xff;
    std::memcpy(bytes + 12, prefix.addr.bytes.data(), 4);
    key.prefixlen = ZS_SOURCE_PREFIX_IFINDEX_BITS + 96 + prefix.len;
  } else {
    std::memcpy(bytes, prefix.addr.bytes.data(), 16);
    key.prefixlen = ZS_SOURCE_PREFIX_IFINDEX_BITS + prefix.len;
  }
  return key;
}

void Transaction::set_source(const zs_source_key& key, zs_source_kind kind) {
  if (kind == ZS_SOURCE_NONE) throw Error("source kind 0 is reserved for 'no entry'");
  sources_.set(key, static_cast<uint8_t>(kind));
}
void Transaction::remove_source(const zs_source_key& key) { sources_.set(key, std::nullopt); }
void Transaction::set_source_prefix(const zs_source_prefix_key& key, zs_source_prefix_state state) {
  source_prefixes_.set(key, static_cast<uint8_t>(state));
}
void Transaction::remove_source_prefix(const zs_source_prefix_key& key) { source_prefixes_.set(key, std::nullopt); }
void Transaction::set_untracked(const zs_untracked_key& key, const zs_untracked_value& value) {
  untracked_.set(key, value);
}
void Transaction::remove_untracked(const zs_untracked_key& key) { untracked_.set(key, std::nullopt); }

void Transaction::set_endpoint(uint32_t ifindex, const zs_endpoint& ep) {
  if (ep.identity == 0) throw Error("endpoint identity 0 is reserved for 'no endpoint'");
  endpoints_.set(ifindex, ep);
}
void Transaction::remove_endpoint(uint32_t ifindex) { endpoints_.set(ifindex, std::nullopt); }

void Transaction::set_identity(const Prefix& prefix, uint32_t identity) {
  if (identity == 0) throw Error("identity 0 is reserved for 'no entry'");
  ipcache_.set(ipcache_key(prefix), identity);
}
void Transaction::remove_identity(const Prefix& prefix) { ipcache_.set(ipcache_key(prefix), std::nullopt); }

void Transaction::set_rule(const zs_policy_key& key, const zs_policy_entry& entry) {
  if (!entry.allow_rule && !entry.deny_rule) throw Error("a policy entry needs an allow or a deny rule id");
  policy_.set(key, entry);
}
void Transaction::remove_rule(const zs_policy_key& key) { policy_.set(key, std::nullopt); }

namespace {

// Writes key/value pairs in BPF_MAP_UPDATE_BATCH calls of up to 1024: one
// call for a small change, and small buffers for a whole apply (buffers
// for 110k keys stayed in the heap once freed: +14 MiB of RSS).
template <class Key, class Value>
class BatchWriter {
 public:
  explicit BatchWriter(const Map<Key, Value>& map) : map_(map) {
    keys_.reserve(kBatch);
    values_.reserve(kBatch);
  }
  void put(const Key& key, const Value& value) {
    keys_.push_back(key);
    values_.push_back(value);
    if (keys_.size() == kBatch) flush();
  }
  void flush() {
    map_.put_all(keys_.data(), values_.data(), static_cast<uint32_t>(keys_.size()));
    keys_.clear();
    values_.clear();
  }

 private:
  static constexpr size_t kBatch = 1024;
  const Map<Key, Value>& map_;
  std::vector<Key> keys_;
  std::vector<Value> values_;
};

// One map's share of a commit: what each touched key held and will hold.
template <class Key, class Value, class Slot>
struct Staged {
  struct Item {
    Key key;
    Value value;   // as in the map (zero when absent)
    bool existed;  // in the map before the commit
    Slot next;     // the new slot (zero = remove)
  };
  Map<Key, Value> map;
  std::vector<Item> items;
  size_t new_keys = 0, removed_keys = 0;

  template <class Changes, class OnSlot>
  Staged(Map<Key, Value> m, const Changes& changes, int active, OnSlot on_slot) : map(std::move(m)) {
    for (const auto& [bytes, change] : changes.by_key) {
      const auto& [key, slot] = change;
      auto current = get_exact(map, key);
      Item item{key, current.value_or(new_value<Value>(key)), current.has_value(), slot.value_or(Slot{})};
      const Slot& old = slot_ref(item.value, active);
      if (!slot_empty(old)) on_slot(key, old, -1);
      if (!slot_empty(item.next)) on_slot(key, item.next, +1);
      if (!item.existed && !slot_empty(item.next)) new_keys++;
      if (item.existed && slot_empty(item.next)) removed_keys++;
      items.push_back(item);
    }
  }

  void check_capacity(size_t entries) const { check_room(map.ref(), entries + new_keys); }

  // Phase 1: the new values go into the inactive slot, unseen by packets.
  // In batches (a one-rule change touches ~200 keys: one system call).
  void write_inactive(int inactive, std::vector<std::function<void()>>& undo) {
    BatchWriter<Key, Value> writer(map);
    for (auto& item : items) {
      Value staged = item.value;
      slot_ref(staged, inactive) = item.next;
      // harmless for an item no batch reached: it puts back what is there,
      // or erases what is absent
      undo.push_back([this, &item] {
        if (item.existed)
          map.put(item.key, item.value);
        else
          map.erase(item.key);
      });
      writer.put(item.key, staged);
    }
    writer.flush();
  }

  // Phase 2, after the flip: the old slot catches up, empty keys go.
  void level(int old_active) {
    BatchWriter<Key, Value> writer(map);
    for (auto& item : items) {
      if (slot_empty(item.next)) {
        map.erase(item.key);
        continue;
      }
      Value v = item.value;
      slot_ref(v, old_active) = item.next;
      slot_ref(v, old_active ^ 1) = item.next;
      writer.put(item.key, v);
    }
    writer.flush();
  }
};

}  // namespace

void Transaction::commit() {
  if (size() == 0) return;
  const uint64_t gen = dp_.generation();
  const int active = static_cast<int>(gen & 1), inactive = active ^ 1;

  PrefixLengthUse use = dp_.prefix_use_;
  Staged<uint32_t, zs_endpoint_value, zs_endpoint> eps(dp_.endpoints(), endpoints_, active,
                                                       [](auto&, auto&, int) {});
  Staged<zs_ipcache_key, zs_ipcache_value, uint32_t> ips(
      dp_.ipcache(), ipcache_, active,
      [&](const zs_ipcache_key& k, auto&, int d) { use.add_ip(k.family, k.prefixlen, d); });
  Staged<zs_policy_key, zs_policy_value, zs_policy_entry> pol(
      dp_.policy(), policy_, active, [&](const zs_policy_key& k, auto&, int d) {
        use.add_policy_key(k.peer, k.proto, k.port_plen, d);
      });
  Staged<zs_source_key, zs_source_value, uint8_t> srcs(
      dp_.sources(), sources_, active, [&](const zs_source_key& k, auto&, int d) { use.add_source(k.family, d); });
  Staged<zs_source_prefix_key, zs_source_prefix_value, uint8_t> spfx(dp_.source_prefixes(), source_prefixes_,
                                                                       active, [](auto&, auto&, int) {});
  eps.check_capacity(dp_.entries("zs_endpoints"));
  srcs.check_capacity(dp_.entries("zs_sources"));
  spfx.check_capacity(dp_.entries("zs_source_prefixes"));
  const UntrackedTrie tries[2] = {dp_.untracked(0), dp_.untracked(1)};
  untracked_.stage(tries[inactive], dp_.entries("zs_untracked"));
  use.add_untracked(static_cast<int64_t>(untracked_.new_keys()) - static_cast<int64_t>(untracked_.removed_keys()));
  ips.check_capacity(dp_.entries("zs_ipcache"));
  pol.check_capacity(dp_.entries("zs_policy"));
  const zs_lookup_plan plan = use.plan();

  // before any packet can read a key: a probe is skipped when its bit is clear
  for (const auto& item : ips.items)
    if (!slot_empty(item.next)) dp_.mark_ipcache_key(item.key);
  for (const auto& item : pol.items)
    if (!slot_empty(item.next)) dp_.mark_policy_key(item.key);

  std::vector<std::function<void()>> undo;
  try {
    eps.write_inactive(inactive, undo);
    ips.write_inactive(inactive, undo);
    pol.write_inactive(inactive, undo);
    srcs.write_inactive(inactive, undo);
    spfx.write_inactive(inactive, undo);
    untracked_.write(tries[inactive], &undo);
  } catch (...) {
    // each undo on its own: one the kernel refuses (as it refused the
    // write) must not leave the others' keys in the inactive slot, where
    // the next commit's flip would put them in force; if any is refused,
    // the next transaction levels every entry from the active slot first
    for (auto it = undo.rbegin(); it != undo.rend(); ++it) {
      try {
        (*it)();
      } catch (...) {
        dp_.counted_ = false;
      }
    }
    throw;
  }
  dp_.config_->plan[inactive] = plan;
  __atomic_store_n(&dp_.config_->generation, gen + 1, __ATOMIC_RELEASE);

  // the retired slot catches up later (Datapath::settle)
  struct Level {
    Staged<uint32_t, zs_endpoint_value, zs_endpoint> eps;
    Staged<zs_ipcache_key, zs_ipcache_value, uint32_t> ips;
    Staged<zs_policy_key, zs_policy_value, zs_policy_entry> pol;
    Staged<zs_source_key, zs_source_value, uint8_t> srcs;
    Staged<zs_source_prefix_key, zs_source_prefix_value, uint8_t> spfx;
    UntrackedChanges untracked;
    UntrackedTrie old_trie;
  };
  auto level = std::make_shared<Level>(Level{std::move(eps), std::move(ips), std::move(pol), std::move(srcs),
                                             std::move(spfx), std::move(untracked_), tries[active]});
  // The grace period: a pass over the CPUs, run by the next transaction
  // or housekeeping, whichever waits first (loader/cpu_pass.h: tens of
  // microseconds, where the kernel's ~12 ms held up every change back to
  // back); or the kernel's, begun now on a thread of its own.
  auto grace = dp_.start_grace_period();
  dp_.grace_ = grace;
  dp_.pending_level_ = [level, active, plan, grace, &dp = dp_] {
    grace.get();  // rethrows what the wait threw
    level->eps.level(active);
    level->ips.level(active);
    level->pol.level(active);
    level->srcs.level(active);
    level->spfx.level(active);
    level->untracked.write(level->old_trie, nullptr);
    dp.config_->plan[active] = plan;
  };

  dp_.prefix_use_ = use;
  dp_.entry_counts_["zs_endpoints"] += level->eps.new_keys - level->eps.removed_keys;
  dp_.entry_counts_["zs_ipcache"] += level->ips.new_keys - level->ips.removed_keys;
  dp_.entry_counts_["zs_policy"] += level->pol.new_keys - level->pol.removed_keys;
  dp_.entry_counts_["zs_sources"] += level->srcs.new_keys - level->srcs.removed_keys;
  dp_.entry_counts_["zs_source_prefixes"] += level->spfx.new_keys - level->spfx.removed_keys;
  dp_.entry_counts_["zs_untracked"] += level->untracked.new_keys() - level->untracked.removed_keys();
  endpoints_ = {};
  ipcache_ = {};
  policy_ = {};
  sources_ = {};
  source_prefixes_ = {};
  untracked_ = {};
}

}  // namespace zeroseg
