// SPDX-License-Identifier: Apache-2.0
#include "policy/untracked_rules.h"

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <utility>

#include "policy/compilation.h"

namespace zeroseg {
namespace {

// The answer for the rules (indexes) that hold a source.
UntrackedEntry decide(const Prefix& at, const std::vector<size_t>& holding, const std::vector<UntrackedRule>& rules) {
  UntrackedEntry e{at, ZS_UNTRACKED_PASS, 0};
  for (size_t i : holding) {
    const UntrackedRule& r = rules[i];
    uint8_t action = r.audit ? ZS_UNTRACKED_AUDIT : ZS_UNTRACKED_DENY;
    bool better = e.action == ZS_UNTRACKED_PASS || (action == ZS_UNTRACKED_DENY && e.action == ZS_UNTRACKED_AUDIT) ||
                  (action == e.action && r.rule_id < e.rule_id);
    if (better) {
      e.action = action;
      e.rule_id = r.rule_id;
    }
  }
  return e;
}

}  // namespace

// Every source's longest match among the cidrs and excepts is one prefix
// K, and the rules holding it are those with a cidr over K and no except
// over K: one answer per K. Sorted, a prefix comes after those over it
// (the walk keeps them on a stack, each with the rules holding it), so
// each K's rules are its parent's, plus those whose cidr is K, less those
// with an except K.
std::vector<UntrackedEntry> compile_untracked(const std::vector<UntrackedRule>& rules) {
  std::map<Prefix, std::pair<std::vector<size_t>, std::vector<size_t>>> at;  // prefix -> (cidr of, except of)
  for (size_t i = 0; i < rules.size(); i++) {
    at[rules[i].cidr].first.push_back(i);
    for (const auto& e : rules[i].except) at[e].second.push_back(i);
  }
  struct Level {
    Prefix prefix;
    std::vector<size_t> holding;
    UntrackedEntry answer;  // the nearest entry's at or over prefix (pass: none)
  };
  std::vector<Level> stack;
  std::vector<UntrackedEntry> out;
  for (const auto& [prefix, adds_removes] : at) {
    while (!stack.empty() && !stack.back().prefix.contains(prefix)) stack.pop_back();
    Level next{prefix, stack.empty() ? std::vector<size_t>{} : stack.back().holding, {}};
    for (size_t i : adds_removes.first) next.holding.push_back(i);
    for (size_t i : adds_removes.second) std::erase(next.holding, i);
    UntrackedEntry e = decide(prefix, next.holding, rules);
    const UntrackedEntry* above = stack.empty() ? nullptr : &stack.back().answer;
    bool same = above ? above->action == e.action && above->rule_id == e.rule_id : e.action == ZS_UNTRACKED_PASS;
    if (!same) out.push_back(e);
    next.answer = same && above ? *above : e;
    stack.push_back(std::move(next));
  }
  return out;
}

}  // namespace zeroseg

namespace zeroseg::compiling {
namespace {

// An IPv4 prefix as the IPv4-mapped IPv6 one (::ffff:a.b.c.d/96+len): a
// dual-stack socket reads an IPv6 packet from ::ffff:a.b.c.d as from
// a.b.c.d, so an IPv4 deny holds such sources too.
Prefix v4_mapped(const Prefix& p) {
  IpAddr a;
  a.family = 6;
  a.bytes[10] = a.bytes[11] = 0xff;
  std::copy(p.addr.bytes.begin(), p.addr.bytes.begin() + 4, a.bytes.begin() + 12);
  return Prefix::of(a, static_cast<uint8_t>(96 + p.len));
}

bool has_untracked(const Policy& p) {
  return std::any_of(p.deny_in.begin(), p.deny_in.end(), [](const Rule& r) { return r.untracked; });
}

}  // namespace

void Compilation::compile_untracked() {
  std::map<uint32_t, std::vector<UntrackedRule>> by_subject;  // host endpoints' identities only
  for (const auto& [ifname, ep] : out_.endpoints)
    if (ep.kind == ZS_ATTACH_HOST) by_subject[ep.identity];
  for (const auto& [p, subjects] : policies_) {
    if (!has_untracked(*p)) continue;
    out_.untracked_rules = true;
    for (size_t i = 0; i < p->deny_in.size(); i++) {
      const Rule& r = p->deny_in[i];
      if (!r.untracked) continue;
      // the tracked deny's id (compile_rules): events name the same rule
      uint32_t rule_id = rule_ids_.allocate(rule_key(p->ref(), "ingressDeny", i));
      used_rules_.insert(rule_id);
      for (uint32_t subject : subjects) {
        auto it = by_subject.find(subject);
        if (it == by_subject.end()) continue;
        for (const auto& peer : r.peers) {
          const CidrSpec& c = *peer.cidr;
          it->second.push_back({c.cidr, c.except, rule_id, p->audit});
          if (c.cidr.addr.family != 4) continue;
          UntrackedRule mapped{v4_mapped(c.cidr), {}, rule_id, p->audit};
          for (const auto& e : c.except) mapped.except.push_back(v4_mapped(e));
          it->second.push_back(std::move(mapped));
        }
      }
    }
  }
  if (!out_.untracked_rules) return;
  for (auto& [ifname, ep] : out_.endpoints.mut())
    if (ep.kind == ZS_ATTACH_HOST) ep.untracked = zeroseg::compile_untracked(by_subject[ep.identity]);
}

bool Compilation::touches_untracked(const std::vector<size_t>& changed, const Compiled& prev) const {
  for (size_t i : changed)
    if (has_untracked(*policies_[i].first)) return true;
  if (!prev.untracked_rules) return false;
  std::set<const Policy*> kept;
  for (const auto& [p, subjects] : policies_) kept.insert(p);
  for (const auto& [p, part] : prev.parts)
    if (!kept.count(p) && has_untracked(*p)) return true;
  return false;
}

}  // namespace zeroseg::compiling
