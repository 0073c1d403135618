// What `ringgate -t` (and a start) says about a config beyond "valid": a route no request can
// reach is a warning with both routes' positions (exit 0, and printed at start-up too), and a
// config with several mistakes gets every one listed, each with its position (exit 1).

#include <algorithm>
#include <string>
#include <vector>

#include "fixture.h"

namespace ringgate::it {
namespace {

constexpr const char* kShadowed = R"(server:
  workers: 1
  pin_cpus: false
  listen: "127.0.0.1:0"
admin:
  listen: "127.0.0.1:0"
routes:
  - name: catch-all
    match: {prefix: /}
    direct: {body: "everything\n"}
  - name: orders
    match: {path: /orders, methods: [GET]}
    direct: {body: "orders\n"}
)";

TEST(ConfigCheckWarnings, AShadowedRouteIsAWarningWithBothPositions) {
  TempDir dir;
  const std::string file = dir.write("gw.yaml", kShadowed);
  const std::string warning = "ringgate: " + file +
                              ":11: warning: routes[1] (orders) can never match: routes[0] (" +
                              file + ":8) takes every request it would\n";
  const CommandResult t = run_binary({"-t", "-c", file});
  EXPECT_EQ(t.exit_code, 0) << t.err;
  EXPECT_EQ(t.err, warning);
  EXPECT_NE(t.out.find("is valid"), std::string::npos) << t.out;

  // The same at a normal start, and the gateway runs: the first route answers.
  GatewayProcess gw({"-c", file}, 10s);
  ASSERT_TRUE(gw.ok()) << gw.error();
  EXPECT_NE(gw.log().find(warning), std::string::npos) << gw.log();
  auto r = fetch(gw.port(), request("GET", "/orders"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "everything\n");
}

TEST(ConfigCheckProblems, EveryProblemIsListedWithItsPosition) {
  TempDir dir;
  const std::string file = dir.write("bad.yaml",
                                     "server:\n"
                                     "  listen: \"127.0.0.1:0\"\n"
                                     "  backlog: 0\n"
                                     "upstreams:\n"
                                     "  api: {endpoints: [\"127.0.0.1:1\"], balance: fastest}\n"
                                     "routes:\n"
                                     "  - {match: {path: x}, direct: {}}\n"
                                     "  - {match: {path: /y}, upstream: nowhere}\n");
  for (const char* flag : {"-t", ""}) {
    SCOPED_TRACE(flag);
    std::vector<std::string> args{"-c", file};
    if (*flag) {
      args.insert(args.begin(), flag);
    }
    const CommandResult r = run_binary(args, 5s);
    EXPECT_EQ(r.exit_code, 1) << r.err;
    const std::string expected[] = {
        "ringgate: " + file + ":3:12: server.backlog: must be between 1 and 65535, got 0\n",
        "ringgate: " + file + ":5:46: upstreams.api.balance: ",
        "ringgate: " + file + ":7:20: routes[0].match.path: must start with '/'",
        "ringgate: " + file + ":8:35: routes[1].upstream: unknown upstream \"nowhere\"",
    };
    size_t at = 0;
    for (const std::string& line : expected) {
      const size_t found = r.err.find(line, at);
      EXPECT_NE(found, std::string::npos) << "expected, in order, '" << line << "' in:\n" << r.err;
      at = found == std::string::npos ? at : found;
    }
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 4) << r.err;
  }
}

TEST(ConfigCheckProblems, PastTwentyTheRestAreCounted) {
  std::string yaml = "server: {listen: \"127.0.0.1:0\"}\nroutes:\n";
  for (int i = 0; i < 23; ++i) {
    yaml += "  - {match: {path: x" + std::to_string(i) + "}, direct: {}}\n";
  }
  TempDir dir;
  const std::string file = dir.write("many.yaml", yaml);
  const CommandResult r = run_binary({"-t", "-c", file});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 21) << r.err;
  EXPECT_NE(r.err.find("routes[19].match.path"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("routes[20]"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("\nringgate: ... and 3 more\n"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace ringgate::it
