#pragma once
// One shard's aggregation: the aggregate routes' actions, the pooled aggregate calls and the
// JSON reader they share (one body open at a time). Calls to the backends come from the shard's
// UpstreamShard; answers go out in bodies from its HttpShard.

#include <memory>
#include <vector>

#include "ringgate/aggregate/json.h"
#include "ringgate/config/config.h"
#include "ringgate/core/object_pool.h"
#include "ringgate/http/pipeline.h"

namespace ringgate {

class AggregateCall;
class HttpShard;
class UpstreamShard;

class AggregateShard {
 public:
  AggregateShard(UpstreamShard& upstream, HttpShard& http);
  ~AggregateShard();
  AggregateShard(const AggregateShard&) = delete;
  AggregateShard& operator=(const AggregateShard&) = delete;

  // The action of aggregate route `route` on this shard: templates and projections compiled,
  // clusters resolved. Throws ConfigError for what the config loader should have refused.
  std::unique_ptr<Action> make_action(const RouteConfig& route, const AggregateAction& action);

  AggregateCall* acquire();
  void release(AggregateCall* call);
  json::Reader& json_reader() { return json_reader_; }
  UpstreamShard& upstream() { return upstream_; }
  HttpShard& http() { return http_; }

 private:
  UpstreamShard& upstream_;
  HttpShard& http_;
  ObjectPool<AggregateCall> calls_;
  json::Reader json_reader_;
};

}  // namespace ringgate
