// SPDX-License-Identifier: Apache-2.0
// FlowCatalog: the names a flow record needs (workloads, identities and
// their labels, rules, interfaces), taken from one compiled state. The
// agent publishes a new catalog after every commit; the telemetry thread
// reads whichever is current, without locks on the hot path.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>

#include "net/addr.h"
#include "policy/compiler.h"
#include "telemetry/flow_record.h"

namespace zeroseg {

struct IpAddrHash {
  size_t operator()(const IpAddr& a) const;
};

class FlowCatalog {
 public:
  // An empty catalog: numbers only.
  explicit FlowCatalog(std::string node) : node_(std::move(node)) {}
  static std::shared_ptr<const FlowCatalog> build(std::string node, const Compiled& compiled,
                                                  const ObjectSet& desired);

  struct Identity {
    std::string name;         // "prod/web" (one workload), "app=web" (several), the CIDR, or "world"
    std::string labels_json;  // {"app":"web",...}, ready to paste into a JSON line
  };
  struct Endpoint {
    std::string interface;
    std::string workload;  // namespace/name
  };

  const std::string& node() const { return node_; }
  // The interface's name, and the workload behind it (empty if unknown).
  Endpoint endpoint(uint32_t ifindex) const;
  // "prod/web" for a workload's address, else the identity's name.
  std::string party(const IpAddr& address, uint32_t identity) const;
  const Identity& identity(uint32_t id) const;
  const RuleInfo* rule(uint32_t id) const;
  // Why the flow got its verdict, in one sentence naming the rule, or the
  // policies that make the direction default-deny.
  std::string explain(const FlowRecord& r) const;

 private:
  std::string node_;
  std::unordered_map<uint32_t, Endpoint> endpoints_;
  std::unordered_map<IpAddr, std::string, IpAddrHash> workloads_by_ip_;
  std::unordered_map<uint32_t, Identity> identities_;
  std::unordered_map<uint32_t, RuleInfo> rules_;
  std::unordered_map<uint32_t, std::array<std::string, 2>> selected_by_;  // "P1, P2" per direction
};

// The address in a tuple, as an IpAddr.
IpAddr tuple_source(const zs_tuple& t);
IpAddr tuple_destination(const zs_tuple& t);

// "\"...\"" with JSON escapes.
void append_json_string(std::string& out, std::string_view s);

}  // namespace zeroseg
