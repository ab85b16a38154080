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
#include "common/error.h"
#include "common/log.h"
#include "common/time.h"
#include "detect/detection_metrics.h"
#include "detect/quarantine.h"
#include "detect/webhook.h"
#include "loader/attach.h"
#include "loader/datapath_metrics.h"
#include "loader/slot_access.h"
#include "loader/transaction.h"
#include "policy/object_merge.h"
#include "policy/yaml_reader.h"
#include "telemetry/ipfix.h"
#include "telemetry/telemetry_metrics.h"

namespace zeroseg {

using nlohmann::json;

json ApplyResult::to_json() const {
  json j;
  j["objects"] = json::array();
  for (const auto& [ref, action] : objects) j["objects"].push_back({{"object", ref}, {"action", action}});
  j["revision"] = revision;
  j["entries_changed"] = entries_changed;
  if (!replay.is_null()) j["replay"] = replay;
  return j;
}

// What the datapath's maps hold (their active slots), mirrored so a change
// is diffed in memory: reading 100k entries back costs more than the change.
struct Agent::Mirror {
  std::map<uint32_t, zs_endpoint> endpoints;
  std::map<Prefix, uint32_t> ipcache;
  PolicyEntries policy;

  static Mirror read(const Datapath& dp) {
    Mirror m;
    int slot = dp.active_slot();
    for (auto& [k, v] : dp.endpoints().entries())
      if (!slot_empty(slot_ref(v, slot))) m.endpoints[k] = slot_ref(v, slot);
    for (auto& [k, v] : dp.ipcache().entries()) {
      if (slot_ref(v, slot)) m.ipcache[Transaction::prefix_of(k)] = slot_ref(v, slot);
    }
    for (auto& [k, v] : dp.policy().entries())
      if (!slot_empty(slot_ref(v, slot))) m.policy[k] = slot_ref(v, slot);
    return m;
  }
};

namespace {

constexpr const char* kDesiredLog = "desired.log";
// rules.json's changes since it was written (RuleIdAllocator::take_log)
constexpr const char* kRulesLog = "rules.log";
constexpr size_t kCompactLogBytes = 4u << 20;

void append_document(std::string& out, const ObjectMeta& m) { out += "---\n" + m.document.str() + "\n"; }

// A desired.log record: "apply" or "delete", then the objects' YAML.
std::string log_record(const char* what, const ObjectSet& objects) {
  std::string r = std::string(what) + "\n";
  for (const auto& n : objects.namespaces) append_document(r, n.meta);
  for (const auto& w : objects.workloads) append_document(r, w.meta);
  for (const auto& p : objects.policies) append_document(r, p.meta);
  return r;
}

// Replays desired.log's records onto the snapshot's objects; returns how many.
size_t replay_log(const StateStore& store, ObjectSet& state) {
  auto records = store.read_records(kDesiredLog);
  for (size_t i = 0; i < records.size(); i++) {
    const std::string& rec = records[i];
    size_t eol = rec.find('\n');
    std::string what = rec.substr(0, eol);
    ObjectSet objects = load_yaml(eol == std::string::npos ? "" : rec.substr(eol + 1),
                                  store.dir() + "/" + kDesiredLog + " record " + std::to_string(i + 1));
    ApplyResult ignored;
    if (what == "apply") {
      merge_objects(state, objects, ignored.objects);
    } else if (what == "delete") {
      remove_objects(state, objects, ignored.objects);
    } else {
      throw Error(store.dir() + "/" + kDesiredLog + " record " + std::to_string(i + 1) + ": unknown change \"" +
                  what + "\"");
    }
  }
  return records.size();
}

// True when an apply or delete leaves every object as it was.
bool changes_nothing(const ApplyResult& r) {
  return std::all_of(r.objects.begin(), r.objects.end(),
                     [](const auto& o) { return o.second == "unchanged" || o.second == "not found"; });
}

// Diffs want against have, staging only the differences.
template <class Map, class Stage, class Remove>
size_t diff(const Map& want, const Map& have, Stage stage, Remove remove) {
  size_t n = 0;
  for (const auto& [k, v] : want) {
    auto it = have.find(k);
    if (it == have.end() || std::memcmp(&it->second, &v, sizeof(v)) != 0) {
      stage(k, v);
      n++;
    }
  }
  for (const auto& [k, v] : have)
    if (!want.count(k)) {
      remove(k);
      n++;
    }
  return n;
}

}  // namespace

Agent::Agent(const AgentConfig& config) : config_(config), store_(config.state_dir) {
  dp_ = Datapath::load({.pin_dir = config.pin_dir, .sizes = config.sizes});
  dp_->lock_writers("zeroseg agent");
  if (auto ids = store_.read("identities.json"); !ids.empty()) identities_.from_json(json::parse(ids));
  if (auto rules = store_.read("rules.json"); !rules.empty()) rule_ids_.from_json(json::parse(rules));
  auto rule_records = store_.read_records(kRulesLog);
  for (const auto& rec : rule_records) rule_ids_.apply_log(rec);
  size_t replayed = 0;
  {
    ObjectSet stored;
    if (auto desired = store_.read("desired.yaml"); !desired.empty())
      stored = load_yaml(desired, store_.dir() + "/desired.yaml");
    replayed = replay_log(store_, stored);
    if (auto q = store_.read("quarantine.json"); !q.empty())
      stored.quarantines = quarantines_from_text(q, store_.dir() + "/quarantine.json");
    desired_ = std::make_shared<const ObjectSet>(std::move(stored));
  }
  dp_->set_ct_timeouts(config.ct_timeout_tcp, config.ct_timeout_tcp_closing, config.ct_timeout_other);
  dp_->set_deny_event_rate(config.deny_events_per_sec, config.deny_events_burst);
  mirror_ = std::make_unique<Mirror>(Mirror::read(*dp_));
  // The maps still enforce what the last agent left: converge on the
  // stored desired state by changing only what differs. No gap.
  compiled_ = std::make_shared<const Compiled>(PolicyCompiler(identities_, rule_ids_).compile(*desired_));
  size_t changed = reconcile(*compiled_);
  persist("");
  if (replayed) write_snapshot();  // start from short logs
  if (!rule_records.empty()) write_rule_ids();
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
  AnalyzerOptions analysis;
  analysis.alert_log = config_.alert_log;
  analysis.detection = config_.detection;
  analysis.detection.state_dir = config_.state_dir;
  if (!config_.ipfix_collector.empty()) t.exporter = std::make_unique<IpfixExporter>(config_.ipfix_collector);
  if (!config_.alert_webhook.empty()) {
    auto sink = std::make_unique<WebhookSink>(config_.alert_webhook);
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
      // the last commit's retired map slot catches up, off the request's path
      std::lock_guard agent_lock(mu_);
      try {
        dp_->settle();
      } catch (const std::exception& e) {
        log::warn(std::string("levelling the map slots: ") + e.what());
      }
    }
    retired.clear();
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
    lock.lock();
  }
}

// On the telemetry thread: decides, and leaves the work to housekeeping.
void Agent::respond(Alert& a) {
  if (!config_.auto_quarantine.matches(a.detector, a.severity)) return;
  if (a.source_identity == ZS_ID_QUARANTINE) {
    a.actions.push_back("none: " + a.source_ip + " is quarantined already");
    return;
  }
  auto ip = IpAddr::parse(a.source_ip);
  for (const auto& m : config_.quarantine_management)
    if (ip && m.contains(Prefix::host(*ip))) {
      a.actions.push_back("none: " + a.source_ip + " is in the management prefix " + m.str());
      return;
    }
  a.actions.push_back("quarantine " + a.source_ip + " for " + format_duration(config_.auto_quarantine.duration_ns));
  std::lock_guard lock(housekeeping_mu_);
  requested_.emplace_back(a.source_ip, "auto: " + a.detector + " alert: " + a.summary);
  housekeeping_cv_.notify_all();
}

bool Agent::mirror_endpoint(uint32_t ifindex) const { return mirror_->endpoints.count(ifindex) > 0; }

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
  std::lock_guard lock(mu_);
  ApplyResult r;
  ObjectSet next = merged(objects, r);
  if (!dry_run && changes_nothing(r)) {  // nothing to compile: what is in force stays
    r.revision = dp_->generation();
    return r;
  }
  return commit(std::move(next), std::move(r), dry_run, log_record("apply", objects));
}

ApplyResult Agent::remove(const ObjectSet& objects, bool dry_run) {
  std::lock_guard lock(mu_);
  ApplyResult r;
  ObjectSet next = without(objects, r);
  if (!dry_run && changes_nothing(r)) {
    r.revision = dp_->generation();
    return r;
  }
  return commit(std::move(next), std::move(r), dry_run, log_record("delete", objects));
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

ApplyResult Agent::commit(ObjectSet next, ApplyResult result, bool dry_run, const std::string& record) {
  auto started = std::chrono::steady_clock::now();
  // where an apply's time goes, for `--log-level debug` (phase: ms)
  std::string phases;
  auto phase = [&, last = started](const char* name) mutable {
    auto now = std::chrono::steady_clock::now();
    char buf[64];
    std::snprintf(buf, sizeof(buf), " %s %.1f ms", name, std::chrono::duration<double, std::milli>(now - last).count());
    phases += buf;
    last = now;
  };
  // A failed or dry run allocates nothing: rule ids are journaled (and
  // undone unless kept), identities copied for a whole compile (a change of
  // policies alone allocates none).
  RuleIdJournal rules_journal(rule_ids_);
  std::optional<LocalIdentityAllocator> ids;
  Compiled want;
  try {
    // a change of policies alone merges only the keys it touches
    std::optional<Compiled> quick;
    if (!dry_run) quick = PolicyCompiler(identities_, rule_ids_).compile_policies(next, *desired_, *compiled_);
    if (quick) {
      want = std::move(*quick);
      phase("compile-policies");
    } else {
      ids = identities_;
      phase("copy");
      want = PolicyCompiler(*ids, rule_ids_).compile(next);
      phase("compile");
    }
    if (dry_run) {
      result.entries_changed = count_changes(want);
      result.replay = replay(want, next);
      result.revision = dp_->generation();
      return result;
    }
    result.entries_changed = quick ? reconcile_policy(want) : reconcile(want);
    phase("maps");
  } catch (...) {
    record_apply(0, true);
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
  old->catalog = publish_catalog();
  phase("swap");
  persist(record);
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
  return result;
}

// reconcile() for a compile_policies() result: endpoints and the ipcache
// are as they were, and only the policy keys it touched can differ.
size_t Agent::reconcile_policy(const Compiled& want) {
  Transaction tx(*dp_);
  size_t n = 0;
  for (const auto& key : want.touched) {
    auto w = want.policy.find(key);
    auto h = mirror_->policy.find(key);
    if (w == want.policy.end()) {
      if (h != mirror_->policy.end()) {
        tx.remove_rule(key);
        n++;
      }
    } else if (h == mirror_->policy.end() || std::memcmp(&h->second, &w->second, sizeof(w->second)) != 0) {
      tx.set_rule(key, w->second);
      n++;
    }
  }
  tx.commit();
  for (const auto& key : want.touched) {
    if (auto w = want.policy.find(key); w != want.policy.end())
      mirror_->policy[key] = w->second;
    else
      mirror_->policy.erase(key);
  }
  return n;
}

size_t Agent::count_changes(const Compiled& want) const {
  auto none = [](auto&&...) {};
  size_t n = diff(want.ipcache.map(), mirror_->ipcache, none, none);
  n += diff(want.policy, mirror_->policy, none, none);
  for (const auto& [ifname, ep] : want.endpoints) {
    auto cur = compiled_->endpoints.find(ifname);
    if (cur == compiled_->endpoints.end() || cur->second.identity != ep.identity || cur->second.mode != ep.mode) n++;
  }
  for (const auto& [ifname, ep] : compiled_->endpoints) n += !want.endpoints.count(ifname);
  return n;
}

// Brings the maps to `want` in one transaction, then attaches to new
// endpoints and detaches from removed ones. Throws (with the maps as they
// were) when the change does not fit.
size_t Agent::reconcile(const Compiled& want) {
  std::map<uint32_t, zs_endpoint> want_eps;
  std::map<uint32_t, std::pair<std::string, zs_attach_kind>> attach_to;
  for (const auto& [ifname, ep] : want.endpoints) {
    unsigned ifindex = if_nametoindex(ifname.c_str());
    if (!ifindex) continue;  // attached when the link appears (sync_links)
    zs_endpoint e{};
    e.identity = ep.identity;
    e.kind = static_cast<uint8_t>(ep.kind);
    e.mode[ZS_DIR_INGRESS] = ep.mode[ZS_DIR_INGRESS];
    e.mode[ZS_DIR_EGRESS] = ep.mode[ZS_DIR_EGRESS];
    want_eps[ifindex] = e;
    attach_to[ifindex] = {ifname, ep.kind};
  }
  Transaction tx(*dp_);
  size_t n = diff(want_eps, mirror_->endpoints, [&](uint32_t k, const zs_endpoint& v) { tx.set_endpoint(k, v); },
                  [&](uint32_t k) { tx.remove_endpoint(k); });
  n += diff(want.ipcache.map(), mirror_->ipcache, [&](const Prefix& k, uint32_t v) { tx.set_identity(k, v); },
            [&](const Prefix& k) { tx.remove_identity(k); });
  n += diff(want.policy, mirror_->policy,
            [&](const zs_policy_key& k, const zs_policy_entry& v) { tx.set_rule(k, v); },
            [&](const zs_policy_key& k) { tx.remove_rule(k); });
  tx.commit();

  // endpoints first (above), then programs: a new interface is never seen unmanaged
  for (const auto& [ifindex, name_kind] : attach_to) {
    HookState h = query_hooks(ifindex);
    bool ours = h.tc_egress_prog_id && (h.xdp_prog_id || h.tc_ingress_prog_id);
    if (ours && attached_.count(name_kind.first)) continue;
    try {
      attach(*dp_, {.ifname = name_kind.first, .kind = name_kind.second});
      attached_.insert(name_kind.first);
    } catch (const Error& e) {
      log::warn(std::string("attaching to ") + name_kind.first + ": " + e.what());
    }
  }
  for (const auto& [ifindex, ep] : mirror_->endpoints)
    if (!want_eps.count(ifindex)) {
      std::string name = ifname_of(ifindex);
      if (!name.empty()) detach(ifindex);
      attached_.erase(name);
    }
  mirror_->endpoints = std::move(want_eps);
  mirror_->ipcache = want.ipcache.map();
  mirror_->policy = want.policy;
  return n;
}

void Agent::sync_links() {
  std::lock_guard lock(mu_);
  bool stale = false;
  for (const auto& [ifname, ep] : compiled_->endpoints) {
    unsigned ifindex = if_nametoindex(ifname.c_str());
    bool known = ifindex && mirror_->endpoints.count(ifindex);
    if (!known || !attached_.count(ifname)) stale = true;
  }
  for (const auto& [ifindex, ep] : mirror_->endpoints)
    if (ifname_of(ifindex).empty()) stale = true;
  if (!stale) return;
  try {
    size_t n = reconcile(*compiled_);
    publish_catalog();
    if (n) log::info("links changed: " + std::to_string(n) + " map entries updated");
  } catch (const Error& e) {
    log::error(std::string("reconciling after a link change: ") + e.what());
  }
}

// The desired objects on disk: desired.yaml, a snapshot, and desired.log,
// the applies and deletes since, one record each. A change appends its
// record (a few kB, where the snapshot of 10k objects is megabytes); the
// snapshot is written again, and the log emptied, when the log outgrows
// kCompactLogBytes, and at start. Replaying the log on a snapshot that
// already holds it changes nothing, so a crash between the two is safe.
void Agent::write_snapshot() const {
  std::string docs;
  for (const auto& n : desired_->namespaces) append_document(docs, n.meta);
  for (const auto& w : desired_->workloads) append_document(docs, w.meta);
  for (const auto& p : desired_->policies) append_document(docs, p.meta);
  store_.write("desired.yaml", docs);
  store_.remove(kDesiredLog);
}

void Agent::write_rule_ids() {
  store_.write("rules.json", rule_ids_.to_json().dump(1));
  store_.remove(kRulesLog);
  rule_ids_.take_log();  // all in the file now
  persisted_.rules = rule_ids_.changes();
}

void Agent::persist(const std::string& record) {
  if (!record.empty() && store_.append_record(kDesiredLog, record) > kCompactLogBytes) write_snapshot();
  // the rest only when it changed
  if (persisted_.identities != identities_.changes()) {
    store_.write("identities.json", identities_.to_json().dump(1));
    persisted_.identities = identities_.changes();
  }
  // rule ids: their changes appended to rules.log (100k ids are 4.7 MB of
  // JSON), the whole file rewritten when the log grows past it
  if (persisted_.rules != rule_ids_.changes()) {
    std::string log = rule_ids_.take_log();
    if (!store_.exists("rules.json") || log.size() > kCompactLogBytes ||
        (!log.empty() && store_.append_record(kRulesLog, log) > kCompactLogBytes))
      write_rule_ids();
    persisted_.rules = rule_ids_.changes();
  }
  std::string quarantines = quarantines_to_text(desired_->quarantines);
  if (persisted_.quarantines != quarantines) {
    store_.write("quarantine.json", quarantines);
    persisted_.quarantines = std::move(quarantines);
  }
}

json Agent::policies() const {
  std::lock_guard lock(mu_);
  json out = json::array();
  for (const auto& p : desired_->policies) {
    size_t selected = 0;
    for (const auto& w : desired_->workloads)
      if (w.meta.ns == p.meta.ns && p.selector.matches(w.meta.labels)) selected++;
    std::string types = std::string(p.ingress ? "ingress" : "") + (p.ingress && p.egress ? "," : "") +
                        (p.egress ? "egress" : "");
    out.push_back({{"kind", p.kind_name()},
                   {"namespace", p.meta.ns},
                   {"name", p.meta.name},
                   {"mode", p.audit ? "audit" : "enforce"},
                   {"directions", types},
                   {"selector", p.selector.str()},
                   {"selected", selected},
                   {"rules", p.allow_in.size() + p.allow_out.size() + p.deny_in.size() + p.deny_out.size()}});
  }
  return out;
}

json Agent::policy(const std::string& ref) const {
  std::lock_guard lock(mu_);
  for (const auto& p : desired_->policies)
    if (p.ref() == ref || p.meta.ns + "/" + p.meta.name == ref || p.meta.name == ref) {
      json rules = json::array();
      for (const auto& [id, info] : compiled_->rules)
        if (info.policy() == p.ref()) rules.push_back({{"id", id}, {"rule", info.str()}});
      return {{"object", p.ref()}, {"document", p.meta.document.str()}, {"rules", rules}};
    }
  throw Error("no policy " + ref);
}

json Agent::workloads() const {
  std::lock_guard lock(mu_);
  json out = json::array();
  for (const auto& w : desired_->workloads) {
    json ips = json::array();
    for (const auto& ip : w.ips) ips.push_back(ip.str());
    uint32_t identity = 0;
    for (const auto& [id, ci] : compiled_->identities)
      if (std::find(ci.workloads.begin(), ci.workloads.end(), w.meta.ns + "/" + w.meta.name) != ci.workloads.end())
        identity = id;
    json j = {{"namespace", w.meta.ns}, {"name", w.meta.name}, {"identity", identity},
              {"labels", w.meta.labels}, {"interface", w.interface}, {"ips", ips},
              {"attach", attach_kind_name(w.attach)}};
    if (auto it = compiled_->endpoints.find(w.interface); !w.interface.empty() && it != compiled_->endpoints.end()) {
      j["ingress"] = mode_name(it->second.mode[ZS_DIR_INGRESS]);
      j["egress"] = mode_name(it->second.mode[ZS_DIR_EGRESS]);
      j["attached"] = attached_.count(w.interface) > 0;
    }
    out.push_back(j);
  }
  return out;
}

json Agent::identities() const {
  std::lock_guard lock(mu_);
  json out = json::array();
  for (uint32_t id : {ZS_ID_HOST, ZS_ID_WORLD, ZS_ID_QUARANTINE})
    out.push_back({{"identity", id}, {"name", identity_name(id)}, {"reserved", true}});
  for (const auto& [id, ci] : compiled_->identities)
    out.push_back({{"identity", id}, {"labels", ci.labels}, {"workloads", ci.workloads}, {"cidr", ci.cidr},
                   {"reserved", false}});
  return out;
}

json Agent::telemetry_status() const {
  const TelemetryCounters& t = telemetry_->counters();
  return {{"node", config_.node_name},
          {"flow_log", config_.flow_log},
          {"ipfix_collector", config_.ipfix_collector},
          {"metrics_listen", config_.metrics_listen},
          {"events", t.events.load()},
          {"events_lost", dp_->counter(ZS_CTR_EVENTS_LOST).packets},
          {"deny_events_suppressed", dp_->counter(ZS_CTR_EVENTS_SUPPRESSED).packets},
          {"flows_started", t.flows_started.load()},
          {"flows_ended", t.flows_ended.load()},
          {"flows_live", t.live_flows.load()},
          {"denies", t.denies.load()},
          {"stream_lines_dropped", telemetry_->hub().streams_dropped()},
          {"detection", detection_status()}};
}

json Agent::detection_status() const {
  auto b = analyzer_->baseline_status();
  std::string auto_quarantine;
  for (const auto& [detector, rank] : config_.auto_quarantine.detectors)
    auto_quarantine += (auto_quarantine.empty() ? "" : ",") + detector + ":" + severity_name(rank);
  json j = {{"alert_log", config_.alert_log},
            {"alert_webhook", config_.alert_webhook},
            {"auto_quarantine", auto_quarantine},
            {"quarantines", desired_->quarantines.size()},
            {"records_skipped", analyzer_->records_skipped()},
            {"baseline_edges", b.edges},
            {"baseline_services", b.services},
            {"learning", b.learning_ends_ns == 0 || realtime_now_ns() < b.learning_ends_ns}};
  if (b.learning_ends_ns) j["learning_ends"] = format_rfc3339(b.learning_ends_ns);
  return j;
}

json Agent::status() const {
  std::lock_guard lock(mu_);
  json pending = json::array();
  for (const auto& [ifname, ep] : compiled_->endpoints)
    if (!if_nametoindex(ifname.c_str())) pending.push_back(ifname);
  return {{"pid", getpid()},
          {"socket", config_.socket},
          {"bpf_pin_dir", config_.pin_dir},
          {"state_dir", config_.state_dir},
          {"revision", dp_->generation()},
          {"objects",
           {{"workloads", desired_->workloads.size()},
            {"namespaces", desired_->namespaces.size()},
            {"policies", desired_->policies.size()}}},
          {"identities", compiled_->identities.size()},
          {"policy_entries", compiled_->policy.size()},
          {"waiting_for_interfaces", pending},
          {"telemetry", telemetry_status()}};
}

std::string Agent::metrics() const {
  AgentMetrics a;
  {
    std::lock_guard lock(mu_);
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
  write_telemetry_metrics(w, t);
  write_map_metrics(w, *dp_, t.conntrack4_entries.load(), t.conntrack6_entries.load());
  write_agent_metrics(w, a);
  write_detection_metrics(w, *analyzer_, webhook_);
  return w.text();
}

void Agent::uninstall(const AgentConfig& config) {
  if (Datapath::is_pinned(config.pin_dir)) {
    auto dp = Datapath::open_pinned(config.pin_dir);
    dp->lock_writers("zeroseg agent");
    for (const auto& [ifindex, v] : dp->endpoints().entries())
      if (!ifname_of(ifindex).empty()) detach(ifindex);
  }
  Datapath::unpin(config.pin_dir);
}

}  // namespace zeroseg
