// A route's `cors:` section: what it accepts, what it derives, and where it points when wrong.

#include <gtest/gtest.h>

#include <string>

#include "config_test_util.h"

namespace ringgate::config_test {
namespace {

#define ROUTE(CORS)                                   \
  "server: {listen: \"127.0.0.1:0\"}\n"               \
  "routes:\n"                                         \
  "  - match: {prefix: /api, methods: [GET, POST]}\n" \
  "    cors: " CORS                                   \
  "\n"                                                \
  "    direct: {status: 200}\n"

TEST(CorsConfig, EverythingAGatewayNeedsIsDerivedOnce) {
  const Config c = load_config_string(
      ROUTE("{allow_origins: [\"HTTPS://App.Example\", \"http://localhost:3000\"],"
            " allow_methods: [GET, PUT], allow_headers: [Authorization, X-Trace],"
            " expose_headers: [X-Request-Id], allow_credentials: true, max_age: 10m}"),
      "t.yaml");
  ASSERT_TRUE(c.routes[0].cors);
  const CorsConfig& cors = *c.routes[0].cors;
  EXPECT_EQ(cors.allow_origins,
            (std::vector<std::string>{"https://app.example", "http://localhost:3000"}));
  EXPECT_FALSE(cors.any_origin);
  EXPECT_EQ(cors.methods_value, "GET, PUT");
  EXPECT_EQ(cors.headers_value, "authorization, x-trace");
  EXPECT_EQ(cors.expose_value, "x-request-id");
  EXPECT_TRUE(cors.allow_credentials);
  EXPECT_EQ(cors.max_age_value, "600");
  // Preflights reach a route limited to other methods; only they may use OPTIONS there.
  EXPECT_TRUE(cors.options_added);
  EXPECT_EQ(c.routes[0].match.methods, (std::vector<std::string>{"GET", "POST", "OPTIONS"}));
}

TEST(CorsConfig, DefaultsAreTheSafelistedMethodsAndNoCaching) {
  const Config c = load_config_string(ROUTE("{allow_origins: \"*\"}"), "t.yaml");
  const CorsConfig& cors = *c.routes[0].cors;
  EXPECT_TRUE(cors.any_origin);
  EXPECT_EQ(cors.methods_value, "GET, HEAD, POST");
  EXPECT_TRUE(cors.headers_value.empty());
  EXPECT_FALSE(cors.allow_credentials);
  EXPECT_TRUE(cors.max_age_value.empty());
  EXPECT_FALSE(c.routes[0].cors->options_added && c.routes[0].match.methods.empty());
}

TEST(CorsConfig, ARouteWithoutCorsHasNone) {
  const Config c = load_config_string(
      "server: {listen: \"127.0.0.1:0\"}\nroutes:\n  - match: {path: /a}\n    direct: {}\n",
      "t.yaml");
  EXPECT_FALSE(c.routes[0].cors);
}

TEST(CorsConfig, MistakesPointAtTheirValue) {
  const ErrorCase cases[] = {
      {ROUTE("{}"), "t.yaml:4:11", "needs 'allow_origins'"},
      {ROUTE("{allow_origins: []}"), "t.yaml:4:27", "empty list"},
      {ROUTE("{allow_origins: [app.example]}"), "t.yaml:4:28", "expected an origin"},
      {ROUTE("{allow_origins: [\"https://a.example/x\"]}"), "t.yaml:4:28", "nothing after"},
      {ROUTE("{allow_origins: \"*\", allow_methods: [get]}"), "t.yaml:4:48", "write 'GET'"},
      {ROUTE("{allow_origins: \"*\", allow_headers: [\"a b\"]}"), "t.yaml:4:48",
       "not a header name"},
      {ROUTE("{allow_origins: \"*\", max_age: 48h}"), "t.yaml:4:41", "cors.max_age"},
      {ROUTE("{allow_origins: \"*\", colour: blue}"), "t.yaml:4:32", "unknown key 'colour'"},
  };
  expect_errors(cases);
}

}  // namespace
}  // namespace ringgate::config_test

#undef ROUTE
