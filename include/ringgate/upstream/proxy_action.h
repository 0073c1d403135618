#pragma once
// The action of a route with `upstream:`: the exchange goes to the cluster through a ProxyCall,
// and the response streams back to the client.

#include <memory>

#include "ringgate/config/config.h"
#include "ringgate/http/filter.h"
#include "ringgate/http/pipeline.h"

namespace ringgate {

class UpstreamShard;

std::unique_ptr<Action> make_proxy_action(UpstreamShard& shard, const RouteConfig& route,
                                          const UpstreamAction& action);

// The shard's BackgroundFetcher (ringgate/http/filter.h): each request a call of the gateway's
// own (ProxyCall::start_backend), with the retries, timeouts and breakers of proxying.
std::unique_ptr<BackgroundFetcher> make_background_fetcher(UpstreamShard& shard);

}  // namespace ringgate
