// SPDX-License-Identifier: Apache-2.0
#include "loader/qdisc.h"

#include <linux/netlink.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <cstring>

#include "common/handles.h"

namespace zeroseg {

// One RTM_GETQDISC for the ingress slot (libbpf has no query for a
// qdisc's kind: bpf_tc_hook_create says EEXIST for clsact and ingress alike).
std::string ingress_qdisc_kind(uint32_t ifindex) {
  UniqueFd fd(socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
  if (!fd) return "";
  timeval timeout{1, 0};
  setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  struct {
    nlmsghdr n;
    tcmsg t;
  } req{};
  req.n.nlmsg_len = NLMSG_LENGTH(sizeof(tcmsg));
  req.n.nlmsg_type = RTM_GETQDISC;
  req.n.nlmsg_flags = NLM_F_REQUEST | NLM_F_ECHO;  // a get is answered only with ECHO
  req.n.nlmsg_seq = 1;
  req.t.tcm_family = AF_UNSPEC;
  req.t.tcm_ifindex = static_cast<int>(ifindex);
  req.t.tcm_parent = TC_H_INGRESS;
  if (send(fd.get(), &req, req.n.nlmsg_len, 0) < 0) return "";
  alignas(nlmsghdr) char buf[8192];
  ssize_t len = recv(fd.get(), buf, sizeof(buf), 0);
  if (len <= 0) return "";
  for (auto* n = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(n, static_cast<uint32_t>(len)); n = NLMSG_NEXT(n, len)) {
    if (n->nlmsg_type != RTM_NEWQDISC) return "";  // NLMSG_ERROR: no qdisc there
    auto* t = static_cast<tcmsg*>(NLMSG_DATA(n));
    if (t->tcm_ifindex != static_cast<int>(ifindex)) continue;
    int attrs_len = static_cast<int>(n->nlmsg_len - NLMSG_LENGTH(sizeof(tcmsg)));
    for (auto* a = reinterpret_cast<rtattr*>(reinterpret_cast<char*>(t) + NLMSG_ALIGN(sizeof(tcmsg)));
         RTA_OK(a, attrs_len); a = RTA_NEXT(a, attrs_len))
      if (a->rta_type == TCA_KIND)
        return std::string(static_cast<const char*>(RTA_DATA(a)), strnlen(static_cast<const char*>(RTA_DATA(a)), RTA_PAYLOAD(a)));
  }
  return "";
}

}  // namespace zeroseg
