#pragma once
// Reverse proxying: per-shard clusters and keep-alive pools, upstream connections, and the
// exchange (ProxyCall) that carries one client request to an upstream and its response back.
//
//   Connection ──head──► ProxyCall::start ── pick endpoint ── pooled UpstreamConn or connect
//        │ body (bounded by request_room)        │ request bytes (one buffer, replayable)
//        ▼                                        ▼
//   ProxyCall request buffer ──send──► UpstreamConn ──recv──► ResponseParser
//                                                            │ head / body (bounded by the
//                                                            ▼ client's output room)
//                                           Connection output ──send──► client
//
// Everything here belongs to one shard. Nothing allocates per request in steady state: calls,
// request buffers and upstream connections are pooled.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "input_chain.h"
#include "ringgate/config/config.h"
#include "ringgate/core/error.h"
#include "ringgate/core/histogram.h"
#include "ringgate/core/reactor.h"
#include "ringgate/core/timer_wheel.h"
#include "ringgate/http/forward.h"
#include "ringgate/http/pipeline.h"
#include "ringgate/http/request_parser.h"
#include "ringgate/net/address.h"
#include "ringgate/upstream/balancer.h"

namespace ringgate {

class ProxyCall;
class UpstreamConn;
class Worker;

// Per cluster and shard; written only by the shard, summed on scrape.
// X(field, prometheus name suffix, type, help)
#define RINGGATE_CLUSTER_COUNTERS(X)                                                          \
  X(requests, "requests_total", "counter", "Requests proxied to the cluster")                 \
  X(responses_1xx, "responses_1xx_total", "counter", "Upstream responses 1xx (101)")          \
  X(responses_2xx, "responses_2xx_total", "counter", "Upstream responses 2xx")                \
  X(responses_3xx, "responses_3xx_total", "counter", "Upstream responses 3xx")                \
  X(responses_4xx, "responses_4xx_total", "counter", "Upstream responses 4xx")                \
  X(responses_5xx, "responses_5xx_total", "counter", "Upstream responses 5xx")                \
  X(failures_502, "errors_502_total", "counter", "Requests answered 502 by the gateway")      \
  X(failures_503, "errors_503_total", "counter", "Requests answered 503 by the gateway")      \
  X(failures_504, "errors_504_total", "counter", "Requests answered 504 by the gateway")      \
  X(connect_failures, "connect_failures_total", "counter", "Failed connection attempts")      \
  X(timeouts, "timeouts_total", "counter", "Tries that timed out (connect or response)")      \
  X(retries, "retries_total", "counter", "Retried tries")                                     \
  X(bad_responses, "bad_responses_total", "counter", "Responses with bad framing or cut off") \
  X(pool_hits, "pool_hits_total", "counter", "Requests sent on a pooled connection")          \
  X(pool_misses, "pool_misses_total", "counter", "Requests that needed a new connection")     \
  X(ejections, "ejections_total", "counter", "Endpoints ejected by outlier detection")        \
  X(circuit_rejections, "circuit_rejections_total", "counter",                                \
    "Requests refused 503 by the circuit breaker or its limits")                              \
  X(connections_active, "connections_active", "gauge", "Open upstream connections")

struct ClusterCounters {
#define RINGGATE_CLUSTER_FIELD(field, name, type, help) std::atomic<uint64_t> field{0};
  RINGGATE_CLUSTER_COUNTERS(RINGGATE_CLUSTER_FIELD)
#undef RINGGATE_CLUSTER_FIELD
  // From the request head to the response complete (or the gateway's error answer).
  LatencyHistogram latency;
};

// Per endpoint and shard, labelled {upstream, endpoint} on scrape.
#define RINGGATE_ENDPOINT_COUNTERS(X)                                                    \
  X(requests, "requests_total", "counter", "Tries sent to the endpoint")                 \
  X(connect_failures, "connect_failures_total", "counter", "Failed connection attempts") \
  X(failures, "failures_total", "counter",                                               \
    "Tries that failed after connecting (reset, timeout, bad or cut response)")          \
  X(responses_5xx, "responses_5xx_total", "counter", "Responses 5xx from the endpoint")  \
  X(connections_active, "connections_active", "gauge", "Open connections to the endpoint")

struct EndpointCounters {
#define RINGGATE_ENDPOINT_FIELD(field, name, type, help) std::atomic<uint64_t> field{0};
  RINGGATE_ENDPOINT_COUNTERS(RINGGATE_ENDPOINT_FIELD)
#undef RINGGATE_ENDPOINT_FIELD
};

// What all shards share about an endpoint: the health verdict (written by the one health
// checker) and passive ejection (written by whichever shard saw the failures).
struct SharedEndpoint {
  // The address to connect to, published by the gateway (at start and by DNS refreshes); null
  // while a name has never resolved. Published addresses live as long as the gateway.
  std::atomic<const SocketAddress*> address{nullptr};
  std::atomic<bool> healthy{true};
  std::atomic<uint64_t> ejected_until_ms{0};
  std::atomic<uint32_t> ejections{0};  // times ejected: the next ejection lasts longer
  std::atomic<uint64_t> checks_failed{0};
};

// Per cluster, shared by all shards; touched only on failures, health changes and while the
// circuit is open, never per request in the steady state.
struct SharedCluster {
  explicit SharedCluster(size_t endpoints) : endpoints(endpoints) {}
  std::vector<SharedEndpoint> endpoints;
  std::atomic<uint32_t> consecutive_failures{0};
  std::atomic<uint64_t> open_until_ms{0};    // circuit open until then; 0 = closed
  std::atomic<bool> half_open_probe{false};  // one request is probing an open circuit
  std::atomic<uint64_t> circuit_opened{0};   // times opened (metric)
  std::atomic<uint64_t> dns_failures{0};     // failed lookups of endpoint names (metric)
};

// One endpoint of a cluster, as this shard sees it.
struct UpstreamEndpoint {
  SocketAddress address;
  const SocketAddress* published = nullptr;  // the shared address `address` was copied from
  uint32_t generation = 0;                   // bumped when the address changes
  EndpointCounters* counters = nullptr;      // in the cluster's endpoint_counters
  std::string authority;                     // "host:port" as configured (Host policy `endpoint`)
  uint32_t weight = 1;
  UpstreamConn* idle = nullptr;  // pooled idle connections, most recently used first
  uint32_t idle_count = 0;
  uint32_t connections = 0;  // open: connecting, idle or busy
  uint32_t in_flight = 0;
  // Passive outlier detection, counted by this shard.
  uint32_t consecutive_5xx = 0;
  uint32_t consecutive_connect_failures = 0;
  SharedEndpoint* shared = nullptr;
};

struct UpstreamCluster {
  const UpstreamConfig* config = nullptr;
  SharedCluster* shared = nullptr;
  uint32_t index = 0;
  std::vector<UpstreamEndpoint> endpoints;
  std::vector<EndpointView> views;
  std::unique_ptr<HashTable> table;
  std::unique_ptr<Balancer> balancer;
  // This shard's share of the circuit limits, and what it uses of them now.
  uint32_t max_connections = 0;
  uint32_t max_pending = 0;
  uint32_t max_requests = 0;
  uint32_t connections = 0;
  uint32_t pending = 0;   // calls waiting for a connection
  uint32_t requests = 0;  // calls in flight
  uint32_t retries = 0;   // retries in flight
  ClusterCounters counters;
  std::unique_ptr<EndpointCounters[]> endpoint_counters;

  Error error(ErrorKind kind) const { return Error::upstream(kind, config->name); }
};

// Picks up an address the gateway re-resolved; connections to the old one are not pooled again.
// False while the endpoint has no address.
bool sync_endpoint_address(UpstreamEndpoint& ep);

// A connection to one endpoint. Idle ones wait in their endpoint's pool with a receive armed,
// so an upstream that closes them is noticed at once.
class UpstreamConn final : public Completion, public Timer {
 public:
  enum Op : unsigned { kOpConnect = 1, kOpRecv = 2, kOpSend = 3 };
  enum class State : uint8_t { kConnecting, kIdle, kActive, kClosing };

  UpstreamConn(Worker& worker, UpstreamCluster& cluster, UpstreamEndpoint& endpoint, int fd);
  ~UpstreamConn();

  void complete(unsigned op, int res, uint32_t flags) override;

  void connect();
  // Bound to a call: sends its request bytes, feeds its response.
  void attach(ProxyCall* call);
  // The call is done with this connection: back to the pool if it can carry another request.
  void release(bool reusable);
  // Sends what the call has buffered (no-op while connecting or a send is in flight).
  void flush();
  // The client has output room again: parse held response bytes.
  void resume() { process_input(); }
  // Receive buffers are available again after ENOBUFS.
  void resume_receive();
  void close();

  State state() const { return state_; }
  UpstreamEndpoint& endpoint() { return endpoint_; }
  UpstreamCluster& cluster() { return cluster_; }
  ResponseParser& parser() { return parser_; }
  bool reused() const { return requests_ > 0; }
  bool closed() const { return state_ == State::kClosing; }

  UpstreamConn* next_idle = nullptr;
  UpstreamConn* prev_idle = nullptr;
  bool starved = false;

 private:
  void on_connect(int res);
  void on_recv(int res, uint32_t flags);
  void on_send(int res);
  void process_input();
  void arm_recv();
  void release_input();
  void leave_pool();  // out of the endpoint's idle list
  void fail(ErrorKind kind);
  void maybe_retire();
  static void on_timer(Timer* t);

  friend class Worker;

  Worker& worker_;
  UpstreamCluster& cluster_;
  UpstreamEndpoint& endpoint_;
  ProxyCall* call_ = nullptr;
  ResponseParser parser_;
  int fd_;
  uint32_t requests_ = 0;
  uint32_t generation_ = 0;  // the endpoint's address generation at connect
  InputChain in_;
  State state_ = State::kConnecting;
  bool connect_inflight_ = false;
  bool recv_armed_ = false;
  bool recv_cancelling_ = false;
  bool send_inflight_ = false;
  bool in_process_ = false;
  bool retired_ = false;
  bool peer_eof_ = false;
};

// Where the response of an aggregation backend goes (ProxyCall in backend mode), instead of a
// client connection.
class BackendSink {
 public:
  // The final response head (never 1xx). false refuses it: the call fails as a bad response.
  virtual bool backend_head(const ResponseParser& p) = 0;
  // A piece of the body.
  virtual void backend_body(std::string_view data) = 0;
  // The response is complete; `status` is the upstream's.
  virtual void backend_done(int status) = 0;
  // No usable response (source kUpstream, named by the cluster).
  virtual void backend_failed(const Error& error) = 0;

 protected:
  ~BackendSink() = default;
};

// One proxied request. Lives from the client's request head until the response has been handed
// to the client's output (or the request failed). Pooled per shard.
class ProxyCall final : public BodySink, public Timer, public Responder {
 public:
  explicit ProxyCall(Worker& worker);
  ~ProxyCall();

  // Called at the client's request head, once the route's filters let `x` through. No error
  // when the call is under way; otherwise why it could not start (the call is unused then).
  Error start(Exchange& x, Downstream& client, const RouteConfig& route,
              const UpstreamAction& action, UpstreamCluster& cluster);
  // Backend mode (aggregation): sends `request` (head and body, complete) to the cluster with the
  // same endpoint choice, pools, retries, timeouts and breakers as proxying, and hands the
  // response to `sink`. No error when under way, else why it failed at once (the sink is not
  // called then, and the call is unused).
  Error start_backend(BackendSink& sink, const UpstreamAction& action, UpstreamCluster& cluster,
                      std::string_view request, bool idempotent);
  // Backend mode: the aggregation no longer wants the answer; the sink is not called again.
  void cancel() { on_client_gone(); }

  // --- Responder: from the client connection ---
  BodySink* body_sink() override { return this; }
  // Request body bytes the call can take now (0: wait for the upstream to drain).
  size_t request_room() const override;
  void on_body(std::string_view data) override;  // request body piece
  void on_request_complete(bool keep_alive) override;
  // After the client's input was processed: push buffered request bytes upstream.
  void flush_request() override;
  // The client's output was sent: there is room for more response bytes.
  bool on_client_drained() override;
  // The client connection is closing: stop and let go of everything.
  void on_client_gone() override;
  // After a 101 the exchange is a two-way byte tunnel until either side closes.
  bool tunnelling() const override { return tunnel_; }
  // Client bytes for the upstream (no more than request_room()).
  void on_tunnel_input(const char* data, size_t n) override;
  // The client half-closed its side of the tunnel.
  void on_client_eof() override;

  // --- from the upstream connection ---
  UpstreamConn* upstream() const { return up_; }
  bool head_request() const { return head_request_; }
  const char* request_data() const { return req_ + req_sent_; }
  size_t request_pending() const { return req_len_ - req_sent_; }
  void on_request_sent(size_t n);
  void on_connected();
  // Response events. The *_room call bounds what the connection feeds to the parser.
  size_t response_room() const;
  // false: the call failed (and is gone).
  bool on_response_head();
  void on_response_body(std::string_view data);
  // Upstream bytes for the client while tunnelling (no more than response_room()).
  void on_tunnel_response(std::string_view data) { on_response_body(data); }
  // The upstream closed its side of the tunnel.
  void on_upstream_eof();
  void on_response_complete();
  // Sends what the response has put into the client's output so far.
  void flush_response();
  // The try failed: connect error or timeout, reset, close, bad response, an upstream 5xx to
  // retry.
  void on_upstream_failure(const Error& error);

  ProxyCall* next_free = nullptr;

 private:
  class ResponseSink final : public BodySink {
   public:
    explicit ResponseSink(ProxyCall& call) : call_(call) {}
    void on_body(std::string_view data) override { call_.on_response_body(data); }

   private:
    ProxyCall& call_;
  };

  // Picks an endpoint and binds a connection; an error when none can take the try.
  Error try_once();
  bool build_head();
  // `host: endpoint`: rewrites the Host value in the buffered request for the endpoint this try
  // goes to. false when the longer name does not fit the request block.
  bool retarget_host();
  bool can_retry(bool connect_failed) const;
  bool circuit_admits();
  // Circuit breaker bookkeeping for a finished request.
  void record_outcome(bool success);
  // Passive outlier detection for the endpoint of the try that just ended.
  void note_endpoint(bool connect_failed, bool server_error);
  void fail_request(const Error& error);
  // Refused before any try (circuit open, at the cluster's limits): counted, the call cleared.
  Error refuse(ErrorKind kind);
  // The gateway answers for the cluster: counted by the status it answers with.
  void count_failure(const Error& error);
  void clear();
  void finish();
  void detach_upstream(bool reusable);
  void arm_try_timer();
  void put_request(const char* data, size_t n);
  void count_response(int status);
  void record_latency();
  // The request is over: out of the cluster's in-flight count, its latency recorded when
  // `record`, the call cleared and back in the pool.
  void end_call(bool record);
  bool start_tunnel();
  // The upstream's response cannot be used: counted, its connection closed, the try failed.
  // Always false (for on_response_head to return).
  bool reject_response();
  // Writes the client's response head into its output; false when it does not fit.
  bool write_client_head(const ResponseParser& p, ForwardResponse& f);
  void end_tunnel();
  void arm_tunnel_timer();
  static void on_timer(Timer* t);

  Worker& worker_;
  ResponseSink response_sink_;
  Exchange* x_ = nullptr;  // the client's exchange (null in backend mode)
  Downstream* client_ = nullptr;
  BackendSink* sink_ = nullptr;  // backend mode: the response goes here, not to client_
  const RouteConfig* route_ = nullptr;
  const UpstreamAction* action_ = nullptr;
  UpstreamCluster* cluster_ = nullptr;
  UpstreamConn* up_ = nullptr;
  UpstreamEndpoint* endpoint_ = nullptr;
  char* req_ = nullptr;  // request bytes (pooled block): head, then body as it arrives
  uint32_t req_len_ = 0;
  uint32_t req_sent_ = 0;
  uint64_t deadline_ms_ = 0;  // whole request
  uint64_t try_deadline_ms_ = 0;
  uint16_t tried_[8] = {};
  uint8_t tries_ = 0;
  BodyFraming request_framing_ = BodyFraming::kNone;
  BodyFraming response_framing_ = BodyFraming::kLength;
  bool replayable_ = true;  // req_ still holds every request byte from the first
  bool request_complete_ = false;
  bool client_keep_alive_ = true;
  bool idempotent_ = false;
  bool head_sent_ = false;      // the response head is in the client's output
  bool head_flushed_ = false;   // ... and was handed to a send: it cannot be taken back
  bool informational_ = false;  // a 1xx (not 101) is being skipped
  bool try_sent_ = false;       // this try handed bytes to the upstream
  bool response_complete_ = false;
  bool counted_retry_ = false;
  bool pending_counted_ = false;
  bool head_request_ = false;
  bool probe_ = false;    // this request probes a half-open circuit
  bool upgrade_ = false;  // the client asked to switch protocols: Upgrade is forwarded
  bool tunnel_ = false;   // ... and the upstream agreed (101): bytes flow both ways unparsed
  bool client_eof_ = false;
  int client_minor_ = 1;
  uint64_t key_hash_ = 0;
  uint64_t start_us_ = 0;
  int last_status_ = 0;
  uint32_t host_off_ = 0;  // `host: endpoint`: where the Host value starts in req_; 0 = none
  uint32_t host_len_ = 0;
};

}  // namespace ringgate
