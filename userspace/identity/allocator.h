// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <zeroseg/identity.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string_view>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/shared_map.h"
#include "identity/labels.h"

namespace zeroseg {

// Hands out the lowest free number >= first, in O(log n).
class NumberPool {
 public:
  explicit NumberPool(uint32_t first) : first_(first), next_(first) {}
  uint32_t take();
  void give_back(uint32_t n) { free_.insert(n); }
  void take_back(uint32_t n) { free_.erase(n); }  // undoes give_back(n)
  void reset(const std::set<uint32_t>& taken);  // restoring state

 private:
  uint32_t first_, next_;
  std::set<uint32_t> free_;
};

// Numbers for label sets: the same labels always get the same identity.
// Behind an interface because on many nodes identities must agree: there
// they come from etcd, not from one agent's memory.
class IdentityAllocator {
 public:
  virtual ~IdentityAllocator() = default;
  virtual uint32_t allocate(const Labels& labels) = 0;
  // Frees every allocated identity not in in_use.
  virtual void release_unused(const std::set<uint32_t>& in_use) = 0;
  virtual std::map<uint32_t, Labels> all() const = 0;
};

// One node's allocator: numbers from ZS_ID_FIRST_ALLOCATED up, freed
// numbers reused lowest first, persisted by the agent as JSON.
class LocalIdentityAllocator : public IdentityAllocator {
 public:
  uint32_t allocate(const Labels& labels) override;
  void release_unused(const std::set<uint32_t>& in_use) override;
  std::map<uint32_t, Labels> all() const override { return {by_id_.begin(), by_id_.end()}; }
  // The same, cheap: the copy shares the table's chunks (SharedMap), so a
  // change's handing them to the state directory copies no label set.
  SharedMap<uint32_t, Labels> numbers() const { return by_id_; }

  nlohmann::json to_json() const;
  void from_json(const nlohmann::json& j);
  // Counts allocations and releases: what to persist has changed when it moved.
  uint64_t changes() const { return changes_; }

  // Cluster mode: a key this node has not numbered takes upstream's number
  // (etcd's, the same on every node) instead of one from this node's pool.
  // Copies share it: it numbers, they keep what this node uses.
  void set_upstream(std::shared_ptr<IdentityAllocator> upstream) { upstream_ = std::move(upstream); }

 private:
  std::map<std::string, uint32_t> by_key_;
  SharedMap<uint32_t, Labels> by_id_;
  uint64_t changes_ = 0;
  NumberPool pool_{ZS_ID_FIRST_ALLOCATED};
  std::shared_ptr<IdentityAllocator> upstream_;
};

// The same for rule ids (reported in flows): a string key names the rule.
class RuleIdAllocator {
 public:
  uint32_t allocate(const std::string& key);
  void release_unused(const std::set<uint32_t>& in_use);
  void release(const std::string& key);  // no-op when the key has no id
  nlohmann::json to_json() const;
  void from_json(const nlohmann::json& j);
  uint64_t changes() const { return changes_; }  // as LocalIdentityAllocator's

  // While journaling, allocations and releases are recorded so that undo()
  // puts them back: an apply that fails, or a dry run, changes nothing,
  // without copying 100k ids first (RuleIdJournal).
  void start_journal();
  void undo();
  void stop_journal();

  // The changes since the last take_log() or from_json(), as text lines
  // ("+ID KEY", "-ID KEY"): the agent appends them to a log beside the
  // whole file, so a change of one rule does not rewrite 100k ids (4.7 MB
  // of JSON, ~110 ms). apply_log() replays such text.
  std::string take_log();
  void apply_log(const std::string& text);

 private:
  // A key "PREFIX|N" (a policy's section and a rule's place in it) is kept
  // as slot N of PREFIX's vector (0: no id): 100k rules make ~2k prefixes,
  // not 100k strings (12 MiB). Other keys are kept whole.
  std::optional<uint32_t> find(const std::string& key) const;
  void put(const std::string& key, uint32_t id);
  void erase(const std::string& key);
  template <class F>
  void for_each(F&& f) const;  // f(key, id), keys built
  std::unordered_map<std::string, std::vector<uint32_t>> by_prefix_;
  std::unordered_map<std::string, uint32_t> by_key_;
  uint64_t changes_ = 0;
  NumberPool pool_{1};
  struct Change {
    bool allocated;  // else released
    std::string key;
    uint32_t id;
  };
  bool journaling_ = false;
  std::vector<Change> journal_;
  std::vector<Change> unlogged_;  // for take_log(); undo() cuts it back
  size_t unlogged_at_journal_ = 0;
};

// Journals a RuleIdAllocator for its scope, undoing what it recorded
// unless keep() was called.
class RuleIdJournal {
 public:
  explicit RuleIdJournal(RuleIdAllocator& a) : a_(a) { a_.start_journal(); }
  ~RuleIdJournal() {
    if (!kept_) a_.undo();
    a_.stop_journal();
  }
  RuleIdJournal(const RuleIdJournal&) = delete;
  RuleIdJournal& operator=(const RuleIdJournal&) = delete;
  void keep() { kept_ = true; }

 private:
  RuleIdAllocator& a_;
  bool kept_ = false;
};

}  // namespace zeroseg
