// SPDX-License-Identifier: Apache-2.0
// The agent's side of attachments: link changes and the periodic check
// against the kernel (repairs), and how a failed attach is reported in
// status, metrics and the apply result; `agent --uninstall`.
#include <chrono>

#include "agent/agent.h"
#include "agent/reconciler.h"
#include "loader/attach.h"
#include "loader/datapath.h"
#include "common/error.h"
#include "common/log.h"
#include "common/time.h"

namespace zeroseg {

using nlohmann::json;

void Agent::sync_links(bool event) {
  std::lock_guard lock(mu_);
  if (reconciler_->links_changed(*compiled_)) {
    try {
      size_t n = reconciler_->reconcile(*compiled_);
      publish_catalog();
      if (n) log::info("links changed: " + std::to_string(n) + " map entries updated");
    } catch (const Error& e) {
      log::error(std::string("reconciling after a link change: ") + e.what());
    }
  }
  // A tc or link change may be someone removing our hooks: look at once.
  // Otherwise look every attach-check-interval, for what sends no event.
  auto now = std::chrono::steady_clock::now();
  if (!event && now < next_attach_check_) return;
  next_attach_check_ = now + std::chrono::milliseconds(config_.attach_check_ms);
  try {
    if (size_t n = reconciler_->verify_attachments()) log::warn("attachment check: " + std::to_string(n) + " hooks repaired");
  } catch (const std::exception& e) {
    log::error(std::string("attachment check: ") + e.what());
  }
}

json Agent::not_enforced() const {
  json out = json::array();
  for (const auto& p : reconciler_->attachments().problems()) {
    std::string workload;
    for (const auto& w : desired_->workloads)
      if (w.interface == p.ifname) workload = w.meta.ns + "/" + w.meta.name;
    out.push_back({{"workload", workload}, {"interface", p.ifname}, {"error", p.error}});
  }
  return out;
}

json Agent::attachment_status() const {
  const AttachCounters& c = reconciler_->attachments().counters();
  uint64_t repairs = 0;
  for (uint64_t n : c.repairs) repairs += n;
  return {{"enforced", reconciler_->attachments().enforced().size()},
          {"not_enforced", not_enforced()},
          {"repairs", repairs},
          {"failures", c.failures},
          {"checks", c.checks},
          {"check_interval", format_duration(int64_t{config_.attach_check_ms} * 1000000)}};
}

// `agent --uninstall`: every attachment the pins name detached, then the pins removed
void Agent::uninstall(const AgentConfig& config) {
  {
    UniqueFd lock;  // (pins of another version too: pinned_interfaces)
    for (uint32_t ifindex : Datapath::pinned_interfaces(config.pin_dir, "zeroseg agent", lock))
      if (!ifname_of(ifindex).empty()) detach(ifindex);
  }
  Datapath::unpin(config.pin_dir);
}

}  // namespace zeroseg
