// SPDX-License-Identifier: Apache-2.0
// StateFiles: the agent's state directory, what it reads at start and
// writes after each commit.
//
//   desired.yaml + desired.log   the desired objects: a snapshot, and the
//                                applies and deletes since, one record each
//   identities.json              label sets -> identities
//   rules.json + rules.log       rule ids, and their changes since
//   quarantine.json              quarantines in force
//
// A change appends its record (a few kB, where the snapshot of 10k objects
// is megabytes); the snapshot is written again, and the log emptied, when
// the log outgrows 4 MiB, and at start. Replaying the log on a snapshot
// that already holds it changes nothing, so a crash between the two is safe.
#pragma once

#include <cstdint>
#include <string>

#include "common/state_store.h"
#include "identity/allocator.h"
#include "policy/objects.h"

namespace zeroseg {

// A desired.log record: "apply" or "delete", then the objects' YAML.
std::string log_record(const char* what, const ObjectSet& objects);

class StateFiles {
 public:
  explicit StateFiles(const std::string& dir) : store_(dir) {}

  struct Loaded {
    ObjectSet desired;            // quarantines included
    size_t desired_records = 0;   // desired.log records replayed
    size_t rule_records = 0;      // rules.log records replayed
  };
  // Reads the directory back: the allocators get their numbers, the
  // desired objects are returned. Throws Error naming the file.
  Loaded load(LocalIdentityAllocator& identities, RuleIdAllocator& rule_ids) const;

  // Writes what changed since the last call: `record` (log_record(), "" when
  // the objects did not change), the identities, rule ids and quarantines.
  void persist(const std::string& record, const ObjectSet& desired, const LocalIdentityAllocator& identities,
               RuleIdAllocator& rule_ids);
  // desired.yaml anew, desired.log emptied.
  void write_snapshot(const ObjectSet& desired);
  // rules.json anew, rules.log emptied.
  void write_rule_ids(RuleIdAllocator& rule_ids);

  const std::string& dir() const { return store_.dir(); }

 private:
  StateStore store_;
  struct Persisted {  // what persist() last wrote, to skip what did not change
    uint64_t identities = ~0ull, rules = ~0ull;
    std::string quarantines = "-";
  };
  Persisted persisted_;
};

}  // namespace zeroseg
