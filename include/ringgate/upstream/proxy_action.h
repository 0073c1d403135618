#pragma once
// The action of a route with `upstream:`: the exchange goes to the cluster through a ProxyCall,
// and the response streams back to the client.

#include <memory>

#include "ringgate/config/config.h"
#include "ringgate/http/pipeline.h"

namespace ringgate {

class UpstreamShard;

std::unique_ptr<Action> make_proxy_action(UpstreamShard& shard, const RouteConfig& route,
                                          const UpstreamAction& action);

}  // namespace ringgate
