// Reverse-proxy resilience against real upstream servers (test_upstream) on loopback: load
// balancing policies, retries that avoid endpoints already tried, active health checks (once per
// process, not per shard), outlier ejection, the circuit breaker and its limits, an endpoint
// killed under load, DNS and IPv6 endpoints, and bounded memory when either side is slow.
//
// Timing: every wait polls with a deadline; the few time windows asserted on (ejection, circuit
// open_for) are long compared with one request on a loaded machine.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "proxy_fixture.h"

namespace ringgate::it {
namespace {

using Clock = std::chrono::steady_clock;

class ProxyResilienceTest : public ProxyTest {};

// "ringgate_upstream_<name>{upstream="api"}".
std::string upstream_metric(const std::string& name) {
  return "ringgate_upstream_" + name + "{upstream=\"api\"}";
}

std::string weighted(uint16_t port, int weight) {
  return "{address: \"127.0.0.1:" + std::to_string(port) + "\", weight: " + std::to_string(weight) +
         "}";
}

// The route most tests use: /api proxied to "api" with the given upstream action fields.
std::string api_route(const std::string& fields) {
  return "  - match: {prefix: /api}\n    upstream: {cluster: api" +
         (fields.empty() ? std::string() : ", " + fields) + "}\n";
}

std::string served_by(const Response& r) {
  return r.header("x-upstream").value_or("");
}

// One GET on a fresh connection; the name of the upstream that answered 200, or a description
// of what came back instead (which no upstream is named like).
std::string get_name(uint16_t port, const std::string& target, const std::string& extra = "") {
  std::string why;
  auto r = fetch(port, request("GET", target, extra), {}, &why);
  if (!r) {
    return "<no response: " + why + ">";
  }
  if (r->status != 200) {
    return "<status " + std::to_string(r->status) + ": " + r->body + ">";
  }
  return served_by(*r);
}

// POST /control/<what> straight to an upstream (not through the gateway).
bool control(uint16_t upstream_port, const std::string& what) {
  auto r = fetch(upstream_port, request("POST", "/control/" + what, "Content-Length: 0\r\n"));
  return r && r->status == 200;
}

// Number of recorded requests whose request line starts with `prefix`.
size_t count_recorded(const std::string& file, const std::string& prefix = "") {
  Recorded rec = read_record(file);
  return static_cast<size_t>(
      std::count_if(rec.requests.begin(), rec.requests.end(),
                    [&](const std::string& r) { return r.starts_with(prefix); }));
}

// Polls until `pred` holds or `timeout` passes; returns the last result.
bool eventually(const std::function<bool()>& pred, Millis timeout = 3s) {
  const auto deadline = Clock::now() + timeout;
  while (!pred()) {
    if (Clock::now() >= deadline) {
      return pred();
    }
    std::this_thread::sleep_for(20ms);
  }
  return true;
}

// Bytes are waiting to be read on `c` (or it was closed) within `timeout`.
bool readable(const Conn& c, Millis timeout) {
  pollfd p{c.fd(), POLLIN, 0};
  return poll(&p, 1, static_cast<int>(timeout.count())) > 0;
}

// A listening socket on 127.0.0.1 that never accepts: the kernel completes handshakes up to the
// backlog and buffers what peers send, but nothing is ever read or answered.
class BlackHole {
 public:
  explicit BlackHole(int backlog) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (fd_ >= 0 && bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
        listen(fd_, backlog) == 0 && getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
      port_ = ntohs(a.sin_port);
    }
  }
  ~BlackHole() {
    if (fd_ >= 0) {
      ::close(fd_);
    }
  }
  BlackHole(const BlackHole&) = delete;
  BlackHole& operator=(const BlackHole&) = delete;
  uint16_t port() const { return port_; }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
};

// One request to [::1]:port on a fresh connection (the harness connects over IPv4 only).
std::optional<Response> fetch_ipv6(uint16_t port, const std::string& raw) {
  Conn c(socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  a.sin6_addr = in6addr_loopback;
  a.sin6_port = htons(port);
  if (!c.valid() || connect(c.fd(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      !send_all(c, raw)) {
    return std::nullopt;
  }
  return read_response(c);
}

// ---------------------------------------------------------------------------------------------
// 1. Balancing

TEST_F(ProxyResilienceTest, RoundRobinSpreadsEvenlyOverThreeEndpoints) {
  Upstream a({"--name", "a"});
  Upstream b({"--name", "b"});
  Upstream c({"--name", "c"});
  auto& gw = start_proxy(endpoint(a.port()) + ", " + endpoint(b.port()) + ", " + endpoint(c.port()),
                         "    balance: round_robin\n");
  ASSERT_TRUE(gw.ok()) << gw.error();
  std::map<std::string, int> counts;
  std::vector<std::string> order;
  for (int i = 0; i < 30; ++i) {
    order.push_back(get_name(gw.port(), "/api/rr"));
    ++counts[order.back()];
  }
  EXPECT_EQ(counts, (std::map<std::string, int>{{"a", 10}, {"b", 10}, {"c", 10}}));
  // Round robin, not blocks: no endpoint twice in a row.
  for (size_t i = 1; i < order.size(); ++i) {
    EXPECT_NE(order[i], order[i - 1]) << "at request " << i;
  }
}

TEST_F(ProxyResilienceTest, WeightsSplitTrafficInProportion) {
  Upstream light({"--name", "light"});
  Upstream heavy({"--name", "heavy"});
  auto& gw = start_proxy(weighted(light.port(), 1) + ", " + weighted(heavy.port(), 3));
  ASSERT_TRUE(gw.ok()) << gw.error();
  std::map<std::string, int> counts;
  for (int i = 0; i < 40; ++i) {
    ++counts[get_name(gw.port(), "/api/w")];
  }
  EXPECT_EQ(counts["light"] + counts["heavy"], 40) << "other answers: " << counts.size();
  // Smooth weighted round robin gives exactly 10:30; allow a little.
  EXPECT_GE(counts["light"], 8);
  EXPECT_LE(counts["light"], 12);
  EXPECT_GE(counts["heavy"], 28);
}

// One request hangs on one endpoint; with least_request (and p2c over two endpoints, which always
// compares both) every later request goes to the other one. Round robin would send half there.
void expect_avoids_busy_endpoint(GatewayProcess& gw, const std::string& rec_a,
                                 const std::string& rec_b) {
  Conn hung = connect_to(gw.port());
  ASSERT_TRUE(send_all(hung, request("GET", "/api/stuck?hang=1")));
  std::string busy;
  ASSERT_TRUE(eventually([&] {
    if (count_recorded(rec_a, "GET /api/stuck") > 0) {
      busy = "a";
    } else if (count_recorded(rec_b, "GET /api/stuck") > 0) {
      busy = "b";
    }
    return !busy.empty();
  })) << "the hanging request reached no upstream";
  const std::string idle = busy == "a" ? "b" : "a";
  std::map<std::string, int> counts;
  for (int i = 0; i < 20; ++i) {
    ++counts[get_name(gw.port(), "/api/quick")];
  }
  EXPECT_EQ(counts[idle], 20) << "busy endpoint " << busy << " got " << counts[busy];
  // The hung request is still in flight (nothing came back on its connection).
  EXPECT_FALSE(readable(hung, 0ms));
}

TEST_F(ProxyResilienceTest, LeastRequestAvoidsEndpointWithRequestInFlight) {
  const std::string rec_a = dir_.path() + "/a.txt";
  const std::string rec_b = dir_.path() + "/b.txt";
  Upstream a({"--name", "a", "--record", rec_a});
  Upstream b({"--name", "b", "--record", rec_b});
  auto& gw =
      start_proxy(endpoint(a.port()) + ", " + endpoint(b.port()), "    balance: least_request\n");
  ASSERT_TRUE(gw.ok()) << gw.error();
  expect_avoids_busy_endpoint(gw, rec_a, rec_b);
}

TEST_F(ProxyResilienceTest, PowerOfTwoChoicesAvoidsBusyEndpointAndSpreads) {
  const std::string rec_a = dir_.path() + "/a.txt";
  const std::string rec_b = dir_.path() + "/b.txt";
  Upstream a({"--name", "a", "--record", rec_a});
  Upstream b({"--name", "b", "--record", rec_b});
  auto& gw = start_proxy(endpoint(a.port()) + ", " + endpoint(b.port()), "    balance: p2c\n");
  ASSERT_TRUE(gw.ok()) << gw.error();
  expect_avoids_busy_endpoint(gw, rec_a, rec_b);

  // Three idle endpoints: random pairs spread the load (expected 20 each of 60; fewer than 5 on
  // one has a probability far below 1e-4).
  Upstream x({"--name", "x"});
  Upstream y({"--name", "y"});
  Upstream z({"--name", "z"});
  ProxyTest::gateways_.clear();
  auto& gw3 =
      start_proxy(endpoint(x.port()) + ", " + endpoint(y.port()) + ", " + endpoint(z.port()),
                  "    balance: p2c\n");
  ASSERT_TRUE(gw3.ok()) << gw3.error();
  std::map<std::string, int> counts;
  for (int i = 0; i < 60; ++i) {
    ++counts[get_name(gw3.port(), "/api/p2c")];
  }
  EXPECT_EQ(counts["x"] + counts["y"] + counts["z"], 60);
  for (const char* name : {"x", "y", "z"}) {
    EXPECT_GE(counts[name], 5) << name;
  }
}

// Same key → same endpoint every time; 20 keys → more than one endpoint.
void expect_consistent_hashing(uint16_t port, const std::function<std::string(int, int)>& extra) {
  std::set<std::string> used;
  for (int key = 0; key < 20; ++key) {
    const std::string first = get_name(port, "/api/h", extra(key, 0));
    ASSERT_EQ(first.size(), 1u) << "key " << key << ": " << first;
    used.insert(first);
    for (int rep = 1; rep < 4; ++rep) {
      EXPECT_EQ(get_name(port, "/api/h", extra(key, rep)), first) << "key " << key;
    }
  }
  EXPECT_GE(used.size(), 2u) << "20 keys all on one endpoint";
}

class HashPolicy : public ProxyResilienceTest, public ::testing::WithParamInterface<const char*> {};

TEST_P(HashPolicy, HeaderKeyPinsEachKeyToOneEndpoint) {
  Upstream a({"--name", "a"});
  Upstream b({"--name", "b"});
  Upstream c({"--name", "c"});
  auto& gw = start_proxy(
      endpoint(a.port()) + ", " + endpoint(b.port()) + ", " + endpoint(c.port()),
      std::string("    balance: ") + GetParam() + "\n" + "    hash_key: \"header:X-User\"\n");
  ASSERT_TRUE(gw.ok()) << gw.error();
  // The header name matches case-insensitively.
  expect_consistent_hashing(gw.port(), [](int key, int rep) {
    return std::string(rep % 2 ? "x-user: " : "X-User: ") + "user-" + std::to_string(key) + "\r\n";
  });
}

TEST_P(HashPolicy, CookieKeyIgnoresOtherCookies) {
  Upstream a({"--name", "a"});
  Upstream b({"--name", "b"});
  Upstream c({"--name", "c"});
  auto& gw = start_proxy(
      endpoint(a.port()) + ", " + endpoint(b.port()) + ", " + endpoint(c.port()),
      std::string("    balance: ") + GetParam() + "\n" + "    hash_key: \"cookie:sid\"\n");
  ASSERT_TRUE(gw.ok()) << gw.error();
  expect_consistent_hashing(gw.port(), [](int key, int rep) {
    // "sidx" and "xsid" vary with every request: only the cookie named exactly "sid" counts.
    return "Cookie: theme=t" + std::to_string(rep) + "; sidx=" + std::to_string(rep) + "; sid=s" +
           std::to_string(key) + "; xsid=" + std::to_string(rep * 7) + "\r\n";
  });
}

TEST_P(HashPolicy, ClientIpKeyUsesPeerUnlessHopsAreTrusted) {
  Upstream a({"--name", "a"});
  Upstream b({"--name", "b"});
  Upstream c({"--name", "c"});
  const std::string endpoints =
      endpoint(a.port()) + ", " + endpoint(b.port()) + ", " + endpoint(c.port());
  const std::string cluster =
      std::string("    balance: ") + GetParam() + "\n" + "    hash_key: client_ip\n";
  auto xff = [](int key, int) { return "X-Forwarded-For: 10.0.0." + std::to_string(key) + "\r\n"; };
  {
    // At the edge the client's X-Forwarded-For is not believed: every request comes from
    // 127.0.0.1, so one endpoint takes them all.
    auto& gw = start_proxy(endpoints, cluster);
    ASSERT_TRUE(gw.ok()) << gw.error();
    std::set<std::string> used;
    for (int key = 0; key < 20; ++key) {
      used.insert(get_name(gw.port(), "/api/ip", xff(key, 0)));
    }
    EXPECT_EQ(used.size(), 1u) << *used.begin() << " ... " << *used.rbegin();
  }
  // Behind one trusted proxy the client is the last X-Forwarded-For entry.
  ConfigSpec spec;
  spec.server_extra = "  trusted_hops: 1\n";
  auto& gw = start_proxy(endpoints, cluster, "", spec);
  ASSERT_TRUE(gw.ok()) << gw.error();
  expect_consistent_hashing(gw.port(), xff);
}

// Consistent hashing: when one endpoint fails its health checks only its own keys move, and
// they move back when it returns.
TEST_P(HashPolicy, OnlyTheUnavailableEndpointsKeysMove) {
  Upstream a({"--name", "a"});
  Upstream b({"--name", "b"});
  Upstream c({"--name", "c"});
  auto& gw = start_proxy(endpoint(a.port()) + ", " + endpoint(b.port()) + ", " + endpoint(c.port()),
                         std::string("    balance: ") + GetParam() + "\n" +
                             "    hash_key: \"header:X-User\"\n"
                             "    health: {interval: 100ms, timeout: 50ms, healthy_threshold: 1, "
                             "unhealthy_threshold: 1}\n");
  ASSERT_TRUE(gw.ok()) << gw.error();
  constexpr int kKeys = 30;
  auto key_header = [](int key) { return "X-User: user-" + std::to_string(key) + "\r\n"; };
  auto mapping = [&] {
    std::vector<std::string> m;
    for (int key = 0; key < kKeys; ++key) {
      m.push_back(get_name(gw.port(), "/api/k", key_header(key)));
    }
    return m;
  };
  const std::vector<std::string> before = mapping();
  const auto owned_by_c = std::count(before.begin(), before.end(), "c");
  ASSERT_GT(owned_by_c, 0) << "no key of 30 on c";
  ASSERT_LT(owned_by_c, kKeys);
  ASSERT_TRUE(control(c.port(), "unhealthy"));
  std::vector<std::string> during;
  ASSERT_TRUE(eventually([&] {
    during = mapping();
    return std::find(during.begin(), during.end(), "c") == during.end();
  })) << "c kept its keys after failing its health checks";
  for (int key = 0; key < kKeys; ++key) {
    if (before[key] != "c") {
      EXPECT_EQ(during[key], before[key]) << "key " << key << " moved off a healthy endpoint";
    } else {
      EXPECT_TRUE(during[key] == "a" || during[key] == "b") << during[key];
    }
  }
  ASSERT_TRUE(control(c.port(), "healthy"));
  EXPECT_TRUE(eventually([&] { return mapping() == before; }))
      << "keys did not return to c after it became healthy";
}

INSTANTIATE_TEST_SUITE_P(ProxyResilience, HashPolicy, ::testing::Values("ring_hash", "maglev"));

// ---------------------------------------------------------------------------------------------
// 2. Retries skip endpoints already tried

// The two dead endpoints weigh 10 each, the live one 1: without skipping tried endpoints a
// weighted round robin would retry mostly on the other dead one (or the same), and a hash policy
// would retry the key's owner again.
void expect_retries_reach_the_live_endpoint(GatewayProcess& gw, const std::string& record,
                                            const std::string& path, bool hashed) {
  constexpr int kRequests = 30;
  for (int i = 0; i < kRequests; ++i) {
    const std::string extra = hashed ? "X-User: u" + std::to_string(i) + "\r\n" : "";
    EXPECT_EQ(get_name(gw.port(), path, extra), "live") << "request " << i;
  }
  // Each request reached the live endpoint exactly once.
  EXPECT_EQ(count_recorded(record, "GET " + path + " "), static_cast<size_t>(kRequests));
  const double retries = metric(gw.admin_port(), upstream_metric("retries_total"));
  const double failures = metric(gw.admin_port(), upstream_metric("connect_failures_total"));
  // Every connect failure was followed by a retry, and most first picks were dead.
  EXPECT_EQ(retries, failures);
  EXPECT_GE(retries, hashed ? kRequests / 3 : kRequests);
}

TEST_F(ProxyResilienceTest, RetryNeverRepeatsATriedEndpointRoundRobin) {
  const std::string rec = record_file();
  Upstream live({"--name", "live", "--record", rec});
  auto& gw =
      start_proxy(weighted(dead_port(), 10) + ", " + weighted(dead_port(), 10) + ", " +
                      weighted(live.port(), 1),
                  "    outlier: {consecutive_connect_failures: 0}\n", api_route("retries: 2"));
  ASSERT_TRUE(gw.ok()) << gw.error();
  expect_retries_reach_the_live_endpoint(gw, rec, "/api/retry", false);
}

// An upstream's 503 is retried elsewhere for a GET; the retry skips endpoints that already
// answered 503.
TEST_F(ProxyResilienceTest, RetryAfter503NeverRepeatsATriedEndpoint) {
  const std::string rec = record_file();
  const std::string rec_x = dir_.path() + "/x.txt";
  const std::string rec_y = dir_.path() + "/y.txt";
  Upstream x({"--name", "x", "--status", "503", "--record", rec_x});
  Upstream y({"--name", "y", "--status", "503", "--record", rec_y});
  Upstream live({"--name", "live", "--record", rec});
  auto& gw = start_proxy(
      weighted(x.port(), 10) + ", " + weighted(y.port(), 10) + ", " + weighted(live.port(), 1),
      "    outlier: {consecutive_5xx: 0}\n", api_route("retries: 2"));
  ASSERT_TRUE(gw.ok()) << gw.error();
  constexpr int kRequests = 20;
  for (int i = 0; i < kRequests; ++i) {
    EXPECT_EQ(get_name(gw.port(), "/api/r5"), "live") << "request " << i;
  }
  EXPECT_EQ(count_recorded(rec, "GET /api/r5"), static_cast<size_t>(kRequests));
  // Every 503 was retried once, and (above) three tries always sufficed.
  const double retries = metric(gw.admin_port(), upstream_metric("retries_total"));
  EXPECT_EQ(retries, static_cast<double>(count_recorded(rec_x, "GET /api/r5") +
                                         count_recorded(rec_y, "GET /api/r5")));
  EXPECT_GE(retries, kRequests);
}

TEST_F(ProxyResilienceTest, RetryNeverRepeatsATriedEndpointHashed) {
  const std::string rec = record_file();
  Upstream live({"--name", "live", "--record", rec});
  for (const char* policy : {"ring_hash", "maglev"}) {
    SCOPED_TRACE(policy);
    ProxyTest::gateways_.clear();
    auto& gw = start_proxy(
        endpoint(dead_port()) + ", " + endpoint(dead_port()) + ", " + endpoint(live.port()),
        std::string("    balance: ") + policy +
            "\n    hash_key: \"header:X-User\"\n"
            "    outlier: {consecutive_connect_failures: 0}\n",
        api_route("retries: 2"));
    ASSERT_TRUE(gw.ok()) << gw.error();
    expect_retries_reach_the_live_endpoint(gw, rec, std::string("/api/retry-") + policy, true);
  }
}

// With `host: endpoint` the Host header names the endpoint the request is sent to, retries
// included.
// `host: endpoint`: the buffered request is rewritten for each try's endpoint.
TEST_F(ProxyResilienceTest, RetryCarriesTheHostOfTheEndpointItGoesTo) {
  Upstream live({"--name", "live"});
  const uint16_t down = dead_port();
  auto& gw = start_proxy(endpoint(down) + ", " + endpoint(live.port()),
                         "    outlier: {consecutive_connect_failures: 0}\n",
                         api_route("host: endpoint, retries: 1"));
  ASSERT_TRUE(gw.ok()) << gw.error();
  for (int i = 0; i < 4; ++i) {
    auto r = fetch(gw.port(), request("GET", "/api/host?echo=1"));
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->raw;
    EXPECT_NE(r->body.find("\r\nHost: 127.0.0.1:" + std::to_string(live.port()) + "\r\n"),
              std::string::npos)
        << "request " << i << ":\n"
        << visible(r->body);
  }
  // Some of them were retries after trying the dead endpoint first.
  EXPECT_GE(metric(gw.admin_port(), upstream_metric("retries_total")), 1);
}

// ---------------------------------------------------------------------------------------------
// 3. Active health checks

TEST_F(ProxyResilienceTest, UnhealthyEndpointLosesTrafficAndComesBack) {
  Upstream a({"--name", "a"});
  Upstream b({"--name", "b"});
  ConfigSpec spec;
  spec.workers = 2;
  auto& gw = start_proxy(endpoint(a.port()) + ", " + endpoint(b.port()),
                         "    health: {path: /healthz, interval: 100ms, timeout: 50ms, "
                         "healthy_threshold: 1, unhealthy_threshold: 1}\n",
                         "", spec);
  ASSERT_TRUE(gw.ok()) << gw.error();
  auto names_of_next = [&](int n) {
    std::set<std::string> s;
    for (int i = 0; i < n; ++i) {
      s.insert(get_name(gw.port(), "/api/h"));
    }
    return s;
  };
  const std::set<std::string> both = {"a", "b"};
  // Both take traffic at first (fresh connections land on either shard; each shard alternates).
  ASSERT_TRUE(eventually([&] { return names_of_next(8) == both; }));

  ASSERT_TRUE(control(a.port(), "unhealthy"));
  EXPECT_TRUE(eventually([&] { return names_of_next(10) == std::set<std::string>{"b"}; }))
      << "a still gets traffic after failing its health checks";
  // And it stays out while it keeps failing.
  EXPECT_EQ(names_of_next(10), std::set<std::string>{"b"});

  ASSERT_TRUE(control(a.port(), "healthy"));
  EXPECT_TRUE(eventually([&] { return names_of_next(8) == both; }))
      << "a did not come back after passing its health check";
}

TEST_F(ProxyResilienceTest, HealthChecksAskForTheClustersFixedHost) {
  // A virtual-hosted cluster (`host:` fixed) is checked under that host, like its traffic; a
  // cluster without one under the endpoint's name and port.
  const std::string fixed_record = record_file();
  const std::string plain_record = dir_.path() + "/plain.txt";
  Upstream fixed({"--name", "fixed", "--record", fixed_record});
  Upstream plain({"--name", "plain", "--record", plain_record});
  ConfigSpec spec;
  spec.upstreams = "  api:\n    endpoints: [" + endpoint(fixed.port()) +
                   "]\n    host: api.internal\n"
                   "    health: {path: /healthz, interval: 100ms, timeout: 50ms}\n"
                   "  other:\n    endpoints: [" +
                   endpoint(plain.port()) +
                   "]\n    health: {path: /healthz, interval: 100ms, timeout: 50ms}\n";
  spec.routes =
      "  - match: {prefix: /api}\n    upstream: api\n"
      "  - match: {prefix: /other}\n    upstream: other\n" +
      default_routes();
  auto& gw = start(spec);
  ASSERT_TRUE(gw.ok()) << gw.error();
  ASSERT_TRUE(eventually([&] {
    return !read_record(fixed_record).requests.empty() &&
           !read_record(plain_record).requests.empty();
  })) << "no health check arrived";
  const std::string check = read_record(fixed_record).requests.front();
  EXPECT_TRUE(check.starts_with("GET /healthz ")) << check;
  EXPECT_EQ(values(check, "host"), std::vector<std::string>{"api.internal"}) << check;
  const std::string plain_check = read_record(plain_record).requests.front();
  EXPECT_EQ(values(plain_check, "host"),
            std::vector<std::string>{"127.0.0.1:" + std::to_string(plain.port())})
      << plain_check;
}

TEST_F(ProxyResilienceTest, AllEndpointsUnhealthyIs503NamingTheCluster) {
  Upstream a({"--name", "a", "--unhealthy"});
  auto& gw = start_proxy(endpoint(a.port()),
                         "    health: {interval: 100ms, timeout: 50ms, healthy_threshold: 1, "
                         "unhealthy_threshold: 1}\n");
  ASSERT_TRUE(gw.ok()) << gw.error();
  std::optional<Response> r;
  EXPECT_TRUE(eventually([&] {
    r = fetch(gw.port(), request("GET", "/api/x"));
    return r && r->status == 503;
  })) << (r ? r->raw : "no response");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->header("content-type").value_or(""), "application/problem+json");
  EXPECT_NE(r->body.find("upstream \\\"api\\\" has no available endpoint"), std::string::npos)
      << r->body;
  ASSERT_TRUE(control(a.port(), "healthy"));
  EXPECT_TRUE(eventually([&] { return get_name(gw.port(), "/api/x") == "a"; }));
}

TEST_F(ProxyResilienceTest, HealthCheckTimeoutCountsAsFailure) {
  // Every check's answer is 400 ms late, past the 50 ms timeout; requests are answered at once.
  Upstream a({"--name", "a"});
  auto& gw = start_proxy(endpoint(a.port()),
                         "    health: {path: \"/healthz?delay=400ms\", interval: 100ms, "
                         "timeout: 50ms, healthy_threshold: 1, unhealthy_threshold: 2}\n");
  ASSERT_TRUE(gw.ok()) << gw.error();
  std::optional<Response> r;
  EXPECT_TRUE(eventually([&] {
    r = fetch(gw.port(), request("GET", "/api/x"));
    return r && r->status == 503;
  })) << (r ? r->raw : "no response");
  ASSERT_TRUE(r);
  EXPECT_NE(r->body.find("has no available endpoint"), std::string::npos) << r->body;
  // The endpoint itself answers requests at once: only the checks timed out.
  auto direct = fetch(a.port(), request("GET", "/x"));
  ASSERT_TRUE(direct);
  EXPECT_EQ(direct->status, 200);
}

TEST_F(ProxyResilienceTest, HealthChecksRunOncePerEndpointNotPerShard) {
  const std::string rec = record_file();
  Upstream a({"--name", "a", "--record", rec});
  ConfigSpec spec;
  spec.workers = 2;
  auto& gw =
      start_proxy(endpoint(a.port()),
                  "    health: {path: /healthz, interval: 100ms, timeout: 50ms}\n", "", spec);
  ASSERT_TRUE(gw.ok()) << gw.error();
  ASSERT_EQ(gw.workers(), 2u);
  // Checks are under way.
  ASSERT_TRUE(eventually([&] { return count_recorded(rec, "GET /healthz ") >= 2; }))
      << "no health checks reached the upstream";
  const size_t before = count_recorded(rec, "GET /healthz ");
  const auto t0 = Clock::now();
  std::this_thread::sleep_for(1500ms);
  const size_t after = count_recorded(rec, "GET /healthz ");
  const double elapsed_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  const double one_prober = elapsed_ms / 100.0;  // at most one check per interval
  const size_t checks = after - before;
  // One prober for the process makes at most ~15 checks in 1.5 s; one per shard would make ~30.
  EXPECT_LE(static_cast<double>(checks), one_prober * 1.25 + 2)
      << checks << " checks in " << elapsed_ms << " ms";
  // ... and it keeps checking (a generous floor for a loaded machine).
  EXPECT_GE(checks, 3u);
  // Each check is a GET of the configured path on its own connection.
  Recorded all = read_record(rec);
  ASSERT_FALSE(all.requests.empty());
  const std::string& one = all.requests.back();
  EXPECT_EQ(values(one, "connection"), std::vector<std::string>{"close"}) << visible(one);
  EXPECT_EQ(values(one, "host"), std::vector<std::string>{"127.0.0.1:" + std::to_string(a.port())})
      << visible(one);
}

// ---------------------------------------------------------------------------------------------
// 4. Outlier ejection

TEST_F(ProxyResilienceTest, ConnectFailuresEjectEndpointUntilEjectionEnds) {
  const uint16_t down = dead_port();
  Upstream live({"--name", "live"});
  auto& gw = start_proxy(endpoint(down) + ", " + endpoint(live.port()),
                         "    outlier: {consecutive_connect_failures: 2, base_ejection: 1500ms}\n",
                         api_route("retries: 1"));
  ASSERT_TRUE(gw.ok()) << gw.error();
  const std::string ejections = upstream_metric("ejections_total");
  // Every request succeeds through a retry while the dead endpoint collects failures.
  Clock::time_point ejected_after;
  for (int i = 0; i < 8 && metric(gw.admin_port(), ejections) < 1; ++i) {
    ejected_after = Clock::now();
    ASSERT_EQ(get_name(gw.port(), "/api/e"), "live") << i;
  }
  ASSERT_EQ(metric(gw.admin_port(), ejections), 1);
  const double failures = metric(gw.admin_port(), upstream_metric("connect_failures_total"));
  EXPECT_EQ(failures, 2);

  // The endpoint comes back to life at once, but stays ejected for base_ejection.
  free_dead_port(down);
  Upstream revived({"--name", "revived"}, "127.0.0.1:" + std::to_string(down));
  ASSERT_EQ(revived.port(), down) << "could not listen on the dead endpoint's port again";
  int during = 0;
  while (Clock::now() < ejected_after + 1200ms && during < 10) {
    const std::string name = get_name(gw.port(), "/api/e");
    if (Clock::now() < ejected_after + 1400ms) {
      EXPECT_EQ(name, "live") << "an ejected endpoint got traffic";
      ++during;
    }
  }
  EXPECT_GE(during, 1);
  // Once the ejection ends it takes traffic again.
  EXPECT_TRUE(eventually([&] { return get_name(gw.port(), "/api/e") == "revived"; }, 4s));
  EXPECT_EQ(metric(gw.admin_port(), ejections), 1);
  EXPECT_EQ(metric(gw.admin_port(), upstream_metric("connect_failures_total")), failures);
}

TEST_F(ProxyResilienceTest, PassingHealthCheckReturnsAnEjectedEndpointAtOnce) {
  // Ejected by outlier detection for 30 s, restarted at once: its first passing active check
  // brings it back, not the end of the ejection.
  const uint16_t down = dead_port();
  Upstream live({"--name", "live"});
  auto& gw = start_proxy(endpoint(down) + ", " + endpoint(live.port()),
                         // Checks need 100 failures to mark it unhealthy: traffic, not the
                         // checker, finds it dead first, whatever the timing.
                         "    outlier: {consecutive_connect_failures: 1, base_ejection: 30s}\n"
                         "    health: {path: /healthz, interval: 100ms, timeout: 50ms, "
                         "healthy_threshold: 1, unhealthy_threshold: 100}\n",
                         api_route("retries: 1"));
  ASSERT_TRUE(gw.ok()) << gw.error();
  const std::string ejections = upstream_metric("ejections_total");
  ASSERT_TRUE(eventually([&] {
    get_name(gw.port(), "/api/e");
    return metric(gw.admin_port(), ejections) >= 1;
  })) << "the dead endpoint was never ejected";
  free_dead_port(down);
  Upstream revived({"--name", "revived"}, "127.0.0.1:" + std::to_string(down));
  ASSERT_EQ(revived.port(), down) << "could not listen on the dead endpoint's port again";
  const auto t0 = Clock::now();
  EXPECT_TRUE(eventually([&] { return get_name(gw.port(), "/api/e") == "revived"; }, 3s))
      << "a healthy endpoint stayed ejected";
  EXPECT_LT(Clock::now() - t0, 3s);
}

TEST_F(ProxyResilienceTest, Consecutive5xxEjectAFailingEndpointUntilEjectionEnds) {
  const std::string rec_bad = dir_.path() + "/bad.txt";
  Upstream bad({"--name", "bad", "--status", "500", "--record", rec_bad});
  Upstream good({"--name", "good"});
  auto& gw = start_proxy(endpoint(bad.port()) + ", " + endpoint(good.port()),
                         "    outlier: {consecutive_5xx: 3, base_ejection: 1500ms}\n",
                         api_route("retries: 0"));
  ASSERT_TRUE(gw.ok()) << gw.error();
  const std::string ejections = upstream_metric("ejections_total");
  // Round robin: every other request meets the failing endpoint's 500 (passed on: retries 0).
  Clock::time_point ejected_after;
  int fives = 0;
  for (int i = 0; i < 10 && metric(gw.admin_port(), ejections) < 1; ++i) {
    ejected_after = Clock::now();
    auto r = fetch(gw.port(), request("GET", "/api/e"));
    ASSERT_TRUE(r);
    if (r->status == 500) {
      EXPECT_EQ(served_by(*r), "bad");
      ++fives;
    }
  }
  ASSERT_EQ(metric(gw.admin_port(), ejections), 1);
  EXPECT_EQ(fives, 3);
  const std::string bad_label =
      "{upstream=\"api\",endpoint=\"127.0.0.1:" + std::to_string(bad.port()) + "\"}";
  EXPECT_EQ(metric(gw.admin_port(), "ringgate_upstream_endpoint_ejected" + bad_label), 1);
  // It recovers at once, but stays out until the ejection ends.
  ASSERT_TRUE(control(bad.port(), "status/0"));
  const size_t seen_by_bad = count_recorded(rec_bad, "GET /api/");
  while (Clock::now() < ejected_after + 1000ms) {
    const std::string name = get_name(gw.port(), "/api/ok");
    if (Clock::now() < ejected_after + 1400ms) {
      EXPECT_EQ(name, "good") << "the ejected endpoint got traffic";
    }
  }
  EXPECT_EQ(count_recorded(rec_bad, "GET /api/"), seen_by_bad);
  EXPECT_TRUE(eventually([&] { return get_name(gw.port(), "/api/ok") == "bad"; }, 4s))
      << "never came back after the ejection";
  EXPECT_EQ(metric(gw.admin_port(), "ringgate_upstream_endpoint_ejected" + bad_label), 0);
}

TEST_F(ProxyResilienceTest, EjectionNeverTakesOutMoreThanMaxEjectionPercent) {
  Upstream a({"--name", "a"});
  Upstream b({"--name", "b"});
  auto& gw = start_proxy(endpoint(a.port()) + ", " + endpoint(b.port()),
                         "    outlier: {consecutive_5xx: 3, base_ejection: 1500ms, "
                         "max_ejection_percent: 50}\n",
                         api_route("retries: 0"));
  ASSERT_TRUE(gw.ok()) << gw.error();
  const std::string ejections = upstream_metric("ejections_total");
  // Both answer 500; round robin alternates, so one of them reaches three in a row first.
  std::map<std::string, int> fives;
  std::string ejected;
  Clock::time_point ejected_after;
  for (int i = 0; i < 10 && ejected.empty(); ++i) {
    ejected_after = Clock::now();
    auto r = fetch(gw.port(), request("GET", "/api/e?status=500"));
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 500) << r->raw;  // passed on: retries 0
    if (++fives[served_by(*r)] == 3) {
      ejected = served_by(*r);
    }
  }
  ASSERT_FALSE(ejected.empty());
  EXPECT_EQ(metric(gw.admin_port(), ejections), 1);
  const std::string survivor = ejected == "a" ? "b" : "a";
  // The survivor answers 500 three more times: it would be ejected too, but max_ejection_percent
  // 50 keeps one of two endpoints in.
  for (int i = 0; i < 3; ++i) {
    auto r = fetch(gw.port(), request("GET", "/api/e?status=500"));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 500);
    EXPECT_EQ(served_by(*r), survivor);
  }
  EXPECT_EQ(metric(gw.admin_port(), ejections), 1);
  while (Clock::now() < ejected_after + 1000ms) {
    const std::string name = get_name(gw.port(), "/api/ok");
    if (Clock::now() < ejected_after + 1400ms) {
      EXPECT_EQ(name, survivor) << "the ejected endpoint got traffic";
    }
  }
  EXPECT_TRUE(eventually([&] { return get_name(gw.port(), "/api/ok") == ejected; }, 4s))
      << ejected << " never came back";
}

// ---------------------------------------------------------------------------------------------
// 5. Circuit breaker and limits

TEST_F(ProxyResilienceTest, CircuitOpensProbesAndCloses) {
  const std::string rec = record_file();
  Upstream up({"--name", "up", "--record", rec});
  auto& gw = start_proxy(endpoint(up.port()),
                         "    circuit: {consecutive_failures: 3, open_for: 800ms}\n"
                         "    outlier: {consecutive_5xx: 0}\n",
                         api_route("retries: 0"));
  ASSERT_TRUE(gw.ok()) << gw.error();
  auto fail_three = [&] {
    for (int i = 0; i < 3; ++i) {
      auto r = fetch(gw.port(), request("GET", "/api/fail?status=503"));
      ASSERT_TRUE(r);
      ASSERT_EQ(r->status, 503);
      ASSERT_EQ(served_by(*r), "up") << "refused too early: " << r->body;
    }
  };
  auto expect_circuit_refusal = [&](const std::string& target) {
    auto r = fetch(gw.port(), request("GET", target));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 503);
    EXPECT_FALSE(r->has("x-upstream")) << "reached the upstream: " << r->raw;
    EXPECT_EQ(r->header("content-type").value_or(""), "application/problem+json");
    EXPECT_NE(r->body.find("upstream \\\"api\\\" is failing; its circuit breaker is open"),
              std::string::npos)
        << r->body;
  };

  ASSERT_NO_FATAL_FAILURE(fail_three());
  const auto opened = Clock::now();
  expect_circuit_refusal("/api/refused");
  expect_circuit_refusal("/api/refused");
  EXPECT_EQ(count_recorded(rec), 3u) << "a refused request reached the upstream";
  EXPECT_EQ(metric(gw.admin_port(), upstream_metric("circuit_rejections_total")), 2);

  // After open_for one request probes; while it is in flight the others are still refused.
  Conn probe;
  ASSERT_TRUE(eventually(
      [&] {
        probe = connect_to(gw.port());
        send_all(probe, request("GET", "/api/probe?delay=1500ms"));
        return !readable(probe, 200ms);  // refusals come back at once; the probe waits 1.5 s
      },
      4s));
  EXPECT_GE(Clock::now() - opened, 700ms) << "probed before open_for had passed";
  ASSERT_TRUE(eventually([&] { return count_recorded(rec, "GET /api/probe") == 1; }));
  expect_circuit_refusal("/api/during-probe");
  auto pr = read_response(probe);
  ASSERT_TRUE(pr);
  EXPECT_EQ(pr->status, 200);
  EXPECT_EQ(served_by(*pr), "up");
  // The probe succeeded: closed again.
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(get_name(gw.port(), "/api/closed"), "up");
  }

  // Open it again; this time the probe fails and the circuit reopens at once.
  ASSERT_NO_FATAL_FAILURE(fail_three());
  expect_circuit_refusal("/api/refused");
  ASSERT_TRUE(eventually(
      [&] {
        auto r = fetch(gw.port(), request("GET", "/api/bad-probe?status=503"));
        return r && r->status == 503 && served_by(*r) == "up";
      },
      4s));
  expect_circuit_refusal("/api/after-bad-probe");
  EXPECT_EQ(count_recorded(rec, "GET /api/after-bad-probe"), 0u);
  EXPECT_EQ(count_recorded(rec, "GET /api/refused"), 0u);
  EXPECT_EQ(count_recorded(rec, "GET /api/during-probe"), 0u);
}

TEST_F(ProxyResilienceTest, MaxRequestsRefusesTheSecondConcurrentRequest) {
  const std::string rec = record_file();
  Upstream up({"--name", "up", "--record", rec});
  auto& gw = start_proxy(endpoint(up.port()), "    circuit: {max_requests: 1}\n");
  ASSERT_TRUE(gw.ok()) << gw.error();
  Conn slow = connect_to(gw.port());
  ASSERT_TRUE(send_all(slow, request("GET", "/api/slow?delay=2s")));
  ASSERT_TRUE(eventually([&] { return count_recorded(rec, "GET /api/slow") == 1; }));
  auto r = fetch(gw.port(), request("GET", "/api/second"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503) << r->raw;
  EXPECT_FALSE(r->has("x-upstream"));
  EXPECT_NE(r->body.find("upstream \\\"api\\\" is at its connection or request limit"),
            std::string::npos)
      << r->body;
  // Refused while the first was still in flight.
  EXPECT_FALSE(readable(slow, 0ms));
  auto first = read_response(slow);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->status, 200);
  // The slot is free again.
  EXPECT_EQ(get_name(gw.port(), "/api/third"), "up");
  EXPECT_EQ(count_recorded(rec, "GET /api/second"), 0u);
  EXPECT_EQ(metric(gw.admin_port(), upstream_metric("circuit_rejections_total")), 1);
}

TEST_F(ProxyResilienceTest, MaxConnectionsRefusesANewConnectionWhileTheOnlyOneIsBusy) {
  const std::string rec = record_file();
  Upstream up({"--name", "up", "--record", rec});
  auto& gw = start_proxy(endpoint(up.port()), "    circuit: {max_connections: 1}\n");
  ASSERT_TRUE(gw.ok()) << gw.error();
  Conn slow = connect_to(gw.port());
  ASSERT_TRUE(send_all(slow, request("GET", "/api/slow?delay=2s")));
  ASSERT_TRUE(eventually([&] { return count_recorded(rec, "GET /api/slow") == 1; }));
  auto r = fetch(gw.port(), request("GET", "/api/second"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503) << r->raw;
  EXPECT_NE(r->body.find("at its connection or request limit"), std::string::npos) << r->body;
  EXPECT_FALSE(readable(slow, 0ms));
  auto first = read_response(slow);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->status, 200);
  // The one connection is idle in the pool now and carries the next request.
  EXPECT_EQ(get_name(gw.port(), "/api/third"), "up");
  EXPECT_EQ(metric(gw.admin_port(), upstream_metric("pool_misses_total")), 1);
  EXPECT_EQ(count_recorded(rec, "GET /api/second"), 0u);
}

TEST_F(ProxyResilienceTest, MaxPendingRefusesWhileAConnectIsPending) {
  // backlog 0: the kernel queues one handshake; later SYNs go unanswered and connects hang.
  BlackHole hole(0);
  ASSERT_NE(hole.port(), 0);
  std::vector<Conn> fillers;
  for (int i = 0; i < 2; ++i) {
    fillers.push_back(connect_to(hole.port(), 300ms));
  }
  {
    Conn probe = connect_to(hole.port(), 300ms);
    if (probe.valid()) {
      GTEST_SKIP() << "this kernel completes handshakes beyond the listen backlog";
    }
  }
  auto& gw = start_proxy(endpoint(hole.port()),
                         "    connect_timeout: 1500ms\n    circuit: {max_pending: 1}\n",
                         api_route("retries: 0"));
  ASSERT_TRUE(gw.ok()) << gw.error();
  Conn first = connect_to(gw.port());
  ASSERT_TRUE(send_all(first, request("GET", "/api/first")));
  // The first request's connect has started.
  ASSERT_EQ(wait_metric(gw.admin_port(), upstream_metric("pool_misses_total"),
                        [](double v) { return v >= 1; }),
            1);
  auto r = fetch(gw.port(), request("GET", "/api/second"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503) << r->raw;
  EXPECT_NE(r->body.find("at its connection or request limit"), std::string::npos) << r->body;
  EXPECT_FALSE(readable(first, 0ms));
  // The first one's connect times out: 504.
  auto f = read_response(first);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->status, 504) << f->raw;
}

// ---------------------------------------------------------------------------------------------
// 6. An endpoint dies under load

// What clients saw while an endpoint was killed under their load.
struct KillRun {
  int total = 0;
  int at_kill = 0;
  std::vector<std::string> failures;  // not a 200: the target and what came back
  std::map<std::string, int> before;  // responses by endpoint name, before the kill
  std::map<std::string, int> after;   // ... and after it
};

// `clients` threads send GETs for /api/load/CLIENT/N`suffix` on keep-alive connections (a new
// one after a failure or a close); `victim` is killed after `before`, the load goes on `after`.
KillRun load_and_kill(uint16_t port, int clients, const std::string& suffix, Upstream& victim,
                      Millis before, Millis after) {
  KillRun run;
  std::atomic<bool> stop{false};
  std::atomic<bool> killed{false};
  std::atomic<int> total{0};
  std::mutex mutex;
  std::vector<std::thread> threads;
  for (int t = 0; t < clients; ++t) {
    threads.emplace_back([&, t] {
      Conn c = connect_to(port);
      for (int i = 0; !stop; ++i) {
        const std::string target =
            "/api/load/" + std::to_string(t) + "/" + std::to_string(i) + suffix;
        std::string why;
        std::optional<Response> r;
        if (c.valid() && send_all(c, request("GET", target))) {
          r = read_response(c, {}, &why);
        } else {
          why = "send failed";
        }
        ++total;
        std::lock_guard lock(mutex);
        if (!r || r->status != 200) {
          run.failures.push_back(target + ": " + (r ? r->raw.substr(0, 300) : why));
          c = connect_to(port);
          continue;
        }
        ++(killed ? run.after : run.before)[served_by(*r)];
        if (!r->connection_has("keep-alive") && r->connection_has("close")) {
          c = connect_to(port);
        }
      }
    });
  }
  std::this_thread::sleep_for(before);
  run.at_kill = total;
  victim.kill_now();
  killed = true;
  std::this_thread::sleep_for(after);
  stop = true;
  for (std::thread& t : threads) {
    t.join();
  }
  run.total = total;
  return run;
}

TEST_F(ProxyResilienceTest, KillingAnEndpointUnderLoadFailsNoIdempotentRequest) {
  Upstream a({"--name", "a"});
  Upstream b({"--name", "b"});
  ConfigSpec spec;
  spec.workers = 2;
  // A retry budget that four clients cannot exhaust: the point is the retry logic, not the
  // budget.
  auto& gw = start_proxy(endpoint(a.port()) + ", " + endpoint(b.port()),
                         "    outlier: {consecutive_connect_failures: 1, base_ejection: 30s}\n"
                         "    retry_budget: {percent: 100, min_concurrent: 16}\n",
                         api_route("retries: 2"), spec);
  ASSERT_TRUE(gw.ok()) << gw.error();
  // About a second of load on both endpoints, then a second with one of them dead.
  const KillRun run = load_and_kill(gw.port(), 4, "", a, 1s, 1s);
  EXPECT_TRUE(run.failures.empty())
      << run.failures.size() << " of " << run.total << " failed; first: " << run.failures.front();
  EXPECT_GE(run.before.count("a") ? run.before.at("a") : 0, 1) << "a never served before the kill";
  EXPECT_GE(run.after.count("b") ? run.after.at("b") : 0, 1);
  EXPECT_GE(run.at_kill, 20) << "too little load before the kill";
  EXPECT_GE(run.total - run.at_kill, 20) << "too little load after the kill";
}

TEST_F(ProxyResilienceTest, KillingAnEndpointUnderLoadWithTheDefaultsFailsNoIdempotentRequest) {
  // Default retry budget and outlier detection, 32 clients with requests that take 20 ms: when
  // one endpoint dies, about half the requests in flight fail at once. Each is a redispatch
  // (refused, reset or closed before an answer) and is retried on the other endpoint.
  Upstream a({"--name", "a"});
  Upstream b({"--name", "b"});
  auto& gw =
      start_proxy(endpoint(a.port()) + ", " + endpoint(b.port()), "", api_route("retries: 2"));
  ASSERT_TRUE(gw.ok()) << gw.error();
  const KillRun run = load_and_kill(gw.port(), 32, "?delay=20ms", a, 500ms, 700ms);
  EXPECT_TRUE(run.failures.empty())
      << run.failures.size() << " of " << run.total << " failed; first: " << run.failures.front();
  EXPECT_GE(run.at_kill, 100) << "too little load before the kill";
  EXPECT_GE(run.total - run.at_kill, 100) << "too little load after the kill";
}

// ---------------------------------------------------------------------------------------------
// 7. Endpoint addresses: DNS name and IPv6

// The resolver's first answer for `name`, when it is 127.0.0.1 (what test_upstream listens on).
bool resolves_to_ipv4_loopback(const std::string& name) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;  // as the gateway asks
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV | AI_ADDRCONFIG;
  addrinfo* res = nullptr;
  if (getaddrinfo(name.c_str(), "80", &hints, &res) != 0 || res == nullptr) {
    return false;
  }
  const bool loopback =
      res->ai_family == AF_INET &&
      reinterpret_cast<const sockaddr_in*>(res->ai_addr)->sin_addr.s_addr == htonl(INADDR_LOOPBACK);
  freeaddrinfo(res);
  return loopback;
}

TEST_F(ProxyResilienceTest, EndpointByDnsName) {
  // The gateway reads the literal "localhost" as 127.0.0.1 without asking the resolver, so use a
  // spelling that only the resolver knows: the host's own name, or "LocalHost" (/etc/hosts
  // matches names case-insensitively).
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  std::string name;
  for (const std::string& candidate : {std::string(host), std::string("LocalHost")}) {
    if (!candidate.empty() && candidate != "localhost" && resolves_to_ipv4_loopback(candidate)) {
      name = candidate;
      break;
    }
  }
  if (name.empty()) {
    GTEST_SKIP() << "no name here resolves to 127.0.0.1 first (test_upstream listens on "
                    "127.0.0.1 only)";
  }
  Upstream up({"--name", "named"});
  const std::string authority = name + ":" + std::to_string(up.port());
  auto& gw = start_proxy("\"" + authority + "\"", "", api_route("host: endpoint"));
  ASSERT_TRUE(gw.ok()) << gw.error();
  for (int i = 0; i < 3; ++i) {
    auto r = fetch(gw.port(), request("GET", "/api/dns?echo=1"));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << r->raw;
    EXPECT_EQ(served_by(*r), "named");
    // Host policy `endpoint` sends the name as configured.
    EXPECT_NE(r->body.find("\r\nHost: " + authority + "\r\n"), std::string::npos)
        << visible(r->body);
  }
}

// An endpoint whose name does not resolve is not picked; the others carry the traffic.
TEST_F(ProxyResilienceTest, UnresolvableEndpointIsSkipped) {
  Upstream live({"--name", "live"});
  // .invalid never resolves (RFC 6761 §6.4).
  auto& gw = start_proxy("\"unresolvable.invalid:" + std::to_string(live.port()) + "\", " +
                         endpoint(live.port()));
  ASSERT_TRUE(gw.ok()) << gw.error();
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(get_name(gw.port(), "/api/x"), "live") << "request " << i;
  }
  EXPECT_GE(metric(gw.admin_port(), "ringgate_upstream_dns_failures_total{upstream=\"api\"}"), 1);
  EXPECT_EQ(metric(gw.admin_port(), upstream_metric("errors_502_total")), 0);
}

// A name that resolves to an IPv6 address (here through server.hosts_file): requests, the Host
// it names, and the health checks all go over IPv6.
TEST_F(ProxyResilienceTest, NameResolvingToIpv6IsProxiedAndHealthChecked) {
  const std::string rec6 = dir_.path() + "/six.txt";
  Upstream six({"--name", "six", "--record", rec6}, "[::1]:0");
  if (six.port() == 0) {
    GTEST_SKIP() << "no IPv6 loopback ([::1]) on this machine";
  }
  Upstream four({"--name", "four"});
  const std::string hosts = dir_.path() + "/hosts";
  std::ofstream(hosts) << "# test\n::1 six.internal\n";
  ConfigSpec spec;
  spec.server_extra = "  hosts_file: " + hosts + "\n";
  const std::string authority = "six.internal:" + std::to_string(six.port());
  auto& gw = start_proxy("\"" + authority + "\", " + endpoint(four.port()),
                         "    health: {interval: 100ms, timeout: 50ms, healthy_threshold: 1, "
                         "unhealthy_threshold: 1}\n",
                         api_route("host: endpoint"), spec);
  ASSERT_TRUE(gw.ok()) << gw.error();
  std::map<std::string, int> counts;
  for (int i = 0; i < 6; ++i) {
    ++counts[get_name(gw.port(), "/api/six")];
  }
  EXPECT_EQ(counts, (std::map<std::string, int>{{"four", 3}, {"six", 3}}));
  ASSERT_TRUE(eventually([&] { return count_recorded(rec6, "GET /healthz ") >= 1; }));
  Recorded rec = read_record(rec6);
  for (const std::string& raw : rec.requests) {
    EXPECT_EQ(values(raw, "host"), std::vector<std::string>{authority}) << visible(raw);
  }
  // Failing health checks over IPv6 take it out.
  auto r = fetch_ipv6(six.port(), request("POST", "/control/unhealthy", "Content-Length: 0\r\n"));
  ASSERT_TRUE(r && r->status == 200);
  EXPECT_TRUE(eventually([&] {
    for (int i = 0; i < 6; ++i) {
      if (get_name(gw.port(), "/api/six") != "four") {
        return false;
      }
    }
    return true;
  }));
}

// ---------------------------------------------------------------------------------------------
// 8. Slow peers do not make the gateway buffer whole bodies

// A small receive ring (8 MiB) keeps the gateway's own working set far below the bodies moved.
ConfigSpec small_ring_spec() {
  ConfigSpec spec;
  spec.buffers = "{size: 16KiB, count: 512}";
  spec.limits = {{"request_timeout", "60s"}, {"body_bytes", "1GiB"}, {"idle_timeout", "60s"}};
  return spec;
}

constexpr long kMaxGrowthKib = 24 * 1024;

TEST_F(ProxyResilienceTest, SlowClientDoesNotMakeTheGatewayBufferTheResponse) {
  // test_upstream's body_size is capped at 64 MiB.
  constexpr size_t kBody = 64u * 1024 * 1024;
  Upstream up({"--name", "big"});
  auto& gw = start_proxy(endpoint(up.port()), "", "", small_ring_spec());
  ASSERT_TRUE(gw.ok()) << gw.error();
  // Warm up the pools with a body that moves through every stage.
  auto warm = fetch(gw.port(), request("GET", "/api/warm?body_size=2000000"));
  ASSERT_TRUE(warm);
  ASSERT_EQ(warm->body.size(), 2000000u);
  const long base = rss_kib(gw.pid());
  ASSERT_GT(base, 0);

  Conn c = connect_to(gw.port());
  ASSERT_TRUE(send_all(c, request("GET", "/api/big?body_size=" + std::to_string(kBody))));
  // Do not read for a while; the upstream has the whole body ready at once.
  long peak = base;
  const auto until = Clock::now() + 1500ms;
  while (Clock::now() < until) {
    peak = std::max(peak, rss_kib(gw.pid()));
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_LT(peak - base, kMaxGrowthKib) << "gateway RSS grew from " << base << " to " << peak
                                        << " KiB while the client was not reading";
  ReadOptions options;
  options.timeout = 30s;
  std::string why;
  auto r = read_response(c, options, &why);
  ASSERT_TRUE(r) << why;
  EXPECT_EQ(r->status, 200);
  ASSERT_EQ(r->body.size(), kBody);
  EXPECT_EQ(r->body.front(), '"');
  EXPECT_EQ(r->body.back(), '"');
  // The body is "abc...zabc...": check it arrived in order, without holes.
  bool in_order = true;
  for (size_t i = 1; i + 1 < kBody && in_order; i += 4099) {
    in_order = r->body[i] == static_cast<char>('a' + (i - 1) % 26);
  }
  EXPECT_TRUE(in_order);
  peak = std::max(peak, rss_kib(gw.pid()));
  EXPECT_LT(peak - base, kMaxGrowthKib) << "gateway RSS grew from " << base << " to " << peak;
}

TEST_F(ProxyResilienceTest, UpstreamNotReadingMakesTheClientsSendBlock) {
  // test_upstream always reads whole request bodies; a socket that is never accepted stands in
  // for an upstream that stops reading.
  BlackHole hole(16);
  ASSERT_NE(hole.port(), 0);
  auto& gw = start_proxy(endpoint(hole.port()), "", "", small_ring_spec());
  ASSERT_TRUE(gw.ok()) << gw.error();
  const long base = rss_kib(gw.pid());
  ASSERT_GT(base, 0);
  constexpr size_t kDeclared = 256u * 1024 * 1024;
  Conn c = connect_to(gw.port());
  ASSERT_TRUE(send_all(
      c, request("POST", "/api/upload", "Content-Length: " + std::to_string(kDeclared) + "\r\n")));
  fcntl(c.fd(), F_SETFL, fcntl(c.fd(), F_GETFL) | O_NONBLOCK);
  const std::string piece(64 * 1024, 'x');
  size_t sent = 0;
  long peak = base;
  const auto deadline = Clock::now() + 4s;
  // Send until the socket has not taken a byte for 1 s (or far too much was taken).
  while (sent < kDeclared / 2 && Clock::now() < deadline) {
    const ssize_t n = send(c.fd(), piece.data(), piece.size(), MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
      continue;
    }
    ASSERT_TRUE(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) << strerror(errno);
    peak = std::max(peak, rss_kib(gw.pid()));
    pollfd p{c.fd(), POLLOUT, 0};
    if (poll(&p, 1, 1000) == 0) {
      break;  // blocked for a second: back-pressure reached the client
    }
  }
  peak = std::max(peak, rss_kib(gw.pid()));
  EXPECT_LT(sent, kDeclared / 4) << "the client's send never blocked";
  EXPECT_LT(peak - base, kMaxGrowthKib) << "gateway RSS grew from " << base << " to " << peak
                                        << " KiB with " << sent << " bytes sent";
  // No response yet: the upstream has not answered.
  EXPECT_FALSE(readable(c, 0ms));
}

}  // namespace
}  // namespace ringgate::it
