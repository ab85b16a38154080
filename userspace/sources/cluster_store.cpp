// SPDX-License-Identifier: Apache-2.0
#include "sources/cluster_store.h"

#include <algorithm>
#include <map>

#include "common/error.h"
#include "common/log.h"
#include "common/time.h"
#include "policy/object_merge.h"
#include "policy/server_fields.h"
#include "policy/yaml_tree.h"
#include "policy/yaml_reader.h"
#include "sources/backoff.h"

namespace zeroseg {
namespace {

// How long a watch stream may stay silent before it is made again (and
// the quiet time counted as applied, above).

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t slash; (slash = s.find('/', start)) != std::string::npos; start = slash + 1)
    out.push_back(s.substr(start, slash - start));
  out.push_back(s.substr(start));
  return out;
}

template <class T>
void check_name(const T& obj, const std::string& ns, const std::string& name, const std::string& key) {
  if (obj.meta.name != name || (!ns.empty() && obj.meta.ns != ns))
    throw Error("etcd " + key + ": holds " + obj.meta.ns + "/" + obj.meta.name + ", not the object its key names");
}

}  // namespace

void ClusterKeys::decode(const std::string& key, const std::string& value, ObjectSet& into) const {
  if (key.rfind(prefix_, 0) != 0) throw Error("etcd " + key + ": outside " + prefix_);
  auto parts = split(key.substr(prefix_.size()));
  ObjectSet one = load_yaml(value, "etcd " + key);
  if (one.size() != 1) throw Error("etcd " + key + ": holds " + std::to_string(one.size()) + " objects, not one");
  if (parts[0] == "namespaces" && parts.size() == 2 && one.namespaces.size() == 1) {
    check_name(one.namespaces[0], "", parts[1], key);
    into.namespaces.push_back(one.namespaces.ptr(0));
  } else if (parts[0] == "policies" && parts.size() == 4 && one.policies.size() == 1 &&
             one.policies[0].kind_name() == parts[1]) {
    check_name(one.policies[0], parts[2], parts[3], key);
    into.policies.push_back(one.policies.ptr(0));
  } else if (parts[0] == "workloads" && parts.size() == 4 && one.workloads.size() == 1) {
    check_name(one.workloads[0], parts[2], parts[3], key);
    Workload w = one.workloads[0];
    if (parts[1] != node_) {
      // another node's: its addresses are known here, its interface is
      // there; its text too, which the state directory keeps and a restart
      // reads back (with the interface, as this node's own: it would write
      // it under its own key, and a node that can take the others' down)
      w.interface.clear();
      w.attach = ZS_ATTACH_WORKLOAD;
      try {
        auto text = w.meta.document.str();  // the object's own (an item's, from a List)
        w.meta.document = PackedText(reading::without_spec_fields(yaml::Tree::parse(text).root(), {"interface", "attach"}));
      } catch (const std::exception& e) {
        throw Error("etcd " + key + ": " + e.what());
      }
    }
    into.workloads.push_back(std::move(w));
  } else {
    throw Error("etcd " + key + ": the key names no object of the kind it holds");
  }
}

std::string ClusterKeys::node_of(const std::string& key) const {
  if (key.rfind(prefix_, 0) != 0) return {};
  auto parts = split(key.substr(prefix_.size()));
  return parts[0] == "workloads" && parts.size() == 4 ? parts[1] : std::string();
}

bool ClusterKeys::of_objects(const std::string& key) const {
  for (const auto& p : watched())
    if (key.rfind(p, 0) == 0) return true;
  return false;
}

bool ClusterKeys::named_by(const std::string& key, ObjectSet& into) const {
  if (key.rfind(prefix_, 0) != 0) return false;
  auto parts = split(key.substr(prefix_.size()));
  if (parts[0] == "namespaces" && parts.size() == 2) {
    Namespace n;
    n.meta.name = parts[1];
    n.meta.ns = "";
    into.namespaces.push_back(std::move(n));
    return true;
  }
  if (parts[0] == "policies" && parts.size() == 4) {
    Policy p;
    if (parts[1] == "NetworkPolicy") p.kind = Policy::Kind::network_policy;
    else if (parts[1] != "SegmentPolicy") return false;
    p.meta.ns = parts[2];
    p.meta.name = parts[3];
    into.policies.push_back(std::move(p));
    return true;
  }
  if (parts[0] == "workloads" && parts.size() == 4) {
    Workload w;
    w.meta.ns = parts[2];
    w.meta.name = parts[3];
    into.workloads.push_back(std::move(w));
    return true;
  }
  return false;
}

etcd::Result<int64_t> ClusterStore::put(const ObjectSet& objects, int64_t lease, const std::set<std::string>& moving) {
  etcd::Txn t;
  for (const auto& w : objects.workloads) {
    const bool moves = moving.count(ref_of(w)) > 0;  // one key per workload: the other goes
    if (w.interface.empty()) {
      t.success.push_back(etcd::Op::put(keys_.unowned_key(w), w.meta.document.str()));
      if (moves) t.success.push_back(etcd::Op::del(keys_.key(w)));
    } else {
      t.success.push_back(etcd::Op::put(keys_.key(w), w.meta.document.str(), lease));
      if (moves) t.success.push_back(etcd::Op::del(keys_.unowned_key(w)));
    }
  }
  for (const auto& n : objects.namespaces) t.success.push_back(etcd::Op::put(keys_.key(n), n.meta.document.str()));
  for (const auto& p : objects.policies) t.success.push_back(etcd::Op::put(keys_.key(p), p.meta.document.str()));
  auto r = client_->txn(t);
  if (!r) return etcd::Result<int64_t>::failure_of(r);
  return r->revision;
}

etcd::Result<int64_t> ClusterStore::put_workloads(const SharedVector<Workload>& workloads, int64_t lease) {
  std::vector<etcd::Op> ops;
  for (const auto& w : workloads) ops.push_back(etcd::Op::put(keys_.key(w), w.meta.document.str(), lease));
  return etcd::txn_in_batches(*client_, ops);
}

etcd::Result<int64_t> ClusterStore::remove(const ObjectSet& objects, const std::set<std::string>& held,
                                           const std::set<std::string>& unowned) {
  etcd::Txn t;
  for (const auto& w : objects.workloads) {
    std::string key = unowned.count(ref_of(w)) ? keys_.unowned_key(w) : keys_.key(w);
    t.success.push_back(etcd::Op::del(key));
    if (held.count(ref_of(w)))
      t.compare.push_back({key, etcd::Compare::Target::create_revision, etcd::Compare::Op::greater, 0, {}});
  }
  for (const auto& n : objects.namespaces) t.success.push_back(etcd::Op::del(keys_.key(n)));
  for (const auto& p : objects.policies) t.success.push_back(etcd::Op::del(keys_.key(p)));
  auto r = client_->txn(t);
  if (!r) return etcd::Result<int64_t>::failure_of(r);
  return r->succeeded ? r->revision : 0;
}

ClusterWatcher::ClusterWatcher(std::shared_ptr<etcd::Client> client, ClusterKeys keys, Callbacks callbacks)
    : client_(std::move(client)), keys_(std::move(keys)), callbacks_(std::move(callbacks)) {
  status_.outage_since_ns = realtime_now_ns();
}

ClusterWatcher::~ClusterWatcher() { stop(); }

void ClusterWatcher::start() { thread_ = std::thread([this] { run(); }); }

void ClusterWatcher::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  client_->stop();
  if (thread_.joinable()) thread_.join();
}

WatchStatus ClusterWatcher::status() const {
  std::lock_guard lock(mu_);
  return status_;
}

ChangeStamps ClusterWatcher::last_stamps() const {
  std::lock_guard lock(mu_);
  return stamps_;
}

bool ClusterWatcher::wait_applied(int64_t revision, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return stopping_ || status_.applied_revision >= revision; }) &&
         status_.applied_revision >= revision;
}

void ClusterWatcher::failed(const std::string& why, bool refused) {
  std::lock_guard lock(mu_);
  if (status_.connected || status_.last_error != why) log::warn("cluster: " + why);
  // an outage is etcd not answering; one that answers with a refusal ends it
  if (refused)
    status_.outage_since_ns = 0;
  else if (status_.outage_since_ns == 0)
    status_.outage_since_ns = realtime_now_ns();
  status_.refused = refused;
  status_.connected = false;
  status_.connected_since_ns = 0;
  status_.last_error = why;
}

void ClusterWatcher::applied(int64_t revision) {
  {
    std::lock_guard lock(mu_);
    status_.applied_revision = std::max(status_.applied_revision, revision);
    status_.store_revision = std::max(status_.store_revision, revision);
  }
  cv_.notify_all();
}

void ClusterWatcher::seen_head(int64_t revision) {
  std::lock_guard lock(mu_);
  status_.store_revision = std::max(status_.store_revision, revision);
}

void ClusterWatcher::relist_after(std::chrono::milliseconds delay) {
  std::lock_guard lock(mu_);
  auto at = std::chrono::steady_clock::now() + delay;
  // an earlier one asked stands: failures coming faster than the delay must not put it off forever
  if (relist_at_ == std::chrono::steady_clock::time_point{} || at < relist_at_) relist_at_ = at;
}

bool ClusterWatcher::relist_due() const {
  std::lock_guard lock(mu_);
  return relist_at_ != std::chrono::steady_clock::time_point{} && std::chrono::steady_clock::now() >= relist_at_;
}

bool ClusterWatcher::list() {
  {
    std::lock_guard lock(mu_);
    relist_at_ = {};  // this list is it (a failure in it asks again)
  }
  etcd::Txn t;
  for (const auto& p : keys_.watched()) t.success.push_back({etcd::Op::Kind::range, p, {}, etcd::prefix_end(p), 0});
  auto r = client_->txn(t);
  if (!r) {
    failed(r.error(), r.refused());
    return false;
  }
  ObjectSet all;
  WorkloadNodes nodes;
  for (const auto& range : r->ranges)
    for (const auto& kv : range.kvs) {
      try {
        keys_.decode(kv.key, kv.value, all);
        if (auto node = keys_.node_of(kv.key); !node.empty())
          nodes.put[ref_of(all.workloads[all.workloads.size() - 1])] = node;
      } catch (const Error& e) {
        log::warn(std::string("cluster: skipped: ") + e.what());
      }
    }
  try {
    if (callbacks_.on_nodes) {
      nodes.snapshot = true;
      callbacks_.on_nodes(nodes);
    }
    callbacks_.on_snapshot(all, r->revision);
  } catch (const std::exception& e) {
    log::warn(std::string("cluster: the objects at revision ") + std::to_string(r->revision) + " failed: " + e.what());
  }
  {
    std::lock_guard lock(mu_);
    status_.relists++;
    if (!status_.connected) status_.connected_since_ns = realtime_now_ns();
    status_.connected = true;
    status_.outage_since_ns = 0;
    status_.refused = false;
    status_.last_error.clear();
  }
  applied(r->revision);
  return true;
}

void ClusterWatcher::run() {
  Backoff backoff(kWatchBackoffFirst, kWatchBackoffCap);
  bool listed = false;
  while (true) {
    {
      std::unique_lock lock(mu_);
      if (stopping_) return;
    }
    if (listed && relist_due()) listed = false;
    if (!listed) listed = list();
    if (listed) {
      int64_t from = status().applied_revision + 1;
      bool compacted = false, quiet = true;
      int64_t created_at = 0;
      const auto watch_began = std::chrono::steady_clock::now();
      const auto [range_begin, range_end] = keys_.watch_range();
      auto next = client_->watch(range_begin, range_end, from, [&](const etcd::WatchBatch& b) {
        if (b.compact_revision > 0) {
          compacted = true;
          return false;
        }
        quiet = false;
        const auto received = std::chrono::steady_clock::now();
        seen_head(b.revision);
        {
          std::lock_guard lock(mu_);
          status_.watch_events += b.events.size();
        }
        // one call per revision: a transaction's objects arrive together
        std::map<int64_t, std::pair<ObjectSet, ObjectSet>> by_revision;
        std::map<int64_t, WorkloadNodes> nodes;
        for (const auto& e : b.events) {
          auto& [put, gone] = by_revision[e.kv.mod_revision];  // applied, even when it holds no object
          if (!keys_.of_objects(e.kv.key)) continue;  // an identity or a node's lease: not a warning
          try {
            std::string node = keys_.node_of(e.kv.key);
            if (e.type == etcd::Event::Type::put) {
              keys_.decode(e.kv.key, e.kv.value, put);
              if (!node.empty())
                nodes[e.kv.mod_revision].put[ref_of(put.workloads[put.workloads.size() - 1])] = node;
            } else if (keys_.named_by(e.kv.key, gone) && !node.empty()) {
              nodes[e.kv.mod_revision].gone["Workload/" + gone.workloads[gone.workloads.size() - 1].meta.ns + "/" +
                                            gone.workloads[gone.workloads.size() - 1].meta.name] = node;
            }
          } catch (const Error& ex) {
            log::warn(std::string("cluster: skipped: ") + ex.what());
          }
        }
        const auto decoded = std::chrono::steady_clock::now();
        for (auto& [rev, change] : by_revision) {
          if (change.first.size() + change.second.size() > 0) {
            try {
              if (callbacks_.on_nodes && nodes.count(rev)) callbacks_.on_nodes(nodes[rev]);
              callbacks_.on_change(change.first, change.second, rev);
            } catch (const std::exception& ex) {
              log::warn("cluster: revision " + std::to_string(rev) + " failed: " + ex.what());
            }
            std::lock_guard lock(mu_);
            stamps_ = {rev, received, decoded, std::chrono::steady_clock::now()};
          }
          applied(rev);
        }
        return !relist_due();  // (ended: listed again at once)
      }, kWatchIdle, &created_at);
      if (compacted) {
        listed = false;
        continue;  // at once: the store moved on without us
      }
      if (next) {
        // quiet for kWatchIdle: etcd sends a watch's past events at once,
        // so none under the prefix came before the revision it was created at
        // (a stream cut sooner may have lost them: only the idle end counts)
        // (etcd's head then, moved on by writes outside the range, counts as
        // seen only here: seen at the watch's start, it showed a lag of
        // others' reports for a whole idle period)
        if (quiet && created_at > 0 && std::chrono::steady_clock::now() - watch_began >= kWatchIdle) {
          seen_head(created_at);
          applied(created_at);
        }
        backoff.reset();
        continue;
      }
      failed(next.error(), next.refused());
      listed = false;  // a gap may follow an outage: list again, then watch
    }
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, backoff.next(), [&] { return stopping_; });
  }
}

std::vector<std::string> keep_own_workloads(const ObjectSet& here, const std::set<std::string>& deleting,
                                            ObjectSet& put, ObjectSet& gone) {
  std::set<std::string> own;
  for (const auto& w : here.workloads)
    if (!w.interface.empty()) own.insert(ref_of(w));
  std::vector<std::string> dropped;
  if (own.empty()) return dropped;
  SharedVector<Workload> keep_put, keep_gone;
  for (size_t i = 0; i < put.workloads.size(); i++) {
    const Workload& w = put.workloads[i];
    if (w.interface.empty() && own.count(ref_of(w))) dropped.push_back(ref_of(w));
    else keep_put.push_back(put.workloads.ptr(i));
  }
  for (size_t i = 0; i < gone.workloads.size(); i++) {
    const std::string ref = ref_of(gone.workloads[i]);
    if (own.count(ref) && !deleting.count(ref)) dropped.push_back(ref);
    else keep_gone.push_back(gone.workloads.ptr(i));
  }
  put.workloads = std::move(keep_put);
  gone.workloads = std::move(keep_gone);
  return dropped;
}

}  // namespace zeroseg
