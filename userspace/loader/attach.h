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
};

// Attaches the ingress program (XDP native, else tc with a warning) and the
// tc egress program. Re-attaching replaces our programs in place: no gap.
Attachment attach(const Datapath& dp, const AttachRequest& req);

// Removes zeroseg's programs from ifname; other programs stay.
void detach(const std::string& ifname);
void detach(uint32_t ifindex);

// What is attached to an interface now, read from the kernel.
struct HookState {
  uint32_t xdp_prog_id = 0;
  uint32_t tc_ingress_prog_id = 0;
  uint32_t tc_egress_prog_id = 0;
};
HookState query_hooks(uint32_t ifindex);

uint32_t ifindex_of(const std::string& ifname);  // throws naming ifname
std::string ifname_of(uint32_t ifindex);         // "" when gone

}  // namespace zeroseg
