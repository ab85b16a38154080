// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <atomic>
#include <functional>
#include <thread>

namespace zeroseg {

// Calls on_change(true) (from its own thread) whenever a network link
// appears, changes or goes away in the agent's network namespace, or a tc
// qdisc or filter changes (rtnetlink RTNLGRP_LINK and RTNLGRP_TC through
// libnl: a deleted clsact qdisc is noticed at once), and on_change(false)
// once a second as a safety net.
class LinkWatcher {
 public:
  explicit LinkWatcher(std::function<void(bool event)> on_change);
  ~LinkWatcher();
  LinkWatcher(const LinkWatcher&) = delete;
  LinkWatcher& operator=(const LinkWatcher&) = delete;

 private:
  void run();
  std::function<void(bool event)> on_change_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace zeroseg
