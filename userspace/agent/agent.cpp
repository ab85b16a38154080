// SPDX-License-Identifier: Apache-2.0
#include "agent/agent.h"

#include <malloc.h>
#include <net/if.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <limits>
#include <unordered_map>

#include "abi/names.h"
#include "agent/reconciler.h"
#include "agent/state_files.h"
#include "common/error.h"
#include "common/log.h"
#include "common/process_metrics.h"
#include "common/time.h"
#include "detect/detection_metrics.h"
#include "detect/flow_analyzer.h"
#include "detect/policy_learning.h"
#include "detect/quarantine.h"
#include "detect/webhook.h"
#include "loader/attach.h"
#include "loader/datapath.h"
#include "loader/datapath_metrics.h"
#include "policy/object_merge.h"
#include "telemetry/ipfix.h"
#include "telemetry/telemetry.h"
#include "telemetry/telemetry_metrics.h"

// the commit the binary was built at (cmake/build_commit.cmake writes it at each build)
const char* zeroseg_build_commit();

namespace zeroseg {

using nlohmann::json;

json ApplyResult::to_json() const {
  json j;
  j["objects"] = json::array();
  for (const auto& [ref, action] : objects) j["objects"].push_back({{"object", ref}, {"action", action}});
  j["revision"] = revision;
  if (cluster_revision) j["cluster_revision"] = cluster_revision;
  j["entries_changed"] = entries_changed;
  if (!replay.is_null()) j["replay"] = replay;
  if (!not_enforced.empty()) j["not_enforced"] = not_enforced;
  return j;
}

namespace {

// True when an apply or delete leaves every object as it was.
bool changes_nothing(const ApplyResult& r) {
  return std::all_of(r.objects.begin(), r.objects.end(),
                     [](const auto& o) { return o.second == "unchanged" || o.second == "not found"; });
}

}  // namespace

Agent::Agent(const AgentConfig& config, std::shared_ptr<IdentityAllocator> identity_upstream)
    : config_(config), state_files_(config.state_dir) {
  dp_ = Datapath::load({.pin_dir = config.pin_dir, .sizes = config.sizes});
  dp_->lock_writers("zeroseg agent");
  StateFiles::Loaded stored = load_state();
  // cluster mode: numbers the state dir lacks come from etcd (those it has
  // came from there too: a node switched to cluster mode starts with a fresh
  // state dir, docs/cluster.md)
  if (identity_upstream) identities_.set_upstream(std::move(identity_upstream));
  desired_ = std::make_shared<const ObjectSet>(std::move(stored.desired));
  dp_->set_ct_timeouts(config.ct_timeout_tcp, config.ct_timeout_tcp_closing, config.ct_timeout_other,
                       config.ct_timeout_tcp_syn_sent, config.ct_timeout_tcp_syn_recv);
  dp_->set_ct_endpoint_share(config.ct_endpoint_share);
  dp_->set_deny_event_rate(config.deny_events_per_sec, config.deny_events_burst);
  dp_->set_deny_event_budget(config.deny_events_per_cpu);
  reconciler_ = std::make_unique<Reconciler>(*dp_);
  // The maps still enforce what the last agent left: converge on the
  // stored desired state by changing only what differs. No gap.
  compiled_ = std::make_shared<const Compiled>(PolicyCompiler(identities_, rule_ids_).compile(*desired_));
  size_t changed = reconciler_->reconcile(*compiled_);
  persist();
  if (stored.desired_records) state_files_.write_snapshot(*desired_);  // start from short logs
  if (stored.rule_records) state_files_.write_rule_ids(rule_ids_);
  TelemetryOptions t;
  if (config_.node_name.empty()) {
    char host[256] = {};
    gethostname(host, sizeof(host) - 1);
    config_.node_name = host;
  }
  t.node = config_.node_name;
  t.flow_log = config_.flow_log;
  t.flow_log_max_bytes = config_.flow_log_max_bytes;
  t.flow_log_keep = config_.flow_log_keep;
  t.sweep_interval_ms = config_.flow_sweep_ms;
  t.unanswered_after_ns = config_.flow_unanswered_after_ns;
  AnalyzerOptions analysis;
  analysis.alert_log = config_.alert_log;
  analysis.detection = config_.detection;
  analysis.detection.state_dir = config_.state_dir;
  if (!config_.ipfix_collector.empty()) t.exporter = std::make_unique<IpfixExporter>(config_.ipfix_collector);
  if (!config_.alert_webhook.empty()) {
    WebhookOptions hook;
    hook.ca_file = config_.alert_webhook_ca;
    hook.auth_header = webhook_auth_header(config_.alert_webhook_auth_file);
    hook.retries = config_.alert_webhook_retries;
    auto sink = std::make_unique<WebhookSink>(config_.alert_webhook, std::move(hook));
    webhook_ = sink.get();
    analysis.webhook = std::move(sink);
  }
  if (!config_.auto_quarantine.detectors.empty()) analysis.respond = [this](Alert& a) { respond(a); };
  analyzer_ = std::make_unique<FlowAnalyzer>(std::move(analysis));
  t.analysis = analyzer_.get();
  telemetry_ = std::make_unique<Telemetry>(dp_->kernel_flows(), std::move(t));
  publish_catalog();
  for (double le : apply_bucket_bounds()) apply_stats_.apply_buckets.emplace_back(le, 0);
  apply_stats_.apply_buckets.emplace_back(std::numeric_limits<double>::infinity(), 0);
  blind_.emplace(config_.node_name);
  housekeeping_ = std::thread([this] { housekeeping(); });
  log::info("agent started: " + std::to_string(desired_->size()) + " objects, " + std::to_string(changed) +
            " map entries reconciled, policy revision " + std::to_string(dp_->generation()));
}

Agent::~Agent() {
  // housekeeping first (its commits publish to telemetry), then telemetry
  // (its analyzer calls respond(), which needs housekeeping's members)
  {
    std::lock_guard lock(housekeeping_mu_);
    stopping_ = true;
  }
  housekeeping_cv_.notify_all();
  if (housekeeping_.joinable()) housekeeping_.join();
  telemetry_.reset();
  analyzer_.reset();  // analyses what telemetry's last turns handed over
  flush_journal();
}

// Off mu_: the fsync of the changes journaled without one (cluster mode)
// does not hold up the next change.
void Agent::flush_journal() {
  try {
    state_files_.flush();
  } catch (const std::exception& e) {
    log::warn(std::string("state directory: flushing desired.log: ") + e.what() + " (tried again in a second)");
  }
  state_files_.write_deferred();
}

// Quarantine expiry, once a second, the quarantines alerts asked for, and
// freeing the states commits replaced.
void Agent::housekeeping() {
  std::unique_lock lock(housekeeping_mu_);
  while (!stopping_) {
    housekeeping_cv_.wait_for(lock, std::chrono::seconds(1),
                              [&] { return stopping_ || !requested_.empty() || !retired_.empty(); });
    if (stopping_) break;
    auto requests = std::move(requested_);
    requested_.clear();
    auto retired = std::move(retired_);
    retired_.clear();
    lock.unlock();
    {
      // the last commit's retired map slot catches up, off the request's
      // path: its grace period is waited for off the lock (a change meanwhile
      // is not held up by it), then levelled if no later commit is waiting
      std::shared_future<void> grace;
      {
        std::lock_guard agent_lock(mu_);
        grace = dp_->grace();
      }
      if (grace.valid()) grace.wait();
      std::lock_guard agent_lock(mu_);
      try {
        if (dp_->settle_ready()) dp_->settle();
      } catch (const std::exception& e) {
        log::warn(std::string("levelling the map slots: ") + e.what());
      }
    }
    retired.clear();
    flush_journal();
    for (const auto& [ip, reason] : requests) {
      try {
        quarantine_add(ip, realtime_now_ns() + config_.auto_quarantine.duration_ns, config_.quarantine_management,
                       reason);
      } catch (const std::exception& e) {
        log::warn("automatic quarantine of " + ip + " failed: " + e.what());
      }
    }
    try {
      expire_quarantines();
    } catch (const std::exception& e) {
      log::warn(std::string("releasing expired quarantines: ") + e.what());
    }
    try {
      if (auto a = blind_->observe(dp_->counter(ZS_CTR_EVENTS_OVER_BUDGET).packets, realtime_now_ns()))
        analyzer_->raise(std::move(*a));
    } catch (const std::exception& e) {
      log::warn(std::string("reading the deny-event budget's counter: ") + e.what());
    }
    lock.lock();
  }
}

// On the telemetry thread: decides, and leaves the work to housekeeping.
void Agent::respond(Alert& a) {
  if (!config_.auto_quarantine.matches(a.detector, a.severity)) return;
  if (!a.source_is_culprit) {
    a.actions.push_back("none: " + a.source_ip + " is not known to be the culprit");
    return;
  }
  if (a.source_identity == ZS_ID_QUARANTINE) {
    a.actions.push_back("none: " + a.source_ip + " is quarantined already");
    return;
  }
  if (const Prefix* m = management_prefix_of(a.source_ip, config_.quarantine_management)) {
    a.actions.push_back("none: " + a.source_ip + " is in the management prefix " + m->str());
    return;
  }
  a.actions.push_back("quarantine " + a.source_ip + " for " + format_duration(config_.auto_quarantine.duration_ns));
  std::lock_guard lock(housekeeping_mu_);
  requested_.emplace_back(a.source_ip, "auto: " + a.detector + " alert: " + a.summary);
  housekeeping_cv_.notify_all();
}

ObjectSet Agent::merged(const ObjectSet& incoming, ApplyResult& r) const {
  ObjectSet next = *desired_;
  merge_objects(next, incoming, r.objects);
  return next;
}

ObjectSet Agent::without(const ObjectSet& gone, ApplyResult& r) const {
  ObjectSet next = *desired_;
  remove_objects(next, gone, r.objects);
  return next;
}

ApplyResult Agent::apply(const ObjectSet& objects, bool dry_run) {
  const SteadyTime asked = std::chrono::steady_clock::now();
  std::lock_guard lock(mu_);
  const SteadyTime locked = std::chrono::steady_clock::now();
  ApplyResult r;
  ObjectSet next = merged(objects, r);
  note_pre_phases(asked, locked);
  if (!dry_run && changes_nothing(r)) {  // nothing to compile: what is in force stays
    r.revision = dp_->generation();
    r.not_enforced = not_enforced();
    return r;
  }
  return commit(std::move(next), std::move(r), dry_run, log_record("apply", objects), journal_durably(objects));
}

ApplyResult Agent::remove(const ObjectSet& objects, bool dry_run) {
  const SteadyTime asked = std::chrono::steady_clock::now();
  std::lock_guard lock(mu_);
  const SteadyTime locked = std::chrono::steady_clock::now();
  ApplyResult r;
  ObjectSet next = without(objects, r);
  note_pre_phases(asked, locked);
  if (!dry_run && changes_nothing(r)) {
    r.revision = dp_->generation();
    r.not_enforced = not_enforced();
    return r;
  }
  return commit(std::move(next), std::move(r), dry_run, log_record("delete", objects), journal_durably(objects));
}

void Agent::record_apply(double seconds, bool failed) {
  if (failed) {
    apply_stats_.apply_failures++;
    return;
  }
  apply_stats_.applies++;
  apply_stats_.last_apply_seconds = seconds;
  apply_stats_.apply_seconds_sum += seconds;
  for (auto& [le, n] : apply_stats_.apply_buckets)
    if (seconds <= le) n++;
}

std::shared_ptr<const FlowCatalog> Agent::publish_catalog() {
  return telemetry_->publish(std::make_shared<const FlowCatalog>(config_.node_name, compiled_));
}

// A node alone: always (its state directory is the only copy). In
// cluster mode the change came from etcd, which holds it durably and is
// listed again at every start: its record waits for no disk, unless it
// names one of this node's own workloads (an interface here), which a
// start past the lease's TTL writes back to etcd from this directory
// (docs/cluster.md, "What a node keeps"). Called under mu_.
bool Agent::journal_durably(const ObjectSet& objects) const {
  if (config_.cluster.empty() || objects.workloads.size() > 64) return true;  // big ones: the fsync is noise
  for (const auto& w : objects.workloads) {
    if (!w.interface.empty()) return true;
    for (const auto& held : desired_->workloads)  // a delete names it without its spec
      if (held.meta.name == w.meta.name && held.meta.ns == w.meta.ns && !held.interface.empty()) return true;
  }
  return false;
}

ApplyResult Agent::commit(ObjectSet next, ApplyResult result, bool dry_run, const std::string& record,
                          bool durable) {
  auto started = std::chrono::steady_clock::now();
  // where an apply's time goes, for `--log-level debug` (phase: ms)
  std::string phases;
  last_phases_ = std::exchange(pre_phases_, {});  // lock, merge: apply() and remove()'s
  auto phase = [&, last = started](const char* name) mutable {
    auto now = std::chrono::steady_clock::now();
    double ms = std::chrono::duration<double, std::milli>(now - last).count();
    char buf[64];
    std::snprintf(buf, sizeof(buf), " %s %.1f ms", name, ms);
    phases += buf;
    last_phases_.emplace_back(name, ms);
    last = now;
  };
  // A failed or dry run allocates nothing: rule ids are journaled (and
  // undone unless kept), identities copied for a whole compile (a change of
  // policies alone allocates none).
  RuleIdJournal rules_journal(rule_ids_);
  std::optional<LocalIdentityAllocator> ids;
  Compiled want;
  // a change of policies alone merges only the keys it touches; a change
  // of a few workloads alone (pod churn) compiles only what they change
  std::optional<Compiled> quick;
  bool churn = false;
  try {
    if (!dry_run) quick = PolicyCompiler(identities_, rule_ids_).compile_policies(next, *desired_, *compiled_);
    if (!dry_run && !quick && config_.incremental_workloads) {
      quick = PolicyCompiler(identities_, rule_ids_).compile_workloads(next, *desired_, *compiled_);
      churn = quick.has_value();
    }
    if (quick) {
      want = std::move(*quick);
      phase(churn ? "compile-workloads" : "compile-policies");
    } else {
      ids = identities_;
      phase("copy");
      want = PolicyCompiler(*ids, rule_ids_).compile(next);
      phase("compile");
    }
    if (dry_run) {
      result.entries_changed = reconciler_->count_changes(want, *compiled_);
      result.replay = replay_conversations(analyzer_->ledger().snapshot(), *compiled_, *desired_, want, next);
      result.revision = dp_->generation();
      return result;
    }
  } catch (...) {
    record_apply(0, true);
    throw;
  }
  // compile_workloads() allocated into identities_ itself: a failure below
  // gives back what it took; a success, what the change left unused
  const bool churned_identities = churn && want.identities_changed;
  auto release_beyond = [&](const Compiled& held) {
    if (!churned_identities) return;
    std::set<uint32_t> live;
    for (const auto& [id, ci] : held.identities) live.insert(id);
    identities_.release_unused(live);
  };
  // Write-ahead: the record on disk before the maps change, marked
  // committed after; a crash in between forgets the change at the next
  // start, a failure here leaves the maps as they are.
  durable = durable || record.empty();  // quarantines are this node's own: always
  StateFiles::Pending pending;
  try {
    pending = state_files_.begin(record.empty() ? quarantine_record(next.quarantines) : record, durable);
  } catch (const std::exception& e) {
    record_apply(0, true);
    release_beyond(*compiled_);
    throw Error(std::string("nothing changed: the state directory could not record the change: ") + e.what());
  }
  phase("journal");
  bool in_maps = false;
  try {
    result.entries_changed = churn   ? reconciler_->reconcile_workloads(want, *compiled_)
                             : quick ? reconciler_->reconcile_policy(want)
                                     : reconciler_->reconcile(want);
    in_maps = true;
    phase("maps");
    state_files_.commit(pending, durable);
    phase("commit");
  } catch (const std::exception& e) {
    record_apply(0, true);
    std::string undo;
    if (in_maps) {  // the maps back to what is in force (and in the log)
      try {
        reconciler_->reconcile(*compiled_);
      } catch (const std::exception& u) {
        undo = u.what();
      }
    }
    state_files_.abandon(pending);
    release_beyond(*compiled_);
    if (!undo.empty())
      throw Error(std::string("the change could not be committed (") + e.what() +
                  ") and the maps could not be put back (" + undo +
                  "): restart the agent to converge on the state directory");
    if (in_maps) throw Error(std::string("nothing changed: the state directory could not commit the change: ") + e.what());
    throw;
  }
  // the old state is freed by housekeeping, not on the request's path
  rules_journal.keep();
  auto old = std::make_unique<Retired>();
  std::swap(old->desired, desired_);
  std::swap(old->compiled, compiled_);
  if (ids) {
    std::swap(old->identities, identities_);
    identities_ = std::move(*ids);
  }
  desired_ = std::make_shared<const ObjectSet>(std::move(next));
  compiled_ = std::make_shared<const Compiled>(std::move(want));
  release_beyond(*compiled_);
  old->catalog = publish_catalog();
  phase("swap");
  persist(durable);
  phase("state-dir");
  {
    std::lock_guard lock(housekeeping_mu_);
    retired_.push_back(std::move(old));
  }
  housekeeping_cv_.notify_all();
  log::debug("apply:" + phases);
  record_apply(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count(), false);
  // a big apply's transient trees go back to the system (not on every
  // small change: the trim walks the heap)
  if (result.entries_changed > 10000) malloc_trim(0);
  result.revision = dp_->generation();
  result.not_enforced = not_enforced();
  phase("answer");
  return result;
}

void Agent::persist(bool durable) { state_files_.persist(*desired_, identities_, rule_ids_, durable); }

// An unreadable state is not an empty one: reconciling to it would detach
// every endpoint (fail open). The agent stops before touching the maps.
StateFiles::Loaded Agent::load_state() {
  try {
    return state_files_.load(identities_, rule_ids_);
  } catch (const std::exception& e) {
    size_t pinned = dp_->endpoints().entries().size();
    throw Error(std::string("refusing to start: the state directory cannot be read: ") + e.what() +
                "; the maps under " + config_.pin_dir + " are untouched (" + std::to_string(pinned) +
                " endpoints stay enforced as pinned)");
  }
}

std::string Agent::suggest(int64_t since_ns, const std::string& ns) const {
  std::shared_ptr<const ObjectSet> state;
  {
    std::lock_guard lock(mu_);
    state = desired_;
  }
  return suggest_policies(analyzer_->ledger().snapshot(), *state, config_.node_name, since_ns, ns);
}

std::string Agent::suggest_for(const SuggestGroups& groups) const {
  std::shared_ptr<const ObjectSet> state;
  {
    std::lock_guard lock(mu_);
    state = desired_;
  }
  return suggest_policies(analyzer_->ledger().snapshot(), *state, config_.node_name, 0, "", &groups);
}

std::string Agent::metrics() const {
  AgentMetrics a;
  AttachCounters attach_counters;
  size_t unenforced = 0;
  {
    std::lock_guard lock(mu_);
    attach_counters = reconciler_->attachments().counters();
    unenforced = reconciler_->attachments().problems().size();
    a = apply_stats_;
    a.workloads = desired_->workloads.size();
    a.policies = desired_->policies.size();
    a.identities = compiled_->identities.size();
    a.quarantines = desired_->quarantines.size();
  }
  a.revision = dp_->generation();
  const TelemetryCounters& t = telemetry_->counters();
  PromWriter w;
  write_datapath_metrics(w, *dp_);
  write_telemetry_metrics(w, t, telemetry_->export_counts());
  write_map_metrics(w, *dp_, t.conntrack4_entries.load(), t.conntrack6_entries.load());
  write_ct_usage_metrics(w, *dp_, telemetry_->ct_usage());
  write_agent_metrics(w, a);
  write_attach_metrics(w, attach_counters, unenforced);
  write_detection_metrics(w, *analyzer_, webhook_);
  write_process_metrics(w);
  write_build_info(w, ZEROSEG_VERSION, zeroseg_build_commit());
  return w.text();
}

}  // namespace zeroseg
