// SPDX-License-Identifier: Apache-2.0
// What `zeroseg flows`, `zeroseg quarantine` and `zeroseg cluster status`
// print for people: counts read as words, a listing in the order of its
// time column, a quarantine that lets nothing through said so, and etcd
// ahead of this node without a lag said why.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "cli/cluster_text.h"
#include "cli/flow_rows.h"
#include "cli/quarantine_text.h"

namespace zeroseg::cli {
namespace {

using nlohmann::json;

json unanswered(uint64_t sent) {
  return {{"event", "flow-unanswered"},
          {"time", "2026-12-02T10:00:03.000000000Z"},
          {"duration_ms", 3000},
          {"packets", {{"forward", sent}, {"reply", 0}}},
          {"bytes", {{"forward", 60 * sent}, {"reply", 0}}}};
}

TEST(FlowRows, OnePacketIsOnePkt) {
  EXPECT_EQ(why_text(unanswered(1)), "no reply 3000ms after the first packet, 1 pkt sent");
  EXPECT_EQ(why_text(unanswered(2)), "no reply 3000ms after the first packet, 2 pkts sent");
  json end = {{"event", "flow-end"},
              {"end_reason", "fin"},
              {"duration_ms", 12},
              {"packets", {{"forward", 3}, {"reply", 2}}},
              {"bytes", {{"forward", 180}, {"reply", 120}}}};
  EXPECT_EQ(why_text(end), "fin after 12ms, 3/2 pkts, 180B/120B");
  // the cluster lab's scan, seen at the scanner's node: a lone SYN, ended
  // by the idle timeout, once read "timeout after 0ms"
  end["end_reason"] = "timeout";
  end["duration_ms"] = 0;
  end["packets"] = {{"forward", 1}, {"reply", 0}};
  end["bytes"] = {{"forward", 74}, {"reply", 0}};
  EXPECT_EQ(why_text(end), "timed out idle, active 0ms, 1/0 pkts, 74B/0B");
}

// An end carries its flow's last packet's time but is written when the
// conntrack sweep sees the flow gone: after the starts of flows that began
// meanwhile. Listed, it stands where its time puts it.
TEST(FlowRows, AListingFollowsTheTimeColumnAnEndAmongTheStartsAfterIt) {
  auto rec = [](const char* event, const char* time, const char* src) {
    return json{{"event", event}, {"time", time}, {"source", {{"ip", src}}}};
  };
  std::vector<json> written = {rec("flow-start", "2026-12-02T10:00:01.000000000Z", "a"),
                               rec("flow-start", "2026-12-02T10:00:05.000000000Z", "b"),
                               rec("flow-start", "2026-12-02T10:00:06.000000000Z", "c"),
                               rec("flow-end", "2026-12-02T10:00:02.000000000Z", "a"),  // swept at :07
                               json{{"event", "lost"}, {"lines", 3}},
                               rec("flow-start", "2026-12-02T10:00:06.000000000Z", "d")};
  order_by_time(written);
  std::vector<std::string> order;
  for (const auto& f : written)
    order.push_back(f.value("event", "") + " " + (f.contains("source") ? f["source"].value("ip", "") : ""));
  EXPECT_EQ(order, (std::vector<std::string>{"flow-start a", "flow-end a", "lost ", "flow-start b", "flow-start c",
                                             "flow-start d"}))
      << "equal times keep the order written; a line without a time stays after the one before it";
}

TEST(QuarantineText, NoManagementPrefixIsSaidAsNone) {
  EXPECT_EQ(management_text(json::array()), "none");
  EXPECT_EQ(management_text(json::array({"10.0.9.0/24", "fd00:9::/64"})), "10.0.9.0/24,fd00:9::/64");
}

TEST(ClusterText, EtcdAheadWithoutALagSaysWhy) {
  // the lab's reading: etcd's head moved with the nodes' reports, which
  // this node does not watch ("35 applied, etcd at 38 (lag 0)" read wrong)
  EXPECT_EQ(revision_text({{"applied_revision", 35}, {"head_revision", 38}, {"lag", 0}}),
            "revision 35 applied, etcd at 38 (lag 0: etcd's 3 newer revisions change nothing this node watches)");
  EXPECT_EQ(revision_text({{"applied_revision", 37}, {"head_revision", 38}, {"lag", 0}}),
            "revision 37 applied, etcd at 38 (lag 0: etcd's 1 newer revision changes nothing this node watches)");
  EXPECT_EQ(revision_text({{"applied_revision", 38}, {"head_revision", 38}, {"lag", 0}}),
            "revision 38 applied, etcd at 38 (lag 0)");
  EXPECT_EQ(revision_text({{"applied_revision", 30}, {"head_revision", 38}, {"lag", 5}}),
            "revision 30 applied, etcd at 38 (lag 5)")
      << "a real lag is the figure to read: no excuse beside it";
  EXPECT_EQ(revision_text({{"applied_revision", 30}}), "revision 30 applied") << "in an outage etcd's head is unknown";
}

}  // namespace
}  // namespace zeroseg::cli
