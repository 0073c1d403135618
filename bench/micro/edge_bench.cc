// Per-request costs of the edge filters: a rate-limit check (the goal: <= 25 ns) and
// path normalisation (already normal, and one that needs every rule).
//   BM_RateLimitCheck:         one key, tokens leased in batches (the steady state of a busy
//                              client): hash, the shard's cache, and a lease every batch.
//   BM_RateLimitCheckManyKeys: 1000 keys in turn (addresses of many clients).
//   BM_RateLimitCheckTwoShards: two threads, one key: leases contend on the shared atomic.
//   BM_NormalizePathClean / BM_NormalizePathDirty: a typical API path, and one with escapes,
//                              dot segments and doubled slashes.

#include <benchmark/benchmark.h>

#include <memory>
#include <string>
#include <vector>

#include "ringgate/core/clock.h"
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

}  // namespace

BENCHMARK_MAIN();
