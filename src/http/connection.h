#pragma once
// A downstream (client) HTTP/1.1 connection: one state machine, transitions in connection.cc.
//
//   kOpen ──error / close / drain──► (final response sent) ──► kLingering ──EOF/timeout──►
//   kClosing ──(no operation in flight)──► freed at the end of the loop iteration
//
// Bytes stay in the shard's ring buffers until parsed; an idle connection holds no buffer.

#include <cstdint>

#include "input_chain.h"
#include "ringgate/core/counters.h"
#include "ringgate/core/error.h"
#include "ringgate/core/reactor.h"
#include "ringgate/core/timer_wheel.h"
#include "ringgate/filters/auth_jwt.h"
#include "ringgate/filters/rate_limit.h"
#include "ringgate/http/request_parser.h"
#include "ringgate/http/server.h"

namespace ringgate {

class Worker;
class ProxyCall;
class AggregateCall;
struct AggregateRoute;
struct RouteMatchResult;
struct OutBuffer;
struct DirectRoute;
struct ProxyRoute;

// The transport seam: plain TCP now; TLS will wrap recv/send here without touching the parser.
enum class Transport : uint8_t { kPlain };

class Connection final : public Completion, public Timer, public RateWaiter {
 public:
  enum Op : unsigned { kOpRecv = 1, kOpSend = 2, kOpShutdown = 3 };
  enum class State : uint8_t { kOpen, kLingering, kClosing };

  // `local`: the handler that answers every request (admin, local services); nullptr for a
  // client connection, which is routed.
  Connection(Worker& worker, int fd, const AdminHandler* local);
  ~Connection();

  void start();
  void complete(unsigned op, int res, uint32_t flags) override;
  // SIGTERM: close now if idle, else after the response in progress.
  void begin_drain();
  // Drain timeout: close whatever the state.
  void abort() { close_now(); }
  // Buffers are available again after ENOBUFS.
  void resume_receive();
  bool closed() const { return state_ == State::kClosing; }

  // --- used by the proxy call in progress ---
  RequestParser& parser() { return parser_; }
  Worker& worker() { return worker_; }
  // Free output space for writing in place: `avail` bytes at the returned pointer (nullptr when
  // the output is full until the next send completes).
  char* out_space(size_t& avail);
  void out_commit(size_t n);
  bool out_pending() const;
  // Drops output not yet handed to a send (a response head that turned out bad).
  void out_discard();
  void out_flush();
  void count_status(int status);
  // The peer's address as text (no port), looked up once per connection.
  std::string_view peer_ip();
  // The call failed before its response started: the gateway answers for it.
  void proxy_error(const Error& error, bool keep_alive);
  // The response is complete in the output.
  void proxy_done(bool keep_alive);
  // The response started but cannot be completed: cut the connection.
  void proxy_abort();
  // The upstream took the buffered request bytes: feed more of the body.
  void proxy_request_room() { process_input(); }
  // The upstream switched protocols (101): from here input goes to the call unparsed.
  void proxy_tunnel();
  // The aggregation's answer: `body` (from Worker::acquire_body) is handed to the output until
  // it is sent, then released.
  void aggregate_answer(int status, const std::string& extra_headers, const char* content_type,
                        std::string* body, bool keep_alive);
  // A backend: redis rate limit the request waited for has decided.
  void rate_decided(bool allowed, uint32_t retry_after_s) override;
  // The client half-closed or the connection closes after this response anyway.
  bool closing() const { return close_after_send_ || peer_eof_; }

  Connection* prev = nullptr;
  Connection* next = nullptr;
  bool starved = false;

 private:
  enum class Phase : uint8_t { kNone, kIdle, kHeader, kRequest, kLinger, kProxy };
  enum class Pending : uint8_t {
    kNone,
    kDirect,
    kMethodNotAllowed,
    kAdmin,
    kProxy,         // call_ is in progress
    kError,         // refused (no route, bad path, the call could not start): error_
    kAggregate,     // agg_ is in progress
    kRateLimited,   // over a rate limit: 429 with pending_.limited at message complete
    kUnauthorized,  // auth refused: 401/403 with pending_.refused at message complete
  };
  struct AuthRefusal {
    uint32_t issuer;  // the JWT issuer, or the API-key set when api_key
    bool api_key;
    ShardJwtAuth::Outcome outcome;
    const char* reason;  // static text (kInvalid); length in reason_len
    uint32_t reason_len;
    const RouteConfig* route;
  };
  struct LimitedAnswer {
    uint32_t policy;
    uint32_t retry_after_s;
  };

  // Admin traffic is kept out of the client metrics (and out of limits.connections).
  ShardCounters& counters() const;
  void on_recv(int res, uint32_t flags);
  void on_send(int res);
  void arm_recv();
  void process_input();
  bool output_room() const;
  void on_head();
  void on_message_complete();
  void start_proxy(const ProxyRoute& route);
  void start_aggregate(const AggregateRoute& route, const RouteMatchResult& match);
  // Hands held input to the tunnel; false when the call has no room now.
  bool tunnel_input();
  void on_parse_error();
  // Answers `error` and closes once it is sent; nothing more is read as a request.
  void fail_and_close(const Error& error);
  // The gateway's own answer to a request it refuses, through error_reply.
  void emit_error(const Error& error, const char* extra_headers, bool keep_alive);
  void emit_direct(const DirectRoute& route, bool keep_alive, bool head_only);
  void emit_head(int status, const char* extra_headers, std::string_view content_type,
                 size_t content_length, bool keep_alive);
  void emit_generated(int status, const char* extra_headers, std::string_view content_type,
                      std::string_view body, bool keep_alive, bool head_only);
  void emit_admin(AdminResponse* response, bool keep_alive, bool head_only);
  // A 400 for the request's path (counted).
  void refuse_path(ErrorKind kind);
  // From routing on (the path is normal): match, path flags, auth, rate limits, action. Run
  // again when a rate limit that waited for Redis lets the request through (`resumed`: auth
  // results are looked up again, uncounted, and the policies already passed are skipped).
  void route_request(bool resumed);
  // Checks the route's rate limits in order from rate_next_; false when one refuses (the 429
  // pending) or waits for a lease (rate_waiting()).
  bool within_rate_limits(const RouteConfig& route);
  // Checks the route's authentication; false (the 401/403 pending) when it refuses. `count`:
  // false when looked up again for a resumed request.
  bool authenticated(const RouteConfig& route, bool count);
  void emit_auth_refusal(const AuthRefusal& refused, bool keep_alive);
  // The client's address for rate limiting: the peer, or with server.trusted_hops N the Nth
  // X-Forwarded-For entry from the right (the leftmost when there are fewer).
  std::string_view client_address();
  void emit_rate_limited(const LimitedAnswer& limited, bool keep_alive);
  // Hands `body` (Worker::acquire_body) to the output after the head just emitted, or back to
  // the worker when `drop` (HEAD) or empty.
  void stage_owned_body(std::string* body, bool drop);
  void append_copy(std::string_view bytes);
  void append_ref(const char* data, size_t len);
  void append_connection_header(bool keep_alive);
  void flush();
  void start_linger();
  void finish_after_eof();
  void close_now();
  void maybe_retire();
  void release_input();
  void update_timer();
  static void on_timer(Timer* t);

  friend class Worker;

  Worker& worker_;
  RequestParser parser_;
  OutBuffer* out_ = nullptr;
  union {
    const DirectRoute* route;
    uint64_t allow;
    AdminResponse* admin;
    LimitedAnswer limited;
    AuthRefusal refused;
  } pending_{};
  Error error_;  // Pending::kError
  ProxyCall* call_ = nullptr;
  AggregateCall* agg_ = nullptr;
  int fd_;
  InputChain in_;
  State state_ = State::kOpen;
  Phase phase_ = Phase::kNone;
  Pending pending_kind_ = Pending::kNone;
  Transport transport_ = Transport::kPlain;
  const AdminHandler* local_;
  bool recv_armed_ = false;
  bool recv_cancelling_ = false;
  bool send_inflight_ = false;
  bool shutdown_inflight_ = false;
  bool close_after_send_ = false;
  bool peer_eof_ = false;
  bool head_request_ = false;
  bool in_process_ = false;
  bool retired_ = false;
  bool tunnel_ = false;
  uint8_t path_flags_ = 0;         // of the request in progress (normalize_path)
  uint8_t rate_next_ = 0;          // index into the route's rate_limits: the next policy to check
  uint32_t rate_wait_policy_ = 0;  // the policy a waiting request waits for
  uint32_t linger_bytes_ = 0;
  char peer_ip_[46] = {};  // filled on the first proxied request
};

}  // namespace ringgate
