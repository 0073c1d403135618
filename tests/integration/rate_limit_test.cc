// Rate limiting through the real gateway: 429 with Retry-After, RateLimit-Policy and RateLimit,
// keys (client address with and without trusted hops, a header, the route), global policies,
// metrics, and the limit held across two shards with connections on both.

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "fixture.h"

namespace ringgate::it {
namespace {

class RateLimitTest : public GatewayTest {
 protected:
  GatewayProcess& start_limited(const std::string& policies, const std::string& routes,
                                unsigned workers = 1, const std::string& server_extra = "") {
    ConfigSpec spec;
    spec.workers = workers;
    spec.server_extra = server_extra;
    spec.sections = "rate_limits:\n" + policies;
    spec.routes = routes;
    return start(spec);
  }
};

TEST_F(RateLimitTest, OverTheLimitIs429WithRetryAfterAndRateLimitHeaders) {
  auto& gw = start_limited("  per_client: {key: client_ip, rate: 1/m, burst: 2}\n",
                           "  - match: {path: /hello}\n    rate_limit: per_client\n"
                           "    direct: {body: hello}\n"
                           "  - match: {path: /free}\n    direct: {body: free}\n");
  ASSERT_TRUE(gw.ok()) << gw.error();
  EXPECT_EQ(status_of(gw.port(), "/hello"), 200);
  EXPECT_EQ(status_of(gw.port(), "/hello"), 200);
  auto r = fetch(gw.port(), request("GET", "/hello"));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 429) << r->raw;
  const int retry = std::stoi(r->header("retry-after").value_or("0"));
  EXPECT_GE(retry, 1);
  EXPECT_LE(retry, 60);
  EXPECT_EQ(r->header("ratelimit-policy").value_or(""), "\"per_client\";q=2;w=120");
  EXPECT_EQ(r->header("ratelimit").value_or(""), "\"per_client\";r=0;t=" + std::to_string(retry));
  EXPECT_EQ(r->header("content-type").value_or(""), "application/problem+json");
  EXPECT_NE(r->body.find("per_client"), std::string::npos) << r->body;
  EXPECT_FALSE(r->connection_has("close"));
  // Other routes are not limited.
  EXPECT_EQ(status_of(gw.port(), "/free"), 200);
  EXPECT_EQ(
      metric(gw.admin_port(), "ringgate_rate_limit_requests_allowed_total{policy=\"per_client\"}"),
      2);
  EXPECT_EQ(
      metric(gw.admin_port(), "ringgate_rate_limit_requests_limited_total{policy=\"per_client\"}"),
      1);
  EXPECT_EQ(metric(gw.admin_port(), "ringgate_requests_4xx_total"), 1);
}

TEST_F(RateLimitTest, KeysFromAHeaderAndTheRoute) {
  auto& gw = start_limited(
      "  per_key: {key: \"header:X-API-Key\", rate: 1/m, burst: 1}\n"
      "  per_route: {key: route, rate: 1/m, burst: 2}\n",
      "  - match: {path: /k}\n    rate_limit: per_key\n    direct: {}\n"
      "  - match: {path: /r}\n    rate_limit: per_route\n    direct: {}\n");
  ASSERT_TRUE(gw.ok()) << gw.error();
  EXPECT_EQ(status_of(gw.port(), "/k", "X-API-Key: alpha\r\n"), 200);
  EXPECT_EQ(status_of(gw.port(), "/k", "X-API-Key: alpha\r\n"), 429);
  EXPECT_EQ(status_of(gw.port(), "/k", "X-API-Key: beta\r\n"), 200);
  EXPECT_EQ(status_of(gw.port(), "/k"), 200);  // without the header: one shared bucket
  EXPECT_EQ(status_of(gw.port(), "/k"), 429);
  // One bucket for the route, whoever asks.
  EXPECT_EQ(status_of(gw.port(), "/r"), 200);
  EXPECT_EQ(status_of(gw.port(), "/r", "X-API-Key: gamma\r\n"), 200);
  EXPECT_EQ(status_of(gw.port(), "/r"), 429);
}

// A global policy applies to every route, also to those that name none, before their own.
TEST_F(RateLimitTest, GlobalPoliciesApplyToEveryRoute) {
  auto& gw = start_limited(
      "  everyone: {key: client_ip, rate: 1/m, burst: 3, global: true}\n"
      "  strict: {key: client_ip, rate: 1/m, burst: 1}\n",
      "  - match: {path: /a}\n    rate_limit: strict\n    direct: {}\n"
      "  - match: {path: /b}\n    direct: {}\n");
  ASSERT_TRUE(gw.ok()) << gw.error();
  EXPECT_EQ(status_of(gw.port(), "/a"), 200);  // everyone 1 of 3, strict 1 of 1
  auto strict = fetch(gw.port(), request("GET", "/a"));
  ASSERT_TRUE(strict);
  EXPECT_EQ(strict->status, 429);
  EXPECT_EQ(strict->header("ratelimit-policy").value_or(""), "\"strict\";q=1;w=60");
  EXPECT_EQ(status_of(gw.port(), "/b"), 200);  // everyone: 3 of 3 (the 429 above took one)
  auto everyone = fetch(gw.port(), request("GET", "/b"));
  ASSERT_TRUE(everyone);
  EXPECT_EQ(everyone->status, 429);
  EXPECT_EQ(everyone->header("ratelimit-policy").value_or(""), "\"everyone\";q=3;w=180");
}

// The client address is the peer's: X-Forwarded-For counts only behind trusted hops.
TEST_F(RateLimitTest, ClientAddressIgnoresForwardedForUnlessHopsAreTrusted) {
  const std::string policies = "  per_client: {key: client_ip, rate: 1/m, burst: 1}\n";
  const std::string routes = "  - match: {path: /x}\n    rate_limit: per_client\n    direct: {}\n";
  auto& edge = start_limited(policies, routes);
  ASSERT_TRUE(edge.ok()) << edge.error();
  EXPECT_EQ(status_of(edge.port(), "/x", "X-Forwarded-For: 192.0.2.1\r\n"), 200);
  EXPECT_EQ(status_of(edge.port(), "/x", "X-Forwarded-For: 192.0.2.2\r\n"), 429);  // same peer

  auto& behind = start_limited(policies, routes, 1, "  trusted_hops: 1\n");
  ASSERT_TRUE(behind.ok()) << behind.error();
  EXPECT_EQ(status_of(behind.port(), "/x", "X-Forwarded-For: 192.0.2.1\r\n"), 200);
  EXPECT_EQ(status_of(behind.port(), "/x", "X-Forwarded-For: 192.0.2.2\r\n"), 200);
  // The rightmost entry is the one the trusted proxy added; what the client put before it is not
  // the key.
  EXPECT_EQ(status_of(behind.port(), "/x", "X-Forwarded-For: 198.51.100.7, 192.0.2.1\r\n"), 429);
  EXPECT_EQ(status_of(behind.port(), "/x",
                      "X-Forwarded-For: 203.0.113.9\r\nX-Forwarded-For: 192.0.2.3\r\n"),
            200);
}

// Two shards, connections on both, requests as fast as they go for 10 s: the number let through is
// the burst plus the rate over the time, within 5%.
TEST_F(RateLimitTest, TheLimitHoldsAcrossShards) {
  auto& gw = start_limited("  per_client: {key: client_ip, rate: 400/s, burst: 40}\n",
                           "  - match: {path: /x}\n    rate_limit: per_client\n"
                           "    direct: {body: x}\n",
                           2);
  ASSERT_TRUE(gw.ok()) << gw.error();
  ASSERT_EQ(gw.workers(), 2u);
  // 8 clients, each on its own connection (SO_REUSEPORT spreads them), for the window.
  const LoadResult load = hammer({gw.port()}, 8, 10s, request("GET", "/x"));
  EXPECT_EQ(load.other, 0);
  EXPECT_GT(load.limited, load.ok);  // the clients really did ask for more
  const double expected = 40 + 400 * load.seconds;
  EXPECT_NEAR(load.ok, expected, expected * 0.05) << "in " << load.seconds << " s";
  EXPECT_EQ(
      metric(gw.admin_port(), "ringgate_rate_limit_requests_allowed_total{policy=\"per_client\"}"),
      load.ok);
}

}  // namespace
}  // namespace ringgate::it
