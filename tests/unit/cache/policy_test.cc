// RFC 9111 storage and freshness decisions (ringgate/cache/policy.h).

#include "ringgate/cache/policy.h"

#include <gtest/gtest.h>

namespace ringgate {
namespace {

constexpr int64_t kNow = 784111777;  // Sun, 06 Nov 1994 08:49:37 GMT

ResponseFacts with_cache_control(std::string_view value, int status = 200) {
  ResponseFacts f;
  f.status = status;
  f.cache_control = value;
  f.has_cache_control = true;
  return f;
}

TEST(HttpDate, TheThreeFormsRecipientsMustAccept) {
  int64_t t = 0;
  ASSERT_TRUE(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT", t));
  EXPECT_EQ(t, kNow);
  ASSERT_TRUE(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT", t));
  EXPECT_EQ(t, kNow);
  ASSERT_TRUE(parse_http_date("Sun Nov  6 08:49:37 1994", t));
  EXPECT_EQ(t, kNow);
  EXPECT_FALSE(parse_http_date("0", t));
  EXPECT_FALSE(parse_http_date("Sun, 06 Foo 1994 08:49:37 GMT", t));
  EXPECT_FALSE(parse_http_date("Sun, 06 Nov 1994 25:49:37 GMT", t));
}

TEST(StoreDecision, LifetimeFromSMaxageThenMaxAgeThenExpires) {
  CacheRules rules;
  auto d = decide_store(with_cache_control("max-age=60, s-maxage=30"), rules, kNow);
  ASSERT_TRUE(d.store);
  EXPECT_EQ(d.fresh_s, 30u);
  EXPECT_TRUE(d.must_revalidate);  // s-maxage implies proxy-revalidate
  d = decide_store(with_cache_control("public, max-age=60"), rules, kNow);
  EXPECT_EQ(d.fresh_s, 60u);
  EXPECT_FALSE(d.must_revalidate);
  ResponseFacts f;
  f.status = 200;
  f.expires = "Sun, 06 Nov 1994 08:50:37 GMT";
  f.has_expires = true;
  f.date = "Sun, 06 Nov 1994 08:49:37 GMT";
  f.has_date = true;
  d = decide_store(f, rules, kNow);
  ASSERT_TRUE(d.store);
  EXPECT_EQ(d.fresh_s, 60u);
  f.expires = "0";  // invalid: already expired
  EXPECT_FALSE(decide_store(f, rules, kNow).store);
}

TEST(StoreDecision, WhatASharedCacheMustNotStore) {
  CacheRules rules;
  rules.default_ttl_s = 60;
  EXPECT_STREQ(decide_store(with_cache_control("no-store, max-age=60"), rules, kNow).reason,
               "no-store");
  EXPECT_STREQ(decide_store(with_cache_control("private, max-age=60"), rules, kNow).reason,
               "private");
  EXPECT_STREQ(decide_store(with_cache_control("private=\"x\", max-age=60"), rules, kNow).reason,
               "private");
  ResponseFacts f = with_cache_control("max-age=60");
  f.set_cookie = true;
  EXPECT_FALSE(decide_store(f, rules, kNow).store);
  rules.set_cookie = true;
  EXPECT_TRUE(decide_store(f, rules, kNow).store);
  f.vary_star = true;
  EXPECT_FALSE(decide_store(f, rules, kNow).store);
}

TEST(StoreDecision, TheDefaultTtlOnlyForResponsesWithoutFreshnessAndOfCacheableStatus) {
  CacheRules rules;
  ResponseFacts f;
  f.status = 200;
  EXPECT_FALSE(decide_store(f, rules, kNow).store);  // no lifetime, no default
  rules.default_ttl_s = 30;
  auto d = decide_store(f, rules, kNow);
  ASSERT_TRUE(d.store);
  EXPECT_EQ(d.fresh_s, 30u);
  f.status = 302;
  EXPECT_STREQ(decide_store(f, rules, kNow).reason, "status");
  EXPECT_TRUE(decide_store(with_cache_control("max-age=5", 302), rules, kNow).store);
  EXPECT_FALSE(decide_store(with_cache_control("max-age=5", 500), rules, kNow).store);
  EXPECT_FALSE(decide_store(with_cache_control("max-age=5", 206), rules, kNow).store);
  EXPECT_TRUE(decide_store(f = with_cache_control("max-age=5", 404), rules, kNow).store);
}

TEST(StoreDecision, AgeAndDateMakeTheInitialAge) {
  CacheRules rules;
  ResponseFacts f = with_cache_control("max-age=100");
  f.age = "10";
  f.has_age = true;
  EXPECT_EQ(decide_store(f, rules, kNow).initial_age_s, 10u);
  f.date = "Sun, 06 Nov 1994 08:49:07 GMT";  // 30 s before it arrived
  f.has_date = true;
  EXPECT_EQ(decide_store(f, rules, kNow).initial_age_s, 30u);
  f.age = "150";  // older than its lifetime, and no validator: stale on arrival
  EXPECT_FALSE(decide_store(f, rules, kNow).store);
  f.has_validator = true;  // ... worth keeping to revalidate
  EXPECT_TRUE(decide_store(f, rules, kNow).store);
}

TEST(StoreDecision, StaleWindowsFromTheResponseElseTheRouteAndNoneWhenItMustRevalidate) {
  CacheRules rules;
  rules.stale_while_revalidate_s = 30;
  rules.stale_if_error_s = 300;
  auto d = decide_store(with_cache_control("max-age=10"), rules, kNow);
  EXPECT_EQ(d.stale_while_revalidate_s, 30u);
  EXPECT_EQ(d.stale_if_error_s, 300u);
  d = decide_store(with_cache_control("max-age=10, stale-while-revalidate=5, stale-if-error=7"),
                   rules, kNow);
  EXPECT_EQ(d.stale_while_revalidate_s, 5u);
  EXPECT_EQ(d.stale_if_error_s, 7u);
  d = decide_store(with_cache_control("max-age=10, must-revalidate"), rules, kNow);
  EXPECT_EQ(d.stale_while_revalidate_s, 0u);
  EXPECT_EQ(d.stale_if_error_s, 0u);
}

TEST(StoreDecision, InvalidOrRepeatedLifetimesCountAsStale) {
  CacheRules rules;
  EXPECT_FALSE(decide_store(with_cache_control("max-age=abc"), rules, kNow).store);
  EXPECT_FALSE(decide_store(with_cache_control("max-age=60, max-age=60"), rules, kNow).store);
  auto d = decide_store(with_cache_control("MAX-AGE=\"60\""), rules, kNow);
  ASSERT_TRUE(d.store);
  EXPECT_EQ(d.fresh_s, 60u);
  // A huge value is capped, not wrapped.
  EXPECT_EQ(decide_store(with_cache_control("max-age=99999999999999999999"), rules, kNow).fresh_s,
            2147483648u);
}

TEST(StoreDecision, ACommaOrQuoteInsideAQuotedStringStaysInIt) {
  CacheRules rules;
  // An extension's quoted argument holding an escaped quote and what looks like no-store.
  const auto d =
      decide_store(with_cache_control("max-age=60, community=\"x\\\", no-store, y\""), rules, kNow);
  EXPECT_TRUE(d.store) << d.reason;
  EXPECT_EQ(d.fresh_s, 60u);
  EXPECT_FALSE(
      decide_store(with_cache_control("max-age=60, community=\"x\", no-store"), rules, kNow).store);
}

TEST(StoreDecision, NoCacheWithAValidatorIsStoredButAlwaysRevalidated) {
  CacheRules rules;
  ResponseFacts f = with_cache_control("no-cache");
  EXPECT_FALSE(decide_store(f, rules, kNow).store);
  f.has_validator = true;
  const auto d = decide_store(f, rules, kNow);
  ASSERT_TRUE(d.store);
  EXPECT_TRUE(d.no_cache);
}

}  // namespace
}  // namespace ringgate
