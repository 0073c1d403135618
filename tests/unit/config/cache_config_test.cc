// `caches:` and the `cache:` of routes and aggregate backends: what loads, and what is refused
// with its position.

#include <string>

#include "config_test_util.h"

namespace ringgate::config_test {
namespace {

// Lines 1-6: a server, cluster a, cache main, `routes:`.
#define CACHE_HEAD                                                                       \
  "server: {listen: \"127.0.0.1:0\"}\nupstreams:\n  a: {endpoints: [\"127.0.0.1:1\"]}\n" \
  "caches:\n  main: {memory: 64MiB, max_object: 2MiB}\nroutes:\n"

TEST(CacheConfig, ARouteCacheWithEveryOption) {
  const Config c = load_config_string(
      CACHE_HEAD
      "  - match: {prefix: /p}\n    upstream: a\n"
      "    cache: {use: main, key: {query: [page, sort], headers: [Accept-Language]},\n"
      "            default_ttl: 10s, stale_while_revalidate: 30s, stale_if_error: 5m,\n"
      "            lock_timeout: 2s, authorization: true, set_cookie: true, debug_header: true}\n",
      "t.yaml");
  ASSERT_EQ(c.caches.size(), 1u);
  EXPECT_EQ(c.caches[0].memory, 64u << 20);
  EXPECT_EQ(c.caches[0].max_object, 2u << 20);
  ASSERT_TRUE(c.routes[0].cache);
  const RouteCacheConfig& rc = *c.routes[0].cache;
  EXPECT_EQ(rc.cache_index, 0u);
  EXPECT_FALSE(rc.query_all);
  EXPECT_EQ(rc.query, (std::vector<std::string>{"page", "sort"}));
  EXPECT_EQ(rc.headers, (std::vector<std::string>{"accept-language"}));
  EXPECT_EQ(rc.default_ttl.count(), 10000);
  EXPECT_EQ(rc.stale_while_revalidate.count(), 30000);
  EXPECT_EQ(rc.stale_if_error.count(), 300000);
  EXPECT_EQ(rc.lock_timeout.count(), 2000);
  EXPECT_TRUE(rc.authorization && rc.set_cookie && rc.debug_header.value_or(false));
}

TEST(CacheConfig, DefaultsUseTheCacheNamedDefaultAndTheWholeQuery) {
  const Config c = load_config_string(
      "server: {listen: \"127.0.0.1:0\"}\nupstreams:\n  a: {endpoints: [\"127.0.0.1:1\"]}\n"
      "caches:\n  default: {}\nroutes:\n  - match: {prefix: /p}\n    upstream: a\n    cache: {}\n",
      "t.yaml");
  EXPECT_EQ(c.caches[0].memory, 256u << 20);
  EXPECT_EQ(c.caches[0].max_object, 1u << 20);
  EXPECT_TRUE(c.routes[0].cache->query_all);
  EXPECT_EQ(c.routes[0].cache->lock_timeout.count(), 5000);
}

TEST(CacheConfig, ABackendsCache) {
  const Config c =
      load_config_string(CACHE_HEAD
                         "  - match: {path: \"/p/{id}\"}\n    aggregate:\n      backends:\n"
                         "        - {key: x, upstream: a, path: \"/x/{id}\", cache: {use: main, "
                         "stale_if_error: 1m}}\n",
                         "t.yaml");
  const auto& b = aggregate_of(c.routes[0]).backends[0];
  ASSERT_TRUE(b.cache);
  EXPECT_EQ(b.cache->cache_index, 0u);
  EXPECT_EQ(b.cache->stale_if_error.count(), 60000);
}

TEST(CacheConfig, ErrorsAtTheirPosition) {
  const ErrorCase cases[] = {
      {CACHE_HEAD "  - match: {prefix: /p}\n    upstream: a\n    cache: {use: other}\n",
       "t.yaml:9:18", "unknown cache 'other' (defined: main)"},
      {"server: {listen: \"127.0.0.1:0\"}\nupstreams:\n  a: {endpoints: [\"127.0.0.1:1\"]}\n"
       "routes:\n  - match: {prefix: /p}\n    upstream: a\n    cache: {}\n",
       "t.yaml:7:12", "no 'caches:' are defined"},
      {CACHE_HEAD "  - match: {path: /p}\n    direct: {body: x}\n    cache: {use: main}\n",
       "t.yaml:9:18", "a direct route's response is built in"},
      {CACHE_HEAD
       "  - match: {prefix: /p}\n    upstream: a\n    cache: {use: main, key: {consumer: true}}\n",
       "t.yaml:9:18", "key.consumer keys on the caller: the route needs auth.api_key or auth.jwt"},
      {CACHE_HEAD "  - match: {prefix: /p}\n    upstream: a\n    cache: {use: main, ttl: 1s}\n",
       "t.yaml:9:24", "unknown key 'ttl'"},
      {CACHE_HEAD "  - match: {prefix: /p}\n    upstream: a\n"
                  "    cache: {use: main, key: {headers: [\"bad header\"]}}\n",
       "t.yaml:9:40", "not a header name"},
      {"server: {listen: \"127.0.0.1:0\"}\ncaches:\n  main: {memory: 1MiB, max_object: 2MiB}\n",
       "t.yaml:3:36", "max_object (2MiB) is larger than the cache's memory (1MiB)"},
      {CACHE_HEAD
       "  - match: {path: \"/p/{id}\"}\n    cache: {use: main, stale_while_revalidate: 5s}\n"
       "    aggregate:\n      backends:\n        - {key: x, upstream: a, path: \"/x\"}\n",
       "t.yaml:8:18", "an aggregate route's merged answer is not refreshed in the background"},
      {"server: {listen: \"127.0.0.1:0\"}\ncaches:\n  main: {memory: 1KiB}\n", "t.yaml:3:18",
       "caches.main.memory"},
      {CACHE_HEAD "  - match: {path: \"/p/{id}\"}\n    aggregate:\n      backends:\n"
                  "        - {key: x, upstream: a, method: DELETE, path: \"/x\",\n"
                  "           cache: {use: main}}\n",
       "t.yaml:11:19", "only a GET backend without for_each can be cached"},
  };
  expect_errors(cases);
}

}  // namespace
}  // namespace ringgate::config_test

#undef CACHE_HEAD
