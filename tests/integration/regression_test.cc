// Behaviours a review of the connection state machine found broken once; each test reproduces
// the original failure.

#include <sys/socket.h>

#include <thread>

#include "fixture.h"

namespace ringgate::it {
namespace {

using Clock = std::chrono::steady_clock;

class RegressionTest : public GatewayTest {};

std::string big_body_route(size_t bytes) {
  return "  - match: {path: /big}\n    direct: {status: 200, body: \"" + std::string(bytes, 'b') +
         "\"}\n  - match: {path: /hello}\n    direct: {status: 200, body: \"hello\"}\n";
}

TEST_F(RegressionTest, ConnectionAfterALongQuietSpellIsNotTimedOutAtOnce) {
  // Timers armed by a completion used the clock from before the shard's sleep.
  ConfigSpec spec;
  spec.limits["idle_timeout"] = "300ms";
  spec.limits["header_timeout"] = "300ms";
  auto& gw = start(spec);
  ASSERT_TRUE(gw.ok()) << gw.error();
  std::this_thread::sleep_for(800ms);  // the shard sleeps: nothing is armed
  Conn c = connect_to(gw.port());
  ASSERT_TRUE(c.valid());
  std::this_thread::sleep_for(50ms);
  ASSERT_TRUE(send_all(c, "GET /hello HTTP/1.1\r\nHo"));
  std::this_thread::sleep_for(50ms);
  ASSERT_TRUE(send_all(c, "st: x\r\n\r\n"));
  std::string why;
  auto r = read_response(c, {}, &why);
  ASSERT_TRUE(r) << why;
  EXPECT_EQ(r->status, 200) << r->raw;
}

TEST_F(RegressionTest, EachPipelinedRequestGetsItsOwnHeaderDeadline) {
  // Every read ends inside the next head: the first head's deadline used to stay in force.
  ConfigSpec spec;
  spec.limits["header_timeout"] = "400ms";
  auto& gw = start(spec);
  ASSERT_TRUE(gw.ok()) << gw.error();
  Conn c = connect_to(gw.port());
  ASSERT_TRUE(c.valid());
  const std::string req = "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_TRUE(send_all(c, req.substr(0, 10)));
  for (int i = 0; i < 12; ++i) {  // 12 × 100 ms: three times the header timeout
    std::this_thread::sleep_for(100ms);
    ASSERT_TRUE(send_all(c, req.substr(10) + req.substr(0, 10))) << i;
    std::string why;
    auto r = read_response(c, {}, &why);
    ASSERT_TRUE(r) << "request " << i << ": " << why;
    ASSERT_EQ(r->status, 200) << "request " << i << ": " << r->raw;
  }
}

TEST_F(RegressionTest, BlankLineBetweenRequestsIsIgnored) {
  ConfigSpec spec;
  spec.limits["header_timeout"] = "300ms";
  spec.limits["idle_timeout"] = "5s";
  auto& gw = start(spec);
  ASSERT_TRUE(gw.ok()) << gw.error();
  Conn c = connect_to(gw.port());
  ASSERT_TRUE(c.valid());
  ASSERT_TRUE(send_all(c, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n\r\n"));
  auto r = read_response(c);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  // A stray CRLF must not start a request: no 408 after the header timeout.
  EXPECT_TRUE(stays_silent(c, 800ms));
  ASSERT_TRUE(send_all(c, "GET /hello HTTP/1.1\r\nHost: x\r\nAccept-Encoding:\r\n\r\n"));
  r = read_response(c);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->raw;  // an empty header value is valid
}

TEST_F(RegressionTest, HalfCloseAfterManyPipelinedRequestsAnswersThemAll) {
  auto& gw = start();
  ASSERT_TRUE(gw.ok()) << gw.error();
  Conn c = connect_to(gw.port());
  ASSERT_TRUE(c.valid());
  std::string all;
  for (int i = 0; i < 1000; ++i) {
    all += "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n";
  }
  ASSERT_TRUE(send_all(c, all));
  ASSERT_EQ(shutdown(c.fd(), SHUT_WR), 0);
  std::string received;
  ASSERT_TRUE(read_until_eof(c, received, 10s));
  size_t count = 0;
  for (size_t at = 0; (at = received.find("HTTP/1.1 200 ", at)) != std::string::npos; ++at) {
    ++count;
  }
  EXPECT_EQ(count, 1000u);
}

TEST_F(RegressionTest, ClientThatStopsReadingIsCutAtTheRequestTimeout) {
  // A send waiting for a reader that never reads was never cancelled: the connection leaked.
  ConfigSpec spec;
  spec.limits["request_timeout"] = "500ms";
  spec.routes = big_body_route(4 << 20);
  auto& gw = start(spec);
  ASSERT_TRUE(gw.ok()) << gw.error();
  Conn c = connect_to(gw.port());
  ASSERT_TRUE(c.valid());
  int small = 4096;
  setsockopt(c.fd(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  ASSERT_TRUE(send_all(c, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n"));
  // Not reading. The gateway must give up and free the connection (admin scrapes are not counted).
  auto none = [](double v) { return v == 0; };
  EXPECT_EQ(wait_metric(gw.admin_port(), "ringgate_connections_active", none, 5s), 0);
  EXPECT_EQ(metric(gw.admin_port(), "ringgate_requests_aborted_total"), 1);
  // And a drain with nothing left is immediate.
  auto status = gw.stop(5s);
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(*status, 0);
}

TEST_F(RegressionTest, ResponseInFlightAtShutdownThenConnectionCloses) {
  ConfigSpec spec;
  spec.limits["idle_timeout"] = "60s";
  spec.drain_timeout = "10s";
  spec.routes = big_body_route(2 << 20);
  auto& gw = start(spec);
  ASSERT_TRUE(gw.ok()) << gw.error();
  Conn c = connect_to(gw.port());
  ASSERT_TRUE(c.valid());
  ASSERT_TRUE(send_all(c, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::this_thread::sleep_for(200ms);  // the response is being sent, slower than we read
  const auto t0 = Clock::now();
  gw.signal(SIGTERM);
  auto r = read_response(c, {}, nullptr);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body.size(), size_t{2} << 20);
  // Then the server closes it without waiting for the idle timeout, and exits 0.
  EXPECT_TRUE(wait_closed(c, 3s));
  auto status = gw.wait_exit(5s);
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(*status, 0);
  EXPECT_LT(Clock::now() - t0, 5s);
}

TEST_F(RegressionTest, LargestRingSizeStarts) {
  ConfigSpec spec;
  spec.server_extra = "  ring_entries: 32768\n";
  auto& gw = start(spec);
  ASSERT_TRUE(gw.ok()) << gw.error();
  auto r = fetch(gw.port(), "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

}  // namespace
}  // namespace ringgate::it
