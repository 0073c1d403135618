#pragma once
// One shard's aggregation: the aggregate routes' actions, the pooled aggregate calls, the JSON
// reader they share (one body open at a time) and their fan-out budget. Calls to the backends
// come from the shard's UpstreamShard; answers go out in bodies from its HttpShard.
//
// The budget (aggregate.max_calls_in_flight) is a number of slots, one per backend call in
// flight. A call takes a slot before it starts and gives it back when it ends or is cancelled.
// A started request that finds no slot waits in `slot_waiters_`; a new request that finds the
// budget taken (or anyone waiting) waits in `admit_waiters_` until queue_timeout, then is
// refused 503. Freed slots go to started requests first, so work in progress finishes before
// new work starts: under overload, requests are refused early instead of all timing out.

#include <atomic>
#include <memory>
#include <utility>
#include <vector>

#include "ringgate/aggregate/json.h"
#include "ringgate/config/config.h"
#include "ringgate/core/counters.h"
#include "ringgate/core/error.h"
#include "ringgate/core/histogram.h"
#include "ringgate/core/intrusive_list.h"
#include "ringgate/core/object_pool.h"
#include "ringgate/http/pipeline.h"

namespace ringgate {

class AggregateCall;
class HttpShard;
class UpstreamShard;

// An AggregateCall's place in the budget's queues.
struct BudgetWaiter {
  ListLink<BudgetWaiter> wait_link;
};

// One aggregation backend's counters on one shard (relaxed stores by the shard, summed on scrape).
struct AggregateBackendCounters {
  std::atomic<uint64_t> calls{0};     // calls made (each element of a for_each is one)
  std::atomic<uint64_t> defaults{0};  // an optional backend failed: its default was served
  std::atomic<uint64_t> failures[kErrorKindCount] = {};  // the backend failed, by kind
  LatencyHistogram latency;  // each call, from its start to its response complete (or failure)
};

class CacheStore;

class AggregateShard {
 public:
  // `budget`: backend calls in flight at once; `queue_timeout_ms`: a new request's wait for it.
  AggregateShard(UpstreamShard& upstream, HttpShard& http, uint32_t budget,
                 uint64_t queue_timeout_ms);
  ~AggregateShard();
  AggregateShard(const AggregateShard&) = delete;
  AggregateShard& operator=(const AggregateShard&) = delete;

  // The action of aggregate route `route` on this shard: templates and projections compiled,
  // clusters resolved. Throws ConfigError for what the config loader should have refused.
  std::unique_ptr<Action> make_action(const RouteConfig& route, const AggregateAction& action);
  // The counters of `route`'s backends (in config order), or null when it is not an aggregate
  // route of this shard.
  const AggregateBackendCounters* backend_counters(const RouteConfig* route) const;

  // Before make_action(): the response caches (by Config::caches index) backends may use, and
  // this shard's index (their counters).
  void set_caches(std::vector<CacheStore*> caches, unsigned shard) {
    caches_ = std::move(caches);
    shard_index_ = shard;
  }
  unsigned shard_index() const { return shard_index_; }

  AggregateCall* acquire();
  void release(AggregateCall* call);
  json::Reader& json_reader() { return json_reader_; }
  UpstreamShard& upstream() { return upstream_; }
  HttpShard& http() { return http_; }

  // Bytes of backend bodies held by requests in flight (for the overload budget).
  uint64_t bytes_held() const { return bytes_held_; }
  void hold_bytes(uint64_t n) { bytes_held_ += n; }
  void release_bytes(uint64_t n) { bytes_held_ -= n; }

  // --- the fan-out budget ---
  uint64_t queue_timeout_ms() const { return queue_timeout_ms_; }
  uint32_t calls_in_flight() const { return in_flight_; }
  // A slot for one backend call, if one is free.
  bool take_slot();
  // A call that held a slot ended or was cancelled. The slot goes to a waiter at wake().
  void give_slot();
  // A new request: true when it may start now; false when it was queued (admitted() or its
  // queue timeout follow).
  bool admit(AggregateCall& call);
  // A started request that found no slot: resume() follows when one is free.
  void wait_slot(AggregateCall& call);
  // Leaves whichever queue `call` is in (it was answered or its client left).
  void forget(AggregateCall& call);
  // Hands free slots to the waiters. Called only where no aggregate call is half-way through
  // something (at the end of a completion, a timer, a client's departure), since the waiters run
  // their own code from here.
  void wake();

 private:
  using WaitList = IntrusiveList<BudgetWaiter, &BudgetWaiter::wait_link>;

  UpstreamShard& upstream_;
  HttpShard& http_;
  ObjectPool<AggregateCall> calls_;
  json::Reader json_reader_;
  uint32_t budget_;
  uint32_t in_flight_ = 0;
  uint64_t bytes_held_ = 0;
  uint64_t queue_timeout_ms_;
  WaitList slot_waiters_;   // started requests waiting for a slot
  WaitList admit_waiters_;  // new requests waiting to start
  bool waking_ = false;
  std::vector<CacheStore*> caches_;
  unsigned shard_index_ = 0;
  // Per aggregate route: its backends' counters.
  std::vector<std::pair<const RouteConfig*, std::unique_ptr<AggregateBackendCounters[]>>> counters_;
};

}  // namespace ringgate
