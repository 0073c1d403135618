#pragma once
// One call to an upstream cluster: endpoint choice, pooled connection, request bytes out,
// response back, retries within the budget, timeouts, the circuit breaker and outlier detection.
// The response goes to a ResponseSink: the client (proxying: ClientResponse streams it into the
// client's output) or a sink of the gateway's own (aggregation backends, the JWKS fetcher).
//
//   Exchange ──head──► ProxyCall::start ── pick endpoint ── pooled UpstreamConn or connect
//        │ body (bounded by request_room)        │ request bytes (one buffer, replayable)
//        ▼                                        ▼
//   ProxyCall request buffer ──send──► UpstreamConn ──recv──► ResponseParser
//                                                            │ head / body (bounded by the
//                                                            ▼ sink's room)
//                                               ResponseSink (client output, or a backend's body)
//
// A call's states and their transitions (ProxyCall::enter checks every one):
//
//   kIdle ──start──► kTrying ──bytes sent──► kSent ──1xx──► kInterim ──1xx ends──► kSent
//                      ▲  │                    │ └──final head──► kResponding ──complete──► kIdle
//                      │  └─fail──┐            │                     │ fail: head retracted
//                      └─ retry ◄─┴────────────┴─────────────────────┘  (else cut: kIdle)
//                                              └──101──► kTunnel ──client EOF──► kTunnelHalfClosed
//   any state ──failure without retry, client gone, timeout──► kIdle
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

// The request target a route sends upstream for `path` and `query` (strip_prefix or rewrite
// applied, "?query" kept): at most upstream_target_size() bytes written to `out`; returns how
// many.
size_t upstream_target_size(const UpstreamAction& action, std::string_view path,
                            std::string_view query);
size_t write_upstream_target(const RouteConfig& route, const UpstreamAction& action,
                             std::string_view path, std::string_view query, char* out);

// Where a call's response goes. Body pieces arrive through BodySink::on_body.
class ResponseSink : public BodySink {
 public:
  // Response bytes it takes now; 0 holds the upstream's input until the call is told there is
  // room again (ProxyCall::on_client_drained).
  virtual size_t room() const { return SIZE_MAX; }
  // The final response head (never 1xx). false refuses it: the try fails as a bad response.
  virtual bool on_head(const ResponseParser& p) = 0;
  // The chunked body ended with trailer fields ("name: value\r\n" lines, valid for this call
  // only); on_complete() follows.
  virtual void on_trailers(std::string_view /*lines*/) {}
  // The response is complete; `status` is the upstream's. The call is over.
  virtual void on_complete(int status) = 0;
  // No usable response; the call is over.
  virtual void on_failed(const Error& error) = 0;
  // What on_head() and on_body() wrote may go out now (once per batch of upstream input).
  virtual void flush() {}
  // A try failed after on_head(): true when nothing of the response has gone out yet and the
  // sink forgot it, so another try may answer instead.
  virtual bool retract() { return false; }

 protected:
  ~ResponseSink() = default;
};

// The client side of a proxied call: writes the response into the client's output (the
// route's response filters edit the head; bodies re-framed for the client), counts the status
// once it cannot be taken back, and ends the client's exchange.
class ClientResponse final : public ResponseSink {
 public:
  explicit ClientResponse(const UpstreamShard& shard) : shard_(shard) {}

  void start(const Exchange& x, Downstream& client, int client_minor, bool keep_alive);
  // The client's request has arrived in full; `keep_alive`: what the client asked for.
  void request_complete(bool keep_alive) {
    request_complete_ = true;
    keep_alive_ = keep_alive;
  }
  // The upstream agreed to switch protocols (101): the head goes out, then raw bytes both ways.
  bool on_switch(const ResponseParser& p);
  void begin_tunnel();
  bool keep_alive() const { return keep_alive_; }
  // The receive buffer the response bytes parsed next lie in: a large piece of a body with a
  // length goes to the client from there (Downstream::out_lend), not copied.
  void set_input_buffer(uint16_t bid) { input_bid_ = bid; }
  // Smaller pieces are copied behind the head: the answer goes out with one plain send instead
  // of a sendmsg of two iovecs, and no buffer stays lent (a 1 KiB body: 0.99x the CPU of lending
  // it, `bench/run compare proxy`, twice; lending from 512 B up cost 1.04x the CPU and 1.08x the
  // user time of copying in 6 rounds on the EPYC guest, 1.00x and 0.97x in 10, and saved 46 of
  // 7,418 instructions per proxied request).
  static constexpr size_t kLendMin = 4096;

  size_t room() const override;
  bool on_head(const ResponseParser& p) override;
  void on_body(std::string_view data) override;
  void on_trailers(std::string_view lines) override;
  void on_complete(int status) override;
  void on_failed(const Error& error) override;
  void flush() override;
  bool retract() override;

 private:
  // kStaged: the head is in the client's output but no send has it: it can still be taken
  // back. kSent: it went to a send.
  enum class Head : uint8_t { kNone, kStaged, kSent };

  bool write_head(const ResponseParser& p, ForwardResponse& f);

  const UpstreamShard& shard_;
  const Exchange* x_ = nullptr;
  Downstream* client_ = nullptr;
  ResponseRecorder* recorder_ = nullptr;  // the exchange's (a cache filling), or none
  BodyFraming framing_ = BodyFraming::kLength;
  Head head_ = Head::kNone;
  int status_ = 0;
  int client_minor_ = 1;
  bool keep_alive_ = true;
  bool request_complete_ = false;
  bool trailers_written_ = false;  // "0\r\n" and the trailer fields are in the output
  bool replacing_ = false;         // the recorder answers instead: this response is dropped
  uint16_t input_bid_ = 0;
};

// One proxied request or gateway call. Lives from start() until its sink has been told the
// outcome (or the client is gone). Pooled per shard.
class ProxyCall final : public BodySink, public Timer, public Responder {
 public:
  // A free call (in the shard's pool) gives its request block back (UpstreamShard::trim_pools).
  void give_back_request_block();
  enum class State : uint8_t {
    kIdle,              // in the pool
    kTrying,            // a try is under way: connecting, or its request not yet sent
    kSent,              // the try handed request bytes to the upstream; no final head yet
    kInterim,           // a 1xx other than 101 is being read past
    kResponding,        // the final head went to the sink; its body follows
    kTunnel,            // after a 101: raw bytes both ways
    kTunnelHalfClosed,  // ... and the client has closed its side
  };

  explicit ProxyCall(UpstreamShard& shard);
  ~ProxyCall();

  // Called at the client's request head, once the route's filters let `x` through. No error
  // when the call is under way; otherwise why it could not start (the call is unused then).
  Error start(Exchange& x, Downstream& client, const RouteConfig& route,
              const UpstreamAction& action, UpstreamCluster& cluster);
  // The gateway's own call (aggregation, JWKS): sends `request` (head and body, complete) to the
  // cluster with the same endpoint choice, pools, retries, timeouts and breakers as proxying,
  // and hands the response to `sink`. No error when under way, else why it failed at once (the
  // sink is not called then, and the call is unused). `action.host` is taken as resolved (the
  // cluster's `host:` is the caller's to apply): kEndpoint fills the Host line that follows the
  // request line with the endpoint of each try; otherwise `request` goes as it is.
  Error start_backend(ResponseSink& sink, const UpstreamAction& action, UpstreamCluster& cluster,
                      std::string_view request, bool idempotent);
  // The gateway no longer wants the answer; the sink is not called again.
  void cancel() { on_client_gone(); }
  // Bytes received from the upstream for this call (the route's min_rate counts them).
  void note_received(uint32_t n) { received_ += n; }
  State state() const { return state_; }

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
  bool tunnelling() const override {
    return state_ == State::kTunnel || state_ == State::kTunnelHalfClosed;
  }
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
  // What the connection may feed to the response parser now.
  size_t response_room() const { return sink_->room(); }
  // The receive buffer the upstream's next response bytes lie in (ClientResponse lends it).
  void set_response_buffer(uint16_t bid) { client_.set_input_buffer(bid); }
  // false: the call failed (and is gone).
  bool on_response_head();
  // Upstream bytes for the client while tunnelling (no more than response_room()).
  void on_tunnel_response(std::string_view data) { sink_->on_body(data); }
  // The upstream closed its side of the tunnel.
  void on_upstream_eof();
  void on_response_complete();
  // Sends what the response has put into the sink's output so far.
  void flush_response() { sink_->flush(); }
  // The try failed: connect error or timeout, reset, close, bad response, an upstream 5xx to
  // retry.
  void on_upstream_failure(const Error& error);

  ProxyCall* next_free = nullptr;

 private:
  // The one place the state changes; a transition the drawing above does not have aborts.
  void enter(State next);
  // Picks an endpoint and binds a connection (kTrying); an error when none can take the try.
  Error try_once();
  bool build_head();
  // `host: endpoint`: rewrites the Host value in the buffered request for the endpoint this try
  // goes to. false when the longer name does not fit the request block.
  bool retarget_host();
  // Another try may follow one that failed after `sent` request bytes reached the upstream.
  // `redispatch`: the endpoint failed before it answered anything (refused, reset, closed): the
  // retry goes to another endpoint and is not counted against the retry budget, which guards
  // against amplifying overload (timeouts, 5xx), not against an endpoint that died.
  bool can_retry(bool connect_failed, bool sent, bool redispatch = false) const;
  void fail_request(const Error& error);
  // Refused before any try (circuit open, at the cluster's limits): counted, the call cleared.
  Error refuse(ErrorKind kind);
  // The gateway answers for the cluster: counted by the status it answers with.
  void count_failure(const Error& error);
  void clear();
  void finish();
  void detach_upstream(bool reusable);
  void arm_try_timer();
  void arm_transfer_timer();
  // min_rate: true when the window that just ended had enough bytes (the next one is armed).
  bool slow_window_passed();
  void put_request(const char* data, size_t n);
  void count_response(int status);
  void record_latency();
  // The request is over: out of the cluster's in-flight count, its latency recorded when
  // `record`, the call cleared and back in the pool.
  void end_call(bool record);
  bool switch_protocols();
  // The upstream's response cannot be used: counted, its connection closed, the try failed.
  // Always false (for on_response_head to return).
  bool reject_response();
  void end_tunnel();
  void arm_tunnel_timer();
  static void on_timer(Timer* t);

  UpstreamShard& shard_;
  ClientResponse client_;
  Exchange* x_ = nullptr;             // the client's exchange (null for the gateway's own calls)
  Downstream* downstream_ = nullptr;  // ... and its client, told when there is request room
  ResponseSink* sink_ = nullptr;      // &client_, or the gateway's sink
  const RouteConfig* route_ = nullptr;
  const UpstreamAction* action_ = nullptr;
  UpstreamCluster* cluster_ = nullptr;
  UpstreamConn* up_ = nullptr;
  UpstreamEndpoint* endpoint_ = nullptr;
  char* req_ = nullptr;  // request bytes (pooled block): head, then body as it arrives
  uint32_t req_len_ = 0;
  uint32_t req_sent_ = 0;
  uint64_t deadline_ms_ = 0;           // whole request
  uint64_t transfer_deadline_ms_ = 0;  // from the head: the whole request's, or a stream's stall
  uint64_t window_end_ms_ = 0;         // min_rate: the current window's end
  uint64_t window_start_bytes_ = 0;    // min_rate: received_ when the window began
  uint64_t received_ = 0;
  uint64_t try_deadline_ms_ = 0;
  uint64_t key_hash_ = 0;
  uint64_t start_us_ = 0;
  uint16_t tried_[8] = {};
  uint8_t tries_ = 0;
  State state_ = State::kIdle;
  BodyFraming request_framing_ = BodyFraming::kNone;
  // What the request is (fixed at start).
  bool idempotent_ = false;
  bool head_request_ = false;
  bool upgrade_ = false;  // the client asked to switch protocols: Upgrade is forwarded
  // How far the request is.
  bool request_complete_ = false;
  bool replayable_ = true;  // req_ still holds every request byte from the first
  // Shared counts this call holds a place in, given back when it ends.
  bool holds_retry_ = false;    // the cluster's retries in flight
  bool holds_pending_ = false;  // the cluster's calls waiting for a connection
  bool holds_probe_ = false;    // the half-open circuit's one probe
  int last_status_ = 0;
  uint32_t host_off_ = 0;  // `host: endpoint`: where the Host value starts in req_; 0 = none
  uint32_t host_len_ = 0;
};

}  // namespace ringgate
