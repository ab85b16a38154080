// SPDX-License-Identifier: Apache-2.0
// Pod churn written incrementally (compile_workloads +
// Reconciler::reconcile_workloads) leaves the real maps exactly as a whole
// compile and a whole reconcile of the same state do, after each step of a
// seeded random sequence (tests/unit/churn_states.h). Two datapaths, each
// in a network namespace of its own with the same interfaces (so the
// same ifindexes: endpoints and source entries compare as they are); every
// map's active slot dumped and compared after every step.
// Privileged: BPF maps and programs, network namespaces.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <string>
#include <thread>

#include "agent/reconciler.h"
#include "churn_states.h"
#include "loader/datapath.h"
#include "loader/slot_access.h"
#include "policy/compiler.h"
#include "policy/object_merge.h"
#include "policy/yaml_reader.h"
#include "privileged.h"

namespace zeroseg {
namespace {

constexpr uint32_t kSeed = 20261202;

// name -> (key bytes -> active slot bytes), for every map reconcile writes
using Dump = std::map<std::string, std::map<std::string, std::string>>;

template <class M>
void dump_map(const M& map, int slot, std::map<std::string, std::string>& out) {
  for (auto& [k, v] : map.entries()) {
    const auto& s = slot_ref(v, slot);
    if (slot_empty(s)) continue;
    out[std::string(reinterpret_cast<const char*>(&k), sizeof(k))] =
        std::string(reinterpret_cast<const char*>(&s), sizeof(s));
  }
}

Dump dump(const Datapath& dp) {
  Dump d;
  int slot = dp.active_slot();
  dump_map(dp.endpoints(), slot, d["zs_endpoints"]);
  dump_map(dp.ipcache(), slot, d["zs_ipcache"]);
  dump_map(dp.policy(), slot, d["zs_policy"]);
  dump_map(dp.sources(), slot, d["zs_sources"]);
  dump_map(dp.source_prefixes(), slot, d["zs_source_prefixes"]);
  return d;
}

// Runs f on a thread of its own in a fresh network namespace holding a
// veth per name (created in order: the same ifindexes in each). The
// namespace goes with the thread: nothing is left behind.
void in_fresh_netns(const std::vector<std::string>& links, const std::function<void()>& f) {
  std::string error;
  std::thread t([&] {
    if (unshare(CLONE_NEWNET) != 0) {
      error = std::string("unshare: ") + std::strerror(errno);
      return;
    }
    for (const auto& l : links)
      if (std::system(("ip link add " + l + " type veth peer name " + l + "p && ip link set " + l + " up").c_str()) !=
          0) {
        error = "ip link add " + l + " failed";
        return;
      }
    f();
  });
  t.join();
  ASSERT_EQ(error, "");
}

TEST(ChurnMapsTest, IncrementalChurnLeavesTheMapsAsAWholeReconcile) {
  ZS_REQUIRE_ROOT("to load BPF programs and make network namespaces");
  std::printf("seed %u\n", kSeed);
  const std::string tag = "zs-c" + std::to_string(getpid() % 10000) + "-";
  const churn::Sequence seq(kSeed, 200, tag);
  std::vector<std::string> links;
  for (int s = 0; s < churn::Sequence::kSlots; s += 3) links.push_back(tag + std::to_string(s));

  // the compiles, as the agent makes them: incremental where it can
  std::vector<Compiled> inc, whole;
  std::vector<char> churned;  // 1: compile_workloads, 2: compile_policies, 0: whole
  {
    LocalIdentityAllocator ids;
    RuleIdAllocator rules;
    inc.push_back(PolicyCompiler(ids, rules).compile(seq.states[0]));
    churned.push_back(0);
    for (size_t k = 1; k < seq.states.size(); k++) {
      LocalIdentityAllocator ids_whole = ids;
      RuleIdAllocator rules_whole = rules;
      whole.push_back(PolicyCompiler(ids_whole, rules_whole).compile(seq.states[k]));
      auto quick = PolicyCompiler(ids, rules).compile_workloads(seq.states[k], seq.states[k - 1], inc.back());
      churned.push_back(quick ? 1 : 0);
      if (quick) {
        std::set<uint32_t> live;
        for (const auto& [id, ci] : quick->identities) live.insert(id);
        ids.release_unused(live);
      } else {
        ids = ids_whole;
        rules = rules_whole;
        quick = PolicyCompiler(ids, rules).compile_policies(seq.states[k], seq.states[k - 1], inc.back());
        churned.back() = quick ? 2 : 0;
        if (!quick) quick = PolicyCompiler(ids, rules).compile(seq.states[k]);
      }
      inc.push_back(std::move(*quick));
    }
    whole.insert(whole.begin(), inc[0]);
  }
  ASSERT_GT(std::count(churned.begin(), churned.end(), 1), 150);

  auto run = [&](const std::string& pin_dir, bool incremental, std::vector<Dump>& dumps) {
    in_fresh_netns(links, [&] {
      auto dp = Datapath::load({.pin_dir = pin_dir, .pin = false});  // private maps: nothing left pinned
      {
        Reconciler r(*dp);
        r.reconcile(inc[0]);
        dumps.push_back(dump(*dp));
        for (size_t k = 1; k < inc.size(); k++) {
          if (!incremental)
            r.reconcile(whole[k]);
          else if (churned[k] == 1)
            r.reconcile_workloads(inc[k], inc[k - 1]);
          else if (churned[k] == 2)
            r.reconcile_policy(inc[k]);
          else
            r.reconcile(inc[k]);
          dumps.push_back(dump(*dp));
        }
        r.reconcile(Compiled{});  // detaches what it attached
      }
    });
  };
  std::vector<Dump> got, want;
  run("/sys/fs/bpf/zs-ut-churn-inc-" + std::to_string(getpid()), true, got);
  run("/sys/fs/bpf/zs-ut-churn-whole-" + std::to_string(getpid()), false, want);
  ASSERT_EQ(got.size(), seq.states.size());
  ASSERT_EQ(want.size(), seq.states.size());
  size_t endpoints_seen = 0;
  for (size_t k = 0; k < got.size(); k++) {
    endpoints_seen += want[k]["zs_endpoints"].size();
    for (const auto& [map, entries] : want[k]) {
      const auto& mine = got[k][map];
      ASSERT_EQ(mine.size(), entries.size()) << "seed " << kSeed << " step " << k << ": " << map << " entries";
      ASSERT_TRUE(mine == entries) << "seed " << kSeed << " step " << k << ": " << map << " differs";
    }
  }
  EXPECT_GT(endpoints_seen, 0u);  // the endpoints and their source entries were compared too
}

// Attack review 5: a pod's interface usually goes before its workload
// object does (the runtime deletes the veth, then the workload is deleted).
// The incremental write found no ifindex for the gone interface and
// skipped it: its endpoint entry, its own-address entry and, on every
// uplink, its address's local-workload entry stayed in the maps until a
// whole reconcile. The uplink then still takes flows in to that address as
// a local workload's (in no share of its own: zs_ct_inner_workload) that
// no workload interface will ever charge or refuse, so a peer the uplink
// lets in fills conntrack past the uplink's share; and a source with that
// address is dropped on the uplink as spoofed. Failed before the fix: 2
// entries of 10.1.0.1 left in zs_sources, 2 endpoints.
TEST(ChurnMapsTest, AWorkloadDeletedAfterItsInterfaceLeavesNoEntries) {
  ZS_REQUIRE_ROOT("to load BPF programs and make network namespaces");
  const std::string tag = "zs-g" + std::to_string(getpid() % 10000) + "-";
  const std::string a_yaml = "---\napiVersion: zeroseg.io/v1\nkind: Workload\nmetadata: {name: a, namespace: ns, "
                             "labels: {app: a}}\nspec: {interface: " + tag + "a, ips: [10.1.0.1]}\n";
  const ObjectSet before = load_yaml(churn::namespaces_yaml() +
                                         "---\napiVersion: zeroseg.io/v1\nkind: Workload\nmetadata: {name: up, "
                                         "namespace: ns}\nspec: {interface: " + tag + "up, attach: host, ips: [10.78.0.1]}\n" +
                                         a_yaml,
                                     "s.yaml");
  ObjectSet after = before;
  MergeOutcome o;
  remove_objects(after, load_yaml(a_yaml, "a.yaml"), o);
  ASSERT_EQ(after.workloads.size(), 1u);
  in_fresh_netns({tag + "up", tag + "a"}, [&] {
    auto dp = Datapath::load({.pin_dir = "/sys/fs/bpf/zs-ut-churn-gone-" + std::to_string(getpid()), .pin = false});
    auto entries_of_a = [&] {
      size_t n = 0;
      int slot = dp->active_slot();
      for (auto& [k, v] : dp->sources().entries())
        if (slot_ref(v, slot) && k.family == ZS_FAMILY_IPV4 && k.addr[0] == htonl(0x0a010001)) n++;
      return n;
    };
    auto endpoints = [&] {
      size_t n = 0;
      int slot = dp->active_slot();
      for (auto& [k, v] : dp->endpoints().entries()) n += !slot_empty(slot_ref(v, slot));
      return n;
    };
    {
      LocalIdentityAllocator ids;
      RuleIdAllocator rules;
      Reconciler r(*dp);
      Compiled c0 = PolicyCompiler(ids, rules).compile(before);
      r.reconcile(c0);
      EXPECT_EQ(entries_of_a(), 2u) << "a's own address on its interface, and local on the uplink";
      EXPECT_EQ(endpoints(), 2u);
      ASSERT_EQ(std::system(("ip link del " + tag + "a").c_str()), 0);
      auto c1 = PolicyCompiler(ids, rules).compile_workloads(after, before, c0);
      ASSERT_TRUE(c1) << "a plain workload gone: the incremental path";
      r.reconcile_workloads(*c1, c0);
      EXPECT_EQ(entries_of_a(), 0u) << "a's address is still a local workload's in zs_sources";
      EXPECT_EQ(endpoints(), 1u) << "a's endpoint entry stayed";
      r.reconcile(Compiled{});
    }
  });
}

}  // namespace
}  // namespace zeroseg
