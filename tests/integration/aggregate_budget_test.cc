// The fan-out budget (aggregate.max_calls_in_flight): a shard never has more backend calls in
// flight than the budget; a new request that finds it taken waits queue_timeout and is refused
// 503 with Retry-After; one that gets it in time is answered in full; calls cancelled by a
// departing client give back their slots and their sockets.

#include <dirent.h>

#include <chrono>
#include <future>
#include <string>

#include "aggregate_fixture.h"
#include "json_body.h"

namespace ringgate::it {
namespace {

using std::chrono::steady_clock;

// Eight elements, each a call that takes `delay`; all eight may run at once (concurrency 8), all
// within the aggregate's `timeout`.
std::string slow_fan_out(const std::string& delay, const std::string& timeout = "5s") {
  return "      timeout: " + timeout +
         "\n"
         "      backends:\n"
         "        - {key: list, upstream: a, path: /l, query: {json: \"[1,2,3,4,5,6,7,8]\"}}\n"
         "        - {key: each, upstream: a, path: \"/e/{item}\", for_each: \"list[*]\","
         " concurrency: 8, query: {delay: \"" +
         delay + "\"}}\n";
}

int open_fds(pid_t pid) {
  DIR* d = opendir(("/proc/" + std::to_string(pid) + "/fd").c_str());
  if (!d) {
    return -1;
  }
  int n = 0;
  while (readdir(d)) {
    ++n;
  }
  closedir(d);
  return n - 2;  // . and ..
}

std::future<std::optional<Response>> fetch_async(uint16_t port, const std::string& target) {
  return std::async(std::launch::async,
                    [port, target] { return fetch(port, request("GET", target)); });
}

// Budget 4: the eight calls of a request go four at a time (two rounds of 300 ms), and a second
// request meanwhile waits its 200 ms queue_timeout and is refused with Retry-After.
TEST_F(AggregateTest, OverTheFanOutBudgetCallsWaitAndNewRequestsAreRefused) {
  Upstream a;
  sections_ = "aggregate: {max_calls_in_flight: 4, queue_timeout: 200ms}\n";
  auto& gw = start_agg(slow_fan_out("300ms"), a.port());
  ASSERT_TRUE(gw.ok()) << gw.error();
  EXPECT_EQ(metric(gw.admin_port(), "ringgate_aggregate_calls_budget"), 4);

  const auto t0 = steady_clock::now();
  auto first = fetch_async(gw.port(), "/agg/1");
  // The first request holds all four slots once its list call is back.
  EXPECT_EQ(wait_metric(gw.admin_port(), "ringgate_aggregate_calls_in_flight",
                        [](double v) { return v == 4; }),
            4);
  auto second = fetch(gw.port(), request("GET", "/agg/2"));
  ASSERT_TRUE(second);
  EXPECT_EQ(second->status, 503) << second->raw;
  EXPECT_EQ(second->header("retry-after").value_or(""), "1");
  EXPECT_NE(second->body.find("max_calls_in_flight"), std::string::npos) << second->body;

  auto r = first.get();
  const auto took = steady_clock::now() - t0;
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->raw;
  JsonBody body(r->body);
  ASSERT_TRUE(body.valid()) << r->body;
  for (int i = 0; i < 8; ++i) {
    EXPECT_EQ(body.at("each[" + std::to_string(i) + "].path"),
              "\"/e/" + std::to_string(i + 1) + "\"");
  }
  // Eight 300 ms calls four at a time cannot take less than two rounds.
  EXPECT_GE(took, std::chrono::milliseconds(590));
  EXPECT_EQ(metric(gw.admin_port(), "ringgate_aggregate_shed_total"), 1);
  EXPECT_EQ(metric(gw.admin_port(), "ringgate_aggregate_queued_total"), 1);
  EXPECT_EQ(metric(gw.admin_port(), "ringgate_aggregate_calls_in_flight"), 0);
}

// After a fan-out, what the upstream calls held goes back once the shard is quiet: the pooled
// calls give their request blocks back at the next trim (each kept one, 28 KiB by default, for
// as long as the process ran, so a burst of N calls left N blocks behind), and the connections
// idle in the pools hold no head copy.
TEST_F(AggregateTest, WhatAFanOutsCallsHeldGoesBackWhenTheShardIsQuiet) {
  Upstream a;
  auto& gw = start_agg(slow_fan_out("100ms"), a.port());
  ASSERT_TRUE(gw.ok()) << gw.error();
  auto r = fetch(gw.port(), request("GET", "/agg/1"));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->raw;
  EXPECT_EQ(
      wait_metric(
          gw.admin_port(), "ringgate_overload_memory_bytes", [](double v) { return v == 0; }, 5s),
      0);
}

// A queued request that gets the budget within queue_timeout starts then and is answered in full.
TEST_F(AggregateTest, AQueuedRequestStartsWhenTheBudgetFrees) {
  Upstream a;
  sections_ = "aggregate: {max_calls_in_flight: 8, queue_timeout: 3s}\n";
  auto& gw = start_agg(slow_fan_out("300ms"), a.port());
  ASSERT_TRUE(gw.ok()) << gw.error();
  auto first = fetch_async(gw.port(), "/agg/1");
  EXPECT_EQ(wait_metric(gw.admin_port(), "ringgate_aggregate_calls_in_flight",
                        [](double v) { return v == 8; }),
            8);
  const auto t0 = steady_clock::now();
  auto second = fetch(gw.port(), request("GET", "/agg/2"));
  const auto took = steady_clock::now() - t0;
  ASSERT_TRUE(second);
  EXPECT_EQ(second->status, 200) << second->raw;
  // It waited for the first request's calls (300 ms), then made its own (300 ms more).
  EXPECT_GE(took, std::chrono::milliseconds(300));
  auto r = first.get();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->raw;
  EXPECT_EQ(metric(gw.admin_port(), "ringgate_aggregate_queued_total"), 1);
  EXPECT_EQ(metric(gw.admin_port(), "ringgate_aggregate_shed_total"), 0);
}

// Calls cut off by the aggregate's timeout are cancelled: their slots come back at once and
// their upstream connections are closed (a cut response cannot be reused), so the gateway's
// descriptors return to what they were before the request.
TEST_F(AggregateTest, CancelledCallsGiveBackTheirSlotsAndSockets) {
  Upstream a;
  sections_ = "aggregate: {max_calls_in_flight: 64}\n";
  auto& gw = start_agg(slow_fan_out("3s", "400ms"), a.port());
  ASSERT_TRUE(gw.ok()) << gw.error();
  const int before = open_fds(gw.pid());
  ASSERT_GT(before, 0);
  auto cut = fetch_async(gw.port(), "/agg/1");
  EXPECT_EQ(wait_metric(gw.admin_port(), "ringgate_aggregate_calls_in_flight",
                        [](double v) { return v == 8; }),
            8);
  // The eight element calls' connections and the client's (and the list call's, pooled).
  EXPECT_GE(open_fds(gw.pid()), before + 9);
  auto r = cut.get();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 504) << r->raw;
  EXPECT_EQ(metric(gw.admin_port(), "ringgate_aggregate_calls_in_flight"), 0);
  // Only the list call's connection stays, idle in the pool.
  int now = open_fds(gw.pid());
  for (int i = 0; i < 100 && now > before + 1; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    now = open_fds(gw.pid());
  }
  EXPECT_LE(now, before + 1);
}

}  // namespace
}  // namespace ringgate::it
