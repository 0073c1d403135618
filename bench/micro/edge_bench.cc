// Per-request costs of the edge filters: a rate-limit check (the goal: <= 25 ns) and
// path normalisation (already normal, and one that needs every rule).
//   BM_RateLimitCheck:         one key, tokens leased in batches (the steady state of a busy
//                              client): hash, the shard's cache, and a lease every batch.
//   BM_RateLimitCheckManyKeys: 1000 keys in turn (addresses of many clients).
//   BM_RateLimitCheckTwoShards: two threads, one key: leases contend on the shared atomic.
//   BM_NormalizePathClean / BM_NormalizePathDirty: a typical API path, and one with escapes,
//                              dot segments and doubled slashes.
//   BM_JwtVerify/ALG:          a full check of a fresh token (signature and claims), per
//                              algorithm: what a cache miss costs.
//   BM_JwtCached/ALG:          the same token again: the shard's token cache.

#include <benchmark/benchmark.h>

#include <ctime>
#include <memory>
#include <string>
#include <vector>

#include "jwt_signer.h"
#include "ringgate/core/clock.h"
#include "ringgate/filters/auth_jwt.h"
#include "ringgate/filters/rate_limit.h"
#include "ringgate/http/path.h"

namespace {

using namespace ringgate;

Config limit_config(unsigned max_keys) {
  Config c;
  RateLimitPolicy p;
  p.name = "bench";
  p.tokens = 1000000000;  // never the limit: the check itself is measured
  p.burst = 1000000000;
  p.max_keys = max_keys;
  c.rate_limits.push_back(p);
  return c;
}

void BM_RateLimitCheck(benchmark::State& state) {
  const Config c = limit_config(1024);
  SharedRateLimits shared(c);
  TimerWheel wheel(0);
  ShardRateLimiter limiter(c, shared, 1, wheel);
  uint64_t now = monotonic_ns() / 1000;
  uint32_t retry = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(limiter.check(0, "203.0.113.77", now, &retry));
  }
  state.counters["leases"] = static_cast<double>(limiter.counters(0).leases.load());
}
BENCHMARK(BM_RateLimitCheck);

void BM_RateLimitCheckManyKeys(benchmark::State& state) {
  const Config c = limit_config(4096);
  SharedRateLimits shared(c);
  TimerWheel wheel(0);
  ShardRateLimiter limiter(c, shared, 1, wheel);
  std::vector<std::string> keys;
  for (int i = 0; i < 1000; ++i) {
    keys.push_back("10.0." + std::to_string(i / 256) + "." + std::to_string(i % 256));
  }
  const uint64_t now = monotonic_ns() / 1000;
  uint32_t retry = 0;
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(limiter.check(0, keys[i], now, &retry));
    i = i + 1 == keys.size() ? 0 : i + 1;
  }
}
BENCHMARK(BM_RateLimitCheckManyKeys);

struct TwoShards {
  Config config = limit_config(1024);
  SharedRateLimits shared{config};
  TimerWheel wheels[2] = {TimerWheel(0), TimerWheel(0)};
  std::unique_ptr<ShardRateLimiter> limiters[2];
  TwoShards() {
    for (int i = 0; i < 2; ++i) {
      limiters[i] = std::make_unique<ShardRateLimiter>(config, shared, 2, wheels[i]);
    }
  }
};

void BM_RateLimitCheckTwoShards(benchmark::State& state) {
  static TwoShards shards;  // one process of two shards for both threads (thread-safe init)
  ShardRateLimiter& limiter = *shards.limiters[state.thread_index()];
  const uint64_t now = monotonic_ns() / 1000;
  uint32_t retry = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(limiter.check(0, "203.0.113.77", now, &retry));
  }
}
BENCHMARK(BM_RateLimitCheckTwoShards)->Threads(2);

void normalize(benchmark::State& state, const std::string& path) {
  std::vector<char> out(path.size());
  NormalizedPath r;
  for (auto _ : state) {
    benchmark::DoNotOptimize(normalize_path(path, out.data(), &r));
    benchmark::DoNotOptimize(r.path.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * path.size()));
}

void BM_NormalizePathClean(benchmark::State& state) {
  normalize(state, "/api/v1/orders/12345/lines");
}
BENCHMARK(BM_NormalizePathClean);

void BM_NormalizePathDirty(benchmark::State& state) {
  normalize(state, "/api//v1/./orders/%7Eadmin/../12345/%6cines");
}
BENCHMARK(BM_NormalizePathDirty);

// One issuer over one signer's key; tokens with sub and a scope, valid for an hour.
struct JwtSetup {
  explicit JwtSetup(jwt::Alg alg) : signer(test_jwt::make_signer(alg, "k")) {
    JwtIssuerConfig issuer;
    issuer.name = "bench";
    auto keys = std::make_shared<std::vector<jwt::Key>>();
    std::vector<std::string> skipped;
    std::string why;
    jwt::parse_jwks("{\"keys\":[" + signer.jwk + "]}", keys.get(), &skipped, &why);
    issuer.keys = keys;
    issuer.algorithms = jwt::alg_bit(alg);
    issuer.rules.scopes = {"bench"};
    issuer.rules.forward = {"sub"};
    issuer.forward_headers = {"x-user-id"};
    config.jwt_issuers.push_back(std::move(issuer));
    source.publish(config.jwt_issuers[0].keys, {});
    auth = std::make_unique<ShardJwtAuth>(config, std::vector<JwtKeySource*>{&source});
  }
  std::string token(int n) const {
    return signer.sign(test_jwt::header_for(signer.alg, ",\"kid\":\"k\""),
                       "{\"sub\":\"user-" + std::to_string(n) + "\",\"scope\":\"bench\",\"exp\":" +
                           std::to_string(static_cast<long long>(time(nullptr)) + 3600) + "}");
  }
  test_jwt::Signer signer;
  Config config;
  JwtKeySource source;
  std::unique_ptr<ShardJwtAuth> auth;
};

void BM_JwtVerify(benchmark::State& state) {
  JwtSetup setup(static_cast<jwt::Alg>(state.range(0)));
  // Distinct tokens, more than the cache holds, so every check verifies.
  std::vector<std::string> tokens;
  for (int i = 0; i < 4096; ++i) {
    tokens.push_back(setup.token(i));
  }
  const int64_t now = static_cast<int64_t>(time(nullptr));
  size_t i = 0;
  for (auto _ : state) {
    auto r = setup.auth->check(0, tokens[i], 1, now);
    benchmark::DoNotOptimize(r.outcome);
    i = (i + 1) % tokens.size();
  }
  state.SetLabel(std::string(jwt::alg_name(setup.signer.alg)));
}
BENCHMARK(BM_JwtVerify)
    ->Arg(static_cast<int>(jwt::Alg::kHS256))
    ->Arg(static_cast<int>(jwt::Alg::kRS256))
    ->Arg(static_cast<int>(jwt::Alg::kPS256))
    ->Arg(static_cast<int>(jwt::Alg::kES256))
    ->Arg(static_cast<int>(jwt::Alg::kES384))
    ->Arg(static_cast<int>(jwt::Alg::kEdDSA));

void BM_JwtCached(benchmark::State& state) {
  JwtSetup setup(static_cast<jwt::Alg>(state.range(0)));
  const std::string token = setup.token(1);
  const int64_t now = static_cast<int64_t>(time(nullptr));
  for (auto _ : state) {
    auto r = setup.auth->check(0, token, 1, now);
    benchmark::DoNotOptimize(r.forward.data());
  }
  state.SetLabel(std::string(jwt::alg_name(setup.signer.alg)));
}
BENCHMARK(BM_JwtCached)
    ->Arg(static_cast<int>(jwt::Alg::kRS256))
    ->Arg(static_cast<int>(jwt::Alg::kES256));

}  // namespace

BENCHMARK_MAIN();
