// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <stdexcept>
#include <utility>
#include <vector>

namespace zeroseg {

// A sorted map cut into chunks that copies share: a copy costs a pointer
// per chunk, and a change clones only the chunk it lands in (when another
// copy still holds it). For the compiled state's big maps, which every
// apply copies and changes a little. ChunkOf(key) names a key's chunk and
// must grow with Less (the chunks are kept in that order).
//
// A chunk is changed in place only when this map is its sole owner, so
// copies may be read from other threads while the copy that is being
// changed stays with one thread.
//
// A chunk is a sorted vector, not a tree: with 100k entries the tree's
// nodes cost ~48 bytes each more than the entries (bench/RESULTS.md), and
// an insert's move costs no more than the clone a change of a shared
// chunk makes anyway. A reference from operator[] lasts until the next
// change.
template <class K, class V, class Less, class ChunkOf>
class ChunkedMap {
  class Chunk {
   public:
    using value_type = std::pair<K, V>;
    using const_iterator = typename std::vector<value_type>::const_iterator;
    const_iterator begin() const { return items_.begin(); }
    const_iterator end() const { return items_.end(); }
    bool empty() const { return items_.empty(); }
    const_iterator find(const K& key) const {
      auto it = lower_bound(items_, key);
      return it != items_.end() && !Less()(key, it->first) ? const_iterator(it) : end();
    }
    size_t count(const K& key) const { return find(key) == end() ? 0 : 1; }
    std::pair<value_type*, bool> try_emplace(const K& key) {
      auto it = lower_bound(items_, key);
      if (it != items_.end() && !Less()(key, it->first)) return {&*it, false};
      return {&*items_.insert(it, value_type(key, V{})), true};
    }
    void erase(const K& key) {
      auto it = lower_bound(items_, key);
      if (it != items_.end() && !Less()(key, it->first)) items_.erase(it);
    }

   private:
    template <class Items>
    static auto lower_bound(Items& items, const K& key) {
      return std::lower_bound(items.begin(), items.end(), key,
                              [](const value_type& v, const K& k) { return Less()(v.first, k); });
    }
    std::vector<value_type> items_;
  };
  using Slot = std::pair<uint64_t, std::shared_ptr<Chunk>>;  // chunk id, never empty

 public:
  using value_type = typename Chunk::value_type;

  class const_iterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = typename Chunk::value_type;
    using difference_type = std::ptrdiff_t;
    using pointer = const value_type*;
    using reference = const value_type&;

    const_iterator() = default;
    const value_type& operator*() const { return *inner_; }
    const value_type* operator->() const { return &*inner_; }
    const_iterator& operator++() {
      if (++inner_ == outer_->second->end() && ++outer_ != end_) inner_ = outer_->second->begin();
      return *this;
    }
    const_iterator operator++(int) {
      const_iterator old = *this;
      ++*this;
      return old;
    }
    bool operator==(const const_iterator& o) const {
      return outer_ == o.outer_ && (outer_ == end_ || inner_ == o.inner_);
    }
    bool operator!=(const const_iterator& o) const { return !(*this == o); }

   private:
    friend class ChunkedMap;
    using Outer = typename std::vector<Slot>::const_iterator;
    const_iterator(Outer outer, Outer end, typename Chunk::const_iterator inner)
        : outer_(outer), end_(end), inner_(inner) {}
    Outer outer_, end_;
    typename Chunk::const_iterator inner_;
  };

  const_iterator begin() const {
    if (slots_.empty()) return end();
    return const_iterator(slots_.begin(), slots_.end(), slots_.front().second->begin());
  }
  const_iterator end() const { return const_iterator(slots_.end(), slots_.end(), {}); }

  const_iterator find(const K& key) const {
    auto s = slot(ChunkOf()(key));
    if (s == slots_.end()) return end();
    auto it = s->second->find(key);
    return it == s->second->end() ? end() : const_iterator(s, slots_.end(), it);
  }
  size_t count(const K& key) const { return find(key) == end() ? 0 : 1; }
  const V& at(const K& key) const {
    auto it = find(key);
    if (it == end()) throw std::out_of_range("ChunkedMap::at");
    return it->second;
  }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

  // The value under key, default-made when absent, for changing.
  V& operator[](const K& key) {
    Chunk& c = own(ChunkOf()(key));
    auto [it, fresh] = c.try_emplace(key);
    size_ += fresh;
    return it->second;
  }
  // false when the key was absent
  bool erase(const K& key) {
    uint64_t id = ChunkOf()(key);
    auto s = slot(id);
    if (s == slots_.end() || !s->second->count(key)) return false;
    Chunk& c = own(id);
    c.erase(key);
    size_--;
    if (c.empty()) slots_.erase(slot(id));
    return true;
  }
  void clear() {
    slots_.clear();
    size_ = 0;
  }

 private:
  typename std::vector<Slot>::const_iterator slot(uint64_t id) const {
    auto it = std::lower_bound(slots_.begin(), slots_.end(), id,
                               [](const Slot& s, uint64_t v) { return s.first < v; });
    return it != slots_.end() && it->first == id ? it : slots_.end();
  }
  // The chunk, this map's alone (cloned if shared), made if absent.
  Chunk& own(uint64_t id) {
    auto it = std::lower_bound(slots_.begin(), slots_.end(), id,
                               [](const Slot& s, uint64_t v) { return s.first < v; });
    if (it == slots_.end() || it->first != id) it = slots_.insert(it, {id, std::make_shared<Chunk>()});
    if (it->second.use_count() > 1) it->second = std::make_shared<Chunk>(*it->second);
    return *it->second;
  }

  std::vector<Slot> slots_;  // by chunk id
  size_t size_ = 0;
};

}  // namespace zeroseg
