// Upstream clusters (`upstreams:`) and the `upstream` route action: every field read back,
// defaults, shorthands, the documentation in the embedded config, and one case per error with
// its exact file:line:column.

#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "config_test_util.h"
#include "ringgate/config/config.h"

namespace ringgate {
namespace {

using config_test::error_of;
using config_test::ErrorCase;

const UpstreamAction& upstream_of(const RouteConfig& route) {
  return config_test::action_of<UpstreamAction>(route);
}

// Routes first, clusters after: the routes still resolve their clusters.
constexpr const char* kFull = R"(server:
  listen: "127.0.0.1:0"
  trusted_hops: 2
routes:
  - match: {prefix: /api}
    upstream: orders
  - name: v1
    match: {prefix: /v1}
    upstream:
      cluster: users.v2
      strip_prefix: /v1
      host: endpoint
      timeout: 20s
      try_timeout: 5s
      retries: 3
  - match: {path: /x}
    upstream: {cluster: users.v2, rewrite: /internal/, host: "api.example.com:8443"}
upstreams:
  orders:
    endpoints: ["127.0.0.1:9101", "[::1]:9102", "svc.local:80"]
    protocol: h2
  users.v2:
    endpoints:
      - {address: "10.0.0.1:80", weight: 5}
      - "10.0.0.2:80"
    balance: maglev
    hash_key: "header:X-User"
    keepalive: 8
    keepalive_timeout: 90s
    max_requests_per_connection: 1000
    connect_timeout: 250ms
    dns_refresh: 0
    health:
      path: /ready?deep=1
      interval: 2s
      timeout: 500ms
      healthy_threshold: 4
      unhealthy_threshold: 6
    outlier:
      consecutive_5xx: 7
      consecutive_connect_failures: 0
      base_ejection: 10s
      max_ejection: 1m
      max_ejection_percent: 30
    circuit:
      max_connections: 500
      max_pending: 1
      max_requests: 800
      consecutive_failures: 20
      open_for: 3s
    retry_budget:
      percent: 50
      min_concurrent: 10
)";

TEST(UpstreamConfig, EveryFieldRoundTrips) {
  const Config c = load_config_string(kFull, "full.yaml");
  EXPECT_EQ(c.server.trusted_hops, 2u);
  ASSERT_EQ(c.upstreams.size(), 2u);

  const UpstreamConfig& orders = c.upstreams[0];
  EXPECT_EQ(orders.protocol, UpstreamProtocol::kH2);
  EXPECT_EQ(orders.name, "orders");
  EXPECT_EQ(orders.mark.file, "full.yaml");
  EXPECT_EQ(orders.mark.line, 19);
  EXPECT_EQ(orders.mark.column, 3);
  ASSERT_EQ(orders.endpoints.size(), 3u);
  EXPECT_EQ(orders.endpoints[0].address, "127.0.0.1:9101");
  EXPECT_EQ(orders.endpoints[0].weight, 1u);
  EXPECT_EQ(orders.endpoints[0].mark.line, 20);
  EXPECT_EQ(orders.endpoints[0].mark.column, 17);
  EXPECT_EQ(orders.endpoints[1].address, "[::1]:9102");
  EXPECT_EQ(orders.endpoints[1].mark.column, 35);
  EXPECT_EQ(orders.endpoints[2].address, "svc.local:80");

  const UpstreamConfig& users = c.upstreams[1];
  EXPECT_EQ(users.name, "users.v2");
  EXPECT_EQ(users.mark.line, 22);
  EXPECT_EQ(users.mark.column, 3);
  ASSERT_EQ(users.endpoints.size(), 2u);
  EXPECT_EQ(users.endpoints[0].address, "10.0.0.1:80");
  EXPECT_EQ(users.endpoints[0].weight, 5u);
  EXPECT_EQ(users.endpoints[0].mark.line, 24);  // the map form points at its address
  EXPECT_EQ(users.endpoints[0].mark.column, 19);
  EXPECT_EQ(users.endpoints[1].address, "10.0.0.2:80");
  EXPECT_EQ(users.endpoints[1].weight, 1u);
  EXPECT_EQ(users.endpoints[1].mark.line, 25);
  EXPECT_EQ(users.endpoints[1].mark.column, 9);
  EXPECT_EQ(users.balance, BalanceKind::kMaglev);
  EXPECT_EQ(users.hash_key.kind, HashKeyConfig::Kind::kHeader);
  EXPECT_EQ(users.hash_key.name, "x-user");  // lower-cased
  EXPECT_EQ(users.keepalive, 8u);
  EXPECT_EQ(users.keepalive_timeout, Duration(90000));
  EXPECT_EQ(users.protocol, UpstreamProtocol::kHttp1);
  EXPECT_EQ(users.max_requests_per_connection, 1000u);
  EXPECT_EQ(users.connect_timeout, Duration(250));
  EXPECT_EQ(users.dns_refresh, Duration(0));
  EXPECT_TRUE(users.health.enabled);
  EXPECT_EQ(users.health.path, "/ready?deep=1");
  EXPECT_EQ(users.health.interval, Duration(2000));
  EXPECT_EQ(users.health.timeout, Duration(500));
  EXPECT_EQ(users.health.healthy_threshold, 4u);
  EXPECT_EQ(users.health.unhealthy_threshold, 6u);
  EXPECT_EQ(users.outlier.consecutive_5xx, 7u);
  EXPECT_EQ(users.outlier.consecutive_connect_failures, 0u);
  EXPECT_EQ(users.outlier.base_ejection, Duration(10000));
  EXPECT_EQ(users.outlier.max_ejection, Duration(60000));
  EXPECT_EQ(users.outlier.max_ejection_percent, 30u);
  EXPECT_EQ(users.circuit.max_connections, 500u);
  EXPECT_EQ(users.circuit.max_pending, 1u);
  EXPECT_EQ(users.circuit.max_requests, 800u);
  EXPECT_EQ(users.circuit.consecutive_failures, 20u);
  EXPECT_EQ(users.circuit.open_for, Duration(3000));
  EXPECT_EQ(users.retry_budget.percent, 50u);
  EXPECT_EQ(users.retry_budget.min_concurrent, 10u);

  ASSERT_EQ(c.routes.size(), 3u);
  const UpstreamAction& a0 = upstream_of(c.routes[0]);
  EXPECT_EQ(a0.cluster, "orders");
  EXPECT_EQ(a0.cluster_index, 0u);
  EXPECT_TRUE(a0.strip_prefix.empty());
  EXPECT_TRUE(a0.rewrite.empty());
  EXPECT_EQ(a0.host, UpstreamAction::HostPolicy::kPreserve);

  const UpstreamAction& a1 = upstream_of(c.routes[1]);
  EXPECT_EQ(c.routes[1].name, "v1");
  EXPECT_EQ(a1.cluster, "users.v2");
  EXPECT_EQ(a1.cluster_index, 1u);
  EXPECT_EQ(a1.strip_prefix, "/v1");
  EXPECT_TRUE(a1.rewrite.empty());
  EXPECT_EQ(a1.host, UpstreamAction::HostPolicy::kEndpoint);
  EXPECT_TRUE(a1.host_value.empty());
  EXPECT_EQ(a1.timeout, Duration(20000));
  EXPECT_EQ(a1.try_timeout, Duration(5000));
  EXPECT_EQ(a1.retries, 3u);

  const UpstreamAction& a2 = upstream_of(c.routes[2]);
  EXPECT_EQ(a2.cluster_index, 1u);
  EXPECT_EQ(a2.rewrite, "/internal/");
  EXPECT_EQ(a2.host, UpstreamAction::HostPolicy::kFixed);
  EXPECT_EQ(a2.host_value, "api.example.com:8443");
}

TEST(UpstreamConfig, OmittedOptionsTakeTheStructDefaults) {
  const Config c = load_config_string(R"(server: {listen: "127.0.0.1:0"}
upstreams:
  a: {endpoints: ["127.0.0.1:1"]}
routes:
  - match: {prefix: /}
    upstream: a
)",
                                      "d.yaml");
  EXPECT_EQ(c.server.trusted_hops, 0u);
  ASSERT_EQ(c.upstreams.size(), 1u);
  const UpstreamConfig& up = c.upstreams[0];
  const UpstreamConfig d;
  EXPECT_EQ(up.balance, d.balance);
  EXPECT_EQ(up.balance, BalanceKind::kRoundRobin);
  EXPECT_EQ(up.hash_key.kind, d.hash_key.kind);
  EXPECT_EQ(up.keepalive, d.keepalive);
  EXPECT_EQ(up.keepalive, kKeepaliveUnlimited);  // a burst's connections are all kept
  EXPECT_EQ(up.keepalive_timeout, d.keepalive_timeout);
  EXPECT_EQ(up.max_requests_per_connection, d.max_requests_per_connection);
  EXPECT_EQ(up.connect_timeout, d.connect_timeout);
  EXPECT_EQ(up.dns_refresh, d.dns_refresh);
  EXPECT_EQ(up.protocol, UpstreamProtocol::kHttp1);
  EXPECT_FALSE(up.health.enabled);
  EXPECT_EQ(up.outlier.consecutive_5xx, d.outlier.consecutive_5xx);
  EXPECT_EQ(up.outlier.consecutive_connect_failures, d.outlier.consecutive_connect_failures);
  EXPECT_EQ(up.outlier.base_ejection, d.outlier.base_ejection);
  EXPECT_EQ(up.outlier.max_ejection, d.outlier.max_ejection);
  EXPECT_EQ(up.outlier.max_ejection_percent, d.outlier.max_ejection_percent);
  EXPECT_EQ(up.circuit.max_connections, d.circuit.max_connections);
  EXPECT_EQ(up.circuit.max_pending, d.circuit.max_pending);
  EXPECT_EQ(up.circuit.max_requests, d.circuit.max_requests);
  EXPECT_EQ(up.circuit.consecutive_failures, d.circuit.consecutive_failures);
  EXPECT_EQ(up.circuit.open_for, d.circuit.open_for);
  EXPECT_EQ(up.retry_budget.percent, d.retry_budget.percent);
  EXPECT_EQ(up.retry_budget.min_concurrent, d.retry_budget.min_concurrent);

  const UpstreamAction& a = upstream_of(c.routes[0]);
  const UpstreamAction da;
  EXPECT_EQ(a.cluster, "a");
  EXPECT_EQ(a.cluster_index, 0u);
  EXPECT_EQ(a.host, da.host);
  EXPECT_EQ(a.timeout, da.timeout);
  EXPECT_EQ(a.try_timeout, da.try_timeout);
  EXPECT_EQ(a.retries, da.retries);
}

TEST(UpstreamConfig, HealthKeyAloneTurnsChecksOnWithDefaults) {
  for (const char* health : {"health: {}", "health:"}) {
    SCOPED_TRACE(health);
    const Config c = load_config_string(std::string("server: {listen: \"127.0.0.1:0\"}\n"
                                                    "upstreams:\n  a:\n"
                                                    "    endpoints: [\"127.0.0.1:1\"]\n    ") +
                                            health + "\n",
                                        "h.yaml");
    const HealthCheckConfig& h = c.upstreams.at(0).health;
    const HealthCheckConfig d;
    EXPECT_TRUE(h.enabled);
    EXPECT_EQ(h.path, d.path);
    EXPECT_EQ(h.interval, d.interval);
    EXPECT_EQ(h.timeout, d.timeout);
    EXPECT_EQ(h.healthy_threshold, d.healthy_threshold);
    EXPECT_EQ(h.unhealthy_threshold, d.unhealthy_threshold);
    // One passing check brings a recovered endpoint back (within one interval).
    EXPECT_EQ(h.healthy_threshold, 1u);
  }
}

TEST(UpstreamConfig, Shorthands) {
  // An empty `upstreams:`; a cluster no route uses; both action forms; hash keys; 0 = off with
  // and without a unit; a timeout equal to its bound.
  Config c = load_config_string("server: {listen: \"127.0.0.1:0\"}\nupstreams:\n", "s");
  EXPECT_TRUE(c.upstreams.empty());

  c = load_config_string(R"(server: {listen: "127.0.0.1:0"}
upstreams:
  unused: {endpoints: ["localhost:1"]}
  h: {endpoints: ["[2001:db8::1]:443", "A.example:80"], balance: ring_hash,
      hash_key: "cookie:SessionID", dns_refresh: 0s}
  i: {endpoints: ["127.0.0.1:2"], balance: maglev, hash_key: client_ip}
  p: {endpoints: ["127.0.0.1:3"], balance: p2c}
  l: {endpoints: ["127.0.0.1:4"], balance: least_request}
  r: {endpoints: ["127.0.0.1:5"], balance: round_robin,
      health: {interval: 1s, timeout: 1s}, outlier: {base_ejection: 1m, max_ejection: 1m}}
routes:
  - match: {path: "/u/{id}"}
    upstream: {cluster: h, rewrite: /user, try_timeout: 0, host: preserve}
  - match: {path: /t}
    upstream: {cluster: i, timeout: 5s, try_timeout: 5s, retries: 0, host: "10.0.0.1"}
  - match: {path: /v}
    upstream: {cluster: p, host: "[::1]:8080", strip_prefix: /v}
)",
                         "s");
  ASSERT_EQ(c.upstreams.size(), 6u);
  EXPECT_EQ(c.upstreams[1].balance, BalanceKind::kRingHash);
  EXPECT_EQ(c.upstreams[1].hash_key.kind, HashKeyConfig::Kind::kCookie);
  EXPECT_EQ(c.upstreams[1].hash_key.name, "SessionID");  // cookie names keep their case
  EXPECT_EQ(c.upstreams[1].dns_refresh, Duration(0));
  EXPECT_EQ(c.upstreams[2].balance, BalanceKind::kMaglev);
  EXPECT_EQ(c.upstreams[2].hash_key.kind, HashKeyConfig::Kind::kClientIp);
  EXPECT_EQ(c.upstreams[3].balance, BalanceKind::kP2C);
  EXPECT_EQ(c.upstreams[4].balance, BalanceKind::kLeastRequest);
  EXPECT_EQ(c.upstreams[5].balance, BalanceKind::kRoundRobin);
  ASSERT_EQ(c.routes.size(), 3u);
  EXPECT_EQ(upstream_of(c.routes[0]).cluster_index, 1u);
  EXPECT_EQ(upstream_of(c.routes[0]).rewrite, "/user");
  EXPECT_EQ(upstream_of(c.routes[0]).try_timeout, Duration(0));
  EXPECT_EQ(upstream_of(c.routes[0]).host, UpstreamAction::HostPolicy::kPreserve);
  EXPECT_EQ(upstream_of(c.routes[1]).cluster_index, 2u);
  EXPECT_EQ(upstream_of(c.routes[1]).try_timeout, Duration(5000));
  EXPECT_EQ(upstream_of(c.routes[1]).retries, 0u);
  EXPECT_EQ(upstream_of(c.routes[1]).host_value, "10.0.0.1");
  EXPECT_EQ(upstream_of(c.routes[2]).cluster_index, 3u);
  EXPECT_EQ(upstream_of(c.routes[2]).host_value, "[::1]:8080");
}

TEST(UpstreamConfig, KeepaliveIsACountOrUnlimited) {
  const auto with = [](const std::string& value) {
    return "server: {listen: \"127.0.0.1:0\"}\nupstreams:\n  a: {endpoints: [\"127.0.0.1:1\"], "
           "keepalive: " +
           value + "}\nroutes:\n  - match: {prefix: /}\n    upstream: a\n";
  };
  EXPECT_EQ(load_config_string(with("unlimited"), "k.yaml").upstreams[0].keepalive,
            kKeepaliveUnlimited);
  EXPECT_EQ(load_config_string(with("0"), "k.yaml").upstreams[0].keepalive, 0u);
  EXPECT_EQ(load_config_string(with("12"), "k.yaml").upstreams[0].keepalive, 12u);
  for (const char* bad : {"lots", "100001", "-1"}) {
    try {
      load_config_string(with(bad), "k.yaml");
      ADD_FAILURE() << bad << " was accepted";
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find("k.yaml:3:"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("keepalive"), std::string::npos) << e.what();
      if (std::string(bad) == "lots") {
        EXPECT_NE(std::string(e.what()).find("expected a whole number or unlimited, got 'lots'"),
                  std::string::npos)
            << e.what();
      }
    }
  }
}

TEST(UpstreamConfig, EmbeddedDefaultDocumentsEveryOption) {
  const std::string text = kEmbeddedDefaultConfig;
  // A comment line whose text starts with `key`: "#     keepalive: 64   # ...".
  const auto documented = [&](std::string_view key) {
    for (size_t at = text.find('#'); at != std::string::npos; at = text.find('#', at + 1)) {
      const size_t start = text.find_first_not_of(' ', at + 1);
      if (start != std::string::npos && text.compare(start, key.size(), key) == 0) {
        return true;
      }
    }
    return false;
  };
  const Config c = load_config_string(text, "<embedded>");
  EXPECT_TRUE(c.upstreams.empty());
  EXPECT_EQ(c.server.trusted_hops, 0u);
  EXPECT_NE(text.find("\n  trusted_hops: 0\n"), std::string::npos);  // active, with its default
  for (const char* key : {"upstreams:",
                          "endpoints:",
                          "weight:",
                          "balance:",
                          "hash_key:",
                          "keepalive:",
                          "keepalive_timeout:",
                          "max_requests_per_connection:",
                          "connect_timeout:",
                          "protocol:",
                          "dns_refresh:",
                          "health:",
                          "path:",
                          "interval:",
                          "timeout:",
                          "healthy_threshold:",
                          "unhealthy_threshold:",
                          "outlier:",
                          "consecutive_5xx:",
                          "consecutive_connect_failures:",
                          "base_ejection:",
                          "max_ejection:",
                          "max_ejection_percent:",
                          "circuit:",
                          "max_connections:",
                          "max_pending:",
                          "max_requests:",
                          "consecutive_failures:",
                          "open_for:",
                          "retry_budget:",
                          "percent:",
                          "min_concurrent:",
                          "upstream:",
                          "cluster:",
                          "strip_prefix:",
                          "rewrite:",
                          "host:",
                          "try_timeout:",
                          "retries:"}) {
    EXPECT_TRUE(documented(key)) << key;
  }
}

// The first line of every case: a valid server section. UPSTREAM adds cluster `a` on lines 2-4,
// ROUTE a prefix route on lines 5-6 whose action comes on line 7.
#define SERVER "server: {listen: \"127.0.0.1:0\"}\n"
#define UPSTREAM SERVER "upstreams:\n  a:\n    endpoints: [\"127.0.0.1:1\"]\n"
#define ROUTE UPSTREAM "routes:\n  - match: {prefix: /api}\n"

const ErrorCase kUpstreamErrors[] = {
    // server.trusted_hops; the top level.
    {"server:\n  listen: \":0\"\n  trusted_hops: 17\n", "t.yaml:3:17",
     "server.trusted_hops: must be between 0 and 16, got 17"},
    {"server:\n  listen: \":0\"\n  hosts_file: /nonexistent/hosts\n", "t.yaml:3:15",
     "hosts_file \"/nonexistent/hosts\" cannot be read"},
    {SERVER "upstream:\n  a: {}\n", "t.yaml:2:1",
     "unknown key 'upstream' at the top level (expected one of: server, admin, overload, "
     "aggregate, logging, upstreams, auth, redis, rate_limits, caches, routes)"},

    // The cluster map.
    {SERVER "upstreams: [a]\n", "t.yaml:2:12",
     "upstreams: expected a map of cluster names to clusters, got a list"},
    {SERVER "upstreams:\n  \"a b\":\n    endpoints: [\"127.0.0.1:1\"]\n", "t.yaml:3:3",
     "upstreams: cluster name 'a b' must be 1 to 64 characters: letters, digits"},
    {SERVER "upstreams:\n  "
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa: {}\n",
     "t.yaml:3:3", "must be 1 to 64 characters"},
    {SERVER
     "upstreams:\n  a: {endpoints: [\"127.0.0.1:1\"]}\n  a: {endpoints: [\"127.0.0.1:2\"]}\n",
     "t.yaml:4:3", "upstreams: duplicate upstream 'a' (first at line 3)"},
    {SERVER "upstreams:\n  a:\n    endpoint: [\"127.0.0.1:1\"]\n", "t.yaml:4:5",
     "unknown key 'endpoint' in 'upstreams.a' (expected one of: endpoints, balance, hash_key, "
     "keepalive, keepalive_timeout, max_requests_per_connection, connect_timeout, dns_refresh, "
     "health, outlier, circuit, retry_budget, host, tls, protocol)"},
    {SERVER "upstreams:\n  a:\n    endpoints: [\"127.0.0.1:1\"]\n    protocol: h3\n", "t.yaml:5:15",
     "upstreams.a.protocol: unknown protocol \"h3\": expected http1 or h2"},
    {SERVER
     "upstreams:\n  a:\n    endpoints: [\"127.0.0.1:1\"]\n    protocol: h2\n    health: {}\n",
     "t.yaml:6:13", "upstreams.a.health: active health checks speak HTTP/1.1"},
    {SERVER "upstreams:\n  a: \"127.0.0.1:1\"\n", "t.yaml:3:6",
     "upstreams.a: expected a map, got '127.0.0.1:1'"},
    {SERVER "upstreams:\n  a: {balance: p2c}\n", "t.yaml:3:6", "upstreams.a: missing 'endpoints'"},
    {SERVER "upstreams:\n  a:\n", "t.yaml:3:3", "upstreams.a: missing 'endpoints'"},

    // Endpoints.
    {SERVER "upstreams:\n  a:\n    endpoints: []\n", "t.yaml:4:16",
     "upstreams.a.endpoints: at least one endpoint is required"},
    {SERVER "upstreams:\n  a:\n    endpoints: \"127.0.0.1:1\"\n", "t.yaml:4:16",
     "upstreams.a.endpoints: expected a list of endpoints"},
    {SERVER "upstreams:\n  a:\n    endpoints: [\"127.0.0.1\"]\n", "t.yaml:4:17",
     "upstreams.a.endpoints[0]: '127.0.0.1' is not a valid endpoint: missing the port"},
    {SERVER "upstreams:\n  a:\n    endpoints: [\"127.0.0.1:0\"]\n", "t.yaml:4:17",
     "the port must be a number 1..65535"},
    {SERVER "upstreams:\n  a:\n    endpoints: [\"127.0.0.1:65536\"]\n", "t.yaml:4:17",
     "the port must be a number 1..65535"},
    {SERVER "upstreams:\n  a:\n    endpoints: [\"1.2.3:80\"]\n", "t.yaml:4:17",
     "'1.2.3:80' is not a valid endpoint: not a valid IPv4 address"},
    {SERVER "upstreams:\n  a:\n    endpoints: [\"::1:80\"]\n", "t.yaml:4:17",
     "IPv6 addresses must be written [addr]:port"},
    {SERVER "upstreams:\n  a:\n    endpoints: [\"[zz]:80\"]\n", "t.yaml:4:17",
     "not a numeric IPv6 address"},
    {SERVER "upstreams:\n  a:\n    endpoints: [\"[::1]80\"]\n", "t.yaml:4:17",
     "expected ':' and a port after ']'"},
    {SERVER "upstreams:\n  a:\n    endpoints: [\"bad!host:80\"]\n", "t.yaml:4:17",
     "not a host name"},
    {SERVER "upstreams:\n  a:\n    endpoints: [\"-a.b:80\"]\n", "t.yaml:4:17",
     "may not begin or end with '-'"},
    {SERVER "upstreams:\n  a:\n    endpoints: [\"a..b:80\"]\n", "t.yaml:4:17",
     "each dot-separated part must be 1 to 63 characters"},
    {SERVER "upstreams:\n  a:\n    endpoints: [\":80\"]\n", "t.yaml:4:17", "missing the host"},
    {SERVER "upstreams:\n  a:\n    endpoints: [[\"127.0.0.1:1\"]]\n", "t.yaml:4:17",
     "upstreams.a.endpoints[0]: expected \"host:port\" or an {address: ..., weight: ...} map, got "
     "a list"},
    {SERVER "upstreams:\n  a:\n    endpoints: [\"127.0.0.1:1\", \"127.0.0.1:1\"]\n", "t.yaml:4:32",
     "upstreams.a.endpoints[1]: duplicate endpoint '127.0.0.1:1' (first at line 4)"},
    {SERVER "upstreams:\n  a:\n    endpoints:\n      - \"[::1]:80\"\n      - \"[0::1]:80\"\n",
     "t.yaml:6:9", "duplicate endpoint '[0::1]:80' (first at line 5 as '[::1]:80')"},
    {SERVER "upstreams:\n  a:\n    endpoints: [\"A.local:80\", {address: \"a.local:80\"}]\n",
     "t.yaml:4:41", "duplicate endpoint 'a.local:80'"},
    {SERVER "upstreams:\n  a:\n    endpoints: [{address: \"127.0.0.1:1\", wieght: 2}]\n",
     "t.yaml:4:42",
     "unknown key 'wieght' in 'upstreams.a.endpoints[0]' (expected one of: address, weight)"},
    {SERVER "upstreams:\n  a:\n    endpoints: [{address: \"127.0.0.1:1\", weight: 1001}]\n",
     "t.yaml:4:50", "upstreams.a.endpoints[0].weight: must be between 1 and 1000, got 1001"},
    {SERVER "upstreams:\n  a:\n    endpoints: [{address: \"127.0.0.1:1\", weight: 0}]\n",
     "t.yaml:4:50", "must be between 1 and 1000, got 0"},
    {SERVER "upstreams:\n  a:\n    endpoints: [{weight: 2}]\n", "t.yaml:4:17",
     "upstreams.a.endpoints[0]: missing 'address'"},

    // Balancing.
    {UPSTREAM "    balance: random\n", "t.yaml:5:14",
     "upstreams.a.balance: expected one of round_robin, least_request, p2c, ring_hash, maglev, "
     "got 'random'"},
    {UPSTREAM "    hash_key: client_ip\n", "t.yaml:5:15",
     "upstreams.a.hash_key: only balance ring_hash or maglev hashes requests, but balance is "
     "round_robin (the default)"},
    {UPSTREAM "    balance: p2c\n    hash_key: \"header:x\"\n", "t.yaml:6:15",
     "only balance ring_hash or maglev hashes requests, but balance is p2c"},
    {UPSTREAM "    balance: ring_hash\n    hash_key: ip\n", "t.yaml:6:15",
     "upstreams.a.hash_key: expected client_ip, header:NAME or cookie:NAME, got 'ip'"},
    {UPSTREAM "    balance: ring_hash\n    hash_key: \"query:x\"\n", "t.yaml:6:15",
     "expected client_ip, header:NAME or cookie:NAME, got 'query:x'"},
    {UPSTREAM "    balance: maglev\n    hash_key: \"header:\"\n", "t.yaml:6:15",
     "missing the header name after 'header:'"},
    {UPSTREAM "    balance: maglev\n    hash_key: \"header:a b\"\n", "t.yaml:6:15",
     "'a b' is not a valid header name"},
    {UPSTREAM "    balance: maglev\n    hash_key: \"cookie:a;b\"\n", "t.yaml:6:15",
     "'a;b' is not a valid cookie name"},

    // Connections.
    {UPSTREAM "    keepalive: 100001\n", "t.yaml:5:16",
     "upstreams.a.keepalive: must be between 0 and 100000, got 100001"},
    {UPSTREAM "    keepalive_timeout: 500ms\n", "t.yaml:5:24",
     "upstreams.a.keepalive_timeout: must be between 1s and 1h, got 500ms"},
    {UPSTREAM "    keepalive_timeout: 2h\n", "t.yaml:5:24", "must be between 1s and 1h, got 2h"},
    {UPSTREAM "    max_requests_per_connection: 10000001\n", "t.yaml:5:34",
     "must be between 0 and 10000000, got 10000001"},
    {UPSTREAM "    connect_timeout: 0ms\n", "t.yaml:5:22",
     "upstreams.a.connect_timeout: must be between 1ms and 5m, got 0ms"},
    {UPSTREAM "    connect_timeout: 6m\n", "t.yaml:5:22", "must be between 1ms and 5m, got 6m"},
    {UPSTREAM "    dns_refresh: 500ms\n", "t.yaml:5:18",
     "upstreams.a.dns_refresh: must be 0 (off) or between 1s and 24h, got 500ms"},
    {UPSTREAM "    dns_refresh: 25h\n", "t.yaml:5:18", "got 25h"},
    {UPSTREAM "    dns_refresh: 30\n", "t.yaml:5:18", "a unit is required"},

    // Health checks.
    {UPSTREAM "    health: {paht: /x}\n", "t.yaml:5:14",
     "unknown key 'paht' in 'upstreams.a.health' (expected one of: path, interval, timeout, "
     "healthy_threshold, unhealthy_threshold)"},
    {UPSTREAM "    health: yes\n", "t.yaml:5:13", "upstreams.a.health: expected a map, got 'yes'"},
    {UPSTREAM "    health: {path: healthz}\n", "t.yaml:5:20",
     "upstreams.a.health.path: must start with '/', got 'healthz'"},
    {UPSTREAM "    health: {path: \"/a b\"}\n", "t.yaml:5:20",
     "must not contain spaces or control characters"},
    {UPSTREAM "    health: {path: \"/a#b\"}\n", "t.yaml:5:20", "must not contain '#'"},
    {UPSTREAM "    health: {interval: 50ms}\n", "t.yaml:5:24",
     "upstreams.a.health.interval: must be between 100ms and 1h, got 50ms"},
    {UPSTREAM "    health: {timeout: 2m}\n", "t.yaml:5:23",
     "upstreams.a.health.timeout: must be between 1ms and 1m, got 2m"},
    {UPSTREAM "    health: {interval: 1s, timeout: 2s}\n", "t.yaml:5:37",
     "upstreams.a.health.timeout (2s) must not exceed upstreams.a.health.interval (1s)"},
    {UPSTREAM "    health: {interval: 500ms}\n", "t.yaml:5:24",
     "upstreams.a.health.timeout (1s) must not exceed upstreams.a.health.interval (500ms)"},
    {UPSTREAM "    health: {healthy_threshold: 0}\n", "t.yaml:5:33",
     "upstreams.a.health.healthy_threshold: must be between 1 and 100, got 0"},
    {UPSTREAM "    health: {unhealthy_threshold: 101}\n", "t.yaml:5:35",
     "must be between 1 and 100, got 101"},

    // Outlier ejection.
    {UPSTREAM "    outlier: {consecutive_500: 5}\n", "t.yaml:5:15",
     "unknown key 'consecutive_500' in 'upstreams.a.outlier' (expected one of: "
     "consecutive_5xx, consecutive_connect_failures, base_ejection, max_ejection, "
     "max_ejection_percent)"},
    {UPSTREAM "    outlier: {consecutive_5xx: 1001}\n", "t.yaml:5:32",
     "upstreams.a.outlier.consecutive_5xx: must be between 0 and 1000, got 1001"},
    {UPSTREAM "    outlier: {consecutive_connect_failures: 1001}\n", "t.yaml:5:45",
     "must be between 0 and 1000"},
    {UPSTREAM "    outlier: {base_ejection: 2h}\n", "t.yaml:5:30",
     "upstreams.a.outlier.base_ejection: must be between 1ms and 1h, got 2h"},
    {UPSTREAM "    outlier: {max_ejection: 25h}\n", "t.yaml:5:29",
     "upstreams.a.outlier.max_ejection: must be between 1ms and 24h, got 25h"},
    {UPSTREAM "    outlier: {base_ejection: 1m, max_ejection: 30s}\n", "t.yaml:5:30",
     "upstreams.a.outlier.base_ejection (1m) must not exceed upstreams.a.outlier.max_ejection "
     "(30s)"},
    {UPSTREAM "    outlier: {max_ejection: 10s}\n", "t.yaml:5:29",
     "base_ejection (30s) must not exceed upstreams.a.outlier.max_ejection (10s)"},
    {UPSTREAM "    outlier: {max_ejection_percent: 101}\n", "t.yaml:5:37",
     "must be between 0 and 100, got 101"},

    // Circuit breaking and the retry budget.
    {UPSTREAM "    circuit: {max_conns: 1}\n", "t.yaml:5:15",
     "unknown key 'max_conns' in 'upstreams.a.circuit' (expected one of: max_connections, "
     "max_pending, max_requests, consecutive_failures, open_for)"},
    {UPSTREAM "    circuit: {max_connections: 0}\n", "t.yaml:5:32",
     "upstreams.a.circuit.max_connections: must be between 1 and 10000000, got 0"},
    {UPSTREAM "    circuit: {max_pending: 10000001}\n", "t.yaml:5:28",
     "must be between 1 and 10000000"},
    {UPSTREAM "    circuit: {max_pending: 0}\n", "t.yaml:5:28", "must be between 1 and 10000000"},
    {UPSTREAM "    circuit: {max_requests: 0}\n", "t.yaml:5:29", "must be between 1 and 10000000"},
    {UPSTREAM "    circuit: {consecutive_failures: 1001}\n", "t.yaml:5:37",
     "must be between 0 and 1000"},
    {UPSTREAM "    circuit: {open_for: 0ms}\n", "t.yaml:5:25",
     "upstreams.a.circuit.open_for: must be between 1ms and 1h, got 0ms"},
    {UPSTREAM "    retry_budget: {pct: 5}\n", "t.yaml:5:20",
     "unknown key 'pct' in 'upstreams.a.retry_budget' (expected one of: percent, "
     "min_concurrent)"},
    {UPSTREAM "    retry_budget: {percent: 101}\n", "t.yaml:5:29",
     "upstreams.a.retry_budget.percent: must be between 0 and 100, got 101"},
    {UPSTREAM "    retry_budget: {min_concurrent: 100001}\n", "t.yaml:5:36",
     "must be between 0 and 100000, got 100001"},

    // The route action: the cluster.
    {ROUTE "    upstream: x\n", "t.yaml:7:15",
     "routes[0].upstream: unknown upstream \"x\" (defined: a)"},
    {SERVER "upstreams:\n  a: {endpoints: [\"127.0.0.1:1\"]}\n  b: {endpoints: [\"127.0.0.1:2\"]}\n"
            "routes:\n  - match: {prefix: /api}\n    upstream: {cluster: c}\n",
     "t.yaml:7:25", "routes[0].upstream.cluster: unknown upstream \"c\" (defined: a, b)"},
    {SERVER "routes:\n  - match: {prefix: /api}\n    upstream: x\n", "t.yaml:4:15",
     "routes[0].upstream: unknown upstream \"x\" (no upstreams are defined)"},
    {ROUTE "    upstream: {retries: 2}\n", "t.yaml:7:15", "routes[0].upstream: missing 'cluster'"},
    {ROUTE "    upstream: [a]\n", "t.yaml:7:15",
     "routes[0].upstream: expected a cluster name or a map with 'cluster', got a list"},
    {ROUTE "    upstream:\n", "t.yaml:7:5",
     "routes[0].upstream: expected a cluster name or a map with 'cluster', got an empty value"},
    {ROUTE "    upstream: {cluster: [a]}\n", "t.yaml:7:25",
     "routes[0].upstream.cluster: expected a cluster name, got a list"},
    {ROUTE "    direct: {}\n    upstream: a\n", "t.yaml:8:15",
     "routes[0].upstream: a route has exactly one action, but this one also has 'direct'"},
    {ROUTE "    upstream: {cluster: a, retry: 2}\n", "t.yaml:7:28",
     "unknown key 'retry' in 'routes[0].upstream' (expected one of: cluster, strip_prefix, "
     "rewrite, host, timeout, try_timeout, retries, stream, min_rate)"},
    {ROUTE "    upstream: {cluster: a, min_rate: {bytes: 100}}\n", "t.yaml:7:38",
     "routes[0].upstream.min_rate: needs both 'bytes' and 'window'"},
    {ROUTE "    upstream: {cluster: a, stream: maybe}\n", "t.yaml:7:36",
     "routes[0].upstream.stream: expected true or false"},

    // The route action: the path sent upstream.
    {ROUTE "    upstream: {cluster: a, strip_prefix: /api, rewrite: /x}\n", "t.yaml:7:57",
     "routes[0].upstream.rewrite: 'strip_prefix' and 'rewrite' are exclusive"},
    {ROUTE "    upstream: {cluster: a, rewrite: /x, strip_prefix: /api}\n", "t.yaml:7:55",
     "routes[0].upstream.strip_prefix: 'strip_prefix' and 'rewrite' are exclusive"},
    {ROUTE "    upstream: {cluster: a, strip_prefix: api}\n", "t.yaml:7:42",
     "routes[0].upstream.strip_prefix: must start with '/', got 'api'"},
    {ROUTE "    upstream: {cluster: a, strip_prefix: /api/}\n", "t.yaml:7:42",
     "routes[0].upstream.strip_prefix: must not end with '/'"},
    {ROUTE "    upstream: {cluster: a, strip_prefix: /}\n", "t.yaml:7:42",
     "stripping '/' changes nothing"},
    {ROUTE "    upstream: {cluster: a, rewrite: x}\n", "t.yaml:7:37",
     "routes[0].upstream.rewrite: must start with '/', got 'x'"},
    {ROUTE "    upstream: {cluster: a, rewrite: \"/a?b=1\"}\n", "t.yaml:7:37",
     "routes[0].upstream.rewrite: must not contain '?'"},
    {ROUTE "    upstream: {cluster: a, rewrite: \"/a\\tb\"}\n", "t.yaml:7:37",
     "must not contain spaces or control characters"},

    // The route action: Host, timeouts, retries.
    {ROUTE "    upstream: {cluster: a, host: \"bad host\"}\n", "t.yaml:7:34",
     "routes[0].upstream.host: expected preserve, endpoint or a host[:port] to send, but 'bad "
     "host' is not one: not a host name"},
    {ROUTE "    upstream: {cluster: a, host: \"\"}\n", "t.yaml:7:34", "is not one: empty"},
    {ROUTE "    upstream: {cluster: a, host: \"a.b:0\"}\n", "t.yaml:7:34",
     "the port must be a number 1..65535"},
    {ROUTE "    upstream: {cluster: a, timeout: 2h}\n", "t.yaml:7:37",
     "routes[0].upstream.timeout: must be between 1ms and 1h, got 2h"},
    {ROUTE "    upstream: {cluster: a, timeout: 0ms}\n", "t.yaml:7:37",
     "must be between 1ms and 1h, got 0ms"},
    {ROUTE "    upstream: {cluster: a, try_timeout: 2h}\n", "t.yaml:7:41",
     "routes[0].upstream.try_timeout: must be between 0ms and 1h, got 2h"},
    {ROUTE "    upstream: {cluster: a, timeout: 5s, try_timeout: 10s}\n", "t.yaml:7:54",
     "routes[0].upstream.try_timeout (10s) must not exceed routes[0].upstream.timeout (5s)"},
    {ROUTE "    upstream: {cluster: a, try_timeout: 20s}\n", "t.yaml:7:41",
     "routes[0].upstream.try_timeout (20s) must not exceed routes[0].upstream.timeout (15s)"},
    {ROUTE "    upstream: {cluster: a, retries: 11}\n", "t.yaml:7:37",
     "routes[0].upstream.retries: must be between 0 and 10, got 11"},
};

#undef ROUTE
#undef UPSTREAM
#undef SERVER

TEST(UpstreamConfigErrors, ExactPositionAndReason) {
  config_test::expect_errors(kUpstreamErrors);
}

TEST(UpstreamConfigErrors, ErrorsNameTheFile) {
  EXPECT_EQ(error_of("server: {listen: \":0\"}\nroutes:\n  - {match: {path: /}, upstream: nope}\n"),
            "t.yaml:3:34: routes[0].upstream: unknown upstream \"nope\" (no upstreams are "
            "defined)");
}

}  // namespace
}  // namespace ringgate
