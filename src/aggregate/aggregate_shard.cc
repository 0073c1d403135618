#include "ringgate/aggregate/aggregate_shard.h"

#include "call.h"
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

AggregateShard::AggregateShard(UpstreamShard& upstream, HttpShard& http)
    : upstream_(upstream), http_(http) {}

AggregateShard::~AggregateShard() = default;

std::unique_ptr<Action> AggregateShard::make_action(const RouteConfig& route,
                                                    const AggregateAction& action) {
  auto built = std::make_unique<AggregateRoute>();
  std::string why;
  if (!build_aggregate_route(route, action, upstream_.clusters(), built.get(), &why)) {
    // Config validated every path already; a mismatch here is a bug worth stopping for.
    throw ConfigError(route.name + ": " + why);
  }
  return std::make_unique<AggregateRouteAction>(*this, std::move(built));
}

AggregateCall* AggregateShard::acquire() {
  return calls_.acquire(*this);
}

void AggregateShard::release(AggregateCall* call) {
  calls_.release(call);
}

}  // namespace ringgate
