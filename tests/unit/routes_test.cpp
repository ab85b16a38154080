// SPDX-License-Identifier: Apache-2.0
// The API routes that need no agent: /v1/flows and /v1/alerts over hubs.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include "agent/routes.h"

namespace zeroseg {
namespace {

api::Request flows_request(std::map<std::string, std::string> query) {
  return {"GET", "/v1/flows", "", std::move(query)};
}

// A query is any bytes once decoded: an error quoting them was a 500
// (dump() threw on bytes that are not UTF-8), not the client's 400.
TEST(Routes, AQueryThatIsNotUtf8GetsA400) {
  FlowHub flows, alerts;
  api::Handler routes = stream_routes(flows, alerts);
  for (const char* key : {"verdict", "since", "event", "protocol", "port"}) {
    api::Response r;
    ASSERT_NO_THROW(r = routes(flows_request({{key, "\xff\xfe"}}))) << key;
    EXPECT_EQ(r.status, 400) << key << ": " << r.body;
  }
}

// ?last= is digits: strtoul took "-1" as 2^64-1, " 5" and "+5" as 5, and
// a number past 2^64 as 2^64-1.
TEST(Routes, LastIsDigitsOnly) {
  FlowHub flows, alerts;
  api::Handler routes = stream_routes(flows, alerts);
  for (const char* bad : {"-1", " 5", "+5", "5 ", "0x10", "99999999999999999999999", "5\n"}) {
    api::Response r = routes(flows_request({{"last", bad}}));
    EXPECT_EQ(r.status, 400) << "last=" << bad << ": " << r.body;
  }
  EXPECT_EQ(routes(flows_request({{"last", "5"}})).status, 200);
  EXPECT_EQ(routes(flows_request({{"last", ""}})).status, 200);
}

// A follow the transport drops before its stream runs (refused with 503
// at the stream limit, or its client gone before the head was sent) must
// not stay subscribed: its queue would fill and every publish walk it.
TEST(Routes, AFollowThatNeverRunsDoesNotStaySubscribed) {
  FlowHub flows(10, /*stream_queue=*/1), alerts;
  {
    api::Response r = stream_routes(flows, alerts)(flows_request({{"follow", "1"}}));
    ASSERT_EQ(r.status, 200);
    ASSERT_TRUE(r.stream);
  }
  flows.publish("{\"n\":1}\n{\"n\":2}\n", 2);
  EXPECT_EQ(flows.streams_dropped(), 0u) << "a stream nobody reads is still subscribed";
}

TEST(Routes, AFollowWhoseClientWentUnsubscribes) {
  FlowHub flows(10, /*stream_queue=*/1), alerts;
  api::Response r = stream_routes(flows, alerts)(flows_request({{"follow", "1"}}));
  ASSERT_TRUE(r.stream);
  r.stream([](std::string_view) { return false; });  // the client went at once
  flows.publish("{\"n\":1}\n{\"n\":2}\n", 2);
  EXPECT_EQ(flows.streams_dropped(), 0u);
}

// What a follow is for: lines published after it starts reach its client.
// (A subscription copied from a temporary was ended by the temporary's
// destructor, and `flows --follow` got nothing.)
TEST(Routes, AFollowGetsWhatIsPublishedAfterIt) {
  FlowHub flows, alerts;
  api::Response r = stream_routes(flows, alerts)(flows_request({{"follow", "1"}}));
  ASSERT_EQ(r.status, 200);
  ASSERT_TRUE(r.stream);
  std::string got;
  std::atomic<bool> done{false};
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  std::thread client([&] {
    r.stream([&](std::string_view chunk) {  // the stream asks every 0.5 s: an empty chunk
      got += chunk;
      bool more = got.find("\"n\":1") == std::string::npos && std::chrono::steady_clock::now() < deadline;
      if (!more) done = true;
      return more;
    });
  });
  for (int i = 0; i < 100 && !done; i++) {
    flows.publish("{\"n\":1}\n", 1);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  client.join();
  EXPECT_NE(got.find("{\"n\":1}"), std::string::npos) << got;
}

}  // namespace
}  // namespace zeroseg
