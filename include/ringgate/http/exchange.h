#pragma once
// One request and its answer, as every phase sees it (the phases are drawn in filter.h). Made
// from the connection's request arena when a request head has been parsed, given back when the
// exchange ends (its log phase has run). Filters read the request and write what they found
// (identity) or decided (an error, a reply) here; proxying and aggregation read it when they
// start. Nothing about a request lives anywhere else on the shard.

#include <cstdint>
#include <string_view>
#include <vector>

#include "ringgate/config/config.h"
#include "ringgate/core/arena.h"
#include "ringgate/core/counters.h"
#include "ringgate/core/error.h"
#include "ringgate/core/out_hold.h"
#include "ringgate/http/request_parser.h"
#include "ringgate/router/router.h"

namespace ringgate {

class Exchange;
class Filter;
class RequestIdGenerator;  // http/forward.h
struct RoutePlan;

enum class FilterStatus : uint8_t {
  kContinue,  // on to the next filter, then the route's action
  kReply,     // answered: the exchange's error (or reply) is what the client gets
  kWait,      // decided later: the filter calls Exchange::resume() exactly once (or is cancelled)
};

// The connection (or stream) an exchange belongs to.
class ExchangeOwner {
 public:
  // A filter that returned kWait has decided (`status` is kContinue or kReply).
  virtual void resumed(Exchange& x, FilterStatus status) = 0;
  // The client's address as seen on the socket (looked up once, when first asked for).
  virtual std::string_view peer_ip() = 0;
  // The subject of the client certificate the TLS handshake verified (mTLS, RFC 2253 text);
  // empty without one.
  virtual std::string_view client_certificate() { return {}; }

 protected:
  ~ExchangeOwner() = default;
};

// Who the caller is, as the authentication filters established it; read by later filters (rate
// limit keys), by proxying (headers sent upstream) and by aggregation (`{claim.NAME}`). Every
// view is into the exchange's arena or into the config.
struct Identity {
  static constexpr size_t kMaxClaims = 16;
  // claims is left unset but for [0, claim_count): made per request, never zeroed in bulk.
  Identity() {}

  std::string_view consumer;  // the API-key consumer
  // The verified JWT's extracted claims, in the order of its issuer's rules.forward ("" absent).
  union {
    std::string_view claims[kMaxClaims];
  };
  uint32_t claim_count = 0;
  // Header lines the gateway adds upstream ("Name: value\r\n"...): forwarded claims, consumer.
  std::string_view add_headers;
  // Lower-case names of the headers the gateway sets on this route: the client's copies go.
  const std::vector<std::string>* drop_headers = nullptr;
};

// An answer decided without an upstream: a filter's own (a CORS preflight, a cached response)
// or a direct route's.
struct Reply {
  int status = 0;                 // 0: none
  std::string_view headers;       // extra header lines, each ending in CRLF
  std::string_view content_type;  // empty: no Content-Type
  std::string_view body;
  const void* canned = nullptr;  // a direct route's prebuilt response (the connection knows it)
  // A stored response: its status line and header lines (no Date unless has_date, no final
  // CRLF) go out as they are, then `headers`, and `body` (which must hold Content-Length's
  // bytes). The output may point into head and body while `hold` is retained.
  std::string_view stored_head;
  const OutHold* hold = nullptr;
  bool has_date = false;
};

// Sees a proxied response as it streams to the client (the cache filter records it), and may
// put a stored response in its place. Views are valid for the call only.
class ResponseRecorder {
 public:
  enum class Verdict : uint8_t {
    kForward,  // the response goes to the client (its body through on_body)
    kReplace,  // the client gets replacement() once this response is complete (a 304 that
               // refreshed a stored response; a 5xx where a stale one may be served)
  };
  // The final response head, as the upstream sent it.
  virtual Verdict on_head(const MessageParser& response) = 0;
  // A piece of a forwarded body (de-chunked).
  virtual void on_body(std::string_view data) = 0;
  // The response is complete (in the client's output, when forwarded).
  virtual void on_complete() = 0;
  // What was seen will not complete (the try failed, was retracted, or the client was cut): a
  // later on_head may start over.
  virtual void on_abandon() = 0;
  // A whole response the gateway built itself (an aggregation's merged answer) is about to go
  // to the client: `headers` are its header lines (each ending in CRLF) besides Content-Type.
  virtual void on_built(int status, std::string_view headers, std::string_view content_type,
                        std::string_view body) {
    (void)status;
    (void)headers;
    (void)content_type;
    (void)body;
  }
  // What the client gets instead: after kReplace, or (`error` set) when no response came;
  // nullptr when nothing stored may stand in (the error is answered then). Valid until the
  // exchange ends.
  virtual const Reply* replacement(const Error* error) = 0;

 protected:
  ~ResponseRecorder() = default;
};

// Shard-clock microseconds at each step (0: not reached).
struct Timings {
  uint64_t accepted_us = 0;        // the connection was accepted
  uint64_t head_us = 0;            // the request head was parsed
  uint64_t upstream_start_us = 0;  // the first try was sent on its way
  uint64_t upstream_head_us = 0;   // the response head arrived
  uint64_t done_us = 0;            // the response's last byte went to the connection's output
};

// The request's W3C trace context (server.trace_context): the trace it belongs to, continued
// from the client's traceparent or started at the head. Every call the gateway makes for it
// sends `traceparent: 00-<trace_id>-<a span id of its own>-<flags>`.
// A trace started here draws its id from the shard's generator when first asked for (id()): an
// answer the gateway writes itself, not logged, never quotes it.
struct TraceContext {
  mutable char trace_id[32];  // lower-case hex (valid when `on`, once id() has been called)
  char flags[2];              // trace-flags, as received or "01"
  bool on = false;            // trace_context is not off
  bool continued = false;     // from the client's traceparent: its tracestate goes on too
  mutable RequestIdGenerator* draw = nullptr;  // set while a new trace's id is not drawn yet
  // The trace id (32 lower-case hex digits); empty when trace context is off.
  std::string_view id() const;
};

// What the log phase reports beyond the timings (the access log, the error log). Filled as the
// exchange goes: views point into the exchange's arena or into the config.
struct ExchangeLog {
  std::string_view target;   // the request target as received (access log on only)
  std::string_view client;   // the client's address (access log on only)
  std::string_view referer;  // ... and these two for the combined format
  std::string_view user_agent;
  std::string_view request_id;            // the X-Request-Id sent upstream; empty: none
  const std::string* upstream = nullptr;  // the cluster of the last try (proxied)
  std::string_view error_name;            // the cluster or backend of `error` (config-owned)
  uint64_t bytes_out = 0;                 // response bytes written to the client's output
  uint16_t status = 0;                    // sent to the client; 0: none (the client left)
  uint16_t upstream_status = 0;           // the upstream's final status (proxied)
  ErrorKind error = ErrorKind::kNone;     // why the gateway answered as it did
  bool partial = false;                   // an aggregation answered without some parts
};

class Exchange {
 public:
  static constexpr size_t kMaxFilters = 16;  // filters on one route

  Exchange(ExchangeOwner& owner, Arena& arena, const RequestParser& request,
           ShardCounters& counters)
      : owner_(owner), arena_(arena), request_(request), counters_(counters) {}

  // --- the request ---
  // Its head: views valid through the request phase (a waiting exchange's head is pinned).
  const RequestParser& request() const { return request_; }
  // The client's address as seen on the socket.
  std::string_view peer_ip() const { return owner_.peer_ip(); }
  std::string_view client_certificate() const { return owner_.client_certificate(); }
  uint32_t trusted_hops = 0;  // server.trusted_hops
  bool tls = false;           // the client connection is HTTPS (X-Forwarded-Proto)
  bool http2 = false;         // the request came on an HTTP/2 stream (logs say HTTP/2.0)
  uint8_t path_flags = 0;     // PathFlag bits of the normalised path
  bool head_request = false;
  // The client's address for limits and hashing: the peer, or with trusted proxies in front
  // the X-Forwarded-For entry the outermost trusted one appended.
  std::string_view client_address() const;

  // --- routing ---
  const RoutePlan* plan = nullptr;  // the matched route's filters and action
  RouteMatchResult match;           // status, route, path parameters

  // --- what the filters found and decided ---
  Identity identity;
  Error error;                     // set: the exchange is answered with it (error_reply)
  std::string_view error_headers;  // header lines that go with the error (WWW-Authenticate, ...)
  Reply reply;                     // a filter's or the route's own answer
  ResponseRecorder* recorder = nullptr;  // a filter's, for the proxied response

  Timings timings;
  ExchangeLog log;
  TraceContext trace;

  // --- memory ---
  Arena& arena() { return arena_; }
  ShardCounters& counters() { return counters_; }
  // Appends a header line for the upstream to identity.add_headers (copied into the arena).
  bool add_upstream_header(std::string_view name, std::string_view value);
  // A filter's per-request part, by its position in the route's chain (nullptr until set).
  void* filter_state(size_t position) const {
    return filter_state_ ? filter_state_[position] : nullptr;
  }
  // Sets it; false when the arena has no room for the table (made on first use: most requests
  // have no filter that keeps anything).
  bool set_filter_state(size_t position, void* state);

  // --- the pipeline's bookkeeping (pipeline.cc) ---
  // The filter that returned kWait has decided: the owner goes on with the exchange.
  void resume(FilterStatus status) {
    waiting_ = false;
    owner_.resumed(*this, status);
  }
  bool waiting() const { return waiting_; }
  uint8_t next_filter() const { return next_; }

 private:
  friend class Pipeline;

  ExchangeOwner& owner_;
  Arena& arena_;
  const RequestParser& request_;
  ShardCounters& counters_;
  void** filter_state_ = nullptr;  // kMaxFilters slots in the arena, once one is set
  uint8_t next_ = 0;               // the next filter whose on_request runs
  uint8_t entered_ = 0;            // filters whose on_request ran: their on_response and on_log run
  bool waiting_ = false;
  bool logged_ = false;
};

}  // namespace ringgate
