// Rate limiting on simulated time: the GCRA buckets, leasing across shards, giving back idle
// leases, the key table's overflow and reclaim, and Retry-After.

#include "ringgate/filters/rate_limit.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "ringgate/core/clock.h"

namespace ringgate {
namespace {

RateLimitPolicy policy(uint64_t tokens, int64_t period_ms, uint64_t burst,
                       uint32_t max_keys = 1024) {
  RateLimitPolicy p;
  p.name = "p";
  p.tokens = tokens;
  p.period = Duration(period_ms);
  p.burst = burst;
  p.max_keys = max_keys;
  return p;
}

// A process of `shards` limiters over one config.
struct Process {
  Process(const RateLimitPolicy& p, unsigned shards) {
    config.rate_limits.push_back(p);
    shared = std::make_unique<SharedRateLimits>(config);
    for (unsigned i = 0; i < shards; ++i) {
      wheels.push_back(std::make_unique<TimerWheel>(0));
      limiters.push_back(
          std::make_unique<ShardRateLimiter>(config, *shared, shards, *wheels.back()));
    }
  }
  bool check(unsigned shard, std::string_view key, uint64_t now_us, uint32_t* retry = nullptr) {
    uint32_t r = 0;
    const bool ok = limiters[shard]->check(0, key, now_us, &r);
    if (retry) {
      *retry = r;
    }
    return ok;
  }
  uint64_t allowed() const {
    uint64_t n = 0;
    for (const auto& l : limiters) {
      n += l->counters(0).allowed.load();
    }
    return n;
  }

  Config config;
  std::unique_ptr<SharedRateLimits> shared;
  std::vector<std::unique_ptr<TimerWheel>> wheels;
  std::vector<std::unique_ptr<ShardRateLimiter>> limiters;
};

constexpr uint64_t kStart = 1000ull * 1000 * 1000;  // 1000 s of uptime, in µs
constexpr uint64_t kMs = 1000;

TEST(RateLimit, BurstThenTheRate) {
  Process p(policy(10, 1000, 5), 1);
  for (int i = 0; i < 5; ++i) {
    EXPECT_TRUE(p.check(0, "k", kStart)) << i;
  }
  uint32_t retry = 0;
  EXPECT_FALSE(p.check(0, "k", kStart, &retry));
  EXPECT_EQ(retry, 1u);
  EXPECT_FALSE(p.check(0, "k", kStart + 99 * kMs));
  EXPECT_TRUE(p.check(0, "k", kStart + 100 * kMs));  // one token per 100 ms
  EXPECT_FALSE(p.check(0, "k", kStart + 150 * kMs));
  // Idle for 10 s: the bucket holds the burst again, no more.
  int let = 0;
  while (p.check(0, "k", kStart + 10000 * kMs)) {
    ++let;
  }
  EXPECT_EQ(let, 5);
  EXPECT_EQ(p.limiters[0]->counters(0).limited.load(), 4u);
}

TEST(RateLimit, KeysHaveTheirOwnBuckets) {
  Process p(policy(1, 1000, 1), 1);
  EXPECT_TRUE(p.check(0, "10.0.0.1", kStart));
  EXPECT_FALSE(p.check(0, "10.0.0.1", kStart));
  EXPECT_TRUE(p.check(0, "10.0.0.2", kStart));
  // Requests without the key's header share one bucket (an absent header: no data pointer).
  EXPECT_TRUE(p.check(0, std::string_view(), kStart));
  EXPECT_FALSE(p.check(0, "", kStart));
}

TEST(RateLimit, RetryAfterIsWhenTheNextTokenComes) {
  Process p(policy(1, 60000, 1), 1);
  EXPECT_TRUE(p.check(0, "k", kStart));
  uint32_t retry = 0;
  EXPECT_FALSE(p.check(0, "k", kStart + 10000 * kMs, &retry));
  EXPECT_EQ(retry, 50u);
  EXPECT_TRUE(p.check(0, "k", kStart + 60000 * kMs));
}

// A client spread over every shard gets the configured rate: the shards share one bucket.
TEST(RateLimit, ShardsShareTheLimitWithinAFewTokens) {
  for (unsigned shards : {2u, 4u, 16u}) {
    Process p(policy(1000, 1000, 100), shards);
    // Each shard offers 1500 requests a second for 10 s, in 1 ms steps.
    for (uint64_t ms = 0; ms < 10000; ++ms) {
      for (unsigned s = 0; s < shards; ++s) {
        for (int k = 0; k < 2; ++k) {
          p.check(s, "client", kStart + ms * kMs + s);
        }
      }
    }
    const double expected = 100 + 1000.0 * 10;  // the burst, then the rate
    EXPECT_NEAR(static_cast<double>(p.allowed()), expected, expected * 0.01) << shards;
  }
}

TEST(RateLimit, IdleLeasesGoBackForOtherShards) {
  // Batches of 5 (500/s over 2 shards, 1/50 s each); 30 tokens come back in 60 ms.
  Process p(policy(500, 1000, 400), 2);
  ASSERT_TRUE(p.check(0, "k", kStart));
  const uint64_t held = p.limiters[0]->held(0);
  EXPECT_GT(held, 0u);  // shard 0 leased a batch and used one
  // Shard 1 takes what is left in the bucket.
  int let = 0;
  while (p.check(1, "k", kStart)) {
    ++let;
  }
  EXPECT_EQ(static_cast<uint64_t>(let) + held + 1, 400u);
  // Shard 0's key goes quiet: its sweep gives the leftover back, shard 1 can use it.
  EXPECT_TRUE(p.limiters[0]->sweep(kStart + 10 * kMs));  // not idle long enough yet
  EXPECT_FALSE(p.limiters[0]->sweep(kStart + 60 * kMs));
  EXPECT_EQ(p.limiters[0]->held(0), 0u);
  let = 0;
  while (p.check(1, "k", kStart + 60 * kMs)) {
    ++let;
  }
  // What was given back, plus the 30 tokens that 60 ms brought.
  EXPECT_EQ(static_cast<uint64_t>(let), held + 30);
}

TEST(RateLimit, AFullTableSendsNewKeysToTheOverflowBucketUntilOldOnesAreIdle) {
  Process p(policy(1, 1000, 1, 16), 1);
  int overflowed_keys = 0;
  for (int i = 0; i < 200; ++i) {
    const std::string key = "client-" + std::to_string(i);
    const uint64_t before = p.limiters[0]->counters(0).overflow.load();
    p.check(0, key, kStart);
    overflowed_keys += p.limiters[0]->counters(0).overflow.load() > before;
  }
  EXPECT_GT(overflowed_keys, 100);  // 16 slots for 200 keys
  // Overflowed keys share one bucket: of many new keys at once, at most one gets through.
  int let = 0;
  for (int i = 200; i < 400; ++i) {
    const std::string key = "client-" + std::to_string(i);
    const uint64_t before = p.limiters[0]->counters(0).overflow.load();
    const bool ok = p.check(0, key, kStart);
    if (p.limiters[0]->counters(0).overflow.load() > before) {
      let += ok;
    }
  }
  EXPECT_LE(let, 1);
  // 12 s later every old key has had a full bucket for over 10 s: its slot goes to a new key.
  const uint64_t before = p.limiters[0]->counters(0).overflow.load();
  EXPECT_TRUE(p.check(0, "newcomer", kStart + 12000 * kMs));
  EXPECT_EQ(p.limiters[0]->counters(0).overflow.load(), before);
}

TEST(RateLimit, HourlyAndFractionalRates) {
  Process p(policy(3, 1000, 1), 1);  // one token every 333.3 ms
  EXPECT_TRUE(p.check(0, "k", kStart));
  EXPECT_FALSE(p.check(0, "k", kStart + 333 * kMs));
  EXPECT_TRUE(p.check(0, "k", kStart + 334 * kMs));
  Process h(policy(7200, 3600000, 2), 1);  // two a second
  EXPECT_TRUE(h.check(0, "k", kStart));
  EXPECT_TRUE(h.check(0, "k", kStart));
  EXPECT_FALSE(h.check(0, "k", kStart + 499 * kMs));
  EXPECT_TRUE(h.check(0, "k", kStart + 500 * kMs));
}

// Real threads, real time: shards racing on one shared bucket never let more through than the
// bucket allows.
TEST(RateLimit, ConcurrentShardsStayWithinTheBucket) {
  constexpr unsigned kShards = 4;
  Process p(policy(10000, 1000, 100), kShards);
  const uint64_t start = monotonic_ns() / 1000;
  std::vector<std::thread> threads;
  for (unsigned s = 0; s < kShards; ++s) {
    threads.emplace_back([&p, s, start] {
      uint64_t now = start;
      while (now < start + 200 * kMs) {
        now = monotonic_ns() / 1000;
        p.check(s, "client", now);
      }
    });
  }
  for (std::thread& t : threads) {
    t.join();
  }
  const uint64_t elapsed_us = monotonic_ns() / 1000 - start;
  const double most = 100 + 10000.0 * static_cast<double>(elapsed_us) / 1e6;
  EXPECT_LE(static_cast<double>(p.allowed()), most);
  EXPECT_GE(static_cast<double>(p.allowed()), 100 + 10000.0 * 0.2 - kShards * 64);
}

}  // namespace
}  // namespace ringgate
