// What aggregation backends receive and what of their answers the client gets: the client's
// trace context on every call, a status_from backend's own body, and the Cache-Control that
// `cache_control` sets.

#include <string>
#include <vector>

#include "aggregate_fixture.h"
#include "json_body.h"

namespace ringgate::it {
namespace {

std::vector<std::string> one(const std::string& v) {
  return {v};
}

// Every call of an aggregation carries the client's traceparent and tracestate, as received:
// parallel, chained and for_each calls alike.
TEST_F(AggregateTest, TraceContextReachesEveryBackendCall) {
  Upstream a({"--record", record_file("a")});
  auto& gw = start_agg(
      "      backends:\n"
      "        - {key: list, upstream: a, path: /l, query: {json: \"[1,2]\"}}\n"
      "        - {key: other, upstream: a, path: /o}\n"
      "        - {key: each, upstream: a, path: \"/each/{item}\", for_each: \"list[*]\"}\n"
      "        - {key: chained, upstream: a, path: \"/c/{each[1].n}\"}\n",
      a.port());
  ASSERT_TRUE(gw.ok()) << gw.error();
  const std::string traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
  const std::string tracestate = "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7";
  auto r = fetch(gw.port(),
                 request("GET", "/agg/1",
                         "traceparent: " + traceparent + "\r\ntracestate: " + tracestate + "\r\n"));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->raw;
  Recorded rec = read_record(record_file("a"));
  ASSERT_EQ(rec.requests.size(), 5u);
  for (const std::string& sent : rec.requests) {
    EXPECT_EQ(values(sent, "traceparent"), one(traceparent)) << visible(sent);
    EXPECT_EQ(values(sent, "tracestate"), one(tracestate)) << visible(sent);
  }
  // A request without trace context: none is made up.
  auto plain = fetch(gw.port(), request("GET", "/agg/2"));
  ASSERT_TRUE(plain);
  ASSERT_EQ(plain->status, 200) << plain->raw;
  rec = read_record(record_file("a"));
  ASSERT_EQ(rec.requests.size(), 10u);
  for (size_t i = 5; i < rec.requests.size(); ++i) {
    EXPECT_TRUE(values(rec.requests[i], "traceparent").empty()) << visible(rec.requests[i]);
    EXPECT_TRUE(values(rec.requests[i], "tracestate").empty()) << visible(rec.requests[i]);
  }
}

// status_from: the backend's own status, body and Content-Type reach the client; the gateway's
// problem document stands in only when the backend sent no body it can pass on.
TEST_F(AggregateTest, StatusFromPassesTheBackendsOwnStatusAndBody) {
  Upstream a;
  auto product = [&](const std::string& query, const std::string& limits = "") -> GatewayProcess& {
    return start_agg(limits +
                         "      status_from: product\n"
                         "      backends:\n"
                         "        - {key: product, upstream: a, path: /p, query: {" +
                         query +
                         "}}\n"
                         "        - {key: stock, upstream: a, path: /s}\n",
                     a.port());
  };
  auto& json = product("status: \"404\", json: '{{\"error\": \"no such product\"}}'");
  ASSERT_TRUE(json.ok()) << json.error();
  auto r = fetch(json.port(), request("GET", "/agg/1"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404) << r->raw;
  EXPECT_EQ(r->header("content-type").value_or(""), "application/json") << r->raw;
  EXPECT_EQ(r->body, "{\"error\": \"no such product\"}");

  // Any type passes as it was sent (echo=1 answers the raw request as octet-stream).
  auto& echo = product("status: \"409\", echo: \"1\"");
  ASSERT_TRUE(echo.ok()) << echo.error();
  r = fetch(echo.port(), request("GET", "/agg/1"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 409) << r->raw;
  EXPECT_EQ(r->header("content-type").value_or(""), "application/octet-stream") << r->raw;
  EXPECT_EQ(r->body.rfind("GET /p?status=409&echo=1 HTTP/1.1\r\n", 0), 0u) << visible(r->body);

  // No body: the gateway's problem document, with the backend's status.
  auto& empty = product("status: \"404\", json: \"\"");
  ASSERT_TRUE(empty.ok()) << empty.error();
  r = fetch(empty.port(), request("GET", "/agg/1"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404) << r->raw;
  EXPECT_EQ(r->header("content-type").value_or(""), "application/problem+json") << r->raw;
  EXPECT_NE(r->body.find("backend \\\"product\\\" answered 404"), std::string::npos) << r->body;

  // A body over the limit is not kept, but the status still passes.
  auto& big = product("status: \"404\", body_size: \"5000\"", "      limits: {body_bytes: 1KiB}\n");
  ASSERT_TRUE(big.ok()) << big.error();
  r = fetch(big.port(), request("GET", "/agg/1"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404) << r->raw;
  EXPECT_EQ(r->header("content-type").value_or(""), "application/problem+json") << r->raw;
  EXPECT_NE(r->body.find("answered 404"), std::string::npos) << r->body;
}

// A for_each backend named by status_from: the failing element's answer is the backend's.
TEST_F(AggregateTest, StatusFromForEachPassesTheFailingElementsBody) {
  Upstream a;
  auto& gw = start_agg(
      "      status_from: each\n"
      "      backends:\n"
      "        - {key: list, upstream: a, path: /l, query: {json: \"[200,410]\"}}\n"
      "        - {key: each, upstream: a, path: \"/e/{item}\", for_each: \"list[*]\","
      " query: {status: \"{item}\", json: '{{\"element\": {item}}}'}}\n",
      a.port());
  ASSERT_TRUE(gw.ok()) << gw.error();
  auto r = fetch(gw.port(), request("GET", "/agg/1"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 410) << r->raw;
  EXPECT_EQ(r->header("content-type").value_or(""), "application/json") << r->raw;
  EXPECT_EQ(r->body, "{\"element\": 410}");
}

// cache_control: none sends no Cache-Control, a value is sent as written, and a partial
// response is no-store whatever the route says.
TEST_F(AggregateTest, CacheControlNoneOrAValueReplaceTheComputedOne) {
  Upstream a;
  auto action = [](const std::string& mode, bool fail_optional) {
    return "      cache_control: " + mode +
           "\n"
           "      backends:\n"
           "        - {key: one, upstream: a, path: /1,"
           " query: {header: \"Cache-Control:no-store\"}}\n"
           "        - {key: two, upstream: " +
           std::string(fail_optional ? "down" : "a") + ", path: /2, optional: true}\n";
  };
  struct Case {
    std::string mode;
    bool partial;
    std::string want;  // "" = no Cache-Control
  };
  const std::vector<Case> cases = {
      {"most_restrictive", false, "no-store"},
      {"none", false, ""},
      {"\"public, max-age=60\"", false, "public, max-age=60"},
      {"\"private, no-cache\"", false, "private, no-cache"},
      {"none", true, "no-store"},
      {"\"public, max-age=60\"", true, "no-store"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.mode + (c.partial ? " (partial)" : ""));
    auto& gw = start_agg(action(c.mode, c.partial), a.port());
    ASSERT_TRUE(gw.ok()) << gw.error();
    auto r = fetch(gw.port(), request("GET", "/agg/1"));
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->raw;
    EXPECT_EQ(r->has("ringgate-partial"), c.partial) << r->raw;
    if (c.want.empty()) {
      EXPECT_FALSE(r->has("cache-control")) << r->raw;
    } else {
      EXPECT_EQ(r->header("cache-control").value_or(""), c.want) << r->raw;
      EXPECT_EQ(r->header_count("cache-control"), 1u) << r->raw;
    }
  }
}

}  // namespace
}  // namespace ringgate::it
