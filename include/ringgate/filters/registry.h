#pragma once
// The request filters a route can use, and what a shard gives them. A route's filters are built
// here, per shard, from the immutable config, in the order their phase chart gives
// (ringgate/http/filter.h): path_policy, cors, api_key, auth_jwt, rate_limit, cache.

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "ringgate/config/config.h"
#include "ringgate/http/filter.h"

namespace ringgate {

class BackgroundFetcher;
class CacheStore;
class TimerWheel;
class ShardJwtAuth;
class ShardRateLimiter;

// Per API-key set and shard, summed on scrape.
struct ApiKeyCounters {
  std::atomic<uint64_t> accepted{0};
  std::atomic<uint64_t> missing{0};
  std::atomic<uint64_t> invalid{0};
};

// What one shard lends its filters; everything outlives them.
struct FilterServices {
  const Config* config = nullptr;
  ShardJwtAuth* jwt = nullptr;
  ShardRateLimiter* rate_limiter = nullptr;
  const uint64_t* now_us = nullptr;            // the shard's clock
  TimerWheel* timers = nullptr;                // the shard's
  BackgroundFetcher* fetcher = nullptr;        // requests of the gateway's own (cache refresh)
  ApiKeyCounters* api_key_counters = nullptr;  // by Config::api_keys index
  // The current table of each API-key set (by Config::api_keys index), republished when its
  // file changes; a table stays valid far longer than one request uses it.
  std::vector<const std::atomic<const ApiKeyTable*>*> api_key_tables;
  // The response caches (by Config::caches index), shared by every shard.
  std::vector<CacheStore*> caches;
  unsigned shard_index = 0;
  // Where the filter being built will sit in its route's chain: its Exchange::filter_state slot.
  size_t position = 0;
};

// The filters of `route` on this shard, in phase order (empty when it uses none).
std::vector<std::unique_ptr<Filter>> build_route_filters(const RouteConfig& route,
                                                         FilterServices& shard);
// The only filter of a local listener (admin, local services): a path that needs any allowance
// is refused.
std::unique_ptr<Filter> make_local_path_policy();

}  // namespace ringgate
