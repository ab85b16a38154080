// SPDX-License-Identifier: Apache-2.0
// `zeroseg flows` filters as hubble's (flows_filters.h), what makes
// `zeroseg status` degraded (health.h), and colour (colour.h).
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include "cli/colour.h"
#include "cli/flows_filters.h"
#include "cli/health.h"
#include "common/error.h"
#include "common/time.h"

namespace zeroseg::cli {
namespace {

using nlohmann::json;
using Args = std::vector<std::pair<std::string, std::string>>;

constexpr int64_t kNow = 1'800'000'000'000'000'000;  // 2027-01-15T08:00:00Z
constexpr int64_t kMinute = 60'000'000'000;

json flow(const std::string& src, json src_labels, const std::string& dst, json dst_labels, int64_t at,
          const std::string& verdict = "allowed") {
  return {{"time", format_rfc3339(at)},
          {"event", "flow-start"},
          {"verdict", verdict},
          {"protocol", "tcp"},
          {"source", {{"name", src}, {"ip", "10.0.0.1"}, {"labels", src_labels}}},
          {"destination", {{"name", dst}, {"ip", "10.0.0.2"}, {"labels", dst_labels}, {"port", 5432}}}};
}

const json kWebToDb = flow("prod/web", {{"app", "web"}, {"tier", "front"}}, "prod/db", {{"app", "db"}}, kNow - 10 * kMinute);

bool passes(const Args& args, const json& f = kWebToDb) { return parse_flow_filters(args, kNow).matches(f); }

std::string error_of(const Args& args) {
  try {
    parse_flow_filters(args, kNow);
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(FlowFilters, RepeatedLabelsMustAllMatch) {
  EXPECT_TRUE(passes({{"from-label", "app=web"}, {"from-label", "tier=front"}}));
  EXPECT_FALSE(passes({{"from-label", "app=web"}, {"from-label", "tier=back"}}));
  EXPECT_TRUE(passes({{"from-label", "app=web,tier=front"}}));
  EXPECT_FALSE(passes({{"from-label", "app=web,tier=back"}}));
  EXPECT_TRUE(passes({{"to-label", "app=db"}}));
  EXPECT_FALSE(passes({{"to-label", "app=web"}}));  // the source's label, not the destination's
  // a label the end does not have at all, or an empty value
  EXPECT_FALSE(passes({{"from-label", "team="}}));
}

TEST(FlowFilters, PodMatchesEitherEndAndANamespace) {
  EXPECT_TRUE(passes({{"pod", "prod/web"}}));
  EXPECT_TRUE(passes({{"pod", "prod/db"}}));
  EXPECT_FALSE(passes({{"pod", "prod/we"}}));  // not a prefix match
  EXPECT_TRUE(passes({{"pod", "prod/"}}));
  EXPECT_FALSE(passes({{"pod", "pro/"}}));
}

TEST(FlowFilters, NotNegatesOnlyTheNextFilter) {
  EXPECT_FALSE(passes({{"not", ""}, {"pod", "prod/web"}}));
  EXPECT_TRUE(passes({{"not", ""}, {"pod", "dev/web"}}));
  EXPECT_TRUE(passes({{"not", ""}, {"verdict", "denied"}, {"pod", "prod/web"}}));
  EXPECT_FALSE(passes({{"not", ""}, {"verdict", "denied"}, {"pod", "dev/web"}}));
  EXPECT_FALSE(passes({{"not", ""}, {"port", "5432"}}));
  EXPECT_TRUE(passes({{"not", ""}, {"protocol", "udp"}}));
  EXPECT_FALSE(passes({{"not", ""}, {"event", "start"}}));
}

TEST(FlowFilters, SinceAndUntilTakeDurationsAndTimes) {
  EXPECT_TRUE(passes({{"since", "15m"}}));
  EXPECT_FALSE(passes({{"since", "5m"}}));
  EXPECT_TRUE(passes({{"since", "1h30m"}, {"until", "5m"}}));
  EXPECT_FALSE(passes({{"until", "15m"}}));
  EXPECT_TRUE(passes({{"since", format_rfc3339(kNow - 11 * kMinute)}}));
  EXPECT_FALSE(passes({{"until", format_rfc3339(kNow - 11 * kMinute)}}));
  // a record without a time cannot be placed in a window
  json no_time = kWebToDb;
  no_time.erase("time");
  EXPECT_FALSE(passes({{"since", "1h"}}, no_time));
  EXPECT_TRUE(passes({}, no_time));
}

TEST(FlowFilters, WhatTheAgentAppliesAndWhatIsLeftHere) {
  FlowFilters plain = parse_flow_filters({{"verdict", "denied"}, {"port", "80"}, {"since", "5m"}}, kNow);
  EXPECT_FALSE(plain.needs_client_side());
  EXPECT_TRUE(parse_flow_filters({{"not", ""}, {"verdict", "denied"}}, kNow).needs_client_side());
  EXPECT_TRUE(parse_flow_filters({{"pod", "a/b"}}, kNow).needs_client_side());
  EXPECT_TRUE(parse_flow_filters({{"until", "5m"}}, kNow).needs_client_side());
  EXPECT_FALSE(parse_flow_filters({{"from", ""}}, kNow).needs_client_side());
}

TEST(FlowFilters, BadFiltersSayWhichAndWhy) {
  EXPECT_EQ(error_of({{"from-label", "app"}}), "--from-label \"app\": expected key=value (e.g. app=web)");
  EXPECT_EQ(error_of({{"to-label", "=web"}}), "--to-label \"=web\": expected key=value (e.g. app=web)");
  EXPECT_EQ(error_of({{"from-label", "a=b,"}}), "--from-label \"a=b,\": expected key=value (e.g. app=web)");
  EXPECT_EQ(error_of({{"pod", "web"}}),
            "--pod \"web\": expected NAMESPACE/NAME (or NAMESPACE/ for every workload of it)");
  EXPECT_EQ(error_of({{"pod", "a/b/c"}}),
            "--pod \"a/b/c\": expected NAMESPACE/NAME (or NAMESPACE/ for every workload of it)");
  EXPECT_EQ(error_of({{"port", "65536"}}), "--port \"65536\": expected a port number (0-65535)");
  EXPECT_EQ(error_of({{"port", "-1"}}), "--port \"-1\": expected a port number (0-65535)");
  EXPECT_EQ(error_of({{"protocol", "tcpp"}}),
            "--protocol \"tcpp\": expected a protocol name (tcp, udp, icmp, ...) or number");
  EXPECT_EQ(error_of({{"since", "yesterday"}}),
            "--since \"yesterday\": expected a duration back from now (30s, 5m, 1h30m) or an RFC 3339 time "
            "(2026-12-01T10:00:00Z)");
  EXPECT_EQ(error_of({{"pod", "a/b"}, {"not", ""}}),
            "--not must come before the filter it negates (e.g. --not --pod prod/web)");
  EXPECT_EQ(error_of({{"not", ""}, {"not", ""}, {"pod", "a/b"}}), "--not --not: --not negates the one filter after it");
  EXPECT_EQ(error_of({{"not", ""}, {"until", "5m"}}),
            "--not cannot negate --until (use --since and --until for a window)");
  EXPECT_EQ(error_of({{"not", ""}, {"to", ""}}),
            "--not cannot negate --to (it negates --from-label, --to-label, --pod, --port, --protocol, --verdict "
            "or --event)");
  EXPECT_EQ(error_of({{"since", "5m"}, {"until", "1h"}}), "--until is before --since: no flow can match");
}

TEST(StatusHealth, FailedAttachesAndLostEventsAreProblems) {
  EXPECT_TRUE(agent_problems({{"attachments", {{"not_enforced", json::array()}}}, {"telemetry", {{"events_lost", 0}}}})
                  .empty());
  auto p = agent_problems({{"attachments",
                            {{"not_enforced", {{{"interface", "veth1"}, {"workload", "prod/web"}, {"error", "EBUSY"}}}}}},
                           {"telemetry", {{"events_lost", 7}}}});
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p[0], "not enforced on veth1 (prod/web): EBUSY");
  EXPECT_EQ(p[1].rfind("7 events lost", 0), 0u) << p[1];
  EXPECT_TRUE(agent_problems({{"error", "cannot reach"}}).empty());  // unreachable is its own exit code
}

TEST(StatusHealth, AClusterOutageIsAProblem) {
  EXPECT_TRUE(agent_problems({{"cluster", {{"connected", true}}}}).empty());
  auto p = agent_problems({{"cluster", {{"connected", false}, {"error", "connection refused"}}}});
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0], "cluster store unreachable: connection refused (enforcement unchanged; applies fail)");
  // before the watcher's first try (the node still waits for its lease),
  // the agent sends an empty error: the line still says why
  p = agent_problems({{"cluster", {{"connected", false}, {"error", ""}}}});
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0], "cluster store unreachable: no answer yet (enforcement unchanged; applies fail)");
}

TEST(StatusHealth, ARefusalIsAProblemButNoOutage) {
  auto p = agent_problems(
      {{"cluster", {{"connected", false}, {"refused", true}, {"error", "etcdserver: too many operations (code 3)"}}}});
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0], "cluster store refuses this node: etcdserver: too many operations (code 3) (enforcement unchanged; "
                  "changes not followed)");
}

TEST(Colour, NeverWithNoColorNorOffATerminal) {
  EXPECT_EQ(paint("denied", kRed, true), "\033[31mdenied\033[0m");
  EXPECT_EQ(paint("denied", kRed, false), "denied");
  EXPECT_EQ(paint("x", nullptr, true), "x");
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  unsetenv("NO_COLOR");
  EXPECT_FALSE(colour_enabled(fds[1]));  // a pipe
  close(fds[0]);
  close(fds[1]);
  setenv("NO_COLOR", "1", 1);
  EXPECT_FALSE(colour_enabled(1));
  EXPECT_FALSE(colour_enabled(0));
  unsetenv("NO_COLOR");
}

}  // namespace
}  // namespace zeroseg::cli
