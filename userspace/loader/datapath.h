// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <zeroseg/config.h>
#include <zeroseg/conntrack.h>
#include <zeroseg/endpoint.h>
#include <zeroseg/ipcache.h>
#include <zeroseg/policy.h>
#include <zeroseg/source.h>
#include <zeroseg/trace.h>
#include <zeroseg/verdict.h>

#include <chrono>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "abi/defaults.h"
#include "abi/kernel_flows.h"
#include "common/handles.h"
#include "loader/conntrack_map.h"
#include "loader/cpu_pass.h"
#include "loader/lookup_plan.h"
#include "loader/map.h"
#include "loader/untracked_tries.h"

namespace zeroseg {

struct DatapathOptions {
  std::string pin_dir = kDefaultPinDir;
  MapSizes sizes;
  bool pin = true;  // false: private maps and programs (tests, benchmarks)
};

// tc_trace is never attached: `policy trace` runs it (include/zeroseg/trace.h)
enum class Program { xdp_ingress, tc_ingress, tc_egress, tc_trace };
const char* program_name(Program p);

class Transaction;

// The loaded datapath: its programs and maps, owned as file descriptors
// whether they were just loaded or opened from their pins. The maps outlive
// any one agent: pinned under pin_dir, they carry policy and conntrack
// across restarts.
class Datapath {
 public:
  // Loads the programs, reusing maps already pinned under pin_dir (so
  // enforced policy and established flows survive an agent restart), and
  // pins new maps and the programs.
  static std::unique_ptr<Datapath> load(const DatapathOptions& options);
  // Opens what a load pinned under pin_dir, loading nothing.
  static std::unique_ptr<Datapath> open_pinned(const std::string& pin_dir);
  // True when pin_dir holds a pinned datapath.
  static bool is_pinned(const std::string& pin_dir);
  // Removes pin_dir's pins (attachments are the caller's to remove first).
  static void unpin(const std::string& pin_dir);
  // For an uninstall, which must work on pins another version made (maps
  // of another layout, or missing: open_pinned refuses those): locks
  // pin_dir as lock_writers does (the lock is held while the returned fd
  // is open) and reads the interfaces the pinned zs_endpoints names, its
  // keys only (none when it or pin_dir is missing).
  static std::vector<uint32_t> pinned_interfaces(const std::string& pin_dir, const std::string& holder_hint,
                                                 UniqueFd& lock);

  Datapath(const Datapath&) = delete;
  Datapath& operator=(const Datapath&) = delete;
  ~Datapath();

  const std::string& pin_dir() const { return pin_dir_; }
  int program_fd(Program p) const;
  const MapRef& map(std::string_view name) const;

  Map<uint32_t, zs_endpoint_value> endpoints() const { return Map<uint32_t, zs_endpoint_value>(map("zs_endpoints")); }
  Map<zs_ipcache_key, zs_ipcache_value> ipcache() const { return Map<zs_ipcache_key, zs_ipcache_value>(map("zs_ipcache")); }
  Map<zs_policy_key, zs_policy_value> policy() const { return Map<zs_policy_key, zs_policy_value>(map("zs_policy")); }
  Map<zs_source_key, zs_source_value> sources() const {
    return Map<zs_source_key, zs_source_value>(map("zs_sources"));
  }
  Map<zs_source_prefix_key, zs_source_prefix_value> source_prefixes() const {
    return Map<zs_source_prefix_key, zs_source_prefix_value>(map("zs_source_prefixes"));
  }
  // The untracked deny's entries packets read in slot (untracked_tries.h).
  UntrackedTrie untracked(int slot) const {
    return UntrackedTrie(Map<zs_untracked_key, zs_untracked_value>(map("zs_untracked")), slot);
  }
  ConntrackMap conntrack() const { return ConntrackMap(map("zs_conntrack4"), map("zs_conntrack6")); }

  // What telemetry reads: the event ring, conntrack and the live config.
  // The Datapath must outlive it.
  KernelFlows kernel_flows() const;

  // The live config (an mmap of the config map).
  const zs_config& config() const { return *config_; }
  uint64_t generation() const;
  // Conntrack lifetimes in seconds without a packet; 0 keeps the current.
  void set_ct_timeouts(uint32_t tcp, uint32_t tcp_closing, uint32_t other, uint32_t tcp_syn_sent = 0,
                       uint32_t tcp_syn_recv = 0);
  // Conntrack entries each share of one endpoint (the flows it opens, the
  // flows opened towards it: zs_ct_usage) may hold in zs_conntrack4 and
  // zs_conntrack6 (0 = no limit); or the same as a percentage of each table
  // (ct-endpoint-share; 100 = no limit).
  void set_ct_endpoint_share_entries(uint32_t entries4, uint32_t entries6);
  void set_ct_endpoint_share(uint32_t percent);
  // Deny events per source and second, and their burst; 0 per second = no limit.
  void set_deny_event_rate(uint32_t per_sec, uint32_t burst);
  // Deny events per CPU and second from all sources together (0: no budget)
  void set_deny_event_budget(uint32_t per_cpu);
  // The slot packets read now.
  int active_slot() const { return static_cast<int>(generation() & 1); }

  // `policy trace`: runs tc_trace (include/zeroseg/trace.h) on one crafted
  // packet as if it arrived on (arriving) or left (!arriving) ifindex, and
  // returns its judgement. Touches no conntrack, counters or events.
  zs_trace_result trace(std::span<const uint8_t> packet, uint32_t ifindex, bool arriving) const;

  // Counter slot idx (zs_counter_extra, ZS_CTR_*) summed over CPUs.
  zs_counter counter(uint32_t idx) const;

  // Serialises writers across processes: an agent holds this for its whole
  // life, a one-off CLI write for one transaction. Throws when held.
  void lock_writers(const std::string& holder_hint);

  // Returns once no program still runs that read the generation before
  // the last flip (an ARRAY_OF_MAPS update waits for an RCU grace period).
  void wait_for_programs() const;
  // The grace period of a flip just made, as a future: a pass over the
  // CPUs (loader/cpu_pass.h: microseconds), run by whoever waits for it
  // first; or, where that cannot prove it, wait_for_programs() on a thread
  // of its own, begun now. ZEROSEG_GRACE_PERIOD=kernel in the environment
  // keeps the kernel's (benchmarks compare the two).
  std::shared_future<void> start_grace_period();
  // Finishes the last commit: once no program reads the slot it retired
  // (an RCU grace period, a few ms), that slot catches up. A commit returns
  // at its flip, when packets see the new state, and leaves this for later:
  // the next transaction runs it first, the agent when it is idle.
  void settle();
  bool settled() const { return !pending_level_; }
  // The per-CPU memos (bpf/lib/verdict_memo.h, ipcache_memo.h,
  // endpoint_memo.h), answers stamped with a generation.
  static constexpr const char* kMemoMaps[] = {"zs_verdict_memo", "zs_ipcache_memo", "zs_endpoint_memo"};
  // Empties the memos (kMemoMaps): done at load; tests that change a
  // policy, ipcache or endpoint entry behind the programs' back (no new
  // generation) call it to see what another cache answers.
  void clear_memos() const;
  void clear_memo(const char* name) const;
  // Empties zs_endpoint_memo unless zs_endpoint_memo_config names this
  // zs_config (its map id), then names it (bpf/lib/endpoint_memo.h): after
  // a rollback to a version that knew no endpoint memo, its slots hold
  // generations of another zs_config.
  void claim_endpoint_memo() const;
  // The last commit's grace period (invalid: none pending), to wait for
  // off the writers' lock; settle() then only levels, once it is ready.
  std::shared_future<void> grace() const { return pending_level_ ? grace_ : std::shared_future<void>(); }
  bool settle_ready() const {
    return !pending_level_ || !grace_.valid() || grace_.wait_for(std::chrono::seconds(0)) == std::future_status::ready;
  }

  // Entry counts per double-buffered map, kept by transactions.
  size_t entries(std::string_view map_name) const;

 private:
  friend class Transaction;
  Datapath() = default;
  void open_maps_from_pins();
  void map_config();
  // Sets key's bit in zs_ipcache_blocks (ipcache.h), before key is written.
  void mark_ipcache_key(const zs_ipcache_key& key);
  // Sets key's form's bit in zs_policy_filter (policy_forms.h), before key is written.
  void mark_policy_key(const zs_policy_key& key);
  // Levels both slots of every entry and counts entries and prefix
  // lengths; the first transaction runs it.
  void repair_and_count();

  std::string pin_dir_;
  std::map<std::string, UniqueFd, std::less<>> map_fds_;
  std::map<std::string, MapRef, std::less<>> maps_;
  std::map<Program, UniqueFd> prog_fds_;
  UniqueMapping config_map_;
  zs_config* config_ = nullptr;  // in config_map_
  UniqueMapping ipcache_filter_map_;
  uint64_t* ipcache_filter_ = nullptr;  // ZS_IPCACHE_FILTER_WORDS, in ipcache_filter_map_
  UniqueMapping policy_filter_map_;
  uint64_t* policy_filter_ = nullptr;  // ZS_POLICY_FILTER_WORDS, in policy_filter_map_
  PrefixLengthUse prefix_use_;
  std::map<std::string, size_t, std::less<>> entry_counts_;
  UniqueFd writer_lock_;
  bool counted_ = false;
  int ncpus_ = 1;
  mutable uint32_t trace_seq_ = 0;  // tells one trace's result from the last
  std::function<void()> pending_level_;  // set by a commit, run by settle()
  std::shared_future<void> grace_;       // the grace period pending_level_ waits for
  std::unique_ptr<CpuPass> cpu_pass_;    // made at the first flip; null: the kernel's grace period
  bool cpu_pass_tried_ = false;
};

}  // namespace zeroseg
