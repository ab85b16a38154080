// SPDX-License-Identifier: Apache-2.0
#include "agent/state_files.h"

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/log.h"
#include "detect/quarantine.h"
#include "policy/object_merge.h"
#include "policy/yaml_reader.h"

namespace zeroseg {
namespace {

constexpr const char* kDesiredLog = "desired.log";
// rules.json's changes since it was written (RuleIdAllocator::take_log)
constexpr const char* kRulesLog = "rules.log";
constexpr size_t kCompactLogBytes = 4u << 20;

void append_document(std::string& out, const ObjectMeta& m) { out += "---\n" + m.document.str() + "\n"; }

}  // namespace

std::string log_record(const char* what, const ObjectSet& objects) {
  std::string r = std::string(what) + "\n";
  for (const auto& n : objects.namespaces) append_document(r, n.meta);
  for (const auto& w : objects.workloads) append_document(r, w.meta);
  for (const auto& p : objects.policies) append_document(r, p.meta);
  return r;
}

std::string quarantine_record(const std::vector<Quarantine>& quarantines) {
  return "quarantines\n" + quarantines_to_text(quarantines);
}

namespace {

// Replays desired.log's records onto the snapshot's objects; returns how many.
size_t replay_log(const StateStore& store, ObjectSet& state) {
  auto records = store.read_records(kDesiredLog);
  for (size_t i = 0; i < records.size(); i++) {
    const std::string& rec = records[i];
    size_t eol = rec.find('\n');
    std::string what = rec.substr(0, eol), body = eol == std::string::npos ? "" : rec.substr(eol + 1);
    const std::string where = store.dir() + "/" + kDesiredLog + " record " + std::to_string(i + 1);
    if (what == "quarantines") {
      state.quarantines = quarantines_from_text(body, where);
      continue;
    }
    ObjectSet objects = load_yaml(body, where);
    std::vector<std::pair<std::string, std::string>> ignored;
    if (what == "apply") {
      merge_objects(state, objects, ignored);
    } else if (what == "delete") {
      remove_objects(state, objects, ignored);
    } else {
      throw Error(store.dir() + "/" + kDesiredLog + " record " + std::to_string(i + 1) + ": unknown change \"" +
                  what + "\"");
    }
  }
  return records.size();
}

}  // namespace

namespace {

nlohmann::json parse_json(const std::string& text, const std::string& path) {
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw Error(path + ": not valid JSON: " + e.what());
  }
}

}  // namespace

StateFiles::Loaded StateFiles::load(LocalIdentityAllocator& identities, RuleIdAllocator& rule_ids) const {
  Loaded out;
  const std::string& dir = store_.dir();
  if (auto ids = store_.read("identities.json"); !ids.empty())
    identities.from_json(parse_json(ids, dir + "/identities.json"));
  if (auto rules = store_.read("rules.json"); !rules.empty()) rule_ids.from_json(parse_json(rules, dir + "/rules.json"));
  auto rule_records = store_.read_records(kRulesLog);
  for (const auto& rec : rule_records) rule_ids.apply_log(rec);
  out.rule_records = rule_records.size();
  if (auto desired = store_.read("desired.yaml"); !desired.empty()) out.desired = load_yaml(desired, dir + "/desired.yaml");
  // the snapshot's quarantines, then the log's changes to them
  if (auto q = store_.read("quarantine.json"); !q.empty())
    out.desired.quarantines = quarantines_from_text(q, dir + "/quarantine.json");
  out.desired_records = replay_log(store_, out.desired);
  return out;
}

void StateFiles::write_snapshot(const ObjectSet& desired) {
  std::string docs;
  for (const auto& n : desired.namespaces) append_document(docs, n.meta);
  for (const auto& w : desired.workloads) append_document(docs, w.meta);
  for (const auto& p : desired.policies) append_document(docs, p.meta);
  store_.write("desired.yaml", docs);
  store_.write("quarantine.json", quarantines_to_text(desired.quarantines));
  store_.remove(kDesiredLog);
  persisted_.desired_log = 0;
}

void StateFiles::write_rule_ids(RuleIdAllocator& rule_ids) {
  store_.write("rules.json", rule_ids.to_json().dump(1));
  store_.remove(kRulesLog);
  rule_ids.take_log();  // all in the file now
  persisted_.rules = rule_ids.changes();
  persisted_.rules_lost = false;
}

StateFiles::Pending StateFiles::begin(const std::string& record, bool durable) {
  Pending p = store_.append_record(kDesiredLog, record, true, durable);
  persisted_.desired_log = p.size;
  unsynced_ = !durable;  // a durable write's fdatasync took the whole file's
  return p;
}

void StateFiles::commit(const Pending& pending, bool durable) {
  store_.commit_record(kDesiredLog, pending, durable);
  unsynced_ = !durable;
}

bool StateFiles::flush() {
  bool rules = rules_unsynced_.exchange(false), desired = unsynced_.exchange(false);
  if (!rules && !desired) return false;
  if (rules) {
    try {
      store_.sync(kRulesLog);
    } catch (...) {
      // a failed fdatasync may have dropped the pages it could not write
      // (a second one then "succeeds"): the next change writes rules.json whole
      rules_rewrite_ = true;
      if (desired) unsynced_ = true;
      throw;
    }
  }
  if (desired) {
    try {
      store_.sync(kDesiredLog);
    } catch (...) {
      unsynced_ = true;
      throw;
    }
  }
  return true;
}

void StateFiles::abandon(const Pending& pending) {
  store_.cut(kDesiredLog, pending.offset);
  persisted_.desired_log = pending.offset;
}

void StateFiles::persist(const ObjectSet& desired, const LocalIdentityAllocator& identities, RuleIdAllocator& rule_ids,
                         bool durable) {
  // The desired objects are safe in desired.log already: what fails here
  // is tried again at the next commit, and a start redoes the numbering.
  auto attempt = [&](const char* what, auto&& f) {
    try {
      f();
    } catch (const std::exception& e) {
      log::warn(std::string("state directory: ") + what + ": " + e.what() + " (tried again at the next change)");
    }
  };
  if (persisted_.desired_log > kCompactLogBytes) attempt("snapshot", [&] { write_snapshot(desired); });
  if (persisted_.identities != identities.changes()) {
    auto numbers = std::make_shared<const SharedMap<uint32_t, Labels>>(identities.numbers());
    std::lock_guard lock(deferred_mu_);
    deferred_identities_ = std::move(numbers);
    persisted_.identities = identities.changes();
  }
  // rule ids: their changes appended to rules.log (100k ids are 4.7 MB of
  // JSON), the whole file rewritten when the log grows past it
  const bool resync = rules_rewrite_.exchange(false);  // once: a failing disk is not rewritten at every change
  if (resync) persisted_.rules_lost = true;
  if (persisted_.rules != rule_ids.changes() || resync) {
    attempt("rule ids", [&] {
      if (persisted_.rules_lost || !store_.exists("rules.json")) return write_rule_ids(rule_ids);
      std::string log = rule_ids.take_log();
      persisted_.rules_lost = true;  // taken: until it is in the file, only a whole rewrite has it
      if (log.size() > kCompactLogBytes ||
          (!log.empty() && store_.append_record(kRulesLog, log, false, durable).size > kCompactLogBytes))
        return write_rule_ids(rule_ids);
      if (!log.empty() && !durable) rules_unsynced_ = true;
      persisted_.rules = rule_ids.changes();
      persisted_.rules_lost = false;
    });
  }
}

void StateFiles::write_deferred() {
  std::shared_ptr<const SharedMap<uint32_t, Labels>> numbers;
  {
    std::lock_guard lock(deferred_mu_);
    numbers = deferred_identities_;
  }
  if (!numbers) return;
  try {
    nlohmann::json j = nlohmann::json::object();  // as LocalIdentityAllocator::to_json
    for (const auto& [id, labels] : *numbers) j[std::to_string(id)] = labels;
    store_.write("identities.json", j.dump(1));
  } catch (const std::exception& e) {
    log::warn(std::string("state directory: identities: ") + e.what() + " (tried again in a second)");
    return;
  }
  std::lock_guard lock(deferred_mu_);
  if (deferred_identities_ == numbers) deferred_identities_.reset();  // else: newer numbers came meanwhile
}

}  // namespace zeroseg
