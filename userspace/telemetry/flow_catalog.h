// SPDX-License-Identifier: Apache-2.0
// FlowCatalog: the names a flow record needs (workloads, identities and
// their labels, rules, interfaces), from one compiled state. The agent
// publishes a new catalog after every commit (a pointer to the state it
// committed, nothing copied); the telemetry thread and the analyzer read
// whichever is current, each through a catalog of its own, and each name is
// worked out once, when a flow first needs it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

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
  // The names of one compiled state, worked out as flows ask for them: a
  // commit publishes a catalog in no time, whatever the state's size.
  FlowCatalog(std::string node, std::shared_ptr<const Compiled> compiled);
  // The same names (and serial) for another thread: a catalog memoizes
  // without locks, so each reading thread has one of its own.
  std::shared_ptr<const FlowCatalog> another_reader() const;

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
  // Whether the address is a workload's (one whose own end judges what
  // comes to it), not world, the host or a CIDR's.
  bool workload_address(const IpAddr& address) const;
  const Identity& identity(uint32_t id) const;
  const Rule* rule(uint32_t id) const;
  // Why the flow got its verdict, in one sentence naming the rule, or the
  // policies that make the direction default-deny.
  const Named& explain(const FlowRecord& r) const;

 private:
  static uint64_t next_serial();
  std::string explain_uncached(const FlowRecord& r) const;

  Named node_;
  uint64_t serial_ = next_serial();
  std::shared_ptr<const Compiled> compiled_;  // never null

  // Memos, filled as flows need them; node-based maps, so references stay
  // valid. One thread reads a catalog: no locks (another_reader()).
  mutable std::unordered_map<uint32_t, Endpoint> endpoints_;
  mutable std::unordered_map<IpAddr, Named, IpAddrHash> workloads_by_ip_;
  mutable std::unordered_map<uint32_t, Identity> identities_;
  mutable std::unordered_map<uint32_t, Rule> rules_;
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

// "default deny: P1, P2 select WHO for DIR and no rule allows this": the one
// wording of a default deny, for flow records and for `policy trace` alike.
std::string default_deny_why(const std::vector<std::string>& policies, const std::string& who,
                             const char* direction);

// "\"...\"" with JSON escapes.
void append_json_string(std::string& out, std::string_view s);

}  // namespace zeroseg
