// What aggregation backends receive and what of their answers the client gets: the client's
// trace context on every call.

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

}  // namespace
}  // namespace ringgate::it
