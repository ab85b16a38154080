// SPDX-License-Identifier: Apache-2.0
// YamlTree: one YAML document as a flat, read-only tree, built from
// yaml-cpp's parser events. yaml-cpp's own YAML::Node tree (a shared
// pointer, a node_data and a map per node) cost a third of loading a
// policy, and a one-rule change reloads a whole policy; this tree is one
// vector of items in document order. yaml::Node reads like the subset of
// YAML::Node the YAML reader uses (operator[], IsMap, as<std::string>, Mark,
// iteration yielding items with .first/.second on maps).
//
// What the schema never needs and an attacker could use is refused while
// building, with the position: aliases (a cycle, or an exponential
// expansion: "billion laughs"), nesting deeper than 64 levels, more
// than 1M nodes, and a key twice in one map (parsers differ on which
// wins).
#pragma once

#include <yaml-cpp/mark.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace zeroseg::yaml {

enum class Type : uint8_t { undefined, null, scalar, sequence, map };

struct Item {
  Type type = Type::null;
  YAML::Mark mark;
  uint32_t end = 0;    // index after this item's subtree
  uint32_t count = 0;  // children: items of a sequence, keys + values of a map
  std::string value;   // a scalar's
};

class Node;

// A map entry (first, second) or a sequence item (the Node itself), as
// yaml-cpp's iterators give them.
struct Entry;

class Node {
 public:
  Node() = default;  // undefined: what a missing key gives
  Node(const std::vector<Item>* items, uint32_t i) : items_(items), i_(i) {}

  bool IsDefined() const { return items_ != nullptr; }
  explicit operator bool() const { return IsDefined(); }
  bool operator!() const { return !IsDefined(); }
  Type type() const { return items_ ? item().type : Type::undefined; }
  bool IsNull() const { return type() == Type::null; }
  bool IsScalar() const { return type() == Type::scalar; }
  bool IsSequence() const { return type() == Type::sequence; }
  bool IsMap() const { return type() == Type::map; }
  YAML::Mark Mark() const { return items_ ? item().mark : YAML::Mark(); }
  // A sequence's items, a map's entries.
  size_t size() const;
  const std::string& scalar() const;  // "" unless a scalar
  template <class T>
  T as() const;  // std::string only: the scalar (YAML::Node's as<std::string>)

  // A map's value for key (the first, as yaml-cpp): undefined when there
  // is none or this is not a map. Only scalar keys match.
  Node operator[](std::string_view key) const;
  Node operator[](const char* key) const { return (*this)[std::string_view(key)]; }
  Node operator[](const std::string& key) const { return (*this)[std::string_view(key)]; }
  // A sequence's item i: undefined past the end or if not a sequence.
  Node operator[](size_t i) const;
  Node operator[](int i) const { return (*this)[static_cast<size_t>(i)]; }

  class iterator;
  iterator begin() const;
  iterator end() const;

 private:
  const Item& item() const { return (*items_)[i_]; }
  const std::vector<Item>* items_ = nullptr;
  uint32_t i_ = 0;
};

struct Entry : Node {
  Node first, second;  // a map's key and value; undefined for sequence items
};

class Node::iterator {
 public:
  iterator(const Node& parent, uint32_t at) : parent_(parent), at_(at) {}
  Entry operator*() const;
  iterator& operator++();
  bool operator!=(const iterator& o) const { return at_ != o.at_; }
  bool operator==(const iterator& o) const { return at_ == o.at_; }

 private:
  Node parent_;
  uint32_t at_;  // the item (sequence) or key (map) the iterator is on
};

template <>
inline std::string Node::as<std::string>() const {
  return scalar();
}

// One document's tree. Throws YAML::ParserException (with its position)
// for what yaml-cpp refuses and for what is refused above.
class Tree {
 public:
  static Tree parse(std::string_view text);
  Node root() const { return items_.empty() ? Node() : Node(&items_, 0); }

 private:
  std::vector<Item> items_;
};

}  // namespace zeroseg::yaml
