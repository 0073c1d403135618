#pragma once
// Rate limiting: token buckets per key that hold for the whole process without locks.
//
// Each policy has one process-wide table (SharedRateTable) holding, per key, a GCRA
// "theoretical arrival time" in a single atomic word: taking n tokens moves it n intervals
// forward, refilling is the clock catching up, so a bucket is one compare-and-swap. Shards do
// not touch it per request: each shard leases tokens in small batches into its own per-key
// cache (ShardRateLimiter, touched only by that shard) and gives back what it has not used once
// the key goes quiet. A client whose connections land on every shard gets the configured rate
// within the tokens leased and not yet given back (at most shards x batch).
//
// A `backend: redis` policy keeps its shared budget in Redis instead, so that it holds across
// gateway nodes: the shard leases batches from Redis (LeaseBackend, one call per batch) into the
// same per-key cache. A request that finds no token leased waits for the call in flight
// (RateWaiter) instead of being decided at once; the next batch is asked for when half of the
// current one is used, so a steady client rarely waits. When Redis does not answer, the policy's
// on_error decides (counted as backend_errors).

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ringgate/config/config.h"
#include "ringgate/core/timer_wheel.h"

namespace ringgate {

// Time in the tables: 1/16 ns ticks, so intervals like 1/3 s stay exact enough (2^64 ticks are
// 36 years of uptime).
constexpr uint64_t kRateTicksPerUs = 16000;

class SharedRateTable {
 public:
  struct Slot {
    std::atomic<uint64_t> key{0};  // hash of the key (never 0); 0 = free
    std::atomic<uint64_t> tat{0};  // theoretical arrival time, in ticks
  };

  explicit SharedRateTable(const RateLimitPolicy& policy);

  // The slot of `hash` (non-zero): its own, a free one, or one whose key has been idle long
  // enough that its bucket is full again (indistinguishable from a fresh one). When every slot
  // of its probe window holds a live key, the shared overflow slot, and *overflow is set.
  Slot& slot(uint64_t hash, uint64_t now_ticks, bool* overflow);
  // Takes up to `want` tokens (at least 1 when any is there). 0 when none: *wait_ticks says
  // how long until the next one.
  uint32_t lease(Slot& slot, uint32_t want, uint64_t now_ticks, uint64_t* wait_ticks);
  // Returns `n` tokens taken earlier and not used (never beyond a full bucket).
  void give_back(Slot& slot, uint32_t n, uint64_t now_ticks);
  // Tokens in the bucket now.
  uint64_t available(const Slot& slot, uint64_t now_ticks) const;

  // The live buckets (keys not full), as bytes for a process that replaces this one (reload,
  // upgrade); import_state takes them into a table of the same rate and burst (false when the
  // policy's rate or burst changed: then its buckets start full). Keys are the hashes, so both
  // processes must use the same rate_limit_seed().
  std::string export_state(uint64_t now_ticks) const;
  bool import_state(std::string_view state, uint64_t now_ticks);

  uint64_t interval_ticks() const { return interval_; }
  uint64_t burst() const { return burst_tokens_; }
  uint32_t capacity() const { return mask_ + 1; }

 private:
  std::unique_ptr<Slot[]> slots_;
  Slot overflow_;
  uint32_t mask_;
  uint64_t interval_;       // ticks per token
  uint64_t burst_tokens_;   // bucket size
  uint64_t burst_ticks_;    // burst x interval: how far ahead of now the TAT may run
  uint64_t reclaim_ticks_;  // a key whose TAT is this far behind now may lose its slot
};

// The seed of every policy's key hashes (with the policy's name): random per process, handed to
// a successor with the tables. adopt_rate_limit_seed before any shard starts.
uint64_t rate_limit_seed();
void adopt_rate_limit_seed(uint64_t seed);

// The process-wide tables of a config's policies, by Config::rate_limits index.
struct SharedRateLimits {
  explicit SharedRateLimits(const Config& config);
  std::vector<std::unique_ptr<SharedRateTable>> tables;
};

// Where backend: redis policies lease from (the shard's RedisLink; a fake in unit tests). Answers
// come later, through LeaseHandler, never from inside lease().
class LeaseHandler {
 public:
  virtual void lease_answer(uint64_t tag, bool ok, int64_t granted, int64_t wait_us) = 0;

 protected:
  ~LeaseHandler() = default;
};
class LeaseBackend {
 public:
  // Whether a call now would be sent at all (false: down, in its retry pause).
  virtual bool usable() const = 0;
  // Up to `want` tokens of bucket (policy, key); want < 0 gives -want tokens back (handler
  // null). False when the call cannot be made: the caller decides now.
  virtual bool lease(std::string_view policy, std::string_view key, std::string_view interval_us,
                     uint64_t burst, int64_t want, LeaseHandler* handler, uint64_t tag) = 0;

 protected:
  ~LeaseBackend() = default;
};

// A request that waits for a lease (the rate-limit filter's per-request part). rate_decided() is
// called exactly once, unless ShardRateLimiter::cancel() is called first.
class RateWaiter {
 public:
  virtual void rate_decided(bool allowed, uint32_t retry_after_s) = 0;
  bool rate_waiting() const { return queue.lease != nullptr; }

  // The limiter's bookkeeping: the lease call waited for, and the other waiters of that call.
  struct Queue {
    RateWaiter* prev = nullptr;
    RateWaiter* next = nullptr;
    void* lease = nullptr;
  };
  Queue queue;

 protected:
  // Not virtual: a waiter lives in a request's arena and is never deleted through this type.
  ~RateWaiter() = default;
};

enum class RateVerdict : uint8_t { kAllowed, kLimited, kWait };

// Per-policy counters, summed over shards for /metrics.
#define RINGGATE_RATE_LIMIT_COUNTERS(X)                                                            \
  X(allowed, "requests_allowed_total", "counter", "Requests the policy let through")               \
  X(limited, "requests_limited_total", "counter", "Requests answered 429 by the policy")           \
  X(overflow, "overflow_total", "counter",                                                         \
    "Checks that found the key table full and used the shared overflow bucket")                    \
  X(leases, "leases_total", "counter",                                                             \
    "Batches of tokens this process took from the shared buckets")                                 \
  X(backend_calls, "backend_calls_total", "counter", "Lease calls sent to Redis (backend: redis)") \
  X(backend_errors, "backend_errors_total", "counter",                                             \
    "Requests decided by on_error because Redis did not answer (backend: redis)")

struct RateLimitCounters {
#define RINGGATE_RATE_LIMIT_FIELD(field, name, type, help) std::atomic<uint64_t> field{0};
  RINGGATE_RATE_LIMIT_COUNTERS(RINGGATE_RATE_LIMIT_FIELD)
#undef RINGGATE_RATE_LIMIT_FIELD
};

// One shard's side of every policy. Not thread-safe: only its shard calls it.
class ShardRateLimiter final : public Timer, public LeaseHandler {
 public:
  // `backend` serves the backend: redis policies (null when there are none); `clock_us` is the
  // shard's clock, read when an answer comes (null: the time of the last check).
  ShardRateLimiter(const Config& config, SharedRateLimits& shared, unsigned shards,
                   TimerWheel& timers, LeaseBackend* backend = nullptr,
                   const uint64_t* clock_us = nullptr);
  ~ShardRateLimiter();
  ShardRateLimiter(const ShardRateLimiter&) = delete;
  ShardRateLimiter& operator=(const ShardRateLimiter&) = delete;

  // One request under policy `policy` for `key` at `now_us` (the shard's clock). False when it
  // is over the limit: *retry_after_s is when to try again (whole seconds, at least 1).
  // Local policies only (a redis policy without a waiter decides by on_error when it must wait).
  bool check(uint32_t policy, std::string_view key, uint64_t now_us, uint32_t* retry_after_s);
  // Any policy. kWait: `waiter` is told later (through rate_decided) unless cancelled.
  RateVerdict admit(uint32_t policy, std::string_view key, uint64_t now_us, uint32_t* retry_after_s,
                    RateWaiter* waiter);
  // The waiter goes away (its connection closed): it will not be told.
  void cancel(RateWaiter* waiter);
  void lease_answer(uint64_t tag, bool ok, int64_t granted, int64_t wait_us) override;
  // Tokens in `key`'s bucket now (shared and leased here), for the RateLimit header.
  uint64_t remaining(uint32_t policy, std::string_view key, uint64_t now_us);
  // Gives back the tokens of keys idle for a while; true while some are still held.
  bool sweep(uint64_t now_us);

  const RateLimitCounters& counters(uint32_t policy) const { return policies_[policy].counters; }
  // Tokens leased to this shard and not used yet (all keys of `policy`).
  uint64_t held(uint32_t policy) const;

 private:
  struct Lease;
  struct Entry {
    uint64_t hash = 0;
    SharedRateTable::Slot* slot = nullptr;
    uint32_t tokens = 0;  // leased, not used yet
    uint64_t last_us = 0;
    // backend: redis
    Lease* lease = nullptr;       // the call in flight for this key
    uint64_t empty_until_us = 0;  // Redis said the bucket is empty until then
    std::string key;              // for give-backs (capacity kept across keys)
  };
  // A lease call to the backend and the requests waiting for it.
  struct Lease {
    uint32_t policy = 0;
    uint64_t hash = 0;
    Entry* entry = nullptr;  // null once the cache entry went to another key
    std::string key;
    int64_t want = 0;
    RateWaiter* head = nullptr;
    RateWaiter* tail = nullptr;
    Lease* next_free = nullptr;
  };
  struct Policy {
    SharedRateTable* table = nullptr;
    uint64_t seed = 0;
    uint32_t batch = 1;
    uint32_t mask = 0;
    std::vector<Entry> entries;  // direct-mapped by hash
    RateLimitCounters counters;
    // backend: redis
    bool remote = false;
    bool deny_on_error = false;
    std::string name;
    std::string interval_us;  // µs per token, as the script's argument
    double interval = 0;      // the same, as a number
    uint64_t burst = 0;
  };

  static void on_sweep(Timer* t);
  uint64_t hash_of(const Policy& p, std::string_view key) const;
  void release(Policy& p, Entry& e, uint64_t now_ticks);
  Entry& entry_for(Policy& p, uint64_t hash, std::string_view key, uint64_t now_ticks);
  RateVerdict admit_remote(uint32_t policy, Policy& p, Entry& e, uint64_t now_us,
                           uint32_t* retry_after_s, RateWaiter* waiter);
  Lease* start_lease(uint32_t policy, Entry* e, std::string_view key, uint64_t hash, int64_t want);
  RateVerdict on_error(Policy& p, uint32_t* retry_after_s);
  void wait_on(Lease* l, RateWaiter* w);
  RateWaiter* pop_waiter(Lease* l);
  uint32_t retry_seconds(const Policy& p, int64_t wait_us) const;

  LeaseBackend* backend_;
  const uint64_t* clock_us_;
  Lease* free_leases_ = nullptr;
  std::vector<std::unique_ptr<Lease>> leases_;  // every Lease ever made (the pool)

  std::vector<Policy> policies_;
  TimerWheel& timers_;
  uint64_t last_now_us_ = 0;
};

}  // namespace ringgate
