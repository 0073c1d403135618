// CORS through the real gateway: preflights answered at the gateway (never reaching the
// upstream), allowed origins marked on actual responses (the upstream's own CORS headers
// replaced), origins not listed get no CORS headers, and every response of the route carries
// Vary: Origin - also the gateway's own refusals, which a page must be able to read.

#include <string>

#include "proxy_fixture.h"

namespace ringgate::it {
namespace {

constexpr const char* kRoutes =
    "  - match: {prefix: /api, methods: [GET, POST]}\n"
    "    cors: {allow_origins: [\"https://app.example\"], allow_methods: [GET, POST, PUT],\n"
    "           allow_headers: [Authorization, X-Trace], expose_headers: [X-Request-Id],\n"
    "           allow_credentials: true, max_age: 10m}\n"
    "    upstream: api\n";

class CorsTest : public ProxyTest {
 protected:
  GatewayProcess& start_cors(uint16_t upstream, const std::string& routes = kRoutes) {
    return start_proxy(endpoint(upstream), "", routes);
  }
  static std::string preflight(std::string_view origin, std::string_view method,
                               std::string_view headers = "") {
    std::string extra = "Origin: " + std::string(origin) +
                        "\r\nAccess-Control-Request-Method: " + std::string(method) + "\r\n";
    if (!headers.empty()) {
      extra += "Access-Control-Request-Headers: " + std::string(headers) + "\r\n";
    }
    return request("OPTIONS", "/api/orders", extra);
  }
};

TEST_F(CorsTest, APreflightIsAnsweredAtTheGateway) {
  Upstream up({"--record", record_file()});
  auto& gw = start_cors(up.port());
  ASSERT_TRUE(gw.ok()) << gw.error();
  auto r = fetch(gw.port(), preflight("https://app.example", "PUT", "authorization, x-trace"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 204) << r->raw;
  EXPECT_EQ(r->header("access-control-allow-origin").value_or(""), "https://app.example");
  EXPECT_EQ(r->header("access-control-allow-methods").value_or(""), "GET, POST, PUT");
  EXPECT_EQ(r->header("access-control-allow-headers").value_or(""), "authorization, x-trace");
  EXPECT_EQ(r->header("access-control-allow-credentials").value_or(""), "true");
  EXPECT_EQ(r->header("access-control-max-age").value_or(""), "600");
  EXPECT_NE(r->header("vary").value_or("").find("Origin"), std::string::npos) << r->raw;
  EXPECT_FALSE(r->has("content-length")) << r->raw;
  EXPECT_TRUE(r->body.empty());
  EXPECT_TRUE(read_record(record_file()).requests.empty());  // never reached the upstream
}

TEST_F(CorsTest, APreflightAskingForMoreThanTheRouteAllowsIsRefusedWithoutCorsHeaders) {
  Upstream up({"--record", record_file()});
  auto& gw = start_cors(up.port());
  ASSERT_TRUE(gw.ok()) << gw.error();
  const std::string refused[] = {
      preflight("https://evil.example", "GET"),                  // origin not listed
      preflight("https://app.example", "DELETE"),                // method not allowed
      preflight("https://app.example", "GET", "x-admin-token"),  // header not allowed
  };
  for (const std::string& raw : refused) {
    auto r = fetch(gw.port(), raw);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 403) << raw << r->raw;
    EXPECT_FALSE(r->has("access-control-allow-origin")) << r->raw;
    EXPECT_EQ(r->header("content-type").value_or(""), "application/problem+json");
  }
  EXPECT_TRUE(read_record(record_file()).requests.empty());
}

TEST_F(CorsTest, AnAllowedOriginsResponseIsMarkedAndTheUpstreamsOwnCorsHeadersGo) {
  Upstream up;
  auto& gw = start_cors(up.port());
  ASSERT_TRUE(gw.ok()) << gw.error();
  // The upstream claims a different policy: the gateway's is the route's.
  auto r = fetch(gw.port(), request("GET",
                                    "/api/orders?header=Access-Control-Allow-Origin:*"
                                    "&header=Vary:Accept-Encoding",
                                    "Origin: https://app.example\r\n"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->raw;
  EXPECT_EQ(r->header_count("access-control-allow-origin"), 1u) << r->raw;
  EXPECT_EQ(r->header("access-control-allow-origin").value_or(""), "https://app.example");
  EXPECT_EQ(r->header("access-control-allow-credentials").value_or(""), "true");
  EXPECT_EQ(r->header("access-control-expose-headers").value_or(""), "x-request-id");
  bool origin_varies = false;
  for (const auto& [name, value] : r->headers) {
    origin_varies |= (name == "Vary" && value == "Origin");
  }
  EXPECT_TRUE(origin_varies) << r->raw;
  EXPECT_EQ(r->header_count("vary"), 2u) << r->raw;  // the upstream's stays beside ours
}

TEST_F(CorsTest, AnOriginNotListedGetsNoCorsHeadersButTheResponseStillVaries) {
  Upstream up;
  auto& gw = start_cors(up.port());
  ASSERT_TRUE(gw.ok()) << gw.error();
  for (const char* extra : {"Origin: https://evil.example\r\n", ""}) {
    auto r =
        fetch(gw.port(), request("GET", "/api/orders?header=Access-Control-Allow-Origin:*", extra));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << r->raw;
    EXPECT_FALSE(r->has("access-control-allow-origin")) << extra << r->raw;
    EXPECT_FALSE(r->has("access-control-allow-credentials")) << r->raw;
    EXPECT_EQ(r->header("vary").value_or(""), "Origin") << r->raw;
  }
}

TEST_F(CorsTest, TheGatewaysOwnRefusalsCarryCorsHeadersForAnAllowedOrigin) {
  // A refusal by a filter after cors (a rate limit): the page must be able to read the 429.
  Upstream up;
  auto& gw = start_proxy(endpoint(up.port()), "",
                         "  - match: {prefix: /api}\n"
                         "    cors: {allow_origins: [\"https://app.example\"]}\n"
                         "    rate_limit: tiny\n"
                         "    upstream: api\n",
                         [] {
                           ConfigSpec s;
                           s.sections = "rate_limits:\n  tiny: {key: route, rate: 1/m, burst: 1}\n";
                           return s;
                         }());
  ASSERT_TRUE(gw.ok()) << gw.error();
  const std::string get = request("GET", "/api/x", "Origin: https://app.example\r\n");
  auto first = fetch(gw.port(), get);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->status, 200) << first->raw;
  auto limited = fetch(gw.port(), get);
  ASSERT_TRUE(limited);
  EXPECT_EQ(limited->status, 429) << limited->raw;
  EXPECT_EQ(limited->header("access-control-allow-origin").value_or(""), "https://app.example");
  EXPECT_EQ(limited->header("vary").value_or(""), "Origin");
  EXPECT_TRUE(limited->has("retry-after"));
}

TEST_F(CorsTest, OptionsThatIsNotAPreflightIsStill405OnARouteWithoutOptions) {
  Upstream up({"--record", record_file()});
  auto& gw = start_cors(up.port());
  ASSERT_TRUE(gw.ok()) << gw.error();
  auto r = fetch(gw.port(), request("OPTIONS", "/api/orders"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 405) << r->raw;
  EXPECT_EQ(r->header("allow").value_or(""), "GET, HEAD, POST");
  EXPECT_TRUE(read_record(record_file()).requests.empty());
}

TEST_F(CorsTest, AnyOriginWithCredentialsNamesTheRequestsOrigin) {
  Upstream up;
  auto& gw = start_cors(up.port(),
                        "  - match: {prefix: /api}\n"
                        "    cors: {allow_origins: [\"*\"], allow_credentials: true}\n"
                        "    upstream: api\n");
  ASSERT_TRUE(gw.ok()) << gw.error();
  auto r = fetch(gw.port(), request("GET", "/api/x", "Origin: https://any.example\r\n"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->raw;
  // `*` is not valid with credentials: the response names the origin it answers.
  EXPECT_EQ(r->header("access-control-allow-origin").value_or(""), "https://any.example");
}

TEST_F(CorsTest, ABadCorsSectionIsRefusedAtStartWithItsPlace) {
  ConfigSpec spec;
  spec.upstreams = "  api:\n    endpoints: [\"127.0.0.1:1\"]\n";
  spec.routes =
      "  - match: {prefix: /api}\n"
      "    cors: {allow_origins: [\"https://app.example/path\"]}\n"
      "    upstream: api\n";
  TempDir dir;
  const std::string file = dir.write("cors.yaml", make_config(spec));
  CommandResult t = run_binary({"-t", "-c", file});
  EXPECT_EQ(t.exit_code, 1) << t.err;
  EXPECT_NE(t.err.find(file + ":"), std::string::npos) << t.err;
  EXPECT_NE(t.err.find("cors.allow_origins"), std::string::npos) << t.err;
}

}  // namespace
}  // namespace ringgate::it
