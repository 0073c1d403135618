// What aggregation backends receive and what of their answers the client gets: the Host of each
// call (the endpoint's, or `host:` of the backend or its cluster), the client's trace context,
// a status_from backend's own body, and the Cache-Control that `cache_control` sets.

#include <regex>
#include <set>
#include <string>
#include <vector>

#include "aggregate_fixture.h"
#include "json_body.h"

namespace ringgate::it {
namespace {

// The one recorded request whose request line starts with `method_path` ("GET /e").
std::string request_to(const Recorded& rec, const std::string& method_path) {
  std::string found;
  for (const std::string& r : rec.requests) {
    if (r.rfind(method_path + " ", 0) == 0 || r.rfind(method_path + "?", 0) == 0) {
      EXPECT_TRUE(found.empty()) << "two requests to " << method_path;
      found = r;
    }
  }
  EXPECT_FALSE(found.empty()) << "no request to " << method_path;
  return found;
}

std::vector<std::string> one(const std::string& v) {
  return {v};
}

std::string authority(uint16_t port) {
  return "127.0.0.1:" + std::to_string(port);
}

// A backend's Host is the called endpoint's host:port as written in the cluster (not the
// client's), unless `host:` on the backend or on its cluster says otherwise; a proxied route
// takes its cluster's `host:` too when it has none of its own.
TEST_F(AggregateTest, BackendsGetTheEndpointsHostOrTheHostTheySet) {
  Upstream a({"--record", record_file("a")});
  Upstream b({"--record", record_file("b")});
  ConfigSpec spec;
  spec.upstreams = "  a: {endpoints: [" + endpoint(a.port()) +
                   "]}\n"
                   "  b: {endpoints: [" +
                   endpoint(b.port()) + "], host: \"api.internal:8443\"}\n";
  spec.routes =
      "  - match: {path: \"/agg/{id}\"}\n"
      "    aggregate:\n"
      "      backends:\n"
      "        - {key: e, upstream: a, path: /e}\n"
      "        - {key: p, upstream: a, path: /p, host: preserve}\n"
      "        - {key: f, upstream: a, path: /f, host: \"backend.example\"}\n"
      "        - {key: c, upstream: b, path: /c}\n"
      "        - {key: o, upstream: b, path: /o, host: endpoint}\n"
      "  - match: {prefix: /viab}\n"
      "    upstream: b\n"
      "  - match: {prefix: /keep}\n"
      "    upstream: {cluster: b, host: preserve}\n" +
      default_routes();
  auto& gw = start(spec);
  ASSERT_TRUE(gw.ok()) << gw.error();
  auto r = fetch(gw.port(), request("GET", "/agg/1", "", "shop.example"));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->raw;
  for (const char* path : {"/viab/x", "/keep/x"}) {
    auto p = fetch(gw.port(), request("GET", path, "", "shop.example"));
    ASSERT_TRUE(p);
    EXPECT_EQ(p->status, 200) << p->raw;
  }
  const Recorded ra = read_record(record_file("a"));
  const Recorded rb = read_record(record_file("b"));
  EXPECT_EQ(values(request_to(ra, "GET /e"), "host"), one(authority(a.port())));
  EXPECT_EQ(values(request_to(ra, "GET /p"), "host"), one("shop.example"));
  EXPECT_EQ(values(request_to(ra, "GET /f"), "host"), one("backend.example"));
  EXPECT_EQ(values(request_to(rb, "GET /c"), "host"), one("api.internal:8443"));
  EXPECT_EQ(values(request_to(rb, "GET /o"), "host"), one(authority(b.port())));
  EXPECT_EQ(values(request_to(rb, "GET /viab/x"), "host"), one("api.internal:8443"));
  EXPECT_EQ(values(request_to(rb, "GET /keep/x"), "host"), one("shop.example"));
  // The client's Host still travels, as X-Forwarded-Host.
  EXPECT_EQ(values(request_to(ra, "GET /e"), "x-forwarded-host"), one("shop.example"));
}

// A call retried on another endpoint names that endpoint: the Host written for the first try is
// rewritten for the next.
TEST_F(AggregateTest, EndpointHostFollowsARetryToAnotherEndpoint) {
  Upstream live({"--record", record_file("live")});
  ConfigSpec spec;
  // Most first picks go to the dead endpoint (weight 10), and it is never ejected.
  spec.upstreams = "  r:\n    endpoints: [{address: " + endpoint(dead_port()) + ", weight: 10}, " +
                   endpoint(live.port()) + "]\n    outlier: {consecutive_connect_failures: 0}\n";
  spec.routes =
      "  - match: {path: \"/agg/{id}\"}\n"
      "    aggregate:\n"
      "      backends:\n"
      "        - {key: x, upstream: r, path: \"/x/{id}\"}\n" +
      default_routes();
  auto& gw = start(spec);
  ASSERT_TRUE(gw.ok()) << gw.error();
  constexpr int kRequests = 6;
  for (int i = 0; i < kRequests; ++i) {
    auto r = fetch(gw.port(), request("GET", "/agg/" + std::to_string(i)));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << r->raw;
  }
  EXPECT_GE(metric(gw.admin_port(), "ringgate_upstream_retries_total{upstream=\"r\"}"), 1);
  const Recorded rec = read_record(record_file("live"));
  ASSERT_EQ(rec.requests.size(), static_cast<size_t>(kRequests));
  for (const std::string& sent : rec.requests) {
    EXPECT_EQ(values(sent, "host"), one(authority(live.port()))) << visible(sent);
  }
}

// Every call of an aggregation continues the client's trace with a span id of its own, and
// carries its tracestate as received: parallel, chained and for_each calls alike. A request
// without trace context starts one trace, shared by all its calls.
TEST_F(AggregateTest, TraceContextReachesEveryBackendCallWithASpanOfItsOwn) {
  Upstream a({"--record", record_file("a")});
  auto& gw = start_agg(
      "      backends:\n"
      "        - {key: list, upstream: a, path: /l, query: {json: \"[1,2]\"}}\n"
      "        - {key: other, upstream: a, path: /o}\n"
      "        - {key: each, upstream: a, path: \"/each/{item}\", for_each: \"list[*]\"}\n"
      "        - {key: chained, upstream: a, path: \"/c/{each[1].n}\"}\n",
      a.port());
  ASSERT_TRUE(gw.ok()) << gw.error();
  const std::string trace_id = "0af7651916cd43dd8448eb211c80319c";
  const std::string traceparent = "00-" + trace_id + "-b7ad6b7169203331-01";
  const std::string tracestate = "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7";
  auto r = fetch(gw.port(),
                 request("GET", "/agg/1",
                         "traceparent: " + traceparent + "\r\ntracestate: " + tracestate + "\r\n"));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->raw;
  Recorded rec = read_record(record_file("a"));
  ASSERT_EQ(rec.requests.size(), 5u);
  const std::regex shape("00-([0-9a-f]{32})-([0-9a-f]{16})-01");
  std::set<std::string> spans;
  for (const std::string& sent : rec.requests) {
    const auto tp = values(sent, "traceparent");
    ASSERT_EQ(tp.size(), 1u) << visible(sent);
    std::smatch m;
    ASSERT_TRUE(std::regex_match(tp[0], m, shape)) << tp[0];
    EXPECT_EQ(m[1], trace_id);
    EXPECT_NE(m[2], "b7ad6b7169203331");  // the client's span is the parent, not the call
    spans.insert(m[2]);
    EXPECT_EQ(values(sent, "tracestate"), one(tracestate)) << visible(sent);
  }
  EXPECT_EQ(spans.size(), 5u) << "a span id per call";
  // A request without trace context: one trace is started for all of its calls.
  auto plain = fetch(gw.port(), request("GET", "/agg/2"));
  ASSERT_TRUE(plain);
  ASSERT_EQ(plain->status, 200) << plain->raw;
  rec = read_record(record_file("a"));
  ASSERT_EQ(rec.requests.size(), 10u);
  std::set<std::string> traces;
  for (size_t i = 5; i < rec.requests.size(); ++i) {
    const auto tp = values(rec.requests[i], "traceparent");
    ASSERT_EQ(tp.size(), 1u) << visible(rec.requests[i]);
    std::smatch m;
    ASSERT_TRUE(std::regex_match(tp[0], m, shape)) << tp[0];
    traces.insert(m[1]);
    EXPECT_TRUE(values(rec.requests[i], "tracestate").empty()) << visible(rec.requests[i]);
  }
  EXPECT_EQ(traces.size(), 1u);
  EXPECT_NE(*traces.begin(), trace_id);
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

// With a backend's status go the listed headers that belong to it: a 401 must say
// WWW-Authenticate (RFC 9110 15.5.2), a 429 or 503 may say when to come back. The status may be
// a for_each element's, or a 503 that passes without status_from.
TEST_F(AggregateTest, APassedStatusTakesItsListedHeadersAlong) {
  Upstream a;
  auto& one = start_agg(
      "      status_from: product\n"
      "      headers: [www-authenticate, retry-after]\n"
      "      backends:\n"
      "        - {key: product, upstream: a, path: /p, query: {status: \"401\","
      " header: 'WWW-Authenticate:Bearer realm=\"shop\"', json: '{{\"error\": \"auth\"}}'}}\n"
      "        - {key: stock, upstream: a, path: /s, query: {header: \"Retry-After:9\"}}\n",
      a.port());
  ASSERT_TRUE(one.ok()) << one.error();
  auto r = fetch(one.port(), request("GET", "/agg/1"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401) << r->raw;
  EXPECT_EQ(r->header("www-authenticate").value_or(""), "Bearer realm=\"shop\"") << r->raw;
  EXPECT_FALSE(r->has("retry-after")) << r->raw;  // the failing backend's only
  EXPECT_EQ(r->body, "{\"error\": \"auth\"}");

  auto& each = start_agg(
      "      status_from: each\n"
      "      headers: [retry-after]\n"
      "      backends:\n"
      "        - {key: list, upstream: a, path: /l, query: {json: \"[200,429]\"}}\n"
      "        - {key: each, upstream: a, path: \"/e/{item}\", for_each: \"list[*]\","
      " query: {status: \"{item}\", header: \"Retry-After:7\"}}\n",
      a.port());
  ASSERT_TRUE(each.ok()) << each.error();
  r = fetch(each.port(), request("GET", "/agg/1"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 429) << r->raw;
  EXPECT_EQ(r->header("retry-after").value_or(""), "7") << r->raw;

  auto& unavailable = start_agg(
      "      headers: [retry-after]\n"
      "      backends:\n"
      "        - {key: product, upstream: a, path: /p,"
      " query: {status: \"503\", header: \"Retry-After:30\"}}\n",
      a.port());
  ASSERT_TRUE(unavailable.ok()) << unavailable.error();
  r = fetch(unavailable.port(), request("GET", "/agg/1"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503) << r->raw;
  EXPECT_EQ(r->header("retry-after").value_or(""), "30") << r->raw;
  EXPECT_EQ(r->header("content-type").value_or(""), "application/problem+json") << r->raw;
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
