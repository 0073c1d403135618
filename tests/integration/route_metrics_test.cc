// Per-route metrics from a real gateway: requests by the class of their response (and those the
// client left unanswered), bytes in and out, and the latency histogram, each labelled with the
// route's name (or route#N); requests that reach no route count for none.

#include <string>
#include <thread>

#include "aggregate_fixture.h"
#include "proxy_fixture.h"

namespace ringgate::it {
namespace {

class RouteMetricsTest : public ProxyTest {
 protected:
  double route(GatewayProcess& gw, const std::string& series) {
    return metric(gw.admin_port(), "ringgate_route_" + series);
  }
};

TEST_F(RouteMetricsTest, EachRouteCountsItsRequestsBytesAndLatency) {
  Upstream up;
  auto& gw = start_proxy(endpoint(up.port()), "",
                         "  - name: api\n    match: {prefix: /api}\n    upstream: api\n");
  ASSERT_TRUE(gw.ok()) << gw.error();
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(fetch(gw.port(), request("GET", "/api/ok"))->status, 200);
  }
  ASSERT_EQ(fetch(gw.port(), request("GET", "/api/x?status=503"))->status, 503);
  ASSERT_EQ(fetch(gw.port(), request("GET", "/hello"))->status, 200);
  ASSERT_EQ(fetch(gw.port(), request("GET", "/nowhere"))->status, 404);  // no route: none counts
  {
    // The client leaves before the upstream answers (a reset: a half-closed client would still
    // get its answer): aborted.
    Conn c = connect_to(gw.port());
    ASSERT_TRUE(send_all(c, request("GET", "/api/slow?delay=300ms")));
    std::this_thread::sleep_for(50ms);
    const linger reset{1, 0};
    setsockopt(c.fd(), SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
  }
  EXPECT_EQ(
      wait_metric(gw.admin_port(), "ringgate_route_requests_total{route=\"api\",class=\"aborted\"}",
                  [](double v) { return v >= 1; }),
      1);
  EXPECT_EQ(route(gw, "requests_total{route=\"api\",class=\"2xx\"}"), 3);
  EXPECT_EQ(route(gw, "requests_total{route=\"api\",class=\"5xx\"}"), 1);
  EXPECT_EQ(route(gw, "requests_total{route=\"api\",class=\"4xx\"}"), 0);
  // /hello is the first of the default routes, listed after api: route#2.
  EXPECT_EQ(route(gw, "requests_total{route=\"route#2\",class=\"2xx\"}"), 1);
  EXPECT_EQ(route(gw, "request_duration_seconds_count{route=\"api\"}"), 5);
  EXPECT_EQ(route(gw, "request_duration_seconds_bucket{route=\"api\",le=\"+Inf\"}"), 5);
  // The aborted one waited 50 ms at least; the others took less than a second.
  EXPECT_GE(route(gw, "request_duration_seconds_bucket{route=\"api\",le=\"1\"}"), 5);
  EXPECT_GE(route(gw, "request_duration_seconds_sum{route=\"api\"}"), 0.04);
  const double in = route(gw, "bytes_in_total{route=\"api\"}");
  const double out = route(gw, "bytes_out_total{route=\"api\"}");
  EXPECT_GE(in, 5 * 40.0);
  EXPECT_GE(out, 4 * 60.0);
  EXPECT_EQ(route(gw, "bytes_in_total{route=\"route#2\"}"),
            static_cast<double>(request("GET", "/hello").size()));
}

// Per aggregation backend: its calls (a for_each element is one), its failures by kind, the
// defaults an optional one served, its latency.
TEST_F(AggregateTest, EachBackendCountsCallsFailuresDefaultsAndLatency) {
  Upstream a;
  auto& gw = start_agg(
      "      backends:\n"
      "        - {key: list, upstream: a, path: /l, query: {json: \"[1,2,3]\"}}\n"
      "        - {key: each, upstream: a, path: \"/each/{item}\", for_each: \"list[*]\"}\n"
      "        - {key: gone, upstream: down, path: /x, optional: true, default: 0}\n",
      a.port());
  ASSERT_TRUE(gw.ok()) << gw.error();
  for (int i = 0; i < 2; ++i) {
    auto r = fetch(gw.port(), request("GET", "/agg/1"));
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->raw;
  }
  const auto m = [&](const std::string& series) {
    return metric(gw.admin_port(), "ringgate_aggregate_backend_" + series);
  };
  const std::string route = "route=\"route#1\"";
  EXPECT_EQ(m("calls_total{" + route + ",backend=\"list\"}"), 2);
  EXPECT_EQ(m("calls_total{" + route + ",backend=\"each\"}"), 6);  // 3 elements, twice
  EXPECT_EQ(m("calls_total{" + route + ",backend=\"gone\"}"), 2);
  EXPECT_EQ(m("failures_total{" + route + ",backend=\"gone\",kind=\"upstream_connect\"}"), 2);
  EXPECT_EQ(m("failures_total{" + route + ",backend=\"list\",kind=\"upstream_connect\"}"), -1)
      << "kinds that never happened are left out";
  EXPECT_EQ(m("defaults_total{" + route + ",backend=\"gone\"}"), 2);
  EXPECT_EQ(m("defaults_total{" + route + ",backend=\"each\"}"), 0);
  EXPECT_EQ(m("duration_seconds_count{" + route + ",backend=\"each\"}"), 6);
  EXPECT_EQ(m("duration_seconds_bucket{" + route + ",backend=\"list\",le=\"+Inf\"}"), 2);
  // A partial answer is the gateway's decision: a warn line names the backend and why.
  EXPECT_TRUE(
      gw.wait_output("aggregate route=route#1 answered partial: backend gone could not be "
                     "reached; request_id=",
                     3s))
      << gw.log();
}

// logging.level debug: one error-log line per aggregation backend call.
TEST_F(AggregateTest, DebugLevelLogsEveryBackendCall) {
  Upstream a;
  sections_ = "logging: {level: debug}\n";
  auto& gw = start_agg(
      "      backends:\n"
      "        - {key: one, upstream: a, path: /1}\n"
      "        - {key: two, upstream: a, path: /2}\n",
      a.port());
  ASSERT_TRUE(gw.ok()) << gw.error();
  auto r = fetch(gw.port(), request("GET", "/agg/1", "X-Request-Id: dbg-1\r\n"));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->raw;
  for (const char* key : {"one", "two"}) {
    EXPECT_TRUE(gw.wait_output(std::string("debug aggregate route=route#1 backend=") + key, 3s))
        << gw.log();
  }
  EXPECT_NE(gw.log().find("request_id=dbg-1"), std::string::npos) << gw.log();
}

}  // namespace
}  // namespace ringgate::it
