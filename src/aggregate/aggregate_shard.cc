#include "ringgate/aggregate/aggregate_shard.h"

#include "call.h"
#include "ringgate/http/http_shard.h"
#include "ringgate/upstream/upstream_shard.h"

namespace ringgate {

namespace {

class AggregateRouteAction final : public Action {
 public:
  AggregateRouteAction(AggregateShard& shard, std::unique_ptr<AggregateRoute> route)
      : shard_(shard), route_(std::move(route)) {}

  Responder* start(Exchange& x, Downstream& client) override {
    AggregateCall* call = shard_.acquire();
    call->start(x, client, *route_);  // answers through Downstream::respond() once it is done
    return call;
  }

 private:
  AggregateShard& shard_;
  std::unique_ptr<AggregateRoute> route_;
};

}  // namespace

AggregateShard::AggregateShard(UpstreamShard& upstream, HttpShard& http, uint32_t budget,
                               uint64_t queue_timeout_ms)
    : upstream_(upstream), http_(http), budget_(budget), queue_timeout_ms_(queue_timeout_ms) {
  bump(http_.counters().aggregate_calls_budget, budget_);
}

AggregateShard::~AggregateShard() = default;

std::unique_ptr<Action> AggregateShard::make_action(const RouteConfig& route,
                                                    const AggregateAction& action) {
  auto built = std::make_unique<AggregateRoute>();
  std::string why;
  if (!build_aggregate_route(route, action, upstream_.clusters(), built.get(), &why)) {
    // Config validated every path already; a mismatch here is a bug worth stopping for.
    throw ConfigError(route.name + ": " + why);
  }
  auto counters = std::make_unique<AggregateBackendCounters[]>(built->backends.size());
  for (size_t i = 0; i < built->backends.size(); ++i) {
    AggregateRoute::Backend& b = built->backends[i];
    b.counters = &counters[i];
    if (const auto& c = b.config->cache; c && c->cache_index < caches_.size()) {
      b.cache = caches_[c->cache_index];
      b.cache_rules.default_ttl_s = static_cast<uint64_t>(c->default_ttl.count() / 1000);
      b.cache_rules.stale_if_error_s = static_cast<uint64_t>(c->stale_if_error.count() / 1000);
    }
  }
  counters_.emplace_back(&route, std::move(counters));
  return std::make_unique<AggregateRouteAction>(*this, std::move(built));
}

const AggregateBackendCounters* AggregateShard::backend_counters(const RouteConfig* route) const {
  for (const auto& [r, counters] : counters_) {
    if (r == route) {
      return counters.get();
    }
  }
  return nullptr;
}

AggregateCall* AggregateShard::acquire() {
  return calls_.acquire(*this);
}

void AggregateShard::release(AggregateCall* call) {
  forget(*call);
  calls_.release(call);
}

bool AggregateShard::take_slot() {
  if (in_flight_ >= budget_) {
    return false;
  }
  ++in_flight_;
  bump(http_.counters().aggregate_calls_in_flight);
  return true;
}

void AggregateShard::give_slot() {
  --in_flight_;
  drop(http_.counters().aggregate_calls_in_flight);
}

bool AggregateShard::admit(AggregateCall& call) {
  if (in_flight_ < budget_ && slot_waiters_.empty() && admit_waiters_.empty()) {
    return true;
  }
  bump(http_.counters().aggregate_queued);
  admit_waiters_.push_back(call);
  return false;
}

void AggregateShard::wait_slot(AggregateCall& call) {
  if (!slot_waiters_.contains(call)) {
    slot_waiters_.push_back(call);
  }
}

void AggregateShard::forget(AggregateCall& call) {
  slot_waiters_.remove(call);
  admit_waiters_.remove(call);
}

void AggregateShard::wake() {
  if (waking_) {
    return;  // the outer wake() goes on handing out slots
  }
  waking_ = true;
  // Each waiter either takes slots until none is left (then waits again, and the loop ends) or
  // needs none: every turn takes a slot or shortens a queue.
  while (in_flight_ < budget_) {
    if (BudgetWaiter* started = slot_waiters_.pop_front()) {
      static_cast<AggregateCall*>(started)->resume();
    } else if (BudgetWaiter* queued = admit_waiters_.pop_front()) {
      static_cast<AggregateCall*>(queued)->admitted();
    } else {
      break;
    }
  }
  waking_ = false;
}

}  // namespace ringgate
