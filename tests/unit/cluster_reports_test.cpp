// SPDX-License-Identifier: Apache-2.0
// applied/NODE reports at a pace (agent/report_pacer.h): at most one a node
// per interval, the newest revision, and never one lost, so that
// `apply --wait-all` still returns once every node applied, and never before.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <random>
#include <thread>

#include "agent/agent.h"
#include "agent/cluster_mode.h"
#include "agent/report_pacer.h"
#include "etcd_server.h"
#include "policy/yaml_reader.h"
#include "privileged.h"
#include "sources/cluster_store.h"

namespace zeroseg {
namespace {

using namespace std::chrono_literals;
using Clock = ReportPacer::Clock;

TEST(ReportPacer, AChangeAfterAQuietIntervalIsReportedAtOnce) {
  ReportPacer p(200ms);
  Clock::time_point t{};
  EXPECT_EQ(p.take(t), 0) << "nothing applied, nothing to report";
  p.applied(7);
  EXPECT_EQ(p.take(t), 7);
  p.written(7);
  EXPECT_FALSE(p.pending());
  p.applied(9);
  EXPECT_EQ(p.take(t + 250ms), 9) << "the last write is older than the interval: no wait";
}

TEST(ReportPacer, ABurstIsReportedOnceAtItsEndWithItsNewestRevision) {
  ReportPacer p(200ms);
  Clock::time_point t{};
  int writes = 0;
  int64_t last = 0;
  // 100 changes 1 ms apart, and the reporter asking after each
  for (int i = 0; i < 100; i++) {
    p.applied(100 + i);
    if (int64_t r = p.take(t + i * 1ms)) {
      EXPECT_GT(r, last);
      last = r;
      p.written(r);
      writes++;
    }
  }
  EXPECT_EQ(writes, 1) << "the first change of the burst, then nothing within the interval";
  EXPECT_TRUE(p.pending()) << "the burst's last changes wait, they are not dropped";
  EXPECT_EQ(p.due(), t + 200ms);
  EXPECT_EQ(p.take(t + 199ms), 0);
  EXPECT_EQ(p.take(t + 200ms), 199) << "the trailing report carries the newest revision";
  p.written(199);
  EXPECT_FALSE(p.pending());
  EXPECT_EQ(p.reported(), 199);
}

TEST(ReportPacer, AFailedWriteIsTriedAgainAfterTheInterval) {
  ReportPacer p(200ms);
  Clock::time_point t{};
  p.applied(5);
  EXPECT_EQ(p.take(t), 5);  // and etcd refused it: no written()
  EXPECT_TRUE(p.pending());
  EXPECT_EQ(p.take(t + 10ms), 0) << "a failing etcd is not asked more often than the pace";
  p.applied(6);
  EXPECT_EQ(p.take(t + 200ms), 6);
  p.written(6);
  EXPECT_FALSE(p.pending());
}

// The lease granted again (after an outage): the applied/NODE key went with
// the old lease, so the newest revision is written again at once, and a
// write begun under the old lease (landing after the grant) counts for
// nothing. The lease's grant wrote the key itself before, from the
// watcher's revision and beside the report thread: an older revision could
// land after a newer one and never be written again (attack review 14).
TEST(ReportPacer, ALeaseGrantedAgainHasTheNewestRevisionWrittenAgainAtOnce) {
  ReportPacer p(200ms);
  Clock::time_point t{};
  p.applied(10);
  ASSERT_EQ(p.take(t), 10);
  p.written(10);
  p.applied(12);
  ASSERT_EQ(p.take(t + 250ms), 12);  // in flight under the old lease when ...
  p.applied(8);                       // ... the grant brings the watcher's (older) revision
  p.rewrite();
  p.written(12);  // the old lease's write returns
  EXPECT_TRUE(p.pending()) << "a write under the old lease counted as this lease's report";
  EXPECT_EQ(p.reported(), 0);
  EXPECT_EQ(p.take(t + 260ms), 12) << "written again at once, the newest revision";
  p.written(12);
  EXPECT_FALSE(p.pending());
  EXPECT_EQ(p.reported(), 12);
}

// Random interleavings: writes are never closer than the interval, never
// go backwards, and once time passes the newest revision is written.
TEST(ReportPacer, NoRevisionIsLostAndThePaceHolds) {
  std::mt19937 rng(17);
  for (int round = 0; round < 200; round++) {
    ReportPacer p(100ms);
    Clock::time_point t{}, last_write{};
    bool wrote = false;
    int64_t rev = 0, written = 0;
    for (int step = 0; step < 50; step++) {
      t += std::chrono::milliseconds(rng() % 60);
      if (rng() % 2) p.applied(rev += 1 + rng() % 3);
      if (int64_t r = p.take(t)) {
        if (wrote) {
          EXPECT_GE(t - last_write, 100ms);
        }
        EXPECT_GT(r, written);
        wrote = true;
        last_write = t;
        if (rng() % 5) {  // one in five fails
          p.written(r);
          written = r;
        }
      }
    }
    if (rev == 0) continue;
    int64_t r = p.take(t + 1s);
    if (written < rev) {
      EXPECT_EQ(r, rev) << "round " << round << ": the newest revision was not reported";
    } else {
      EXPECT_EQ(r, 0);
    }
  }
}

// Two nodes; a third client (another node's CLI) writes a burst of 30
// changes straight to etcd. --wait-all for the burst's last revision
// returns (the trailing report follows the burst), and when it does both
// nodes have applied it. With a 5 s interval the burst's reports of a node
// are fewer than its changes (its applied/NODE key's version counts writes).
TEST(ClusterReports, WaitAllUnderABurstReturnsOnceEveryNodeAppliedNeverBefore) {
  ZS_REQUIRE_PRIVILEGED();
  ZS_REQUIRE_ETCD();
  zeroseg::testing::EtcdServer etcd;
  ASSERT_TRUE(etcd.running());
  AgentConfig a, b;
  a.pin_dir = "/sys/fs/bpf/zs-ut-reports-" + std::to_string(getpid());
  a.state_dir = ::testing::TempDir() + "zs-ut-reports-" + std::to_string(getpid());
  b = a;
  b.pin_dir += "-b";
  b.state_dir += "-b";
  struct Clean {
    AgentConfig &a, &b;
    ~Clean() {
      for (auto* c : {&a, &b}) {
        Agent::uninstall(*c);
        std::filesystem::remove_all(c->state_dir);
      }
    }
  } clean{a, b};
  std::filesystem::remove_all(a.state_dir);
  std::filesystem::remove_all(b.state_dir);
  Agent agent_a(a), agent_b(b);
  ClusterMode node_a(agent_a, zeroseg::testing::client_for(etcd), "node-a", 60, nullptr, 600, 5s);
  ClusterMode node_b(agent_b, zeroseg::testing::client_for(etcd), "node-b", 60, nullptr, 600, 5s);
  for (int i = 0; i < 300; i++) {
    if (node_a.status()["connected"].get<bool>() && node_b.status()["connected"].get<bool>() &&
        node_a.status()["lease"].get<int64_t>() && node_b.status()["lease"].get<int64_t>())
      break;
    std::this_thread::sleep_for(100ms);
  }
  ASSERT_TRUE(node_b.status()["connected"].get<bool>() && node_b.status()["lease"].get<int64_t>());

  auto writer = zeroseg::testing::client_for(etcd);
  ClusterStore store(writer, ClusterKeys("node-c"));
  auto version = [&](const std::string& node) -> int64_t {
    auto r = writer->range(std::string(kClusterStatePrefix) + "applied/" + node);
    return r && !r->kvs.empty() ? r->kvs[0].version : 0;
  };
  const int64_t before_b = version("node-b");
  int64_t last = 0;
  constexpr int kBurst = 30;
  for (int i = 0; i < kBurst; i++) {
    auto rev = store.put(
        load_yaml("apiVersion: v1\nkind: Namespace\nmetadata: {name: burst" + std::to_string(i) + "}\n", "n.yaml"));
    ASSERT_TRUE(rev) << rev.error();
    last = *rev;
  }
  nlohmann::json all = node_a.wait_all(last, 60s);
  // never before: each node that reported it has applied it
  EXPECT_GE(node_a.status()["applied_revision"].get<int64_t>(), last);
  EXPECT_GE(node_b.status()["applied_revision"].get<int64_t>(), last);
  EXPECT_TRUE(all.contains("node-a") && all.contains("node-b")) << all.dump();
  EXPECT_GE(all.value("node-b", int64_t{0}), last) << all.dump();
  const int64_t writes_b = version("node-b") - before_b;
  EXPECT_GE(writes_b, 1);
  EXPECT_LT(writes_b, kBurst) << "node-b wrote a report for every change of the burst";
  std::printf("node-b: %lld reports for %d changes\n", static_cast<long long>(writes_b), kBurst);
}

}  // namespace
}  // namespace zeroseg
