// SPDX-License-Identifier: Apache-2.0
// `zeroseg bpf ...`: the datapath's maps and attachments, first hand. The
// agent drives the same calls from compiled policy; these words are for
// debugging, labs and tests, like `cilium bpf`.
#include <arpa/inet.h>
#include <zeroseg/conntrack.h>
#include <zeroseg/identity.h>
#include <zeroseg/proto.h>

#include <algorithm>
#include <iostream>
#include <nlohmann/json.hpp>

#include "abi/names.h"
#include "abi/port_ranges.h"
#include "cli/options.h"
#include "cli/output.h"
#include "cli/table.h"
#include "common/error.h"
#include "common/time.h"
#include "inspect/inspect.h"
#include "loader/attach.h"
#include "loader/datapath.h"
#include "loader/slot_access.h"
#include "loader/transaction.h"

namespace zeroseg::inspect {
using cli::GlobalOptions;

namespace {

using namespace cli;

using nlohmann::json;

std::unique_ptr<Datapath> open_for_write(const GlobalOptions& g) {
  auto dp = Datapath::is_pinned(g.pin_dir) ? Datapath::open_pinned(g.pin_dir)
                                           : Datapath::load({.pin_dir = g.pin_dir});
  dp->lock_writers("zeroseg agent");
  return dp;
}

Prefix parse_prefix_or_throw(const std::string& text) {
  auto p = Prefix::parse(text);
  if (!p) throw Error("bad address or prefix: " + text);
  return *p;
}

// --- attach / detach / uninstall -------------------------------------------

struct AttachArgs {
  std::string ifname, kind = "workload", hook, ingress = "enforce", egress = "enforce";
  uint32_t identity = 0;
  std::vector<std::string> ips, allowed_source_prefixes;
};

// Stages the removal of ifindex's source validation entries.
void remove_sources(const Datapath& dp, Transaction& tx, uint32_t ifindex) {
  for (const auto& [k, v] : dp.sources().entries())
    if (k.ifindex == ifindex) tx.remove_source(k);
  for (const auto& [k, v] : dp.source_prefixes().entries())
    if (k.ifindex == ifindex) tx.remove_source_prefix(k);
}

void run_attach(const GlobalOptions& g, const AttachArgs& a) {
  auto dp = open_for_write(g);
  AttachRequest req{.ifname = a.ifname, .kind = a.kind == "host" ? ZS_ATTACH_HOST : ZS_ATTACH_WORKLOAD};
  if (a.hook == "xdp") req.ingress = IngressHook::xdp;
  if (a.hook == "tc") req.ingress = IngressHook::tc;
  zs_endpoint ep{};
  ep.identity = a.identity;
  ep.kind = static_cast<uint8_t>(req.kind);
  ep.mode[ZS_DIR_INGRESS] = *parse_mode(a.ingress);
  ep.mode[ZS_DIR_EGRESS] = *parse_mode(a.egress);
  // the endpoint entry first: a program must never see the interface unmanaged
  uint32_t ifindex = ifindex_of(a.ifname);
  Transaction tx(*dp);
  tx.set_endpoint(ifindex, ep);
  // the sources a workload may send from (an uplink's are the agent's)
  remove_sources(*dp, tx, ifindex);
  for (const auto& ip : a.ips) {
    auto addr = IpAddr::parse(ip);
    if (!addr) throw Error("--ip: bad address: " + ip);
    tx.set_source(Transaction::source_key(ifindex, *addr), ZS_SOURCE_OWN);
  }
  for (const auto& p : a.allowed_source_prefixes)
    tx.set_source_prefix(Transaction::source_prefix_key(ifindex, parse_prefix_or_throw(p)));
  tx.commit();
  Attachment at = attach(*dp, req);
  if (!at.complete())
    throw Error("attaching to " + at.ifname + " failed: " + at.ingress_error +
                (at.ingress_error.empty() || at.egress_error.empty() ? "" : "; ") + at.egress_error);
  std::cout << "attached " << at.ifname << " (ifindex " << at.ifindex << "): ingress "
            << (at.ingress == IngressHook::xdp ? "xdp" : "tc") << (at.xdp_fallback ? " (XDP fallback)" : "")
            << ", egress tc, identity " << identity_name(a.identity) << "\n";
}

void run_detach(const GlobalOptions& g, const std::string& ifname) {
  auto dp = open_for_write(g);
  uint32_t ifindex = ifindex_of(ifname);
  detach(ifindex);
  Transaction tx(*dp);
  tx.remove_endpoint(ifindex);
  remove_sources(*dp, tx, ifindex);
  tx.commit();
  std::cout << "detached " << ifname << "\n";
}

void run_uninstall(const GlobalOptions& g) {
  {
    UniqueFd lock;  // (pins of another version too: pinned_interfaces)
    for (uint32_t ifindex : Datapath::pinned_interfaces(g.pin_dir, "zeroseg agent", lock)) detach(ifindex);
  }
  Datapath::unpin(g.pin_dir);
  std::cout << "removed zeroseg's programs and pins under " << g.pin_dir << "\n";
}

// --- ipcache ---------------------------------------------------------------

void run_ipcache_set(const GlobalOptions& g, const std::string& prefix, uint32_t identity) {
  auto dp = open_for_write(g);
  Transaction tx(*dp);
  tx.set_identity(parse_prefix_or_throw(prefix), identity);
  tx.commit();
}

void run_ipcache_delete(const GlobalOptions& g, const std::string& prefix) {
  auto dp = open_for_write(g);
  Transaction tx(*dp);
  tx.remove_identity(parse_prefix_or_throw(prefix));
  tx.commit();
}

// --- policy ----------------------------------------------------------------

struct RuleArgs {
  uint32_t subject = 0, peer = 0, rule = 1;
  std::string direction = "ingress", proto = "any", port, expires;
  int icmp_type = -1, icmp_code = -1;
  bool allow = false, deny = false, audit = false;
};

// The policy keys a rule's ports expand to.
std::vector<zs_policy_key> rule_keys(const RuleArgs& r) {
  zs_policy_key base{};
  base.subject = r.subject;
  base.peer = r.peer;
  auto dir = parse_direction(r.direction);
  auto proto = parse_proto(r.proto);
  if (!dir) throw Error("--direction must be ingress or egress, not " + r.direction);
  if (!proto) throw Error("unknown protocol " + r.proto);
  base.direction = *dir;
  base.proto = *proto;
  std::vector<zs_policy_key> keys;
  if (r.icmp_type >= 0) {
    if (!zs_is_icmp(base.proto)) throw Error("--icmp-type needs --proto icmp or icmpv6");
    base.port = zs_policy_port(base.proto, 0, static_cast<uint8_t>(r.icmp_type),
                               static_cast<uint8_t>(std::max(r.icmp_code, 0)));
    base.port_plen = r.icmp_code >= 0 ? 16 : 8;
    return {base};
  }
  if (r.port.empty()) return {base};
  if (base.proto == ZS_PROTO_ANY) throw Error("--port needs --proto");
  unsigned first = 0, last = 0;
  char dash = 0;
  int n = std::sscanf(r.port.c_str(), "%u%c%u", &first, &dash, &last);
  if (n == 1) last = first;
  if ((n != 1 && (n != 3 || dash != '-')) || first < 1 || last > 65535 || last < first)
    throw Error("bad --port " + r.port + " (N or N-M, 1..65535)");
  for (auto pp : port_range_to_prefixes(static_cast<uint16_t>(first), static_cast<uint16_t>(last))) {
    zs_policy_key k = base;
    k.port = pp.port;
    k.port_plen = pp.plen;
    keys.push_back(k);
  }
  return keys;
}

uint64_t parse_expiry(const std::string& text) {
  if (text.empty()) return 0;
  if (text[0] == '+') {
    auto d = parse_duration_ns(text.substr(1));
    if (!d) throw Error("bad --expires duration " + text);
    return realtime_to_tai_ns(realtime_now_ns() + *d);
  }
  auto t = parse_rfc3339(text);
  if (!t) throw Error("bad --expires time " + text + " (RFC 3339, or +DURATION)");
  return realtime_to_tai_ns(*t);
}

void run_policy_set(const GlobalOptions& g, const RuleArgs& r) {
  if (r.allow == r.deny) throw Error("give one of --allow or --deny");
  auto dp = open_for_write(g);
  uint64_t expires = parse_expiry(r.expires);
  Transaction tx(*dp);
  for (const auto& key : rule_keys(r)) {
    zs_policy_entry e{};
    if (auto cur = dp->policy().get(key)) e = slot_ref(*cur, dp->active_slot());
    if (r.allow) {
      e.allow_rule = r.rule;
      e.allow_expires = expires;
    } else {
      e.deny_rule = r.rule;
      e.deny_expires = expires;
      e.deny_audit = r.audit;
    }
    tx.set_rule(key, e);
  }
  tx.commit();
}

void run_policy_delete(const GlobalOptions& g, const RuleArgs& r) {
  auto dp = open_for_write(g);
  Transaction tx(*dp);
  for (const auto& key : rule_keys(r)) tx.remove_rule(key);
  tx.commit();
}

// --- dump ------------------------------------------------------------------

std::string tuple_addr(const uint32_t* a, uint8_t family) {
  IpAddr ip;
  ip.family = family;
  std::memcpy(ip.bytes.data(), a, family == 4 ? 4 : 16);
  return ip.str();
}

std::string port_text(const zs_policy_key& k) {
  if (zs_is_icmp(k.proto)) {
    if (k.port_plen == 0) return "*";
    std::string s = "type " + std::to_string(k.port >> 8);
    return k.port_plen >= 16 ? s + " code " + std::to_string(k.port & 0xff) : s;
  }
  if (k.port_plen == 0) return "*";
  uint32_t last = k.port + (0xffffu >> k.port_plen);
  return k.port_plen == 16 ? std::to_string(k.port) : std::to_string(k.port) + "-" + std::to_string(last);
}

std::string expiry_text(uint64_t tai) { return tai ? format_rfc3339(tai_to_realtime_ns(tai)) : "-"; }

void dump_endpoints(const Datapath& dp, const GlobalOptions& g) {
  int slot = dp.active_slot();
  Table t({"ifindex", "interface", "identity", "kind", "ingress", "egress"});
  json out = json::array();
  for (auto& [ifindex, v] : dp.endpoints().entries()) {
    const auto& e = slot_ref(v, slot);
    std::string name = ifname_of(ifindex);
    out.push_back({{"ifindex", ifindex}, {"interface", name}, {"identity", e.identity},
                   {"kind", attach_kind_name(e.kind)}, {"ingress", mode_name(e.mode[0])},
                   {"egress", mode_name(e.mode[1])}});
    t.add({std::to_string(ifindex), name, identity_name(e.identity), attach_kind_name(e.kind), mode_name(e.mode[0]),
           mode_name(e.mode[1])});
  }
  print_output(g, out, t);
}

void dump_ipcache(const Datapath& dp, const GlobalOptions& g) {
  int slot = dp.active_slot();
  Table t({"prefix", "identity"});
  json out = json::array();
  for (auto& [k, v] : dp.ipcache().entries()) {
    std::string prefix = tuple_addr(k.addr, k.family) + "/" + std::to_string(k.prefixlen);
    out.push_back({{"prefix", prefix}, {"identity", slot_ref(v, slot)}});
    t.add({prefix, identity_name(slot_ref(v, slot))});
  }
  print_output(g, out, t);
}

void dump_policy(const Datapath& dp, const GlobalOptions& g) {
  int slot = dp.active_slot();
  Table t({"subject", "direction", "peer", "proto", "port", "allow", "deny", "expires"});
  json out = json::array();
  for (auto& [k, v] : dp.policy().entries()) {
    const auto& e = slot_ref(v, slot);
    std::string deny = e.deny_rule ? std::to_string(e.deny_rule) + (e.deny_audit ? " (audit)" : "") : "-";
    std::string allow = e.allow_rule ? std::to_string(e.allow_rule) : "-";
    uint64_t exp = e.deny_rule ? e.deny_expires : e.allow_expires;
    out.push_back({{"subject", k.subject}, {"direction", direction_name(k.direction)}, {"peer", k.peer},
                   {"proto", proto_name(k.proto)}, {"port", k.port}, {"port_plen", k.port_plen},
                   {"allow_rule", e.allow_rule}, {"allow_expires", expiry_text(e.allow_expires)},
                   {"deny_rule", e.deny_rule}, {"deny_expires", expiry_text(e.deny_expires)},
                   {"deny_audit", e.deny_audit != 0}});
    t.add({identity_name(k.subject), direction_name(k.direction), identity_name(k.peer), proto_name(k.proto),
           port_text(k), allow, deny, expiry_text(exp)});
  }
  print_output(g, out, t);
}

// The source validation entries: own and local addresses, allowed prefixes.
void dump_sources(const Datapath& dp, const GlobalOptions& g) {
  int slot = dp.active_slot();
  Table t({"ifindex", "interface", "source", "kind"});
  json out = json::array();
  auto add = [&](uint32_t ifindex, const std::string& source, const char* kind) {
    out.push_back({{"ifindex", ifindex}, {"interface", ifname_of(ifindex)}, {"source", source}, {"kind", kind}});
    t.add({std::to_string(ifindex), ifname_of(ifindex), source, kind});
  };
  for (auto& [k, v] : dp.sources().entries()) {
    uint8_t kind = slot_ref(v, slot);
    if (kind) add(k.ifindex, tuple_addr(k.addr, k.family), kind == ZS_SOURCE_OWN ? "own" : "local-workload");
  }
  for (auto& [k, v] : dp.source_prefixes().entries()) {
    if (!slot_ref(v, slot)) continue;
    const auto* b = reinterpret_cast<const uint8_t*>(k.addr);
    bool v4 = std::all_of(b, b + 10, [](uint8_t x) { return x == 0; }) && b[10] == 0xff && b[11] == 0xff &&
              k.prefixlen >= ZS_SOURCE_PREFIX_IFINDEX_BITS + 96;
    uint32_t a4[4] = {k.addr[3], 0, 0, 0};
    std::string addr = v4 ? tuple_addr(a4, 4) : tuple_addr(k.addr, 6);
    uint32_t len = k.prefixlen - ZS_SOURCE_PREFIX_IFINDEX_BITS - (v4 ? 96 : 0);
    add(k.ifindex, addr + "/" + std::to_string(len),
        slot_ref(v, slot) == ZS_SOURCE_PREFIX_DENIED ? "denied-prefix" : "allowed-prefix");
  }
  print_output(g, out, t);
}

// The untracked deny's entries (include/zeroseg/untracked.h), from the
// trie packets read now.
void dump_untracked(const Datapath& dp, const GlobalOptions& g) {
  static const char* kActions[] = {"pass", "deny", "audit"};
  Table t({"ifindex", "interface", "source", "action", "rule"});
  json out = json::array();
  for (auto& [k, v] : dp.untracked(dp.active_slot()).entries()) {
    std::string source = tuple_addr(k.addr, k.family) + "/" + std::to_string(k.prefixlen - ZS_UNTRACKED_KEY_BITS);
    const char* action = v.action < 3 ? kActions[v.action] : "?";
    out.push_back({{"ifindex", k.ifindex}, {"interface", ifname_of(k.ifindex)}, {"source", source},
                   {"action", action}, {"rule_id", v.rule_id}});
    t.add({std::to_string(k.ifindex), ifname_of(k.ifindex), source, action, v.rule_id ? std::to_string(v.rule_id) : "-"});
  }
  print_output(g, out, t);
}

void dump_conntrack(const Datapath& dp, const GlobalOptions& g) {
  Table t({"ifindex", "proto", "source", "destination", "direction", "subject", "peer", "rule", "packets", "bytes"});
  json out = json::array();
  for (auto& [k, c] : dp.conntrack().entries()) {
    const auto& tu = k.tuple;
    std::string src = tuple_addr(tu.saddr, tu.family), dst = tuple_addr(tu.daddr, tu.family);
    uint16_t sport = ntohs(tu.sport), dport = ntohs(tu.dport);
    json row = {{"ifindex", k.ifindex}, {"proto", proto_name(tu.proto)}, {"src", src}, {"sport", sport},
                {"dst", dst}, {"dport", dport}, {"direction", direction_name(c.direction)},
                {"subject", c.subject}, {"peer", c.peer}, {"rule", c.rule_id},
                {"packets", {c.packets[0], c.packets[1]}}, {"bytes", {c.bytes[0], c.bytes[1]}},
                {"generation", c.generation}, {"audit", (c.flags & ZS_CT_AUDIT) != 0},
                {"charged", zs_ct_charged(&c) != 0}};  // in its endpoint's share
    std::string from = src + ":" + std::to_string(sport), to = dst + ":" + std::to_string(dport);
    if (zs_is_icmp(tu.proto)) {  // a query: the key holds its id and its request's type and code
      uint16_t port = zs_icmp_flow_port(&tu);
      row["icmp"] = {{"type", port >> 8}, {"code", port & 0xff}, {"id", zs_icmp_flow_id(&tu)}};
      from = src + " id " + std::to_string(zs_icmp_flow_id(&tu));
      to = dst + " type " + std::to_string(port >> 8) + " code " + std::to_string(port & 0xff);
    }
    out.push_back(row);
    t.add({std::to_string(k.ifindex), proto_name(tu.proto), from, to, direction_name(c.direction), identity_name(c.subject),
           identity_name(c.peer), std::to_string(c.rule_id),
           std::to_string(c.packets[0]) + "/" + std::to_string(c.packets[1]),
           std::to_string(c.bytes[0]) + "/" + std::to_string(c.bytes[1])});
  }
  print_output(g, out, t);
}

}  // namespace

void add_bpf_commands(CLI::App& app, GlobalOptions& g) {
  auto* bpf = app.add_subcommand("bpf", "Inspect and drive the datapath's maps and attachments directly");
  bpf->require_subcommand(1);

  auto* load = bpf->add_subcommand("load", "Load the programs and pin them with their maps");
  add_global_options(*load, g);
  load->callback([&g] {
    auto dp = Datapath::load({.pin_dir = g.pin_dir});
    std::cout << "datapath loaded and pinned under " << g.pin_dir << "\n";
  });

  static AttachArgs attach_args;
  auto* att = bpf->add_subcommand("attach", "Attach the datapath to an interface as an endpoint");
  add_global_options(*att, g);
  att->add_option("interface", attach_args.ifname, "Interface name")->required();
  att->add_option("--identity", attach_args.identity, "The endpoint's identity")->required()->check(CLI::Range(1u, ~0u));
  att->add_option("--kind", attach_args.kind, "workload: the host end of a workload's veth; host: an uplink")
      ->check(CLI::IsMember({"workload", "host"}))->capture_default_str();
  att->add_option("--hook", attach_args.hook, "Ingress hook (default: xdp for host, tc for workload)")
      ->check(CLI::IsMember({"tc", "xdp"}));
  att->add_option("--ingress", attach_args.ingress, "Ingress mode")->check(CLI::IsMember({"off", "audit", "enforce"}))
      ->capture_default_str();
  att->add_option("--egress", attach_args.egress, "Egress mode")->check(CLI::IsMember({"off", "audit", "enforce"}))
      ->capture_default_str();
  att->add_option("--ip", attach_args.ips,
                  "A workload's own address (repeat for more): the sources its egress may carry, with "
                  "--allowed-source-prefix and IPv6 link-local; others are dropped as spoofed-source");
  att->add_option("--allowed-source-prefix", attach_args.allowed_source_prefixes,
                  "A prefix the workload may also send from (a router's), as allowedSourcePrefixes");
  att->callback([&g] { run_attach(g, attach_args); });

  static std::string detach_if;
  auto* det = bpf->add_subcommand("detach", "Detach the datapath from an interface");
  add_global_options(*det, g);
  det->add_option("interface", detach_if, "Interface name")->required();
  det->callback([&g] { run_detach(g, detach_if); });

  auto* uninst = bpf->add_subcommand("uninstall", "Detach from every endpoint and remove all pins");
  add_global_options(*uninst, g);
  uninst->callback([&g] { run_uninstall(g); });

  auto* ipc = bpf->add_subcommand("ipcache", "Map prefixes to identities");
  ipc->require_subcommand(1);
  static std::string ipc_prefix;
  static uint32_t ipc_identity = 0;
  auto* ipc_set = ipc->add_subcommand("set", "Map PREFIX to IDENTITY");
  add_global_options(*ipc_set, g);
  ipc_set->add_option("prefix", ipc_prefix)->required();
  ipc_set->add_option("identity", ipc_identity)->required()->check(CLI::Range(1u, ~0u));
  ipc_set->callback([&g] { run_ipcache_set(g, ipc_prefix, ipc_identity); });
  auto* ipc_del = ipc->add_subcommand("delete", "Remove PREFIX");
  add_global_options(*ipc_del, g);
  ipc_del->add_option("prefix", ipc_prefix)->required();
  ipc_del->callback([&g] { run_ipcache_delete(g, ipc_prefix); });

  static RuleArgs rule;
  auto* pol = bpf->add_subcommand("policy", "Add or remove policy map entries");
  pol->require_subcommand(1);
  for (const char* verb : {"set", "delete"}) {
    auto* c = pol->add_subcommand(verb, std::string(verb) + " the entries of one rule");
    add_global_options(*c, g);
    c->add_option("--subject", rule.subject, "Identity the rule protects")->required();
    c->add_option("--peer", rule.peer, "Identity of the other end (0 = any)");
    c->add_option("--direction", rule.direction)->check(CLI::IsMember({"ingress", "egress"}))->capture_default_str();
    c->add_option("--proto", rule.proto, "tcp, udp, sctp, icmp, icmpv6, a number, or any")->capture_default_str();
    c->add_option("--port", rule.port, "N or N-M");
    c->add_option("--icmp-type", rule.icmp_type)->check(CLI::Range(0, 255));
    c->add_option("--icmp-code", rule.icmp_code)->check(CLI::Range(0, 255));
    if (std::string(verb) == "set") {
      c->add_flag("--allow", rule.allow);
      c->add_flag("--deny", rule.deny);
      c->add_flag("--audit", rule.audit, "A deny that only reports");
      c->add_option("--rule", rule.rule, "Rule id reported in flows")->capture_default_str();
      c->add_option("--expires", rule.expires, "RFC 3339 time or +DURATION (e.g. +10m)");
      c->callback([&g] { run_policy_set(g, rule); });
    } else {
      c->callback([&g] { run_policy_delete(g, rule); });
    }
  }

  static std::string what;
  auto* dump = bpf->add_subcommand("dump", "Show a map's entries");
  add_global_options(*dump, g);
  dump->add_option("map", what)->required()->check(CLI::IsMember({"endpoints", "ipcache", "policy", "conntrack", "sources", "untracked"}));
  dump->callback([&g] {
    auto dp = Datapath::open_pinned(g.pin_dir);
    if (what == "endpoints") dump_endpoints(*dp, g);
    if (what == "ipcache") dump_ipcache(*dp, g);
    if (what == "policy") dump_policy(*dp, g);
    if (what == "conntrack") dump_conntrack(*dp, g);
    if (what == "sources") dump_sources(*dp, g);
    if (what == "untracked") dump_untracked(*dp, g);
  });
}

}  // namespace zeroseg::inspect
