// SPDX-License-Identifier: Apache-2.0
// The desired state, as users write it (see ../shared/DESIGN.md, "Policy
// objects"): Workloads, Namespaces, Kubernetes NetworkPolicies and zeroseg
// SegmentPolicies. NetworkPolicy and SegmentPolicy load into one Policy
// model with Kubernetes semantics already applied (policyTypes defaults,
// a podSelector-only peer meaning the policy's own namespace, ...).
#pragma once

#include <zeroseg/endpoint.h>
#include <zeroseg/proto.h>

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/packed_text.h"
#include "identity/labels.h"
#include "net/addr.h"

namespace zeroseg {

// Where an object or field was written: for errors and `policy get`.
struct SourceRef {
  std::string file;
  int line = 0;    // 1-based
  int column = 0;  // 1-based
  std::string str() const { return file + ":" + std::to_string(line) + ":" + std::to_string(column); }
};

inline constexpr const char* kNamespaceNameLabel = "kubernetes.io/metadata.name";

struct ObjectMeta {
  std::string name;
  std::string ns = "default";
  Labels labels;
  SourceRef source;
  PackedText document;  // the object's YAML as written, stored and shown back
};

struct NamedPort {
  std::string name;
  uint16_t port = 0;
  uint8_t proto = ZS_PROTO_TCP;
};

struct Workload {
  ObjectMeta meta;
  std::string interface;
  std::vector<IpAddr> ips;
  std::vector<NamedPort> ports;
  zs_attach_kind attach = ZS_ATTACH_WORKLOAD;
  // Sources its egress may carry besides its own ips (a router's or NAT's
  // forwarded packets); anything else is dropped as spoofed-source.
  std::vector<Prefix> allowed_source_prefixes;
};

struct Namespace {
  ObjectMeta meta;  // labels always hold kubernetes.io/metadata.name
};

struct PortSpec {
  uint8_t proto = ZS_PROTO_TCP;  // TCP unless given
  std::optional<uint16_t> port;  // absent: every port of proto (or named)
  std::string named;             // a named port, resolved per destination workload
  std::optional<uint16_t> end_port;
  bool operator==(const PortSpec&) const = default;
};

struct IcmpSpec {
  uint8_t family = ZS_FAMILY_IPV4;  // zs_family: IPv4 for ICMP, IPv6 for ICMPv6
  uint8_t type = 0;
  std::optional<uint8_t> code;
  bool operator==(const IcmpSpec&) const = default;
};

struct CidrSpec {
  Prefix cidr;
  std::vector<Prefix> except;
  bool operator==(const CidrSpec&) const = default;
};

enum class Entity { host, world, all };

// A peer's selector, shared: rules name the same few selectors over and
// over (the YAML reader gives equal selectors of one load one object), and a
// rule is one of 100k.
using SelectorRef = std::shared_ptr<const LabelSelector>;

// One peer: workloads by selectors, addresses, or an entity. The selectors
// AND; a peer with neither selector nor cidr nor entity is not valid.
struct Peer {
  SelectorRef pods;        // null with namespaces: all pods there
  SelectorRef namespaces;  // null with pods: the policy's namespace
  std::optional<CidrSpec> cidr;
  std::optional<Entity> entity;
  // selectors by pointer: the YAML reader shares equal ones
  bool operator==(const Peer&) const = default;
};

// An immutable list, shared: rules name the same few peer and port lists
// over and over, and a rule is one of 100k, so the YAML reader gives equal
// lists of one load one object. Reads as a vector of const T.
template <class T>
class SharedList {
 public:
  SharedList() = default;
  explicit SharedList(std::vector<T> items) {
    if (!items.empty()) items_ = std::make_shared<const std::vector<T>>(std::move(items));
  }
  const T* begin() const { return items_ ? items_->data() : nullptr; }
  const T* end() const { return items_ ? items_->data() + items_->size() : nullptr; }
  size_t size() const { return items_ ? items_->size() : 0; }
  bool empty() const { return size() == 0; }
  const T& operator[](size_t i) const { return (*items_)[i]; }
  bool shares(const SharedList& o) const { return items_ == o.items_; }

 private:
  std::shared_ptr<const std::vector<T>> items_;  // null: empty
};

// Policies hold 100k of these (80 bytes each): where a rule was written is
// its line and column in its policy's file (meta.source.file).
struct Rule {
  SharedList<Peer> peers;  // OR
  SharedList<PortSpec> ports;
  SharedList<IcmpSpec> icmp;
  std::optional<int64_t> expires_ns;  // Unix ns; just-in-time rules
  uint32_t line = 0, column = 0;      // 1-based
  bool any_peer = true;  // from/to absent or empty: every peer
  bool any_port = true;  // ports and icmp absent or empty: everything
  // ingressDeny by cidr only, also dropped before conntrack on the host
  // endpoints the policy selects (include/zeroseg/untracked.h)
  bool untracked = false;
};

struct Policy {
  enum class Kind { network_policy, segment_policy };
  Kind kind = Kind::segment_policy;
  ObjectMeta meta;
  LabelSelector selector;  // selects workloads in meta.ns
  bool audit = false;
  // Whether the policy makes a direction default-deny for what it selects.
  bool ingress = false, egress = false;
  std::vector<Rule> allow_in, allow_out, deny_in, deny_out;

  const char* kind_name() const { return kind == Kind::network_policy ? "NetworkPolicy" : "SegmentPolicy"; }
  std::string ref() const { return std::string(kind_name()) + "/" + meta.ns + "/" + meta.name; }
};

// A workload or an address cut off (`zeroseg quarantine add`): it gets the
// quarantine identity and talks to nothing but the management prefixes,
// both ways. Not a YAML kind: the agent keeps these beside the objects.
struct Quarantine {
  std::string target;  // a workload "namespace/name", or an address
  std::vector<Prefix> management;
  int64_t since_ns = 0;                // Unix ns
  std::optional<int64_t> expires_ns;   // Unix ns; absent: until removed
  std::string reason;                  // "operator", or the alert that asked
};

// Immutable objects held by shared pointers, in chunks of 256 pointers
// that are shared too: each apply starts from a copy of the desired state
// (11k objects at scale), and copying a SharedVector copies ~44 chunk
// pointers, not 11k object pointers (whose reference counts, one cache
// line each, were a tenth of a one-rule change). A change clones the
// chunk it touches. The states before and after an apply share what did
// not change. Reads as a vector of const T.
template <class T>
class SharedVector {
 public:
  using Ptr = std::shared_ptr<const T>;

  class const_iterator {
   public:
    using iterator_category = std::random_access_iterator_tag;
    using value_type = T;
    using difference_type = std::ptrdiff_t;
    using pointer = const T*;
    using reference = const T&;
    const_iterator() = default;
    const_iterator(const SharedVector* v, size_t i) : v_(v), i_(i) {}
    const T& operator*() const { return (*v_)[i_]; }
    const T* operator->() const { return &(*v_)[i_]; }
    const_iterator& operator++() { ++i_; return *this; }
    const_iterator operator++(int) { return const_iterator(v_, i_++); }
    const_iterator& operator--() { --i_; return *this; }
    const_iterator& operator+=(difference_type n) { i_ += n; return *this; }
    const_iterator operator+(difference_type n) const { return const_iterator(v_, i_ + n); }
    difference_type operator-(const const_iterator& o) const {
      return static_cast<difference_type>(i_) - static_cast<difference_type>(o.i_);
    }
    bool operator==(const const_iterator& o) const { return i_ == o.i_; }
    bool operator!=(const const_iterator& o) const { return i_ != o.i_; }

   private:
    const SharedVector* v_ = nullptr;
    size_t i_ = 0;
  };

  SharedVector() = default;
  SharedVector(std::initializer_list<T> items) {
    for (const auto& t : items) push_back(t);
  }

  void push_back(T item) { push_back(std::make_shared<const T>(std::move(item))); }
  void push_back(Ptr item) {
    if (size_ % kChunk == 0) chunks_.push_back(std::make_shared<Chunk>());  // not const: see mutable_chunk
    mutable_chunk(size_ / kChunk).push_back(std::move(item));
    size_++;
  }
  void set(size_t i, Ptr item) { mutable_chunk(i / kChunk)[i % kChunk] = std::move(item); }
  void clear() {
    chunks_.clear();
    size_ = 0;
  }

  const T& operator[](size_t i) const { return *ptr(i); }
  const T& back() const { return (*this)[size_ - 1]; }
  const Ptr& ptr(size_t i) const { return (*chunks_[i / kChunk])[i % kChunk]; }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  const_iterator begin() const { return const_iterator(this, 0); }
  const_iterator end() const { return const_iterator(this, size_); }

  // Whether both hold the same objects (not equal ones: the same), in
  // order; chunks shared by both are not looked into.
  bool same_objects(const SharedVector& o) const {
    if (size_ != o.size_) return false;
    for (size_t c = 0; c < chunks_.size(); c++) {
      if (chunks_[c] == o.chunks_[c]) continue;
      if (*chunks_[c] != *o.chunks_[c]) return false;  // compares the pointers
    }
    return true;
  }

 private:
  static constexpr size_t kChunk = 256;
  using Chunk = std::vector<Ptr>;

  // Chunk c, for writing: cloned first when another vector shares it.
  Chunk& mutable_chunk(size_t c) {
    if (chunks_[c].use_count() > 1) {
      auto copy = std::make_shared<Chunk>();
      copy->reserve(kChunk);
      copy->assign(chunks_[c]->begin(), chunks_[c]->end());
      chunks_[c] = std::move(copy);
    }
    // held by this vector alone, and made non-const (a shared_ptr<Chunk>)
    return const_cast<Chunk&>(*chunks_[c]);
  }

  std::vector<std::shared_ptr<const Chunk>> chunks_;  // full but the last
  size_t size_ = 0;
};

// Everything one apply (or the whole desired state) holds.
struct ObjectSet {
  SharedVector<Workload> workloads;
  SharedVector<Namespace> namespaces;
  SharedVector<Policy> policies;
  std::vector<Quarantine> quarantines;  // not objects: size() leaves them out

  size_t size() const { return workloads.size() + namespaces.size() + policies.size(); }
  void append(const ObjectSet& more) {
    for (size_t i = 0; i < more.workloads.size(); i++) workloads.push_back(more.workloads.ptr(i));
    for (size_t i = 0; i < more.namespaces.size(); i++) namespaces.push_back(more.namespaces.ptr(i));
    for (size_t i = 0; i < more.policies.size(); i++) policies.push_back(more.policies.ptr(i));
  }
  // The workload "namespace/name", or "name" when one namespace has it;
  // null when none. Throws Error when a bare name is in several namespaces.
  const Workload* find_workload(const std::string& spec) const;
};

}  // namespace zeroseg
