// SPDX-License-Identifier: Apache-2.0
// FlowCatalog: the names a flow record needs (workloads, identities and
// their labels, rules, interfaces), taken from one compiled state. The
// agent publishes a new catalog after every commit; the telemetry thread
// reads whichever is current. Lookups memoize without locks: one thread
// (the telemetry thread) reads a catalog at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "net/addr.h"
#include "policy/compiler.h"
#include "telemetry/flow_record.h"

namespace zeroseg {

struct IpAddrHash {
  size_t operator()(const IpAddr& a) const;
};

// A name, and the same as a JSON string (quoted, escaped) ready to paste.
struct Named {
  std::string text, json;
  Named() = default;
  explicit Named(std::string t);
};

class FlowCatalog {
 public:
  // An empty catalog: numbers only (and the reserved identities' names).
  explicit FlowCatalog(std::string node);
  static std::shared_ptr<const FlowCatalog> build(std::string node, const Compiled& compiled,
                                                  const ObjectSet& desired);

  struct Identity {
    Named name;               // "prod/web" (one workload), "app=web" (several), the CIDR, or "world"
    std::string labels_json;  // {"app":"web",...}
  };
  struct Endpoint {
    Named interface;
    std::string workload;  // namespace/name
  };
  struct Rule {
    RuleInfo info;
    Named policy, name;  // "Kind/ns/name", "Kind/ns/name ingress[0]"
  };

  const Named& node() const { return node_; }
  // Distinct per catalog ever built: what a cache keyed by identity numbers
  // checks before trusting them.
  uint64_t serial() const { return serial_; }
  // The interface's name, and the workload behind it (empty if unknown).
  const Endpoint& endpoint(uint32_t ifindex) const;
  // "prod/web" for a workload's address, else the identity's name.
  const Named& party(const IpAddr& address, uint32_t identity) const;
  const Identity& identity(uint32_t id) const;  // party() and identity(): safe from two threads
  const Rule* rule(uint32_t id) const;
  // Why the flow got its verdict, in one sentence naming the rule, or the
  // policies that make the direction default-deny.
  const Named& explain(const FlowRecord& r) const;

 private:
  static uint64_t next_serial();
  Named node_;
  uint64_t serial_ = next_serial();
  std::unordered_map<uint32_t, Endpoint> endpoints_;
  std::unordered_map<IpAddr, Named, IpAddrHash> workloads_by_ip_;
  std::unordered_map<uint32_t, Identity> identities_;
  std::unordered_map<uint32_t, Rule> rules_;
  std::unordered_map<uint32_t, std::array<std::string, 2>> selected_by_;  // "P1, P2" per direction

  // Memos, filled as flows need them (the catalog is otherwise immutable;
  // a new catalog starts them afresh). Two threads read a catalog: the
  // telemetry thread (everything) and the analyzer (party and identity
  // only). So the identity memo takes a lock; the others are the telemetry
  // thread's alone.
  std::string explain_uncached(const FlowRecord& r) const;
  mutable std::unordered_map<uint32_t, Endpoint> other_interfaces_;
  mutable std::mutex other_identities_mu_;
  mutable std::unordered_map<uint32_t, Identity> other_identities_;  // node-based: references stay valid
  struct ExplainKey {
    uint32_t subject, rule_id, ifindex;
    uint8_t event, end_reason, verdict, reason, direction;
    bool operator==(const ExplainKey&) const = default;
  };
  struct ExplainKeyHash {
    size_t operator()(const ExplainKey& k) const {
      uint64_t a = (uint64_t{k.subject} << 32) | k.rule_id;
      uint64_t b = (uint64_t{k.ifindex} << 32) | (uint64_t{k.event} << 24) | (uint64_t{k.end_reason} << 16) |
                   (uint64_t{k.verdict} << 8) | (uint64_t{k.reason} << 4) | k.direction;
      return std::hash<uint64_t>()(a * 0x9e3779b97f4a7c15ULL ^ b);
    }
  };
  mutable std::unordered_map<ExplainKey, Named, ExplainKeyHash> explanations_;
};

// The address in a tuple, as an IpAddr.
IpAddr tuple_source(const zs_tuple& t);
IpAddr tuple_destination(const zs_tuple& t);

// "\"...\"" with JSON escapes.
void append_json_string(std::string& out, std::string_view s);

}  // namespace zeroseg
