// SPDX-License-Identifier: Apache-2.0
#include "identity/allocator.h"

#include <map>

#include "common/error.h"

namespace zeroseg {
namespace {

std::string key_of(const Labels& labels) {
  std::string k;
  for (const auto& [name, value] : labels) k += name + "=" + value + "\n";
  return k;
}

}  // namespace

uint32_t NumberPool::take() {
  if (!free_.empty()) {
    uint32_t n = *free_.begin();
    free_.erase(free_.begin());
    return n;
  }
  return next_++;
}

void NumberPool::reset(const std::set<uint32_t>& taken) {
  free_.clear();
  next_ = taken.empty() ? first_ : *taken.rbegin() + 1;
  for (uint32_t n = first_; n < next_; n++)
    if (!taken.count(n)) free_.insert(n);
}

uint32_t LocalIdentityAllocator::allocate(const Labels& labels) {
  std::string key = key_of(labels);
  if (auto it = by_key_.find(key); it != by_key_.end()) return it->second;
  uint32_t id = upstream_ ? upstream_->allocate(labels) : pool_.take();
  by_key_[key] = id;
  by_id_[id] = labels;
  changes_++;
  return id;
}

void LocalIdentityAllocator::release_unused(const std::set<uint32_t>& in_use) {
  std::vector<uint32_t> unused;
  for (const auto& [id, labels] : by_id_) {
    if (in_use.count(id)) continue;
    by_key_.erase(key_of(labels));
    if (!upstream_) pool_.give_back(id);
    unused.push_back(id);
  }
  for (uint32_t id : unused) by_id_.erase(id);
  changes_ += unused.size();
}

nlohmann::json LocalIdentityAllocator::to_json() const {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [id, labels] : by_id_) j[std::to_string(id)] = labels;
  return j;
}

void LocalIdentityAllocator::from_json(const nlohmann::json& j) {
  by_id_.clear();
  by_key_.clear();
  std::set<uint32_t> taken;
  for (const auto& [id, labels] : j.items()) {
    uint32_t n = static_cast<uint32_t>(std::stoul(id));
    Labels l = labels.get<Labels>();
    by_id_[n] = l;
    by_key_[key_of(l)] = n;
    taken.insert(n);
  }
  pool_.reset(taken);
}

namespace {

// "PREFIX|N" -> (PREFIX, N); nullopt for any other key.
constexpr size_t kMaxSlot = 1 << 20;
std::optional<std::pair<std::string_view, size_t>> split_rule_key(std::string_view key) {
  size_t bar = key.rfind('|');
  if (bar == std::string_view::npos || bar + 1 == key.size() || key.size() - bar > 8) return std::nullopt;
  size_t n = 0;
  for (char c : key.substr(bar + 1)) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + static_cast<size_t>(c - '0');
  }
  if (n >= kMaxSlot || (key[bar + 1] == '0' && key.size() - bar > 2)) return std::nullopt;  // "07" is another key
  return std::pair{key.substr(0, bar), n};
}

}  // namespace

std::optional<uint32_t> RuleIdAllocator::find(const std::string& key) const {
  if (auto split = split_rule_key(key)) {
    auto it = by_prefix_.find(std::string(split->first));
    if (it == by_prefix_.end() || split->second >= it->second.size() || !it->second[split->second]) return std::nullopt;
    return it->second[split->second];
  }
  if (auto it = by_key_.find(key); it != by_key_.end()) return it->second;
  return std::nullopt;
}

void RuleIdAllocator::put(const std::string& key, uint32_t id) {
  if (auto split = split_rule_key(key)) {
    auto& slots = by_prefix_[std::string(split->first)];
    if (split->second >= slots.size()) slots.resize(split->second + 1);
    slots[split->second] = id;
    return;
  }
  by_key_[key] = id;
}

void RuleIdAllocator::erase(const std::string& key) {
  if (auto split = split_rule_key(key)) {
    auto it = by_prefix_.find(std::string(split->first));
    if (it == by_prefix_.end() || split->second >= it->second.size()) return;
    auto& slots = it->second;
    slots[split->second] = 0;
    while (!slots.empty() && !slots.back()) slots.pop_back();
    if (slots.empty()) by_prefix_.erase(it);
    return;
  }
  by_key_.erase(key);
}

template <class F>
void RuleIdAllocator::for_each(F&& f) const {
  for (const auto& [prefix, slots] : by_prefix_)
    for (size_t i = 0; i < slots.size(); i++)
      if (slots[i]) f(prefix + "|" + std::to_string(i), slots[i]);
  for (const auto& [key, id] : by_key_) f(key, id);
}

uint32_t RuleIdAllocator::allocate(const std::string& key) {
  if (auto id = find(key)) return *id;
  uint32_t id = pool_.take();
  put(key, id);
  changes_++;
  if (journaling_) journal_.push_back({true, key, id});
  unlogged_.push_back({true, key, id});
  return id;
}

void RuleIdAllocator::release_unused(const std::set<uint32_t>& in_use) {
  std::vector<std::pair<std::string, uint32_t>> unused;  // keys built for these only
  for (const auto& [prefix, slots] : by_prefix_)
    for (size_t i = 0; i < slots.size(); i++)
      if (slots[i] && !in_use.count(slots[i])) unused.emplace_back(prefix + "|" + std::to_string(i), slots[i]);
  for (const auto& [key, id] : by_key_)
    if (!in_use.count(id)) unused.emplace_back(key, id);
  for (const auto& [key, id] : unused) {
    pool_.give_back(id);
    if (journaling_) journal_.push_back({false, key, id});
    unlogged_.push_back({false, key, id});
    erase(key);
    changes_++;
  }
}

void RuleIdAllocator::release(const std::string& key) {
  auto id = find(key);
  if (!id) return;
  pool_.give_back(*id);
  if (journaling_) journal_.push_back({false, key, *id});
  unlogged_.push_back({false, key, *id});
  erase(key);
  changes_++;
}

void RuleIdAllocator::start_journal() {
  journaling_ = true;
  journal_.clear();
  unlogged_at_journal_ = unlogged_.size();
}

void RuleIdAllocator::undo() {
  for (auto c = journal_.rbegin(); c != journal_.rend(); ++c) {
    if (c->allocated) {
      erase(c->key);
      pool_.give_back(c->id);
    } else {
      put(c->key, c->id);
      pool_.take_back(c->id);
    }
    changes_++;
  }
  journal_.clear();
  if (unlogged_.size() > unlogged_at_journal_) unlogged_.resize(unlogged_at_journal_);
}

void RuleIdAllocator::stop_journal() {
  journaling_ = false;
  journal_ = std::vector<Change>();  // its capacity too (not `= {}`: that keeps it)
}

nlohmann::json RuleIdAllocator::to_json() const {
  std::map<std::string, uint32_t> sorted;  // a stable file
  for_each([&](std::string key, uint32_t id) { sorted.emplace(std::move(key), id); });
  return sorted;
}

void RuleIdAllocator::from_json(const nlohmann::json& j) {
  by_prefix_.clear();
  by_key_.clear();
  unlogged_ = std::vector<Change>();
  std::set<uint32_t> taken;
  for (const auto& [key, id] : j.get<std::map<std::string, uint32_t>>()) {
    put(key, id);
    taken.insert(id);
  }
  pool_.reset(taken);
}

std::string RuleIdAllocator::take_log() {
  std::string text;
  for (const auto& c : unlogged_) text += (c.allocated ? "+" : "-") + std::to_string(c.id) + " " + c.key + "\n";
  // not clear() or `= {}`, which keep the capacity: a whole compile's 100k
  // changes would hold 12 MiB
  unlogged_ = std::vector<Change>();
  return text;
}

void RuleIdAllocator::apply_log(const std::string& text) {
  size_t at = 0;
  while (at < text.size()) {
    size_t eol = text.find('\n', at);
    std::string line = text.substr(at, eol == std::string::npos ? std::string::npos : eol - at);
    at = eol == std::string::npos ? text.size() : eol + 1;
    size_t space = line.find(' ');
    if (line.size() < 4 || (line[0] != '+' && line[0] != '-') || space == std::string::npos)
      throw Error("rule id log: bad line \"" + line + "\"");
    uint32_t id = static_cast<uint32_t>(std::stoul(line.substr(1, space - 1)));
    std::string key = line.substr(space + 1);
    if (line[0] == '+')
      put(key, id);
    else
      erase(key);
    changes_++;
  }
  std::set<uint32_t> taken;
  for_each([&](const std::string&, uint32_t id) { taken.insert(id); });
  pool_.reset(taken);
}

}  // namespace zeroseg
