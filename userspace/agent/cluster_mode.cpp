// SPDX-License-Identifier: Apache-2.0
#include "agent/cluster_mode.h"

#include <algorithm>
#include <functional>
#include <set>
#include <thread>

#include "agent/agent.h"
#include "agent/agent_metrics.h"
#include "common/error.h"
#include "common/log.h"
#include "common/time.h"
#include "policy/object_merge.h"
#include "sources/cluster_identities.h"

namespace zeroseg {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

// How long an apply waits for this node's watcher to enforce its revision:
// a large state compiles in seconds; past this the apply is committed in
// etcd and reported as not yet enforced here.
constexpr auto kEnforceTimeout = 60s;

// The objects of `have` that `keep` does not name.
ObjectSet missing_from(const ObjectSet& have, const ObjectSet& keep) {
  std::set<std::string> refs;
  for (const auto& w : keep.workloads) refs.insert(ref_of(w));
  for (const auto& n : keep.namespaces) refs.insert(ref_of(n));
  for (const auto& p : keep.policies) refs.insert(ref_of(p));
  ObjectSet gone;
  for (size_t i = 0; i < have.workloads.size(); i++)
    if (!refs.count(ref_of(have.workloads[i]))) gone.workloads.push_back(have.workloads.ptr(i));
  for (size_t i = 0; i < have.namespaces.size(); i++)
    if (!refs.count(ref_of(have.namespaces[i]))) gone.namespaces.push_back(have.namespaces.ptr(i));
  for (size_t i = 0; i < have.policies.size(); i++)
    if (!refs.count(ref_of(have.policies[i]))) gone.policies.push_back(have.policies.ptr(i));
  return gone;
}

// A failure's reason as failed/NODE carries it: short (a reason past
// etcd's request size would fail the report, its position with it), and
// printable (wait_all quotes it to a terminal).
std::string reported_reason(const std::string& what) {
  std::string out;
  for (char c : what.substr(0, 512)) out += static_cast<unsigned char>(c) < 0x20 || c == 0x7f ? ' ' : c;
  return out;
}

}  // namespace

ClusterMode::ClusterMode(Agent& agent, std::shared_ptr<etcd::Client> client, const std::string& node,
                         int64_t lease_ttl, std::shared_ptr<EtcdIdentityAllocator> identities, int64_t identity_grace,
                         std::chrono::milliseconds report_interval)
    : agent_(agent),
      node_(node),
      client_(client),
      store_(client, ClusterKeys(node)),
      identities_(std::move(identities)),
      identity_grace_(identity_grace),
      watcher_(std::make_shared<etcd::Client>(client->options()), ClusterKeys(node),
               {[this](const ObjectSet& all, int64_t rev) { on_snapshot(all, rev); },
                [this](const ObjectSet& put, const ObjectSet& gone, int64_t rev) { on_change(put, gone, rev); },
                [this](const WorkloadNodes& nodes) { on_nodes(nodes); }}),
      pacer_(report_interval),
      lease_(client, ClusterKeys(node).node_key(), lease_ttl, [this](int64_t lease) { on_lease(lease); },
             [this] { on_beat(); }) {
  reporter_ = std::thread([this] { report_loop(); });
  lease_.start();
  if (identities_) {  // last: nothing after it throws, so the destructor stops it
    identity_mirror_ = std::make_shared<IdentityMirror>(client->options(), identities_->prefix());
    identities_->set_mirror(identity_mirror_);
    identity_mirror_->start();
  }
}

ClusterMode::~ClusterMode() {
  lease_.stop();
  watcher_.stop();
  if (identities_) identities_->set_mirror(nullptr);
  if (identity_mirror_) identity_mirror_->stop();
  {
    std::lock_guard lock(report_mu_);
    report_stop_ = true;
  }
  report_cv_.notify_all();
  if (reporter_.joinable()) reporter_.join();
}

ObjectSet ClusterMode::own_workloads(const ObjectSet& from) const {
  ObjectSet own;
  for (size_t i = 0; i < from.workloads.size(); i++)
    if (!from.workloads[i].interface.empty()) own.workloads.push_back(from.workloads.ptr(i));
  return own;
}

void ClusterMode::on_beat() {
  if (!identities_) return;
  std::set<uint32_t> in_use;
  for (const auto& [id, _] : agent_.snapshot().compiled->identities) in_use.insert(id);
  if (auto r = identities_->report_usage(in_use); !r) log::warn("cluster: identity uses not reported: " + r.error());
  auto released = identities_->sweep(identity_grace_, realtime_now_ns() / 1000000000);
  if (!released) log::warn("cluster: " + released.error());
  else if (!released->empty())
    log::info("cluster: released " + std::to_string(released->size()) + " identities no node used for " +
              std::to_string(identity_grace_) + " s");
}

void ClusterMode::on_lease(int64_t lease) {
  if (identities_) {
    if (auto r = identities_->set_lease(lease); !r) throw Error("writing this node's identity uses: " + r.error());
  }
  ObjectSet own = own_workloads(*agent_.snapshot().desired);
  if (own.size()) {
    auto rev = store_.put_workloads(own.workloads, lease);
    if (!rev) throw Error("writing this node's " + std::to_string(own.size()) + " workloads: " + rev.error());
  }
  {  // the report thread writes applied/NODE under this lease (written here, it could land after a newer one)
    std::lock_guard lock(report_mu_);
    report_lease_ = lease;
    failed_reported_ = true;  // (a failed/NODE of the old lease may outlive it a while)
    pacer_.applied(watcher_.status().applied_revision);
    pacer_.rewrite();
  }
  report_cv_.notify_all();
  if (!watching_) {  // the lease's thread alone reads and sets it
    watching_ = true;
    watcher_.start();
  }
}

void ClusterMode::remember(int64_t revision, Outcome outcome) {
  std::lock_guard lock(mu_);
  outcomes_[revision] = std::move(outcome);
  while (outcomes_.size() > 64) outcomes_.erase(outcomes_.begin());
}

// What this node did with a change: the datapath's side of it.
void ClusterMode::apply_here(const ObjectSet& put_in, const ObjectSet& gone_in, int64_t revision, bool whole) {
  Outcome o;
  ObjectSet put = put_in, gone = gone_in;
  std::vector<std::string> kept;
  {
    std::lock_guard lock(mu_);
    kept = keep_own_workloads(*agent_.snapshot().desired, deleting_, put, gone);
  }
  for (const auto& ref : kept)
    log::warn("cluster: revision " + std::to_string(revision) + " would replace or remove " + ref +
              ", this node's workload: kept (only this node's apply or delete changes it)");
  try {
    // most of these label sets the writing node numbered (its dry run):
    // learned, not claimed again; any other is claimed as usual
    EtcdIdentityAllocator::Learning learning;
    if (gone.size()) {
      ApplyResult r = agent_.remove(gone, false);
      o.result.revision = r.revision;
      o.result.entries_changed += r.entries_changed;
    }
    if (put.size()) {
      ApplyResult r = agent_.apply(put, false);
      o.result.revision = r.revision;
      o.result.entries_changed += r.entries_changed;
      o.result.not_enforced = r.not_enforced;
    }
  } catch (const std::exception& e) {
    o.error = e.what();
    remember(revision, std::move(o));
    // a list's revision may be past changes it never applied here: the
    // first one not applied is the one after the last that was
    int64_t first_missing = whole ? watcher_.status().applied_revision + 1 : revision;
    std::chrono::milliseconds retry;
    {
      // reported as failed/NODE with the position (waiting for it longer
      // changes nothing), and tried again by a relist
      std::lock_guard lock(report_mu_);
      if (!failed_revision_) failed_revision_ = std::min(first_missing, revision);
      failed_error_ = reported_reason(e.what());
      retry = retry_.next();
      pacer_.rewrite();  // written now, with the position
    }
    watcher_.relist_after(retry);
    report_applied(revision);
    throw;
  }
  if (whole && kept.empty()) {
    // equal to etcd's now (a relist that kept one of this node's workloads
    // etcd no longer has is not: its failure stands)
    std::lock_guard lock(report_mu_);
    if (failed_revision_) {
      log::info("cluster: in step with etcd again at revision " + std::to_string(revision) + " (revision " +
                std::to_string(failed_revision_) + " had failed here)");
      pacer_.rewrite();  // the failure's end written now
    }
    failed_revision_ = 0;
    failed_error_.clear();
    retry_.reset();
  }
  remember(revision, std::move(o));
  {
    std::lock_guard lock(mu_);
    enforced_revision_ = revision;
    enforced_at_ = std::chrono::steady_clock::now();
  }
  report_applied(revision);
}

ClusterMode::Stamps ClusterMode::last_stamps() const {
  Stamps s;
  static_cast<ChangeStamps&>(s) = watcher_.last_stamps();
  std::lock_guard lock(mu_);
  if (enforced_revision_ == s.revision) s.enforced = enforced_at_;
  return s;
}

void ClusterMode::add_nodes(json& workloads) const {
  std::lock_guard lock(mu_);
  for (auto& w : workloads) {
    auto it = nodes_.find("Workload/" + w.value("namespace", "") + "/" + w.value("name", ""));
    if (it != nodes_.end()) w["node"] = it->second == ClusterKeys::kNoNode ? "" : it->second;
    else if (!w.value("interface", "").empty()) w["node"] = node_;
    else w["node"] = "";
  }
}

void ClusterMode::on_nodes(const WorkloadNodes& nodes) {
  std::lock_guard lock(mu_);
  if (nodes.snapshot) nodes_.clear();
  for (const auto& [ref, node] : nodes.gone)
    if (auto it = nodes_.find(ref); it != nodes_.end() && it->second == node) nodes_.erase(it);
  for (const auto& [ref, node] : nodes.put) {
    auto it = nodes_.find(ref);
    // another node's of the same name does not take ours (keep_own_workloads)
    if (it == nodes_.end() || it->second != node_ || node == node_) nodes_[ref] = node;
  }
}

void ClusterMode::on_snapshot(const ObjectSet& all, int64_t revision) {
  // etcd is the truth: what this node holds and etcd does not is gone, but
  // for this node's own workloads (apply_here: keep_own_workloads). etcd
  // dropped those with a lease that ran out while the node was away or
  // could not reach it: they stay enforced, and the lease thread writes
  // them back (removing them would leave their interfaces unguarded).
  apply_here(all, missing_from(*agent_.snapshot().desired, all), revision, /*whole=*/true);
  log::info("cluster: in step with etcd at revision " + std::to_string(revision) + " (" + std::to_string(all.size()) +
            " objects)");
  move_unowned_workloads(all);
}

void ClusterMode::move_unowned_workloads(const ObjectSet& all) {
  // A workload without an interface under this node's key (as written
  // before workloads of no node had keys of their own): it would go with
  // this node's lease. Written again, it moves under workloads/-/.
  ObjectSet moved;
  {
    std::lock_guard lock(mu_);
    for (size_t i = 0; i < all.workloads.size(); i++) {
      auto it = nodes_.find(ref_of(all.workloads[i]));
      if (all.workloads[i].interface.empty() && it != nodes_.end() && it->second == node_)
        moved.workloads.push_back(all.workloads.ptr(i));
    }
  }
  if (!moved.size()) return;
  std::set<std::string> refs;
  for (const auto& w : moved.workloads) refs.insert(ref_of(w));
  if (auto r = store_.put(moved, 0, refs); !r) log::warn("cluster: workloads of no node not moved under workloads/-/: " + r.error());
  else log::info("cluster: moved " + std::to_string(moved.size()) + " workloads of no node under workloads/-/");
}

void ClusterMode::on_change(const ObjectSet& put, const ObjectSet& gone, int64_t revision) {
  apply_here(put, gone, revision, /*whole=*/false);  // a lease run out with the watch up: the same rule
}

ApplyResult ClusterMode::wait_for(int64_t revision, const ObjectSet& objects, const char* outcome) {
  if (!watcher_.wait_applied(revision, kEnforceTimeout))
    throw Error("committed to etcd at revision " + std::to_string(revision) +
                ", but not yet enforced on this node (" + watcher_.status().last_error + ")");
  ApplyResult r;
  {
    std::lock_guard lock(mu_);
    auto o = outcome_of(outcomes_, revision);
    // a relist took the change in with others (outcome_of): its outcome is
    // the list's; none at all is said, not taken for success
    if (!o)
      throw Error("committed to etcd at revision " + std::to_string(revision) +
                  " and applied here, but this node's outcome of it is no longer known (see zeroseg status)");
    if (!o->error.empty())
      throw Error("committed to etcd at revision " + std::to_string(revision) +
                  ", but this node could not apply it: " + o->error);
    r = o->result;
  }
  for (const auto& w : objects.workloads) r.objects.emplace_back(ref_of(w), outcome);
  for (const auto& n : objects.namespaces) r.objects.emplace_back(ref_of(n), outcome);
  for (const auto& p : objects.policies) r.objects.emplace_back(ref_of(p), outcome);
  r.cluster_revision = revision;
  return r;
}

namespace {
// An apply or delete is one etcd transaction (all of it or nothing), and etcd
// refuses one of more than etcd::kMaxTxnOps operations.
void refuse_beyond_one_transaction(const ObjectSet& objects, const char* done, size_t more_ops = 0) {
  if (size_t n = objects.size() + more_ops; n > etcd::kMaxTxnOps)
    throw Error(std::string("nothing ") + done + ": " + std::to_string(n) +
                " objects at once, and etcd takes at most " + std::to_string(etcd::kMaxTxnOps) +
                " in one transaction (its --max-txn-ops): split the file");
}
}  // namespace

namespace {
// The dry run that precedes a write numbers new label sets in etcd: its
// failure is said as the write's would be (nothing changed, and why).
ApplyResult checked(const std::function<ApplyResult()>& dry_run, const char* done) {
  try {
    return dry_run();
  } catch (const Error& e) {
    throw Error(std::string("nothing ") + done + ": " + e.what());
  }
}
}  // namespace

ApplyResult ClusterMode::apply(const ObjectSet& objects, bool dry_run) {
  // what this node would make of it: errors before anything is written
  ApplyResult check = checked([&] { return agent_.apply(objects, true); }, "applied");
  if (dry_run) return check;
  refuse_beyond_one_transaction(objects, "applied");
  int64_t lease = lease_.id();
  bool runs_here = std::any_of(objects.workloads.begin(), objects.workloads.end(),
                               [](const Workload& w) { return !w.interface.empty(); });
  if (runs_here && !lease)
    throw Error("cluster store unavailable, nothing applied: this node holds no lease in etcd yet (" +
                (lease_.last_error().empty() ? "its grant is under way: try again" : lease_.last_error()) + ")");
  // a workload whose interface came or went changes key (this node's, or
  // no node's); one another node's key holds is that node's to change (a
  // second key of the same name left each node judging by whichever came last)
  std::set<std::string> moving;
  {
    std::lock_guard lock(mu_);
    for (const auto& w : objects.workloads) {
      auto it = nodes_.find(ref_of(w));
      if (it == nodes_.end()) continue;
      if (it->second != node_ && it->second != ClusterKeys::kNoNode)
        throw Error("nothing applied: " + ref_of(w) + " runs on node " + it->second +
                    " (its key in the cluster store): apply it through that node, or delete it there first (a "
                    "node that is gone drops it when its lease ends)");
      if ((it->second == node_ && w.interface.empty()) || (it->second == ClusterKeys::kNoNode && !w.interface.empty()))
        moving.insert(ref_of(w));
    }
  }
  if (objects.size() + moving.size() > etcd::kMaxTxnOps) refuse_beyond_one_transaction(objects, "applied", moving.size());
  auto rev = store_.put(objects, lease, moving);
  if (!rev) throw Error(std::string(rev.refused() ? "" : "cluster store unavailable, ") + "nothing applied: " + rev.error());
  ApplyResult r = wait_for(*rev, objects, "configured");
  r.objects = check.objects;  // created / configured / unchanged, as this node saw it
  return r;
}

ApplyResult ClusterMode::remove(const ObjectSet& objects, bool dry_run) {
  ApplyResult check = checked([&] { return agent_.remove(objects, true); }, "deleted");
  if (dry_run) return check;
  refuse_beyond_one_transaction(objects, "deleted");
  std::vector<std::string> refs;
  for (const auto& w : objects.workloads) refs.push_back(ref_of(w));
  {
    std::lock_guard lock(mu_);
    deleting_.insert(refs.begin(), refs.end());
  }
  struct Done {  // however this ends
    ClusterMode* self;
    std::vector<std::string>& refs;
    ~Done() {
      std::lock_guard lock(self->mu_);
      for (const auto& r : refs) self->deleting_.erase(r);
    }
  } done{this, refs};
  // the workloads this node holds and would delete: their keys must be ours
  std::set<std::string> held, unowned;
  for (const auto& [ref, outcome] : check.objects)
    if (outcome == "deleted" && ref.rfind("Workload/", 0) == 0) held.insert(ref);
  {  // those that run on no node: their keys are no node's (ClusterKeys::unowned_key)
    std::lock_guard lock(mu_);
    for (const auto& r : refs)
      if (auto it = nodes_.find(r); it != nodes_.end() && it->second == ClusterKeys::kNoNode) unowned.insert(r);
  }
  auto rev = store_.remove(objects, held, unowned);
  if (!rev) throw Error(std::string(rev.refused() ? "" : "cluster store unavailable, ") + "nothing deleted: " + rev.error());
  if (*rev == 0)
    throw Error("nothing deleted: not every workload named is this node's (" + node_ +
                ") in the cluster store; a workload is deleted through the node that runs it");
  ApplyResult r;
  try {
    r = wait_for(*rev, objects, "deleted");
  } catch (const std::exception&) {
    // deleted in etcd, not yet here: they stay marked, so that the watcher's
    // late change still removes them (keep_own_workloads would keep them)
    if (watcher_.status().applied_revision < *rev) refs.clear();
    throw;
  }
  r.objects = check.objects;
  return r;
}

std::string ClusterMode::metrics() const {
  WatchStatus s = watcher_.status();
  ClusterMetrics m;
  m.up = s.connected;
  m.outage_since_ns = s.outage_since_ns;
  m.applied_revision = s.applied_revision;
  m.store_revision = s.store_revision;
  m.lag = s.lag();
  m.relists = s.relists;
  m.watch_events = s.watch_events;
  PromWriter w;
  write_cluster_metrics(w, m);
  return w.text();
}

json ClusterMode::status() const {
  WatchStatus w = watcher_.status();
  json j = {{"node", node_},
            {"connected", w.connected},
            {"applied_revision", w.applied_revision},
            {"store_revision", w.store_revision},
            {"lag", w.lag()},
            {"relists", w.relists},
            {"watch_events", w.watch_events}};
  if (w.connected) j["connected_since_ns"] = w.connected_since_ns;
  json eps = json::array();
  for (const auto& e : client_->options().endpoints) eps.push_back(e.str());
  j["endpoints"] = eps;
  j["lease"] = lease_.id();
  {
    std::lock_guard lock(report_mu_);
    if (failed_revision_) j["failed"] = {{"revision", failed_revision_}, {"error", failed_error_}};
  }
  j["lease_ttl"] = lease_.ttl();
  if (!w.connected) {
    if (w.refused)
      j["refused"] = true;  // etcd answers: no outage
    else
      j["outage_since_ns"] = w.outage_since_ns;
    // no lease yet: the watcher has not started, the lease says why
    j["error"] = w.last_error.empty() ? lease_.last_error() : w.last_error;
  }
  return j;
}

json ClusterMode::cluster_view() const {
  json j = status();
  const std::string prefix = std::string(kClusterStatePrefix) + "nodes/";
  auto nodes = client_->range_prefix(prefix);
  if (!nodes) {
    j["nodes_error"] = nodes.error();
    return j;
  }
  // etcd's revision now: past applied_revision by the writes this node
  // does not watch (the nodes' applied/ reports, identities' uses); the
  // lag counts only what the watch delivered (ClusterKeys::watch_range)
  j["head_revision"] = nodes->revision;
  json list = json::array();
  for (const auto& kv : nodes->kvs) {
    auto ttl = client_->lease_time_to_live(kv.lease);  // a read: renews nothing
    list.push_back({{"node", kv.key.substr(prefix.size())}, {"lease", kv.lease}, {"ttl", ttl ? *ttl : -1}});
  }
  j["nodes"] = list;
  // the numbers etcd holds, with who uses them and which wait for release
  auto ids = list_cluster_identities(*client_);
  if (!ids) {
    j["identities_error"] = ids.error();
    return j;
  }
  json table = json::array();
  for (const auto& id : *ids) {
    json row = {{"identity", id.number}, {"labels", id.labels}, {"nodes", id.nodes}};
    row["release_pending_since"] = id.unused_since ? json(id.unused_since) : json(nullptr);
    table.push_back(std::move(row));
  }
  j["identity_count"] = table.size();
  j["identities"] = std::move(table);
  return j;
}

}  // namespace zeroseg
