// SPDX-License-Identifier: Apache-2.0
#include "policy/yaml_tree.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/exceptions.h>
#include <yaml-cpp/parser.h>

#include <map>
#include <unordered_set>
#include <sstream>

namespace zeroseg::yaml {

size_t Node::size() const {
  if (IsSequence()) return item().count;
  if (IsMap()) return item().count / 2;
  return 0;
}

const std::string& Node::scalar() const {
  static const std::string kNone;
  return IsScalar() ? item().value : kNone;
}

Node Node::operator[](std::string_view key) const {
  if (!IsMap()) return {};
  const auto& items = *items_;
  for (uint32_t k = i_ + 1; k < item().end;) {
    uint32_t v = items[k].end;
    if (items[k].type == Type::scalar && items[k].value == key) return {items_, v};
    k = items[v].end;
  }
  return {};
}

Node Node::operator[](size_t i) const {
  if (!IsSequence() || i >= item().count) return {};
  uint32_t at = i_ + 1;
  for (; i > 0; i--) at = (*items_)[at].end;
  return {items_, at};
}

Node::iterator Node::begin() const { return iterator(*this, IsMap() || IsSequence() ? i_ + 1 : 0); }
Node::iterator Node::end() const { return iterator(*this, IsMap() || IsSequence() ? item().end : 0); }

Entry Node::iterator::operator*() const {
  Entry e;
  if (parent_.IsMap()) {
    e.first = Node(parent_.items_, at_);
    e.second = Node(parent_.items_, (*parent_.items_)[at_].end);
  } else {
    static_cast<Node&>(e) = Node(parent_.items_, at_);
  }
  return e;
}

Node::iterator& Node::iterator::operator++() {
  const auto& items = *parent_.items_;
  at_ = items[at_].end;                           // past the item, or the key
  if (parent_.IsMap()) at_ = items[at_].end;      // past the value
  return *this;
}

namespace {

constexpr int kMaxDepth = 64;
constexpr size_t kMaxNodes = 1u << 20;

// Appends items in document order; a container's end and count are set
// when it closes.
class Builder : public YAML::EventHandler {
 public:
  explicit Builder(std::vector<Item>& items) : items_(items) {}

  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override { leaf(Type::null, mark, anchor, {}); }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    auto it = anchors_.find(anchor);
    throw YAML::ParserException(it == anchors_.end() ? mark : it->second, "YAML aliases (*name) are not supported");
  }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor, const std::string& value) override {
    leaf(Type::scalar, mark, anchor, value);
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    open(Type::sequence, mark, anchor);
  }
  void OnSequenceEnd() override { close(); }
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor, YAML::EmitterStyle::value) override {
    open(Type::map, mark, anchor);
  }
  void OnMapEnd() override { close(); }

 private:
  // One more item, counted by its container.
  Item& add(Type type, const YAML::Mark& mark, YAML::anchor_t anchor) {
    if (items_.size() >= kMaxNodes) throw YAML::ParserException(mark, "the document is too large (more than 1M YAML nodes)");
    if (anchor) anchors_.emplace(anchor, mark);  // an alias of it is refused at the anchor
    if (!open_.empty()) items_[open_.back()].count++;
    items_.push_back({type, mark, 0, 0, {}});
    return items_.back();
  }
  void leaf(Type type, const YAML::Mark& mark, YAML::anchor_t anchor, const std::string& value) {
    Item& it = add(type, mark, anchor);
    it.value = value;
    it.end = static_cast<uint32_t>(items_.size());
  }
  void open(Type type, const YAML::Mark& mark, YAML::anchor_t anchor) {
    if (open_.size() >= kMaxDepth) throw YAML::ParserException(mark, "the document nests deeper than 64 levels");
    add(type, mark, anchor);
    open_.push_back(static_cast<uint32_t>(items_.size() - 1));
  }
  void close() {
    const uint32_t at = open_.back();
    items_[at].end = static_cast<uint32_t>(items_.size());
    open_.pop_back();
    if (items_[at].type == Type::map) refuse_duplicate_keys(at);
  }
  // A key twice in one map: YAML says a map's keys are unique, and
  // parsers differ on a document that breaks it (yaml-cpp's Node and this
  // tree read the first, PyYAML the last, kubectl refuses it): a
  // reviewer's tool could show another policy than the one enforced.
  void refuse_duplicate_keys(uint32_t map) {
    keys_.clear();
    for (uint32_t k = map + 1; k < items_[map].end; k = items_[items_[k].end].end) {
      const Item& key = items_[k];
      if (key.type == Type::scalar && !keys_.insert(key.value).second)
        throw YAML::ParserException(key.mark, "duplicate key \"" + key.value + "\": a key may appear once in a map");
    }
  }

  std::vector<Item>& items_;
  std::vector<uint32_t> open_;  // containers not closed yet
  std::map<YAML::anchor_t, YAML::Mark> anchors_;
  std::unordered_set<std::string_view> keys_;  // refuse_duplicate_keys's
};

}  // namespace

Tree Tree::parse(std::string_view text) {
  Tree t;
  std::istringstream in{std::string(text)};
  YAML::Parser parser(in);
  Builder builder(t.items_);
  if (!parser.HandleNextDocument(builder) || t.items_.empty()) t.items_ = {Item{Type::null, YAML::Mark(), 1, 0, {}}};
  return t;
}

}  // namespace zeroseg::yaml
