#pragma once
// One shard's HTTP server: its listeners, connections, pools and the compiled routes.

#include <memory>
#include <string>
#include <vector>

#include "aggregate_call.h"
#include "health.h"
#include "input_chain.h"
#include "jwks_fetcher.h"
#include "proxy.h"
#include "ringgate/core/block_pool.h"
#include "ringgate/core/counters.h"
#include "ringgate/core/shard.h"
#include "ringgate/filters/auth_jwt.h"
#include "ringgate/filters/rate_limit.h"
#include "ringgate/filters/redis.h"
#include "ringgate/filters/registry.h"
#include "ringgate/http/pipeline.h"
#include "ringgate/http/request_parser.h"
#include "ringgate/http/response.h"
#include "ringgate/http/server.h"
#include "ringgate/router/router.h"

namespace ringgate {

class Connection;

// Output staged for one connection: copies of small pieces plus references to static bytes,
// sent with one send/sendmsg. Lives in a pooled block and only while there is output.
struct OutBuffer {
  static constexpr int kMaxIov = 64;
  msghdr msg;
  std::string* owned;  // a body owned by this buffer (Worker::acquire_body), released on reset
  uint32_t used;       // bytes of data[] in use
  uint16_t iov_count;
  uint16_t iov_sent;      // first iovec not yet fully sent
  uint16_t inflight_end;  // iovecs [iov_sent, inflight_end) are in a send now
  iovec iov[kMaxIov];
  char data[1];

  void reset() {
    used = 0;
    iov_count = iov_sent = inflight_end = 0;
    owned = nullptr;
  }
  size_t pending_bytes() const;
};

constexpr size_t kOutBlockSize = 16 * 1024;
// A request arena's block: the Exchange (about 1 KiB) and what filters keep per request.
constexpr size_t kArenaBlockSize = 4 * 1024;

struct ListenerSocket final : Completion {
  Worker* worker = nullptr;
  int fd = -1;
  const AdminHandler* local = nullptr;  // a local listener's handler; nullptr: client traffic
  const RoutePlan* plan = nullptr;      // ... and the plan that runs it
  bool armed = false;
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
  void after_wait() override { date_.refresh(); }
  void end_of_iteration() override;
  bool finished() override;

  Shard& shard() { return shard_; }
  Reactor& reactor() { return shard_.reactor(); }
  ShardCounters& counters() { return counters_; }
  // Where local connections (admin, local services) count: not reported, so scrapes do not
  // show up as client traffic.
  ShardCounters& admin_counters() { return admin_counters_; }
  const Config& config() const { return *config_; }
  const Limits& limits() const { return config_->server.limits; }
  ParserContext* parser_context() { return &parser_context_; }
  const Router& router() const { return *router_; }
  Pipeline& pipeline() { return *pipeline_; }
  // Blocks of the connections' request arenas (Exchange and what filters keep per request).
  BlockPool* request_arena_pool() { return &arena_pool_; }
  const DateCache& date() const { return date_; }
  const std::string& server_line() const { return server_line_; }
  // Scratch for the problem body of an error answer (error_reply): reused, so refusals at full
  // rate allocate nothing.
  std::string& error_body_scratch() { return error_body_; }
  bool draining() const { return draining_; }

  OutBuffer* acquire_out();
  void release_out(OutBuffer* out);
  // Response bodies built per request (aggregate, admin), owned by an OutBuffer until sent, then
  // kept for the next one with their capacity: no allocation per response in steady state.
  std::string* acquire_body();
  void release_body(std::string* body);

  // Receive-buffer chains: per-buffer links, so a connection holding buffers stores only ends.
  uint16_t& chain_next(uint16_t bid) { return chain_next_[bid]; }
  uint32_t& chain_len(uint16_t bid) { return chain_len_[bid]; }

  void on_accept(ListenerSocket& l, int res, uint32_t flags);
  void add_starved(Connection* c);
  void retire(Connection* c);

  // --- authentication ---
  ShardJwtAuth& jwt_auth() { return *jwt_auth_; }
  const ShardJwtAuth& jwt_auth() const { return *jwt_auth_; }
  ApiKeyCounters& api_key_counters(size_t set) { return api_key_counters_[set]; }
  const ApiKeyCounters& api_key_counters(size_t set) const { return api_key_counters_[set]; }
  const Gateway& gateway() const { return gateway_; }

  // --- rate limiting ---
  ShardRateLimiter& rate_limiter() { return *rate_limiter_; }
  const ShardRateLimiter& rate_limiter() const { return *rate_limiter_; }
  const RedisLink* redis() const { return redis_.get(); }

  // --- proxying ---
  const std::vector<std::unique_ptr<UpstreamCluster>>& clusters() const { return clusters_; }
  ParserContext* response_parser_context() { return &response_parser_context_; }
  ProxyCall* acquire_call();
  void release_call(ProxyCall* call);
  char* acquire_request_block() { return static_cast<char*>(request_pool_.acquire()); }
  void release_request_block(char* block) { request_pool_.release(block); }
  size_t request_block_size() const { return request_pool_.block_size(); }
  RequestIdGenerator& request_ids() { return request_ids_; }

  // --- aggregation ---
  AggregateCall* acquire_aggregate();
  void release_aggregate(AggregateCall* call);
  json::Reader& json_reader() { return json_reader_; }
  void upstream_opened() { ++upstream_open_; }
  void add_starved(UpstreamConn* u);
  void retire(UpstreamConn* u);

 private:
  void begin_drain();
  void close_listeners();
  void build_clusters();
  // The route plans: each route's filters (filters/registry) and action; one per local listener.
  void build_plans();
  Action* make_action(const RouteConfig& route);

  Gateway& gateway_;
  std::shared_ptr<const Config> config_;
  Shard shard_;
  // After shard_: destroyed first, while its timer wheel is still there. The Redis link (when a
  // policy uses backend: redis) outlives the limiter that leases through it.
  std::unique_ptr<RedisLink> redis_;
  std::unique_ptr<ShardRateLimiter> rate_limiter_;
  std::unique_ptr<ShardJwtAuth> jwt_auth_;
  std::string error_body_;
  std::unique_ptr<ApiKeyCounters[]> api_key_counters_;
  ShardCounters& counters_;
  ShardCounters admin_counters_;
  std::unique_ptr<Router> router_;
  std::vector<std::unique_ptr<Filter>> filters_;         // every route's, on this shard
  std::vector<std::unique_ptr<Action>> actions_;         // every route's and local listener's
  std::vector<std::unique_ptr<RoutePlan>> local_plans_;  // by listener, for local listeners
  std::unique_ptr<Pipeline> pipeline_;
  BlockPool arena_pool_;
  std::vector<ListenerSocket> listeners_;
  std::vector<HeaderSpan> shared_spans_;
  ParserContext parser_context_;
  BlockPool scratch_pool_;
  BlockPool out_pool_;
  // Free response bodies (acquire_body). Bounded in number and in what each may keep, so a
  // burst of large responses does not stay resident.
  static constexpr size_t kMaxFreeBodies = 256;
  static constexpr size_t kMaxKeptBodyCapacity = 256 * 1024;
  std::vector<std::string*> free_bodies_;
  std::vector<uint16_t> chain_next_;
  std::vector<uint32_t> chain_len_;
  DateCache date_;
  std::string server_line_;
  std::vector<std::unique_ptr<UpstreamCluster>> clusters_;
  std::vector<HeaderSpan> response_spans_;
  ParserContext response_parser_context_;
  BlockPool request_pool_;
  std::vector<std::unique_ptr<ProxyCall>> calls_;  // every call ever made; free ones listed below
  ProxyCall* free_calls_ = nullptr;
  std::vector<std::unique_ptr<AggregateCall>> aggregates_;
  AggregateCall* free_aggregates_ = nullptr;
  json::Reader json_reader_;
  RequestIdGenerator request_ids_;
  uint32_t upstream_open_ = 0;  // upstream connections not yet retired
  std::vector<UpstreamConn*> starved_upstreams_;
  std::vector<UpstreamConn*> dead_upstreams_;
  std::vector<std::unique_ptr<HealthProbe>> probes_;         // shard 0 only
  std::vector<std::unique_ptr<JwksFetcher>> jwks_fetchers_;  // shard 0 only
  Connection* connections_ = nullptr;                        // intrusive list of open connections
  uint32_t connection_count_ = 0;  // client connections (local ones are not limited)
  uint32_t connection_limit_ = 0;
  std::vector<Connection*> starved_;
  std::vector<Connection*> dead_;
  Timer drain_timer_;
  Timer accept_retry_timer_;
  bool draining_ = false;
  bool drain_expired_ = false;
  bool init_failed_ = false;

  friend class Connection;
};

// InputChain, inline here where the chain table is known (hot path).
inline void InputChain::push(Worker& w, uint16_t bid, uint32_t len) {
  w.chain_next(bid) = kNone;
  w.chain_len(bid) = len;
  if (tail_ == kNone) {
    head_ = tail_ = bid;
    off_ = 0;
  } else {
    w.chain_next(tail_) = bid;
    tail_ = bid;
  }
  ++count_;
}

inline const char* InputChain::front(Worker& w, size_t& len) const {
  len = w.chain_len(head_) - off_;
  return w.reactor().buffer(head_) + off_;
}

inline bool InputChain::front_used(Worker& w) const {
  return off_ >= w.chain_len(head_);
}

inline void InputChain::pop(Worker& w) {
  const uint16_t bid = head_;
  head_ = w.chain_next(bid);
  if (head_ == kNone) {
    tail_ = kNone;
  }
  --count_;
  off_ = 0;
  w.reactor().recycle(bid);
}

inline void InputChain::release(Worker& w) {
  while (head_ != kNone) {
    pop(w);
  }
}

}  // namespace ringgate
