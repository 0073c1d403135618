// Rate limits with `backend: redis`, against a real redis-server on loopback: two gateway
// processes sharing one budget, one Redis call per batch of tokens, requests that wait for a
// lease (pipelined, with bodies, behind API-key auth), on_error allow and deny when Redis is
// down, stopped (timeouts) or refuses the password, and recovery when it comes back.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/sha.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "proxy_fixture.h"
#include "upstream_process.h"

namespace ringgate::it {
namespace {

// A redis-server of its own on 127.0.0.1 (no persistence), killed on destruction.
class RedisServer {
 public:
  explicit RedisServer(uint16_t port = 0, std::string password = "")
      : port_(port ? port : free_port()), password_(std::move(password)) {
    start();
  }
  ~RedisServer() { kill_now(); }

  bool ok() const { return ok_; }
  const std::string& error() const { return error_; }
  uint16_t port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

  void start() {
    std::vector<std::string> args = {"redis-server",
                                     "--port",
                                     std::to_string(port_),
                                     "--bind",
                                     "127.0.0.1",
                                     "--save",
                                     "",
                                     "--appendonly",
                                     "no",
                                     "--dir",
                                     dir_.path(),
                                     "--loglevel",
                                     "warning",
                                     "--logfile",
                                     dir_.path() + "/redis.log"};
    if (!password_.empty()) {
      args.push_back("--requirepass");
      args.push_back(password_);
    }
    ok_ = false;
    pid_ = start_process(args);
    if (pid_ < 0) {
      error_ = "cannot start redis-server";
      return;
    }
    const auto until = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < until) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        error_ = "redis-server exited at start (exit " + std::to_string(WEXITSTATUS(status)) +
                 "; 127: not installed, run scripts/setup)";
        return;
      }
      if (cli({"PING"}).find("PONG") != std::string::npos) {
        ok_ = true;
        return;
      }
      std::this_thread::sleep_for(20ms);
    }
    error_ = "redis-server did not answer PING on port " + std::to_string(port_);
  }
  void kill_now() {
    if (pid_ > 0) {
      ::kill(pid_, SIGCONT);
      ::kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
  }
  void pause() const { ::kill(pid_, SIGSTOP); }
  void resume() const { ::kill(pid_, SIGCONT); }

  // redis-cli's output for one command.
  std::string cli(const std::vector<std::string>& command) const {
    std::vector<std::string> args = {"redis-cli", "-h", "127.0.0.1", "-p", std::to_string(port_)};
    if (!password_.empty()) {
      args.insert(args.end(), {"--no-auth-warning", "-a", password_});
    }
    args.insert(args.end(), command.begin(), command.end());
    return run_command(args, 5s).out;
  }
  // Calls of a command since the start (INFO commandstats), e.g. "evalsha".
  long calls(const std::string& command) const {
    const std::string info = cli({"INFO", "commandstats"});
    const std::string tag = "cmdstat_" + command + ":calls=";
    const size_t at = info.find(tag);
    return at == std::string::npos ? 0 : std::stol(info.substr(at + tag.size()));
  }

 private:
  TempDir dir_;
  uint16_t port_;
  std::string password_;
  pid_t pid_ = -1;
  bool ok_ = false;
  std::string error_;
};

class RedisRateLimitTest : public GatewayTest {
 protected:
  GatewayProcess& start_with(const RedisServer& redis, const std::string& policies,
                             const std::string& routes, unsigned workers = 1,
                             const std::string& redis_extra = "", const std::string& more = "") {
    ConfigSpec spec;
    spec.workers = workers;
    // A slow test machine (sanitizers, parallel tests) must not turn into on_error decisions,
    // except where a test is about timeouts and sets its own.
    const std::string timeout =
        redis_extra.find("timeout") == std::string::npos ? ", timeout: 2s" : "";
    spec.sections = "redis: {address: \"" + redis.address() + "\"" + timeout + redis_extra + "}\n" +
                    "rate_limits:\n" + policies + more;
    spec.routes = routes;
    return start(spec);
  }
};

const char* kRoute =
    "  - match: {path: /x}\n    rate_limit: shared\n    direct: {body: x}\n"
    "  - match: {path: /free}\n    direct: {body: free}\n";

TEST_F(RedisRateLimitTest, TheBudgetLivesInRedis) {
  RedisServer redis;
  ASSERT_TRUE(redis.ok()) << redis.error();
  auto& gw = start_with(redis,
                        "  shared: {key: \"header:X-Client\", rate: 1/m, burst: 3, "
                        "backend: redis}\n",
                        kRoute);
  ASSERT_TRUE(gw.ok()) << gw.error();
  // The shard connects at start, before any request needs it.
  EXPECT_EQ(wait_metric(
                gw.admin_port(), "ringgate_redis_connected", [](double v) { return v == 1; }, 3s),
            1);
  EXPECT_EQ(metric(gw.admin_port(), "ringgate_redis_calls_total"), 0);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(status_of(gw.port(), "/x", "X-Client: a\r\n"), 200) << i;
  }
  auto r = fetch(gw.port(), request("GET", "/x", "X-Client: a\r\n"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 429) << r->raw;
  const int retry = std::stoi(r->header("retry-after").value_or("0"));
  EXPECT_GE(retry, 1);
  EXPECT_LE(retry, 60);
  EXPECT_EQ(r->header("ratelimit-policy").value_or(""), "\"shared\";q=3;w=180");
  EXPECT_FALSE(r->connection_has("close"));
  EXPECT_EQ(status_of(gw.port(), "/x", "X-Client: b\r\n"), 200);  // its own bucket
  EXPECT_EQ(status_of(gw.port(), "/free"), 200);
  // The bucket is a Redis key under the prefix, with an expiry (its bucket refills by then).
  const std::string keys = redis.cli({"KEYS", "ringgate:rl:shared:*"});
  EXPECT_NE(keys.find("ringgate:rl:shared:a"), std::string::npos) << keys;
  EXPECT_NE(keys.find("ringgate:rl:shared:b"), std::string::npos) << keys;
  const long ttl_ms = std::stol(redis.cli({"PTTL", "ringgate:rl:shared:a"}));
  EXPECT_GT(ttl_ms, 100000);  // three tokens of 60 s each are out
  EXPECT_LE(ttl_ms, 180001);
  EXPECT_EQ(
      metric(gw.admin_port(), "ringgate_rate_limit_requests_allowed_total{policy=\"shared\"}"), 4);
  EXPECT_EQ(
      metric(gw.admin_port(), "ringgate_rate_limit_requests_limited_total{policy=\"shared\"}"), 1);
  EXPECT_EQ(metric(gw.admin_port(), "ringgate_rate_limit_backend_errors_total{policy=\"shared\"}"),
            0);
  EXPECT_EQ(metric(gw.admin_port(), "ringgate_redis_connected"), 1);
  EXPECT_GE(redis.calls("evalsha"), 3);
  // Someone else (another node) took from the same bucket: this gateway sees it.
  redis.cli({"DEL", "ringgate:rl:shared:c"});
  EXPECT_EQ(status_of(gw.port(), "/x", "X-Client: c\r\n"), 200);
  redis.cli({"SET", "ringgate:rl:shared:c", "99999999999999999", "PX", "60000"});
  // Its lease cache may hold at most the batch (1 here, from the rate): the next one is refused.
  EXPECT_EQ(status_of(gw.port(), "/x", "X-Client: c\r\n"), 429);
}

// Two gateway processes with two shards each, clients on both, as fast as they go for 10 s:
// together they let through the burst plus the rate over the time, within 5%.
TEST_F(RedisRateLimitTest, TwoGatewaysShareOneBudget) {
  RedisServer redis;
  ASSERT_TRUE(redis.ok()) << redis.error();
  const std::string policy = "  shared: {key: route, rate: 300/s, burst: 30, backend: redis}\n";
  auto& a = start_with(redis, policy, kRoute, 2);
  auto& b = start_with(redis, policy, kRoute, 2);
  ASSERT_TRUE(a.ok()) << a.error();
  ASSERT_TRUE(b.ok()) << b.error();
  const LoadResult load = hammer({b.port(), a.port()}, 8, 10s, request("GET", "/x"));
  EXPECT_EQ(load.other, 0);
  EXPECT_GT(load.limited, load.ok);
  const double expected = 30 + 300 * load.seconds;
  EXPECT_NEAR(load.ok, expected, expected * 0.05)
      << "in " << load.seconds << " s, " << load.limited << " limited";
  const std::string allowed = "ringgate_rate_limit_requests_allowed_total{policy=\"shared\"}";
  EXPECT_EQ(metric(a.admin_port(), allowed) + metric(b.admin_port(), allowed), load.ok);
  EXPECT_GT(metric(a.admin_port(), allowed), 0);
  EXPECT_GT(metric(b.admin_port(), allowed), 0);
  const std::string errors = "ringgate_rate_limit_backend_errors_total{policy=\"shared\"}";
  EXPECT_EQ(metric(a.admin_port(), errors) + metric(b.admin_port(), errors), 0);
  // Every shard connected at start, also one that SO_REUSEPORT left without a client.
  EXPECT_EQ(metric(a.admin_port(), "ringgate_redis_connected"), 2);
  EXPECT_EQ(metric(b.admin_port(), "ringgate_redis_connected"), 2);
}

// Under the limit, Redis sees about one call per batch, not one per request.
TEST_F(RedisRateLimitTest, OneRedisCallPerBatch) {
  RedisServer redis;
  ASSERT_TRUE(redis.ok()) << redis.error();
  auto& gw = start_with(redis,
                        "  shared: {key: route, rate: 100000/s, burst: 100000, backend: redis, "
                        "batch: 16}\n",
                        kRoute);
  ASSERT_TRUE(gw.ok()) << gw.error();
  const long before = redis.calls("evalsha");
  constexpr int kRequests = 1600;
  Conn c = connect_to(gw.port());
  const std::string req = request("GET", "/x");
  int ok = 0;
  for (int i = 0; i < kRequests; ++i) {
    ASSERT_TRUE(send_all(c, req));
    auto r = read_response(c);
    ASSERT_TRUE(r) << i;
    ok += r->status == 200;
  }
  EXPECT_EQ(ok, kRequests);
  const long calls = redis.calls("evalsha") - before;
  EXPECT_GE(calls, kRequests / 16);
  EXPECT_LE(calls, kRequests / 16 + 3) << "one lease call per batch of 16";
  EXPECT_EQ(metric(gw.admin_port(), "ringgate_rate_limit_backend_calls_total{policy=\"shared\"}"),
            calls);
}

// Requests that wait for a lease keep their order on a connection, bodies included.
TEST_F(RedisRateLimitTest, PipelinedRequestsWaitInOrder) {
  RedisServer redis;
  ASSERT_TRUE(redis.ok()) << redis.error();
  auto& gw = start_with(redis,
                        "  shared: {key: client_ip, rate: 1/m, burst: 3, backend: redis, "
                        "batch: 1}\n",
                        "  - match: {path: /x}\n    rate_limit: shared\n    direct: {body: x}\n"
                        "  - match: {path: /up, methods: [POST]}\n    rate_limit: shared\n"
                        "    direct: {status: 201, body: up}\n");
  ASSERT_TRUE(gw.ok()) << gw.error();
  const std::string body(100000, 'b');
  std::string batch = request("GET", "/x") + "POST /up HTTP/1.1\r\nHost: t\r\nContent-Length: " +
                      std::to_string(body.size()) + "\r\n\r\n" + body + request("GET", "/x") +
                      request("GET", "/x") + request("GET", "/x");
  Conn c = connect_to(gw.port());
  ASSERT_TRUE(send_all(c, batch));
  const int want[] = {200, 201, 200, 429, 429};
  for (int i = 0; i < 5; ++i) {
    auto r = read_response(c);
    ASSERT_TRUE(r) << i;
    EXPECT_EQ(r->status, want[i]) << i << "\n" << r->raw;
  }
  // The connection is still in step: one more request is answered.
  ASSERT_TRUE(send_all(c, request("GET", "/x")));
  auto r = read_response(c);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 429);
}

// A consumer key: the request waits after auth, and auth is not counted twice on resume.
TEST_F(RedisRateLimitTest, ConsumerKeysBehindApiKeys) {
  RedisServer redis;
  ASSERT_TRUE(redis.ok()) << redis.error();
  TempDir dir;
  unsigned char d[32];
  const std::string key = "key-acme-1";
  SHA256(reinterpret_cast<const unsigned char*>(key.data()), key.size(), d);
  std::string hex;
  for (unsigned char ch : d) {
    hex += "0123456789abcdef"[ch >> 4];
    hex += "0123456789abcdef"[ch & 15];
  }
  dir.write("keys.txt", hex + " acme\n");
  auto& gw = start_with(
      redis, "  per_consumer: {key: consumer, rate: 1/m, burst: 2, backend: redis}\n",
      "  - match: {path: /x}\n    auth: {api_key: partners}\n"
      "    rate_limit: per_consumer\n    direct: {body: x}\n",
      1, "", "auth:\n  api_keys:\n    partners: {file: \"" + dir.path() + "/keys.txt\"}\n");
  ASSERT_TRUE(gw.ok()) << gw.error();
  EXPECT_EQ(status_of(gw.port(), "/x", "X-API-Key: key-acme-1\r\n"), 200);
  EXPECT_EQ(status_of(gw.port(), "/x", "X-API-Key: key-acme-1\r\n"), 200);
  EXPECT_EQ(status_of(gw.port(), "/x", "X-API-Key: key-acme-1\r\n"), 429);
  EXPECT_EQ(status_of(gw.port(), "/x", "X-API-Key: wrong\r\n"), 401);
  EXPECT_EQ(metric(gw.admin_port(), "ringgate_api_key_accepted_total{set=\"partners\"}"), 3);
  EXPECT_NE(redis.cli({"KEYS", "*"}).find("ringgate:rl:per_consumer:acme"), std::string::npos);
}

// Redis not there at all: on_error decides, and it is counted. Once Redis is up, the limits
// hold again (after the retry pause); a Redis restarted empty has lost the script: loaded again.
TEST_F(RedisRateLimitTest, OnErrorAllowOrDenyWhileRedisIsDown) {
  const uint16_t port = free_port();
  ASSERT_NE(port, 0);
  auto redis = std::make_unique<RedisServer>(port);
  ASSERT_TRUE(redis->ok()) << redis->error();
  auto& gw = start_with(*redis,
                        "  open: {key: route, rate: 1/m, burst: 2, backend: redis}\n"
                        "  closed: {key: route, rate: 1/m, burst: 2, backend: redis, "
                        "on_error: deny}\n",
                        "  - match: {path: /open}\n    rate_limit: open\n    direct: {}\n"
                        "  - match: {path: /closed}\n    rate_limit: closed\n    direct: {}\n",
                        1, ", retry: 100ms, timeout: 200ms");
  ASSERT_TRUE(gw.ok()) << gw.error();
  EXPECT_EQ(status_of(gw.port(), "/open"), 200);
  EXPECT_EQ(status_of(gw.port(), "/closed"), 200);
  redis->kill_now();
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(status_of(gw.port(), "/open"), 200) << i;  // fails open: not limited
    auto r = fetch(gw.port(), request("GET", "/closed"));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 429) << i;
    EXPECT_EQ(r->header("retry-after").value_or(""), "1");
  }
  EXPECT_EQ(metric(gw.admin_port(), "ringgate_rate_limit_backend_errors_total{policy=\"open\"}"),
            4);
  EXPECT_EQ(metric(gw.admin_port(), "ringgate_rate_limit_backend_errors_total{policy=\"closed\"}"),
            4);
  EXPECT_EQ(metric(gw.admin_port(), "ringgate_redis_connected"), 0);
  // Back, empty: the buckets start full, the script is loaded again on the new connection.
  redis = std::make_unique<RedisServer>(port);
  ASSERT_TRUE(redis->ok()) << redis->error();
  std::this_thread::sleep_for(150ms);  // past the retry pause
  int tries = 0;
  while (status_of(gw.port(), "/open") == 200 && ++tries < 10) {
  }
  EXPECT_EQ(tries, 2) << "burst 2 from a fresh bucket, then 429";
  EXPECT_EQ(status_of(gw.port(), "/closed"), 200);
  EXPECT_EQ(metric(gw.admin_port(), "ringgate_redis_connected"), 1);
  // SCRIPT FLUSH under a live connection: that call fails (NOSCRIPT: on_error deny), and the
  // link reconnects, loading the script again.
  redis->cli({"SCRIPT", "FLUSH"});
  redis->cli({"DEL", "ringgate:rl:closed:route#2"});
  EXPECT_EQ(status_of(gw.port(), "/closed"), 429);
  EXPECT_EQ(metric(gw.admin_port(), "ringgate_rate_limit_backend_errors_total{policy=\"closed\"}"),
            5);
  std::this_thread::sleep_for(150ms);
  EXPECT_EQ(status_of(gw.port(), "/closed"), 200);
  EXPECT_EQ(metric(gw.admin_port(), "ringgate_redis_connected"), 1);
  EXPECT_GE(metric(gw.admin_port(), "ringgate_redis_connects_total"), 3);
}

// A Redis that stops answering (SIGSTOP): requests wait at most redis.timeout, then on_error.
TEST_F(RedisRateLimitTest, ASlowRedisTimesOut) {
  RedisServer redis;
  ASSERT_TRUE(redis.ok()) << redis.error();
  auto& gw = start_with(redis,
                        "  shared: {key: \"header:X-Client\", rate: 1/m, burst: 5, "
                        "backend: redis, batch: 1}\n",
                        kRoute, 1, ", timeout: 100ms, retry: 300ms");
  ASSERT_TRUE(gw.ok()) << gw.error();
  EXPECT_EQ(status_of(gw.port(), "/x", "X-Client: a\r\n"), 200);
  redis.pause();
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(status_of(gw.port(), "/x", "X-Client: b\r\n"), 200);  // on_error: allow
  const auto waited = std::chrono::steady_clock::now() - t0;
  EXPECT_GE(waited, 90ms);
  EXPECT_LT(waited, 1s);
  EXPECT_EQ(metric(gw.admin_port(), "ringgate_redis_failures_total"), 1);
  // In the retry pause, requests do not wait at all.
  const auto t1 = std::chrono::steady_clock::now();
  EXPECT_EQ(status_of(gw.port(), "/x", "X-Client: c\r\n"), 200);
  EXPECT_LT(std::chrono::steady_clock::now() - t1, 90ms);
  EXPECT_EQ(metric(gw.admin_port(), "ringgate_rate_limit_backend_errors_total{policy=\"shared\"}"),
            2);
  redis.resume();
  std::this_thread::sleep_for(350ms);
  EXPECT_EQ(status_of(gw.port(), "/x", "X-Client: d\r\n"), 200);
  EXPECT_EQ(metric(gw.admin_port(), "ringgate_rate_limit_backend_errors_total{policy=\"shared\"}"),
            2);
  EXPECT_NE(redis.cli({"KEYS", "*"}).find("ringgate:rl:shared:d"), std::string::npos);
}

// AUTH with the configured password; a wrong one fails the set-up and on_error applies.
TEST_F(RedisRateLimitTest, PasswordAndWrongPassword) {
  RedisServer redis(0, "s3cret-pass");
  ASSERT_TRUE(redis.ok()) << redis.error();
  const std::string policy =
      "  shared: {key: route, rate: 1/m, burst: 1, backend: redis, on_error: deny}\n";
  auto& good = start_with(redis, policy, kRoute, 1, ", password: s3cret-pass, database: 3");
  auto& bad = start_with(redis, policy, kRoute, 1, ", password: nope");
  ASSERT_TRUE(good.ok()) << good.error();
  ASSERT_TRUE(bad.ok()) << bad.error();
  EXPECT_EQ(status_of(good.port(), "/x"), 200);
  EXPECT_EQ(status_of(good.port(), "/x"), 429);
  EXPECT_NE(redis.cli({"-n", "3", "KEYS", "*"}).find("ringgate:rl:shared:"), std::string::npos);
  EXPECT_EQ(redis.cli({"-n", "0", "KEYS", "*"}).find("ringgate"), std::string::npos);
  auto r = fetch(bad.port(), request("GET", "/x"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 429);  // denied by on_error, not by the bucket
  EXPECT_EQ(metric(bad.admin_port(), "ringgate_rate_limit_backend_errors_total{policy=\"shared\"}"),
            1);
  EXPECT_EQ(metric(bad.admin_port(), "ringgate_redis_connected"), 0);
}

// A server that turned read-only (a replica now, as after a failover) answers every lease with an
// error: the link goes down for redis.retry instead of every request waiting for that error.
TEST_F(RedisRateLimitTest, AReadOnlyServerTakesTheLinkDown) {
  RedisServer redis;
  ASSERT_TRUE(redis.ok()) << redis.error();
  auto& gw = start_with(redis,
                        "  shared: {key: route, rate: 1/m, burst: 3, backend: redis, batch: 1, "
                        "on_error: deny}\n",
                        kRoute, 1, ", retry: 200ms");
  ASSERT_TRUE(gw.ok()) << gw.error();
  EXPECT_EQ(status_of(gw.port(), "/x"), 200);
  redis.cli({"REPLICAOF", "127.0.0.1", "1"});  // a master that is not there: read-only
  EXPECT_EQ(status_of(gw.port(), "/x"), 429);  // on_error: deny
  EXPECT_EQ(metric(gw.admin_port(), "ringgate_redis_connected"), 0);
  EXPECT_EQ(status_of(gw.port(), "/x"), 429);  // in the retry pause: no call at all
  EXPECT_EQ(metric(gw.admin_port(), "ringgate_redis_failures_total"), 1);
  EXPECT_EQ(metric(gw.admin_port(), "ringgate_rate_limit_backend_errors_total{policy=\"shared\"}"),
            2);
  redis.cli({"REPLICAOF", "NO", "ONE"});
  std::this_thread::sleep_for(250ms);
  EXPECT_EQ(status_of(gw.port(), "/x"), 200);  // the second of three tokens
  EXPECT_EQ(metric(gw.admin_port(), "ringgate_redis_connected"), 1);
}

// While a request waits for its lease, other requests on the shard are parsed (into the shard's
// shared header table, from other buffers): the waiting one still goes upstream with its own
// target and headers, byte for byte.
TEST_F(RedisRateLimitTest, AWaitingRequestKeepsItsOwnHead) {
  RedisServer redis;
  ASSERT_TRUE(redis.ok()) << redis.error();
  TempDir dir;
  const std::string record = dir.path() + "/record.txt";
  Upstream up({"--record", record});
  ConfigSpec spec;
  spec.sections = "redis: {address: \"" + redis.address() +
                  "\", timeout: 1s}\n"
                  "rate_limits:\n"
                  "  shared: {key: \"header:X-Client\", rate: 1/m, burst: 5, backend: redis, "
                  "batch: 1}\n";
  spec.upstreams = "  api:\n    endpoints: [" + endpoint(up.port()) + "]\n";
  spec.routes =
      "  - match: {prefix: /api}\n    rate_limit: shared\n    upstream: api\n"
      "  - match: {prefix: /free}\n    direct: {body: free}\n";
  auto& gw = start(spec);
  ASSERT_TRUE(gw.ok()) << gw.error();
  ASSERT_EQ(wait_metric(
                gw.admin_port(), "ringgate_redis_connected", [](double v) { return v == 1; }, 3s),
            1);
  redis.pause();  // the lease call stays unanswered until redis.timeout: on_error allows then
  Conn a = connect_to(gw.port());
  const std::string head =
      "GET /api/first?q=1 HTTP/1.1\r\nHost: a.example\r\nX-Client: alpha\r\n"
      "X-Marker: the-first-request\r\n\r\n";
  ASSERT_TRUE(send_all(a, head));
  std::this_thread::sleep_for(100ms);
  for (int i = 0; i < 5; ++i) {
    // Other heads, laid out differently, parsed while the first one waits.
    auto r = fetch(gw.port(), "GET /free/" + std::string(40 + i * 7, 'z') +
                                  " HTTP/1.1\r\nHost: b.example\r\nX-Other-" + std::to_string(i) +
                                  ": " + std::string(60, 'b') +
                                  "\r\nX-Client: beta\r\nX-Marker: not-this-one\r\n\r\n");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
  }
  ReadOptions slow;
  slow.timeout = 5s;
  auto r = read_response(a, slow);
  redis.resume();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->raw;
  const Recorded rec = read_record(record);
  ASSERT_EQ(rec.requests.size(), 1u);
  const std::string& got = rec.requests[0];
  EXPECT_EQ(got.rfind("GET /api/first?q=1 HTTP/1.1\r\n", 0), 0u) << got;
  EXPECT_EQ(values(got, "x-marker"), (std::vector<std::string>{"the-first-request"})) << got;
  EXPECT_EQ(values(got, "x-client"), (std::vector<std::string>{"alpha"})) << got;
  EXPECT_EQ(values(got, "host"), (std::vector<std::string>{"a.example"})) << got;
  EXPECT_EQ(metric(gw.admin_port(), "ringgate_rate_limit_backend_errors_total{policy=\"shared\"}"),
            1);
}

}  // namespace
}  // namespace ringgate::it
