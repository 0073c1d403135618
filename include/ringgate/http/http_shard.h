#pragma once
// One shard's HTTP/1.1 side: the client and local connections, the pools they draw on (output
// blocks, response bodies, request arenas, parser scratch), and the pipeline their requests go
// through. The server's worker owns one, hands it accepted sockets and drives its end of loop.

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ringgate/config/config.h"
#include "ringgate/core/block_pool.h"
#include "ringgate/core/companion_pool.h"
#include "ringgate/core/counters.h"
#include "ringgate/core/histogram.h"
#include "ringgate/core/input_chain.h"
#include "ringgate/core/object_pool.h"
#include "ringgate/core/shard.h"
#include "ringgate/http/forward.h"
#include "ringgate/http/pipeline.h"
#include "ringgate/http/request_parser.h"
#include "ringgate/http/response.h"
#include "ringgate/tls/successor.h"
#include "ringgate/tls/transport.h"

namespace ringgate {

class Connection;
class H2Connection;
class H2Stream;
class RequestLog;
struct OutBuffer;

// One route's counters on one shard (relaxed stores by the shard, summed on scrape).
struct RouteCounters {
  static constexpr size_t kAborted = 5;     // responses[kAborted]: the client left unanswered
  std::atomic<uint64_t> responses[6] = {};  // by status class 1xx..5xx, then aborted
  std::atomic<uint64_t> bytes_in{0};        // request head and body
  std::atomic<uint64_t> bytes_out{0};       // response written to the client
  LatencyHistogram latency;                 // request head to the response's last byte

  // The exchange of a route is over.
  void record(int status, uint64_t in, uint64_t out, uint64_t duration_us) {
    const size_t c =
        status >= 100 && status < 600 ? static_cast<size_t>(status / 100 - 1) : kAborted;
    bump(responses[c]);
    add(bytes_in, in);
    add(bytes_out, out);
    latency.record(duration_us);
  }

 private:
  static void add(std::atomic<uint64_t>& c, uint64_t by) {
    c.store(c.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
  }
};

class HttpShard {
 public:
  // `connection_limit`: this shard's share of server.limits.connections.
  HttpShard(Shard& shard, const Config& config, BufferChains& chains, ShardCounters& counters,
            uint32_t connection_limit);
  ~HttpShard();
  HttpShard(const HttpShard&) = delete;
  HttpShard& operator=(const HttpShard&) = delete;

  // Before the loop runs: where requests go.
  void set_pipeline(std::unique_ptr<Pipeline> pipeline) { pipeline_ = std::move(pipeline); }

  // An accepted socket: a client connection (`local` null, routed, counted against the limit)
  // or a local listener's (answered by `local`). False when the client limit is reached: the
  // caller refuses the socket (refuse()).
  // `tls`: the listener's TLS settings (null: plain HTTP).
  // `established`: a TLS connection's session, handed over by a draining gateway.
  bool accept(int fd, const RoutePlan* local, const TlsListenConfig* tls = nullptr,
              std::unique_ptr<TlsSession> established = nullptr);
  // A client connection accepted past the limit (the worker stops accepting at the limit, but
  // connections the kernel had already accepted still arrive): answered 503 with Retry-After and
  // Connection: close, then closed. A plain send on the overload path, not the request path.
  // `plain`: false on a TLS listener, where a plain-text answer means nothing: closed unanswered.
  void refuse(int fd, bool plain = true);
  // At the limit the worker stops accepting, and starts again once below the low-water mark: the
  // kernel's backlog holds new connections meanwhile instead of accept-then-close churn.
  bool at_connection_limit() const { return connection_count_ >= connection_limit_; }
  bool below_resume_mark() const {
    return connection_count_ + std::max<uint32_t>(1, connection_limit_ / 20) <= connection_limit_;
  }

  // --- the worker's loop ---
  void after_wait() { date_.refresh(); }
  // Frees retired connections and re-arms the ones starved of buffers.
  void end_of_iteration();
  // Stop: idle connections close now, busy ones after their response.
  void begin_drain();
  // The drain timed out: every connection closes now.
  void abort_all();
  bool idle() const { return connections_ == nullptr && dead_.empty(); }
  uint32_t client_connections() const { return connection_count_; }
  // Gives back the spare blocks a burst left in the pools (BlockPool::trim).
  // Returns how many blocks were freed.
  size_t trim_pools();
  // Bytes of the shard's request arenas, scratch heads and output blocks in use, and what its
  // HTTP/2 connections buffer (frames, bodies waiting for a window, stream input).
  uint64_t memory_held() const;
  // The overload manager (Worker) says the shard is over a budget: new requests are answered
  // 503 with Retry-After and Connection: close until it says otherwise.
  void set_shedding(bool on) { shedding_ = on; }
  bool shedding() const { return shedding_; }
  // Client connections that began a request within about the last kBusyWindowMs: the ones that
  // keep the shard busy. Open is not busy: slow-header, silent and idle keep-alive connections
  // produce no completions to batch, and counting them made the worker wait out its whole batch
  // window on every loop for a few fast clients (Worker::end_of_iteration).
  uint32_t busy_connections() const { return std::max(busy_now_, busy_before_); }

  // --- for connections ---
  Shard& shard() { return shard_; }
  Reactor& reactor() { return shard_.reactor(); }
  BufferChains& chains() { return chains_; }
  const Config& config() const { return config_; }
  const Limits& limits() const { return config_.server.limits; }
  ShardCounters& counters() { return counters_; }
  TlsShard& tls() { return tls_; }
  const TlsCounters& tls_counters() const { return tls_.counters; }
  // Where local connections (admin, local services) count: not reported, so scrapes do not
  // show up as client traffic.
  ShardCounters& admin_counters() { return admin_counters_; }
  ParserContext* parser_context() { return &parser_context_; }
  // Request parsers are lent to connections from the first byte of a request until the
  // connection is idle again, so an idle keep-alive connection does not carry one. `clean`: it
  // was returned between messages (else it is reset first).
  RequestParser* acquire_parser();
  void release_parser(RequestParser* p, bool clean);
  Pipeline& pipeline() { return *pipeline_; }
  BlockPool* request_arena_pool() { return &arena_pool_; }
  const DateCache& date() const { return date_; }
  // The request logs (the worker's); null until set.
  RequestLog* request_log() { return request_log_; }
  // By route index (Config::routes).
  RouteCounters& route_counters(size_t route) { return route_counters_[route]; }
  const RouteCounters& route_counters(size_t route) const { return route_counters_[route]; }
  // Trace and span ids (W3C trace context) made on this shard.
  RequestIdGenerator& trace_ids() { return trace_ids_; }
  void set_request_log(RequestLog* log) { request_log_ = log; }
  const std::string& server_line() const { return server_line_; }
  bool draining() const { return draining_; }
  // After a reload, the gateway that took the listening sockets over (null: none): set before
  // begin_drain(), so that idle connections are handed to it.
  void set_successor(ConnectionSuccessor* successor) { successor_ = successor; }
  ConnectionSuccessor* successor() const { return successor_; }
  // Hands the connection's socket (and TLS session) to the successor; false when it cannot (the
  // successor is gone).
  bool hand_over(int fd, std::unique_ptr<TlsSession> tls);
  // Scratch for the problem body of an error answer (error_reply): reused, so refusals at full
  // rate allocate nothing.
  std::string& error_body_scratch() { return error_body_; }

  OutBuffer* acquire_out();
  void release_out(OutBuffer* out);
  // Response bodies built per request (aggregate, local handlers), owned by an OutBuffer until
  // sent, then kept for the next one with their capacity: no allocation per response in steady
  // state.
  std::string* acquire_body();
  void release_body(std::string* body);

  // --- HTTP/2 (h2_connection.h) ---
  // A request stream's transport, from the free ones (made when none is free), to open().
  H2Stream& new_stream();
  // The opened `stream` of `parent` becomes a stream connection (not counted against the limit,
  // not in the drain list: its HTTP/2 connection ends it), made in the stream's memory.
  void open_stream(H2Stream& stream, Connection& parent);
  // A stream connection whose HTTP/2 connection is destroyed with the shard.
  void discard_stream(Connection* c);
  // HTTP/2 connections' own buffers (frames, bodies, stream input), counted in memory_held().
  void add_h2_memory(int64_t delta) {
    h2_memory_ = static_cast<uint64_t>(static_cast<int64_t>(h2_memory_) + delta);
  }
  // Runs `h2`'s pump at the end of this loop iteration.
  void schedule_h2(H2Connection* h2) { h2_pending_.push_back(h2); }
  void unschedule_h2(H2Connection* h2);
  // The parsers that read stream connections' responses back (their own header table: they
  // parse while a request head may still be read from the shared one).
  ParserContext* stream_response_context() { return &stream_response_context_; }

  void add_starved(Connection* c);
  void retire(Connection* c);
  // A client connection's request head is complete: counted once per window in
  // busy_connections(). `stamp` is the connection's, the window it was last counted in.
  void note_busy(uint32_t& stamp) {
    if (stamp != busy_window_) {
      stamp = busy_window_;
      ++busy_now_;
    }
  }

 private:
  Shard& shard_;
  const Config& config_;
  BufferChains& chains_;
  ShardCounters& counters_;
  ShardCounters admin_counters_;
  TlsShard tls_;
  std::unique_ptr<Pipeline> pipeline_;
  BlockPool arena_pool_;
  BlockPool scratch_pool_;
  BlockPool out_pool_;
  std::vector<HeaderSpan> shared_spans_;
  ParserContext parser_context_;
  ObjectPool<RequestParser> parsers_;
  // Free response bodies (acquire_body). Bounded in number and in what each may keep, so a
  // burst of large responses does not stay resident.
  static constexpr size_t kMaxFreeBodies = 256;
  static constexpr size_t kMaxKeptBodyCapacity = 256 * 1024;
  std::vector<std::string*> free_bodies_;
  DateCache date_;
  RequestLog* request_log_ = nullptr;
  std::unique_ptr<RouteCounters[]> route_counters_;
  std::string server_line_;
  std::string error_body_;
  std::string refusal_;                // refuse(): the whole 503, built on first use
  Connection* connections_ = nullptr;  // intrusive list of open connections
  bool shedding_ = false;
  uint32_t connection_count_ = 0;  // client connections (local ones are not limited)
  uint32_t connection_limit_;
  RequestIdGenerator trace_ids_;
  std::vector<HeaderSpan> stream_response_spans_;
  ParserContext stream_response_context_;
  std::vector<H2Connection*> h2_pending_;
  uint64_t h2_memory_ = 0;
  // Streams and the memory of the stream connections on them, recycled.
  CompanionPool<H2Stream, Connection> streams_;
  void destroy(Connection* c);  // a connection gone; a stream connection's stream recycled
  std::vector<H2Connection*> h2_round_;
  std::vector<Connection*> starved_;
  std::vector<Connection*> dead_;
  bool draining_ = false;
  ConnectionSuccessor* successor_ = nullptr;
  // busy_connections(): distinct connections counted in this window and in the one before.
  static constexpr uint64_t kBusyWindowMs = 100;
  uint32_t busy_window_ = 1;  // 0 is a connection's "never counted"
  uint32_t busy_now_ = 0;
  uint32_t busy_before_ = 0;
  uint64_t busy_window_end_ms_ = 0;
};

}  // namespace ringgate
