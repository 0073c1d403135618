#pragma once
// One shard of the gateway process: the thread, its loop, and everything its requests touch,
// put together. The parts are each module's own per-shard object: HttpShard (connections,
// pipeline), UpstreamShard (clusters, calls, upstream connections), AggregateShard, and the
// filters' engines (rate limiter, JWT checker, the Redis link). The worker builds the route
// plans (each route's filters and action), accepts sockets, runs health checks and JWKS fetches
// on shard 0, and drains on stop.

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "jwks_fetcher.h"
#include "ringgate/aggregate/aggregate_shard.h"
#include "ringgate/core/batch_tuner.h"
#include "ringgate/core/counters.h"
#include "ringgate/core/input_chain.h"
#include "ringgate/core/shard.h"
#include "ringgate/filters/auth_jwt.h"
#include "ringgate/filters/rate_limit.h"
#include "ringgate/filters/registry.h"
#include "ringgate/http/access_log.h"
#include "ringgate/http/http_shard.h"
#include "ringgate/http/pipeline.h"
#include "ringgate/redis/link.h"
#include "ringgate/router/router.h"
#include "ringgate/server/gateway.h"
#include "ringgate/upstream/health.h"
#include "ringgate/upstream/upstream_shard.h"

namespace ringgate {

class Worker;

struct ListenerSocket final : Completion {
  Worker* worker = nullptr;
  int fd = -1;
  const AdminHandler* local = nullptr;   // a local listener's handler; nullptr: client traffic
  const RoutePlan* plan = nullptr;       // ... and the plan that runs it
  const TlsListenConfig* tls = nullptr;  // a client listener's TLS; nullptr: plain HTTP
  bool armed = false;
  bool paused = false;  // client listener at server.limits.connections: not re-armed until below
  void complete(unsigned op, int res, uint32_t flags) override;
};

class Worker final : public ShardHooks {
 public:
  Worker(Gateway& gateway, unsigned index, std::vector<int> listen_fds,
         std::vector<const AdminHandler*> listen_local, ShardCounters& counters);
  ~Worker();

  // Thread body.
  void run();

  // ShardHooks
  void on_wake() override;
  void after_wait() override { http_.after_wait(); }
  int end_of_iteration() override;
  bool finished() override;

  Shard& shard() { return shard_; }
  Reactor& reactor() { return shard_.reactor(); }
  const Config& config() const { return *config_; }

  void on_accept(ListenerSocket& l, int res, uint32_t flags);
  // A connection the gateway this one replaced handed over, for client listener `listener`
  // (with its TLS session when that gateway ran in this process).
  void adopt(int fd, size_t listener, std::unique_ptr<TlsSession> tls);
  // A pooled upstream connection the gateway this one replaced handed over.
  void adopt_upstream(int fd, const std::string& cluster, const std::string& endpoint,
                      std::unique_ptr<TlsSession> tls);
  // server.limits.connections reached, or the shard is over an overload budget: the client
  // listeners' accepts are cancelled (new connections wait in the kernel's backlog) until the
  // shard is below the low-water mark and no longer shedding.
  enum class PauseCause : uint8_t { kConnectionLimit, kOverload };
  void pause_accepting(PauseCause cause);
  void resume_accepting();

  // --- what the gateway's metrics read (summed over shards on scrape) ---
  const ShardJwtAuth& jwt_auth() const { return *jwt_auth_; }
  const ApiKeyCounters& api_key_counters(size_t set) const { return api_key_counters_[set]; }
  const TlsCounters& tls_counters() const { return http_.tls_counters(); }
  const LogStream* access_log() const { return access_log_.get(); }
  const RouteCounters& route_counters(size_t route) const { return http_.route_counters(route); }
  const AggregateBackendCounters* backend_counters(const RouteConfig* route) const {
    return aggregate_.backend_counters(route);
  }
  const LogStream* error_log() const { return error_log_.get(); }
  const ShardRateLimiter& rate_limiter() const { return *rate_limiter_; }
  const RedisLink* redis() const { return redis_.get(); }
  const std::vector<std::unique_ptr<UpstreamCluster>>& clusters() const {
    return upstream_.clusters();
  }

 private:
  void begin_drain();
  void close_listeners();
  // Draining: accepts and serves the connections queued on a listener whose accept has ended.
  void sweep_accept_queue(ListenerSocket& l);
  // The route plans: each route's filters (filters/registry) and action; one per local listener.
  void build_plans();
  std::unique_ptr<Action> make_action(const RouteConfig& route);
  void start_shard0_tasks();
  // The overload manager: what the shard holds against its share of the `overload:` budgets;
  // starts or stops shedding new work (HttpShard::set_shedding, accepting paused).
  void check_overload();
  // server.batch_wait: auto: counts a millisecond toward the tuner's window and, once the
  // window is over, feeds it to the tuner and follows its choice.
  void tune_batching(uint64_t now_ms, bool busy);

  Gateway& gateway_;
  std::shared_ptr<const Config> config_;
  Shard shard_;
  // After shard_: destroyed first, while its timer wheel is still there.
  BufferChains chains_;
  HttpShard http_;
  UpstreamShard upstream_;
  AggregateShard aggregate_;
  // The Redis link (when a policy uses backend: redis) outlives the limiter that leases through
  // it.
  std::unique_ptr<RedisLink> redis_;
  std::unique_ptr<ShardRateLimiter> rate_limiter_;
  std::unique_ptr<ShardJwtAuth> jwt_auth_;
  std::unique_ptr<ApiKeyCounters[]> api_key_counters_;
  // The shard's log streams (the gateway's writer writes them) and what formats into them.
  std::unique_ptr<LogStream> access_log_;
  std::unique_ptr<LogStream> error_log_;
  std::unique_ptr<RequestLog> request_log_;
  std::unique_ptr<Router> router_;
  std::vector<std::unique_ptr<Filter>> filters_;  // every route's, on this shard
  // After filters_: gone first, so the refreshes it cancels still find their filters.
  std::unique_ptr<BackgroundFetcher> fetcher_;
  std::vector<std::unique_ptr<Action>> actions_;         // every route's and local listener's
  std::vector<std::unique_ptr<RoutePlan>> local_plans_;  // one per local listener
  std::vector<ListenerSocket> listeners_;
  std::vector<std::unique_ptr<HealthProbe>> probes_;         // shard 0 only
  std::vector<std::unique_ptr<JwksFetcher>> jwks_fetchers_;  // shard 0 only
  Timer drain_timer_;
  Timer accept_retry_timer_;
  Timer trim_timer_;  // every kTrimPeriodMs: the pools give back what a burst left
  bool draining_ = false;
  // The millisecond of the last overload check and gauge update (end_of_iteration).
  uint64_t bookkept_ms_ = UINT64_MAX;
  // Whether waits may hold out for a batch now (server.batch_wait; with auto, the tuner's
  // choice), the tuner, and its window: when it ends, the thread's CPU time and the requests
  // answered when it began, the milliseconds in it when the loop ran, and those of them when
  // batching could engage.
  bool batching_ = false;
  std::optional<BatchTuner> batch_tuner_;
  uint64_t window_end_ms_ = 0;
  uint64_t window_cpu_ns_ = 0;
  uint64_t window_requests_ = 0;
  uint32_t window_ticks_ = 0;
  uint32_t window_busy_ticks_ = 0;
  bool accept_paused_ = false;
  // This shard's share of the overload budgets, and the marks where shedding starts and stops.
  struct OverloadMarks {
    uint64_t shed_memory = 0;
    uint64_t resume_memory = 0;
    uint64_t shed_fds = 0;
    uint64_t resume_fds = 0;
  };
  OverloadMarks overload_;
  bool drain_expired_ = false;
  bool init_failed_ = false;
};

}  // namespace ringgate
