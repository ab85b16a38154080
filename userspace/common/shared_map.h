// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <algorithm>
#include <atomic>
#include <functional>
#include <iterator>
#include <memory>
#include <stdexcept>
#include <utility>
#include <vector>

namespace zeroseg {

// A sorted map whose copies share its chunks: a copy costs a pointer per
// chunk (~80 for 10k entries), and a change clones only the chunk it
// lands in, when another copy still holds it. For the compiled state's
// workload-sized maps (ipcache, workloads by address, identities), which
// pod churn copies and changes by one entry: CowMap copied them whole
// (10k tree nodes, most of a change's CPU; bench/RESULTS.md, "Pod churn").
//
// Unlike ChunkedMap, no key names its chunk: a chunk holds a run of keys,
// split in two when it outgrows 2 * kChunk entries and dropped when empty,
// so any key order works (prefixes, addresses, numbers).
//
// A chunk is changed in place only when this map is its sole owner, so a
// copy may be read from other threads while the copy being changed stays
// with one thread. A reference from operator[] lasts until the next change.
template <class K, class V, class Less = std::less<K>>
class SharedMap {
 public:
  using key_type = K;
  using mapped_type = V;
  using value_type = std::pair<K, V>;

 private:
  using Chunk = std::vector<value_type>;
  using Chunks = std::vector<std::shared_ptr<Chunk>>;  // in key order, none empty

 public:
  static constexpr size_t kChunk = 64;

  class const_iterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = SharedMap::value_type;
    using difference_type = std::ptrdiff_t;
    using pointer = const value_type*;
    using reference = const value_type&;

    const_iterator() = default;
    reference operator*() const { return *inner_; }
    pointer operator->() const { return &*inner_; }
    const_iterator& operator++() {
      if (++inner_ == (*outer_)->end() && ++outer_ != end_) inner_ = (*outer_)->begin();
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
    friend class SharedMap;
    using Outer = typename Chunks::const_iterator;
    const_iterator(Outer outer, Outer end, typename Chunk::const_iterator inner)
        : outer_(outer), end_(end), inner_(inner) {}
    Outer outer_{}, end_{};
    typename Chunk::const_iterator inner_{};
  };

  SharedMap() = default;
  SharedMap(std::initializer_list<value_type> items) {
    for (const auto& [k, v] : items) (*this)[k] = v;
  }

  const_iterator begin() const {
    if (chunks_.empty()) return end();
    return const_iterator(chunks_.begin(), chunks_.end(), chunks_.front()->begin());
  }
  const_iterator end() const { return const_iterator(chunks_.end(), chunks_.end(), {}); }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

  // The first entry whose key is not less than k.
  const_iterator lower_bound(const K& k) const {
    auto c = chunk_of(k);
    if (c == chunks_.end()) return end();
    return const_iterator(c, chunks_.end(), in_chunk(**c, k));
  }
  const_iterator find(const K& k) const {
    auto it = lower_bound(k);
    return it != end() && !Less()(k, it->first) ? it : end();
  }
  size_t count(const K& k) const { return find(k) == end() ? 0 : 1; }
  const V& at(const K& k) const {
    auto it = find(k);
    if (it == end()) throw std::out_of_range("SharedMap::at");
    return it->second;
  }

  // The value under k, default-made when absent, for changing.
  V& operator[](const K& k) { return insert(k, [] { return V(); }).first->second; }
  // As std::map's: false (and v unused) when k is there already.
  bool emplace(const K& k, V v) {
    return insert(k, [&] { return std::move(v); }).second;
  }
  // How many entries went (0 or 1).
  size_t erase(const K& k) {
    auto c = chunk_of(k);
    if (c == chunks_.end()) return 0;
    auto at = in_chunk(**c, k);
    if (at == (*c)->end() || Less()(k, at->first)) return 0;
    auto offset = at - (*c)->begin();  // own() may clone the chunk: its index, not the iterator
    size_t i = static_cast<size_t>(c - chunks_.cbegin());
    Chunk& mine = own(i);
    mine.erase(mine.begin() + offset);
    if (mine.empty()) chunks_.erase(chunks_.begin() + static_cast<std::ptrdiff_t>(i));
    size_--;
    return 1;
  }
  void clear() {
    chunks_.clear();
    size_ = 0;
  }

  bool operator==(const SharedMap& o) const {
    return chunks_ == o.chunks_ || (size_ == o.size_ && std::equal(begin(), end(), o.begin()));
  }

 private:
  static typename Chunk::const_iterator in_chunk(const Chunk& c, const K& k) {
    return std::lower_bound(c.begin(), c.end(), k, [](const value_type& v, const K& key) { return Less()(v.first, key); });
  }
  // The first chunk whose last key is not less than k (end: none).
  typename Chunks::const_iterator chunk_of(const K& k) const {
    return std::lower_bound(chunks_.begin(), chunks_.end(), k,
                            [](const std::shared_ptr<Chunk>& c, const K& key) { return Less()(c->back().first, key); });
  }
  // Chunk i, this map's alone (cloned if another copy holds it).
  // use_count() is a relaxed load: seeing 1 after a reader on another
  // thread dropped the last other copy does not by itself order that
  // reader's reads of the chunk before the writes here. The acquire fence
  // pairs with the release of that drop (shared_ptr's count decrement is
  // acq_rel), as shared_ptr's own destructor does before it frees.
  Chunk& own(size_t i) {
    if (chunks_[i].use_count() > 1)
      chunks_[i] = std::make_shared<Chunk>(*chunks_[i]);
    else
      std::atomic_thread_fence(std::memory_order_acquire);
    return *chunks_[i];
  }
  // k's entry, made with make() when absent (then second is true).
  template <class Make>
  std::pair<value_type*, bool> insert(const K& k, Make make) {
    if (chunks_.empty()) {  // no empty chunk ever: chunk_of() reads each one's last key
      chunks_.push_back(std::make_shared<Chunk>());
      chunks_.back()->emplace_back(k, make());
      size_ = 1;
      return {&chunks_.back()->back(), true};
    }
    auto c = chunk_of(k);
    if (c == chunks_.end()) --c;  // past every key: the last chunk grows
    size_t i = static_cast<size_t>(c - chunks_.cbegin());
    size_t at = static_cast<size_t>(in_chunk(**c, k) - (*c)->begin());
    if (at < (*c)->size() && !Less()(k, (**c)[at].first)) return {&own(i)[at], false};
    Chunk& mine = own(i);
    mine.emplace(mine.begin() + static_cast<std::ptrdiff_t>(at), k, make());
    size_++;
    if (mine.size() <= 2 * kChunk) return {&mine[at], true};
    // split in halves: the upper one follows as a chunk of its own
    auto upper = std::make_shared<Chunk>(std::make_move_iterator(mine.begin() + kChunk),
                                         std::make_move_iterator(mine.end()));
    mine.erase(mine.begin() + kChunk, mine.end());
    chunks_.insert(chunks_.begin() + static_cast<std::ptrdiff_t>(i) + 1, upper);
    return at < kChunk ? std::pair{&(*chunks_[i])[at], true} : std::pair{&(*upper)[at - kChunk], true};
  }

  Chunks chunks_;
  size_t size_ = 0;
};

}  // namespace zeroseg
