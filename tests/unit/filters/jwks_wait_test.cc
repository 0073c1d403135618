// A token whose kid no key matches, on a jwks_url issuer, on simulated time: it waits for the
// fetch (one asked for, however many wait), is decided when the fetch ends or when jwks_timeout
// passes, is refused at once within jwks_min_refresh, and no publication slips between the check
// and the wait.

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "jwt_signer.h"
#include "ringgate/filters/auth_jwt.h"

namespace ringgate::jwks_wait_test {
namespace {

using jwt::Alg;

constexpr int64_t kNow = 1800000000;
constexpr uint64_t kStartMs = 100000;

std::vector<jwt::Key> keys_of(const std::vector<const test_jwt::Signer*>& signers) {
  std::string text = "{\"keys\":[";
  for (size_t i = 0; i < signers.size(); ++i) {
    text += (i ? "," : "") + signers[i]->jwk;
  }
  std::vector<jwt::Key> keys;
  std::vector<std::string> skipped;
  std::string why;
  EXPECT_TRUE(jwt::parse_jwks(text + "]}", &keys, &skipped, &why)) << why;
  return keys;
}

struct Waiter final : JwtKeyWaiter {
  int told = 0;
  bool timed_out = false;
  void keys_ready(bool t) override {
    ++told;
    timed_out = t;
  }
};

struct UrlIssuer {
  UrlIssuer()
      : a(test_jwt::make_signer(Alg::kES256, "a")),
        b(test_jwt::make_signer(Alg::kES256, "b")),
        timers(kStartMs) {
    JwtIssuerConfig issuer;
    issuer.name = "main";
    issuer.keys = std::make_shared<std::vector<jwt::Key>>();
    issuer.jwks_url = "http://127.0.0.1:9/jwks.json";
    issuer.jwks_timeout = Duration(500);
    issuer.jwks_min_refresh = Duration(1000);
    issuer.algorithms = jwt::alg_bit(Alg::kES256);
    issuer.cache_entries = 16;
    config.jwt_issuers.push_back(std::move(issuer));
    // The first fetch brought key "a" and ended a while ago.
    source.publish(config.jwt_issuers[0].keys, keys_of({&a}));
    source.generation.store(1);
    source.next_fetch_ms.store(kStartMs - 1);
    source.wake_fetcher = [this] { ++fetcher_wakes; };
    source.wake_shards = [this] { ++shard_wakes; };
    auth = std::make_unique<ShardJwtAuth>(config, std::vector<JwtKeySource*>{&source}, &timers,
                                          &now_ms);
  }
  std::string token(const test_jwt::Signer& s) const {
    const std::string kid = &s == &a ? "a" : "b";
    return s.sign(test_jwt::header_for(Alg::kES256, ",\"kid\":\"" + kid + "\""),
                  "{\"sub\":\"ann\",\"exp\":" + std::to_string(kNow + 60) + "}");
  }
  ShardJwtAuth::Result check(const test_jwt::Signer& s) {
    return auth->check(0, token(s), 0, kNow);
  }
  // What the fetcher does: starts a fetch, then ends it (with `keys`, or failed).
  void fetch_starts() {
    source.fetching.store(true);
    source.next_fetch_ms.store(now_ms + 1000);
  }
  void fetch_ends(const std::vector<const test_jwt::Signer*>& keys, bool ok = true) {
    if (ok) {
      source.publish(config.jwt_issuers[0].keys, keys_of(keys));
    }
    source.fetch_ended(ok);
  }
  void advance(uint64_t ms) {
    now_ms += ms;
    timers.advance(now_ms);
  }

  test_jwt::Signer a;
  test_jwt::Signer b;
  Config config;
  JwtKeySource source;
  uint64_t now_ms = kStartMs;
  TimerWheel timers;
  int fetcher_wakes = 0;
  int shard_wakes = 0;
  std::unique_ptr<ShardJwtAuth> auth;
};

TEST(JwksWait, RequestsWithAnUnknownKidShareOneFetchAndPassOnItsKeys) {
  UrlIssuer s;
  EXPECT_EQ(s.check(s.a).outcome, ShardJwtAuth::Outcome::kOk);
  auto r = s.check(s.b);
  ASSERT_EQ(r.outcome, ShardJwtAuth::Outcome::kUnknownKey);
  EXPECT_EQ(r.generation, 1u);
  Waiter w1;
  Waiter w2;
  ASSERT_TRUE(s.auth->wait_for_keys(0, r.generation, w1));
  EXPECT_EQ(s.source.wanted.load(), 2u);  // a fetch that ends after generation 1
  EXPECT_EQ(s.fetcher_wakes, 1);
  ASSERT_EQ(s.check(s.b).outcome, ShardJwtAuth::Outcome::kUnknownKey);
  ASSERT_TRUE(s.auth->wait_for_keys(0, r.generation, w2));
  EXPECT_EQ(s.fetcher_wakes, 1) << "the second waiter asks for nothing more";
  s.fetch_starts();
  // A third request meets the fetch under way: it waits too, although a new fetch may not start.
  Waiter w3;
  r = s.check(s.b);
  ASSERT_EQ(r.outcome, ShardJwtAuth::Outcome::kUnknownKey);
  ASSERT_TRUE(s.auth->wait_for_keys(0, r.generation, w3));
  EXPECT_EQ(s.fetcher_wakes, 1);
  EXPECT_EQ(s.auth->counters(0).key_waits.load(), 3u);
  s.advance(200);
  EXPECT_EQ(w1.told + w2.told + w3.told, 0);
  s.fetch_ends({&s.a, &s.b});
  EXPECT_EQ(s.shard_wakes, 1);
  EXPECT_EQ(s.source.wanted.load(), s.source.generation.load()) << "nothing left to fetch";
  s.auth->keys_changed();
  for (Waiter* w : {&w1, &w2, &w3}) {
    EXPECT_EQ(w->told, 1);
    EXPECT_FALSE(w->timed_out);
  }
  EXPECT_EQ(s.check(s.b).outcome, ShardJwtAuth::Outcome::kOk);
  // A later fetch with no waiter wakes no shard.
  s.fetch_starts();
  s.fetch_ends({&s.a, &s.b});
  EXPECT_EQ(s.shard_wakes, 1);
}

TEST(JwksWait, WithinMinRefreshAnUnknownKidIsRefusedAtOnce) {
  UrlIssuer s;
  s.fetch_starts();
  s.fetch_ends({&s.a});
  s.advance(999);
  auto r = s.check(s.b);
  EXPECT_EQ(r.outcome, ShardJwtAuth::Outcome::kInvalid);
  EXPECT_EQ(r.reason, "no key matches the token");
  EXPECT_EQ(s.source.wanted.load(), 0u) << "a refused request asks for no fetch";
  // The last fetch failed: the gateway cannot tell, 503.
  s.fetch_starts();
  s.fetch_ends({}, false);
  EXPECT_EQ(s.check(s.b).outcome, ShardJwtAuth::Outcome::kKeysUnavailable);
  EXPECT_EQ(s.auth->counters(0).keys_unavailable.load(), 1u);
  EXPECT_EQ(s.auth->counters(0).key_waits.load(), 0u);
  // Past jwks_min_refresh a fetch may start again.
  s.advance(1000);
  EXPECT_EQ(s.check(s.b).outcome, ShardJwtAuth::Outcome::kUnknownKey);
}

TEST(JwksWait, AWaitEndsAtJwksTimeoutWhenTheFetchDoesNot) {
  UrlIssuer s;
  Waiter w;
  auto r = s.check(s.b);
  ASSERT_EQ(r.outcome, ShardJwtAuth::Outcome::kUnknownKey);
  ASSERT_TRUE(s.auth->wait_for_keys(0, r.generation, w));
  s.fetch_starts();
  s.advance(500);
  EXPECT_EQ(w.told, 0) << "the fetch's own timeout decides first";
  s.advance(200);
  EXPECT_EQ(w.told, 1);
  EXPECT_TRUE(w.timed_out);
  EXPECT_EQ(s.auth->unknown_key(0, true).outcome, ShardJwtAuth::Outcome::kKeysUnavailable);
  // The fetch ends later: nobody is told twice.
  s.fetch_ends({&s.a});
  s.auth->keys_changed();
  EXPECT_EQ(w.told, 1);
}

TEST(JwksWait, KeysPublishedBetweenTheCheckAndTheWaitAreNotMissed) {
  UrlIssuer s;
  auto r = s.check(s.b);
  ASSERT_EQ(r.outcome, ShardJwtAuth::Outcome::kUnknownKey);
  s.fetch_starts();
  s.fetch_ends({&s.a, &s.b});
  Waiter w;
  EXPECT_FALSE(s.auth->wait_for_keys(0, r.generation, w));
  EXPECT_EQ(s.check(s.b).outcome, ShardJwtAuth::Outcome::kOk);
  s.auth->keys_changed();
  EXPECT_EQ(w.told, 0);
}

TEST(JwksWait, ACancelledWaiterIsNotTold) {
  UrlIssuer s;
  Waiter w1;
  Waiter w2;
  const uint64_t g = s.check(s.b).generation;
  ASSERT_TRUE(s.auth->wait_for_keys(0, g, w1));
  ASSERT_TRUE(s.auth->wait_for_keys(0, g, w2));
  s.auth->cancel(w1);
  s.auth->cancel(w1);  // twice is harmless
  s.fetch_starts();
  s.fetch_ends({&s.a});
  s.auth->keys_changed();
  EXPECT_EQ(w1.told, 0);
  EXPECT_EQ(w2.told, 1);
  EXPECT_FALSE(w2.timed_out);
  // The fetch brought no key "b" and was good: 401.
  EXPECT_EQ(s.check(s.b).outcome, ShardJwtAuth::Outcome::kInvalid);
}

TEST(JwksWait, WithoutAShardClockNothingWaits) {
  UrlIssuer s;
  ShardJwtAuth plain(s.config, {&s.source});
  EXPECT_EQ(plain.check(0, s.token(s.b), 0, kNow).outcome, ShardJwtAuth::Outcome::kInvalid);
  EXPECT_EQ(s.source.wanted.load(), 0u);
}

}  // namespace
}  // namespace ringgate::jwks_wait_test
