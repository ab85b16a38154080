// SPDX-License-Identifier: Apache-2.0
// Identities numbered cluster-wide in etcd: the same label set gets the same
// number on every node. Under /zeroseg/v1/identities/:
//   by-key/KEY  -> NUMBER        (KEY: the label set, name=value lines, escaped)
//   by-id/NUMBER -> LABELS JSON  (for `identity list` and a node that sees only the number)
//   next        -> NUMBER        (the lowest number never handed out)
//   used-by/NUMBER/NODE -> ""    (NODE uses NUMBER: written under NODE's lease)
//   unused/NUMBER -> UNIX SECONDS (no node has used NUMBER since then)
// A new key is numbered by one transaction that commits only if the key is
// still absent and `next` is unchanged since this node last saw it
// (compare-and-swap; failing, the transaction reads both back): two
// nodes numbering the same new key at once end with one number (the loser
// reads the winner's), and two keys never get one number.
//
// Release: every node keeps a used-by key under its lease for each number
// it uses (written in the transaction that hands it the number, or for a
// number learned under Learning at the next lease beat, and again from its
// compiled state at each beat: report_usage). A number that
// no used-by key names (its nodes stopped using it, or died and their
// leases ran out) is marked unused; after `grace` seconds still unused, a
// sweep deletes its by-key and by-id keys in one transaction that compares
// that no used-by key appeared and the mark is the one it read, so a node
// that wrote its use meanwhile keeps it. A later user of the label set
// gets a new number: numbers are never handed out twice (`next` only grows),
// so a node that still holds an old number never means another label set.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <zeroseg/identity.h>

#include "identity/allocator.h"
#include "sources/etcd_client.h"

namespace zeroseg {

inline constexpr const char* kClusterIdentityPrefix = "/zeroseg/v1/identities/";

// One number as etcd holds it (`zeroseg cluster status`): its label set, the
// nodes whose used-by keys name it, and since when (Unix seconds) it has been
// marked unused, its release pending (0: not marked).
struct ClusterIdentity {
  uint32_t number = 0;
  Labels labels;
  std::vector<std::string> nodes;
  int64_t unused_since = 0;
};
// Every number under `prefix`, read in one transaction (one revision).
// Error: why etcd could not be read.
etcd::Result<std::vector<ClusterIdentity>> list_cluster_identities(etcd::Client& client,
                                                                   const std::string& prefix = kClusterIdentityPrefix);

// A number as etcd holds it (decimal, no leading zero, allocatable); none otherwise.
std::optional<uint32_t> parse_identity_number(const std::string& s);

class IdentityMirror;

class EtcdIdentityAllocator : public IdentityAllocator {
 public:
  // client: shared with the node's other cluster users; prefix: tests use their own.
  explicit EtcdIdentityAllocator(std::shared_ptr<etcd::Client> client,
                                 std::string prefix = kClusterIdentityPrefix);

  // The node whose used-by keys this allocator writes ("": none, as before
  // cluster mode knew leases), and the lease they go with.
  void set_node(std::string node);
  // Writes every used-by key of this node again under `lease` (a new lease
  // after the old one ran out). Error: why not.
  etcd::Result<int64_t> set_lease(int64_t lease);
  // This node uses exactly `in_use` (its committed state's numbers): used-by
  // keys written for those that lack one, deleted for the others, but for
  // numbers handed out since the last report (a compile in flight).
  etcd::Result<int64_t> report_usage(const std::set<uint32_t>& in_use);
  // Marks numbers no node uses; deletes those marked at least grace_seconds
  // before now_seconds (and still unused). The numbers released.
  etcd::Result<std::vector<uint32_t>> sweep(int64_t grace_seconds, int64_t now_seconds);

  // The key's number, from the cache, the mirror (under Learning) or etcd;
  // throws Error (naming etcd and why) when etcd cannot be reached: a
  // compile that needs a new identity then fails whole, changing nothing.
  uint32_t allocate(const Labels& labels) override;

  // While one lives on a thread, that thread's allocations are of label sets
  // etcd most likely numbers already: those of a change read from the watch
  // (ClusterMode::apply_here), which the node that wrote it numbered first
  // (its apply's dry run, not under Learning). Such a number is taken from
  // the mirror, else read (no write, no fsync); this node's use of it is
  // written at the next lease beat (report_usage), not in the change's
  // path. That is safe because the writing node's own use (its claim's
  // used-by key, under its lease) holds the number until then; a release
  // in between (a writer that is no node, e.g. etcdctl, of a label set
  // unused past the grace) leaves this node with the label set under an
  // old number, never another set's (identity_mirror.h). An apply through
  // this node keeps the write in its path: its use is recorded before its
  // workload is. A flag of the thread: allocate() is reached through
  // LocalIdentityAllocator and the compiler, which have no parameter for it.
  class Learning {
   public:
    Learning();
    ~Learning();
    Learning(const Learning&) = delete;
    Learning& operator=(const Learning&) = delete;

   private:
    bool was_;
  };
  // Where Learning looks before etcd: the numbers a watch of by-key/ keeps
  // (null: etcd only). Set by cluster mode, which runs the mirror.
  void set_mirror(std::shared_ptr<const IdentityMirror> mirror);
  // How the numbers this allocator did not have came (etcd_churn_bench):
  // from the mirror, read under Learning, or by a claim's transactions.
  struct Sources {
    uint64_t mirror = 0, read = 0, claimed = 0;
  };
  Sources sources() const;
  // Forgets numbers this node no longer uses (its cache only; what etcd
  // keeps is report_usage's and sweep's).
  void release_unused(const std::set<uint32_t>& in_use) override;
  std::map<uint32_t, Labels> all() const override;

  // The etcd key of a label set (by-key/...), for tests and `cluster status`.
  std::string key_path(const Labels& labels) const;
  const std::string& prefix() const { return prefix_; }

 private:
  std::string used_key(uint32_t number) const;
  // From a claim's reads (or a plain read): `next` kept for the next claim,
  // and the key's number (nullopt: not numbered). Under mu_.
  std::optional<uint32_t> read_back(const etcd::TxnResult& done, const std::string& path, const Labels& labels);
  std::shared_ptr<etcd::Client> client_;
  std::string prefix_;
  mutable std::mutex mu_;
  std::string node_;      // under mu_
  int64_t lease_ = 0;     // under mu_
  std::set<uint32_t> reported_, fresh_;  // used-by keys written; numbers handed out since the last report
  std::map<std::string, uint32_t> by_key_;
  std::map<uint32_t, Labels> by_id_;
  std::shared_ptr<const IdentityMirror> mirror_;  // under mu_
  Sources sources_;                                // under mu_
  // `next` as last seen in etcd, which allocate claims in one round trip:
  // next_seen_ its value (ZS_ID_FIRST_ALLOCATED when absent, never read
  // or no number; UINT32_MAX: every number taken, allocate only reads),
  // next_mod_ its mod revision (0: claim only while `next` is absent)
  uint32_t next_seen_ = ZS_ID_FIRST_ALLOCATED;
  int64_t next_mod_ = 0;
};

}  // namespace zeroseg
