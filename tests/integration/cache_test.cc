// Response caching through the real gateway, against test_upstream recording what reaches it:
// hits after a miss, Vary, what is never stored, revalidation with ETag (304), expiry,
// coalesced misses across shards, stale-while-revalidate, stale-if-error, purge, the memory
// budget, invalidation by unsafe methods, HEAD from a GET's entry, the key's parts (the
// consumer too), aggregation (the merged answer, a backend), and hits over HTTP/2.

#include <poll.h>
#include <signal.h>

#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "proxy_fixture.h"
#include "sha256_hex.h"

namespace ringgate::it {
namespace {

const std::string kCacheLabel = "{cache=\"main\"}";

class CacheTest : public ProxyTest {
 protected:
  // A gateway with cache "main" over cluster "api", every route under /api cached with
  // `route_cache` (the route's cache: map, flow style).
  GatewayProcess& start_cached(uint16_t upstream, const std::string& route_cache = "{use: main}",
                               const std::string& cache =
                                   "{memory: 4MiB, max_object: 256KiB, "
                                   "debug_header: true}",
                               unsigned workers = 1) {
    ConfigSpec spec;
    spec.workers = workers;
    spec.sections = "caches:\n  main: " + cache + "\n";
    return start_proxy(
        endpoint(upstream), "",
        "  - match: {prefix: /api}\n    upstream: api\n    cache: " + route_cache + "\n", spec);
  }
  // A gateway with cache "main" (debug header on) and one route, `/page/{id}`, whose other
  // lines (an aggregate action over cluster "api") are `route_lines`.
  GatewayProcess& start_page(uint16_t upstream, const std::string& route_lines) {
    ConfigSpec spec;
    spec.sections = "caches:\n  main: {memory: 4MiB, debug_header: true}\n";
    spec.upstreams = "  api:\n    endpoints: [" + endpoint(upstream) + "]\n";
    spec.routes = "  - match: {path: \"/page/{id}\"}\n" + route_lines;
    return start(spec);
  }
  size_t upstream_requests() { return read_record(record_file()).requests.size(); }
  double cache_metric(GatewayProcess& gw, const std::string& name) {
    return metric(gw.admin_port(), "ringgate_cache_" + name + kCacheLabel);
  }
  static std::optional<Response> get(GatewayProcess& gw, const std::string& target,
                                     const std::string& extra = "") {
    return fetch(gw.port(), request("GET", target, extra));
  }
};

TEST_F(CacheTest, ASecondRequestIsAnsweredFromTheCache) {
  Upstream up({"--record", record_file()});
  auto& gw = start_cached(up.port());
  ASSERT_TRUE(gw.ok()) << gw.error();
  const std::string target = "/api/items?header=Cache-Control:max-age%3D60";
  auto first = get(gw, target);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->status, 200);
  EXPECT_EQ(first->header("ringgate-cache").value_or(""), "miss");
  auto second = get(gw, target);
  ASSERT_TRUE(second);
  EXPECT_EQ(second->status, 200);
  EXPECT_EQ(second->header("ringgate-cache").value_or(""), "hit") << second->raw;
  EXPECT_EQ(second->body, first->body);  // the same upstream answer ("n" counts requests)
  EXPECT_TRUE(second->has("age"));
  EXPECT_TRUE(second->has("date"));
  EXPECT_EQ(second->header("content-type").value_or(""), "application/json");
  EXPECT_EQ(second->header("cache-control").value_or(""), "max-age=60");
  EXPECT_EQ(upstream_requests(), 1u);
  // Another query string is another resource.
  auto other = get(gw, target + "&x=1");
  ASSERT_TRUE(other);
  EXPECT_EQ(other->header("ringgate-cache").value_or(""), "miss");
  EXPECT_EQ(upstream_requests(), 2u);
  EXPECT_EQ(cache_metric(gw, "hits_total"), 1);
  EXPECT_EQ(cache_metric(gw, "misses_total"), 2);
  EXPECT_EQ(cache_metric(gw, "objects"), 2);
  EXPECT_GT(cache_metric(gw, "bytes"), 0);
}

TEST_F(CacheTest, LargeBodiesAndHeadRequestsAreServedFromTheStoredResponse) {
  Upstream up({"--record", record_file()});
  auto& gw = start_cached(up.port());
  ASSERT_TRUE(gw.ok()) << gw.error();
  const std::string target = "/api/big?body_size=200000&header=Cache-Control:max-age%3D60";
  auto first = get(gw, target);
  ASSERT_TRUE(first);
  ASSERT_EQ(first->body.size(), 200000u);
  // Pipelined on one connection: both from the stored entry, which the output points into.
  Conn c = connect_to(gw.port());
  ASSERT_TRUE(send_all(c, request("GET", target) + request("GET", target)));
  for (int i = 0; i < 2; ++i) {
    auto r = read_response(c);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->header("ringgate-cache").value_or(""), "hit");
    EXPECT_EQ(r->body, first->body);
  }
  ReadOptions head;
  head.head_request = true;
  auto h = fetch(gw.port(), request("HEAD", target), head);
  ASSERT_TRUE(h);
  EXPECT_EQ(h->header("ringgate-cache").value_or(""), "hit");
  EXPECT_EQ(h->header("content-length").value_or(""), "200000");
  EXPECT_EQ(upstream_requests(), 1u);
}

TEST_F(CacheTest, VaryKeepsOneResponsePerVariant) {
  Upstream up({"--record", record_file()});
  auto& gw = start_cached(up.port());
  ASSERT_TRUE(gw.ok()) << gw.error();
  const std::string target =
      "/api/greeting?header=Cache-Control:max-age%3D60"
      "&header=Vary:Accept-Language";
  auto en = get(gw, target, "Accept-Language: en\r\n");
  auto fr = get(gw, target, "Accept-Language: fr\r\n");
  ASSERT_TRUE(en && fr);
  EXPECT_NE(en->body, fr->body);  // two upstream answers
  auto en2 = get(gw, target, "Accept-Language: en\r\n");
  auto fr2 = get(gw, target, "Accept-Language: fr\r\n");
  ASSERT_TRUE(en2 && fr2);
  EXPECT_EQ(en2->header("ringgate-cache").value_or(""), "hit");
  EXPECT_EQ(fr2->header("ringgate-cache").value_or(""), "hit");
  EXPECT_EQ(en2->body, en->body);
  EXPECT_EQ(fr2->body, fr->body);
  EXPECT_EQ(upstream_requests(), 2u);
  // Vary: * is never stored.
  const std::string star = "/api/star?header=Cache-Control:max-age%3D60&header=Vary:*";
  ASSERT_TRUE(get(gw, star));
  auto again = get(gw, star);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->header("ringgate-cache").value_or(""), "miss");
  EXPECT_EQ(upstream_requests(), 4u);
}

TEST_F(CacheTest, NoStorePrivateSetCookieAndAuthorizationAreNotCached) {
  Upstream up({"--record", record_file()});
  auto& gw = start_cached(up.port());
  ASSERT_TRUE(gw.ok()) << gw.error();
  const std::string never[] = {
      "/api/a?header=Cache-Control:no-store", "/api/b?header=Cache-Control:private,max-age%3D60",
      "/api/c?header=Cache-Control:max-age%3D60&header=Set-Cookie:s%3D1",
      "/api/d",  // no freshness at all, and no default_ttl
  };
  size_t expected = 0;
  for (const std::string& target : never) {
    for (int i = 0; i < 2; ++i) {
      auto r = get(gw, target);
      ASSERT_TRUE(r);
      EXPECT_EQ(r->status, 200);
      EXPECT_EQ(r->header("ringgate-cache").value_or(""), "miss") << target;
      EXPECT_EQ(upstream_requests(), ++expected) << target;
    }
  }
  // A request with credentials neither reads nor fills the cache.
  const std::string shared = "/api/e?header=Cache-Control:max-age%3D60";
  for (int i = 0; i < 2; ++i) {
    auto r = get(gw, shared, "Authorization: Bearer abc\r\n");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->header("ringgate-cache").value_or(""), "bypass");
  }
  auto r = get(gw, shared);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->header("ringgate-cache").value_or(""), "miss");
  EXPECT_EQ(upstream_requests(), expected + 3);
  EXPECT_EQ(cache_metric(gw, "uncacheable_total"), 8);
  EXPECT_EQ(cache_metric(gw, "bypass_total"), 2);
}

TEST_F(CacheTest, TheRouteCanCacheSetCookieAndAuthorizationWhenItSaysSo) {
  Upstream up({"--record", record_file()});
  auto& gw = start_cached(up.port(), "{use: main, set_cookie: true, authorization: true}");
  ASSERT_TRUE(gw.ok()) << gw.error();
  const std::string target = "/api/c?header=Cache-Control:max-age%3D60&header=Set-Cookie:s%3D1";
  ASSERT_TRUE(get(gw, target, "Authorization: Bearer abc\r\n"));
  auto r = get(gw, target, "Authorization: Bearer abc\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->header("ringgate-cache").value_or(""), "hit");
  EXPECT_EQ(upstream_requests(), 1u);
}

TEST_F(CacheTest, AStaleResponseWithAnETagIsRevalidatedAndA304RefreshesIt) {
  Upstream up({"--record", record_file()});
  auto& gw = start_cached(up.port());
  ASSERT_TRUE(gw.ok()) << gw.error();
  const std::string target = "/api/doc?header=Cache-Control:max-age%3D1&etag=v7";
  auto first = get(gw, target);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->header("etag").value_or(""), "\"v7\"");
  std::this_thread::sleep_for(2100ms);
  auto second = get(gw, target);
  ASSERT_TRUE(second);
  EXPECT_EQ(second->status, 200);  // the client asked unconditionally: it gets the body
  EXPECT_EQ(second->header("ringgate-cache").value_or(""), "revalidated") << second->raw;
  EXPECT_EQ(second->body, first->body);
  Recorded rec = read_record(record_file());
  ASSERT_EQ(rec.requests.size(), 2u);
  EXPECT_NE(rec.requests[1].find("If-None-Match: \"v7\"\r\n"), std::string::npos)
      << rec.requests[1];
  // Fresh again: a hit, no third request.
  auto third = get(gw, target);
  ASSERT_TRUE(third);
  EXPECT_EQ(third->header("ringgate-cache").value_or(""), "hit");
  EXPECT_EQ(upstream_requests(), 2u);
  EXPECT_EQ(cache_metric(gw, "revalidated_total"), 1);
  // A client's own conditional request is the client's: passed on, its 304 passed back.
  auto conditional =
      get(gw, "/api/doc2?header=Cache-Control:max-age%3D60&etag=v1", "If-None-Match: \"v1\"\r\n");
  ASSERT_TRUE(conditional);
  EXPECT_EQ(conditional->status, 304);
}

TEST_F(CacheTest, AClientsConditionalRequestIsAnswered304FromTheStoredResponse) {
  Upstream up({"--record", record_file()});
  auto& gw = start_cached(up.port());
  ASSERT_TRUE(gw.ok()) << gw.error();
  const std::string target =
      "/api/img?header=Cache-Control:max-age%3D60&etag=i9"
      "&header=Last-Modified:Sun,%2006%20Nov%201994%2008:49:37%20GMT";
  auto first = get(gw, target);
  ASSERT_TRUE(first);
  for (const char* extra :
       {"If-None-Match: \"i9\"\r\n", "If-None-Match: \"x\", W/\"i9\"\r\n", "If-None-Match: *\r\n",
        "If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n"}) {
    auto r = get(gw, target, extra);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 304) << extra << r->raw;
    EXPECT_EQ(r->header("etag").value_or(""), "\"i9\"");
    EXPECT_EQ(r->header("cache-control").value_or(""), "max-age=60");
    EXPECT_TRUE(r->body.empty());
    EXPECT_FALSE(r->has("content-length"));
    EXPECT_EQ(r->header("ringgate-cache").value_or(""), "hit");
  }
  // Another tag, or an older date: the stored response itself.
  for (const char* extra :
       {"If-None-Match: \"i8\"\r\n", "If-Modified-Since: Sat, 05 Nov 1994 08:49:37 GMT\r\n"}) {
    auto r = get(gw, target, extra);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << extra;
    EXPECT_EQ(r->body, first->body);
  }
  EXPECT_EQ(upstream_requests(), 1u);
}

TEST_F(CacheTest, AnExpiredResponseWithoutValidatorsIsFetchedAgain) {
  Upstream up({"--record", record_file()});
  auto& gw = start_cached(up.port());
  ASSERT_TRUE(gw.ok()) << gw.error();
  const std::string target = "/api/short?header=Cache-Control:max-age%3D1";
  auto first = get(gw, target);
  auto hit = get(gw, target);
  ASSERT_TRUE(first && hit);
  EXPECT_EQ(hit->header("ringgate-cache").value_or(""), "hit");
  std::this_thread::sleep_for(2100ms);
  auto after = get(gw, target);
  ASSERT_TRUE(after);
  EXPECT_EQ(after->header("ringgate-cache").value_or(""), "miss");
  EXPECT_NE(after->body, first->body);
  EXPECT_EQ(upstream_requests(), 2u);
}

TEST_F(CacheTest, ConcurrentMissesOnTwoShardsMakeOneUpstreamRequest) {
  raise_fd_limit();
  Upstream up({"--record", record_file()});
  auto& gw = start_cached(up.port(), "{use: main}",
                          "{memory: 4MiB, max_object: 256KiB, debug_header: true}", 2);
  ASSERT_TRUE(gw.ok()) << gw.error();
  // The upstream takes 1 s to answer: every request below arrives while the first is out.
  const std::string raw = request("GET", "/api/popular?delay=1s&header=Cache-Control:max-age%3D60");
  constexpr int kClients = 1000;
  std::vector<Conn> conns;
  conns.reserve(kClients);
  for (int i = 0; i < kClients; ++i) {
    conns.push_back(connect_to(gw.port()));
    ASSERT_TRUE(conns.back().valid()) << i;
    ASSERT_TRUE(send_all(conns.back(), raw));
  }
  std::string body;
  int ok = 0;
  for (Conn& c : conns) {
    auto r = read_response(c, {.timeout = 10s});
    if (r && r->status == 200) {
      ++ok;
      if (body.empty()) {
        body = r->body;
      }
      EXPECT_EQ(r->body, body);
    }
  }
  EXPECT_EQ(ok, kClients);
  EXPECT_EQ(upstream_requests(), 1u);
  EXPECT_GT(cache_metric(gw, "coalesced_waits_total"), 0);
  EXPECT_EQ(cache_metric(gw, "misses_total"), 1);
}

TEST_F(CacheTest, WaitersGoUpstreamThemselvesAfterTheLockTimeout) {
  Upstream up({"--record", record_file()});
  auto& gw = start_cached(up.port(), "{use: main, lock_timeout: 200ms}");
  ASSERT_TRUE(gw.ok()) << gw.error();
  const std::string raw = request("GET", "/api/slow?delay=1s&header=Cache-Control:max-age%3D60");
  Conn first = connect_to(gw.port());
  ASSERT_TRUE(send_all(first, raw));
  std::this_thread::sleep_for(100ms);  // the first one holds the fill
  std::vector<Conn> waiters;
  for (int i = 0; i < 2; ++i) {
    waiters.push_back(connect_to(gw.port()));
    ASSERT_TRUE(send_all(waiters.back(), raw));
  }
  // They waited 200 ms, not the first one's whole second, then asked the upstream themselves.
  wait_metric(gw.admin_port(), "ringgate_cache_misses_total" + kCacheLabel,
              [](double v) { return v >= 3; });
  EXPECT_EQ(cache_metric(gw, "coalesced_waits_total"), 2);
  for (Conn& c : waiters) {
    auto r = read_response(c);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
  }
  ASSERT_TRUE(read_response(first));
  EXPECT_EQ(upstream_requests(), 3u);
  EXPECT_EQ(cache_metric(gw, "misses_total"), 3);
}

TEST_F(CacheTest, WaitersForAnUncacheableResponseAreNotSentOneAtATime) {
  Upstream up({"--record", record_file()});
  auto& gw = start_cached(up.port());
  ASSERT_TRUE(gw.ok()) << gw.error();
  const std::string raw = request("GET", "/api/live?delay=400ms&header=Cache-Control:no-store");
  std::vector<Conn> conns;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 8; ++i) {
    conns.push_back(connect_to(gw.port()));
    ASSERT_TRUE(send_all(conns.back(), raw));
  }
  for (Conn& c : conns) {
    auto r = read_response(c);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
  }
  // One waits for the first answer, then the rest go together: two rounds, not eight.
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
  EXPECT_EQ(upstream_requests(), 8u);
}

TEST_F(CacheTest, StaleWhileRevalidateServesTheStaleCopyAndRefreshesItOnceInTheBackground) {
  Upstream up({"--record", record_file()});
  auto& gw = start_cached(up.port(), "{use: main, stale_while_revalidate: 30s}");
  ASSERT_TRUE(gw.ok()) << gw.error();
  // The upstream takes 300 ms: a stale answer that waited for it would show.
  const std::string target = "/api/feed?delay=300ms&header=Cache-Control:max-age%3D1&etag=f1";
  auto first = get(gw, target);
  ASSERT_TRUE(first);
  std::this_thread::sleep_for(1100ms);
  for (int i = 0; i < 5; ++i) {
    const auto start = std::chrono::steady_clock::now();
    auto r = get(gw, target);
    ASSERT_TRUE(r);
    EXPECT_LT(std::chrono::steady_clock::now() - start, 250ms);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->header("ringgate-cache").value_or(""), "stale") << r->raw;
    EXPECT_EQ(r->body, first->body);
  }
  // One refresh for all five, conditional on the stored ETag; its 304 makes the copy fresh.
  std::this_thread::sleep_for(600ms);
  Recorded rec = read_record(record_file());
  ASSERT_EQ(rec.requests.size(), 2u);
  EXPECT_NE(rec.requests[1].find("If-None-Match: \"f1\"\r\n"), std::string::npos)
      << rec.requests[1];
  auto after = get(gw, target);
  ASSERT_TRUE(after);
  EXPECT_EQ(after->header("ringgate-cache").value_or(""), "hit");
  EXPECT_EQ(after->body, first->body);
  EXPECT_EQ(upstream_requests(), 2u);
  EXPECT_EQ(cache_metric(gw, "stale_served_total"), 5);
  EXPECT_EQ(cache_metric(gw, "revalidated_total"), 1);
}

TEST_F(CacheTest, ABackgroundRefreshStoresTheNewResponse) {
  Upstream up({"--record", record_file()});
  auto& gw = start_cached(up.port(), "{use: main, stale_while_revalidate: 30s}");
  ASSERT_TRUE(gw.ok()) << gw.error();
  const std::string target = "/api/news?header=Cache-Control:max-age%3D1";  // no validator
  auto first = get(gw, target);
  ASSERT_TRUE(first);
  std::this_thread::sleep_for(1100ms);
  auto stale = get(gw, target);
  ASSERT_TRUE(stale);
  EXPECT_EQ(stale->header("ringgate-cache").value_or(""), "stale");
  EXPECT_EQ(stale->body, first->body);
  std::this_thread::sleep_for(300ms);
  auto fresh = get(gw, target);
  ASSERT_TRUE(fresh);
  EXPECT_EQ(fresh->header("ringgate-cache").value_or(""), "hit");
  EXPECT_NE(fresh->body, first->body);  // the refresh's answer ("n" is 2)
  EXPECT_EQ(upstream_requests(), 2u);
}

TEST_F(CacheTest, AStaleResponseStandsInWhenTheUpstreamFails) {
  auto up = std::make_unique<Upstream>(std::vector<std::string>{"--record", record_file()});
  auto& gw = start_cached(up->port(), "{use: main, stale_if_error: 1m}");
  ASSERT_TRUE(gw.ok()) << gw.error();
  const std::string target = "/api/menu?header=Cache-Control:max-age%3D1";
  auto first = get(gw, target);
  ASSERT_TRUE(first);
  std::this_thread::sleep_for(2100ms);
  up->kill_now();  // refused connections from here
  auto stale = get(gw, target);
  ASSERT_TRUE(stale);
  EXPECT_EQ(stale->status, 200) << stale->raw;
  EXPECT_EQ(stale->header("ringgate-cache").value_or(""), "stale");
  EXPECT_EQ(stale->body, first->body);
  EXPECT_GE(std::stoi(stale->header("age").value_or("0")), 2);
  // Nothing stored for this one: the failure is the answer.
  auto none = get(gw, "/api/other");
  ASSERT_TRUE(none);
  EXPECT_EQ(none->status, 502);
  EXPECT_EQ(cache_metric(gw, "stale_served_total"), 1);
}

TEST_F(CacheTest, AStaleResponseStandsInForA5xxButNotPastItsWindow) {
  Upstream up({"--record", record_file()});
  // Only `id` is in the key: `status=503` asks the same resource of a failing upstream.
  auto& gw = start_cached(up.port(), "{use: main, stale_if_error: 2s, key: {query: [id]}}");
  ASSERT_TRUE(gw.ok()) << gw.error();
  const std::string target = "/api/x?id=1&header=Cache-Control:max-age%3D1";
  auto first = get(gw, target);
  ASSERT_TRUE(first);
  std::this_thread::sleep_for(1100ms);
  auto stale = get(gw, target + "&status=503");
  ASSERT_TRUE(stale);
  EXPECT_EQ(stale->status, 200) << stale->raw;
  EXPECT_EQ(stale->header("ringgate-cache").value_or(""), "stale");
  EXPECT_EQ(stale->body, first->body);
  std::this_thread::sleep_for(2100ms);
  // Past max-age + stale_if_error the upstream's answer is the answer again.
  auto failed = get(gw, target + "&status=503");
  ASSERT_TRUE(failed);
  EXPECT_EQ(failed->status, 503);
  EXPECT_EQ(failed->header("ringgate-cache").value_or(""), "miss");
}

TEST_F(CacheTest, PurgeByPrefixAndByTagOnTheAdminListener) {
  Upstream up({"--record", record_file()});
  auto& gw = start_cached(up.port());
  ASSERT_TRUE(gw.ok()) << gw.error();
  const std::string a = "/api/products/1?header=Cache-Control:max-age%3D60&header=Cache-Tag:p1,all";
  const std::string b = "/api/products/2?header=Cache-Control:max-age%3D60&header=Surrogate-Key:p2";
  const std::string c = "/api/users/1?header=Cache-Control:max-age%3D60";
  for (const std::string& t : {a, b, c}) {
    ASSERT_TRUE(get(gw, t));
  }
  EXPECT_EQ(upstream_requests(), 3u);
  auto purge = fetch(gw.admin_port(),
                     request("POST", "/cache/main/purge?tag=p2", "Content-Length: 0\r\n", "admin"));
  ASSERT_TRUE(purge);
  EXPECT_EQ(purge->status, 200) << purge->raw;
  EXPECT_EQ(purge->body, "{\"cache\":\"main\",\"purged\":1}\n");
  EXPECT_EQ(get(gw, b)->header("ringgate-cache").value_or(""), "miss");
  EXPECT_EQ(get(gw, a)->header("ringgate-cache").value_or(""), "hit");
  purge = fetch(gw.admin_port(), request("POST", "/cache/main/purge?prefix=/api/products/",
                                         "Content-Length: 0\r\n", "admin"));
  ASSERT_TRUE(purge);
  EXPECT_EQ(purge->body, "{\"cache\":\"main\",\"purged\":2}\n");
  EXPECT_EQ(get(gw, a)->header("ringgate-cache").value_or(""), "miss");
  EXPECT_EQ(get(gw, c)->header("ringgate-cache").value_or(""), "hit");
  EXPECT_EQ(cache_metric(gw, "purged_total"), 3);
  // Refusals: no such cache, neither selector, the wrong method.
  auto bad = fetch(gw.admin_port(),
                   request("POST", "/cache/nope/purge?tag=x", "Content-Length: 0\r\n", "admin"));
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 404);
  bad = fetch(gw.admin_port(),
              request("POST", "/cache/main/purge", "Content-Length: 0\r\n", "admin"));
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  bad = fetch(gw.admin_port(), request("GET", "/cache/main/purge?tag=x", "", "admin"));
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 405);
}

TEST_F(CacheTest, MemoryStaysWithinTheBudgetWhileTenTimesItIsRequested) {
  Upstream up;
  auto& gw = start_cached(up.port(), "{use: main}", "{memory: 1MiB, max_object: 64KiB}");
  ASSERT_TRUE(gw.ok()) << gw.error();
  // 500 distinct keys of ~20 KB: 10 MB asked of a 1 MiB cache, each key twice so that the
  // admission filter lets them in.
  double peak = 0;
  for (int i = 0; i < 500; ++i) {
    const std::string t =
        "/api/k" + std::to_string(i) + "?body_size=20000&header=Cache-Control:max-age%3D60";
    for (int k = 0; k < 2; ++k) {
      auto r = get(gw, t);
      ASSERT_TRUE(r);
      ASSERT_EQ(r->body.size(), 20000u);
    }
    if (i % 50 == 49) {
      peak = std::max(peak, cache_metric(gw, "bytes"));
    }
  }
  EXPECT_LE(peak, 1.05 * 1024 * 1024);
  EXPECT_GT(peak, 0.5 * 1024 * 1024);  // and it is used
  EXPECT_GT(cache_metric(gw, "evictions_total"), 0);
}

TEST_F(CacheTest, ObjectsLargerThanMaxObjectPassThroughUncached) {
  Upstream up({"--record", record_file()});
  auto& gw = start_cached(up.port(), "{use: main}", "{memory: 1MiB, max_object: 10KiB}");
  ASSERT_TRUE(gw.ok()) << gw.error();
  for (const std::string t :
       {"/api/l?body_size=20000&header=Cache-Control:max-age%3D60",
        "/api/l?body_size=20000&chunked=1&header=Cache-Control:max-age%3D60"}) {
    for (int i = 0; i < 2; ++i) {
      auto r = get(gw, t);
      ASSERT_TRUE(r);
      EXPECT_EQ(r->body.size(), 20000u);
    }
  }
  EXPECT_EQ(upstream_requests(), 4u);
}

TEST_F(CacheTest, AChunkedResponseIsStoredWhole) {
  Upstream up({"--record", record_file()});
  auto& gw = start_cached(up.port());
  ASSERT_TRUE(gw.ok()) << gw.error();
  const std::string t =
      "/api/ch?body_size=5000&chunked=1&chunk=700&header=Cache-Control:max-age%3D60";
  auto first = get(gw, t);
  auto hit = get(gw, t);
  ASSERT_TRUE(first && hit);
  EXPECT_EQ(hit->header("ringgate-cache").value_or(""), "hit");
  EXPECT_EQ(hit->header("content-length").value_or(""), "5000");
  EXPECT_FALSE(hit->has("transfer-encoding"));
  EXPECT_EQ(hit->body, first->body);
  EXPECT_EQ(upstream_requests(), 1u);
}

TEST_F(CacheTest, ASuccessfulUnsafeRequestInvalidatesTheStoredResponse) {
  Upstream up({"--record", record_file()});
  auto& gw = start_cached(up.port());
  ASSERT_TRUE(gw.ok()) << gw.error();
  const std::string t = "/api/cart?header=Cache-Control:max-age%3D60";
  ASSERT_TRUE(get(gw, t));
  EXPECT_EQ(get(gw, t)->header("ringgate-cache").value_or(""), "hit");
  auto post = fetch(gw.port(), request("POST", t, "Content-Length: 2\r\n") + "{}");
  ASSERT_TRUE(post);
  EXPECT_EQ(post->status, 200);
  EXPECT_EQ(post->header("ringgate-cache").value_or(""), "bypass");
  EXPECT_EQ(get(gw, t)->header("ringgate-cache").value_or(""), "miss");
  EXPECT_EQ(upstream_requests(), 3u);
}

TEST_F(CacheTest, TheKeyHoldsOnlyTheQueryParametersAndHeadersTheRouteNames) {
  Upstream up({"--record", record_file()});
  auto& gw = start_cached(
      up.port(), "{use: main, default_ttl: 60s, key: {query: [page], headers: [X-Tenant]}}");
  ASSERT_TRUE(gw.ok()) << gw.error();
  // No freshness in the response: default_ttl applies.
  ASSERT_TRUE(get(gw, "/api/list?page=1&utm=a", "X-Tenant: t1\r\n"));
  EXPECT_EQ(
      get(gw, "/api/list?utm=b&page=1", "X-Tenant: t1\r\n")->header("ringgate-cache").value_or(""),
      "hit");
  EXPECT_EQ(get(gw, "/api/list?page=2", "X-Tenant: t1\r\n")->header("ringgate-cache").value_or(""),
            "miss");
  EXPECT_EQ(get(gw, "/api/list?page=1", "X-Tenant: t2\r\n")->header("ringgate-cache").value_or(""),
            "miss");
  EXPECT_EQ(upstream_requests(), 3u);
}

TEST_F(CacheTest, AnAggregateRoutesMergedResponseIsCachedForItsMostRestrictiveBackend) {
  Upstream up({"--record", record_file()});
  auto& gw = start_page(up.port(),
                        "    cache: {use: main}\n"
                        "    aggregate:\n"
                        "      backends:\n"
                        "        - {key: a, upstream: api, path: \"/a/{id}\", query: {header: "
                        "\"Cache-Control:max-age=60\"}}\n"
                        "        - {key: b, upstream: api, path: \"/b/{id}\", query: {header: "
                        "\"Cache-Control:max-age=1\"}}\n");
  ASSERT_TRUE(gw.ok()) << gw.error();
  auto first = get(gw, "/page/7");
  ASSERT_TRUE(first);
  EXPECT_EQ(first->status, 200) << first->raw;
  EXPECT_EQ(first->header("cache-control").value_or(""), "max-age=1");
  auto second = get(gw, "/page/7");
  ASSERT_TRUE(second);
  EXPECT_EQ(second->header("ringgate-cache").value_or(""), "hit");
  EXPECT_EQ(second->body, first->body);
  EXPECT_EQ(upstream_requests(), 2u);  // one call per backend, once
  // Fresh only as long as its least fresh part.
  std::this_thread::sleep_for(1100ms);
  auto third = get(gw, "/page/7");
  ASSERT_TRUE(third);
  EXPECT_EQ(third->header("ringgate-cache").value_or(""), "miss");
  EXPECT_EQ(upstream_requests(), 4u);
}

TEST_F(CacheTest, ACachedBackendIsServedFromTheCacheAndItsStaleCopyStandsInForItsFailure) {
  auto up = std::make_unique<Upstream>(std::vector<std::string>{"--record", record_file()});
  auto& gw =
      start_page(up->port(),
                 "    aggregate:\n"
                 "      backends:\n"
                 "        - {key: product, upstream: api, path: \"/catalog/{id}\",\n"
                 "           query: {header: \"Cache-Control:max-age=1\"},\n"
                 "           cache: {use: main, stale_if_error: 1m}}\n"
                 "        - {key: stock, upstream: api, path: \"/stock/{id}\", optional: true,\n"
                 "           default: 0}\n");
  ASSERT_TRUE(gw.ok()) << gw.error();
  auto first = get(gw, "/page/7");
  ASSERT_TRUE(first);
  ASSERT_EQ(first->status, 200) << first->raw;
  auto second = get(gw, "/page/7");
  ASSERT_TRUE(second);
  Recorded rec = read_record(record_file());
  ASSERT_EQ(rec.requests.size(), 3u);  // the product once, the stock twice
  EXPECT_EQ(rec.requests[2].find("GET /catalog/"), std::string::npos) << rec.requests[2];
  const auto product = [](const std::string& body) {
    return body.substr(0, body.find("},\"stock\""));
  };
  EXPECT_EQ(product(second->body), product(first->body));
  EXPECT_EQ(cache_metric(gw, "hits_total"), 1);
  // Another id is another response.
  ASSERT_TRUE(get(gw, "/page/8"));
  EXPECT_EQ(upstream_requests(), 5u);
  // The upstream is gone and the stored product is stale: it stands in for the failed call
  // (the stock, not cached, gets its default).
  std::this_thread::sleep_for(1100ms);
  up->kill_now();
  auto stale = get(gw, "/page/7");
  ASSERT_TRUE(stale);
  EXPECT_EQ(stale->status, 200) << stale->raw;
  EXPECT_EQ(product(stale->body), product(first->body));
  EXPECT_EQ(stale->header("ringgate-partial").value_or(""), "stock");
  EXPECT_EQ(cache_metric(gw, "stale_served_total"), 1);
}

TEST_F(CacheTest, ACachedAggregationWithACachedBackendInsideIt) {
  Upstream up({"--record", record_file()});
  auto& gw =
      start_page(up.port(),
                 "    cache: {use: main}\n"
                 "    aggregate:\n"
                 "      backends:\n"
                 "        - {key: a, upstream: api, path: \"/a/{id}\",\n"
                 "           query: {header: \"Cache-Control:max-age=60\"}, cache: {use: main}}\n"
                 "        - {key: b, upstream: api, path: \"/b/{id}\",\n"
                 "           query: {header: \"Cache-Control:max-age=1\"}}\n");
  ASSERT_TRUE(gw.ok()) << gw.error();
  auto first = get(gw, "/page/3");
  ASSERT_TRUE(first);
  EXPECT_EQ(get(gw, "/page/3")->header("ringgate-cache").value_or(""), "hit");
  EXPECT_EQ(upstream_requests(), 2u);
  // The merged answer expires with b; a is still fresh in its own entry: only b is called.
  std::this_thread::sleep_for(1100ms);
  auto again = get(gw, "/page/3");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->header("ringgate-cache").value_or(""), "miss");
  Recorded rec = read_record(record_file());
  ASSERT_EQ(rec.requests.size(), 3u);
  EXPECT_EQ(rec.requests[2].rfind("GET /b/3", 0), 0u) << rec.requests[2];
  const auto part_a = [](const std::string& body) { return body.substr(0, body.find("},")); };
  EXPECT_EQ(part_a(again->body), part_a(first->body));
  // The merged answer's lifetime is what a's entry has left and b's own: at most 1 s.
  EXPECT_EQ(again->header("cache-control").value_or(""), "max-age=1");
}

TEST_F(CacheTest, AReloadKeepsACacheOfTheSameNameWithWhatItHolds) {
  Upstream up({"--record", record_file()});
  auto& gw = start_cached(up.port());
  ASSERT_TRUE(gw.ok()) << gw.error();
  const std::string target = "/api/kept?header=Cache-Control:max-age%3D60";
  auto first = get(gw, target);
  ASSERT_TRUE(first);
  // The same cache with a larger budget: a new generation, the same store.
  std::ifstream in(gw.config_path());
  std::string yaml((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t at = yaml.find("memory: 4MiB");
  ASSERT_NE(at, std::string::npos) << yaml;
  yaml.replace(at, 12, "memory: 8MiB");
  std::ofstream(gw.config_path(), std::ios::trunc) << yaml;
  gw.signal(SIGHUP);
  EXPECT_EQ(
      wait_metric(gw.admin_port(), "ringgate_config_generation", [](double v) { return v >= 2; }),
      2);
  auto after = get(gw, target);
  ASSERT_TRUE(after);
  EXPECT_EQ(after->header("ringgate-cache").value_or(""), "hit") << gw.log();
  EXPECT_EQ(after->body, first->body);
  EXPECT_EQ(cache_metric(gw, "memory_bytes"), 8 << 20);
  EXPECT_EQ(upstream_requests(), 1u);
}

TEST_F(CacheTest, HitsOverHttp2) {
  if (run_command({"curl", "--version"}).exit_code != 0) {
    GTEST_SKIP() << "curl not installed";
  }
  Upstream up({"--record", record_file()});
  auto& gw = start_cached(up.port());
  ASSERT_TRUE(gw.ok()) << gw.error();
  const std::string url = "http://127.0.0.1:" + std::to_string(gw.port()) +
                          "/api/h2?body_size=50000&header=Cache-Control:max-age%3D60";
  for (int i = 0; i < 2; ++i) {
    auto r = run_command({"curl", "-s", "--http2-prior-knowledge", "-D", "-", "-o", "/dev/null",
                          "-w", "%{size_download}", url});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("HTTP/2 200"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find(i == 0 ? "ringgate-cache: miss" : "ringgate-cache: hit"),
              std::string::npos)
        << r.out;
    EXPECT_NE(r.out.find("50000"), std::string::npos) << r.out;
  }
  EXPECT_EQ(upstream_requests(), 1u);
}

TEST_F(CacheTest, TheConsumerIsPartOfTheKeyWhenTheRouteSaysSo) {
  std::string keys = "# digest consumer\n";
  keys += sha256_hex("key-acme") + " acme\n" + sha256_hex("key-acme-2") + " acme\n" +
          sha256_hex("key-globex") + " globex\n";
  dir_.write("keys.txt", keys);
  Upstream up({"--record", record_file()});
  ConfigSpec spec;
  spec.sections = "auth:\n  api_keys:\n    partners:\n      file: \"" + dir_.path() +
                  "/keys.txt\"\ncaches:\n  main: {memory: 4MiB, debug_header: true}\n";
  auto& gw = start_proxy(endpoint(up.port()), "",
                         "  - match: {prefix: /partner}\n"
                         "    auth: {api_key: partners}\n"
                         "    cache: {use: main, key: {consumer: true}}\n"
                         "    upstream: api\n",
                         spec);
  ASSERT_TRUE(gw.ok()) << gw.error();
  const std::string target = "/partner/orders?header=Cache-Control:max-age%3D60";
  auto acme = get(gw, target, "X-API-Key: key-acme\r\n");
  auto globex = get(gw, target, "X-API-Key: key-globex\r\n");
  ASSERT_TRUE(acme && globex);
  EXPECT_EQ(globex->header("ringgate-cache").value_or(""), "miss");  // not acme's answer
  EXPECT_NE(globex->body, acme->body);
  // The same consumer with another of its keys, and with a bearer token beside it: a hit.
  auto again = get(gw, target, "X-API-Key: key-acme-2\r\nAuthorization: Bearer x\r\n");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->header("ringgate-cache").value_or(""), "hit");
  EXPECT_EQ(again->body, acme->body);
  EXPECT_EQ(upstream_requests(), 2u);
}

}  // namespace
}  // namespace ringgate::it
