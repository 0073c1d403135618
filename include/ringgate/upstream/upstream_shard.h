#pragma once
// One shard's upstream side: its view of every cluster (pools, balancers, limits, counters), its
// pooled calls and request buffers, and the upstream connections it has open. The server's
// worker owns one; proxying, aggregation and the JWKS fetcher draw calls from it.

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "ringgate/config/config.h"
#include "ringgate/core/block_pool.h"
#include "ringgate/core/companion_pool.h"
#include "ringgate/core/input_chain.h"
#include "ringgate/core/object_pool.h"
#include "ringgate/core/shard.h"
#include "ringgate/http/forward.h"
#include "ringgate/http/request_parser.h"
#include "ringgate/tls/successor.h"
#include "ringgate/tls/transport.h"
#include "ringgate/upstream/call.h"
#include "ringgate/upstream/cluster.h"

namespace ringgate {

class H2ClientStream;
class H2Upstream;
class UpstreamConn;

class UpstreamShard {
 public:
  // `shared`: the process-wide part of each cluster (Config::upstreams order); `shards`: how
  // many shards split the clusters' limits.
  UpstreamShard(Shard& shard, const Config& config, BufferChains& chains,
                const std::vector<SharedCluster*>& shared, unsigned shards);
  ~UpstreamShard();
  UpstreamShard(const UpstreamShard&) = delete;
  UpstreamShard& operator=(const UpstreamShard&) = delete;

  Shard& shard() { return shard_; }
  Reactor& reactor() { return shard_.reactor(); }
  TimerWheel& timers() { return shard_.timers(); }
  // What TLS connections to upstreams share on this shard (timers, clock).
  TlsShard& tls() { return tls_; }
  uint64_t now_ms() const { return shard_.now_ms(); }
  uint64_t now_us() const { return shard_.now_us(); }
  BufferChains& chains() { return chains_; }
  const Config& config() const { return config_; }

  UpstreamCluster& cluster(size_t index) { return *clusters_[index]; }
  const std::vector<std::unique_ptr<UpstreamCluster>>& clusters() const { return clusters_; }

  // Calls are pooled: none is allocated per request in steady state.
  ProxyCall* acquire_call();
  void release_call(ProxyCall* call);
  // Request bytes of one call: the rewritten head with room to spare, then body.
  char* acquire_request_block() { return static_cast<char*>(request_pool_.acquire()); }
  void release_request_block(char* block) { request_pool_.release(block); }
  size_t request_block_size() const { return request_pool_.block_size(); }
  RequestIdGenerator& request_ids() { return request_ids_; }
  ParserContext* response_parser_context() { return &response_parser_context_; }

  // --- the worker's loop ---
  bool draining() const { return draining_; }
  // Stop: idle pooled connections close now, busy ones when their response is done. With a
  // successor (a reload), the idle ones are handed to it instead, so the pools it starts with
  // are warm: those of TLS clusters only when it runs in this process (the session goes along).
  void begin_drain(ConnectionSuccessor* successor = nullptr);
  // Hands an idle connection (socket, and TLS session on a TLS cluster) to the successor; false
  // when it cannot.
  bool hand_over(UpstreamConn& conn, std::unique_ptr<TlsSession> tls);
  // The successor's side: a pooled connection the predecessor handed over joins the idle pool
  // of the cluster with that name and the endpoint with that address (with its TLS session on
  // a TLS cluster); closed when this config has neither.
  void adopt(int fd, std::string_view cluster, std::string_view endpoint,
             std::unique_ptr<TlsSession> tls);
  // Re-arms connections starved of buffers and frees retired ones.
  void end_of_iteration();
  // No upstream connection is open any more.
  bool idle() const { return open_ == 0; }
  // Upstream sockets open (connections not yet retired).
  uint32_t open_connections() const { return open_; }
  // Gives back the spare blocks a burst left in the pools (BlockPool::trim).
  // Returns how many blocks were freed.
  size_t trim_pools();
  // Bytes of response scratch heads and request blocks in use.
  uint64_t memory_held() const {
    return scratch_pool_.bytes_in_use() + request_pool_.bytes_in_use();
  }

  // --- for upstream connections ---
  void opened() { ++open_; }
  void add_starved(UpstreamConn* u);
  void retire(UpstreamConn* u);

  // --- HTTP/2 clusters (src/upstream/h2_upstream.h) ---
  // A stream connection for one request to `ep`, on a connection with room (opened when none
  // has, `opened` set then); null when the cluster is at circuit.max_connections or no socket
  // could be made (`error` says which).
  UpstreamConn* open_h2_stream(UpstreamCluster& c, UpstreamEndpoint& ep, ErrorKind& error,
                               bool& opened);
  // Runs the connection's pump at the end of this loop iteration.
  void schedule_h2(H2Upstream* h) { h2_pending_.push_back(h); }
  void unschedule_h2(H2Upstream* h);
  void retire_h2(H2Upstream* h);
  void add_starved_h2(H2Upstream* h);

 private:
  Shard& shard_;
  TlsShard tls_;
  const Config& config_;
  BufferChains& chains_;
  std::vector<std::unique_ptr<UpstreamCluster>> clusters_;
  BlockPool scratch_pool_;
  std::vector<HeaderSpan> response_spans_;
  ParserContext response_parser_context_;
  BlockPool request_pool_;
  ObjectPool<ProxyCall> calls_;
  RequestIdGenerator request_ids_;
  uint32_t open_ = 0;  // upstream connections not yet retired
  std::vector<UpstreamConn*> starved_;
  std::vector<UpstreamConn*> dead_;
  // HTTP/2: the streams' request parsers (a table of their own: they parse inside a call's
  // send), connections whose pump is due, and those retired.
  std::vector<HeaderSpan> stream_request_spans_;
  ParserContext stream_request_context_;
  std::vector<H2Upstream*> h2_pending_;
  std::vector<H2Upstream*> h2_round_;
  std::vector<H2Upstream*> h2_dead_;
  std::vector<H2Upstream*> h2_starved_;
  // Streams and the memory of the stream connections on them, recycled.
  CompanionPool<H2ClientStream, UpstreamConn> h2_streams_;
  void destroy(UpstreamConn* u);  // a stream connection's stream is recycled
  bool draining_ = false;
  ConnectionSuccessor* successor_ = nullptr;
};

}  // namespace ringgate
