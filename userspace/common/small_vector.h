// SPDX-License-Identifier: Apache-2.0
// SmallVector<T>: a vector that keeps a single element inline and moves to
// the heap from the second on. Most policy rules name one peer and one
// port: as std::vectors, 100k rules' peers and ports were 200k heap blocks
// (~15 MiB with the allocator's headers); inline they cost their size.
// Reads like a vector of T (size, [], begin/end as pointers).
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <new>
#include <utility>
#include <vector>

namespace zeroseg {

template <class T>
class SmallVector {
 public:
  SmallVector() noexcept {}
  SmallVector(std::initializer_list<T> items) {
    for (const T& t : items) push_back(t);
  }
  SmallVector(const SmallVector& o) {
    for (const T& t : o) push_back(t);
  }
  SmallVector(SmallVector&& o) noexcept { take(std::move(o)); }
  SmallVector& operator=(const SmallVector& o) {
    if (this != &o) {
      clear();
      for (const T& t : o) push_back(t);
    }
    return *this;
  }
  SmallVector& operator=(SmallVector&& o) noexcept {
    if (this != &o) {
      clear();
      take(std::move(o));
    }
    return *this;
  }
  ~SmallVector() { clear(); }

  void push_back(T item) {
    switch (state_) {
      case State::empty:
        new (&one_) T(std::move(item));
        state_ = State::one;
        return;
      case State::one: {
        std::vector<T> both;
        both.reserve(2);
        both.push_back(std::move(one_));
        both.push_back(std::move(item));
        one_.~T();
        new (&many_) std::vector<T>(std::move(both));
        state_ = State::many;
        return;
      }
      case State::many:
        many_.push_back(std::move(item));
        return;
    }
  }

  void clear() noexcept {
    if (state_ == State::one) one_.~T();
    else if (state_ == State::many) many_.~vector();
    state_ = State::empty;
  }

  size_t size() const { return state_ == State::many ? many_.size() : state_ == State::one ? 1 : 0; }
  bool empty() const { return state_ == State::empty; }
  // With no element, begin() == end() (the inline slot's address, unread).
  const T* begin() const { return state_ == State::many ? many_.data() : &one_; }
  const T* end() const { return begin() + size(); }
  T* begin() { return state_ == State::many ? many_.data() : &one_; }
  T* end() { return begin() + size(); }
  const T& operator[](size_t i) const { return begin()[i]; }
  T& operator[](size_t i) { return begin()[i]; }
  const T& back() const { return end()[-1]; }

 private:
  enum class State : uint8_t { empty, one, many };

  void take(SmallVector&& o) noexcept {
    if (o.state_ == State::one) new (&one_) T(std::move(o.one_));
    else if (o.state_ == State::many) new (&many_) std::vector<T>(std::move(o.many_));
    state_ = o.state_;
    o.clear();
  }

  union {
    T one_;
    std::vector<T> many_;
  };
  State state_ = State::empty;
};

}  // namespace zeroseg
