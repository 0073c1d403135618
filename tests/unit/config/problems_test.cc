// A config with several mistakes: every one the loader can find is reported, in the order found
// (so the first is the one a single-problem load would give), at most kMaxConfigProblems and a
// count of the rest; what depends on a part that failed is not reported again.

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "ringgate/config/config.h"

namespace ringgate {
namespace {

// The problems of `yaml` loaded as "t.yaml"; empty when it loads.
std::vector<std::string> problems_of(const std::string& yaml) {
  try {
    load_config_string(yaml, "t.yaml");
  } catch (const ConfigError& e) {
    return e.problems();
  }
  return {};
}

#define SERVER "server: {listen: \"127.0.0.1:0\"}\n"

TEST(ConfigProblems, EverySectionClusterPolicyAndRouteIsChecked) {
  const std::string yaml =
      "server:\n"                                                // 1
      "  listen: \"127.0.0.1:0\"\n"                              // 2
      "  backlog: 0\n"                                           // 3
      "admin: {listen: \"127.0.0.1:99999\"}\n"                   // 4
      "upstreams:\n"                                             // 5
      "  a: {endpoints: [\"127.0.0.1:1\"], balance: fastest}\n"  // 6
      "  b: {endpoints: [\"127.0.0.1:2\"]}\n"                    // 7
      "  c: {endpoints: []}\n"                                   // 8
      "rate_limits:\n"                                           // 9
      "  slow: {rate: 1/d}\n"                                    // 10
      "routes:\n"                                                // 11
      "  - {match: {path: /ok}, upstream: b}\n"                  // 12
      "  - {match: {path: x}, direct: {}}\n"                     // 13
      "  - {match: {path: /y}, upstream: nowhere}\n";            // 14
  const std::vector<std::string> p = problems_of(yaml);
  ASSERT_EQ(p.size(), 7u) << ::testing::PrintToString(p);
  EXPECT_EQ(p[0].rfind("t.yaml:3:12: server.backlog: must be between 1 and 65535", 0), 0u) << p[0];
  EXPECT_EQ(p[1].rfind("t.yaml:4:17: admin.listen: ", 0), 0u) << p[1];
  EXPECT_EQ(p[2].rfind("t.yaml:6:44: upstreams.a.balance: ", 0), 0u) << p[2];
  EXPECT_EQ(p[3].rfind("t.yaml:8:18: upstreams.c.endpoints: ", 0), 0u) << p[3];
  EXPECT_EQ(p[4].rfind("t.yaml:10:16: rate_limits.slow.rate: ", 0), 0u) << p[4];
  EXPECT_EQ(p[5].rfind("t.yaml:13:20: routes[1].match.path: must start with '/'", 0), 0u) << p[5];
  EXPECT_EQ(p[6], "t.yaml:14:35: routes[2].upstream: unknown upstream \"nowhere\" (defined: b)");
}

// what() holds every problem, one per line, the first first: a single-problem caller still
// finds its message at the start.
TEST(ConfigProblems, WhatHoldsThemAllFirstFirst) {
  try {
    load_config_string("server: {listen: \":0\", backlog: 0, workers: many}\n", "t.yaml");
    FAIL() << "loaded";
  } catch (const ConfigError& e) {
    ASSERT_EQ(e.problems().size(), 1u);  // one section, one problem: the first ends the section
    EXPECT_EQ(std::string(e.what()), e.problems()[0]);
  }
  try {
    load_config_string(SERVER
                       "routes:\n  - {match: {path: a}, direct: {}}\n"
                       "  - {match: {path: b}, direct: {}}\n",
                       "t.yaml");
    FAIL() << "loaded";
  } catch (const ConfigError& e) {
    ASSERT_EQ(e.problems().size(), 2u);
    EXPECT_EQ(std::string(e.what()), e.problems()[0] + "\n" + e.problems()[1]);
    EXPECT_EQ(e.problems()[0].rfind("t.yaml:3:20: routes[0].match.path", 0), 0u);
    EXPECT_EQ(e.problems()[1].rfind("t.yaml:4:20: routes[1].match.path", 0), 0u);
  }
}

TEST(ConfigProblems, AtMostTwentyAndACountOfTheRest) {
  std::string yaml = SERVER "routes:\n";
  for (int i = 0; i < 25; ++i) {
    yaml += "  - {match: {path: bad" + std::to_string(i) + "}, direct: {}}\n";
  }
  try {
    load_config_string(yaml, "t.yaml");
    FAIL() << "loaded";
  } catch (const ConfigError& e) {
    ASSERT_EQ(e.problems().size(), kMaxConfigProblems);
    EXPECT_EQ(e.more(), 5u);
    EXPECT_NE(e.problems().back().find("routes[19]"), std::string::npos) << e.problems().back();
    const std::string what = e.what();
    EXPECT_EQ(what.substr(what.rfind('\n') + 1), "... and 5 more");
  }
}

// A route naming a cluster, policy, issuer or key set whose own entry failed is not reported:
// the entry's problem says it all.
TEST(ConfigProblems, WhatNamesAFailedEntryIsNotReportedAgain) {
  const std::vector<std::string> p =
      problems_of(SERVER
                  "upstreams:\n"
                  "  api: {endpoints: [\"nope\"]}\n"
                  "rate_limits:\n"
                  "  slow: {rate: lots}\n"
                  "auth:\n"
                  "  jwt:\n"
                  "    main: {jwks_file: /nonexistent/jwks.json}\n"
                  "    remote: {jwks_url: \"ftp://x\"}\n"
                  "  api_keys:\n"
                  "    partners: {file: /nonexistent/keys.txt}\n"
                  "routes:\n"
                  "  - {match: {path: /a}, upstream: api}\n"
                  "  - {match: {path: /b}, rate_limit: slow, direct: {}}\n"
                  "  - {match: {path: /c}, auth: {jwt: main}, direct: {}}\n"
                  "  - {match: {path: /d}, auth: {api_key: partners}, direct: {}}\n"
                  "  - {match: {path: /e}, upstream: jwks.remote}\n"
                  "  - {match: {path: /f}, upstream: elsewhere}\n");
  ASSERT_EQ(p.size(), 6u) << ::testing::PrintToString(p);
  EXPECT_NE(p[0].find("upstreams.api.endpoints[0]"), std::string::npos) << p[0];
  EXPECT_NE(p[1].find("rate_limits.slow.rate"), std::string::npos) << p[1];
  EXPECT_NE(p[2].find("auth.api_keys.partners.file"), std::string::npos) << p[2];
  EXPECT_NE(p[3].find("auth.jwt.main.jwks_file"), std::string::npos) << p[3];
  EXPECT_NE(p[4].find("auth.jwt.remote.jwks_url"), std::string::npos) << p[4];
  // Only the route naming something that never existed.
  EXPECT_EQ(p[5],
            "t.yaml:18:35: routes[5].upstream: unknown upstream \"elsewhere\" (no upstreams "
            "are defined)");
}

// A server section that failed may have held the listeners: their absence is not reported, nor
// clashes with what it would have said.
TEST(ConfigProblems, AFailedServerSectionIsNotJudgedByWhatItLacks) {
  const std::vector<std::string> p = problems_of(
      "server: {backlog: 0, listen: \"127.0.0.1:9901\"}\n"
      "routes:\n  - {match: {path: x}, direct: {}}\n");
  ASSERT_EQ(p.size(), 2u) << ::testing::PrintToString(p);
  EXPECT_NE(p[0].find("server.backlog"), std::string::npos) << p[0];
  EXPECT_NE(p[1].find("routes[0].match.path"), std::string::npos) << p[1];
  // With the server section sound, the missing listener is a problem of its own, and the rest
  // is still checked.
  const std::vector<std::string> q =
      problems_of("server: {backlog: 10}\nroutes:\n  - {match: {path: x}, direct: {}}\n");
  ASSERT_EQ(q.size(), 2u) << ::testing::PrintToString(q);
  EXPECT_NE(q[0].find("server.listen: at least one listener is required"), std::string::npos);
  EXPECT_NE(q[1].find("routes[0].match.path"), std::string::npos) << q[1];
}

#undef SERVER

}  // namespace
}  // namespace ringgate
