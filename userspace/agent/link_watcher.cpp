// SPDX-License-Identifier: Apache-2.0
#include "agent/link_watcher.h"

#include <linux/rtnetlink.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>
#include <poll.h>

#include <chrono>

#include "common/handles.h"
#include "common/log.h"

namespace zeroseg {
namespace {

int on_message(struct nl_msg* msg, void* arg) {
  // A qdisc query (the attachment check asks for the clsact's kind) is
  // answered to every listener as RTM_NEWQDISC: not a change, or the check
  // would wake itself. What removes our hooks comes as DELQDISC or a filter.
  if (nlmsg_hdr(msg)->nlmsg_type != RTM_NEWQDISC) *static_cast<bool*>(arg) = true;
  return NL_OK;
}

}  // namespace

LinkWatcher::LinkWatcher(std::function<void(bool event)> on_change) : on_change_(std::move(on_change)) {
  thread_ = std::thread([this] { run(); });
}

LinkWatcher::~LinkWatcher() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void LinkWatcher::run() {
  UniqueHandle<nl_sock, nl_socket_free> owned(nl_socket_alloc());
  nl_sock* sk = owned.get();
  bool changed = false;
  if (sk && nl_connect(sk, NETLINK_ROUTE) < 0) {
    owned.reset();
    sk = nullptr;
  }
  if (!sk) {
    log::warn("link watcher: no rtnetlink socket; checking links once a second instead");
  } else {
    nl_socket_disable_seq_check(sk);
    nl_socket_modify_cb(sk, NL_CB_VALID, NL_CB_CUSTOM, on_message, &changed);
    nl_socket_add_memberships(sk, RTNLGRP_LINK, RTNLGRP_TC, 0);
    nl_socket_set_nonblocking(sk);
  }
  auto last = std::chrono::steady_clock::now();
  while (!stop_) {
    if (sk) {
      pollfd p{nl_socket_get_fd(sk), POLLIN, 0};
      if (poll(&p, 1, 200) == 1) nl_recvmsgs_default(sk);
    } else {
      poll(nullptr, 0, 200);
    }
    auto now = std::chrono::steady_clock::now();
    if (changed || now - last > std::chrono::seconds(1)) {
      bool event = changed;
      changed = false;
      last = now;
      on_change_(event);
    }
  }
}

}  // namespace zeroseg
