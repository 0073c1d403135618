// The access log and the error log, read from the files a real gateway writes: one JSON line per
// request (proxied, direct, refused by routing, failed upstream, malformed before its head was
// complete) with the fields the config names; NGINX's combined format; sampling of successes;
// SIGUSR1 reopening a file logrotate moved; one error-log line per answer the gateway decided.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "json_body.h"
#include "proxy_fixture.h"

namespace ringgate::it {
namespace {

std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) {
    lines.push_back(line);
  }
  return lines;
}

// Waits until `path` holds at least `n` lines (a line reaches the file within ~100 ms).
std::vector<std::string> wait_lines(const std::string& path, size_t n, Millis timeout = 3s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::vector<std::string> lines = read_lines(path);
  while (lines.size() < n && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(20ms);
    lines = read_lines(path);
  }
  return lines;
}

class AccessLogTest : public ProxyTest {
 protected:
  std::string log_file() const { return dir_.path() + "/access.log"; }
  ConfigSpec spec_with(const std::string& access) const {
    ConfigSpec spec;
    spec.sections = "logging:\n  access: " + access + "\n";
    return spec;
  }
  int status_of(GatewayProcess& gw, const std::string& raw) {
    auto r = fetch(gw.port(), raw);
    return r ? r->status : -1;
  }
};

TEST_F(AccessLogTest, OneJsonLinePerRequestWithItsFacts) {
  Upstream up({"--record", record_file()});
  auto& gw = start_proxy(endpoint(up.port()), "",
                         "  - match: {prefix: /api}\n    upstream: api\n    name: api-route\n",
                         spec_with("{path: " + log_file() + "}"));
  ASSERT_TRUE(gw.ok()) << gw.error();
  ASSERT_EQ(status_of(gw, request("GET", "/api/x?q=1", "X-Request-Id: req-42\r\n")), 200);
  ASSERT_EQ(status_of(gw, request("GET", "/hello", "User-Agent: t\"q\r\n")), 200);
  ASSERT_EQ(status_of(gw, request("GET", "/nope")), 404);
  {
    // Malformed before its head is complete: refused with 400, still one line.
    Conn c = connect_to(gw.port());
    ASSERT_TRUE(send_all(c, "GET /x HTTP/1.1\r\nBad Header\r\n\r\n"));
    auto r = read_response(c);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400);
  }
  const auto lines = wait_lines(log_file(), 4);
  ASSERT_EQ(lines.size(), 4u) << gw.log();

  JsonBody proxied(lines[0]);
  ASSERT_TRUE(proxied.valid()) << proxied.why() << "\n" << lines[0];
  EXPECT_EQ(proxied.at("request_id"), "\"req-42\"");
  EXPECT_EQ(proxied.at("client"), "\"127.0.0.1\"");
  EXPECT_EQ(proxied.at("method"), "\"GET\"");
  EXPECT_EQ(proxied.at("path"), "\"/api/x?q=1\"");
  EXPECT_EQ(proxied.at("status"), "200");
  EXPECT_EQ(proxied.at("upstream"), "\"api\"");
  EXPECT_EQ(proxied.at("upstream_status"), "200");
  EXPECT_EQ(proxied.at("route"), "\"api-route\"");
  EXPECT_EQ(proxied.at("error"), "null");
  EXPECT_EQ(proxied.at("partial"), "false");
  EXPECT_GT(std::stoll(proxied.at("bytes_in")), 30);
  EXPECT_GT(std::stoll(proxied.at("bytes_out")), 50);
  EXPECT_GE(std::stoll(proxied.at("duration_us")), std::stoll(proxied.at("upstream_duration_us")));
  EXPECT_TRUE(std::regex_match(proxied.at("time"),
                               std::regex(R"("\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")")))
      << proxied.at("time");
  // The id in the line is the one the upstream got.
  const Recorded rec = read_record(record_file());
  ASSERT_EQ(rec.requests.size(), 1u);
  EXPECT_NE(rec.requests[0].find("X-Request-Id: req-42\r\n"), std::string::npos);

  JsonBody direct(lines[1]);
  ASSERT_TRUE(direct.valid()) << direct.why() << "\n" << lines[1];
  EXPECT_EQ(direct.at("status"), "200");
  EXPECT_EQ(direct.at("upstream"), "null");
  EXPECT_EQ(direct.at("upstream_status"), "null");
  EXPECT_EQ(direct.at("request_id"), "null");

  JsonBody missing(lines[2]);
  ASSERT_TRUE(missing.valid()) << lines[2];
  EXPECT_EQ(missing.at("status"), "404");
  EXPECT_EQ(missing.at("error"), "\"no_route\"");
  EXPECT_EQ(missing.at("route"), "null");

  JsonBody malformed(lines[3]);
  ASSERT_TRUE(malformed.valid()) << lines[3];
  EXPECT_EQ(malformed.at("status"), "400");
  EXPECT_EQ(malformed.at("error"), "\"malformed\"");
  EXPECT_EQ(malformed.at("method"), "null");
}

TEST_F(AccessLogTest, AFailedUpstreamIsLoggedInBothLogs) {
  auto& gw =
      start_proxy(endpoint(dead_port()), "", "",
                  spec_with("{path: " + log_file() + ", fields: [status, upstream, error]}"));
  ASSERT_TRUE(gw.ok()) << gw.error();
  ASSERT_EQ(status_of(gw, request("GET", "/api/y", "X-Request-Id: r-7\r\n")), 502);
  const auto lines = wait_lines(log_file(), 1);
  ASSERT_EQ(lines.size(), 1u);
  // Only the fields asked for, in their order.
  EXPECT_EQ(lines[0], R"({"status":502,"upstream":"api","error":"upstream_connect"})");
  ASSERT_TRUE(gw.wait_output("client=127.0.0.1", 3s)) << gw.log();
  const std::string log = gw.log();
  EXPECT_TRUE(std::regex_search(
      log, std::regex(R"(ringgate: \S+Z error 502 upstream_connect: upstream \\x22api\\x22 could )"
                      R"(not be reached method=GET path=/api/y route=route#1 request_id=r-7 )"
                      R"(trace_id=[0-9a-f]{32} client=127\.0\.0\.1)")))
      << log;
}

// bytes_out is the response's: an interim 100 Continue is not counted.
TEST_F(AccessLogTest, BytesOutIsTheFinalResponses) {
  auto& gw = start(spec_with("{path: " + log_file() + ", fields: [status, bytes_out]}"));
  ASSERT_TRUE(gw.ok()) << gw.error();
  Conn c = connect_to(gw.port());
  ASSERT_TRUE(send_all(c,
                       "POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n"
                       "Expect: 100-continue\r\n\r\n"));
  ReadOptions interim;
  interim.skip_interim = false;
  auto cont = read_response(c, interim);
  ASSERT_TRUE(cont);
  ASSERT_EQ(cont->status, 100);
  ASSERT_TRUE(send_all(c, "hello"));
  auto r = read_response(c);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 201);
  const auto lines = wait_lines(log_file(), 1);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0], R"({"status":201,"bytes_out":)" + std::to_string(r->raw.size()) + "}");
}

TEST_F(AccessLogTest, CombinedFormatIsNginxs) {
  auto& gw = start(spec_with("{path: " + log_file() + ", format: combined}"));
  ASSERT_TRUE(gw.ok()) << gw.error();
  ASSERT_EQ(status_of(gw, request("GET", "/hello?a=%22b",
                                  "Referer: https://r.example/\r\nUser-Agent: probe/1.0\r\n")),
            200);
  const auto lines = wait_lines(log_file(), 1);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_TRUE(std::regex_match(
      lines[0], std::regex(R"(127\.0\.0\.1 - - \[\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d \+0000\] )"
                           R"("GET /hello\?a=%22b HTTP/1\.1" 200 \d+ "https://r\.example/" )"
                           R"("probe/1\.0")")))
      << lines[0];
  // An HTTP/2 request says so.
  const CommandResult h2 =
      run_command({"curl", "-sS", "--http2-prior-knowledge", "-o", "/dev/null",
                   "http://127.0.0.1:" + std::to_string(gw.port()) + "/hello"});
  ASSERT_EQ(h2.exit_code, 0) << h2.err;
  const auto both = wait_lines(log_file(), 2);
  ASSERT_EQ(both.size(), 2u);
  EXPECT_NE(both[1].find("\"GET /hello HTTP/2.0\" 200 "), std::string::npos) << both[1];
}

TEST_F(AccessLogTest, SamplingKeepsEveryFailureAndAFractionOfSuccesses) {
  auto& gw = start(spec_with("{path: " + log_file() + ", sample: 0}"));
  ASSERT_TRUE(gw.ok()) << gw.error();
  for (int i = 0; i < 20; ++i) {
    ASSERT_EQ(status_of(gw, request("GET", "/hello")), 200);
  }
  ASSERT_EQ(status_of(gw, request("GET", "/nope")), 404);
  ASSERT_EQ(status_of(gw, request("GET", "/hello")), 200);
  const auto lines = wait_lines(log_file(), 1);
  std::this_thread::sleep_for(300ms);  // anything more would have been written by now
  const auto after = read_lines(log_file());
  ASSERT_EQ(after.size(), 1u);
  EXPECT_NE(after[0].find("\"status\":404"), std::string::npos) << after[0];
  EXPECT_EQ(metric(gw.admin_port(), "ringgate_log_lines_total{log=\"access\"}"), 1);
  EXPECT_EQ(metric(gw.admin_port(), "ringgate_log_dropped_total{log=\"access\"}"), 0);
}

TEST_F(AccessLogTest, Sigusr1ReopensAFileLogrotateMoved) {
  auto& gw = start(spec_with("{path: " + log_file() + ", fields: [path]}"));
  ASSERT_TRUE(gw.ok()) << gw.error();
  ASSERT_EQ(status_of(gw, request("GET", "/hello?before")), 200);
  ASSERT_EQ(wait_lines(log_file(), 1).size(), 1u);
  const std::string moved = log_file() + ".1";
  ASSERT_EQ(std::rename(log_file().c_str(), moved.c_str()), 0);
  gw.signal(SIGUSR1);
  ASSERT_EQ(
      wait_metric(gw.admin_port(), "ringgate_log_reopens_total", [](double v) { return v >= 1; }),
      1);
  ASSERT_EQ(status_of(gw, request("GET", "/hello?after")), 200);
  const auto now = wait_lines(log_file(), 1);
  ASSERT_EQ(now.size(), 1u);
  EXPECT_EQ(now[0], R"({"path":"/hello?after"})");
  const auto old = read_lines(moved);
  ASSERT_EQ(old.size(), 1u);
  EXPECT_EQ(old[0], R"({"path":"/hello?before"})");
}

// Quotes and backslashes in a target, and bytes past ASCII in a header, are escaped: every
// JSON line stays valid JSON, every combined line one line with its quoted fields intact.
TEST_F(AccessLogTest, QuotesBackslashesAndNonAsciiBytesAreEscaped) {
  auto& gw = start(spec_with("{path: " + log_file() + ", fields: [path, status]}"));
  ASSERT_TRUE(gw.ok()) << gw.error();
  ASSERT_EQ(status_of(gw, request("GET", "/a\"b")), 404);
  ASSERT_EQ(status_of(gw, request("GET", "/a\\b")), 400);  // a backslash: refused once routed
  const auto lines = wait_lines(log_file(), 2);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0], R"({"path":"/a\"b","status":404})");
  EXPECT_EQ(lines[1], R"({"path":"/a\\b","status":400})");
  for (const std::string& l : lines) {
    JsonBody line(l);
    EXPECT_TRUE(line.valid()) << line.why() << " " << l;
  }

  // A target that escapes to more than the line could hold is cut at a whole escape: the line
  // stays valid JSON with every field after it.
  ASSERT_EQ(status_of(gw, request("GET", "/q?" + std::string(3000, '"'))), 404);
  const auto long_lines = wait_lines(log_file(), 3);
  ASSERT_EQ(long_lines.size(), 3u);
  JsonBody cut(long_lines[2]);
  EXPECT_TRUE(cut.valid()) << cut.why() << " " << long_lines[2].size();
  EXPECT_EQ(cut.at("status"), "404");
  EXPECT_LE(long_lines[2].size(), 4096u);

  const std::string combined = dir_.path() + "/combined.log";
  auto& c = start(spec_with("{path: " + combined + ", format: combined}"));
  ASSERT_TRUE(c.ok()) << c.error();
  ASSERT_EQ(status_of(c, request("GET", "/hello", "User-Agent: caf\xc3\xa9 \"q\"\r\n")), 200);
  const auto clines = wait_lines(combined, 1);
  ASSERT_EQ(clines.size(), 1u);
  EXPECT_NE(clines[0].find(R"("caf\xC3\xA9 \x22q\x22")"), std::string::npos) << clines[0];

  // Behind a trusted proxy the client address comes from X-Forwarded-For: the client's text,
  // escaped like any other, so it cannot forge the line's fields.
  const std::string behind = dir_.path() + "/behind.log";
  ConfigSpec spec = spec_with("{path: " + behind + ", format: combined}");
  spec.server_extra = "  trusted_hops: 2\n";
  auto& t = start(spec);
  ASSERT_TRUE(t.ok()) << t.error();
  ASSERT_EQ(status_of(t, request("GET", "/hello", "X-Forwarded-For: 1.2.3.4\" 999 \"x\r\n")), 200);
  const auto tlines = wait_lines(behind, 1);
  ASSERT_EQ(tlines.size(), 1u);
  EXPECT_EQ(tlines[0].rfind(R"(1.2.3.4\x22 999 \x22x - - [)", 0), 0u) << tlines[0];
}

// A log output that stops taking lines (a pipe nobody reads) costs lines, never requests: the
// shard drops what its buffers cannot hold, counts it, and answers on.
TEST_F(AccessLogTest, AStalledOutputDropsAndCountsLinesWhileRequestsGoOn) {
  const std::string fifo = dir_.path() + "/stalled";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  const int reader = open(fifo.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);  // never reads
  ASSERT_GE(reader, 0);
  auto& gw = start(spec_with("{path: " + fifo + "}"));
  ASSERT_TRUE(gw.ok()) << gw.error();
  const LoadResult load = hammer({gw.port()}, 2, 1500ms, request("GET", "/hello"));
  EXPECT_GT(load.ok, 3000);
  EXPECT_EQ(load.other, 0);
  const double lines = metric(gw.admin_port(), "ringgate_log_lines_total{log=\"access\"}");
  const double dropped = metric(gw.admin_port(), "ringgate_log_dropped_total{log=\"access\"}");
  EXPECT_GT(dropped, 0);
  // Every request was either written into a buffer or counted as dropped.
  EXPECT_EQ(lines + dropped, load.ok) << lines << " + " << dropped;
  // The reader still holds the pipe and takes nothing: the gateway stops all the same.
  gw.signal(SIGTERM);
  EXPECT_EQ(gw.wait_exit(5s), 0) << "a stalled log output held the gateway at its stop";
  close(reader);
}

// Upstream state changes reach the error log at level warn: an endpoint turning unhealthy
// (with the last check's failure) and a circuit opening; `level: error` keeps them out.
TEST_F(AccessLogTest, UpstreamStateChangesAreWarnLines) {
  const uint16_t dead = dead_port();
  const std::string cluster =
      "    health: {interval: 100ms, timeout: 100ms, unhealthy_threshold: 2}\n"
      "    circuit: {consecutive_failures: 2, open_for: 5s}\n";
  auto& gw = start_proxy(endpoint(dead), cluster);
  ASSERT_TRUE(gw.ok()) << gw.error();
  for (int i = 0; i < 2; ++i) {
    ASSERT_EQ(status_of(gw, request("GET", "/api/x")), 502);
  }
  EXPECT_TRUE(
      gw.wait_output("upstream api: circuit open for 5000 ms after 2 failures in a row", 3s))
      << gw.log();
  EXPECT_TRUE(gw.wait_output("upstream api: endpoint 127.0.0.1:" + std::to_string(dead) +
                                 " unhealthy (2 health checks failed; the last: could not connect)",
                             3s))
      << gw.log();
  EXPECT_TRUE(std::regex_search(gw.log(), std::regex(R"(ringgate: \S+Z warn upstream api: )")))
      << gw.log();

  ConfigSpec quiet;
  quiet.sections = "logging: {level: error}\n";
  auto& q = start_proxy(endpoint(dead), cluster, "", quiet);
  ASSERT_TRUE(q.ok()) << q.error();
  ASSERT_GE(wait_metric(q.admin_port(),
                        "ringgate_upstream_endpoint_health_checks_failed_total{upstream=\"api\","
                        "endpoint=\"127.0.0.1:" +
                            std::to_string(dead) + "\"}",
                        [](double v) { return v >= 3; }),
            3);
  std::this_thread::sleep_for(200ms);  // past the flush of anything written
  EXPECT_EQ(q.log().find("unhealthy"), std::string::npos) << q.log();
}

TEST_F(AccessLogTest, AnAccessLogThatCannotBeOpenedStopsTheStart) {
  const std::string conf =
      dir_.write("c.yaml", make_config(spec_with("{path: /nonexistent-dir/access.log}")));
  const CommandResult r = run_binary({"-c", conf}, 10s);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("logging.access.path: /nonexistent-dir/access.log cannot be opened"),
            std::string::npos)
      << r.err;
}

}  // namespace
}  // namespace ringgate::it
