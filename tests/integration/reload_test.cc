// Reload (SIGHUP, POST /reload: a new gateway in the same process) and binary upgrade (SIGUSR2:
// a new process) take the listening sockets and the idle connections over while the old
// generation drains; most tests run both ways. Requests keep flowing through them without one
// failing; a config that does not load is refused with its file:line while the running
// generation keeps serving; a new generation that fails to start leaves the old one serving.

#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <climits>
#include <fstream>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "fixture.h"
#include "proxy_fixture.h"
#include "successors.h"

namespace ringgate::it {
namespace {

std::string config_with_body(const std::string& body, const std::string& extra = "") {
  ConfigSpec spec;
  spec.workers = 2;
  spec.drain_timeout = "3s";
  spec.routes = "  - match: {path: /v}\n    direct: {status: 200, body: \"" + body + "\"}\n" +
                default_routes();
  spec.sections = extra;
  return make_config(spec);
}

void rewrite(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::trunc) << text;
}

// A keep-alive client asking GET /v until told to stop: it follows Connection: close by
// reconnecting, as a browser or wrk does; anything else that goes wrong is a failure.
struct Client {
  uint64_t ok = 0;
  uint64_t failed = 0;
  std::string failure;
  std::set<std::string> bodies;
  std::string last_body;

  void run(uint16_t port, const std::atomic<bool>& stop) {
    Conn c;
    while (!stop.load()) {
      if (!c.valid()) {
        c = connect_to(port);
        if (!c.valid()) {
          fail("connect failed");
          continue;
        }
      }
      std::string why;
      if (!send_all(c, request("GET", "/v"))) {
        fail("send failed");
        c = Conn();
        continue;
      }
      auto r = read_response(c, {}, &why);
      if (!r || r->status != 200) {
        fail(r ? "status " + std::to_string(r->status) : "no response: " + why);
        c = Conn();
        continue;
      }
      ++ok;
      bodies.insert(r->body);
      last_body = r->body;
      if (r->connection_has("close")) {
        c = Conn();
      }
    }
  }
  void fail(const std::string& why) {
    ++failed;
    failure = why;
  }
};

class ReloadTest : public GatewayTest, public ::testing::WithParamInterface<Takeover> {};
INSTANTIATE_TEST_SUITE_P(, ReloadTest, ::testing::Values(Takeover::kReload, Takeover::kUpgrade),
                         takeover_name);
class ProxyReloadTest : public ProxyTest, public ::testing::WithParamInterface<Takeover> {};
INSTANTIATE_TEST_SUITE_P(, ProxyReloadTest,
                         ::testing::Values(Takeover::kReload, Takeover::kUpgrade), takeover_name);

TEST_P(ReloadTest, NewGenerationsServeTheNewConfigOnTheSameSocketsWithoutAFailedRequest) {
  gateways_.push_back(std::make_unique<GatewayProcess>(config_with_body("g1")));
  GatewayProcess& g = *gateways_.back();
  ASSERT_TRUE(g.ok()) << g.error();
  Successors successors(GetParam());

  std::atomic<bool> stop{false};
  std::vector<Client> clients(4);
  std::vector<std::thread> threads;
  for (Client& c : clients) {
    threads.emplace_back([&c, &g, &stop] { c.run(g.port(), stop); });
  }
  std::this_thread::sleep_for(200ms);
  constexpr int kReloads = 6;
  for (int i = 2; i <= kReloads + 1; ++i) {
    rewrite(g.config_path(), config_with_body("g" + std::to_string(i)));
    const pid_t current = successors.take_over(g);
    ASSERT_GT(current, 0) << "generation " << i << " never served:\n" << g.log();
    std::ifstream comm("/proc/" + std::to_string(current) + "/comm");
    std::string name;
    std::getline(comm, name);
    EXPECT_EQ(name, "ringgate");         // what ps and pidof find, not "exe"
    std::this_thread::sleep_for(150ms);  // requests on the new generation before the next
  }
  std::this_thread::sleep_for(200ms);
  stop = true;
  for (std::thread& t : threads) {
    t.join();
  }
  uint64_t ok = 0;
  for (const Client& c : clients) {
    EXPECT_EQ(c.failed, 0u) << c.failure;
    EXPECT_EQ(c.last_body, "g" + std::to_string(kReloads + 1));
    ok += c.ok;
  }
  EXPECT_GT(ok, 100u);
  // Every generation answered some of them: each took over while requests flowed.
  std::set<std::string> seen;
  for (const Client& c : clients) {
    seen.insert(c.bodies.begin(), c.bodies.end());
  }
  EXPECT_GE(seen.size(), static_cast<size_t>(kReloads)) << g.log();

  // The same ports, the new generation's config and count.
  auto r = fetch(g.admin_port(), request("GET", "/config"));
  ASSERT_TRUE(r);
  EXPECT_NE(r->body.find("\"generation\":" + std::to_string(kReloads + 1)), std::string::npos)
      << r->body;
  EXPECT_EQ(metric(g.admin_port(), "ringgate_config_generation"), kReloads + 1);
  // Every generation before drained cleanly.
  for (int i = 1; i <= kReloads; ++i) {
    EXPECT_TRUE(successors.wait_drained(g, static_cast<uint64_t>(i))) << i;
  }
  EXPECT_EQ(successors.stop(g), 0);
}

// Reloads back to back, each asked for as soon as the one before serves: many generations drain
// at once, a newer one often before an older one that still hands it connections. None is
// lost: every request is answered, and each generation reports it drained.
TEST_F(GatewayTest, ReloadsBackToBackLoseNoRequest) {
  gateways_.push_back(std::make_unique<GatewayProcess>(config_with_body("g1")));
  GatewayProcess& g = *gateways_.back();
  ASSERT_TRUE(g.ok()) << g.error();
  Successors successors;
  std::atomic<bool> stop{false};
  std::vector<Client> clients(8);
  std::vector<std::thread> threads;
  for (Client& c : clients) {
    threads.emplace_back([&c, &g, &stop] { c.run(g.port(), stop); });
  }
  std::this_thread::sleep_for(100ms);
  constexpr int kReloads = 60;
  for (int i = 2; i <= kReloads + 1; ++i) {
    rewrite(g.config_path(), config_with_body("g" + std::to_string(i)));
    ASSERT_GT(successors.take_over(g), 0) << "generation " << i << " never served:\n" << g.log();
  }
  std::this_thread::sleep_for(300ms);
  stop = true;
  for (std::thread& t : threads) {
    t.join();
  }
  for (const Client& c : clients) {
    EXPECT_EQ(c.failed, 0u) << c.failure;
    EXPECT_EQ(c.last_body, "g" + std::to_string(kReloads + 1));
    EXPECT_GT(c.ok, 0u);
  }
  for (int i = 1; i <= kReloads; ++i) {
    EXPECT_TRUE(successors.wait_drained(g, static_cast<uint64_t>(i))) << i;
  }
  EXPECT_EQ(metric(g.admin_port(), "ringgate_config_snapshots"), 1);
  EXPECT_EQ(successors.stop(g), 0);
}

TEST_F(GatewayTest, AnInvalidConfigIsRefusedWithItsLineAndTheRunningGenerationKeepsServing) {
  gateways_.push_back(std::make_unique<GatewayProcess>(config_with_body("kept")));
  GatewayProcess& g = *gateways_.back();
  ASSERT_TRUE(g.ok()) << g.error();
  rewrite(g.config_path(), config_with_body("never") + "routes: [unclosed\n");
  g.signal(SIGHUP);
  ASSERT_TRUE(g.wait_output("ringgate: reload refused: " + g.config_path() + ":", 5s)) << g.log();
  auto r = fetch(g.port(), request("GET", "/v"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "kept");
  EXPECT_TRUE(g.running());
  EXPECT_EQ(metric(g.admin_port(), "ringgate_config_generation"), 1);
  auto m = fetch(g.admin_port(), request("GET", "/metrics"));
  ASSERT_TRUE(m);
  EXPECT_NE(m->body.find("ringgate_config_reloads_total{result=\"invalid\"} 1\n"),
            std::string::npos);
  EXPECT_EQ(g.log().find("starting generation"), std::string::npos) << g.log();
}

TEST_P(ReloadTest, ANewGenerationThatFailsToStartLeavesTheOldOneServing) {
  gateways_.push_back(std::make_unique<GatewayProcess>(config_with_body("kept")));
  GatewayProcess& g = *gateways_.back();
  ASSERT_TRUE(g.ok()) << g.error();
  // Loads (the path is opened only at start), then fails there.
  rewrite(g.config_path(),
          config_with_body("never", "logging:\n  access: {path: /nonexistent/dir/access.log}\n"));
  Successors successors(GetParam());
  EXPECT_EQ(successors.take_over(g, 3s), -1);
  if (GetParam() == Takeover::kReload) {
    ASSERT_TRUE(g.wait_output("ringgate: reload failed: logging.access.path: ", 5s)) << g.log();
    EXPECT_NE(g.log().find("No such file or directory; generation 1 keeps serving"),
              std::string::npos)
        << g.log();
  } else {
    ASSERT_TRUE(g.wait_output("ringgate: upgrade failed: the new process (pid ", 10s)) << g.log();
    EXPECT_NE(g.log().find("exited with status 1 before it was ready; generation 1 keeps serving"),
              std::string::npos)
        << g.log();
  }
  auto r = fetch(g.port(), request("GET", "/v"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "kept");
  auto m = fetch(g.admin_port(), request("GET", "/metrics"));
  ASSERT_TRUE(m);
  EXPECT_NE(m->body.find("ringgate_config_reloads_total{result=\"failed\"} 1\n"),
            std::string::npos);
  // A later one with a good config goes through.
  rewrite(g.config_path(), config_with_body("next"));
  Successors again(GetParam());
  ASSERT_GT(again.take_over(g), 0) << g.log();
  // The old generation may still take a connection or two while its shards stop accepting.
  std::string body;
  for (int i = 0; i < 50 && body != "next"; ++i) {
    std::string why;
    r = fetch(g.port(), request("GET", "/v"), {}, &why);
    ASSERT_TRUE(r) << why;
    body = r->body;
  }
  EXPECT_EQ(body, "next");
}

// An idle keep-alive connection goes to the new generation with the listening sockets: its next
// request is answered there, on the new config, on the same connection (no Connection: close,
// no reconnect).
TEST_P(ReloadTest, AKeepAliveConnectionMovesToTheNewGenerationInPlace) {
  gateways_.push_back(std::make_unique<GatewayProcess>(config_with_body("before")));
  GatewayProcess& g = *gateways_.back();
  ASSERT_TRUE(g.ok()) << g.error();
  std::vector<Conn> conns;
  for (int i = 0; i < 4; ++i) {
    conns.push_back(connect_to(g.port()));
    ASSERT_TRUE(send_all(conns.back(), request("GET", "/v")));
    auto r = read_response(conns.back());
    ASSERT_TRUE(r);
    EXPECT_EQ(r->body, "before");
    EXPECT_FALSE(r->connection_has("close"));
  }
  Successors successors(GetParam());
  rewrite(g.config_path(), config_with_body("after"));
  ASSERT_GT(successors.take_over(g), 0) << g.log();
  // The first generation is gone: only the new one can answer.
  ASSERT_TRUE(successors.wait_drained(g, 1)) << g.log();
  for (Conn& c : conns) {
    for (int i = 0; i < 2; ++i) {
      ASSERT_TRUE(send_all(c, request("GET", "/v")));
      std::string why;
      auto r = read_response(c, {}, &why);
      ASSERT_TRUE(r) << why << "\n" << g.log();
      EXPECT_EQ(r->body, "after");
      EXPECT_FALSE(r->connection_has("close")) << r->raw;
    }
  }
  auto m = fetch(g.admin_port(), request("GET", "/metrics"));
  ASSERT_TRUE(m);
  EXPECT_NE(m->body.find("ringgate_connections_adopted_total 4\n"), std::string::npos)
      << m->body.substr(0, 2000);
  // The first generation has drained: one config in service again.
  EXPECT_EQ(
      wait_metric(g.admin_port(), "ringgate_config_snapshots", [](double v) { return v == 1; }), 1);
}

// Idle pooled upstream connections go to the new generation too: its first proxied request after
// a reload is a pool hit on the connection the old one opened.
TEST_P(ProxyReloadTest, PooledUpstreamConnectionsAreKept) {
  Upstream up({"--name", "one"});
  ASSERT_NE(up.port(), 0);
  auto& g = start_proxy(endpoint(up.port()));
  ASSERT_TRUE(g.ok()) << g.error();
  Conn c = connect_to(g.port());
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(send_all(c, request("GET", "/api/items")));
    auto r = read_response(c);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
  }
  Successors successors(GetParam());
  ASSERT_GT(successors.take_over(g), 0) << g.log();
  ASSERT_TRUE(successors.wait_drained(g, 1)) << g.log();
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(send_all(c, request("GET", "/api/items")));  // the client connection moved too
    auto r = read_response(c);
    ASSERT_TRUE(r) << g.log();
    EXPECT_EQ(r->status, 200) << r->raw;
  }
  auto m = fetch(g.admin_port(), request("GET", "/metrics"));
  ASSERT_TRUE(m);
  EXPECT_NE(m->body.find("ringgate_upstream_pool_hits_total{upstream=\"api\"} 3\n"),
            std::string::npos)
      << m->body;
  EXPECT_NE(m->body.find("ringgate_upstream_pool_misses_total{upstream=\"api\"} 0\n"),
            std::string::npos)
      << m->body;
}

// The ids the gateway makes (a started trace's id and span, the X-Request-Id of a request that
// continues a client's trace) are never made twice: a new generation's shards, built in the same
// process with the same indexes, do not start again where the first generation's started.
TEST_P(ProxyReloadTest, IdsAreNotRepeatedByANewGeneration) {
  Upstream up({"--record", record_file()});
  auto& g = start_proxy(endpoint(up.port()));
  ASSERT_TRUE(g.ok()) << g.error();
  const std::string continued =
      "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n";
  auto send_three = [&] {
    for (const std::string& extra : {std::string(), std::string(), continued}) {
      auto r = fetch(g.port(), request("GET", "/api/items", extra));
      ASSERT_TRUE(r) << g.log();
      ASSERT_EQ(r->status, 200) << r->raw;
    }
  };
  send_three();
  Successors successors(GetParam());
  ASSERT_GT(successors.take_over(g), 0) << g.log();
  ASSERT_TRUE(successors.wait_drained(g, 1)) << g.log();
  send_three();
  const Recorded rec = read_record(record_file());
  ASSERT_EQ(rec.requests.size(), 6u);
  std::set<std::string> ids;
  size_t made = 0;
  for (const std::string& raw : rec.requests) {
    for (const char* header : {"x-request-id", "traceparent"}) {
      for (const std::string& v : values(raw, header)) {
        ids.insert(v);
        ++made;
      }
    }
  }
  // Each request: one X-Request-Id and one traceparent (a new span id even where continued).
  EXPECT_EQ(made, 12u);
  EXPECT_EQ(ids.size(), made) << rec.requests[0] << "\n---\n" << rec.requests[3];
}

// What the gateway learnt of its upstreams carries over a reload: an endpoint its health checks
// found down stays out of rotation in the new generation (whose own checks have not yet failed
// often enough to say so), so no request is sent to it.
TEST_F(ProxyTest, AReloadKeepsWhatTheHealthChecksFound) {
  Upstream up;
  const uint16_t dead = dead_port();
  auto health = [](const std::string& interval, int unhealthy) {
    return "    health: {path: /health, interval: " + interval +
           ", timeout: 100ms, healthy_threshold: 1, unhealthy_threshold: " +
           std::to_string(unhealthy) + "}\n    outlier: {consecutive_connect_failures: 0}\n";
  };
  auto& g = start_proxy(endpoint(up.port()) + ", " + endpoint(dead), health("100ms", 1));
  ASSERT_TRUE(g.ok()) << g.error();
  const std::string gone =
      "ringgate_upstream_endpoint_healthy{upstream=\"api\",endpoint=\"127.0.0.1:" +
      std::to_string(dead) + "\"}";
  ASSERT_EQ(wait_metric(g.admin_port(), gone, [](double v) { return v == 0; }), 0);
  // The new config checks once a minute and needs three failures to say so.
  ConfigSpec spec;
  spec.upstreams = "  api:\n    endpoints: [" + endpoint(up.port()) + ", " + endpoint(dead) +
                   "]\n" + health("60s", 3);
  spec.routes = "  - match: {prefix: /api}\n    upstream: api\n" + default_routes();
  rewrite(g.config_path(), make_config(spec));
  Successors successors;
  ASSERT_GT(successors.take_over(g), 0) << g.log();
  EXPECT_EQ(metric(g.admin_port(), gone), 0);
  for (int i = 0; i < 6; ++i) {
    auto r = fetch(g.port(), request("GET", "/api/items"));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << r->raw;
  }
  EXPECT_EQ(metric(g.admin_port(),
                   "ringgate_upstream_endpoint_requests_total{upstream=\"api\","
                   "endpoint=\"127.0.0.1:" +
                       std::to_string(dead) + "\"}"),
            0);
}

// While the old generation still finishes a request, two config generations serve the sockets
// (ringgate_config_snapshots 2); once it has drained, one.
TEST_P(ProxyReloadTest, TwoConfigSnapshotsServeWhileTheOldOneDrains) {
  Upstream up({"--name", "one"});
  ASSERT_NE(up.port(), 0);
  auto& g = start_proxy(endpoint(up.port()));
  ASSERT_TRUE(g.ok()) << g.error();
  Conn slow = connect_to(g.port());
  ASSERT_TRUE(send_all(slow, request("GET", "/api/slow?delay=1500ms")));
  std::this_thread::sleep_for(100ms);
  Successors successors(GetParam());
  ASSERT_GT(successors.take_over(g), 0) << g.log();
  EXPECT_EQ(
      wait_metric(g.admin_port(), "ringgate_config_snapshots", [](double v) { return v == 2; }), 2);
  auto r = read_response(slow);  // the old generation answers what it began
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_TRUE(r->connection_has("close"));
  EXPECT_TRUE(successors.wait_drained(g, 1)) << g.log();
  EXPECT_EQ(
      wait_metric(g.admin_port(), "ringgate_config_snapshots", [](double v) { return v == 1; }), 1);
}

// POST /reload on the admin listener: the same reload as SIGHUP, answered with its outcome once
// it is known (the config is loaded on the main thread, never on the shard that serves the
// admin).
TEST_F(GatewayTest, PostReloadAnswersWithTheOutcome) {
  gateways_.push_back(std::make_unique<GatewayProcess>(config_with_body("first")));
  GatewayProcess& g = *gateways_.back();
  ASSERT_TRUE(g.ok()) << g.error();
  Successors successors;

  auto r = fetch(g.admin_port(), request("GET", "/reload"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 405);
  EXPECT_EQ(r->header("allow").value_or(""), "POST");

  // Refused: 422 with the file's line; the first generation keeps serving.
  rewrite(g.config_path(), config_with_body("never") + "routes: [unclosed\n");
  r = fetch(g.admin_port(), request("POST", "/reload", "Content-Length: 0\r\n"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 422) << r->raw;
  EXPECT_EQ(r->header("content-type").value_or(""), "application/json");
  EXPECT_NE(r->body.find("\"status\":\"refused\",\"generation\":1"), std::string::npos) << r->body;
  EXPECT_NE(r->body.find("\"problems\":[\"" + g.config_path() + ":"), std::string::npos) << r->body;

  // A new generation that fails to start: 500, and why.
  rewrite(g.config_path(),
          config_with_body("never", "logging:\n  access: {path: /nonexistent/dir/access.log}\n"));
  r = fetch(g.admin_port(), request("POST", "/reload", "Content-Length: 0\r\n"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 500) << r->raw;
  EXPECT_NE(r->body.find("\"status\":\"failed\",\"generation\":1,\"detail\":\"reload failed: "
                         "logging.access.path: "),
            std::string::npos)
      << r->body;
  EXPECT_NE(r->body.find("No such file or directory"), std::string::npos) << r->body;
  r = fetch(g.port(), request("GET", "/v"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "first");

  // Reloaded: 200 once the new generation serves; a second POST meanwhile is told it is busy.
  rewrite(g.config_path(), config_with_body("second"));
  Conn first = connect_to(g.admin_port());
  ASSERT_TRUE(send_all(first, request("POST", "/reload", "Content-Length: 0\r\n")));
  Conn second = connect_to(g.admin_port());
  ASSERT_TRUE(send_all(second, request("POST", "/reload", "Content-Length: 0\r\n")));
  auto busy = read_response(second);
  ASSERT_TRUE(busy);
  EXPECT_EQ(busy->status, 409) << busy->raw;
  EXPECT_NE(busy->body.find("\"status\":\"busy\""), std::string::npos) << busy->body;
  auto done = read_response(first, {10s});
  ASSERT_TRUE(done);
  EXPECT_EQ(done->status, 200) << done->raw;
  ASSERT_EQ(successors.wait_serving(g, 2), g.pid()) << g.log();  // the same process
  EXPECT_NE(done->body.find("{\"status\":\"reloaded\",\"generation\":2,\"pid\":" +
                            std::to_string(g.pid()) + "}"),
            std::string::npos)
      << done->body;
  EXPECT_TRUE(successors.wait_drained(g, 1)) << g.log();
  r = fetch(g.port(), request("GET", "/v"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "second");
}

// The buckets of a rate-limit policy go to the new generation: a client that used its burst stays
// limited across a reload; a policy whose rate changed starts with full buckets.
TEST_P(ReloadTest, RateLimitBucketsAreKept) {
  auto limited = [](const std::string& rate) {
    ConfigSpec spec;
    spec.workers = 2;
    spec.sections = "rate_limits:\n  per_ip: {key: client_ip, rate: " + rate + ", burst: 2}\n";
    spec.routes =
        "  - match: {path: /v}\n    rate_limit: per_ip\n"
        "    direct: {status: 200, body: \"limited\"}\n" +
        default_routes();
    return make_config(spec);
  };
  gateways_.push_back(std::make_unique<GatewayProcess>(limited("2/m")));
  GatewayProcess& g = *gateways_.back();
  ASSERT_TRUE(g.ok()) << g.error();
  auto status = [&g] { return status_of(g.port(), "/v"); };
  EXPECT_EQ(status(), 200);
  EXPECT_EQ(status(), 200);
  EXPECT_EQ(status(), 429);
  Successors successors(GetParam());
  ASSERT_GT(successors.take_over(g), 0) << g.log();
  EXPECT_TRUE(successors.wait_drained(g, 1)) << g.log();
  EXPECT_NE(g.log().find("generation 2: took over 3 listening sockets and the buckets of 1 "
                         "rate-limit policies"),
            std::string::npos)
      << g.log();
  EXPECT_EQ(status(), 429);  // still limited: the bucket came along

  rewrite(g.config_path(), limited("3/m"));
  ASSERT_GT(successors.take_over(g), 0) << g.log();
  EXPECT_NE(g.log().find("generation 3: took over 3 listening sockets and the buckets of 0 "),
            std::string::npos)
      << g.log();
  // The old generation may still take a connection while it stops accepting.
  int seen = 0;
  for (int i = 0; i < 50 && seen != 200; ++i) {
    seen = status();
  }
  EXPECT_EQ(seen, 200);
}

// Listener changes: an address the new config adds is opened by the new generation (before the
// old one stops), an address it drops stops accepting once the old generation has drained; the
// number of shards may change both ways.
TEST_P(ReloadTest, ANewGenerationMayChangeListenersAndShards) {
  const uint16_t kept = free_port();
  const uint16_t dropped = free_port();
  const uint16_t added = free_port();
  ASSERT_TRUE(kept && dropped && added);
  auto on = [](std::vector<uint16_t> ports, unsigned workers) {
    ConfigSpec spec;
    spec.workers = workers;
    std::string y = make_config(spec);
    std::string list;
    for (uint16_t p : ports) {
      list += (list.empty() ? "" : ", ") + std::string("{address: \"127.0.0.1:") +
              std::to_string(p) + "\"}";
    }
    const std::string from = "- address: \"127.0.0.1:0\"";
    const size_t at = y.find(from);
    const size_t end = y.find('\n', at);
    y.replace(at, end - at, "[" + list + "]");
    // `listen:` then a flow list on the same line
    const size_t listen = y.rfind("listen:", at);
    y.erase(listen + 7, at - (listen + 7));
    y.insert(listen + 7, " ");
    return y;
  };
  gateways_.push_back(std::make_unique<GatewayProcess>(on({kept, dropped}, 1)));
  GatewayProcess& g = *gateways_.back();
  ASSERT_TRUE(g.ok()) << g.error() << on({kept, dropped}, 1);
  Successors successors(GetParam());
  rewrite(g.config_path(), on({kept, added}, 2));
  ASSERT_GT(successors.take_over(g), 0) << g.log();
  EXPECT_TRUE(successors.wait_drained(g, 1)) << g.log();
  for (uint16_t port : {kept, added}) {
    auto r = fetch(port, request("GET", "/hello"));
    ASSERT_TRUE(r) << port;
    EXPECT_EQ(r->status, 200);
  }
  Conn refused = connect_to(dropped, 1s);
  EXPECT_FALSE(refused.valid());
  // Back to one shard: the new generation takes one socket per address and closes the other,
  // which leaves the port's group once the old generation has drained (until then a connection
  // the kernel puts on it just as the old one closes it is reset: tcp_migrate_req).
  rewrite(g.config_path(), on({kept}, 1));
  ASSERT_GT(successors.take_over(g), 0) << g.log();
  EXPECT_TRUE(successors.wait_drained(g, 2)) << g.log();
  for (int i = 0; i < 20; ++i) {
    auto r = fetch(kept, request("GET", "/hello"));
    ASSERT_TRUE(r) << i;
    EXPECT_EQ(r->status, 200);
  }
}

// On a fixed port the address claim (which keeps other processes out of the SO_REUSEPORT group)
// goes to the new generation with the sockets: it serves on the port, and a second gateway on
// the same port is still refused once the first generation has drained.
TEST_P(ReloadTest, ANewGenerationOnAFixedPortTakesTheClaimOver) {
  const uint16_t port = free_port();
  ASSERT_NE(port, 0);
  std::string yaml = config_with_body("fixed");
  const std::string from = "\"127.0.0.1:0\"";
  yaml.replace(yaml.find(from), from.size(), "\"127.0.0.1:" + std::to_string(port) + "\"");
  gateways_.push_back(std::make_unique<GatewayProcess>(yaml));
  GatewayProcess& g = *gateways_.back();
  ASSERT_TRUE(g.ok()) << g.error();
  ASSERT_EQ(g.port(), port);
  Successors successors(GetParam());
  ASSERT_GT(successors.take_over(g), 0) << g.log();
  EXPECT_TRUE(successors.wait_drained(g, 1)) << g.log();
  auto r = fetch(port, request("GET", "/v"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "fixed");
  TempDir dir;
  const CommandResult second = run_binary({"-c", dir.write("second.yaml", yaml)}, 5s);
  EXPECT_EQ(second.exit_code, 1);
  EXPECT_NE(second.err.find("address already in use (another process is listening)"),
            std::string::npos)
      << second.err;
}

// SIGUSR2 runs the binary now at the path the running one was started from: a new build moved
// over it is what serves next, on the same sockets, while the old binary's process drains.
TEST_F(GatewayTest, AnUpgradeRunsTheBinaryNowAtThePath) {
  TempDir dir;
  const std::string exe = dir.path() + "/ringgate";
  ASSERT_EQ(run_command({"cp", binary_path(), exe}).exit_code, 0);
  // `sh -c 'shift; exec EXE "$@"' sh RINGGATE -c FILE`: the gateway runs from `exe`.
  gateways_.push_back(std::make_unique<GatewayProcess>(
      config_with_body("upgraded"),
      std::vector<std::string>{"sh", "-c", "shift; exec " + exe + " \"$@\"", "sh"}, 10s));
  GatewayProcess& g = *gateways_.back();
  ASSERT_TRUE(g.ok()) << g.error();
  auto exe_of = [](pid_t pid) {
    char link[PATH_MAX] = {};
    const std::string proc = "/proc/" + std::to_string(pid) + "/exe";
    return readlink(proc.c_str(), link, sizeof link - 1) > 0 ? std::string(link) : "";
  };
  EXPECT_EQ(exe_of(g.pid()), exe);
  // The new build: a new file moved over the old one (as a package manager replaces it).
  ASSERT_EQ(run_command({"cp", binary_path(), exe + ".new"}).exit_code, 0);
  ASSERT_EQ(rename((exe + ".new").c_str(), exe.c_str()), 0);
  EXPECT_EQ(exe_of(g.pid()), exe + " (deleted)");
  Successors successors(Takeover::kUpgrade);
  const pid_t next = successors.take_over(g);
  ASSERT_GT(next, 0) << g.log();
  EXPECT_EQ(exe_of(next), exe);
  auto r = fetch(g.port(), request("GET", "/v"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "upgraded");
  EXPECT_TRUE(successors.wait_drained(g, 1));
  EXPECT_EQ(successors.stop(g), 0);
}

}  // namespace
}  // namespace ringgate::it
