// SPDX-License-Identifier: Apache-2.0
#include "agent/state_files.h"

#include <nlohmann/json.hpp>

#include "common/error.h"
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

namespace {

// Replays desired.log's records onto the snapshot's objects; returns how many.
size_t replay_log(const StateStore& store, ObjectSet& state) {
  auto records = store.read_records(kDesiredLog);
  for (size_t i = 0; i < records.size(); i++) {
    const std::string& rec = records[i];
    size_t eol = rec.find('\n');
    std::string what = rec.substr(0, eol);
    ObjectSet objects = load_yaml(eol == std::string::npos ? "" : rec.substr(eol + 1),
                                  store.dir() + "/" + kDesiredLog + " record " + std::to_string(i + 1));
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

StateFiles::Loaded StateFiles::load(LocalIdentityAllocator& identities, RuleIdAllocator& rule_ids) const {
  using nlohmann::json;
  Loaded out;
  if (auto ids = store_.read("identities.json"); !ids.empty()) identities.from_json(json::parse(ids));
  if (auto rules = store_.read("rules.json"); !rules.empty()) rule_ids.from_json(json::parse(rules));
  auto rule_records = store_.read_records(kRulesLog);
  for (const auto& rec : rule_records) rule_ids.apply_log(rec);
  out.rule_records = rule_records.size();
  if (auto desired = store_.read("desired.yaml"); !desired.empty())
    out.desired = load_yaml(desired, store_.dir() + "/desired.yaml");
  out.desired_records = replay_log(store_, out.desired);
  if (auto q = store_.read("quarantine.json"); !q.empty())
    out.desired.quarantines = quarantines_from_text(q, store_.dir() + "/quarantine.json");
  return out;
}

void StateFiles::write_snapshot(const ObjectSet& desired) {
  std::string docs;
  for (const auto& n : desired.namespaces) append_document(docs, n.meta);
  for (const auto& w : desired.workloads) append_document(docs, w.meta);
  for (const auto& p : desired.policies) append_document(docs, p.meta);
  store_.write("desired.yaml", docs);
  store_.remove(kDesiredLog);
}

void StateFiles::write_rule_ids(RuleIdAllocator& rule_ids) {
  store_.write("rules.json", rule_ids.to_json().dump(1));
  store_.remove(kRulesLog);
  rule_ids.take_log();  // all in the file now
  persisted_.rules = rule_ids.changes();
}

void StateFiles::persist(const std::string& record, const ObjectSet& desired,
                         const LocalIdentityAllocator& identities, RuleIdAllocator& rule_ids) {
  if (!record.empty() && store_.append_record(kDesiredLog, record) > kCompactLogBytes) write_snapshot(desired);
  // the rest only when it changed
  if (persisted_.identities != identities.changes()) {
    store_.write("identities.json", identities.to_json().dump(1));
    persisted_.identities = identities.changes();
  }
  // rule ids: their changes appended to rules.log (100k ids are 4.7 MB of
  // JSON), the whole file rewritten when the log grows past it
  if (persisted_.rules != rule_ids.changes()) {
    std::string log = rule_ids.take_log();
    if (!store_.exists("rules.json") || log.size() > kCompactLogBytes ||
        (!log.empty() && store_.append_record(kRulesLog, log) > kCompactLogBytes))
      write_rule_ids(rule_ids);
    persisted_.rules = rule_ids.changes();
  }
  std::string quarantines = quarantines_to_text(desired.quarantines);
  if (persisted_.quarantines != quarantines) {
    store_.write("quarantine.json", quarantines);
    persisted_.quarantines = std::move(quarantines);
  }
}

}  // namespace zeroseg
