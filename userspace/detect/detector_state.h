// SPDX-License-Identifier: Apache-2.0
// What the detectors (detectors.cpp, blocked_dependency.cpp) keep, and
// the bound on it. Every per-key state lives in a RecentMap: at most
// DetectionConfig::state_keys keys per detector; past that the key touched
// longest ago is forgotten (counted). So a flood of records from random
// sources (spoofed, or one address each) costs a fixed amount of memory;
// what it costs in detection is that a key idle for longer than the flood
// takes to fill the map is forgotten: a scanner that keeps scanning keeps
// its state. Idle keys also go by time (expire), from the old end, never a
// walk over the whole map.
#pragma once

#include <cstdint>
#include <deque>
#include <list>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "detect/alert.h"
#include "detect/detectors.h"
#include "telemetry/flow_catalog.h"

namespace zeroseg {

constexpr size_t kEvidence = 10;  // flows kept per alert

template <class K, class V, class Hash = std::hash<K>>
class RecentMap {
 public:
  explicit RecentMap(size_t cap) : cap_(cap ? cap : 1) {}

  // The key's state, made if new (forgetting the least recent key when
  // full), and marked touched at `now`.
  V& touch(const K& key, int64_t now) {
    auto it = map_.find(key);
    if (it != map_.end()) {
      order_.splice(order_.begin(), order_, it->second.pos);
      if (now > it->second.last) it->second.last = now;
      return it->second.value;
    }
    if (map_.size() >= cap_) {
      map_.erase(order_.back());
      order_.pop_back();
      evicted_++;
    }
    order_.push_front(key);
    return map_.try_emplace(key, Node{V{}, now, order_.begin()}).first->second.value;
  }
  V* find(const K& key) {
    auto it = map_.find(key);
    return it == map_.end() ? nullptr : &it->second.value;
  }
  // Forgets the keys last touched before `before`.
  void expire(int64_t before) {
    while (!order_.empty()) {
      auto it = map_.find(order_.back());
      if (it->second.last >= before) return;
      map_.erase(it);
      order_.pop_back();
    }
  }
  size_t size() const { return map_.size(); }
  uint64_t evicted() const { return evicted_; }

 private:
  struct Node {
    V value;
    int64_t last;
    typename std::list<K>::iterator pos;
  };
  size_t cap_;
  std::list<K> order_;  // most recently touched first
  std::unordered_map<K, Node, Hash> map_;
  uint64_t evicted_ = 0;
};

// The last few attempts of a key, as evidence.
struct Trail {
  std::deque<Attempt> evidence;
  int64_t last = 0;
  void keep(const Attempt& a) {
    evidence.push_back(a);
    if (evidence.size() > kEvidence) evidence.pop_front();
  }
};

// Distinct keys (ports, hosts) seen within a sliding window.
template <class K>
struct DistinctWindow {
  std::map<K, int64_t> seen;
  void see(const K& k, int64_t now, int64_t window) {
    seen[k] = now;
    for (auto it = seen.begin(); it != seen.end();) it = now - it->second > window ? seen.erase(it) : std::next(it);
  }
  size_t size() const { return seen.size(); }
};

// "prod/db" for a workload's address, else the address
std::string host_label(const FlowCatalog& names, const IpAddr& ip);

// An alert with its trail's evidence worded (the engine fills the source).
Alert make_alert(const char* detector, const char* severity, std::vector<std::string> mitre, const Trail& trail,
                 const FlowCatalog& names);

}  // namespace zeroseg
