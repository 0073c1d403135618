// backend: redis rate limits on simulated time, against a fake Redis that runs the lease
// script's GCRA and answers only when the test says so: requests waiting for a call in flight,
// one call per batch, prefetching at half a batch, empty buckets limited locally, on_error,
// cancelled waiters, give-backs of idle keys, cache collisions and waiters that admit again.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ringgate/filters/rate_limit.h"

namespace ringgate::remote_rate_limit_test {
namespace {

constexpr uint64_t kStart = 1000ull * 1000 * 1000;  // 1000 s of uptime, in µs
constexpr uint64_t kMs = 1000;

// Redis as the lease script sees it: one GCRA bucket per (policy, key), on the simulated clock.
// Calls are queued in order (give-backs too, as on the pipelined connection) and answered only
// by answer_*() or fail_all(), never from inside lease().
class FakeRedis final : public LeaseBackend {
 public:
  struct Call {
    std::string policy;
    std::string key;
    std::string interval_us;
    uint64_t burst = 0;
    int64_t want = 0;
    LeaseHandler* handler = nullptr;
    uint64_t tag = 0;
  };

  explicit FakeRedis(const uint64_t& now_us) : now_us_(now_us) {}

  bool usable() const override { return up; }
  bool lease(std::string_view policy, std::string_view key, std::string_view interval_us,
             uint64_t burst, int64_t want, LeaseHandler* handler, uint64_t tag) override {
    if (!up || refuse) {
      return false;
    }
    EXPECT_NE(want, 0);
    EXPECT_EQ(handler == nullptr, want < 0) << "a handler for leases, none for give-backs";
    calls.push_back(Call{std::string(policy), std::string(key), std::string(interval_us), burst,
                         want, handler, tag});
    queue_.push_back(calls.size() - 1);
    if (want < 0) {
      given_back += static_cast<uint64_t>(-want);
    }
    return true;
  }

  size_t pending() const { return queue_.size(); }
  // Runs the front call through the script and answers it.
  void answer_front() {
    const Call c = pop();
    const auto [granted, wait_us] = run(c);
    granted_ += static_cast<uint64_t>(granted);
    if (c.handler) {
      c.handler->lease_answer(c.tag, true, granted, wait_us);
    }
  }
  // Answers the front call (a lease) with the given reply, without the script.
  void answer_front_with(int64_t granted, int64_t wait_us) {
    const Call c = pop();
    ASSERT_NE(c.handler, nullptr);
    granted_ += static_cast<uint64_t>(granted);
    c.handler->lease_answer(c.tag, true, granted, wait_us);
  }
  // Answers the calls queued now (not those made while answering): one round trip.
  size_t answer_all() {
    const size_t n = queue_.size();
    for (size_t i = 0; i < n; ++i) {
      answer_front();
    }
    return n;
  }
  // Round trips until nothing is pending.
  void drain() {
    for (int i = 0; i < 1000 && !queue_.empty(); ++i) {
      answer_all();
    }
    ASSERT_TRUE(queue_.empty());
  }
  // Every call queued now gets no answer (a timeout, a closed connection).
  void fail_all() {
    const size_t n = queue_.size();
    for (size_t i = 0; i < n; ++i) {
      const Call c = pop();
      if (c.handler) {
        c.handler->lease_answer(c.tag, false, 0, 0);
      }
    }
  }

  // Tokens in the bucket now.
  int64_t available(const std::string& policy, const std::string& key, double interval,
                    uint64_t burst) const {
    const double now = static_cast<double>(now_us_);
    const auto it = tat_.find(policy + ":" + key);
    const double tat = it == tat_.end() ? now : std::max(now, it->second);
    return static_cast<int64_t>(
        std::floor((now + static_cast<double>(burst) * interval - tat) / interval + 1e-9));
  }

  uint64_t leases() const {
    uint64_t n = 0;
    for (const Call& c : calls) {
      n += c.want > 0;
    }
    return n;
  }
  uint64_t granted() const { return granted_; }

  bool up = true;
  bool refuse = false;  // usable, but lease() says no (too many calls pending)
  std::vector<Call> calls;
  uint64_t given_back = 0;

 private:
  Call pop() {
    EXPECT_FALSE(queue_.empty());
    const Call c = calls[queue_.front()];
    queue_.pop_front();
    return c;
  }

  // kRedisLeaseScript, in doubles like Lua.
  std::pair<int64_t, int64_t> run(const Call& c) {
    const double now = static_cast<double>(now_us_);
    const double interval = std::stod(c.interval_us);
    const double burst = static_cast<double>(c.burst);
    const std::string bucket = c.policy + ":" + c.key;
    const auto it = tat_.find(bucket);
    double tat = it == tat_.end() ? now : it->second;
    if (tat < now) {
      tat = now;
    }
    if (c.want < 0) {
      tat += static_cast<double>(c.want) * interval;
      if (tat <= now) {
        tat_.erase(bucket);
      } else {
        tat_[bucket] = tat;
      }
      return {0, 0};
    }
    const double limit = now + burst * interval;
    const double avail = std::floor((limit - tat) / interval + 1e-9);
    if (avail < 1) {
      return {0, static_cast<int64_t>(std::ceil(tat + interval - limit))};
    }
    const int64_t want = std::min<int64_t>(c.want, static_cast<int64_t>(avail));
    tat_[bucket] = tat + static_cast<double>(want) * interval;
    return {want, 0};
  }

  const uint64_t& now_us_;
  std::deque<size_t> queue_;  // indexes into calls, in send order
  std::map<std::string, double> tat_;
  uint64_t granted_ = 0;
};

// A request waiting for a lease; records what it was told.
class Waiter final : public RateWaiter {
 public:
  explicit Waiter(int id = 0, std::vector<int>* order = nullptr) : id_(id), order_(order) {}

  void rate_decided(bool allowed, uint32_t retry_after_s) override {
    EXPECT_FALSE(rate_waiting()) << "off the lease's list before being told";
    ++decided;
    this->allowed = allowed;
    retry = retry_after_s;
    if (order_) {
      order_->push_back(id_);
    }
    if (then) {
      then();
    }
  }

  RateVerdict verdict = RateVerdict::kWait;  // what admit() said, when the test keeps it
  int decided = 0;
  bool allowed = false;
  uint32_t retry = 0;
  std::function<void()> then;  // runs inside rate_decided

 private:
  int id_;
  std::vector<int>* order_;
};

RateLimitPolicy remote_policy(uint64_t tokens, int64_t period_ms, uint64_t burst, uint32_t batch,
                              uint32_t max_keys = 1024) {
  RateLimitPolicy p;
  p.name = "api";
  p.tokens = tokens;
  p.period = Duration(period_ms);
  p.burst = burst;
  p.max_keys = max_keys;
  p.backend = RateLimitPolicy::Backend::kRedis;
  p.batch = batch;
  return p;
}

double interval_us(const RateLimitPolicy& p) {
  return static_cast<double>(p.period.count()) * 1000.0 / static_cast<double>(p.tokens);
}

// A process of `shards` limiters over one config, all leasing from one fake Redis.
struct Remote {
  explicit Remote(const RateLimitPolicy& p, unsigned shards = 1) : policy(p), redis(now) {
    config.rate_limits.push_back(p);
    shared = std::make_unique<SharedRateLimits>(config);
    for (unsigned i = 0; i < shards; ++i) {
      wheels.push_back(std::make_unique<TimerWheel>(0));
      limiters.push_back(
          std::make_unique<ShardRateLimiter>(config, *shared, shards, *wheels.back(), &redis));
    }
  }
  RateVerdict admit(std::string_view key, Waiter* w, uint32_t* retry = nullptr,
                    unsigned shard = 0) {
    uint32_t r = retry ? *retry : 0;
    const RateVerdict v = limiters[shard]->admit(0, key, now, &r, w);
    if (retry) {
      *retry = r;
    }
    return v;
  }
  ShardRateLimiter& shard(unsigned i = 0) { return *limiters[i]; }
  const RateLimitCounters& counters(unsigned i = 0) const { return limiters[i]->counters(0); }
  uint64_t allowed() const {
    uint64_t n = 0;
    for (const auto& l : limiters) {
      n += l->counters(0).allowed.load();
    }
    return n;
  }
  uint64_t held() const {
    uint64_t n = 0;
    for (const auto& l : limiters) {
      n += l->held(0);
    }
    return n;
  }
  int64_t available(const std::string& key) const {
    return redis.available(policy.name, key, interval_us(policy), policy.burst);
  }

  RateLimitPolicy policy;
  uint64_t now = kStart;
  FakeRedis redis;  // outlives the limiters
  Config config;
  std::unique_ptr<SharedRateLimits> shared;
  std::vector<std::unique_ptr<TimerWheel>> wheels;
  std::vector<std::unique_ptr<ShardRateLimiter>> limiters;
};

// ----- one call per batch -----

TEST(RemoteRateLimit, FirstRequestWaitsAndTheBatchServesTheNextOnes) {
  Remote r(remote_policy(100, 1000, 50, 4));
  Waiter w1;
  uint32_t retry = 77;
  EXPECT_EQ(r.admit("client", &w1, &retry), RateVerdict::kWait);
  EXPECT_EQ(retry, 77u);  // not decided yet
  EXPECT_TRUE(w1.rate_waiting());
  ASSERT_EQ(r.redis.calls.size(), 1u);
  const FakeRedis::Call& c = r.redis.calls[0];
  EXPECT_EQ(c.policy, "api");
  EXPECT_EQ(c.key, "client");
  EXPECT_EQ(c.interval_us, "10000.000000");  // 100/s: 10 ms per token
  EXPECT_EQ(c.burst, 50u);
  EXPECT_EQ(c.want, 4);
  EXPECT_EQ(c.handler, static_cast<LeaseHandler*>(&r.shard()));
  EXPECT_NE(c.tag, 0u);
  EXPECT_EQ(r.counters().backend_calls.load(), 1u);
  EXPECT_EQ(r.counters().allowed.load(), 0u);
  EXPECT_EQ(w1.decided, 0);

  r.redis.answer_all();
  EXPECT_EQ(w1.decided, 1);
  EXPECT_TRUE(w1.allowed);
  EXPECT_EQ(w1.retry, 0u);
  EXPECT_FALSE(w1.rate_waiting());
  EXPECT_EQ(r.held(), 3u);
  EXPECT_EQ(r.counters().leases.load(), 1u);
  EXPECT_EQ(r.counters().allowed.load(), 1u);

  // From the batch, at once; the second leaves half of it, so the next batch is asked for.
  Waiter w2, w3, w4;
  EXPECT_EQ(r.admit("client", &w2), RateVerdict::kAllowed);
  ASSERT_EQ(r.redis.calls.size(), 2u);
  EXPECT_EQ(r.redis.calls[1].want, 4);
  EXPECT_EQ(r.admit("client", &w3), RateVerdict::kAllowed);
  EXPECT_EQ(r.admit("client", &w4), RateVerdict::kAllowed);
  EXPECT_EQ(r.redis.calls.size(), 2u);  // one call in flight per key
  EXPECT_EQ(w2.decided + w3.decided + w4.decided, 0);
  EXPECT_EQ(r.held(), 0u);
  // The batch is used up before the prefetch came back: wait for it.
  Waiter w5;
  EXPECT_EQ(r.admit("client", &w5), RateVerdict::kWait);
  EXPECT_EQ(r.redis.calls.size(), 2u);
  r.redis.answer_all();
  EXPECT_EQ(w5.decided, 1);
  EXPECT_TRUE(w5.allowed);
  EXPECT_EQ(r.held(), 3u);
  EXPECT_EQ(r.counters().allowed.load(), 5u);
  EXPECT_EQ(r.counters().backend_calls.load(), 2u);
  EXPECT_EQ(r.shard().remaining(0, "client", r.now), 3u);  // what is leased here
}

TEST(RemoteRateLimit, ASteadyClientMakesAboutOneCallPerBatch) {
  constexpr uint32_t kBatch = 8;
  constexpr int kRequests = 1000;
  Remote r(remote_policy(1000, 1000, 100, kBatch));
  std::deque<Waiter> waiters;
  int waited = 0;
  for (int i = 0; i < kRequests; ++i) {
    r.now = kStart + static_cast<uint64_t>(i) * 2 * kMs;  // 500/s: half the rate
    waiters.emplace_back();
    waiters.back().verdict = r.admit("steady", &waiters.back());
    waited += waiters.back().verdict == RateVerdict::kWait;
    if (i % 3 == 0) {
      r.redis.answer_all();  // a round trip of up to 6 ms
    }
  }
  r.redis.drain();
  for (const Waiter& w : waiters) {
    EXPECT_EQ(w.decided, w.verdict == RateVerdict::kWait ? 1 : 0);
    EXPECT_TRUE(w.verdict == RateVerdict::kAllowed || w.allowed);
  }
  EXPECT_EQ(r.counters().allowed.load(), static_cast<uint64_t>(kRequests));
  EXPECT_EQ(waited, 1);  // only the first: the next batch always came back in time
  const uint64_t calls = r.redis.leases();
  EXPECT_EQ(r.counters().backend_calls.load(), calls);
  EXPECT_GE(calls, kRequests / kBatch);
  EXPECT_LE(calls, kRequests / kBatch + 2);
  EXPECT_LE(r.held(), kBatch + kBatch / 2);
  EXPECT_EQ(r.redis.granted(), kRequests + r.held());
}

// ----- several waiters on one call -----

TEST(RemoteRateLimit, WaitersOnOneCallAreServedInOrder) {
  Remote r(remote_policy(100, 1000, 50, 4));
  std::vector<int> order;
  std::deque<Waiter> w;
  for (int i = 0; i < 4; ++i) {
    w.emplace_back(i, &order);
    EXPECT_EQ(r.admit("k", &w.back()), RateVerdict::kWait);
  }
  EXPECT_EQ(r.redis.calls.size(), 1u);
  r.redis.answer_all();
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3}));
  for (const Waiter& x : w) {
    EXPECT_EQ(x.decided, 1);
    EXPECT_TRUE(x.allowed);
  }
  EXPECT_EQ(r.held(), 0u);
  // The waiters used the whole batch: the next one is asked for at once.
  ASSERT_EQ(r.redis.calls.size(), 2u);
  EXPECT_EQ(r.redis.calls[1].want, 4);
  EXPECT_EQ(r.counters().allowed.load(), 4u);
  r.redis.answer_all();
  EXPECT_EQ(r.held(), 4u);
}

TEST(RemoteRateLimit, AnEmptyBucketRefusesTheRestAndIsLimitedLocallyUntilItRefills) {
  // One token per 10 s, a bucket of 2, batches of 4: Redis has fewer than asked for.
  Remote r(remote_policy(1, 10000, 2, 4));
  std::deque<Waiter> w(3);
  for (Waiter& x : w) {
    EXPECT_EQ(r.admit("k", &x), RateVerdict::kWait);
  }
  ASSERT_EQ(r.redis.calls.size(), 1u);
  r.redis.answer_all();
  EXPECT_TRUE(w[0].allowed);
  EXPECT_TRUE(w[1].allowed);
  EXPECT_EQ(w[2].decided, 1);
  EXPECT_FALSE(w[2].allowed);
  EXPECT_EQ(w[2].retry, 10u);           // Redis gave all it had: the next token is 10 s away
  EXPECT_EQ(r.redis.calls.size(), 1u);  // and is not asked again for the one left waiting
  EXPECT_EQ(r.counters().limited.load(), 1u);

  // Redis gave fewer than asked: it is empty until its next token, and the shard knows it.
  r.now += 100 * kMs;
  std::deque<Waiter> v(2);
  for (Waiter& x : v) {
    uint32_t retry = 0;
    EXPECT_EQ(r.admit("k", &x, &retry), RateVerdict::kLimited);
    EXPECT_EQ(retry, 10u);  // 9.9 s
    EXPECT_FALSE(x.rate_waiting());
  }
  ASSERT_EQ(r.redis.calls.size(), 1u);
  // Until then the shard answers by itself, with the time left.
  // (A fresh waiter per request: a request is never waiting twice.)
  Waiter u1, u2, u3;
  uint32_t retry = 0;
  r.now = kStart + 5000 * kMs;
  EXPECT_EQ(r.admit("k", &u1, &retry), RateVerdict::kLimited);
  EXPECT_EQ(retry, 5u);
  r.now = kStart + 9999 * kMs;
  EXPECT_EQ(r.admit("k", &u2, &retry), RateVerdict::kLimited);
  EXPECT_EQ(retry, 1u);
  EXPECT_EQ(u1.decided + u2.decided, 0);
  EXPECT_FALSE(u1.rate_waiting() || u2.rate_waiting());
  EXPECT_EQ(r.redis.calls.size(), 1u);
  EXPECT_EQ(r.counters().limited.load(), 5u);
  // Once the wait is over, Redis is asked again and has a token.
  r.now = kStart + 10000 * kMs;
  EXPECT_EQ(r.admit("k", &u3), RateVerdict::kWait);
  ASSERT_EQ(r.redis.calls.size(), 2u);
  r.redis.answer_all();
  EXPECT_EQ(u3.decided, 1);
  EXPECT_TRUE(u3.allowed);
  EXPECT_EQ(r.counters().allowed.load(), 3u);
}

TEST(RemoteRateLimit, AFullBatchWithWaitersLeftAsksAgainForThem) {
  Remote r(remote_policy(100, 1000, 100, 4));
  std::vector<int> order;
  std::deque<Waiter> w;
  for (int i = 0; i < 6; ++i) {
    w.emplace_back(i, &order);
    EXPECT_EQ(r.admit("k", &w.back()), RateVerdict::kWait);
  }
  ASSERT_EQ(r.redis.calls.size(), 1u);
  r.redis.answer_all();
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3}));
  // Redis gave all that was asked: it may have more, so the last two are not refused.
  EXPECT_EQ(w[4].decided, 0);
  EXPECT_EQ(w[5].decided, 0);
  EXPECT_TRUE(w[4].rate_waiting());
  EXPECT_TRUE(w[5].rate_waiting());
  ASSERT_EQ(r.redis.calls.size(), 2u);  // one call for both
  EXPECT_EQ(r.redis.calls[1].want, 4);
  // A request arriving meanwhile waits on that same call, behind them.
  w.emplace_back(6, &order);
  EXPECT_EQ(r.admit("k", &w.back()), RateVerdict::kWait);
  EXPECT_EQ(r.redis.calls.size(), 2u);
  r.redis.answer_all();
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4, 5, 6}));
  for (const Waiter& x : w) {
    EXPECT_EQ(x.decided, 1);
    EXPECT_TRUE(x.allowed);
  }
  EXPECT_EQ(r.held(), 1u);
  EXPECT_EQ(r.counters().limited.load(), 0u);
  // One token left of four: the next batch is on its way already.
  EXPECT_EQ(r.counters().backend_calls.load(), 3u);
  r.redis.answer_all();
  EXPECT_EQ(r.held(), 5u);
}

// ----- on_error -----

TEST(RemoteRateLimit, RedisDownAllowsByDefault) {
  Remote r(remote_policy(100, 1000, 50, 4));
  r.redis.up = false;
  Waiter w1, w2, w3;
  uint32_t retry = 0;
  EXPECT_EQ(r.admit("k", &w1, &retry), RateVerdict::kAllowed);
  EXPECT_FALSE(w1.rate_waiting());
  EXPECT_EQ(r.counters().backend_errors.load(), 1u);
  EXPECT_EQ(r.counters().allowed.load(), 1u);
  EXPECT_EQ(r.counters().limited.load(), 0u);
  // Usable, but the call cannot be queued: the same.
  r.redis.up = true;
  r.redis.refuse = true;
  EXPECT_EQ(r.admit("k", &w2, &retry), RateVerdict::kAllowed);
  EXPECT_EQ(r.counters().backend_errors.load(), 2u);
  EXPECT_EQ(w1.decided + w2.decided, 0);
  EXPECT_TRUE(r.redis.calls.empty());
  EXPECT_EQ(r.counters().backend_calls.load(), 0u);
  // A request that cannot wait (check()) is decided by on_error rather than by a call.
  r.redis.refuse = false;
  EXPECT_TRUE(r.shard().check(0, "k", r.now, &retry));
  EXPECT_EQ(r.counters().backend_errors.load(), 3u);
  EXPECT_TRUE(r.redis.calls.empty());
  // Redis back: requests wait for it again.
  EXPECT_EQ(r.admit("k", &w3), RateVerdict::kWait);
  EXPECT_EQ(r.redis.calls.size(), 1u);
  r.redis.answer_all();
  EXPECT_EQ(w3.decided, 1);
  EXPECT_TRUE(w3.allowed);
  EXPECT_EQ(r.counters().backend_errors.load(), 3u);
  EXPECT_EQ(r.counters().allowed.load(), 4u);
}

TEST(RemoteRateLimit, RedisDownDeniesWithDenyOnError) {
  RateLimitPolicy p = remote_policy(100, 1000, 50, 4);
  p.deny_on_error = true;
  Remote r(p);
  r.redis.up = false;
  Waiter w;
  uint32_t retry = 0;
  EXPECT_EQ(r.admit("k", &w, &retry), RateVerdict::kLimited);
  EXPECT_GE(retry, 1u);
  EXPECT_FALSE(w.rate_waiting());
  EXPECT_EQ(w.decided, 0);
  EXPECT_EQ(r.counters().backend_errors.load(), 1u);
  EXPECT_EQ(r.counters().limited.load(), 1u);
  EXPECT_EQ(r.counters().allowed.load(), 0u);
  retry = 0;
  EXPECT_FALSE(r.shard().check(0, "k", r.now, &retry));
  EXPECT_GE(retry, 1u);
  EXPECT_EQ(r.counters().backend_errors.load(), 2u);
}

TEST(RemoteRateLimit, AFailedCallDecidesEveryWaiterByOnError) {
  for (bool deny : {false, true}) {
    RateLimitPolicy p = remote_policy(100, 1000, 50, 4);
    p.deny_on_error = deny;
    Remote r(p);
    std::deque<Waiter> w(3);
    for (Waiter& x : w) {
      EXPECT_EQ(r.admit("k", &x), RateVerdict::kWait);
    }
    ASSERT_EQ(r.redis.calls.size(), 1u);
    r.redis.fail_all();
    for (const Waiter& x : w) {
      EXPECT_EQ(x.decided, 1) << deny;
      EXPECT_EQ(x.allowed, !deny);
      if (deny) {
        EXPECT_GE(x.retry, 1u);
      }
    }
    EXPECT_EQ(r.counters().backend_errors.load(), 3u);
    EXPECT_EQ(r.counters().allowed.load(), deny ? 0u : 3u);
    EXPECT_EQ(r.counters().limited.load(), deny ? 3u : 0u);
    EXPECT_EQ(r.held(), 0u);
    // The failed call is over: the next request tries Redis again.
    Waiter next;
    EXPECT_EQ(r.admit("k", &next), RateVerdict::kWait);
    ASSERT_EQ(r.redis.calls.size(), 2u);
    r.redis.answer_all();
    EXPECT_EQ(next.decided, 1);
    EXPECT_TRUE(next.allowed);
  }
}

// ----- cancel -----

TEST(RemoteRateLimit, CancelledWaitersAreNeverTold) {
  Remote r(remote_policy(100, 1000, 50, 4));
  std::vector<int> order;
  std::deque<Waiter> w;
  for (int i = 0; i < 4; ++i) {
    w.emplace_back(i, &order);
    EXPECT_EQ(r.admit("k", &w.back()), RateVerdict::kWait);
  }
  r.shard().cancel(&w[1]);  // the middle
  EXPECT_FALSE(w[1].rate_waiting());
  r.shard().cancel(&w[1]);  // twice: nothing
  r.shard().cancel(&w[0]);  // the head
  r.shard().cancel(&w[3]);  // the tail
  Waiter never;
  r.shard().cancel(&never);  // never waited: nothing
  EXPECT_TRUE(w[2].rate_waiting());
  // A request arriving now joins the call behind the one left.
  w.emplace_back(4, &order);
  EXPECT_EQ(r.admit("k", &w.back()), RateVerdict::kWait);
  EXPECT_EQ(r.redis.calls.size(), 1u);
  r.redis.answer_all();
  EXPECT_EQ(order, (std::vector<int>{2, 4}));
  EXPECT_EQ(w[0].decided, 0);
  EXPECT_EQ(w[1].decided, 0);
  EXPECT_EQ(w[3].decided, 0);
  for (int i : {2, 4}) {
    EXPECT_EQ(w[i].decided, 1);
    EXPECT_TRUE(w[i].allowed);
  }
  EXPECT_EQ(r.counters().allowed.load(), 2u);
  EXPECT_EQ(r.held(), 2u);  // the rest of the batch stays with the key
}

TEST(RemoteRateLimit, ACallWhoseWaitersAllWentAwayStillServesTheKey) {
  Remote r(remote_policy(100, 1000, 50, 4));
  Waiter gone, after;
  EXPECT_EQ(r.admit("k", &gone), RateVerdict::kWait);
  r.shard().cancel(&gone);
  EXPECT_FALSE(gone.rate_waiting());
  // The next request still joins that call, and is told.
  EXPECT_EQ(r.admit("k", &after), RateVerdict::kWait);
  EXPECT_EQ(r.redis.calls.size(), 1u);
  r.redis.answer_all();
  EXPECT_EQ(gone.decided, 0);
  EXPECT_EQ(after.decided, 1);
  EXPECT_TRUE(after.allowed);
  EXPECT_EQ(r.held(), 3u);
  // The batch serves the next requests; the one leaving half of it sends for more, with
  // nobody waiting: the answer goes to the key.
  Waiter n1, n2, n3;
  EXPECT_EQ(r.admit("k", &n1), RateVerdict::kAllowed);
  ASSERT_EQ(r.redis.calls.size(), 2u);
  EXPECT_EQ(r.admit("k", &n2), RateVerdict::kAllowed);
  EXPECT_EQ(r.admit("k", &n3), RateVerdict::kAllowed);
  EXPECT_EQ(r.held(), 0u);
  r.redis.answer_all();
  EXPECT_EQ(r.held(), 4u);
  EXPECT_EQ(n1.decided + n2.decided + n3.decided, 0);
}

// ----- the limit itself -----

TEST(RemoteRateLimit, TwoShardsOnOneRedisKeepTheBurstAndTheRate) {
  // 1000/s, a burst of 100, batches from the rate (10 for 2 shards); each shard is offered
  // 2000 requests a second for 10 s, Redis answers within the millisecond.
  Remote r(remote_policy(1000, 1000, 100, 0), 2);
  std::deque<Waiter> waiters;
  for (uint64_t ms = 0; ms < 10000; ++ms) {
    for (unsigned i = 0; i < 2; ++i) {
      const unsigned s = (i + ms) % 2;  // which shard's calls reach Redis first varies
      r.now = kStart + ms * kMs + i * 300;
      for (int k = 0; k < 2; ++k) {
        waiters.emplace_back();
        waiters.back().verdict = r.admit("client", &waiters.back(), nullptr, s);
      }
    }
    r.now = kStart + ms * kMs + 900;
    r.redis.answer_all();
  }
  r.redis.drain();
  uint64_t allowed = 0;
  for (const Waiter& w : waiters) {
    EXPECT_EQ(w.decided, w.verdict == RateVerdict::kWait ? 1 : 0);
    allowed += w.verdict == RateVerdict::kAllowed || (w.decided == 1 && w.allowed);
  }
  EXPECT_EQ(allowed, r.allowed());
  const double expected = 100 + 1000.0 * 10;
  EXPECT_NEAR(static_cast<double>(allowed), expected, expected * 0.05);
  // Both shards took from the one bucket (how it splits between them is not promised: in this
  // lock-step load the shard that wins a token tends to win the next one too).
  EXPECT_GT(r.counters(0).allowed.load(), 0u);
  EXPECT_GT(r.counters(1).allowed.load(), 0u);
  EXPECT_EQ(r.counters(0).backend_errors.load() + r.counters(1).backend_errors.load(), 0u);
  EXPECT_EQ(r.redis.granted(), r.allowed() + r.held() + r.redis.given_back);
}

// ----- give-backs -----

TEST(RemoteRateLimit, AnIdleKeyGivesItsTokensBack) {
  // 1 per 10 s, a bucket of 100, batches of 8.
  Remote r(remote_policy(1, 10000, 100, 8));
  Waiter w;
  EXPECT_EQ(r.admit("k", &w), RateVerdict::kWait);
  r.redis.answer_all();
  ASSERT_TRUE(w.allowed);
  EXPECT_EQ(r.held(), 7u);
  EXPECT_EQ(r.available("k"), 92);
  // A give-back is a Redis call: a key keeps its batch for a second of quiet (a local policy
  // gives back after 50 ms).
  r.now = kStart + 999 * kMs;
  EXPECT_TRUE(r.shard().sweep(r.now));  // not idle long enough yet
  EXPECT_EQ(r.redis.calls.size(), 1u);
  EXPECT_EQ(r.held(), 7u);
  r.now = kStart + 1000 * kMs;
  EXPECT_FALSE(r.shard().sweep(r.now));
  EXPECT_EQ(r.held(), 0u);
  ASSERT_EQ(r.redis.calls.size(), 2u);
  const FakeRedis::Call& back = r.redis.calls[1];
  EXPECT_EQ(back.want, -7);
  EXPECT_EQ(back.key, "k");
  EXPECT_EQ(back.policy, "api");
  EXPECT_EQ(back.interval_us, "10000000.000000");
  EXPECT_EQ(back.burst, 100u);
  EXPECT_EQ(back.handler, nullptr);
  EXPECT_EQ(r.counters().backend_calls.load(), 1u);  // give-backs are not lease calls
  r.redis.answer_all();
  // Only the token used is missing (a tenth of it came back with the clock).
  EXPECT_EQ(r.available("k"), 99);
  // Nothing held: nothing more to give back.
  r.now += 100 * kMs;
  EXPECT_FALSE(r.shard().sweep(r.now));
  EXPECT_EQ(r.redis.calls.size(), 2u);
}

TEST(RemoteRateLimit, AnIdleKeyDropsItsTokensWhenRedisIsDown) {
  Remote r(remote_policy(10, 1000, 100, 8));
  Waiter w;
  EXPECT_EQ(r.admit("k", &w), RateVerdict::kWait);
  r.redis.answer_all();
  EXPECT_EQ(r.held(), 7u);
  r.redis.up = false;
  r.now += 1000 * kMs;
  EXPECT_FALSE(r.shard().sweep(r.now));
  EXPECT_EQ(r.held(), 0u);  // Redis gets them back by itself, within a burst window
  EXPECT_EQ(r.redis.calls.size(), 1u);
}

// ----- cache collisions -----

// A key that shares `a`'s entry in the shard's cache of `p` (max_keys 16: 16 entries). The
// hash seed is the process's, the same for every limiter, so a probe limiter finds it: a key
// that takes `a`'s entry makes `a` give back its leased tokens.
std::string colliding_key(const RateLimitPolicy& p, const std::string& a) {
  Remote probe(p);
  Waiter w;
  probe.admit(a, &w);
  probe.redis.answer_all();
  EXPECT_GT(probe.held(), 0u);
  for (int i = 0; i < 10000; ++i) {
    const std::string x = "other-" + std::to_string(i);
    const size_t before = probe.redis.calls.size();
    uint32_t retry = 0;
    probe.shard().check(0, x, probe.now, &retry);  // without a waiter: no call of its own
    if (probe.redis.calls.size() > before) {
      EXPECT_EQ(probe.redis.calls.back().key, a);
      EXPECT_LT(probe.redis.calls.back().want, 0);
      return x;
    }
  }
  ADD_FAILURE() << "no key shares an entry with " << a;
  return "";
}

TEST(RemoteRateLimit, AKeyThatLosesItsCacheEntryMidCallStillServesItsWaiters) {
  const RateLimitPolicy p = remote_policy(100, 1000, 100, 4, 16);
  const std::string other = colliding_key(p, "a");
  ASSERT_FALSE(other.empty());
  Remote r(p);
  Waiter a1, a2, x1;
  EXPECT_EQ(r.admit("a", &a1), RateVerdict::kWait);
  EXPECT_EQ(r.admit("a", &a2), RateVerdict::kWait);
  EXPECT_EQ(r.admit(other, &x1), RateVerdict::kWait);  // takes the entry, "a"'s call in flight
  ASSERT_EQ(r.redis.calls.size(), 2u);
  r.redis.answer_all();
  for (const Waiter* w : {&a1, &a2, &x1}) {
    EXPECT_EQ(w->decided, 1);
    EXPECT_TRUE(w->allowed);
  }
  // "a"'s batch had no entry to go to: what its waiters did not use went back to Redis.
  ASSERT_EQ(r.redis.calls.size(), 3u);
  EXPECT_EQ(r.redis.calls[2].key, "a");
  EXPECT_EQ(r.redis.calls[2].want, -2);
  EXPECT_EQ(r.held(), 3u);  // the other key's batch, one used
  EXPECT_EQ(r.redis.granted(), r.allowed() + r.held() + r.redis.given_back);
  r.redis.answer_all();
  EXPECT_EQ(r.available("a"), 98);
}

// A key loses its cache entry while its call is in flight, then gets the entry back before the
// answer (its next request starts a second call): the first answer's tokens go to that entry and
// serve the waiters, instead of going back to Redis while the waiters are refused.
TEST(RemoteRateLimit, AKeyThatGetsItsCacheEntryBackMidCallUsesTheTokensLeasedForIt) {
  // One token per 10 s, a bucket of 2, batches of 4.
  const RateLimitPolicy p = remote_policy(1, 10000, 2, 4, 16);
  const std::string other = colliding_key(p, "a");
  ASSERT_FALSE(other.empty());
  Remote r(p);
  Waiter a1, x1, a2;
  EXPECT_EQ(r.admit("a", &a1), RateVerdict::kWait);
  EXPECT_EQ(r.admit(other, &x1), RateVerdict::kWait);
  EXPECT_EQ(r.admit("a", &a2), RateVerdict::kWait);  // the entry back, a second call for "a"
  ASSERT_EQ(r.redis.calls.size(), 3u);
  r.redis.answer_front();  // "a"'s first call: Redis grants the 2 tokens of the bucket
  EXPECT_EQ(a1.decided, 1);
  EXPECT_TRUE(a1.allowed) << "refused (Retry-After " << a1.retry
                          << ") while the 2 tokens leased for it were given back";
  r.redis.drain();
  for (const Waiter* w : {&a1, &x1, &a2}) {
    EXPECT_EQ(w->decided, 1);
  }
  EXPECT_TRUE(x1.allowed);
  EXPECT_EQ(r.redis.granted(), r.allowed() + r.held() + r.redis.given_back);
}

TEST(RemoteRateLimit, ManyKeysInASmallCacheAnswerEveryWaiterOnceAndLoseNoToken) {
  // 64 keys over 16 cache entries, each asked for three times a round with calls in flight;
  // 10/s (100 ms a token) with a bucket of 1000: no key runs short.
  Remote r(remote_policy(10, 1000, 1000, 4, 16));
  std::deque<Waiter> waiters;
  for (int round = 0; round < 6; ++round) {
    r.now = kStart + static_cast<uint64_t>(round) * 20 * kMs;
    for (int pass = 0; pass < 3; ++pass) {
      for (int k = 0; k < 64; ++k) {
        waiters.emplace_back();
        waiters.back().verdict = r.admit("key-" + std::to_string(k), &waiters.back());
      }
    }
    if (round % 2 == 0) {
      r.redis.answer_all();  // from round 1 on, the calls of two rounds at once
    }
  }
  r.redis.drain();
  for (const Waiter& w : waiters) {
    ASSERT_EQ(w.decided, w.verdict == RateVerdict::kWait ? 1 : 0);
    EXPECT_TRUE(w.verdict == RateVerdict::kAllowed || w.allowed);  // every bucket had plenty
  }
  EXPECT_EQ(r.allowed(), waiters.size());
  EXPECT_EQ(r.counters().limited.load(), 0u);
  EXPECT_EQ(r.counters().backend_errors.load(), 0u);
  EXPECT_EQ(r.redis.granted(), r.allowed() + r.held() + r.redis.given_back);
  // Once quiet, every token held comes back.
  r.now = kStart + 1150 * kMs;  // a second after the last request
  EXPECT_FALSE(r.shard().sweep(r.now));
  EXPECT_EQ(r.held(), 0u);
  EXPECT_EQ(r.redis.granted(), r.allowed() + r.redis.given_back);
  r.redis.drain();
  for (int k = 0; k < 64; ++k) {
    // Exactly the 18 tokens each key used are missing (1.15 s brought 11 back): nothing leased
    // is lost, nothing given back twice.
    EXPECT_EQ(r.available("key-" + std::to_string(k)), 1000 - 18 + 11) << k;
  }
}

// ----- re-entrancy -----

TEST(RemoteRateLimit, AWaiterThatAdmitsAgainWhenToldIsServedFromWhatIsLeft) {
  Remote r(remote_policy(100, 1000, 50, 4));
  std::vector<int> order;
  Waiter w1(1, &order), w2(2, &order), again(3, &order);
  RateVerdict second = RateVerdict::kLimited;
  bool ran = false;
  w1.then = [&] {
    second = r.admit("k", &again);  // the connection's next, pipelined request
    ran = true;
  };
  EXPECT_EQ(r.admit("k", &w1), RateVerdict::kWait);
  EXPECT_EQ(r.admit("k", &w2), RateVerdict::kWait);
  r.redis.answer_all();
  ASSERT_TRUE(ran);
  EXPECT_EQ(second, RateVerdict::kAllowed);
  EXPECT_EQ(again.decided, 0);
  EXPECT_EQ(order, (std::vector<int>{1, 2}));
  EXPECT_TRUE(w1.allowed);
  EXPECT_TRUE(w2.allowed);
  EXPECT_EQ(r.counters().allowed.load(), 3u);
  // Four tokens: w1, its next request, w2; the next request left half, so a batch is coming.
  EXPECT_EQ(r.held(), 1u);
  ASSERT_EQ(r.redis.calls.size(), 2u);
  EXPECT_EQ(r.redis.calls[1].want, 4);
  r.redis.answer_all();
  EXPECT_EQ(r.held(), 5u);
}

TEST(RemoteRateLimit, AWaiterThatAdmitsAgainAfterTheLastTokenIsRefusedWhileRedisIsEmpty) {
  Remote r(remote_policy(100, 1000, 50, 4));
  Waiter w1, w2, again;
  RateVerdict second = RateVerdict::kLimited;
  w1.then = [&] { second = r.admit("k", &again); };
  EXPECT_EQ(r.admit("k", &w1), RateVerdict::kWait);
  EXPECT_EQ(r.admit("k", &w2), RateVerdict::kWait);
  r.redis.answer_front_with(1, 0);  // Redis had a single token
  EXPECT_TRUE(w1.allowed);
  // Redis ran short of what was asked for: it is empty for an interval, so the pipelined
  // request is refused at once, like the one still waiting.
  EXPECT_EQ(second, RateVerdict::kLimited);
  EXPECT_FALSE(again.rate_waiting());
  EXPECT_EQ(again.decided, 0);
  EXPECT_EQ(r.redis.calls.size(), 1u);
  EXPECT_EQ(w2.decided, 1);
  EXPECT_FALSE(w2.allowed);
  EXPECT_GE(w2.retry, 1u);
  EXPECT_EQ(w1.decided, 1);
  // After the interval (10 ms at 100/s) the next request asks Redis again.
  r.now += 10 * kMs;
  Waiter later;
  EXPECT_EQ(r.admit("k", &later), RateVerdict::kWait);
  ASSERT_EQ(r.redis.calls.size(), 2u);
  r.redis.answer_all();
  EXPECT_EQ(later.decided, 1);
  EXPECT_TRUE(later.allowed);
}

TEST(RemoteRateLimit, AWaiterThatAdmitsAgainWhenTheCallFailed) {
  Remote r(remote_policy(100, 1000, 50, 4));
  Waiter w1, w2, again;
  RateVerdict second = RateVerdict::kLimited;
  w1.then = [&] { second = r.admit("k", &again); };
  EXPECT_EQ(r.admit("k", &w1), RateVerdict::kWait);
  EXPECT_EQ(r.admit("k", &w2), RateVerdict::kWait);
  r.redis.fail_all();
  EXPECT_TRUE(w1.allowed);  // on_error: allow
  EXPECT_TRUE(w2.allowed);
  EXPECT_EQ(w2.decided, 1);
  EXPECT_EQ(second, RateVerdict::kWait);  // Redis is still usable: a new call
  EXPECT_EQ(r.counters().backend_errors.load(), 2u);
  r.redis.answer_all();
  EXPECT_EQ(again.decided, 1);
  EXPECT_TRUE(again.allowed);
}

TEST(RemoteRateLimit, AWaiterThatCancelsAnotherWhenTold) {
  Remote r(remote_policy(100, 1000, 50, 4));
  std::vector<int> order;
  Waiter w1(1, &order), w2(2, &order), w3(3, &order);
  w1.then = [&] { r.shard().cancel(&w2); };  // e.g. the same client's other connection closes
  for (Waiter* w : {&w1, &w2, &w3}) {
    EXPECT_EQ(r.admit("k", w), RateVerdict::kWait);
  }
  r.redis.answer_all();
  EXPECT_EQ(order, (std::vector<int>{1, 3}));
  EXPECT_EQ(w2.decided, 0);
  EXPECT_EQ(r.held(), 2u);
}

}  // namespace
}  // namespace ringgate::remote_rate_limit_test
