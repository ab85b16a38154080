// SPDX-License-Identifier: Apache-2.0
// StateFiles: the agent's state directory, what it reads at start and
// writes after each commit.
//
//   desired.yaml + desired.log   the desired objects: a snapshot, and the
//                                applies and deletes since, one record each
//   quarantine.json              quarantines in force at the snapshot (their
//                                changes since are desired.log records too)
//   identities.json              label sets -> identities
//   rules.json + rules.log       rule ids, and their changes since
//
// A change is written ahead (docs/ARCHITECTURE.md, "The state directory"):
// its desired.log record, pending and fsynced, before the maps change; the
// record marked committed after. A crash in between forgets it at the next
// start, which converges the maps on what the log holds; a failed write
// leaves the maps alone. Identities and rule ids are numbering the next
// start can redo: written after the commit, a failure there is logged.
// The snapshot is written again, and the log emptied, when the log outgrows
// 4 MiB, and at start. Replaying the log on a snapshot that already holds
// it changes nothing, so a crash between the two is safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "common/state_store.h"
#include "identity/allocator.h"
#include "policy/objects.h"

namespace zeroseg {

// A desired.log record: "apply" or "delete", then the objects' YAML.
std::string log_record(const char* what, const ObjectSet& objects);
// A desired.log record that sets the quarantines: "quarantines", then
// quarantine.json's text.
std::string quarantine_record(const std::vector<Quarantine>& quarantines);

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

  // Write-ahead: appends `record` (log_record()) to desired.log, pending,
  // fsynced. Throws Error, with the log as it was, when it cannot.
  //
  // durable false (cluster mode: the change came from etcd, which holds it
  // durably, and a start relists it): neither write waits for the disk.
  // The record then survives a crash of the agent (the page cache holds
  // it) but not a power loss until flush() (housekeeping, off the lock),
  // and a power loss takes the pinned maps with it anyway: the next start
  // rebuilds them from this directory and etcd's relist (docs/cluster.md).
  using Pending = StateStore::Appended;
  Pending begin(const std::string& record, bool durable = true);
  // The change is in the maps: its record marked committed. Throws Error
  // (the record stays pending: forgotten at the next start).
  void commit(const Pending& pending, bool durable = true);
  // The journal (and rules.log) fsynced when a change was written without;
  // true when it had to be. Throws Error (still to flush: tried again next time). May
  // run on another thread than the changes (housekeeping, off their lock).
  bool flush();
  // The change was not made: its record cut off (stays pending if it cannot be).
  void abandon(const Pending& pending);

  // After a commit: identities, rule ids and, when desired.log outgrew
  // 4 MiB, the snapshot; what fails is logged and tried again next time.
  // identities.json is only handed over here (a SharedMap that shares the
  // allocator's chunks: no label set copied) and
  // written by write_deferred(): numbering a start redoes, and its JSON
  // and fsyncs were a third of a pod churn change's time. durable false
  // (the change was journaled without an fsync): rules.log's append waits
  // for flush() too (a start numbers anew what a crash lost, as it
  // recompiles the change etcd's relist brings back).
  void persist(const ObjectSet& desired, const LocalIdentityAllocator& identities, RuleIdAllocator& rule_ids,
               bool durable = true);
  // Writes what persist() handed over. Off the changes' lock (housekeeping,
  // and before the agent ends); logs what fails and tries it again next time.
  void write_deferred();
  // desired.yaml and quarantine.json anew, desired.log emptied.
  void write_snapshot(const ObjectSet& desired);
  // rules.json anew, rules.log emptied.
  void write_rule_ids(RuleIdAllocator& rule_ids);

  const std::string& dir() const { return store_.dir(); }

 private:
  StateStore store_;
  struct Persisted {  // what persist() last wrote, to skip what did not change
    uint64_t identities = ~0ull, rules = ~0ull;
    bool rules_lost = false;  // a rules.log append failed: rules.json whole next time
    size_t desired_log = 0;   // desired.log's size
  };
  Persisted persisted_;
  std::atomic<bool> unsynced_{false};        // desired.log holds writes not yet fsynced
  std::atomic<bool> rules_unsynced_{false};  // and rules.log
  std::atomic<bool> rules_rewrite_{false};   // its fsync failed: rules.json whole at the next persist()
  std::mutex deferred_mu_;
  std::shared_ptr<const SharedMap<uint32_t, Labels>> deferred_identities_;  // under deferred_mu_
};

}  // namespace zeroseg
