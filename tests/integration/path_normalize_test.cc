// Path normalisation on the wire: the normalised path is what is routed and what the upstream
// receives, so dot segments, escapes and doubled slashes cannot reach a route (or an upstream
// path) the plain path would not; what a route must allow is a 400 elsewhere.

#include <string>
#include <vector>

#include "proxy_fixture.h"

namespace ringgate::it {
namespace {

class PathNormalizeTest : public ProxyTest {
 protected:
  // /admin answers "admin" itself; /public/ and /raw/ go to the upstream, /raw/ with encoded
  // slashes allowed.
  GatewayProcess& start_paths(uint16_t upstream) {
    return start_proxy(endpoint(upstream), "",
                       "  - match: {path: /admin}\n"
                       "    direct: {body: \"admin\"}\n"
                       "  - match: {prefix: /public}\n"
                       "    upstream: api\n"
                       "  - match: {prefix: /raw}\n"
                       "    path_allow: [encoded_slash]\n"
                       "    upstream: api\n");
  }
};

TEST_F(PathNormalizeTest, DotSegmentsAndEscapesCannotReachAnotherRoute) {
  Upstream up({"--record", record_file()});
  auto& gw = start_paths(up.port());
  ASSERT_TRUE(gw.ok()) << gw.error();
  for (const char* target :
       {"/admin", "//admin", "/public/../admin", "/public/%2e%2e/admin", "/public/.%2E/admin",
        "/./admin", "/%61dmin", "/public/x/../../admin"}) {
    auto r = fetch(gw.port(), request("GET", target));
    ASSERT_TRUE(r) << target;
    EXPECT_EQ(r->status, 200) << target << "\n" << r->raw;
    EXPECT_EQ(r->body, "admin") << target;
  }
  // None of them reached the upstream.
  EXPECT_TRUE(read_record(record_file()).requests.empty());
}

TEST_F(PathNormalizeTest, TheUpstreamGetsTheNormalisedPathAndTheQueryAsSent) {
  Upstream up({"--record", record_file()});
  auto& gw = start_paths(up.port());
  ASSERT_TRUE(gw.ok()) << gw.error();
  const std::pair<const char*, const char*> cases[] = {
      {"/public//a/./b/../c", "/public/a/c"},
      {"/public/%7Euser/%41?q=%2F..%2e&x=//", "/public/~user/A?q=%2F..%2e&x=//"},
      {"/public/a%3fb", "/public/a%3Fb"},
      {"/raw/a%2Fb", "/raw/a%2Fb"},  // allowed, and kept: %2F stays inside its segment
      {"/raw/a%2Fb/../c", "/raw/c"},
  };
  for (auto [target, sent] : cases) {
    auto r = fetch(gw.port(), request("GET", target));
    ASSERT_TRUE(r) << target;
    EXPECT_EQ(r->status, 200) << target << "\n" << r->raw;
  }
  Recorded rec = read_record(record_file());
  ASSERT_EQ(rec.requests.size(), std::size(cases));
  for (size_t i = 0; i < std::size(cases); ++i) {
    const std::string line = std::string("GET ") + cases[i].second + " HTTP/1.1\r\n";
    EXPECT_EQ(rec.requests[i].rfind(line, 0), 0u) << cases[i].first << "\n"
                                                  << visible(rec.requests[i]);
  }
}

TEST_F(PathNormalizeTest, WhatTheRouteDoesNotAllowIs400) {
  Upstream up({"--record", record_file()});
  auto& gw = start_paths(up.port());
  ASSERT_TRUE(gw.ok()) << gw.error();
  for (const char* target : {"/public/a%2Fb", "/public/a%5c..%5cadmin", "/public/a%00.txt",
                             "/public/%C0%AE%C0%AE/admin", "/public/%E0%80%AF", "/nowhere/a%2Fb",
                             "/raw/a%00", "/public/%zz", "/public/a%4", "/admin%"}) {
    auto r = fetch(gw.port(), request("GET", target));
    ASSERT_TRUE(r) << target;
    EXPECT_EQ(r->status, 400) << target << "\n" << r->raw;
    EXPECT_EQ(r->header("content-type").value_or(""), "application/problem+json") << target;
    EXPECT_FALSE(r->connection_has("close")) << target;  // the framing was fine: keep-alive
  }
  EXPECT_TRUE(read_record(record_file()).requests.empty());
  EXPECT_EQ(metric(gw.admin_port(), "ringgate_parse_errors_bad_path_total"), 10);
  // Well-formed UTF-8 is fine.
  auto ok = fetch(gw.port(), request("GET", "/public/caf%C3%A9"));
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200) << ok->raw;
}

// A raw backslash or raw non-ASCII byte in the target never gets as far: the strict parser
// refuses the request line itself.
TEST_F(PathNormalizeTest, RawBackslashAndNonAsciiAreRefusedByTheParser) {
  Upstream up({"--record", record_file()});
  auto& gw = start_paths(up.port());
  ASSERT_TRUE(gw.ok()) << gw.error();
  for (const char* target : {"/raw/a\\b", "/raw/\xC0\xAE"}) {
    auto r = fetch(gw.port(), request("GET", target));
    ASSERT_TRUE(r) << target;
    EXPECT_EQ(r->status, 400) << visible(target) << "\n" << r->raw;
  }
  EXPECT_TRUE(read_record(record_file()).requests.empty());
}

// A fragment never goes upstream: "/public#x" would pass a "/public" rule while a backend that
// splits it off serves what it likes, and "/admin#x" is not "/admin" to the router.
TEST_F(PathNormalizeTest, AFragmentInTheTargetIs400) {
  Upstream up({"--record", record_file()});
  auto& gw = start_paths(up.port());
  ASSERT_TRUE(gw.ok()) << gw.error();
  for (const char* target : {"/public#x", "/public/a?b=1#frag", "/admin#", "/x#/../public"}) {
    auto r = fetch(gw.port(), request("GET", target));
    ASSERT_TRUE(r) << target;
    EXPECT_EQ(r->status, 400) << target << "\n" << r->raw;
    EXPECT_NE(r->body.find("fragment"), std::string::npos) << r->body;
  }
  EXPECT_TRUE(read_record(record_file()).requests.empty());
  auto r = fetch(gw.port(), request("GET", "/public/a?b=1"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->raw;
}

TEST_F(PathNormalizeTest, PipelinedRequestsEachGetTheirOwnPath) {
  Upstream up({"--record", record_file()});
  auto& gw = start_paths(up.port());
  ASSERT_TRUE(gw.ok()) << gw.error();
  Conn c = connect_to(gw.port());
  ASSERT_TRUE(c.valid());
  ASSERT_TRUE(send_all(c, request("GET", "/public/a/../b?x=1") + request("GET", "/public/%2e/c") +
                              request("GET", "/public/a%2Fb") + request("GET", "/public/d")));
  for (int expected : {200, 200, 400, 200}) {
    auto r = read_response(c);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, expected) << r->raw;
  }
  Recorded rec = read_record(record_file());
  ASSERT_EQ(rec.requests.size(), 3u);
  EXPECT_EQ(rec.requests[0].rfind("GET /public/b?x=1 HTTP/1.1\r\n", 0), 0u);
  EXPECT_EQ(rec.requests[1].rfind("GET /public/c HTTP/1.1\r\n", 0), 0u);
  EXPECT_EQ(rec.requests[2].rfind("GET /public/d HTTP/1.1\r\n", 0), 0u);
}

}  // namespace
}  // namespace ringgate::it
