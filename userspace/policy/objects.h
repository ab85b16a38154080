// SPDX-License-Identifier: Apache-2.0
// The desired state, as users write it (see ../shared/DESIGN.md, "Policy
// objects"): Workloads, Namespaces, Kubernetes NetworkPolicies and zeroseg
// SegmentPolicies. NetworkPolicy and SegmentPolicy load into one Policy
// model with Kubernetes semantics already applied (policyTypes defaults,
// a podSelector-only peer meaning the policy's own namespace, ...).
#pragma once

#include <zeroseg/endpoint.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "net/addr.h"
#include "policy/labels.h"

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
  std::string document;  // the object's YAML, as stored and shown back
};

struct NamedPort {
  std::string name;
  uint16_t port = 0;
  uint8_t proto = 6;
};

struct Workload {
  ObjectMeta meta;
  std::string interface;
  std::vector<IpAddr> ips;
  std::vector<NamedPort> ports;
  zs_attach_kind attach = ZS_ATTACH_WORKLOAD;
};

struct Namespace {
  ObjectMeta meta;  // labels always hold kubernetes.io/metadata.name
};

struct PortSpec {
  uint8_t proto = 6;          // TCP unless given
  std::optional<uint16_t> port;  // absent: every port of proto
  std::string named;          // a named port, resolved per destination workload
  std::optional<uint16_t> end_port;
};

struct IcmpSpec {
  uint8_t family = 4;  // 4: ICMP, 6: ICMPv6
  uint8_t type = 0;
  std::optional<uint8_t> code;
};

struct CidrSpec {
  Prefix cidr;
  std::vector<Prefix> except;
};

enum class Entity { host, world, all };

// One peer: workloads by selectors, addresses, or an entity. The selectors
// AND; a peer with neither selector nor cidr nor entity is not valid.
struct Peer {
  std::optional<LabelSelector> pods;        // absent with namespaces: all pods there
  std::optional<LabelSelector> namespaces;  // absent with pods: the policy's namespace
  std::optional<CidrSpec> cidr;
  std::optional<Entity> entity;
};

struct Rule {
  bool any_peer = true;      // from/to absent or empty: every peer
  std::vector<Peer> peers;   // OR
  bool any_port = true;      // ports and icmp absent or empty: everything
  std::vector<PortSpec> ports;
  std::vector<IcmpSpec> icmp;
  std::optional<int64_t> expires_ns;  // Unix ns; just-in-time rules
  SourceRef source;
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

// Everything one apply (or the whole desired state) holds.
struct ObjectSet {
  std::vector<Workload> workloads;
  std::vector<Namespace> namespaces;
  std::vector<Policy> policies;
  std::vector<Quarantine> quarantines;  // not objects: size() leaves them out

  size_t size() const { return workloads.size() + namespaces.size() + policies.size(); }
  void append(ObjectSet&& more) {
    for (auto& w : more.workloads) workloads.push_back(std::move(w));
    for (auto& n : more.namespaces) namespaces.push_back(std::move(n));
    for (auto& p : more.policies) policies.push_back(std::move(p));
  }
};

}  // namespace zeroseg
