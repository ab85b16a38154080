// SPDX-License-Identifier: Apache-2.0
// PackedText: a text kept deflated when that makes it shorter. The agent
// keeps every object's YAML as written (to store it and show it back), but
// reads it rarely: 1000 policies of 100 rules are 8 MB of YAML and 0.7 MB
// deflated, for ~20 us a document. Equal texts pack to equal bytes, so
// packed texts compare without inflating.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace zeroseg {

class PackedText {
 public:
  PackedText() = default;
  explicit PackedText(std::string_view text);

  std::string str() const;  // the text, inflated when packed
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  bool packed() const { return packed_; }

  friend bool operator==(const PackedText& a, const PackedText& b) {
    return a.size_ == b.size_ && a.packed_ == b.packed_ && a.bytes_ == b.bytes_;
  }
  friend bool operator!=(const PackedText& a, const PackedText& b) { return !(a == b); }

 private:
  std::string bytes_;  // the text, or its raw deflate stream when packed_
  uint32_t size_ = 0;  // of the text
  bool packed_ = false;
};

}  // namespace zeroseg
