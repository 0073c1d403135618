// W3C trace context through a real gateway to a recording upstream: a valid client traceparent
// is continued with the call's own span id (flags and tracestate kept), an invalid one starts a
// new trace, `restart` always starts one and drops the client's tracestate, `off` passes both
// through untouched; the trace id is in the access log, the error log and problem bodies.

#include <fstream>
#include <regex>
#include <set>
#include <string>
#include <thread>

#include "json_body.h"
#include "proxy_fixture.h"

namespace ringgate::it {
namespace {

const std::regex kShape("00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})");
constexpr const char* kTraceId = "4bf92f3577b34da6a3ce929d0e0e4736";
constexpr const char* kParent = "00f067aa0ba902b7";

class TraceContextTest : public ProxyTest {
 protected:
  GatewayProcess& start_with(uint16_t port, const std::string& mode, const std::string& more = "") {
    ConfigSpec spec;
    if (!mode.empty()) {
      spec.server_extra = "  trace_context: " + mode + "\n";
    }
    spec.sections = more;
    return start_proxy(endpoint(port), "", "", spec);
  }
  // The traceparent lines the upstream got with its last request.
  std::vector<std::string> last_sent(const std::string& header) {
    const Recorded rec = read_record(record_file());
    return rec.requests.empty() ? std::vector<std::string>{} : values(rec.requests.back(), header);
  }
  std::smatch parts(const std::string& traceparent) {
    std::smatch m;
    std::regex_match(traceparent, m, kShape);
    return m;
  }
};

TEST_F(TraceContextTest, AValidTraceparentIsContinuedWithASpanOfTheCall) {
  Upstream up({"--record", record_file()});
  const std::string log = dir_.path() + "/access.log";
  auto& gw = start_with(up.port(), "",
                        "logging:\n  access: {path: " + log + ", fields: [trace_id, status]}\n");
  ASSERT_TRUE(gw.ok()) << gw.error();
  const std::string incoming = std::string("00-") + kTraceId + "-" + kParent + "-00";
  for (int i = 0; i < 2; ++i) {
    auto r = fetch(
        gw.port(),
        request("GET", "/api/t", "traceparent: " + incoming + "\r\ntracestate: vendor=abc\r\n"));
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200);
  }
  const Recorded rec = read_record(record_file());
  ASSERT_EQ(rec.requests.size(), 2u);
  std::string spans[2];
  for (size_t i = 0; i < 2; ++i) {
    const auto tp = values(rec.requests[i], "traceparent");
    ASSERT_EQ(tp.size(), 1u) << visible(rec.requests[i]);
    const std::smatch m = parts(tp[0]);
    ASSERT_FALSE(m.empty()) << tp[0];
    EXPECT_EQ(m[1], kTraceId);
    EXPECT_NE(m[2], kParent);
    EXPECT_EQ(m[3], "00");  // the client's flags: it did not sample, neither does the call
    spans[i] = m[2];
    EXPECT_EQ(values(rec.requests[i], "tracestate"), std::vector<std::string>{"vendor=abc"});
  }
  EXPECT_NE(spans[0], spans[1]);
  std::vector<std::string> lines;
  for (int i = 0; i < 150 && lines.size() < 2; ++i) {
    std::this_thread::sleep_for(20ms);
    std::ifstream in(log);
    lines.clear();
    for (std::string l; std::getline(in, l);) {
      lines.push_back(l);
    }
  }
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0], std::string(R"({"trace_id":")") + kTraceId + R"(","status":200})");
}

TEST_F(TraceContextTest, AnInvalidTraceparentStartsANewTrace) {
  Upstream up({"--record", record_file()});
  auto& gw = start_with(up.port(), "accept");
  ASSERT_TRUE(gw.ok()) << gw.error();
  const std::string bad[] = {
      std::string("00-") + "4BF92F3577B34DA6A3CE929D0E0E4736" + "-" + kParent + "-01",  // upper
      std::string("00-") + std::string(32, '0') + "-" + kParent + "-01",   // zero trace id
      std::string("00-") + kTraceId + "-" + std::string(16, '0') + "-01",  // zero parent
      std::string("ff-") + kTraceId + "-" + kParent + "-01",               // version ff
      std::string("00-") + kTraceId + "-" + kParent + "-01-extra",         // 00 has no more
      std::string("00-") + kTraceId + "-" + kParent,                       // cut short
  };
  for (const std::string& tp : bad) {
    auto r = fetch(gw.port(), request("GET", "/api/t",
                                      "traceparent: " + tp + "\r\ntracestate: vendor=abc\r\n"));
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200);
    const auto sent = last_sent("traceparent");
    ASSERT_EQ(sent.size(), 1u) << tp;
    const std::smatch m = parts(sent[0]);
    ASSERT_FALSE(m.empty()) << sent[0];
    EXPECT_NE(m[1], kTraceId) << tp;
    EXPECT_EQ(m[3], "01") << tp;
    EXPECT_TRUE(last_sent("tracestate").empty()) << tp << ": not continued, not passed on";
  }
  // A later version may be longer: its first 55 characters are read.
  auto r = fetch(gw.port(), request("GET", "/api/t",
                                    std::string("traceparent: 01-") + kTraceId + "-" + kParent +
                                        "-01-what-comes-later\r\n"));
  ASSERT_TRUE(r);
  const auto sent = last_sent("traceparent");
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(parts(sent[0])[1], kTraceId);
  // Two traceparent lines: invalid, a new trace.
  r = fetch(gw.port(),
            request("GET", "/api/t",
                    std::string("traceparent: 00-") + kTraceId + "-" + kParent +
                        "-01\r\ntraceparent: 00-" + kTraceId + "-" + kParent + "-01\r\n"));
  ASSERT_TRUE(r);
  const auto twice = last_sent("traceparent");
  ASSERT_EQ(twice.size(), 1u);
  EXPECT_NE(parts(twice[0])[1], kTraceId);
}

TEST_F(TraceContextTest, RestartAlwaysStartsATraceAndOffPassesThrough) {
  Upstream up({"--record", record_file()});
  const std::string incoming = std::string("00-") + kTraceId + "-" + kParent + "-01";
  const std::string headers = "traceparent: " + incoming + "\r\ntracestate: vendor=abc\r\n";
  {
    auto& gw = start_with(up.port(), "restart");
    ASSERT_TRUE(gw.ok()) << gw.error();
    ASSERT_EQ(fetch(gw.port(), request("GET", "/api/t", headers))->status, 200);
    const auto sent = last_sent("traceparent");
    ASSERT_EQ(sent.size(), 1u);
    EXPECT_NE(parts(sent[0])[1], kTraceId);
    EXPECT_TRUE(last_sent("tracestate").empty());
  }
  auto& off = start_with(up.port(), "off");
  ASSERT_TRUE(off.ok()) << off.error();
  ASSERT_EQ(fetch(off.port(), request("GET", "/api/t", headers))->status, 200);
  EXPECT_EQ(last_sent("traceparent"), std::vector<std::string>{incoming});
  EXPECT_EQ(last_sent("tracestate"), std::vector<std::string>{"vendor=abc"});
  ASSERT_EQ(fetch(off.port(), request("GET", "/api/t"))->status, 200);
  EXPECT_TRUE(last_sent("traceparent").empty()) << "off: none is made up";
}

// A trace started here is unique to its request: its id is the X-Request-Id too (one id to
// quote). A continued trace may span many requests: each still gets an X-Request-Id of its own.
TEST_F(TraceContextTest, ATraceStartedHereGivesItsIdAsTheRequestId) {
  Upstream up({"--record", record_file()});
  auto& gw = start_with(up.port(), "");
  ASSERT_TRUE(gw.ok()) << gw.error();
  std::set<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(fetch(gw.port(), request("GET", "/api/t"))->status, 200);
    const auto tp = last_sent("traceparent");
    ASSERT_EQ(tp.size(), 1u);
    EXPECT_EQ(last_sent("x-request-id"), std::vector<std::string>{parts(tp[0])[1]});
    ids.insert(parts(tp[0])[1]);
  }
  EXPECT_EQ(ids.size(), 3u);
  const std::string incoming = std::string("00-") + kTraceId + "-" + kParent + "-01";
  for (int i = 0; i < 2; ++i) {
    ASSERT_EQ(
        fetch(gw.port(), request("GET", "/api/t", "traceparent: " + incoming + "\r\n"))->status,
        200);
    const auto id = last_sent("x-request-id");
    ASSERT_EQ(id.size(), 1u);
    EXPECT_NE(id[0], kTraceId);
    ids.insert(id[0]);
  }
  EXPECT_EQ(ids.size(), 5u);
}

// A user can quote the trace id the gateway's refusal names: in the problem body and in the
// error log line.
TEST_F(TraceContextTest, ProblemBodiesAndErrorLinesNameTheTrace) {
  auto& gw = start_with(dead_port(), "");
  ASSERT_TRUE(gw.ok()) << gw.error();
  auto r = fetch(gw.port(),
                 request("GET", "/api/t",
                         std::string("traceparent: 00-") + kTraceId + "-" + kParent + "-01\r\n"));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 502);
  JsonBody body(r->body);
  ASSERT_TRUE(body.valid()) << r->body;
  EXPECT_EQ(body.at("trace_id"), std::string("\"") + kTraceId + "\"");
  EXPECT_TRUE(gw.wait_output(std::string("trace_id=") + kTraceId, 3s)) << gw.log();
}

}  // namespace
}  // namespace ringgate::it
