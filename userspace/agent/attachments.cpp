// SPDX-License-Identifier: Apache-2.0
#include "agent/attachments.h"

#include <net/if.h>

#include "common/error.h"
#include "common/log.h"

namespace zeroseg {
namespace {

RepairedHook ingress_hook(const Attachment& a) {
  return a.ingress == IngressHook::xdp ? RepairedHook::xdp_ingress : RepairedHook::tc_ingress;
}

std::string problem_text(const Attachment& a) {
  std::string out;
  if (!a.ingress_error.empty()) out = "ingress not enforced: " + a.ingress_error;
  if (!a.egress_error.empty()) out += (out.empty() ? "" : "; ") + ("egress not enforced: " + a.egress_error);
  return out;
}

}  // namespace

const char* repaired_hook_name(RepairedHook h) { return h == RepairedHook::xdp_ingress ? "xdp" : "tc"; }
const char* repaired_direction_name(RepairedHook h) { return h == RepairedHook::tc_egress ? "egress" : "ingress"; }

void Attachments::ensure(uint32_t ifindex, const std::string& ifname, zs_attach_kind kind) {
  auto it = entries_.find(ifname);
  if (it == entries_.end() || it->second.a.ifindex != ifindex || it->second.kind != kind) {
    attach_new(entries_[ifname], ifindex, ifname, kind);
    return;
  }
  Entry& e = it->second;
  if (!e.a.complete()) {
    retry(e);
    return;
  }
  AttachmentCheck c = check_attachment(dp_, e.a);
  if (!c.ok()) repair(e, c);
}

void Attachments::attach_new(Entry& e, uint32_t ifindex, const std::string& ifname, zs_attach_kind kind) {
  e = Entry{};
  e.kind = kind;
  e.a.ifname = ifname;
  e.a.ifindex = ifindex;
  try {
    e.a = attach(dp_, {.ifname = ifname, .kind = kind});
  } catch (const Error& err) {  // the link went between the lookup and the attach
    e.a.ingress_error = e.a.egress_error = err.what();
  }
  if (e.a.ifindex != ifindex) {  // the name moved to another link meanwhile
    e.a.ifindex = ifindex;
    e.a.ingress_error = e.a.egress_error = "the interface changed while attaching";
  }
  if (!e.a.ingress_error.empty()) counters_.failures++;
  if (!e.a.egress_error.empty()) counters_.failures++;
  report(e);
}

void Attachments::retry(Entry& e) {
  if (!e.a.ingress_error.empty()) {
    try {
      attach_ingress(dp_, e.a);
      e.a.ingress_error.clear();
    } catch (const Error& err) {
      e.a.ingress_error = err.what();
      counters_.failures++;
    }
  }
  if (!e.a.egress_error.empty()) {
    try {
      attach_egress(dp_, e.a);
      e.a.egress_error.clear();
    } catch (const Error& err) {
      e.a.egress_error = err.what();
      counters_.failures++;
    }
  }
  report(e);
}

size_t Attachments::repair(Entry& e, const AttachmentCheck& c) {
  size_t n = 0;
  auto fix = [&](bool ingress) {
    RepairedHook hook = ingress ? ingress_hook(e.a) : RepairedHook::tc_egress;
    HookCheck found = ingress ? c.ingress : c.egress;
    log::warn("attachment check: the " + std::string(repaired_hook_name(hook)) + " " +
              repaired_direction_name(hook) + " program on " + e.a.ifname + " is " +
              (found == HookCheck::foreign ? "another program" : "gone") + ": attaching it again");
    std::string& error = ingress ? e.a.ingress_error : e.a.egress_error;
    try {
      if (ingress)
        attach_ingress(dp_, e.a);
      else
        attach_egress(dp_, e.a);
      error.clear();
      counters_.repairs[static_cast<int>(hook)]++;
      n++;
    } catch (const Error& err) {
      error = err.what();
      counters_.failures++;
    }
  };
  if (c.ingress != HookCheck::ours) fix(true);
  if (c.egress != HookCheck::ours) fix(false);
  report(e);
  return n;
}

// Logs a failure once (until it changes), and the recovery from one.
void Attachments::report(Entry& e) {
  std::string now = problem_text(e.a);
  if (now == e.logged) return;
  if (now.empty())
    log::info("attached to " + e.a.ifname + ": both directions enforced again");
  else
    log::error("attaching to " + e.a.ifname + ": " + now + " (retried on link changes and every check)");
  e.logged = now;
}

void Attachments::keep_only(const std::set<std::string>& keep) {
  std::erase_if(entries_, [&](const auto& kv) { return !keep.count(kv.first); });
}

bool Attachments::known(const std::string& ifname, uint32_t ifindex) const {
  auto it = entries_.find(ifname);
  return it != entries_.end() && it->second.a.ifindex == ifindex;
}

size_t Attachments::verify() {
  counters_.checks++;
  size_t n = 0;
  for (auto& [ifname, e] : entries_) {
    if (if_nametoindex(ifname.c_str()) != e.a.ifindex) continue;  // gone or replaced: the link sync attaches anew
    if (!e.a.complete()) {
      retry(e);
      continue;
    }
    AttachmentCheck c = check_attachment(dp_, e.a);
    if (!c.ok()) n += repair(e, c);
  }
  return n;
}

std::set<std::string> Attachments::enforced() const {
  std::set<std::string> out;
  for (const auto& [ifname, e] : entries_)
    if (e.a.complete()) out.insert(ifname);
  return out;
}

std::vector<Attachments::Problem> Attachments::problems() const {
  std::vector<Problem> out;
  for (const auto& [ifname, e] : entries_)
    if (!e.a.complete() && if_nametoindex(ifname.c_str()) == e.a.ifindex) out.push_back({ifname, problem_text(e.a)});
  return out;
}

}  // namespace zeroseg
