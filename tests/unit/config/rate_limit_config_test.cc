// The `rate_limits:` section and routes' `rate_limit`: rates, bursts, keys, global policies, and
// errors at their exact position.

#include <gtest/gtest.h>

#include "config_test_util.h"

namespace ringgate {
namespace {

using config_test::ErrorCase;
using config_test::expect_errors;

#define SERVER "server: {listen: \"127.0.0.1:0\"}\n"

TEST(RateLimitConfig, PoliciesAndTheirUse) {
  const Config c = load_config_string(SERVER
                                      "rate_limits:\n"
                                      "  everyone: {rate: 1000/s, global: true}\n"
                                      "  per_client: {key: client_ip, rate: 100/s, burst: 200}\n"
                                      "  per_key: {key: \"header:X-API-Key\", rate: 600/m}\n"
                                      "  per_route: {key: route, rate: 5000/h, max_keys: 64}\n"
                                      "routes:\n"
                                      "  - match: {path: /a}\n"
                                      "    rate_limit: per_client\n"
                                      "    direct: {}\n"
                                      "  - match: {path: /b}\n"
                                      "    rate_limit: [per_key, per_route, everyone]\n"
                                      "    direct: {}\n"
                                      "  - match: {path: /c}\n"
                                      "    direct: {}\n",
                                      "t.yaml");
  ASSERT_EQ(c.rate_limits.size(), 4u);
  const RateLimitPolicy& everyone = c.rate_limits[0];
  EXPECT_TRUE(everyone.global);
  EXPECT_EQ(everyone.tokens, 1000u);
  EXPECT_EQ(everyone.period, Duration(1000));
  EXPECT_EQ(everyone.burst, 1000u);  // default: one period's worth
  EXPECT_EQ(everyone.key, RateLimitPolicy::Key::kClientIp);
  EXPECT_EQ(c.rate_limits[1].burst, 200u);
  EXPECT_EQ(c.rate_limits[2].key, RateLimitPolicy::Key::kHeader);
  EXPECT_EQ(c.rate_limits[2].header, "x-api-key");
  EXPECT_EQ(c.rate_limits[2].period, Duration(60000));
  EXPECT_EQ(c.rate_limits[3].key, RateLimitPolicy::Key::kRoute);
  EXPECT_EQ(c.rate_limits[3].period, Duration(3600000));
  EXPECT_EQ(c.rate_limits[3].max_keys, 64u);
  // Global policies first, then the route's, each once.
  EXPECT_EQ(c.routes[0].rate_limits, (std::vector<uint32_t>{0, 1}));
  EXPECT_EQ(c.routes[1].rate_limits, (std::vector<uint32_t>{0, 2, 3}));
  EXPECT_EQ(c.routes[2].rate_limits, (std::vector<uint32_t>{0}));
}

TEST(RateLimitConfig, ErrorsAtTheirPosition) {
  const ErrorCase cases[] = {
      {SERVER "rate_limits:\n  a: {burst: 5}\n", "t.yaml:3:6", "missing 'rate'"},
      {SERVER "rate_limits:\n  a: {rate: 100/d}\n", "t.yaml:3:13",
       "expected a rate like 100/s, 600/m or 5000/h, got '100/d'"},
      {SERVER "rate_limits:\n  a: {rate: fast}\n", "t.yaml:3:13", "expected a rate like 100/s"},
      {SERVER "rate_limits:\n  a: {rate: 0/s}\n", "t.yaml:3:13",
       "the count must be between 1 and 1000000000"},
      {SERVER "rate_limits:\n  a: {rate: 1/s, burst: 0}\n", "t.yaml:3:25", "must be between 1"},
      {SERVER "rate_limits:\n  a: {rate: 1/s, max_keys: 1000}\n", "t.yaml:3:28",
       "must be a power of two"},
      {SERVER "rate_limits:\n  a: {rate: 1/s, key: ip}\n", "t.yaml:3:23",
       "expected client_ip, header:NAME, route, consumer, claim:NAME or client_cert, got 'ip'"},
      {SERVER "rate_limits:\n  a: {rate: 1/s, key: \"header:a b\"}\n", "t.yaml:3:23",
       "expected client_ip, header:NAME, route, consumer, claim:NAME or client_cert"},
      {SERVER "rate_limits:\n  a: {rate: 1/s, key: \"claim:sub\", global: true}\n", "t.yaml:3:44",
       "cannot be per consumer or claim"},
      {SERVER "rate_limits:\n  a: {rate: 1/s, key: \"claim:sub\"}\nroutes:\n  - match: {path: /x}\n"
              "    rate_limit: a\n    direct: {}\n",
       "t.yaml:6:17", "the route needs auth.jwt"},
      {SERVER "rate_limits:\n  a: {rate: 1/s, key: consumer}\nroutes:\n  - match: {path: /x}\n"
              "    rate_limit: a\n    direct: {}\n",
       "t.yaml:6:17", "the route needs auth.api_key"},
      {SERVER "rate_limits:\n  a: {rate: 1/s, per: x}\n", "t.yaml:3:18", "unknown key 'per'"},
      {SERVER "rate_limits: [a]\n", "t.yaml:2:14", "expected a map of policy names"},
      {SERVER "rate_limits:\n  \"a b\": {rate: 1/s}\n", "t.yaml:3:3", "policy name 'a b'"},
      {SERVER "rate_limits:\n  a: {rate: 1/s}\nroutes:\n  - match: {path: /x}\n"
              "    rate_limit: b\n    direct: {}\n",
       "t.yaml:6:17", "unknown rate limit 'b' (defined: a)"},
      {SERVER "routes:\n  - match: {path: /x}\n    rate_limit: b\n    direct: {}\n", "t.yaml:4:17",
       "unknown rate limit 'b' (no rate_limits are defined)"},
      {SERVER "rate_limits:\n  a: {rate: 1/s}\nroutes:\n  - match: {path: /x}\n"
              "    rate_limit: [a, a]\n    direct: {}\n",
       "t.yaml:6:21", "rate limit 'a' is listed twice"},
      // backend: redis
      {SERVER "rate_limits:\n  a: {rate: 1/s, backend: redis}\n", "t.yaml:3:27",
       "backend: redis needs a top-level 'redis:' section"},
      {SERVER
       "redis: {address: \"127.0.0.1:6379\"}\nrate_limits:\n  a: {rate: 1/s, backend: disk}\n",
       "t.yaml:4:27", "expected local or redis, got 'disk'"},
      {SERVER "rate_limits:\n  a: {rate: 1/s, on_error: deny}\n", "t.yaml:3:28",
       "on_error applies to backend: redis only"},
      {SERVER "redis: {address: \"127.0.0.1:6379\"}\n"
              "rate_limits:\n  a: {rate: 1/s, backend: redis, on_error: maybe}\n",
       "t.yaml:4:44", "expected allow or deny, got 'maybe'"},
      {SERVER "rate_limits:\n  a: {rate: 1/s, batch: 0}\n", "t.yaml:3:25", "must be between 1"},
      {SERVER "redis: {timeout: 10ms}\n", "t.yaml:2:8", "missing 'address'"},
      {SERVER "redis: {address: localhost}\n", "t.yaml:2:18", "is not a valid address"},
      {SERVER "redis: {address: \"127.0.0.1:6379\", timeout: 0ms}\n", "t.yaml:2:45", "timeout"},
      {"server: {listen: \"127.0.0.1:0\", limits: {request_timeout: 40ms}}\n"
       "redis: {address: \"127.0.0.1:6379\"}\n",
       "t.yaml:2:8",
       "redis.timeout (50ms) must be shorter than server.limits.request_timeout (40ms)"},
      {"server: {listen: \"127.0.0.1:0\", limits: {request_timeout: 1s}}\n"
       "redis: {address: \"127.0.0.1:6379\", timeout: 2s}\n",
       "t.yaml:2:45", "must be shorter than server.limits.request_timeout (1000ms)"},
      {SERVER "redis: {address: \"127.0.0.1:6379\", db: 1}\n", "t.yaml:2:36",
       "unknown key 'db' in 'redis' (expected one of: address, password, database, timeout, "
       "retry, key_prefix)"},
  };
  expect_errors(cases);
}

TEST(RateLimitConfig, RedisBackend) {
  const Config c = load_config_string(
      SERVER
      "redis: {address: \"127.0.0.1:6390\", password: s3cret, database: 2, timeout: 20ms,\n"
      "        retry: 250ms, key_prefix: \"edge:\"}\n"
      "rate_limits:\n"
      "  shared: {rate: 100/s, backend: redis, on_error: deny, batch: 8}\n"
      "  open: {rate: 100/s, backend: redis}\n"
      "  here: {rate: 100/s}\n",
      "t.yaml");
  EXPECT_TRUE(c.redis.enabled);
  EXPECT_EQ(c.redis.address, "127.0.0.1:6390");
  EXPECT_EQ(c.redis.password, "s3cret");
  EXPECT_EQ(c.redis.database, 2u);
  EXPECT_EQ(c.redis.timeout, Duration(20));
  EXPECT_EQ(c.redis.retry, Duration(250));
  EXPECT_EQ(c.redis.key_prefix, "edge:");
  ASSERT_EQ(c.rate_limits.size(), 3u);
  EXPECT_EQ(c.rate_limits[0].backend, RateLimitPolicy::Backend::kRedis);
  EXPECT_TRUE(c.rate_limits[0].deny_on_error);
  EXPECT_EQ(c.rate_limits[0].batch, 8u);
  EXPECT_EQ(c.rate_limits[1].backend, RateLimitPolicy::Backend::kRedis);
  EXPECT_FALSE(c.rate_limits[1].deny_on_error);  // fail open by default
  EXPECT_EQ(c.rate_limits[1].batch, 0u);
  EXPECT_EQ(c.rate_limits[2].backend, RateLimitPolicy::Backend::kLocal);
  const Config none = load_config_string(SERVER, "t.yaml");
  EXPECT_FALSE(none.redis.enabled);
}

}  // namespace
}  // namespace ringgate

#undef SERVER
