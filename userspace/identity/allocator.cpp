// SPDX-License-Identifier: Apache-2.0
#include "identity/allocator.h"

#include <map>

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
  uint32_t id = pool_.take();
  by_key_[key] = id;
  by_id_[id] = labels;
  changes_++;
  return id;
}

void LocalIdentityAllocator::release_unused(const std::set<uint32_t>& in_use) {
  for (auto it = by_id_.begin(); it != by_id_.end();) {
    if (in_use.count(it->first)) {
      ++it;
      continue;
    }
    by_key_.erase(key_of(it->second));
    pool_.give_back(it->first);
    it = by_id_.erase(it);
    changes_++;
  }
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

uint32_t RuleIdAllocator::allocate(const std::string& key) {
  if (auto it = by_key_.find(key); it != by_key_.end()) return it->second;
  uint32_t id = pool_.take();
  by_key_[key] = id;
  changes_++;
  if (journaling_) journal_.push_back({true, key, id});
  return id;
}

void RuleIdAllocator::release_unused(const std::set<uint32_t>& in_use) {
  for (auto it = by_key_.begin(); it != by_key_.end();) {
    if (in_use.count(it->second)) {
      ++it;
      continue;
    }
    pool_.give_back(it->second);
    if (journaling_) journal_.push_back({false, it->first, it->second});
    it = by_key_.erase(it);
    changes_++;
  }
}

void RuleIdAllocator::release(const std::string& key) {
  auto it = by_key_.find(key);
  if (it == by_key_.end()) return;
  pool_.give_back(it->second);
  if (journaling_) journal_.push_back({false, it->first, it->second});
  by_key_.erase(it);
  changes_++;
}

void RuleIdAllocator::start_journal() {
  journaling_ = true;
  journal_.clear();
}

void RuleIdAllocator::undo() {
  for (auto c = journal_.rbegin(); c != journal_.rend(); ++c) {
    if (c->allocated) {
      by_key_.erase(c->key);
      pool_.give_back(c->id);
    } else {
      by_key_[c->key] = c->id;
      pool_.take_back(c->id);
    }
    changes_++;
  }
  journal_.clear();
}

void RuleIdAllocator::stop_journal() {
  journaling_ = false;
  journal_.clear();
}

nlohmann::json RuleIdAllocator::to_json() const {
  return std::map<std::string, uint32_t>(by_key_.begin(), by_key_.end());  // sorted: a stable file
}

void RuleIdAllocator::from_json(const nlohmann::json& j) {
  auto sorted = j.get<std::map<std::string, uint32_t>>();
  by_key_ = {sorted.begin(), sorted.end()};
  std::set<uint32_t> taken;
  for (const auto& [k, id] : by_key_) taken.insert(id);
  pool_.reset(taken);
}

}  // namespace zeroseg
