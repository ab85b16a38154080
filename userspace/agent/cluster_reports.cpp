// SPDX-License-Identifier: Apache-2.0
// Cluster mode's reports: what this node applied (applied/NODE) and what it
// could not (failed/NODE), written by a thread of their own at
// ReportPacer's pace, and `--wait-all`, which reads every live node's.
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "agent/cluster_mode.h"
#include "common/error.h"
#include "common/log.h"

namespace zeroseg {

using namespace std::chrono_literals;
using json = nlohmann::json;

// Off the watcher's thread: the write (a round trip to etcd's leader and
// its fsync) no longer holds up the next change, and a burst of changes
// is reported once (report_pacer.h).
void ClusterMode::report_applied(int64_t revision) {
  {
    std::lock_guard lock(report_mu_);
    pacer_.applied(revision);
  }
  report_cv_.notify_all();
}

void ClusterMode::report_loop() {
  std::unique_lock lock(report_mu_);
  while (!report_stop_) {
    int64_t revision = pacer_.take(std::chrono::steady_clock::now());
    if (!revision) {
      if (pacer_.pending()) report_cv_.wait_until(lock, pacer_.due(), [&] { return report_stop_; });
      else report_cv_.wait(lock, [&] { return report_stop_ || pacer_.pending(); });
      continue;
    }
    const int64_t lease = report_lease_;  // none yet: tried again after the interval
    const int64_t failed = failed_revision_;
    const std::string why = failed_error_;
    const bool clear_failed = !failed && failed_reported_;
    lock.unlock();
    bool done = false;
    if (lease) {
      // the position and the failure (or its end) in one transaction: a
      // reader never sees the one without the other
      etcd::Txn t;
      t.success.push_back(etcd::Op::put(std::string(kClusterStatePrefix) + "applied/" + node_, std::to_string(revision), lease));
      const std::string failed_key = std::string(kClusterStatePrefix) + "failed/" + node_;
      if (failed) t.success.push_back(etcd::Op::put(failed_key, std::to_string(failed) + " " + why, lease));
      else if (clear_failed) t.success.push_back(etcd::Op::del(failed_key));
      auto r = client_->txn(t);
      if (!r) log::debug("cluster: applied revision not reported: " + r.error());
      done = r.ok();
    }
    lock.lock();
    if (done) pacer_.written(revision);
    if (done && report_lease_ == lease) failed_reported_ = failed != 0;  // (a new lease: on_lease set it)
  }
}

int64_t ClusterMode::reported_revision() const {
  std::lock_guard lock(report_mu_);
  return pacer_.reported();
}

json ClusterMode::wait_all(int64_t revision, std::chrono::milliseconds timeout) const {
  const std::string nodes_prefix = std::string(kClusterStatePrefix) + "nodes/",
                    applied_prefix = std::string(kClusterStatePrefix) + "applied/",
                    failed_prefix = std::string(kClusterStatePrefix) + "failed/";
  auto until = std::chrono::steady_clock::now() + timeout;
  std::vector<std::string> behind, failed;
  json reported = json::object();
  while (true) {
    auto seen = client_->txn({{},
                              {etcd::Op::get_prefix(nodes_prefix), etcd::Op::get_prefix(applied_prefix),
                               etcd::Op::get_prefix(failed_prefix)},
                              {}});
    if (!seen || seen->ranges.size() != 3)
      throw Error("committed to etcd at revision " + std::to_string(revision) +
                  " and enforced here, but the other nodes' reports cannot be read: " +
                  (seen ? std::string("etcd answered no ranges") : seen.error()));
    std::map<std::string, int64_t> at;
    for (const auto& kv : seen->ranges[1].kvs) {
      try {
        at[kv.key.substr(applied_prefix.size())] = std::stoll(kv.value);
      } catch (const std::exception&) {
      }
    }
    // failed/NODE: "REVISION REASON", the first revision NODE could not
    // apply since its state last equalled etcd's
    std::map<std::string, std::pair<int64_t, std::string>> failing;
    for (const auto& kv : seen->ranges[2].kvs) {
      if (!kv.lease) continue;  // a node writes it under its lease: one without is nobody's report
      try {
        size_t space = kv.value.find(' ');
        failing[kv.key.substr(failed_prefix.size())] = {std::stoll(kv.value.substr(0, space)),
                                                        space == std::string::npos ? "" : kv.value.substr(space + 1)};
      } catch (const std::exception&) {
      }
    }
    behind.clear();
    failed.clear();
    reported = json::object();
    for (const auto& kv : seen->ranges[0].kvs) {
      std::string node = kv.key.substr(nodes_prefix.size());
      auto it = at.find(node);
      auto f = failing.find(node);
      if (it == at.end() || it->second < revision)
        behind.push_back(node + (it == at.end() ? " (no report)" : " (at revision " + std::to_string(it->second) + ")"));
      else if (f != failing.end() && f->second.first <= revision)
        failed.push_back(node + " (revision " + std::to_string(f->second.first) + ": " + f->second.second + ")");
      else
        reported[node] = it->second;
    }
    if (behind.empty() && failed.empty()) return reported;
    // (a failed node tries again: a fix applied meanwhile may take)
    if (std::chrono::steady_clock::now() >= until) break;
    std::this_thread::sleep_for(100ms);
  }
  const size_t live = behind.size() + failed.size() + reported.size();
  auto listed = [](const std::vector<std::string>& v) {
    std::string names;
    for (const auto& b : v) names += (names.empty() ? "" : ", ") + b;
    return names;
  };
  std::string what = "committed to etcd at revision " + std::to_string(revision) + " and enforced here; ";
  if (!failed.empty())
    what += "failed on " + std::to_string(failed.size()) + " of " + std::to_string(live) + " live nodes (each retries): " +
            listed(failed) + (behind.empty() ? "" : "; ");
  if (!behind.empty())
    what += "after " + std::to_string(timeout.count() / 1000) + " s not yet reported by " +
            std::to_string(behind.size()) + " of " + std::to_string(live) + " live nodes: " + listed(behind);
  throw Error(what);
}

}  // namespace zeroseg
