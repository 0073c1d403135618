// Malformed and oversized requests and the three timeouts: each answered with the right status,
// `Connection: close`, a closed connection and the matching counter.

#include <chrono>
#include <string>
#include <thread>

#include "fixture.h"

namespace ringgate::it {
namespace {

using Clock = std::chrono::steady_clock;

class ErrorsTest : public GatewayTest {
 protected:
  // Sends `raw` on a fresh connection and checks: one response with `status` (any of `statuses`
  // when given), `Connection: close`, then the connection closes with nothing more.
  void expect_error_and_close(GatewayProcess& gw, const std::string& raw,
                              std::initializer_list<int> statuses) {
    Conn c = connect_to(gw.port());
    ASSERT_TRUE(c.valid());
    ASSERT_TRUE(send_all(c, raw));
    std::string why;
    auto r = read_response(c, {}, &why);
    ASSERT_TRUE(r) << why << "\nrequest:\n" << visible(raw);
    bool matched = false;
    for (int s : statuses) {
      matched = matched || r->status == s;
    }
    EXPECT_TRUE(matched) << "status " << r->status << " for request:\n"
                         << visible(raw) << "\nresponse:\n"
                         << visible(r->raw);
    EXPECT_TRUE(r->connection_has("close")) << visible(r->raw);
    expect_common_headers(*r);
    std::string extra;
    EXPECT_TRUE(wait_closed(c, 2s, &extra)) << "connection left open after " << r->status;
    EXPECT_EQ(extra, "") << "bytes after the error response";
  }
};

struct Malformed {
  const char* name;
  std::string raw;
};

class MalformedTest : public ErrorsTest, public ::testing::WithParamInterface<Malformed> {};

TEST_P(MalformedTest, Is400AndCloses) {
  auto& gw = start();
  ASSERT_TRUE(gw.ok()) << gw.error();
  expect_error_and_close(gw, GetParam().raw, {400});
  EXPECT_EQ(wait_metric(gw.admin_port(), "ringgate_parse_errors_bad_request_total",
                        [](double v) { return v >= 1; }),
            1);
  EXPECT_EQ(metric(gw.admin_port(), "ringgate_requests_4xx_total"), 1);
  EXPECT_EQ(metric(gw.admin_port(), "ringgate_requests_2xx_total") >= 0, true);
  // The gateway itself is unharmed.
  std::string why;
  auto ok = fetch(gw.port(), request("GET", "/hello"), {}, &why);
  ASSERT_TRUE(ok) << why;
  EXPECT_EQ(ok->status, 200);
}

INSTANTIATE_TEST_SUITE_P(
    Requests, MalformedTest,
    ::testing::Values(
        Malformed{"ContentLengthAndChunked",
                  "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                  "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
        Malformed{"TwoContentLengths",
                  "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                  "Content-Length: 5\r\n\r\nabcde"},
        Malformed{"ContentLengthNotANumber",
                  "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 5x\r\n\r\nabcde"},
        Malformed{"ObsFold", "GET /hello HTTP/1.1\r\nHost: x\r\nX-A: a\r\n  folded\r\n\r\n"},
        Malformed{"BareLfInHeaderLine", "GET /hello HTTP/1.1\r\nHost: x\nX-A: b\r\n\r\n"},
        Malformed{"BareCrInHeaderValue", "GET /hello HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n"},
        Malformed{"WhitespaceBeforeColon", "GET /hello HTTP/1.1\r\nHost : x\r\n\r\n"},
        Malformed{"InvalidChunkSize",
                  "POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                  "zz\r\nhello\r\n0\r\n\r\n"},
        Malformed{"MissingHostInHttp11", "GET /hello HTTP/1.1\r\nAccept: */*\r\n\r\n"},
        Malformed{"TwoHostHeaders", "GET /hello HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"},
        Malformed{"GarbageRequestLine", "HELLO\r\n\r\n"},
        Malformed{"SpaceInTarget", "GET /he llo HTTP/1.1\r\nHost: x\r\n\r\n"}),
    [](const ::testing::TestParamInfo<Malformed>& p) { return std::string(p.param.name); });

// What the gateway does not implement is a 501 and the end of the connection: CONNECT (a 2xx
// would open a tunnel to whoever reads it, and what follows is the tunnel's, not a request) and
// a transfer coding other than chunked (relayed as chunked alone, the body would lose it).
TEST_F(ErrorsTest, ConnectAndOtherTransferCodingsAre501) {
  auto& gw = start();
  ASSERT_TRUE(gw.ok()) << gw.error();
  expect_error_and_close(
      gw, "CONNECT /hello HTTP/1.1\r\nHost: x\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\n\r\n",
      {501});
  expect_error_and_close(gw, "CONNECT x:443 HTTP/1.1\r\nHost: x:443\r\n\r\n", {501});
  expect_error_and_close(gw,
                         "POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked"
                         "\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
                         {501});
  EXPECT_EQ(metric(gw.admin_port(), "ringgate_requests_5xx_total"), 3);
}

TEST_F(ErrorsTest, Http2RequestLineIsRefused) {
  auto& gw = start();
  ASSERT_TRUE(gw.ok()) << gw.error();
  expect_error_and_close(gw, "GET /hello HTTP/2.0\r\nHost: x\r\n\r\n", {505, 400});
}

TEST_F(ErrorsTest, LongRequestTargetIs414) {
  ConfigSpec spec;
  spec.limits["request_line"] = "1KiB";
  auto& gw = start(spec);
  ASSERT_TRUE(gw.ok()) << gw.error();
  // Just under the limit is fine.
  std::string why;
  auto ok = fetch(gw.port(), request("GET", "/p/" + std::string(900, 'a')), {}, &why);
  ASSERT_TRUE(ok) << why;
  EXPECT_EQ(ok->status, 200) << ok->raw;
  expect_error_and_close(gw, request("GET", "/p/" + std::string(2000, 'a')), {414});
  EXPECT_EQ(wait_metric(gw.admin_port(), "ringgate_parse_errors_uri_too_long_total",
                        [](double v) { return v >= 1; }),
            1);
}

TEST_F(ErrorsTest, LongRequestTargetIs414EvenWhenTrickled) {
  ConfigSpec spec;
  spec.limits["request_line"] = "1KiB";
  auto& gw = start(spec);
  ASSERT_TRUE(gw.ok()) << gw.error();
  // The target never ends: the gateway must answer once the limit is passed, not wait for more.
  Conn c = connect_to(gw.port());
  ASSERT_TRUE(c.valid());
  ASSERT_TRUE(send_all(c, "GET /p/" + std::string(1500, 'a')));
  std::this_thread::sleep_for(50ms);
  ASSERT_TRUE(send_all(c, std::string(1500, 'b')));
  std::string why;
  auto r = read_response(c, {}, &why);
  ASSERT_TRUE(r) << why;
  EXPECT_EQ(r->status, 414) << r->raw;
  EXPECT_TRUE(wait_closed(c));
}

TEST_F(ErrorsTest, LargeHeadIs431) {
  ConfigSpec spec;
  spec.limits["header_bytes"] = "2KiB";
  spec.limits["request_line"] = "1KiB";  // must not exceed header_bytes
  auto& gw = start(spec);
  ASSERT_TRUE(gw.ok()) << gw.error();
  std::string why;
  auto ok = fetch(gw.port(), request("GET", "/hello", "X-Pad: " + std::string(1500, 'p') + "\r\n"),
                  {}, &why);
  ASSERT_TRUE(ok) << why;
  EXPECT_EQ(ok->status, 200) << ok->raw;
  expect_error_and_close(gw, request("GET", "/hello", "X-Pad: " + std::string(3000, 'p') + "\r\n"),
                         {431});
  // Many small headers adding up past the limit.
  std::string many;
  for (int i = 0; i < 20; ++i) {
    many += "X-Field-" + std::to_string(i) + ": " + std::string(150, 'v') + "\r\n";
  }
  expect_error_and_close(gw, request("GET", "/hello", many), {431});
  EXPECT_EQ(wait_metric(gw.admin_port(), "ringgate_parse_errors_header_too_large_total",
                        [](double v) { return v >= 2; }),
            2);
}

TEST_F(ErrorsTest, TooManyHeadersIs431) {
  ConfigSpec spec;
  spec.limits["headers"] = "10";
  auto& gw = start(spec);
  ASSERT_TRUE(gw.ok()) << gw.error();
  auto fields = [](int n) {
    std::string s;
    for (int i = 0; i < n; ++i) {
      s += "X-F" + std::to_string(i) + ": v\r\n";
    }
    return s;
  };
  std::string why;
  auto ok = fetch(gw.port(), request("GET", "/hello", fields(9)), {}, &why);  // + Host = 10
  ASSERT_TRUE(ok) << why;
  EXPECT_EQ(ok->status, 200) << ok->raw;
  expect_error_and_close(gw, request("GET", "/hello", fields(10)), {431});  // + Host = 11
  EXPECT_EQ(wait_metric(gw.admin_port(), "ringgate_parse_errors_header_too_large_total",
                        [](double v) { return v >= 1; }),
            1);
}

TEST_F(ErrorsTest, ContentLengthOverLimitIs413WithoutReadingBody) {
  ConfigSpec spec;
  spec.limits["body_bytes"] = "1KiB";
  auto& gw = start(spec);
  ASSERT_TRUE(gw.ok()) << gw.error();
  std::string why;
  auto ok = fetch(gw.port(),
                  request("POST", "/upload", "Content-Length: 1024\r\n") + std::string(1024, 'x'),
                  {}, &why);
  ASSERT_TRUE(ok) << why;
  EXPECT_EQ(ok->status, 201) << ok->raw;
  // The body is never sent: the answer must come from the head alone.
  expect_error_and_close(gw, request("POST", "/upload", "Content-Length: 1025\r\n"), {413});
  EXPECT_EQ(wait_metric(gw.admin_port(), "ringgate_parse_errors_body_too_large_total",
                        [](double v) { return v >= 1; }),
            1);
}

TEST_F(ErrorsTest, ChunkedBodyOverLimitIs413) {
  ConfigSpec spec;
  spec.limits["body_bytes"] = "1KiB";
  auto& gw = start(spec);
  ASSERT_TRUE(gw.ok()) << gw.error();
  const std::string chunk = "200\r\n" + std::string(512, 'c') + "\r\n";
  std::string why;
  auto ok = fetch(
      gw.port(),
      request("POST", "/upload", "Transfer-Encoding: chunked\r\n") + chunk + chunk + "0\r\n\r\n",
      {}, &why);
  ASSERT_TRUE(ok) << why;
  EXPECT_EQ(ok->status, 201) << ok->raw;
  // Third chunk passes 1 KiB; the terminating chunk is never sent.
  expect_error_and_close(
      gw, request("POST", "/upload", "Transfer-Encoding: chunked\r\n") + chunk + chunk + chunk,
      {413});
  EXPECT_EQ(wait_metric(gw.admin_port(), "ringgate_parse_errors_body_too_large_total",
                        [](double v) { return v >= 1; }),
            1);
}

TEST_F(ErrorsTest, HeaderTimeoutIs408) {
  ConfigSpec spec;
  spec.limits["header_timeout"] = "300ms";
  auto& gw = start(spec);
  ASSERT_TRUE(gw.ok()) << gw.error();
  Conn c = connect_to(gw.port());
  ASSERT_TRUE(c.valid());
  auto t0 = Clock::now();
  ASSERT_TRUE(send_all(c, "GET /hello HTTP/1.1\r\nHo"));
  std::string why;
  auto r = read_response(c, {}, &why);
  auto elapsed = Clock::now() - t0;
  ASSERT_TRUE(r) << why;
  EXPECT_EQ(r->status, 408) << r->raw;
  EXPECT_TRUE(r->connection_has("close")) << r->raw;
  EXPECT_GE(elapsed, 250ms);
  EXPECT_LE(elapsed, 2s);
  EXPECT_TRUE(wait_closed(c));
  EXPECT_EQ(wait_metric(gw.admin_port(), "ringgate_header_timeouts_total",
                        [](double v) { return v >= 1; }),
            1);
}

TEST_F(ErrorsTest, TrickledHeadStillTimesOut) {
  // Slowloris: a byte every 50 ms keeps the connection busy but the head never completes in time.
  ConfigSpec spec;
  spec.limits["header_timeout"] = "300ms";
  auto& gw = start(spec);
  ASSERT_TRUE(gw.ok()) << gw.error();
  Conn c = connect_to(gw.port());
  ASSERT_TRUE(c.valid());
  const std::string head = request("GET", "/hello", "X-Slow: " + std::string(100, 's') + "\r\n");
  auto t0 = Clock::now();
  std::string got;
  for (size_t i = 0; i < head.size() - 2 && Clock::now() - t0 < 3s; ++i) {
    if (!send_all(c, head.substr(i, 1))) {
      break;
    }
    if (!stays_silent(c, 50ms)) {
      break;
    }
  }
  std::string why;
  auto r = read_response(c, {}, &why);
  ASSERT_TRUE(r) << why;
  EXPECT_EQ(r->status, 408) << r->raw;
  EXPECT_LE(Clock::now() - t0, 2s);
  EXPECT_TRUE(wait_closed(c));
}

TEST_F(ErrorsTest, IdleTimeoutClosesSilently) {
  ConfigSpec spec;
  spec.limits["idle_timeout"] = "300ms";
  auto& gw = start(spec);
  ASSERT_TRUE(gw.ok()) << gw.error();
  Conn c = connect_to(gw.port());
  ASSERT_TRUE(c.valid());
  // Requests every 100 ms keep the connection alive past the idle timeout.
  Clock::time_point last_response;
  for (int i = 0; i < 6; ++i) {
    ASSERT_TRUE(send_all(c, request("GET", "/hello")));
    std::string why;
    auto r = read_response(c, {}, &why);
    last_response = Clock::now();
    ASSERT_TRUE(r) << "request " << i << ": " << why;
    EXPECT_EQ(r->status, 200);
    if (i < 5) {
      std::this_thread::sleep_for(100ms);
    }
  }
  std::string extra;
  EXPECT_TRUE(wait_closed(c, 2s, &extra));
  EXPECT_EQ(extra, "") << "idle close must send nothing";
  // 300 ms after the last response was sent (measured from when it was read: a little less).
  EXPECT_GE(Clock::now() - last_response, 250ms);
  EXPECT_EQ(
      wait_metric(gw.admin_port(), "ringgate_idle_timeouts_total", [](double v) { return v >= 1; }),
      1);
}

TEST_F(ErrorsTest, RequestTimeoutMidBodyIs408) {
  ConfigSpec spec;
  spec.limits["request_timeout"] = "300ms";
  auto& gw = start(spec);
  ASSERT_TRUE(gw.ok()) << gw.error();
  Conn c = connect_to(gw.port());
  ASSERT_TRUE(c.valid());
  auto t0 = Clock::now();
  ASSERT_TRUE(
      send_all(c, request("POST", "/upload", "Content-Length: 100\r\n") + std::string(10, 'x')));
  std::string why;
  auto r = read_response(c, {}, &why);
  auto elapsed = Clock::now() - t0;
  ASSERT_TRUE(r) << why;
  EXPECT_EQ(r->status, 408) << r->raw;
  EXPECT_TRUE(r->connection_has("close")) << r->raw;
  EXPECT_GE(elapsed, 250ms);
  EXPECT_LE(elapsed, 2s);
  EXPECT_TRUE(wait_closed(c));
  EXPECT_EQ(wait_metric(gw.admin_port(), "ringgate_request_timeouts_total",
                        [](double v) { return v >= 1; }),
            1);
  EXPECT_EQ(metric(gw.admin_port(), "ringgate_header_timeouts_total"), 0);
}

}  // namespace
}  // namespace ringgate::it
