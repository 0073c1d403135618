// Routes no request can reach: a warning (the config still loads) for each route an earlier one
// takes every request of, with both positions; none where some request would still reach it.

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "ringgate/config/config.h"

namespace ringgate {
namespace {

// The warnings of a config with these routes (the YAML list under `routes:`).
std::vector<std::string> warnings_of(const std::string& routes) {
  return load_config_string("server: {listen: \"127.0.0.1:0\"}\nroutes:\n" + routes, "t.yaml")
      .warnings;
}

// Whether `routes[later]` is reported as taken by `routes[earlier]`, and nothing else is.
::testing::AssertionResult only_shadowed(const std::string& routes, size_t later, size_t earlier) {
  const std::vector<std::string> w = warnings_of(routes);
  const std::string expected_part = "routes[" + std::to_string(later) + "] (route#" +
                                    std::to_string(later + 1) + ") can never match: routes[" +
                                    std::to_string(earlier) + "] (";
  if (w.size() != 1 || w[0].find(expected_part) == std::string::npos) {
    std::string all;
    for (const std::string& line : w) {
      all += "\n  " + line;
    }
    return ::testing::AssertionFailure()
           << "expected one warning with '" << expected_part << "', got " << w.size() << ":" << all;
  }
  return ::testing::AssertionSuccess();
}

TEST(ShadowedRoutes, TheWarningNamesBothRoutesWithTheirPositions) {
  const std::vector<std::string> w = warnings_of(
      "  - name: everything\n"
      "    match: {prefix: /}\n"
      "    direct: {body: a}\n"
      "  - name: orders\n"
      "    match: {path: /orders}\n"
      "    direct: {body: b}\n"
      "  - match: {prefix: /api/}\n"
      "    direct: {body: c}\n");
  ASSERT_EQ(w.size(), 2u);
  EXPECT_EQ(w[0],
            "t.yaml:6: warning: routes[1] (orders) can never match: routes[0] (t.yaml:3) takes "
            "every request it would");
  EXPECT_EQ(w[1],
            "t.yaml:9: warning: routes[2] (route#3) can never match: routes[0] (t.yaml:3) takes "
            "every request it would");
}

TEST(ShadowedRoutes, PathsThatCoverEveryPathOfALaterRoute) {
  const char* const kCases[][2] = {
      // earlier match, later match
      {"{prefix: /}", "{path: \"/users/{id}\"}"},
      {"{path: /a}", "{path: /a}"},
      {"{prefix: /api}", "{path: /api}"},
      {"{prefix: /api}", "{path: /api/x/y}"},
      {"{prefix: /api}", "{prefix: /api/v1}"},
      {"{prefix: /api}", "{prefix: /api}"},
      {"{prefix: /api/}", "{prefix: /api/v}"},
      {"{prefix: /api/}", "{path: /api/}"},
      {"{prefix: /api}", "{path: \"/api/{v}/ping\"}"},
      {"{prefix: /api/}", "{path: \"/api/{v}\"}"},
      {"{path: \"/users/{id}\"}", "{path: /users/me}"},
      {"{path: \"/users/{id}\"}", "{path: \"/users/{uid}\"}"},
      {"{path: \"/{a}/{b}\"}", "{path: \"/x/{b}\"}"},
  };
  for (const auto& c : kCases) {
    const std::string routes = std::string("  - {match: ") + c[0] +
                               ", direct: {body: a}}\n  - {match: " + c[1] +
                               ", direct: {body: b}}\n";
    EXPECT_TRUE(only_shadowed(routes, 1, 0)) << routes;
  }
}

// Some path of the later route is not the earlier one's: no warning.
TEST(ShadowedRoutes, PathsThatLeaveSomethingToTheLaterRoute) {
  const char* const kCases[][2] = {
      {"{path: /a}", "{prefix: /a}"},
      {"{path: /a}", "{path: /a/}"},
      {"{prefix: /api}", "{path: /apix}"},
      {"{prefix: /api}", "{prefix: /ap}"},
      {"{prefix: /api/}", "{path: /api}"},
      {"{prefix: /api/}", "{prefix: /api}"},
      {"{prefix: /api/v}", "{path: \"/api/{v}\"}"},
      {"{prefix: /api/x}", "{path: \"/api/{v}/x\"}"},
      {"{path: \"/users/{id}\"}", "{path: /users/}"},
      {"{path: \"/users/{id}\"}", "{path: /users/me/x}"},
      {"{path: \"/users/{id}\"}", "{prefix: /users/}"},
      {"{path: \"/users/me\"}", "{path: \"/users/{id}\"}"},
      {"{path: \"/users/{id}\"}", "{path: \"/users/{id}/\"}"},
      {"{path: \"/x/{b}\"}", "{path: \"/{a}/{b}\"}"},
      // The later route comes first in the file order that counts: nothing is shadowed.
      {"{path: /api/v1}", "{prefix: /api}"},
  };
  for (const auto& c : kCases) {
    const std::string routes = std::string("  - {match: ") + c[0] +
                               ", direct: {body: a}}\n  - {match: " + c[1] +
                               ", direct: {body: b}}\n";
    EXPECT_TRUE(warnings_of(routes).empty()) << routes;
  }
}

TEST(ShadowedRoutes, MethodsAndHostsOfTheEarlierRouteMustBeAtLeastAsBroad) {
  const auto pair = [](const std::string& earlier, const std::string& later) {
    return "  - {match: {prefix: /a" + earlier + "}, direct: {body: a}}\n  - {match: {path: /a" +
           later + "}, direct: {body: b}}\n";
  };
  // Covered.
  EXPECT_TRUE(only_shadowed(pair("", ", methods: [POST]"), 1, 0));
  EXPECT_TRUE(only_shadowed(pair(", methods: [GET, POST]", ", methods: [POST, GET]"), 1, 0));
  EXPECT_TRUE(only_shadowed(pair(", methods: [GET]", ", methods: [HEAD]"), 1, 0));  // GET: HEAD
  EXPECT_TRUE(only_shadowed(pair("", ", host: example.com"), 1, 0));
  EXPECT_TRUE(
      only_shadowed(pair(", host: Example.com", ", host: example.COM, methods: [GET]"), 1, 0));
  // Not covered: some method or host is left to the later route.
  EXPECT_TRUE(warnings_of(pair(", methods: [GET]", "")).empty());
  EXPECT_TRUE(warnings_of(pair(", methods: [GET]", ", methods: [GET, POST]")).empty());
  EXPECT_TRUE(warnings_of(pair(", methods: [HEAD]", ", methods: [GET]")).empty());
  EXPECT_TRUE(warnings_of(pair(", host: a.example", "")).empty());
  EXPECT_TRUE(warnings_of(pair(", host: a.example", ", host: b.example")).empty());
}

// A route with cors takes OPTIONS (preflights) beyond its methods, as the router has it.
TEST(ShadowedRoutes, CorsTakesOptions) {
  const std::string cors = ", cors: {allow_origins: [\"https://app.example\"]}";
  EXPECT_TRUE(
      only_shadowed("  - {match: {prefix: /a, methods: [GET]}" + cors +
                        ", direct: {body: a}}\n"
                        "  - {match: {path: /a/x, methods: [OPTIONS]}, direct: {body: b}}\n",
                    1, 0));
  EXPECT_TRUE(warnings_of("  - {match: {prefix: /a, methods: [GET]}, direct: {body: a}}\n"
                          "  - {match: {path: /a/x, methods: [OPTIONS]}, direct: {body: b}}\n")
                  .empty());
}

// What a route does with the request once taken (auth, path_allow) does not give it back: the
// later route is dead all the same.
TEST(ShadowedRoutes, FiltersOfTheEarlierRouteDoNotMatter) {
  EXPECT_TRUE(
      only_shadowed("  - {match: {prefix: /a}, path_allow: [encoded_slash],"
                    " direct: {body: a}}\n"
                    "  - {match: {path: /a/b}, direct: {body: b}}\n",
                    1, 0));
}

// Each dead route is reported once, with the first route that takes its requests.
TEST(ShadowedRoutes, EachRouteOnceWithTheFirstThatCoversIt) {
  const std::vector<std::string> w = warnings_of(
      "  - {match: {path: /b}, direct: {body: a}}\n"
      "  - {match: {prefix: /}, direct: {body: b}}\n"
      "  - {match: {prefix: /}, direct: {body: c}}\n"
      "  - {match: {path: /b}, direct: {body: d}}\n");
  ASSERT_EQ(w.size(), 2u);
  EXPECT_NE(w[0].find("routes[2] (route#3) can never match: routes[1] ("), std::string::npos)
      << w[0];
  EXPECT_NE(w[1].find("routes[3] (route#4) can never match: routes[0] ("), std::string::npos)
      << w[1];
}

TEST(ShadowedRoutes, TheDefaultConfigHasNone) {
  EXPECT_TRUE(load_config_string(kEmbeddedDefaultConfig, "<embedded>").warnings.empty());
}

}  // namespace
}  // namespace ringgate
