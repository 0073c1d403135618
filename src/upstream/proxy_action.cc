#include "ringgate/upstream/proxy_action.h"

#include "ringgate/upstream/call.h"
#include "ringgate/upstream/upstream_shard.h"

namespace ringgate {

namespace {

class ProxyAction final : public Action {
 public:
  ProxyAction(UpstreamShard& shard, const RouteConfig& route, const UpstreamAction& action)
      : shard_(shard),
        route_(route),
        action_(action),
        cluster_(shard.cluster(action.cluster_index)) {}

  Responder* start(Exchange& x, Downstream& client) override {
    ProxyCall* call = shard_.acquire_call();
    const Error error = call->start(x, client, route_, action_, cluster_);
    if (error) {
      // Refused before anything was sent (no endpoint, limits): answered at message complete.
      shard_.release_call(call);
      x.error = error;
      return nullptr;
    }
    return call;
  }

 private:
  UpstreamShard& shard_;
  const RouteConfig& route_;
  const UpstreamAction& action_;
  UpstreamCluster& cluster_;
};

}  // namespace

std::unique_ptr<Action> make_proxy_action(UpstreamShard& shard, const RouteConfig& route,
                                          const UpstreamAction& action) {
  return std::make_unique<ProxyAction>(shard, route, action);
}

}  // namespace ringgate
