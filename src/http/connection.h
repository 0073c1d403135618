#pragma once
// A downstream (client) HTTP/1.1 connection: bytes in and out, the parser, and one exchange at a
// time handed to the pipeline. What a request means (routing, filters, the action) is the
// pipeline's; how a failure reads is error_reply's; this file only moves bytes and keeps time.
//
//   kOpen ──error / close / drain──► (final response sent) ──► kLingering ──EOF/timeout──►
//   kClosing ──(no operation in flight)──► freed at the end of the loop iteration
//
// Bytes stay in the shard's ring buffers until parsed; an idle connection holds no buffer and no
// arena block.
//
// HTTP/2 (h2_connection.h): a client connection whose first bytes ask for it hands them to its
// H2Connection from then on; and each of that connection's streams is a Connection too (a
// "stream connection": over an H2Stream instead of a socket, not counted against the limit, not
// in the shard's list), which reads its request and writes its response as HTTP/1.1.

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string_view>

#include "ringgate/core/arena.h"
#include "ringgate/core/counters.h"
#include "ringgate/core/error.h"
#include "ringgate/core/input_chain.h"
#include "ringgate/core/reactor.h"
#include "ringgate/core/timer_wheel.h"
#include "ringgate/core/transport.h"
#include "ringgate/http/exchange.h"
#include "ringgate/http/pipeline.h"
#include "ringgate/http/request_parser.h"
#include "ringgate/tls/transport.h"

namespace ringgate {

class H2Connection;
class HttpShard;
class RequestLog;
struct OutBuffer;

class Connection final : public Timer,
                         public TransportHandler,
                         public ExchangeOwner,
                         public Downstream {
 public:
  enum class State : uint8_t { kOpen, kLingering, kClosing };

  // `fixed`: the plan that answers every request (a local listener: admin, local services);
  // nullptr for a client connection, whose requests are routed. `tls`: the listener's TLS
  // settings; null for plain HTTP.
  // `established`: a TLS session handed over from a draining gateway (with `tls` set), already
  // past its handshake.
  Connection(HttpShard& http, int fd, const RoutePlan* fixed, const TlsListenConfig* tls,
             std::unique_ptr<TlsSession> established = nullptr);
  // A request stream of the HTTP/2 connection `parent` (h2_connection.h), over `stream`, which
  // outlives it (the shard keeps both in one recycled slot).
  Connection(HttpShard& http, Transport& stream, Connection& parent);
  ~Connection();

  void start();
  // SIGTERM: close now if idle, else after the response in progress. After a reload, an idle
  // plain connection is handed to the successor instead (HttpShard::hand_over).
  void begin_drain();
  // Drain timeout: close whatever the state.
  void abort() { close_now(); }
  // Buffers are available again after ENOBUFS.
  void resume_receive();
  bool closed() const { return state_ == State::kClosing; }
  bool local() const { return fixed_ != nullptr; }

  // TransportHandler
  void on_input(uint16_t bid, uint32_t len) override;
  void on_input_end(int error) override;
  void on_input_starved() override;
  void after_input() override;
  void on_sent(int res) override;
  void on_quiet() override;

  // ExchangeOwner
  void resumed(Exchange& x, FilterStatus status) override;
  std::string_view peer_ip() override;
  std::string_view client_certificate() override {
    return parent_ ? parent_->client_certificate()
           : tls_  ? tls_->session().peer_subject()
                   : std::string_view();
  }

  // Downstream
  char* out_space(size_t& avail) override;
  void out_commit(size_t n) override;
  bool out_lend(std::string_view data, uint16_t bid) override;
  bool out_pending() const override;
  void out_discard() override;
  void out_flush() override;
  bool closing() const override { return close_after_send_ || peer_eof_; }
  void count_status(int status) override;
  const ResponseHead& response_head(int status) override;
  std::string_view date_line() const override;
  void response_done(bool keep_alive) override;
  void response_failed(const Error& error, bool keep_alive) override;
  void response_cut() override;
  void respond(int status, std::string_view headers, std::string_view content_type,
               std::string* body, bool keep_alive) override;
  void respond_stored(const Reply& reply, bool keep_alive) override;
  // The answer is in the output: the exchange ends, and the next request may be read.
  void answered(bool keep_alive);
  void request_room() override { process_input(); }
  void tunnel() override;

  Connection* prev = nullptr;
  Connection* next = nullptr;
  bool starved = false;

 private:
  // The deadline in force (one timer per connection).
  enum class Deadline : uint8_t {
    kNone,
    kIdle,
    kHeader,
    kRequest,
    kLinger,
    kResponder,
    kDrainGrace,  // draining: an idle connection's last chance to deliver a request
  };

  // Admin traffic is kept out of the client metrics (and out of limits.connections).
  ShardCounters& counters() const;
  // The shard's request logs; null for admin traffic (and when none is set).
  RequestLog* request_log() const;
  void process_input();
  bool output_room() const;
  // Hands held input to the tunnel; false when the responder has no room now.
  bool tunnel_input();

  // --- exchanges ---
  void on_head();
  void on_message_complete();
  // Where the pipeline left the exchange: waiting, answered (at message complete), or handed to
  // the route's action.
  void proceed(FilterStatus status);
  // Sends the answer decided without a responder: an error, a filter's reply, a direct route.
  void answer(bool keep_alive);
  // The exchange is over: its log phase runs and its arena goes back.
  void end_exchange();
  // The client is gone or its request cannot go on: the responder (if any) is told, the
  // exchange ends.
  void let_go();
  bool waiting() const { return x_ && x_->waiting(); }
  bool in_message() const { return parser_ && parser_->in_message(); }
  bool in_head() const { return parser_ && parser_->in_head(); }
  void set_body_sink(BodySink* sink) {
    if (parser_) {
      parser_->set_body_sink(sink);
    }
  }
  // Idle between requests (no exchange, nothing held, no message begun): the parser goes back.
  void detach_parser_if_idle();
  // The receive is cancelled and nothing came: the socket goes to the successor and this
  // process's descriptor is closed (nothing is sent: the connection lives on there).
  void finish_handover();
  // Draining, idle: the last request may still come within server.drain_grace.
  void start_drain_grace();
  bool busy() const { return responder_ != nullptr; }
  void on_parse_error();
  // Answers `error` and closes once it is sent; nothing more is read as a request.
  void fail_and_close(const Error& error);

  // --- output ---
  void emit_error(const Error& error, std::string_view headers, bool keep_alive);
  void emit_canned(const CannedResponse& r, bool keep_alive, bool head_only);
  // A stored response (a cache hit): Reply::stored_head, Reply::headers, then the body.
  void emit_stored(const Reply& r, bool keep_alive, bool head_only);
  void emit_head(int status, std::string_view headers, std::string_view content_type,
                 size_t content_length, bool keep_alive);
  void emit_generated(int status, std::string_view headers, std::string_view content_type,
                      std::string_view body, bool keep_alive, bool head_only);
  // The response phase for an answer the connection writes itself: the filters' header lines.
  std::string_view filter_headers(int status);
  // Hands `body` (HttpShard::acquire_body) to the output after the head just emitted, or back to
  // the shard's pool when `drop` (HEAD) or empty.
  void stage_owned_body(std::string* body, bool drop);
  // Bytes copied into the output block (the caller has made sure of the room: output_room());
  // several pieces at once take one output lookup and extend one iovec.
  void append_copy(std::string_view bytes);
  void append_copies(std::initializer_list<std::string_view> pieces);
  // `n` bytes at `dst` in the output block into the iovecs (the last one extended when they
  // follow).
  void add_block_bytes(char* dst, size_t n);
  void append_ref(const char* data, size_t len);
  // The Connection line an answer the gateway writes itself carries: close, keep-alive for
  // HTTP/1.0, else none.
  std::string_view connection_line(bool keep_alive) const;
  // Output bytes of the exchange in progress (its log facts).
  void count_out(size_t n) {
    if (x_) {
      x_->log.bytes_out += n;
    }
  }
  void flush();

  // --- closing ---
  void start_linger();
  void finish_after_eof();
  void close_now();
  void release_input();
  void update_timer();
  void arm_deadline(Deadline d, uint64_t ms);
  static void on_timer(Timer* t);

  // The first bytes of a client connection ask for HTTP/2 (ALPN h2, or the preface).
  bool wants_h2(const char* data, uint32_t len) const;
  // From here on the connection's bytes are HTTP/2's (h2_): `data` is their beginning.
  void start_h2(const char* data, uint32_t len);

  friend class HttpShard;
  friend class H2Connection;

  HttpShard& http_;
  // From the first byte of a request until the connection is idle again (HttpShard's pool).
  RequestParser* parser_ = nullptr;
  Arena arena_;
  Exchange* x_ = nullptr;           // the exchange in progress (its head has been parsed)
  Responder* responder_ = nullptr;  // the action answering it, while one is
  OutBuffer* out_ = nullptr;
  const RoutePlan* fixed_;
  PlainTransport plain_;
  // Draining after a reload: the receive is being cancelled to hand the idle connection over.
  bool handing_over_ = false;
  std::unique_ptr<TlsTransport> tls_;  // over plain TCP of its own, when the listener has tls
  Transport* io_;                      // &plain_, tls_ or a stream connection's H2Stream
  // HTTP/2: the connection's session and streams, once it switched (the bytes go there).
  std::unique_ptr<H2Connection> h2_;
  Connection* parent_ = nullptr;  // a stream connection's HTTP/2 connection
  bool stream_ = false;           // a stream connection (h2_connection.h)
  bool secure_ = false;           // the client connection is TLS (X-Forwarded-Proto)
  InputChain in_;
  State state_ = State::kOpen;
  Deadline deadline_ = Deadline::kNone;
  uint64_t due_ms_ = 0;  // when deadline_ falls due (the timer may be armed earlier: arm_deadline)
  bool close_after_send_ = false;
  bool peer_eof_ = false;
  bool in_process_ = false;
  bool retired_ = false;
  bool tunnel_ = false;
  bool head_seen_ = false;  // a request head has arrived on this connection
  uint32_t linger_bytes_ = 0;
  uint32_t busy_stamp_ = 0;  // HttpShard::note_busy
  uint64_t accepted_us_ = 0;
  char peer_ip_[46] = {};  // looked up when first asked for
};

}  // namespace ringgate
