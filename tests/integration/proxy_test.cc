// Reverse proxying against real upstream servers (test_upstream) on 127.0.0.1: forwarding,
// header rewriting, bodies both ways, keep-alive pooling, failures and retries.

#include <poll.h>

#include <atomic>
#include <ctime>
#include <filesystem>
#include <set>
#include <thread>

#include "proxy_fixture.h"

namespace ringgate::it {
namespace {

TEST_F(ProxyTest, ForwardsGetAndReturnsUpstreamResponse) {
  Upstream up({"--name", "one"});
  ASSERT_NE(up.port(), 0);
  auto& gw = start_proxy(endpoint(up.port()));
  ASSERT_TRUE(gw.ok()) << gw.error();
  std::string why;
  auto r = fetch(gw.port(), request("GET", "/api/items?x=1"), {}, &why);
  ASSERT_TRUE(r) << why;
  EXPECT_EQ(r->status, 200) << r->raw;
  EXPECT_EQ(r->header("x-upstream").value_or(""), "one");
  EXPECT_EQ(r->header("content-type").value_or(""), "application/json");
  EXPECT_NE(r->body.find("\"path\":\"/api/items\""), std::string::npos) << r->body;
  EXPECT_NE(r->body.find("\"method\":\"GET\""), std::string::npos) << r->body;
  // The upstream sent no Date: the gateway adds its own, once (RFC 9110 6.6.1); one the
  // upstream sends passes alone.
  struct tm t {};
  const std::string date = r->header("date").value_or("");
  EXPECT_NE(strptime(date.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &t), nullptr) << r->raw;
  EXPECT_EQ(r->raw.find("Date:", r->raw.find("Date:") + 1), std::string::npos) << r->raw;
  r = fetch(gw.port(),
            request("GET", "/api/d?header=Date:Tue,%2001%20Jul%202025%2010:00:00%20GMT"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->header("date").value_or(""), "Tue, 01 Jul 2025 10:00:00 GMT") << r->raw;
  EXPECT_EQ(r->raw.find("Date:", r->raw.find("Date:") + 1), std::string::npos) << r->raw;
}

TEST_F(ProxyTest, A304Or204WithContentLengthHasNoBody) {
  // RFC 9110 §6.4.1: Content-Length on a 304 names the representation's size; no body follows.
  // The upstream connection must not wait for those bytes.
  Upstream up({"--record", record_file()});
  auto& gw = start_proxy(endpoint(up.port()));
  ASSERT_TRUE(gw.ok()) << gw.error();
  Conn c = connect_to(gw.port());
  for (const char* target : {"/api/a?status=304&header=Content-Length:7&header=ETag:%22e%22",
                             "/api/b?status=204&header=Content-Length:5",
                             "/api/c?status=304&header=Content-Length:7&chunked=1"}) {
    const auto start = std::chrono::steady_clock::now();
    ASSERT_TRUE(send_all(c, request("GET", target)));
    auto r = read_response(c, {.timeout = 3s});
    ASSERT_TRUE(r) << target;
    EXPECT_TRUE(r->status == 304 || r->status == 204) << r->raw;
    EXPECT_TRUE(r->body.empty());
    EXPECT_LT(std::chrono::steady_clock::now() - start, 1s) << target;
  }
  // Each exchange ended at its head: the client connection went on at once, and so does the
  // gateway.
  auto ok = fetch(gw.port(), request("GET", "/api/d"));
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
}

TEST_F(ProxyTest, AnAnswerSlowerThanTheIdleTimeoutIsWaitedForAndIdlenessCountsAfterIt) {
  // The idle deadline armed after the first exchange is left in the timer wheel while the second
  // is proxied (the responder keeps its own deadlines): when it falls due it must neither cut the
  // exchange nor be lost, and idleness counts again from the second answer.
  Upstream up;
  ConfigSpec spec;
  spec.limits["idle_timeout"] = "300ms";
  auto& gw = start_proxy(endpoint(up.port()), "", "", spec);
  ASSERT_TRUE(gw.ok()) << gw.error();
  Conn c = connect_to(gw.port());
  ASSERT_TRUE(send_all(c, request("GET", "/api/quick")));
  auto first = read_response(c);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->status, 200) << first->raw;
  ASSERT_TRUE(send_all(c, request("GET", "/api/slow?delay=700ms")));
  std::string why;
  auto slow = read_response(c, {.timeout = 3s}, &why);
  ASSERT_TRUE(slow) << why;
  EXPECT_EQ(slow->status, 200) << slow->raw;
  const auto answered = std::chrono::steady_clock::now();
  EXPECT_TRUE(stays_silent(c, 200ms)) << "closed before idle_timeout after the last answer";
  EXPECT_TRUE(wait_closed(c, 2s)) << "the idle deadline was lost";
  EXPECT_GE(std::chrono::steady_clock::now() - answered, 250ms);
}

TEST_F(ProxyTest, RewritesOnlyWhatMustChange) {
  Upstream up({"--record", record_file()});
  auto& gw = start_proxy(endpoint(up.port()));
  ASSERT_TRUE(gw.ok()) << gw.error();
  const std::string extra =
      "Connection: keep-alive, X-Hop\r\n"
      "X-Hop: secret\r\n"
      "Keep-Alive: timeout=5\r\n"
      "Proxy-Connection: keep-alive\r\n"
      "Proxy-Authorization: Basic Zm9vOmJhcg==\r\n"
      "TE: trailers, deflate\r\n"
      "Trailer: X-Sum\r\n"
      "Upgrade: websocket\r\n"
      "X-Forwarded-For: 203.0.113.9\r\n"
      "X-Forwarded-Proto: https\r\n"
      "X-Custom:  kept as is\r\n"
      "Accept: */*\r\n";
  auto r = fetch(gw.port(), request("GET", "/api/h?q=%20", extra, "front.example:8080"));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->raw;
  Recorded rec = read_record(record_file());
  ASSERT_EQ(rec.requests.size(), 1u);
  ASSERT_TRUE(rec.bad.empty());
  const std::string& raw = rec.requests[0];
  EXPECT_EQ(raw.rfind("GET /api/h?q=%20 HTTP/1.1\r\n", 0), 0u) << visible(raw);
  for (const char* gone : {"connection", "x-hop", "keep-alive", "proxy-connection",
                           "proxy-authorization", "trailer", "upgrade", "x-forwarded-proto"}) {
    if (std::string(gone) == "x-forwarded-proto") {
      continue;  // replaced, checked below
    }
    EXPECT_TRUE(values(raw, gone).empty()) << gone << "\n" << visible(raw);
  }
  EXPECT_EQ(values(raw, "te"), std::vector<std::string>{"trailers"}) << visible(raw);
  EXPECT_EQ(values(raw, "host"), std::vector<std::string>{"front.example:8080"});
  // The edge (trusted_hops 0) does not believe the client's X-Forwarded-*.
  EXPECT_EQ(values(raw, "x-forwarded-for"), std::vector<std::string>{"127.0.0.1"});
  EXPECT_EQ(values(raw, "x-forwarded-proto"), std::vector<std::string>{"http"});
  EXPECT_EQ(values(raw, "x-forwarded-host"), std::vector<std::string>{"front.example:8080"});
  EXPECT_EQ(values(raw, "x-custom"), std::vector<std::string>{"kept as is"});
  EXPECT_EQ(values(raw, "accept"), std::vector<std::string>{"*/*"});
  auto id = values(raw, "x-request-id");
  ASSERT_EQ(id.size(), 1u) << visible(raw);
  EXPECT_EQ(id[0].size(), 32u);
}

// An absolute-form request goes upstream in origin-form, with the URL's authority as its Host
// (RFC 9112 3.2.2 and 7.2); another scheme is a 400 that reaches no upstream.
TEST_F(ProxyTest, AbsoluteFormGoesUpstreamInOriginForm) {
  Upstream up({"--record", record_file()});
  auto& gw = start_proxy(endpoint(up.port()));
  ASSERT_TRUE(gw.ok()) << gw.error();
  auto r = fetch(gw.port(), request("GET", "http://front.example:8080/api/a/./b?q=1", "",
                                    "elsewhere.example"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->raw;
  r = fetch(gw.port(), request("GET", "ftp://front.example/api/a"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400) << r->raw;
  Recorded rec = read_record(record_file());
  ASSERT_EQ(rec.requests.size(), 1u);
  EXPECT_EQ(rec.requests[0].rfind("GET /api/a/b?q=1 HTTP/1.1\r\n", 0), 0u)
      << visible(rec.requests[0]);
  EXPECT_EQ(values(rec.requests[0], "host"), std::vector<std::string>{"front.example:8080"});
  EXPECT_EQ(values(rec.requests[0], "x-forwarded-host"),
            std::vector<std::string>{"front.example:8080"});
}

TEST_F(ProxyTest, ClientRequestIdPassesThrough) {
  Upstream up({"--record", record_file()});
  auto& gw = start_proxy(endpoint(up.port()));
  ASSERT_TRUE(gw.ok()) << gw.error();
  ASSERT_TRUE(fetch(gw.port(), request("GET", "/api/a", "X-Request-Id: abc-123\r\n")));
  ASSERT_TRUE(fetch(gw.port(), request("GET", "/api/b")));
  Recorded rec = read_record(record_file());
  ASSERT_EQ(rec.requests.size(), 2u);
  EXPECT_EQ(values(rec.requests[0], "x-request-id"), std::vector<std::string>{"abc-123"});
  auto generated = values(rec.requests[1], "x-request-id");
  ASSERT_EQ(generated.size(), 1u);
  EXPECT_NE(generated[0], "abc-123");
}

TEST_F(ProxyTest, TrustedHopsKeepForwardedChain) {
  Upstream up({"--record", record_file()});
  ConfigSpec spec;
  spec.server_extra = "  trusted_hops: 1\n";
  auto& gw = start_proxy(endpoint(up.port()), "", "", spec);
  ASSERT_TRUE(gw.ok()) << gw.error();
  ASSERT_TRUE(fetch(gw.port(), request("GET", "/api/x",
                                       "X-Forwarded-For: 198.51.100.7\r\n"
                                       "X-Forwarded-Proto: https\r\n")));
  Recorded rec = read_record(record_file());
  ASSERT_EQ(rec.requests.size(), 1u);
  EXPECT_EQ(values(rec.requests[0], "x-forwarded-for"),
            std::vector<std::string>{"198.51.100.7, 127.0.0.1"});
  EXPECT_EQ(values(rec.requests[0], "x-forwarded-proto"), std::vector<std::string>{"https"});
}

TEST_F(ProxyTest, StripPrefixRewriteAndHostPolicy) {
  Upstream up({"--record", record_file()});
  const std::string routes =
      "  - match: {prefix: /strip}\n"
      "    upstream: {cluster: api, strip_prefix: /strip}\n"
      "  - match: {prefix: /old}\n"
      "    upstream: {cluster: api, rewrite: /new, host: endpoint}\n"
      "  - match: {path: /fixed}\n"
      "    upstream: {cluster: api, rewrite: /internal/fixed, host: backend.internal}\n";
  auto& gw = start_proxy(endpoint(up.port()), "", routes);
  ASSERT_TRUE(gw.ok()) << gw.error();
  for (const char* target : {"/strip/a/b?z=1", "/strip", "/old/x", "/fixed?k=v"}) {
    auto r = fetch(gw.port(), request("GET", target));
    ASSERT_TRUE(r) << target;
    EXPECT_EQ(r->status, 200) << target << "\n" << r->raw;
  }
  Recorded rec = read_record(record_file());
  ASSERT_EQ(rec.requests.size(), 4u);
  EXPECT_EQ(rec.requests[0].rfind("GET /a/b?z=1 HTTP/1.1\r\n", 0), 0u) << visible(rec.requests[0]);
  EXPECT_EQ(rec.requests[1].rfind("GET / HTTP/1.1\r\n", 0), 0u) << visible(rec.requests[1]);
  EXPECT_EQ(rec.requests[2].rfind("GET /new/x HTTP/1.1\r\n", 0), 0u) << visible(rec.requests[2]);
  EXPECT_EQ(values(rec.requests[2], "host"),
            std::vector<std::string>{"127.0.0.1:" + std::to_string(up.port())});
  EXPECT_EQ(rec.requests[3].rfind("GET /internal/fixed?k=v HTTP/1.1\r\n", 0), 0u)
      << visible(rec.requests[3]);
  EXPECT_EQ(values(rec.requests[3], "host"), std::vector<std::string>{"backend.internal"});
}

TEST_F(ProxyTest, RequestBodiesBothFramings) {
  Upstream up({"--record", record_file()});
  auto& gw = start_proxy(endpoint(up.port()));
  ASSERT_TRUE(gw.ok()) << gw.error();
  const std::string body(100000, 'b');
  auto r = fetch(gw.port(), request("POST", "/api/upload?echo=1",
                                    "Content-Length: " + std::to_string(body.size()) + "\r\n") +
                                body);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body.size() > body.size(), true);
  EXPECT_EQ(r->body.substr(r->body.size() - body.size()), body);

  // Chunked from the client: re-encoded by the gateway, never passed through raw.
  auto c =
      fetch(gw.port(), request("POST", "/api/chunked?echo=1", "Transfer-Encoding: chunked\r\n") +
                           "5;ext=1\r\nhello\r\n000006\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->status, 200) << c->raw;
  Recorded rec = read_record(record_file());
  ASSERT_EQ(rec.requests.size(), 2u);
  ASSERT_TRUE(rec.bad.empty()) << rec.bad[0];
  const std::string& raw = rec.requests[1];
  EXPECT_EQ(values(raw, "transfer-encoding"), std::vector<std::string>{"chunked"});
  const std::string sent_body = raw.substr(raw.find("\r\n\r\n") + 4);
  EXPECT_EQ(sent_body, "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n") << visible(sent_body);
}

TEST_F(ProxyTest, ResponseBodiesStreamIntact) {
  Upstream up;
  auto& gw = start_proxy(endpoint(up.port()));
  ASSERT_TRUE(gw.ok()) << gw.error();
  for (const char* q :
       {"body_size=3000000", "body_size=3000000&chunked=1&chunk=7000",
        "body_size=200000&chunked=1&chunk=1", "body_size=50000&slow=1ms&chunk=5000"}) {
    std::string why;
    auto r = fetch(gw.port(), request("GET", std::string("/api/big?") + q), {20s}, &why);
    ASSERT_TRUE(r) << q << ": " << why;
    EXPECT_EQ(r->status, 200) << q;
    const size_t n = std::stoul(std::string(q).substr(10));
    ASSERT_EQ(r->body.size(), n) << q;
    EXPECT_EQ(r->body.front(), '"');
    EXPECT_EQ(r->body.back(), '"');
    if (std::string(q).find("chunked") != std::string::npos) {
      EXPECT_EQ(r->header("transfer-encoding").value_or(""), "chunked") << q;
      EXPECT_FALSE(r->has("content-length"));
    } else {
      EXPECT_EQ(r->header("content-length").value_or(""), std::to_string(n));
    }
  }
}

TEST_F(ProxyTest, HeadAndBodylessStatuses) {
  Upstream up;
  auto& gw = start_proxy(endpoint(up.port()));
  ASSERT_TRUE(gw.ok()) << gw.error();
  Conn c = connect_to(gw.port());
  ASSERT_TRUE(send_all(c, request("HEAD", "/api/h?body_size=5000")));
  ReadOptions head;
  head.head_request = true;
  auto h = read_response(c, head);
  ASSERT_TRUE(h);
  EXPECT_EQ(h->status, 200);
  EXPECT_EQ(h->header("content-length").value_or(""), "5000");
  EXPECT_TRUE(h->body.empty());
  ASSERT_TRUE(send_all(c, request("GET", "/api/x?status=204")));
  auto r204 = read_response(c);
  ASSERT_TRUE(r204);
  EXPECT_EQ(r204->status, 204);
  ASSERT_TRUE(send_all(c, request("GET", "/api/x?status=404")));
  auto r404 = read_response(c);
  ASSERT_TRUE(r404);
  EXPECT_EQ(r404->status, 404);
  // The connection is still usable afterwards.
  ASSERT_TRUE(send_all(c, request("GET", "/hello")));
  auto hello = read_response(c);
  ASSERT_TRUE(hello);
  EXPECT_EQ(hello->body, "hello");
}

TEST_F(ProxyTest, PipelinedRequestsAnsweredInOrderOnePerUpstreamRequest) {
  Upstream up({"--record", record_file()});
  auto& gw = start_proxy(endpoint(up.port()));
  ASSERT_TRUE(gw.ok()) << gw.error();
  Conn c = connect_to(gw.port());
  std::string batch;
  for (int i = 0; i < 20; ++i) {
    batch += request("GET", "/api/p" + std::to_string(i) + (i % 3 == 0 ? "?delay=5ms" : ""));
    if (i == 10) {
      batch += request("GET", "/hello");
    }
  }
  ASSERT_TRUE(send_all(c, batch));
  for (int i = 0; i < 20; ++i) {
    auto r = read_response(c);
    ASSERT_TRUE(r) << i;
    EXPECT_NE(r->body.find("\"path\":\"/api/p" + std::to_string(i) + "\""), std::string::npos)
        << i << ": " << r->body;
    if (i == 10) {
      auto hello = read_response(c);
      ASSERT_TRUE(hello);
      EXPECT_EQ(hello->body, "hello");
    }
  }
  Recorded rec = read_record(record_file());
  EXPECT_EQ(rec.requests.size(), 20u);
  EXPECT_TRUE(rec.bad.empty());
}

TEST_F(ProxyTest, KeepAlivePoolReusesConnections) {
  Upstream up;
  auto& gw = start_proxy(endpoint(up.port()));
  ASSERT_TRUE(gw.ok()) << gw.error();
  for (int i = 0; i < 10; ++i) {
    auto r = fetch(gw.port(), request("GET", "/api/k"));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
  }
  EXPECT_EQ(metric(gw.admin_port(), "ringgate_upstream_pool_misses_total{upstream=\"api\"}"), 1);
  EXPECT_EQ(metric(gw.admin_port(), "ringgate_upstream_pool_hits_total{upstream=\"api\"}"), 9);
  EXPECT_EQ(metric(gw.admin_port(), "ringgate_upstream_requests_total{upstream=\"api\"}"), 10);
  // An upstream that says Connection: close is not pooled.
  ASSERT_TRUE(fetch(gw.port(), request("GET", "/api/k?close=1")));
  ASSERT_TRUE(fetch(gw.port(), request("GET", "/api/k")));
  EXPECT_EQ(metric(gw.admin_port(), "ringgate_upstream_pool_misses_total{upstream=\"api\"}"), 2);
  // Nor one that says so and leaves its socket open (RFC 9112 9.6: no further request on it),
  // whichever way the token is written.
  for (const char* close : {"close", "foo%2C%20CLOSE"}) {
    ASSERT_TRUE(fetch(gw.port(), request("GET", std::string("/api/k?header=Connection:") + close)));
    auto r = fetch(gw.port(), request("GET", "/api/k"));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << r->raw;
  }
  // The answers that said close came on pooled connections (hits 11 and 12), and each request
  // after one opened a connection (misses 3 and 4). Had it been sent on the closed one, it would
  // have got a bad response and a retry on a new connection: one more hit, the same misses.
  EXPECT_EQ(metric(gw.admin_port(), "ringgate_upstream_pool_misses_total{upstream=\"api\"}"), 4);
  EXPECT_EQ(metric(gw.admin_port(), "ringgate_upstream_pool_hits_total{upstream=\"api\"}"), 12);
  EXPECT_EQ(metric(gw.admin_port(), "ringgate_upstream_bad_responses_total{upstream=\"api\"}"), 0);
}

// Sends `n` requests for `target` on `n` fresh connections at once, then reads every answer.
void burst(uint16_t port, int n, const std::string& target) {
  std::vector<Conn> conns;
  for (int i = 0; i < n; ++i) {
    conns.push_back(connect_to(port));
    ASSERT_TRUE(send_all(conns.back(), request("GET", target)));
  }
  for (Conn& c : conns) {
    auto r = read_response(c);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
  }
}

TEST_F(ProxyTest, DefaultPoolKeepsEveryConnectionABurstOpened) {
  // With a fixed idle cap, a burst wider than the cap closed the rest of its connections and the
  // next burst opened them again. By default every connection opened stays pooled until
  // keepalive_timeout: the second burst opens none.
  Upstream up;
  auto& gw = start_proxy(endpoint(up.port()));
  ASSERT_TRUE(gw.ok()) << gw.error();
  const std::string misses = "ringgate_upstream_pool_misses_total{upstream=\"api\"}";
  burst(gw.port(), 100, "/api/b?delay=300ms");
  EXPECT_EQ(metric(gw.admin_port(), misses), 100);
  burst(gw.port(), 100, "/api/b?delay=300ms");
  EXPECT_EQ(metric(gw.admin_port(), misses), 100);
  EXPECT_EQ(metric(gw.admin_port(), "ringgate_upstream_pool_hits_total{upstream=\"api\"}"), 100);
}

TEST_F(ProxyTest, APooledConnectionClosesKeepaliveTimeoutAfterItsLastUse) {
  // The keep-alive deadline armed when a connection went into the pool is left in the timer
  // wheel while a call uses it: falling due during a slow call, it must neither cut the call nor
  // be lost; the connection is closed keepalive_timeout after its last use.
  Upstream up;
  auto& gw = start_proxy(endpoint(up.port()), "    keepalive_timeout: 1s\n");
  ASSERT_TRUE(gw.ok()) << gw.error();
  const std::string misses = "ringgate_upstream_pool_misses_total{upstream=\"api\"}";
  const std::string hits = "ringgate_upstream_pool_hits_total{upstream=\"api\"}";
  auto get = [&](const std::string& target) {
    std::string why;
    auto r = fetch(gw.port(), request("GET", target), ReadOptions{5s}, &why);
    ASSERT_TRUE(r) << target << ": " << why;
    EXPECT_EQ(r->status, 200) << target << ": " << r->raw;
  };
  get("/api/first");  // opens the connection; pooled at about t = 0
  std::this_thread::sleep_for(600ms);
  get("/api/slow?delay=800ms");  // takes it from the pool across t = 1 s
  std::this_thread::sleep_for(600ms);
  get("/api/again");  // 0.6 s after its last use: still pooled (re-armed for t = 2.4 s)
  std::this_thread::sleep_for(600ms);
  get("/api/again");  // past t = 2.4 s, 0.6 s after its last use: still pooled
  EXPECT_EQ(metric(gw.admin_port(), misses), 1);
  EXPECT_EQ(metric(gw.admin_port(), hits), 3);
  std::this_thread::sleep_for(1600ms);
  get("/api/late");  // 1.6 s after its last use: closed, a new one
  EXPECT_EQ(metric(gw.admin_port(), misses), 2);
  EXPECT_EQ(metric(gw.admin_port(), hits), 3);
}

TEST_F(ProxyTest, KeepaliveCapsTheIdleConnectionsKept) {
  Upstream up;
  auto& gw = start_proxy(endpoint(up.port()), "    keepalive: 10\n");
  ASSERT_TRUE(gw.ok()) << gw.error();
  const std::string misses = "ringgate_upstream_pool_misses_total{upstream=\"api\"}";
  burst(gw.port(), 30, "/api/b?delay=300ms");
  EXPECT_EQ(metric(gw.admin_port(), misses), 30);
  burst(gw.port(), 30, "/api/b?delay=300ms");
  EXPECT_EQ(metric(gw.admin_port(), misses), 50);  // 10 kept, 20 opened again
}

TEST_F(ProxyTest, ConnectFailureIs502NamingTheCluster) {
  auto& gw = start_proxy(endpoint(dead_port()));
  ASSERT_TRUE(gw.ok()) << gw.error();
  Conn c = connect_to(gw.port());
  ASSERT_TRUE(send_all(c, request("GET", "/api/x")));
  auto r = read_response(c);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 502);
  EXPECT_EQ(r->header("content-type").value_or(""), "application/problem+json");
  EXPECT_NE(r->body.find("upstream \\\"api\\\""), std::string::npos) << r->body;
  EXPECT_EQ(r->body.find("127.0.0.1"), std::string::npos) << "leaks the address: " << r->body;
  // Still keep-alive: the next request on the same connection is served.
  ASSERT_TRUE(send_all(c, request("GET", "/hello")));
  auto hello = read_response(c);
  ASSERT_TRUE(hello);
  EXPECT_EQ(hello->status, 200);
  EXPECT_GE(metric(gw.admin_port(), "ringgate_upstream_connect_failures_total{upstream=\"api\"}"),
            1);
}

TEST_F(ProxyTest, HungUpstreamTimesOutWith504) {
  Upstream up;
  const std::string routes =
      "  - match: {prefix: /api}\n"
      "    upstream: {cluster: api, timeout: 300ms, retries: 0}\n";
  auto& gw = start_proxy(endpoint(up.port()), "", routes);
  ASSERT_TRUE(gw.ok()) << gw.error();
  const auto t0 = std::chrono::steady_clock::now();
  auto r = fetch(gw.port(), request("GET", "/api/x?hang=1"));
  const auto took = std::chrono::steady_clock::now() - t0;
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 504);
  EXPECT_NE(r->body.find("upstream \\\"api\\\" did not answer in time"), std::string::npos)
      << r->body;
  EXPECT_GE(took, 290ms);
  EXPECT_LT(took, 3s);
  EXPECT_EQ(metric(gw.admin_port(), "ringgate_upstream_timeouts_total{upstream=\"api\"}"), 1);
}

TEST_F(ProxyTest, BadUpstreamFramingIs502AndNotPooled) {
  Upstream up;
  auto& gw = start_proxy(endpoint(up.port()), "",
                         "  - match: {prefix: /api}\n    upstream: {cluster: api, retries: 0}\n");
  ASSERT_TRUE(gw.ok()) << gw.error();
  // bad_chunk arrives with its head: the head is taken back before it reaches the client.
  for (const char* kind : {"cl_te", "two_cl", "bad_chunk", "garbage", "no_status"}) {
    auto r = fetch(gw.port(), request("GET", std::string("/api/x?bad=") + kind));
    ASSERT_TRUE(r) << kind;
    EXPECT_EQ(r->status, 502) << kind << "\n" << r->raw;
    EXPECT_NE(r->body.find("invalid or incomplete response"), std::string::npos) << r->body;
  }
  // Each bad connection was closed: the next request gets a fresh one and works.
  auto ok = fetch(gw.port(), request("GET", "/api/fine"));
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
  EXPECT_GE(metric(gw.admin_port(), "ringgate_upstream_bad_responses_total{upstream=\"api\"}"), 5);
}

TEST_F(ProxyTest, ResponseCutMidBodyClosesClientConnection) {
  Upstream up;
  auto& gw = start_proxy(endpoint(up.port()));
  ASSERT_TRUE(gw.ok()) << gw.error();
  Conn c = connect_to(gw.port());
  ASSERT_TRUE(send_all(c, request("GET", "/api/x?body_size=10000&close_mid_body=1")));
  std::string got;
  EXPECT_TRUE(wait_closed(c, 3s, &got));
  EXPECT_EQ(got.rfind("HTTP/1.1 200", 0), 0u) << got.substr(0, 200);
  EXPECT_LT(got.size(), 10000u);
  EXPECT_EQ(metric(gw.admin_port(), "ringgate_requests_aborted_total"), 1);
}

TEST_F(ProxyTest, RetriesAnotherEndpointWhenOneIsDown) {
  Upstream up({"--name", "alive"});
  auto& gw = start_proxy(endpoint(dead_port()) + ", " + endpoint(up.port()));
  ASSERT_TRUE(gw.ok()) << gw.error();
  for (int i = 0; i < 10; ++i) {
    auto r = fetch(gw.port(), request(i % 2 ? "POST" : "GET", "/api/r", "Content-Length: 0\r\n"));
    ASSERT_TRUE(r) << i;
    EXPECT_EQ(r->status, 200) << i << "\n" << r->raw;
    EXPECT_EQ(r->header("x-upstream").value_or(""), "alive");
  }
  EXPECT_GE(metric(gw.admin_port(), "ringgate_upstream_retries_total{upstream=\"api\"}"), 1);
}

TEST_F(ProxyTest, SmugglingAttemptsNeverReachTheUpstream) {
  Upstream up({"--record", record_file()});
  auto& gw = start_proxy(endpoint(up.port()));
  ASSERT_TRUE(gw.ok()) << gw.error();
  const std::string attacks[] = {
      // CL.TE
      "POST /api/a HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n"
      "0\r\n\r\nG",
      // two Content-Lengths
      "POST /api/a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 40\r\n\r\nabc",
      // obs-fold in Transfer-Encoding
      "POST /api/a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n",
      // TE other than chunked
      "POST /api/a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\nContent-Length: "
      "3\r\n\r\nabc",
  };
  for (const std::string& a : attacks) {
    auto r = fetch(gw.port(), a);
    ASSERT_TRUE(r) << visible(a);
    EXPECT_EQ(r->status, 400) << visible(a);
  }
  // A well-formed pipelined pair after a body: exactly two requests upstream.
  Conn c = connect_to(gw.port());
  ASSERT_TRUE(send_all(c, request("POST", "/api/one", "Content-Length: 6\r\n") + "GET /x" +
                              request("GET", "/api/two")));
  auto r1 = read_response(c);
  auto r2 = read_response(c);
  ASSERT_TRUE(r1 && r2);
  Recorded rec = read_record(record_file());
  EXPECT_TRUE(rec.bad.empty()) << rec.bad[0];
  ASSERT_EQ(rec.requests.size(), 2u);
  EXPECT_EQ(rec.requests[0].rfind("POST /api/one HTTP/1.1\r\n", 0), 0u);
  EXPECT_EQ(rec.requests[0].substr(rec.requests[0].size() - 10), "\r\n\r\nGET /x")
      << visible(rec.requests[0]);
  EXPECT_EQ(rec.requests[1].rfind("GET /api/two HTTP/1.1\r\n", 0), 0u);
}

// Exactly n bytes: what `c.pending` holds first, then from the socket. Empty on timeout or close.
std::string read_exact(Conn& c, size_t n, Millis timeout = 5s) {
  std::string out = std::move(c.pending);
  c.pending.clear();
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  char buf[65536];
  while (out.size() < n) {
    const auto left =
        std::chrono::duration_cast<Millis>(deadline - std::chrono::steady_clock::now());
    pollfd p{c.fd(), POLLIN, 0};
    if (left.count() <= 0 || poll(&p, 1, static_cast<int>(left.count())) <= 0) {
      return {};
    }
    const ssize_t k = recv(c.fd(), buf, sizeof buf, 0);
    if (k <= 0) {
      return {};
    }
    out.append(buf, static_cast<size_t>(k));
  }
  c.pending = out.substr(n);
  out.resize(n);
  return out;
}

std::string upgrade_request(const std::string& target) {
  return request("GET", target, "Connection: Upgrade\r\nUpgrade: websocket\r\n");
}

TEST_F(ProxyTest, UpgradeBecomesTwoWayTunnel) {
  Upstream up({"--record", record_file()});
  auto& gw = start_proxy(endpoint(up.port()));
  ASSERT_TRUE(gw.ok()) << gw.error();
  Conn c = connect_to(gw.port());
  // Bytes right behind the request (a client that does not wait for the 101) belong to the
  // tunnel, not to a next request.
  ASSERT_TRUE(send_all(c, upgrade_request("/api/ws?upgrade=1") + "early"));
  ReadOptions interim;
  interim.skip_interim = false;
  auto r = read_response(c, interim);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 101) << r->raw;
  EXPECT_EQ(r->header("upgrade").value_or(""), "websocket");
  EXPECT_TRUE(r->connection_has("upgrade")) << r->raw;
  EXPECT_EQ(read_exact(c, 5), "early");
  // The upstream saw Upgrade and `Connection: upgrade`, and nothing after the head as HTTP.
  Recorded rec = read_record(record_file());
  ASSERT_EQ(rec.requests.size(), 1u);
  EXPECT_EQ(values(rec.requests[0], "upgrade"), std::vector<std::string>{"websocket"});
  EXPECT_EQ(values(rec.requests[0], "connection"), std::vector<std::string>{"upgrade"});

  // Megabytes both ways at once: neither side may stall the other (bounded buffers).
  std::string big(3 << 20, '\0');
  for (size_t i = 0; i < big.size(); ++i) {
    big[i] = static_cast<char>('a' + (i * 7) % 26);
  }
  std::string echoed;
  std::thread reader([&] { echoed = read_exact(c, big.size(), 20s); });
  const bool sent = send_all(c, big);
  reader.join();
  ASSERT_TRUE(sent);
  ASSERT_EQ(echoed.size(), big.size());
  EXPECT_TRUE(echoed == big);
  EXPECT_EQ(metric(gw.admin_port(), "ringgate_upstream_responses_1xx_total{upstream=\"api\"}"), 1);

  // The client closes its side: the gateway closes both.
  shutdown(c.fd(), SHUT_WR);
  EXPECT_TRUE(wait_closed(c, 5s));
  EXPECT_EQ(wait_metric(gw.admin_port(), "ringgate_upstream_connections_active{upstream=\"api\"}",
                        [](double v) { return v == 0; }),
            0);
}

TEST_F(ProxyTest, TunnelEndsWhenTheUpstreamCloses) {
  Upstream up;
  auto& gw = start_proxy(endpoint(up.port()));
  ASSERT_TRUE(gw.ok()) << gw.error();
  Conn c = connect_to(gw.port());
  ASSERT_TRUE(send_all(c, upgrade_request("/api/ws?upgrade=1")));
  ReadOptions interim;
  interim.skip_interim = false;
  auto r = read_response(c, interim);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 101);
  ASSERT_TRUE(send_all(c, "ping"));
  EXPECT_EQ(read_exact(c, 4), "ping");
  up.kill_now();
  EXPECT_TRUE(wait_closed(c, 5s));
}

// Sends `upgrading` on a new connection: it is answered 200 as plain HTTP, and the connection
// stays HTTP (a next request on it is routed and answered).
void expect_answered_and_still_http(uint16_t port, const std::string& upgrading) {
  Conn c = connect_to(port);
  ASSERT_TRUE(send_all(c, upgrading));
  auto r = read_response(c);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->raw;
  ASSERT_TRUE(send_all(c, request("GET", "/api/next")));
  auto next = read_response(c);
  ASSERT_TRUE(next);
  EXPECT_NE(next->body.find("\"path\":\"/api/next\""), std::string::npos) << next->body;
}

TEST_F(ProxyTest, UpgradeDeclinedStaysHttp) {
  Upstream up;
  auto& gw = start_proxy(endpoint(up.port()));
  ASSERT_TRUE(gw.ok()) << gw.error();
  // The upstream answers the upgrade request as plain HTTP.
  expect_answered_and_still_http(gw.port(), upgrade_request("/api/plain"));
}

// Only a WebSocket upgrade is passed on. An h2c upgrade would tunnel the client to the
// upstream's HTTP/2, where no route, rule or limit sees its requests: it is left out of the
// forwarded head, the upstream answers as HTTP, and the connection stays HTTP.
TEST_F(ProxyTest, AnUpgradeToAnythingButWebSocketIsNotPassedOn) {
  Upstream up({"--record", record_file()});
  auto& gw = start_proxy(endpoint(up.port()));
  ASSERT_TRUE(gw.ok()) << gw.error();
  expect_answered_and_still_http(gw.port(),
                                 request("GET", "/api/h2c",
                                         "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
                                         "HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n"));
  Recorded rec = read_record(record_file());
  ASSERT_EQ(rec.requests.size(), 2u);
  for (const char* gone : {"upgrade", "connection", "http2-settings"}) {
    EXPECT_TRUE(values(rec.requests[0], gone).empty()) << gone << "\n" << visible(rec.requests[0]);
  }
}

TEST_F(ProxyTest, UnrequestedSwitchIs502) {
  Upstream up;
  auto& gw = start_proxy(endpoint(up.port()), "",
                         "  - match: {prefix: /api}\n    upstream: {cluster: api, retries: 0}\n");
  ASSERT_TRUE(gw.ok()) << gw.error();
  auto r = fetch(gw.port(), request("GET", "/api/x?status=101"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 502) << r->raw;
}

TEST_F(ProxyTest, HalfClosedClientStillGetsItsResponse) {
  Upstream up;
  auto& gw = start_proxy(endpoint(up.port()));
  ASSERT_TRUE(gw.ok()) << gw.error();
  Conn c = connect_to(gw.port());
  // Sent, then the write side closed (`printf ... | nc` style) before the slow answer comes.
  ASSERT_TRUE(send_all(c, request("GET", "/api/slow?delay=200ms&body_size=50000")));
  shutdown(c.fd(), SHUT_WR);
  std::string all;
  ASSERT_TRUE(read_until_eof(c, all, 5s));
  EXPECT_EQ(all.rfind("HTTP/1.1 200", 0), 0u) << all.substr(0, 200);
  EXPECT_NE(all.find("Connection: close"), std::string::npos) << all.substr(0, 300);
  EXPECT_EQ(all.size() - all.find("\r\n\r\n") - 4, 50000u);
  EXPECT_EQ(metric(gw.admin_port(), "ringgate_requests_aborted_total"), 0);
}

TEST_F(ProxyTest, EndpointsByNameAndIpv6) {
  Upstream v4({"--name", "v4"});
  Upstream v6({"--name", "v6"}, "[::1]:0");
  ASSERT_NE(v6.port(), 0) << "no IPv6 loopback";
  auto& gw = start_proxy("\"localhost:" + std::to_string(v4.port()) +
                         "\", \"[::1]:" + std::to_string(v6.port()) + "\"");
  ASSERT_TRUE(gw.ok()) << gw.error();
  std::set<std::string> seen;
  for (int i = 0; i < 6; ++i) {
    auto r = fetch(gw.port(), request("GET", "/api/x"));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << r->raw;
    seen.insert(r->header("x-upstream").value_or(""));
  }
  EXPECT_EQ(seen, (std::set<std::string>{"v4", "v6"}));
}

// A name is re-resolved every dns_refresh (here from server.hosts_file): when it moves, new
// requests go to the new address and connections pooled to the old one are not reused.
TEST_F(ProxyTest, NamesAreReResolvedEveryDnsRefresh) {
  Upstream first({"--name", "first"}, "127.0.0.1:0");
  ASSERT_NE(first.port(), 0);
  const std::string port = std::to_string(first.port());
  Upstream second({"--name", "second"}, "127.0.0.2:" + port);
  ASSERT_NE(second.port(), 0) << "port " << port << " is taken on 127.0.0.2";
  const std::string hosts = dir_.path() + "/hosts";
  auto write_hosts = [&](const std::string& address) {
    const std::string tmp = hosts + ".tmp";
    std::ofstream(tmp) << "# written by the test\n" << address << " orders.internal\n";
    std::filesystem::rename(tmp, hosts);
  };
  write_hosts("127.0.0.1");
  ConfigSpec spec;
  spec.server_extra = "  hosts_file: " + hosts + "\n";
  auto& gw = start_proxy("\"orders.internal:" + port + "\"", "    dns_refresh: 1s\n", "", spec);
  ASSERT_TRUE(gw.ok()) << gw.error();
  Conn c = connect_to(gw.port());
  ASSERT_TRUE(send_all(c, request("GET", "/api/a")));
  auto r = read_response(c);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->header("x-upstream").value_or(""), "first");

  write_hosts("127.0.0.2");
  std::string now_at;
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (now_at != "second" && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(100ms);
    ASSERT_TRUE(send_all(c, request("GET", "/api/b")));
    auto next = read_response(c);
    ASSERT_TRUE(next);
    now_at = next->header("x-upstream").value_or("");
  }
  EXPECT_EQ(now_at, "second");
  EXPECT_EQ(metric(gw.admin_port(), "ringgate_upstream_dns_failures_total{upstream=\"api\"}"), 0);

  // The name vanishes: the last good address stays in use, and the failure is counted.
  std::ofstream(hosts, std::ios::trunc) << "# nothing\n";
  EXPECT_GE(wait_metric(
                gw.admin_port(), "ringgate_upstream_dns_failures_total{upstream=\"api\"}",
                [](double v) { return v >= 1; }, 5s),
            1);
  ASSERT_TRUE(send_all(c, request("GET", "/api/c")));
  auto last = read_response(c);
  ASSERT_TRUE(last);
  EXPECT_EQ(last->header("x-upstream").value_or(""), "second");
}

TEST_F(ProxyTest, MetricsPerEndpointAndLatencyHistogram) {
  Upstream up;
  const uint16_t dead = dead_port();
  auto& gw = start_proxy(endpoint(up.port()) + ", " + endpoint(dead),
                         "    outlier: {consecutive_connect_failures: 0}\n");
  ASSERT_TRUE(gw.ok()) << gw.error();
  for (int i = 0; i < 4; ++i) {
    auto r = fetch(gw.port(), request("GET", "/api/slow?delay=30ms"));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << r->raw;  // retried on the live endpoint when the dead one fails
  }
  const std::string live =
      "{upstream=\"api\",endpoint=\"127.0.0.1:" + std::to_string(up.port()) + "\"}";
  const std::string gone = "{upstream=\"api\",endpoint=\"127.0.0.1:" + std::to_string(dead) + "\"}";
  const uint16_t admin = gw.admin_port();
  EXPECT_EQ(metric(admin, "ringgate_upstream_endpoint_requests_total" + live), 4);
  const double failed = metric(admin, "ringgate_upstream_endpoint_connect_failures_total" + gone);
  EXPECT_GE(failed, 1);  // round robin sends some first tries to the dead endpoint
  EXPECT_EQ(metric(admin, "ringgate_upstream_endpoint_requests_total" + gone), failed);
  EXPECT_EQ(metric(admin, "ringgate_upstream_endpoint_connect_failures_total" + live), 0);
  EXPECT_EQ(metric(admin, "ringgate_upstream_endpoint_connections_active" + live), 1);
  EXPECT_EQ(metric(admin, "ringgate_upstream_endpoint_healthy" + live), 1);
  // Four requests of at least 30 ms: none under 25 ms, all under 10 s.
  const std::string h = "ringgate_upstream_request_duration_seconds";
  EXPECT_EQ(metric(admin, h + "_count{upstream=\"api\"}"), 4);
  EXPECT_EQ(metric(admin, h + "_bucket{upstream=\"api\",le=\"0.025\"}"), 0);
  EXPECT_EQ(metric(admin, h + "_bucket{upstream=\"api\",le=\"10\"}"), 4);
  EXPECT_EQ(metric(admin, h + "_bucket{upstream=\"api\",le=\"+Inf\"}"), 4);
  EXPECT_GE(metric(admin, h + "_sum{upstream=\"api\"}"), 0.12);
}

TEST_F(ProxyTest, Upstream5xxIsRetriedElsewhereForIdempotentRequests) {
  Upstream failing({"--name", "failing", "--status", "503", "--record", record_file()});
  Upstream healthy({"--name", "healthy"});
  auto& gw = start_proxy(endpoint(failing.port()) + ", " + endpoint(healthy.port()),
                         "    outlier: {consecutive_5xx: 0}\n");
  ASSERT_TRUE(gw.ok()) << gw.error();
  for (int i = 0; i < 6; ++i) {
    auto r = fetch(gw.port(), request("GET", "/api/g"));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << i << "\n" << r->raw;
    EXPECT_EQ(r->header("x-upstream").value_or(""), "healthy");
  }
  EXPECT_GE(metric(gw.admin_port(), "ringgate_upstream_retries_total{upstream=\"api\"}"), 1);
  // A POST may have been acted on: the upstream's 503 is passed on, not retried.
  int passed_on = 0;
  for (int i = 0; i < 4; ++i) {
    auto r = fetch(gw.port(), request("POST", "/api/p", "Content-Length: 0\r\n"));
    ASSERT_TRUE(r);
    if (r->status == 503) {
      EXPECT_EQ(r->header("x-upstream").value_or(""), "failing");
      ++passed_on;
    }
  }
  EXPECT_EQ(passed_on, 2);  // round robin: every other POST lands on the failing endpoint
}

TEST_F(ProxyTest, Last5xxIsPassedOnWhenRetriesRunOut) {
  Upstream only({"--name", "only", "--status", "502", "--record", record_file()});
  auto& gw = start_proxy(endpoint(only.port()), "",
                         "  - match: {prefix: /api}\n    upstream: {cluster: api, retries: 2}\n");
  ASSERT_TRUE(gw.ok()) << gw.error();
  auto r = fetch(gw.port(), request("GET", "/api/x"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 502);
  EXPECT_EQ(r->header("x-upstream").value_or(""), "only");    // the upstream's own answer
  EXPECT_EQ(read_record(record_file()).requests.size(), 3u);  // the first try and two retries
}

// A listening socket nobody accepts from: connects succeed, no answer ever comes.
class Sink {
 public:
  Sink() : conn_(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(conn_.fd(), reinterpret_cast<sockaddr*>(&a), sizeof a);
    listen(conn_.fd(), 64);
    socklen_t len = sizeof a;
    getsockname(conn_.fd(), reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
  }
  uint16_t port() const { return port_; }

 private:
  Conn conn_;
  uint16_t port_ = 0;
};

// A chunked body in 10-byte chunks, one every 100 ms: 10 bytes/s, `chunks` of them.
std::string trickle(int chunks) {
  return "/api/slow?chunked=1&chunk=10&body_size=" + std::to_string(chunks * 10) + "&slow=100ms";
}

TEST_F(ProxyTest, RouteTimeoutCoversTheWholeResponse) {
  // An upstream that trickles its body kept both connections for as long as it liked: the
  // route timeout now bounds the exchange to its last byte, not only to the head.
  Upstream up;
  auto& gw = start_proxy(endpoint(up.port()), "",
                         "  - match: {prefix: /api}\n    upstream: {cluster: api, timeout: 1s}\n");
  ASSERT_TRUE(gw.ok()) << gw.error();
  Conn c = connect_to(gw.port());
  ASSERT_TRUE(send_all(c, request("GET", trickle(100))));  // 10 s of body
  const auto t0 = std::chrono::steady_clock::now();
  std::string got;
  EXPECT_TRUE(read_until_eof(c, got, 4s)) << "still open after 4 s: the timeout did not cut it";
  const auto elapsed = std::chrono::steady_clock::now() - t0;
  EXPECT_LT(elapsed, 2500ms);
  EXPECT_GE(elapsed, 900ms);
  EXPECT_TRUE(got.starts_with("HTTP/1.1 200")) << visible(got.substr(0, 200));
  EXPECT_EQ(got.find("\r\n0\r\n\r\n"), std::string::npos) << "the cut response looks complete";
  EXPECT_EQ(metric(gw.admin_port(), "ringgate_upstream_timeouts_total{upstream=\"api\"}"), 1);
}

TEST_F(ProxyTest, StreamRouteBoundsStallsAndMinRateCutsATrickle) {
  // `stream: true`: the timeout bounds each stall, so a 2 s trickle outlives a 1 s timeout;
  // with min_rate, 10 bytes/s against at least 100 bytes every 500 ms is cut at the first window.
  Upstream up;
  auto& gw = start_proxy(endpoint(up.port()), "",
                         "  - match: {prefix: /api/stream}\n"
                         "    upstream: {cluster: api, timeout: 1s, stream: true}\n"
                         "  - match: {prefix: /api/rated}\n"
                         "    upstream: {cluster: api, timeout: 5s, stream: true, "
                         "min_rate: {bytes: 100, window: 500ms}}\n");
  ASSERT_TRUE(gw.ok()) << gw.error();
  std::string why;
  auto r = fetch(gw.port(), request("GET", "/api/stream" + trickle(20).substr(4)), ReadOptions{5s},
                 &why);
  ASSERT_TRUE(r) << why;
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body.size(), 200u);

  Conn c = connect_to(gw.port());
  ASSERT_TRUE(send_all(c, request("GET", "/api/rated" + trickle(100).substr(4))));
  const auto t0 = std::chrono::steady_clock::now();
  std::string got;
  EXPECT_TRUE(read_until_eof(c, got, 4s)) << "a response under min_rate was not cut";
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
  EXPECT_EQ(metric(gw.admin_port(), "ringgate_upstream_slow_responses_total{upstream=\"api\"}"), 1);
  EXPECT_EQ(metric(gw.admin_port(), "ringgate_upstream_timeouts_total{upstream=\"api\"}"), 0);
}

TEST_F(ProxyTest, TryTimeoutMovesOnToAnotherEndpoint) {
  Sink sink;
  Upstream live({"--name", "live"});
  auto& gw =
      start_proxy(endpoint(sink.port()) + ", " + endpoint(live.port()), "",
                  "  - match: {prefix: /api}\n"
                  "    upstream: {cluster: api, try_timeout: 200ms, timeout: 5s, retries: 1}\n");
  ASSERT_TRUE(gw.ok()) << gw.error();
  for (int i = 0; i < 4; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    auto r = fetch(gw.port(), request("GET", "/api/t"));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << r->raw;
    EXPECT_EQ(r->header("x-upstream").value_or(""), "live");
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
  }
  EXPECT_GE(metric(gw.admin_port(), "ringgate_upstream_timeouts_total{upstream=\"api\"}"), 1);
}

// With an empty retry budget no retry is made after an overload signal: a first try on the
// endpoint that answers 503 is answered 503.
TEST_F(ProxyTest, RetryBudgetBoundsRetries) {
  Upstream failing({"--name", "failing", "--status", "503"});
  Upstream live({"--name", "live"});
  auto& gw = start_proxy(endpoint(failing.port()) + ", " + endpoint(live.port()),
                         "    outlier: {consecutive_5xx: 0}\n"
                         "    retry_budget: {percent: 0, min_concurrent: 0}\n");
  ASSERT_TRUE(gw.ok()) << gw.error();
  int unavailable = 0;
  for (int i = 0; i < 6; ++i) {
    auto r = fetch(gw.port(), request("GET", "/api/b"));
    ASSERT_TRUE(r);
    unavailable += r->status == 503;
  }
  EXPECT_EQ(unavailable, 3);  // round robin: every other first try is on the failing endpoint
  EXPECT_EQ(metric(gw.admin_port(), "ringgate_upstream_retries_total{upstream=\"api\"}"), 0);
}

// A dead endpoint is not an overload signal: its refused connections are redispatched to the
// other endpoint even with an empty retry budget.
TEST_F(ProxyTest, RefusedConnectionsAreRedispatchedOutsideTheRetryBudget) {
  Upstream live({"--name", "live"});
  auto& gw = start_proxy(endpoint(dead_port()) + ", " + endpoint(live.port()),
                         "    outlier: {consecutive_connect_failures: 0}\n"
                         "    retry_budget: {percent: 0, min_concurrent: 0}\n");
  ASSERT_TRUE(gw.ok()) << gw.error();
  for (int i = 0; i < 6; ++i) {
    auto r = fetch(gw.port(), request("GET", "/api/b"));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << r->raw;
  }
  EXPECT_EQ(metric(gw.admin_port(), "ringgate_upstream_retries_total{upstream=\"api\"}"), 3);
}

// Each ejection of the same endpoint lasts longer: base_ejection x times ejected.
TEST_F(ProxyTest, EjectionTimeGrowsWithEachEjection) {
  Upstream failing({"--name", "failing", "--status", "503"});
  Upstream healthy({"--name", "healthy"});
  auto& gw =
      start_proxy(endpoint(failing.port()) + ", " + endpoint(healthy.port()),
                  "    outlier: {consecutive_5xx: 1, base_ejection: 300ms, max_ejection: 10s}\n");
  ASSERT_TRUE(gw.ok()) << gw.error();
  const std::string gauge =
      "ringgate_upstream_endpoint_ejected{upstream=\"api\",endpoint=\"127.0.0.1:" +
      std::to_string(failing.port()) + "\"}";
  using Clock = std::chrono::steady_clock;
  std::vector<Millis> lasted;
  bool ejected = false;
  Clock::time_point since;
  const auto deadline = Clock::now() + 8s;
  while (lasted.size() < 2 && Clock::now() < deadline) {
    // Traffic keeps coming, so the endpoint is tried (and fails) as soon as it is back.
    auto r = fetch(gw.port(), request("GET", "/api/e"));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);  // the 503 is retried on the healthy endpoint
    const bool now = metric(gw.admin_port(), gauge) == 1;
    if (now && !ejected) {
      since = Clock::now();
    } else if (!now && ejected) {
      lasted.push_back(std::chrono::duration_cast<Millis>(Clock::now() - since));
    }
    ejected = now;
    std::this_thread::sleep_for(10ms);
  }
  ASSERT_EQ(lasted.size(), 2u);
  EXPECT_GE(lasted[0], 250ms);
  EXPECT_GE(lasted[1], 550ms);  // 2 x 300 ms
  EXPECT_GT(lasted[1], lasted[0] + 150ms);
}

// An upstream that resets instead of answering: a GET is retried, a POST (which the upstream may
// have acted on) is not; both end in a 502 naming the cluster.
TEST_F(ProxyTest, ResetIsRetriedOnlyForIdempotentRequests) {
  Upstream up({"--record", record_file()});
  auto& gw = start_proxy(endpoint(up.port()), "    outlier: {consecutive_5xx: 0}\n",
                         "  - match: {prefix: /api}\n    upstream: {cluster: api, retries: 1}\n");
  ASSERT_TRUE(gw.ok()) << gw.error();
  auto get = fetch(gw.port(), request("GET", "/api/g?reset=1"));
  ASSERT_TRUE(get);
  EXPECT_EQ(get->status, 502) << get->raw;
  EXPECT_NE(get->body.find("upstream \\\"api\\\""), std::string::npos) << get->body;
  EXPECT_EQ(read_record(record_file()).requests.size(), 2u);  // the try and its retry
  auto post = fetch(gw.port(), request("POST", "/api/p?reset=1", "Content-Length: 2\r\n") + "{}");
  ASSERT_TRUE(post);
  EXPECT_EQ(post->status, 502);
  EXPECT_EQ(read_record(record_file()).requests.size(), 3u);  // no retry
  EXPECT_EQ(metric(gw.admin_port(), "ringgate_upstream_retries_total{upstream=\"api\"}"), 1);
}

}  // namespace
}  // namespace ringgate::it
