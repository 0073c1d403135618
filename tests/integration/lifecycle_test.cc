// Process lifecycle: graceful shutdown and the drain timeout, configuration errors (--check and
// run mode), --version, the admin endpoints, and a port that is already taken.

#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <ostream>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "fixture.h"
#include "json_body.h"
#include "sha256_hex.h"
#include "upstream_process.h"

namespace ringgate::it {
namespace {

using Clock = std::chrono::steady_clock;

class LifecycleTest : public GatewayTest {};

// Tries new connections until one is refused (the listeners are closed) or `within` passes. A
// connection accepted meanwhile (the shard closes it at once while draining) is dropped.
bool refused_within(uint16_t port, Millis within, std::string* last) {
  const auto deadline = Clock::now() + within;
  do {
    Conn c = connect_to(port, 500ms);
    if (!c.valid() && errno == ECONNREFUSED) {
      return true;
    }
    *last = c.valid() ? "connect succeeded" : std::string("connect: ") + std::strerror(errno);
    c.close();
    std::this_thread::sleep_for(10ms);
  } while (Clock::now() < deadline);
  return false;
}

TEST_F(LifecycleTest, SigtermFinishesTheRequestInFlightAndClosesIdleConnections) {
  ConfigSpec spec;
  spec.drain_timeout = "5s";
  spec.limits["idle_timeout"] = "60s";
  spec.limits["request_timeout"] = "10s";
  auto& gw = start(spec);
  ASSERT_TRUE(gw.ok()) << gw.error();

  Conn idle = connect_to(gw.port());
  ASSERT_TRUE(idle.valid());
  ASSERT_TRUE(send_all(idle, request("GET", "/hello")));
  auto hello = read_response(idle);
  ASSERT_TRUE(hello);
  ASSERT_EQ(hello->status, 200);

  Conn busy = connect_to(gw.port());
  ASSERT_TRUE(busy.valid());
  ASSERT_TRUE(send_all(busy, request("POST", "/upload", "Content-Length: 10\r\n") + "12345"));
  ASSERT_TRUE(stays_silent(busy, 100ms));  // the head is parsed, the body half there

  const auto t0 = Clock::now();
  gw.signal(SIGTERM);

  std::string extra;
  EXPECT_TRUE(wait_closed(idle, 2s, &extra)) << "idle keep-alive connection left open";
  EXPECT_EQ(extra, "") << "an idle connection is closed without a response";

  std::string last;
  EXPECT_TRUE(refused_within(gw.port(), 2s, &last)) << "still accepting after SIGTERM: " << last;
  EXPECT_TRUE(gw.running()) << "exited with a request in flight";

  ASSERT_TRUE(send_all(busy, "67890"));
  std::string why;
  auto r = read_response(busy, {}, &why);
  ASSERT_TRUE(r) << "the request in flight was not answered: " << why;
  EXPECT_EQ(r->status, 201) << visible(r->raw);
  EXPECT_EQ(r->body, "stored");
  EXPECT_TRUE(r->connection_has("close")) << visible(r->raw);
  expect_common_headers(*r);
  extra.clear();
  EXPECT_TRUE(wait_closed(busy, 2s, &extra));
  EXPECT_EQ(extra, "");
  // The server half-closed and lingers (up to 2 s) for our EOF; give it, and it has nothing left.
  busy.close();
  const auto t1 = Clock::now();

  auto status = gw.wait_exit(5s);
  ASSERT_TRUE(status.has_value()) << "still running after the last request was answered";
  EXPECT_EQ(*status, 0);
  EXPECT_LT(Clock::now() - t1, 1s) << "exit not prompt once the last connection closed";
  EXPECT_LT(Clock::now() - t0, 5s) << "exit took longer than drain_timeout";
}

// A 10 s drain with the given grace; idle connections would otherwise last 60 s.
ConfigSpec drain_spec(const std::string& grace) {
  ConfigSpec spec;
  spec.drain_timeout = "10s";
  spec.server_extra = "  drain_grace: " + grace + "\n";
  spec.limits["idle_timeout"] = "60s";
  return spec;
}

TEST_F(LifecycleTest, SigtermWithOnlyIdleConnectionsExitsAtOnceWithoutGrace) {
  auto& gw = start(drain_spec("0s"));
  ASSERT_TRUE(gw.ok()) << gw.error();
  std::vector<Conn> idle;
  for (int i = 0; i < 3; ++i) {
    idle.push_back(connect_to(gw.port()));
    ASSERT_TRUE(idle.back().valid());
    ASSERT_TRUE(send_all(idle.back(), request("GET", "/hello")));
    ASSERT_TRUE(read_response(idle.back()));
  }
  idle.push_back(connect_to(gw.port()));  // connected, never sent a byte
  ASSERT_TRUE(idle.back().valid());
  std::this_thread::sleep_for(50ms);
  const auto t0 = Clock::now();
  gw.signal(SIGTERM);
  auto status = gw.wait_exit(3s);
  ASSERT_TRUE(status.has_value()) << "idle connections held the drain";
  EXPECT_EQ(*status, 0);
  EXPECT_LT(Clock::now() - t0, 1s);
  for (Conn& c : idle) {
    std::string extra;
    EXPECT_TRUE(wait_closed(c, 1s, &extra));
    EXPECT_EQ(extra, "");
  }
}

TEST_F(LifecycleTest, IdleConnectionIsStillAnsweredWithinTheDrainGrace) {
  // A request already on its way when SIGTERM arrives, on an idle keep-alive connection, is
  // answered with Connection: close within server.drain_grace; an idle connection that sends
  // nothing is closed when the grace ends, and the process exits then.
  auto& gw = start(drain_spec("1s"));
  ASSERT_TRUE(gw.ok()) << gw.error();
  Conn late = connect_to(gw.port());
  Conn quiet = connect_to(gw.port());
  for (Conn* c : {&late, &quiet}) {
    ASSERT_TRUE(send_all(*c, request("GET", "/hello")));
    ASSERT_TRUE(read_response(*c));
  }
  const auto t0 = Clock::now();
  gw.signal(SIGTERM);
  std::this_thread::sleep_for(200ms);  // the drain has begun
  ASSERT_TRUE(send_all(late, request("GET", "/hello")));
  std::string why;
  auto r = read_response(late, {}, &why);
  ASSERT_TRUE(r) << "a request on an idle connection during the grace was lost: " << why;
  EXPECT_EQ(r->status, 200);
  EXPECT_TRUE(r->connection_has("close")) << visible(r->raw);
  EXPECT_TRUE(wait_closed(late, 2s));
  late.close();  // the server lingers for our EOF after its last response
  std::string extra;
  EXPECT_TRUE(wait_closed(quiet, 3s, &extra)) << "idle connection outlived the grace";
  EXPECT_EQ(extra, "");
  const auto closed = Clock::now() - t0;
  EXPECT_GE(closed, 900ms) << "idle connection closed before the grace ended";
  auto status = gw.wait_exit(3s);
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(*status, 0);
  EXPECT_LT(Clock::now() - t0, 3s);
}

TEST_F(LifecycleTest, ResponseEndingDuringTheDrainLeavesTheNextRequestTheGrace) {
  // A proxied response whose head went out before SIGTERM could not say Connection: close; it
  // ends during the drain. The client's next request, sent once it has read that response, is
  // answered (with Connection: close) within the grace, not dropped by a close right after the
  // response (64 connections under wrk lost up to 23 requests that way at one SIGTERM).
  test_upstream::Upstream up({"--name", "slow"});
  ASSERT_NE(up.port(), 0);
  ConfigSpec spec = drain_spec("1s");
  spec.upstreams = "  api:\n    endpoints: [\"127.0.0.1:" + std::to_string(up.port()) + "\"]\n";
  spec.routes = "  - match: {prefix: /api}\n    upstream: api\n" + default_routes();
  auto& gw = start(spec);
  ASSERT_TRUE(gw.ok()) << gw.error();
  Conn c = connect_to(gw.port());
  ASSERT_TRUE(c.valid());
  // The head at once, then 8 pieces of 4 KiB 100 ms apart: SIGTERM lands mid-body.
  ASSERT_TRUE(send_all(c, request("GET", "/api/x?body_size=32768&chunk=4096&slow=100ms")));
  std::this_thread::sleep_for(200ms);
  const auto t0 = Clock::now();
  gw.signal(SIGTERM);
  std::string why;
  auto first = read_response(c, {}, &why);
  ASSERT_TRUE(first) << why;
  EXPECT_EQ(first->status, 200);
  EXPECT_EQ(first->body.size(), 32768u);
  ASSERT_FALSE(first->connection_has("close"))
      << "the head was sent after SIGTERM: this test needs it sent before\n"
      << visible(first->raw.substr(0, 300));
  // A client on another network is this much later with its next request than the last send.
  std::this_thread::sleep_for(50ms);
  ASSERT_TRUE(send_all(c, request("GET", "/hello")));
  auto next = read_response(c, {}, &why);
  ASSERT_TRUE(next) << "the request after a response that ended during the drain was lost: " << why;
  EXPECT_EQ(next->status, 200);
  EXPECT_EQ(next->body, "hello");
  EXPECT_TRUE(next->connection_has("close")) << visible(next->raw);
  EXPECT_TRUE(wait_closed(c, 2s));
  c.close();
  auto status = gw.wait_exit(3s);
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(*status, 0);
  EXPECT_LT(Clock::now() - t0, 3s);
}

TEST_F(LifecycleTest, DrainTimeoutEndsAStuckRequest) {
  ConfigSpec spec;
  spec.drain_timeout = "300ms";
  spec.limits["request_timeout"] = "30s";
  spec.limits["idle_timeout"] = "60s";
  auto& gw = start(spec);
  ASSERT_TRUE(gw.ok()) << gw.error();
  Conn stuck = connect_to(gw.port());
  ASSERT_TRUE(stuck.valid());
  ASSERT_TRUE(send_all(stuck, request("POST", "/upload", "Content-Length: 10\r\n") + "12345"));
  ASSERT_TRUE(stays_silent(stuck, 100ms));
  const auto t0 = Clock::now();
  gw.signal(SIGTERM);
  auto status = gw.wait_exit(2s);
  const auto elapsed = Clock::now() - t0;
  ASSERT_TRUE(status.has_value()) << "not exited 2 s after SIGTERM with drain_timeout 300ms";
  EXPECT_EQ(*status, 0);
  EXPECT_GE(elapsed, 250ms) << "did not wait for the request in flight";
  EXPECT_TRUE(wait_closed(stuck, 1s));
}

// ---------------------------------------------------------------------------------------------
// Configuration errors

// Line numbers below refer to this file (1-based).
const char* const kBaseConfig =
    "server:\n"                                      // 1
    "  workers: 1\n"                                 // 2
    "  pin_cpus: false\n"                            // 3
    "  listen:\n"                                    // 4
    "    - address: \"127.0.0.1:0\"\n"               // 5
    "  buffers: {size: 4KiB, count: 8}\n"            // 6
    "  limits:\n"                                    // 7
    "    header_bytes: 16KiB\n"                      // 8
    "    idle_timeout: 10s\n"                        // 9
    "admin:\n"                                       // 10
    "  listen: \"127.0.0.1:0\"\n"                    // 11
    "routes:\n"                                      // 12
    "  - match: {path: /hello, methods: [GET]}\n"    // 13
    "    direct: {status: 200, body: \"hello\"}\n";  // 14

// kBaseConfig with line `line` (1-based) replaced by `text`.
std::string base_with_line(int line, const std::string& text) {
  std::istringstream in(kBaseConfig);
  std::string out;
  std::string l;
  for (int n = 1; std::getline(in, l); ++n) {
    out += (n == line ? text : l) + "\n";
  }
  return out;
}

struct BadConfig {
  const char* name;
  int line;            // the line replaced in kBaseConfig
  const char* text;    // its new text
  int error_line;      // where the error must point: 0 = `line`
  int column;          // 1-based column of the offending key or value
  const char* reason;  // part of the message
};

// gtest shows the case by name, not as bytes.
void PrintTo(const BadConfig& bad, std::ostream* os) {
  *os << bad.name;
}

class BadConfigTest : public ::testing::TestWithParam<BadConfig> {};

TEST_P(BadConfigTest, CheckPointsAtTheErrorAndRunModeRefusesToStart) {
  const BadConfig& bad = GetParam();
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  const std::string file = dir.write("bad.yaml", base_with_line(bad.line, bad.text));
  const int error_line = bad.error_line == 0 ? bad.line : bad.error_line;
  const std::string where =
      file + ":" + std::to_string(error_line) + ":" + std::to_string(bad.column) + ": ";

  CommandResult check = run_binary({"--check", "-c", file});
  EXPECT_EQ(check.exit_code, 1) << check.err;
  EXPECT_NE(check.err.find("ringgate: " + where), std::string::npos)
      << "expected '" << where << "' in:\n"
      << check.err;
  EXPECT_NE(check.err.find(bad.reason), std::string::npos)
      << "expected '" << bad.reason << "' in:\n"
      << check.err;
  EXPECT_EQ(check.out.find("valid"), std::string::npos) << check.out;

  CommandResult t = run_binary({"-t", "-c", file});
  EXPECT_EQ(t.exit_code, 1) << t.err;
  EXPECT_NE(t.err.find(where), std::string::npos) << t.err;

  CommandResult run = run_binary({"-c", file}, 5s);
  EXPECT_EQ(run.exit_code, 1) << "run mode: " << run.err;
  EXPECT_NE(run.err.find(where), std::string::npos) << run.err;
  EXPECT_EQ(run.err.find("listening on"), std::string::npos) << run.err;
  EXPECT_EQ(run.out.find("listening on"), std::string::npos) << run.out;
}

INSTANTIATE_TEST_SUITE_P(
    Configs, BadConfigTest,
    ::testing::Values(
        BadConfig{"UnknownKey", 3, "  frobnicate: false", 0, 3, "unknown key 'frobnicate'"},
        BadConfig{"UnknownNestedKey", 13, "  - match: {path: /hello, methods: [GET], hots: x}", 0,
                  43, "unknown key 'hots'"},
        BadConfig{"DuplicateKey", 9, "    header_bytes: 8KiB", 0, 5,
                  "duplicate key 'header_bytes'"},
        BadConfig{"BadSize", 8, "    header_bytes: lots", 0, 19, "expected a size"},
        BadConfig{"SizeWithSpace", 8, "    header_bytes: 16 KiB", 0, 19, "expected a size"},
        BadConfig{"DurationWithoutUnit", 9, "    idle_timeout: 30", 0, 19, "expected a duration"},
        BadConfig{"BadAddress", 5, "    - address: \"1.2.3:80\"", 0, 16, "not a valid address"},
        BadConfig{"BadAdminPort", 11, "  listen: \"127.0.0.1:99999\"", 0, 11,
                  "not a valid address"},
        BadConfig{"UnknownMethod", 13, "  - match: {path: /hello, methods: [GET, FETCH]}", 0, 42,
                  "unknown method 'FETCH'"},
        BadConfig{"LowerCaseMethod", 13, "  - match: {path: /hello, methods: [get]}", 0, 37,
                  "unknown method 'get'"},
        BadConfig{"HeaderBytesOver64KiB", 8, "    header_bytes: 128KiB", 0, 19,
                  "between 1KiB and 64KiB"},
        BadConfig{"HeaderBytesOverTheRing", 6, "  buffers: {size: 1KiB, count: 8}", 8, 19,
                  "must not exceed the receive ring"},
        BadConfig{"BufferCountNotPowerOfTwo", 6, "  buffers: {size: 4KiB, count: 12}", 0, 32,
                  "power of two"},
        BadConfig{"YamlTabIndent", 9, "\tidle_timeout: 10s", 0, 1, "tab"},
        BadConfig{"YamlBadIndent", 9, "   idle_timeout: 10s", 0, 4, "end of map not found"}),
    [](const ::testing::TestParamInfo<BadConfig>& p) { return std::string(p.param.name); });

TEST(ConfigCheckTest, GoodConfigIsValid) {
  TempDir dir;
  const std::string file = dir.write("good.yaml", kBaseConfig);
  for (const char* flag : {"--check", "-t"}) {
    CommandResult r = run_binary({flag, "-c", file});
    EXPECT_EQ(r.exit_code, 0) << flag << ": " << r.err;
    EXPECT_EQ(r.err.find(file + ":"), std::string::npos) << r.err;
  }
  // The shipped example configuration is valid too.
  CommandResult shipped =
      run_binary({"--check", "-c", std::string(source_dir()) + "/conf/ringgate.yaml"});
  EXPECT_EQ(shipped.exit_code, 0) << shipped.err;
}

TEST(ConfigCheckTest, MissingFileIsAnError) {
  TempDir dir;
  CommandResult r = run_binary({"--check", "-c", dir.path() + "/absent.yaml"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("absent.yaml"), std::string::npos) << r.err;
}

// ---------------------------------------------------------------------------------------------
// --version

TEST(VersionTest, NamesEveryLibrary) {
  CommandResult r = run_binary({"--version"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::istringstream lines(r.out);
  std::string line;
  std::map<std::string, std::string> by_name;  // first word → whole line
  while (std::getline(lines, line)) {
    by_name[line.substr(0, line.find(' '))] = line;
  }
  for (const char* lib : {"ringgate", "liburing", "llhttp", "simdjson", "OpenSSL", "mimalloc"}) {
    ASSERT_TRUE(by_name.count(lib)) << lib << " missing from:\n" << r.out;
    const std::string& l = by_name[lib];
    // "name version ..." — the version starts with a digit.
    EXPECT_GT(l.size(), std::strlen(lib) + 1) << l;
    if (l.size() > std::strlen(lib) + 1) {
      EXPECT_TRUE(std::isdigit(static_cast<unsigned char>(l[std::strlen(lib) + 1])) ||
                  std::string(lib) == "mimalloc")
          << l;
    }
  }
#if defined(RINGGATE_EXPECT_MIMALLOC)
  EXPECT_NE(by_name["mimalloc"].find("(active)"), std::string::npos) << by_name["mimalloc"];
#else
  EXPECT_NE(by_name["mimalloc"].find("off"), std::string::npos) << by_name["mimalloc"];
#endif
}

// ---------------------------------------------------------------------------------------------
// Admin endpoints

// GET /config says which config runs: its file, the SHA-256 of the text it was loaded from, when.
TEST_F(LifecycleTest, AdminConfigNamesTheFileAndItsHash) {
  auto& gw = start();
  ASSERT_TRUE(gw.ok()) << gw.error();
  std::string text;
  {
    std::ifstream in(gw.config_path());
    std::stringstream all;
    all << in.rdbuf();
    text = all.str();
  }
  std::string why;
  auto r = fetch(gw.admin_port(), request("GET", "/config", "", "admin"), {}, &why);
  ASSERT_TRUE(r) << why;
  ASSERT_EQ(r->status, 200) << visible(r->raw);
  EXPECT_EQ(r->header("content-type").value_or(""), "application/json");
  JsonBody body(r->body);
  ASSERT_TRUE(body.valid()) << r->body;
  EXPECT_EQ(body.at("source"), "\"" + gw.config_path() + "\"");
  EXPECT_EQ(body.at("sha256"), "\"" + sha256_hex(text) + "\"");
  EXPECT_EQ(body.at("generation"), "1");
  EXPECT_EQ(body.at("workers"), "1");
  EXPECT_TRUE(
      std::regex_match(body.at("loaded_at"), std::regex(R"("\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")")))
      << body.at("loaded_at");
  auto post = fetch(gw.admin_port(), request("POST", "/config", "", "admin"), {}, &why);
  ASSERT_TRUE(post) << why;
  EXPECT_EQ(post->status, 405);
}

TEST_F(LifecycleTest, AdminHealthzMetricsAndErrors) {
  auto& gw = start();
  ASSERT_TRUE(gw.ok()) << gw.error();
  std::string why;
  auto health = fetch(gw.admin_port(), request("GET", "/healthz", "", "admin"), {}, &why);
  ASSERT_TRUE(health) << why;
  EXPECT_EQ(health->status, 200) << visible(health->raw);
  EXPECT_EQ(health->header("content-type").value_or(""), "application/json") << health->raw;
  EXPECT_EQ(health->body.rfind("{\"status\":\"ok\"}", 0), 0u) << health->body;
  expect_common_headers(*health);
  // One client request; admin traffic is kept out of the client counters.
  auto client = fetch(gw.port(), request("GET", "/hello"), {}, &why);
  ASSERT_TRUE(client) << why;
  ASSERT_EQ(client->status, 200);

  auto metrics = fetch(gw.admin_port(), request("GET", "/metrics", "", "admin"), {}, &why);
  ASSERT_TRUE(metrics) << why;
  EXPECT_EQ(metrics->status, 200) << visible(metrics->raw);
  EXPECT_EQ(metrics->header("content-type").value_or("").rfind("text/plain", 0), 0u)
      << metrics->raw;
  std::map<std::string, std::string> samples;
  std::istringstream lines(metrics->body);
  std::string line;
  while (std::getline(lines, line)) {
    if (!line.empty() && line[0] != '#') {
      const size_t sp = line.rfind(' ');
      ASSERT_NE(sp, std::string::npos) << line;
      samples[line.substr(0, sp)] = line.substr(sp + 1);
    }
  }
  const char* names[] = {"ringgate_connections_total",
                         "ringgate_connections_active",
                         "ringgate_connections_rejected_total",
                         "ringgate_requests_1xx_total",
                         "ringgate_requests_2xx_total",
                         "ringgate_requests_3xx_total",
                         "ringgate_requests_4xx_total",
                         "ringgate_requests_5xx_total",
                         "ringgate_bytes_received_total",
                         "ringgate_bytes_sent_total",
                         "ringgate_parse_errors_bad_request_total",
                         "ringgate_parse_errors_uri_too_long_total",
                         "ringgate_parse_errors_header_too_large_total",
                         "ringgate_parse_errors_body_too_large_total",
                         "ringgate_parse_errors_other_total",
                         "ringgate_header_timeouts_total",
                         "ringgate_request_timeouts_total",
                         "ringgate_idle_timeouts_total",
                         "ringgate_requests_aborted_total",
                         "ringgate_buffer_ring_empty_total",
                         "ringgate_workers"};
  for (const char* name : names) {
    auto it = samples.find(name);
    ASSERT_NE(it, samples.end()) << name << " missing from:\n" << metrics->body;
    const std::string& value = it->second;
    char* end = nullptr;
    std::strtod(value.c_str(), &end);
    EXPECT_TRUE(!value.empty() && end == value.c_str() + value.size())
        << name << " has a non-numeric value '" << value << "'";
    EXPECT_NE(metrics->body.find(std::string("# TYPE ") + name + " "), std::string::npos) << name;
  }
  EXPECT_EQ(samples["ringgate_workers"], "1");
  // Exactly the client's connection and request: the health check and this scrape do not count.
  EXPECT_EQ(std::strtod(samples["ringgate_connections_total"].c_str(), nullptr), 1);
  EXPECT_EQ(std::strtod(samples["ringgate_requests_2xx_total"].c_str(), nullptr), 1);
  EXPECT_GT(std::strtod(samples["ringgate_bytes_received_total"].c_str(), nullptr), 0);
  EXPECT_GT(std::strtod(samples["ringgate_bytes_sent_total"].c_str(), nullptr), 0);

  auto unknown = fetch(gw.admin_port(), request("GET", "/nope", "", "admin"), {}, &why);
  ASSERT_TRUE(unknown) << why;
  EXPECT_EQ(unknown->status, 404) << visible(unknown->raw);
  // The admin listener's refusals read like the gateway's others: problem documents.
  EXPECT_EQ(unknown->header("content-type").value_or(""), "application/problem+json");
  EXPECT_NE(unknown->body.find("\"status\":404"), std::string::npos) << unknown->body;
  EXPECT_NE(unknown->body.find("/healthz /metrics"), std::string::npos) << unknown->body;

  for (const char* path : {"/healthz", "/metrics"}) {
    auto post =
        fetch(gw.admin_port(), request("POST", path, "Content-Length: 0\r\n", "admin"), {}, &why);
    ASSERT_TRUE(post) << path << ": " << why;
    EXPECT_EQ(post->status, 405) << visible(post->raw);
    EXPECT_EQ(post->header("content-type").value_or(""), "application/problem+json");
    // RFC 9110 §15.5.6: a 405 MUST carry Allow.
    const std::string allow = post->header("allow").value_or("");
    EXPECT_NE(allow.find("GET"), std::string::npos) << path << ": no Allow: GET in\n"
                                                    << visible(post->raw);
  }

  // HEAD works and has no body.
  Conn c = connect_to(gw.admin_port());
  ASSERT_TRUE(c.valid());
  ASSERT_TRUE(send_all(
      c, request("HEAD", "/healthz", "", "admin") + request("GET", "/healthz", "", "admin")));
  ReadOptions head;
  head.head_request = true;
  auto h = read_response(c, head, &why);
  ASSERT_TRUE(h) << why;
  EXPECT_EQ(h->status, 200);
  auto g = read_response(c, {}, &why);
  ASSERT_TRUE(g) << why;
  EXPECT_EQ(g->status, 200) << visible(g->raw);
  EXPECT_EQ(g->body.rfind("{\"status\":\"ok\"}", 0), 0u) << g->body;
}

// ---------------------------------------------------------------------------------------------
// Port already in use

// make_config's output with the client listener on `port` instead of 0.
std::string config_on_port(uint16_t port, const ConfigSpec& spec = {}) {
  std::string y = make_config(spec);
  const std::string from = "- address: \"127.0.0.1:0\"";
  const size_t at = y.find(from);
  if (at != std::string::npos) {
    y.replace(at, from.size(), "- address: \"127.0.0.1:" + std::to_string(port) + "\"");
  }
  return y;
}

std::string with_admin_port(std::string y, uint16_t port) {
  const std::string from = "admin:\n  listen: \"127.0.0.1:0\"";
  const size_t at = y.find(from);
  if (at != std::string::npos) {
    y.replace(at, from.size(), "admin:\n  listen: \"127.0.0.1:" + std::to_string(port) + "\"");
  }
  return y;
}

// Binds and listens on a free loopback port with a plain socket (no SO_REUSEPORT), as another
// program would. Returns the port (0 on failure) and the socket in `fd`.
uint16_t hold_loopback_port(int& fd) {
  fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      listen(fd, 8) != 0 || getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    return 0;
  }
  return ntohs(addr.sin_port);
}

TEST_F(LifecycleTest, PortHeldByAnotherSocketIsABindError) {
  // A port held by a socket without SO_REUSEPORT (another program) makes the start fail.
  int holder = -1;
  const uint16_t port = hold_loopback_port(holder);
  ASSERT_NE(port, 0) << std::strerror(errno);

  TempDir dir;
  const std::string file = dir.write("taken.yaml", config_on_port(port));
  CommandResult check = run_binary({"--check", "-c", file});
  EXPECT_EQ(check.exit_code, 0) << "--check does not bind: " << check.err;

  CommandResult run = run_binary({"-c", file}, 5s);
  close(holder);
  EXPECT_EQ(run.exit_code, 1) << run.err;
  const std::string expected = "bind 127.0.0.1:" + std::to_string(port) +
                               ": address already in use (another process is listening)";
  EXPECT_NE(run.err.find(expected), std::string::npos) << "expected '" << expected << "' in:\n"
                                                       << run.err;
  EXPECT_EQ(run.err.find("ringgate: ready,"), std::string::npos) << run.err;
}

TEST_F(LifecycleTest, AdminPortHeldByAnotherSocketIsABindError) {
  int holder = -1;
  const uint16_t port = hold_loopback_port(holder);
  ASSERT_NE(port, 0) << std::strerror(errno);

  const std::string y = with_admin_port(make_config({}), port);
  ASSERT_NE(y.find("127.0.0.1:" + std::to_string(port)), std::string::npos) << y;
  TempDir dir;
  const std::string file = dir.write("admin-taken.yaml", y);
  CommandResult run = run_binary({"-c", file}, 5s);
  close(holder);
  EXPECT_EQ(run.exit_code, 1) << run.err;
  EXPECT_NE(run.err.find("bind 127.0.0.1:" + std::to_string(port)), std::string::npos) << run.err;
}

TEST_F(LifecycleTest, SecondGatewayOnTheSameAddressesRefusesToStart) {
  // Every shard's listener has SO_REUSEPORT, which would let a second gateway of the same user
  // join the group and take half the connections: the second one must refuse instead, for the
  // traffic listener and for the admin listener, while the first keeps serving.
  const uint16_t port = free_port();
  ASSERT_NE(port, 0);
  ConfigSpec spec;
  spec.workers = 2;  // the first gateway's own shards do share the port
  gateways_.push_back(std::make_unique<GatewayProcess>(config_on_port(port, spec)));
  GatewayProcess* first = gateways_.back().get();
  ASSERT_TRUE(first->ok()) << first->error();
  ASSERT_EQ(first->port(), port);

  TempDir dir;
  const std::string same_port = dir.write("same-port.yaml", config_on_port(port));
  CommandResult run = run_binary({"-c", same_port}, 5s);
  EXPECT_EQ(run.exit_code, 1) << run.err;
  const std::string expected = "bind 127.0.0.1:" + std::to_string(port) +
                               ": address already in use (another process is listening)";
  EXPECT_NE(run.err.find(expected), std::string::npos) << "expected '" << expected << "' in:\n"
                                                       << run.err;
  EXPECT_EQ(run.err.find("ringgate: ready,"), std::string::npos) << run.err;

  const std::string same_admin =
      dir.write("same-admin.yaml", with_admin_port(make_config({}), first->admin_port()));
  run = run_binary({"-c", same_admin}, 5s);
  EXPECT_EQ(run.exit_code, 1) << run.err;
  const std::string admin_expected = "bind 127.0.0.1:" + std::to_string(first->admin_port()) +
                                     ": address already in use (another process is listening)";
  EXPECT_NE(run.err.find(admin_expected), std::string::npos) << run.err;

  // Every connection still reaches the first gateway, whichever of its shards takes it.
  for (int i = 0; i < 20; ++i) {
    std::string why;
    auto r = fetch(port, request("GET", "/hello"), {}, &why);
    ASSERT_TRUE(r) << why;
    EXPECT_EQ(r->status, 200);
  }
  EXPECT_TRUE(first->running());
}

TEST_F(LifecycleTest, FixedPortServesAndIsFreedOnExit) {
  const uint16_t port = free_port();
  ASSERT_NE(port, 0);
  gateways_.push_back(std::make_unique<GatewayProcess>(config_on_port(port)));
  GatewayProcess* first = gateways_.back().get();
  ASSERT_TRUE(first->ok()) << first->error();
  EXPECT_EQ(first->port(), port);
  std::string why;
  auto r = fetch(port, request("GET", "/hello"), {}, &why);
  ASSERT_TRUE(r) << why;
  EXPECT_EQ(r->status, 200);
  auto status = first->stop(5s);
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(*status, 0);
  // After a clean exit the port can be bound again at once (by a restarted gateway).
  gateways_.push_back(std::make_unique<GatewayProcess>(config_on_port(port)));
  GatewayProcess* second = gateways_.back().get();
  ASSERT_TRUE(second->ok()) << second->error();
  r = fetch(port, request("GET", "/hello"), {}, &why);
  ASSERT_TRUE(r) << why;
  EXPECT_EQ(r->status, 200);
}

}  // namespace
}  // namespace ringgate::it
