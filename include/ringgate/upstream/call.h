#pragma once
// One call to an upstream cluster: endpoint choice, pooled connection, request bytes out,
// response back, retries within the budget, timeouts, the circuit breaker and outlier detection.
// A call answers a client exchange (proxying: the response streams to the client) or a sink of
// the gateway's own (aggregation backends, the JWKS fetcher).
//
//   Exchange ──head──► ProxyCall::start ── pick endpoint ── pooled UpstreamConn or connect
//        │ body (bounded by request_room)        │ request bytes (one buffer, replayable)
//        ▼                                        ▼
//   ProxyCall request buffer ──send──► UpstreamConn ──recv──► ResponseParser
//                                                            │ head / body (bounded by the
//                                                            ▼ client's output room)
//                                           Downstream output ──send──► client
//
// Everything here belongs to one shard. Nothing allocates per request in steady state: calls,
// request buffers and upstream connections are pooled.

#include <cstdint>
#include <string>
#include <string_view>

#include "ringgate/config/config.h"
#include "ringgate/core/error.h"
#include "ringgate/core/timer_wheel.h"
#include "ringgate/http/forward.h"
#include "ringgate/http/pipeline.h"
#include "ringgate/http/request_parser.h"
#include "ringgate/upstream/cluster.h"

namespace ringgate {

class UpstreamConn;
class UpstreamShard;

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
  explicit ProxyCall(UpstreamShard& shard);
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

  UpstreamShard& shard_;
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
