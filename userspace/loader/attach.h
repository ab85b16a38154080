// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <zeroseg/endpoint.h>

#include <cstdint>
#include <optional>
#include <string>

namespace zeroseg {

class Datapath;

// Where the program that sees packets arriving on an interface runs.
enum class IngressHook { tc, xdp };

struct AttachRequest {
  std::string ifname;
  zs_attach_kind kind = ZS_ATTACH_WORKLOAD;
  // Unset: XDP on host uplinks, tc on workload veths (XDP on a veth costs
  // it GSO/GRO: 10.9 -> 3.0 Gbit/s of TCP measured here).
  std::optional<IngressHook> ingress;
};

struct Attachment {
  std::string ifname;
  uint32_t ifindex = 0;
  IngressHook ingress = IngressHook::tc;
  bool xdp_fallback = false;  // XDP was wanted, native mode failed: tc ingress
  std::string xdp_error;      // why native XDP failed
  // Why a hook is not ours ("" when it is): the interface is not enforced
  // in that direction.
  std::string ingress_error, egress_error;
  bool complete() const { return ingress_error.empty() && egress_error.empty(); }
};

// Attaches the ingress program (XDP native, else tc with a warning) and the
// tc egress program. Re-attaching replaces our programs in place: no gap.
// Both hooks are tried even when one fails, and a hook that attached stays
// (fail closed: it guards its direction, and removing it would open that
// direction as well); the Attachment names what failed. Throws only when
// the interface does not exist.
Attachment attach(const Datapath& dp, const AttachRequest& req);

// Re-attaches one direction of an Attachment (a repair); throws Error naming
// the hook. attach_ingress may fall back from XDP to tc and records it in a.
void attach_ingress(const Datapath& dp, Attachment& a);
void attach_egress(const Datapath& dp, const Attachment& a);

// Removes zeroseg's programs from ifname; other programs stay.
void detach(const std::string& ifname);
void detach(uint32_t ifindex);

// What is attached to an interface now, read from the kernel.
struct HookState {
  uint32_t xdp_prog_id = 0;  // zeroseg's XDP program (by name), else 0
  uint32_t tc_ingress_prog_id = 0;
  uint32_t tc_egress_prog_id = 0;
};
HookState query_hooks(uint32_t ifindex);

// One direction of an Attachment against the kernel: the program there is
// the one dp loaded (ours), none (missing), or another (foreign: someone
// replaced our filter or XDP program).
enum class HookCheck { ours, missing, foreign };
struct AttachmentCheck {
  HookCheck ingress = HookCheck::missing, egress = HookCheck::missing;
  bool ok() const { return ingress == HookCheck::ours && egress == HookCheck::ours; }
};
AttachmentCheck check_attachment(const Datapath& dp, const Attachment& a);
const char* hook_check_name(HookCheck c);

uint32_t ifindex_of(const std::string& ifname);  // throws naming ifname
std::string ifname_of(uint32_t ifindex);         // "" when gone

}  // namespace zeroseg
