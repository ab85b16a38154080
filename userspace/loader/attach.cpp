// SPDX-License-Identifier: Apache-2.0
#include "loader/attach.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "common/error.h"
#include "common/handles.h"
#include "common/log.h"
#include "loader/datapath.h"
#include "loader/libbpf_log.h"
#include "loader/qdisc.h"

namespace zeroseg {
namespace {

// Our tc filters: one handle and priority per direction, so re-attaching
// replaces them and detaching removes only them.
constexpr uint32_t kTcHandle = 0x7a73;  // "zs"
constexpr uint32_t kTcPriority = 1;

bpf_tc_hook tc_hook(uint32_t ifindex, bpf_tc_attach_point point) {
  bpf_tc_hook hook{};
  hook.sz = sizeof(hook);
  hook.ifindex = static_cast<int>(ifindex);
  hook.attach_point = point;
  return hook;
}

bpf_tc_opts tc_opts(int prog_fd = 0) {
  bpf_tc_opts opts{};
  opts.sz = sizeof(opts);
  opts.handle = kTcHandle;
  opts.priority = kTcPriority;
  opts.prog_fd = prog_fd;
  opts.flags = prog_fd ? BPF_TC_F_REPLACE : 0;
  return opts;
}

void tc_attach(uint32_t ifindex, const std::string& ifname, bpf_tc_attach_point point, int prog_fd) {
  bpf_tc_hook hook = tc_hook(ifindex, point);
  int err;
  {
    log::QuietLibbpf quiet;  // EEXIST: the clsact qdisc is there already
    err = bpf_tc_hook_create(&hook);
  }
  if (err && err != -EEXIST) throw_errno("creating the clsact qdisc on " + ifname, err);
  if (err == -EEXIST) {
    std::string kind = ingress_qdisc_kind(ifindex);
    if (kind != "clsact")
      throw Error(ifname + " has an \"" + kind + "\" qdisc where zeroseg's clsact goes (our egress program would " +
                  "run on ingress): remove it with `tc qdisc del dev " + ifname + " " + kind + "`");
  }
  bpf_tc_opts opts = tc_opts(prog_fd);
  if ((err = bpf_tc_attach(&hook, &opts)))
    throw_errno(std::string("attaching tc ") + (point == BPF_TC_INGRESS ? "ingress" : "egress") +
                    " on " + ifname,
                err);
}

void tc_detach(uint32_t ifindex, bpf_tc_attach_point point) {
  bpf_tc_hook hook = tc_hook(ifindex, point);
  bpf_tc_opts opts = tc_opts();
  log::QuietLibbpf quiet;
  bpf_tc_detach(&hook, &opts);  // ENOENT: nothing of ours there
}

uint32_t tc_prog_id(uint32_t ifindex, bpf_tc_attach_point point) {
  bpf_tc_hook hook = tc_hook(ifindex, point);
  bpf_tc_opts opts = tc_opts();
  log::QuietLibbpf quiet;
  return bpf_tc_query(&hook, &opts) == 0 ? opts.prog_id : 0;
}

std::string prog_name(uint32_t id) {
  UniqueFd fd(bpf_prog_get_fd_by_id(id));
  if (!fd) return "";
  bpf_prog_info info{};
  uint32_t len = sizeof(info);
  return bpf_obj_get_info_by_fd(fd.get(), &info, &len) == 0 ? info.name : "";
}

uint32_t xdp_prog_id(uint32_t ifindex) {
  uint32_t id = 0;
  if (bpf_xdp_query_id(static_cast<int>(ifindex), 0, &id)) return 0;
  return id;
}

void xdp_detach_ours(uint32_t ifindex) {
  uint32_t id = xdp_prog_id(ifindex);
  if (id && prog_name(id) == program_name(Program::xdp_ingress))
    bpf_xdp_detach(static_cast<int>(ifindex), 0, nullptr);
}

}  // namespace

uint32_t ifindex_of(const std::string& ifname) {
  unsigned idx = if_nametoindex(ifname.c_str());
  if (!idx) throw Error("interface " + ifname + " does not exist");
  return idx;
}

std::string ifname_of(uint32_t ifindex) {
  char buf[IF_NAMESIZE];
  return if_indextoname(ifindex, buf) ? buf : "";
}

namespace {

// The datapath parses Ethernet frames (bpf/lib/parse.h): on a device
// without an Ethernet header (tun, WireGuard, ppp, ipip, gre, sit) tc
// hands it the IP header at offset 0, which it would read as a garbled
// Ethernet header and pass as not IP. Refused instead: not enforced, and
// said so. (SIOCGIFHWADDR: this network namespace's device, where
// /sys/class/net may show another namespace's.)
void require_ethernet(const std::string& ifname) {
  UniqueFd s(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  ifreq ifr{};
  if (s.get() < 0 || ifname.size() >= sizeof(ifr.ifr_name)) return;  // attaching says why
  std::memcpy(ifr.ifr_name, ifname.c_str(), ifname.size());
  if (ioctl(s.get(), SIOCGIFHWADDR, &ifr) != 0) return;
  if (ifr.ifr_hwaddr.sa_family != ARPHRD_ETHER)
    throw Error(ifname + " is not an Ethernet device (ARPHRD " + std::to_string(ifr.ifr_hwaddr.sa_family) +
                "): zeroseg parses Ethernet frames and cannot enforce on it");
}

}  // namespace

void attach_egress(const Datapath& dp, const Attachment& a) {
  require_ethernet(a.ifname);
  tc_attach(a.ifindex, a.ifname, BPF_TC_EGRESS, dp.program_fd(Program::tc_egress));
}

void attach_ingress(const Datapath& dp, Attachment& a) {
  require_ethernet(a.ifname);
  if (a.ingress == IngressHook::xdp) {
    int err;
    {
      log::QuietLibbpf quiet;  // a failure is reported below, with its consequence
      err = bpf_xdp_attach(static_cast<int>(a.ifindex), dp.program_fd(Program::xdp_ingress), XDP_FLAGS_DRV_MODE,
                           nullptr);
    }
    if (!err) {
      tc_detach(a.ifindex, BPF_TC_INGRESS);
      return;
    }
    a.xdp_fallback = true;
    a.xdp_error = std::strerror(-err);
    a.ingress = IngressHook::tc;
    log::warn("native XDP is not available on " + a.ifname + " (" + a.xdp_error +
              "): enforcing ingress with tc instead");
  }
  // tc first, then drop XDP: the interface is never unguarded
  tc_attach(a.ifindex, a.ifname, BPF_TC_INGRESS, dp.program_fd(Program::tc_ingress));
  xdp_detach_ours(a.ifindex);
}

Attachment attach(const Datapath& dp, const AttachRequest& req) {
  Attachment a;
  a.ifname = req.ifname;
  a.ifindex = ifindex_of(req.ifname);
  a.ingress = req.ingress.value_or(req.kind == ZS_ATTACH_HOST ? IngressHook::xdp : IngressHook::tc);
  // Each hook is tried whatever became of the other, and none is rolled
  // back: a half-guarded interface is closer to enforced than a bare one.
  try {
    attach_egress(dp, a);
  } catch (const Error& e) {
    a.egress_error = e.what();
  }
  try {
    attach_ingress(dp, a);
  } catch (const Error& e) {
    a.ingress_error = e.what();
  }
  return a;
}

void detach(uint32_t ifindex) {
  xdp_detach_ours(ifindex);
  tc_detach(ifindex, BPF_TC_INGRESS);
  tc_detach(ifindex, BPF_TC_EGRESS);
}

void detach(const std::string& ifname) { detach(ifindex_of(ifname)); }

HookState query_hooks(uint32_t ifindex) {
  HookState s;
  uint32_t xdp = xdp_prog_id(ifindex);
  if (xdp && prog_name(xdp) == program_name(Program::xdp_ingress)) s.xdp_prog_id = xdp;
  s.tc_ingress_prog_id = tc_prog_id(ifindex, BPF_TC_INGRESS);
  s.tc_egress_prog_id = tc_prog_id(ifindex, BPF_TC_EGRESS);
  return s;
}

namespace {

uint32_t loaded_id(const Datapath& dp, Program p) {
  bpf_prog_info info{};
  uint32_t len = sizeof(info);
  return bpf_obj_get_info_by_fd(dp.program_fd(p), &info, &len) == 0 ? info.id : 0;
}

HookCheck compare(uint32_t found, uint32_t ours) {
  if (!found) return HookCheck::missing;
  return found == ours ? HookCheck::ours : HookCheck::foreign;
}

}  // namespace

AttachmentCheck check_attachment(const Datapath& dp, const Attachment& a) {
  AttachmentCheck c;
  // under an `ingress` qdisc our filters would sit in its one block: not ours
  bool clsact = ingress_qdisc_kind(a.ifindex) == "clsact";
  c.egress = clsact ? compare(tc_prog_id(a.ifindex, BPF_TC_EGRESS), loaded_id(dp, Program::tc_egress))
                    : HookCheck::missing;
  if (a.ingress == IngressHook::xdp) {
    uint32_t id = 0;
    if (bpf_xdp_query_id(static_cast<int>(a.ifindex), XDP_FLAGS_DRV_MODE, &id)) id = 0;
    c.ingress = compare(id, loaded_id(dp, Program::xdp_ingress));
  } else {
    c.ingress = clsact ? compare(tc_prog_id(a.ifindex, BPF_TC_INGRESS), loaded_id(dp, Program::tc_ingress))
                       : HookCheck::missing;
  }
  return c;
}

const char* hook_check_name(HookCheck c) {
  switch (c) {
    case HookCheck::ours: return "ours";
    case HookCheck::missing: return "missing";
    case HookCheck::foreign: return "foreign";
  }
  return "?";
}

}  // namespace zeroseg
