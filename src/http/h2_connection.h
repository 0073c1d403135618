#pragma once
// HTTP/2 on a client connection (RFC 9113): ALPN h2 on a TLS listener, or the cleartext
// connection preface (prior knowledge) on a plain one. The connection's bytes go through an
// H2Session; every request stream becomes a Connection of its own whose transport is an
// H2Stream. That stream connection reads its request as HTTP/1.1 (the head written from the
// stream's header fields, the body from its DATA frames) and writes its response as HTTP/1.1,
// which the stream parses back into HEADERS, DATA and the end of the stream. So routing,
// filters, proxying, aggregation, limits, deadlines, metrics and logs are the HTTP/1.1 ones: one
// pipeline, two codecs.
//
// Backpressure both ways: a request's DATA goes back to the client's flow-control windows only
// once its stream connection has taken it (a slow upstream holds the client back), and a stream
// connection's send completes only once the body it wrote is out of the socket's send (a slow
// client holds the upstream back). What a connection holds is bounded: the socket's output
// (kOutputLimit), each stream's one send of body (borrowed where its connection wrote it, copied
// only when a stream cut short pins it) and each stream's request bytes not yet taken (its
// window).
//
//   preface ──streams──► open ──GOAWAY (drain, idle, error, flood) and the streams done──►
//   lingering (the outer Connection's) ──► closed

#include <sys/socket.h>
#include <sys/uio.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ringgate/core/reactor.h"
#include "ringgate/core/timer_wheel.h"
#include "ringgate/core/transport.h"
#include "ringgate/http/h2_session.h"
#include "ringgate/http/request_parser.h"
#include "ringgate/http/stream_transport.h"

namespace ringgate {

class Connection;
class HttpShard;
class H2Connection;

// One request stream, as its stream connection sees it. The object outlives its stream: the
// shard keeps it (with the memory of the stream connection on it) for the next one.
class H2Stream final : public StreamTransport, private BodySink {
 public:
  explicit H2Stream(ParserContext* response_context);
  ~H2Stream() override;

  // A new stream on `conn`. `grpc`: the request is a gRPC call (content-type
  // application/grpc...): an answer that is not gRPC's own (the gateway's error, an upstream's
  // HTTP error) becomes a Trailers-Only response with the matching grpc-status.
  void open(H2Connection& conn, int32_t id, bool head_request, bool chunked_request, bool grpc);
  // Its stream connection is gone: ready for the next open().
  void recycle();

  // The stream connection this stream is the transport of.
  void bind(Connection& owner);
  Connection* owner() const;
  int32_t id() const { return id_; }
  bool attached() const override { return conn_ != nullptr; }
  bool chunked_request() const { return chunked_request_; }
  bool response_complete() const { return response_complete_; }
  // Request bytes this stream holds for its connection, not yet delivered.
  size_t input_held() const { return in_.held(); }

  // Transport (the stream connection's side)
  void start_input() override;
  bool receiving() const override { return conn_ && !paused_ && !starved_; }
  void shutdown_write() override;
  int fd() const override;

  // --- from the connection ---
  // Request bytes for the stream connection; `data`: DATA payload, given back to the client's
  // window once taken (else bytes the stream wrote: the head, chunk framing).
  void queue_input(std::string_view bytes, bool data);
  // The client reset the stream (or it closed before the response was complete), or the
  // connection is going: the stream connection's input ends with an error and it closes (the
  // stream is not reset: the client has let go of it already, or the connection goes).
  void cut();
  // Delivers what is due (input, its end, a send's completion); true when it did something.
  bool pump();
  // Something may be due (pump() has nothing to do otherwise: a stream waiting for its answer).
  bool due() const {
    return cut_ || eof_due_ || send_pending_ || in_.owes() || (in_.pending() && !paused_);
  }

 private:
  void on_body(std::string_view data) override;  // the response's body, from the parser
  // Parses the stream connection's HTTP/1.1 output into the stream's frames.
  void translate(const char* data, size_t len) override;
  // The common case without the general parser: a whole head at `data` (the connection writes
  // its heads in one piece) with a Content-Length body or none. `used`: the head's bytes. False
  // when the response is not that case (a chunked body, a head in pieces): the parser reads it.
  bool translate_head(const char* data, size_t len, size_t& used);
  void schedule() override;
  // The head parsed by the general parser, as fields.
  void submit_response_head();
  // The final response head in conn_->fields_scratch() (names lower case, nothing
  // connection-specific); `body`: a body follows.
  void submit_head(int status, bool body);
  // The response is complete: the body's end (and trailers) or the Trailers-Only answer.
  void complete_response();
  void detach() override;

  H2Connection* conn_ = nullptr;
  int32_t id_ = 0;
  bool head_request_ = false;
  bool chunked_request_ = false;
  bool grpc_ = false;
  bool grpc_error_ = false;   // the answer is not gRPC's: sent as Trailers-Only at its end
  int grpc_status_ = 0;       // of that answer (HTTP status mapped)
  std::string grpc_message_;  // from its problem document (bounded)
  ResponseParser response_;
  // How the response's bytes are read: its head (translate_head), the body's length counted
  // down, or everything through response_.
  enum class Reading : uint8_t { kHead, kLength, kParser };
  Reading reading_ = Reading::kHead;
  uint64_t body_left_ = 0;    // kLength: body bytes still to come
  bool cut_ = false;          // deliver input end (-ECONNRESET)
  bool eof_due_ = false;      // deliver input end (0): the stream connection half-closed
  bool peer_closed_ = false;  // the stream is closed on the client's side: nothing to reset
  bool head_sent_ = false;    // the final response head was submitted
  bool body_follows_ = false;
  bool response_complete_ = false;
  bool response_failed_ = false;
};

class H2Connection final : public H2Handler, public Timer {
 public:
  H2Connection(HttpShard& http, Connection& outer, Transport& io);
  ~H2Connection();
  H2Connection(const H2Connection&) = delete;
  H2Connection& operator=(const H2Connection&) = delete;

  // The server's preface; false when the session could not be made.
  bool start();
  // --- the outer connection's transport events, while it is open ---
  void on_input(const char* data, size_t len);
  void on_input_end(int error);
  void on_sent(int res);
  // SIGTERM or a reload: GOAWAY; the streams open finish, then the connection closes.
  void begin_drain();
  // The outer connection is closing: every stream connection is cut now.
  void close_streams();

  // Runs whatever is due once the current callback is over (the shard's end of iteration).
  void schedule();
  // Moves everything that is due: stream input and sends, frames to the socket, the end.
  void pump();
  bool scheduled = false;

  // --- for streams ---
  H2Session& session() { return session_; }
  HttpShard& http() { return http_; }
  Reactor& reactor();
  int fd() const { return io_.fd(); }
  bool closing() const { return closing_; }
  void forget(H2Stream& s) { std::erase(streams_, &s); }
  // The send in flight carries bytes borrowed from streams' connections.
  bool wire_borrows() const { return wire_.borrows(); }
  // `s` is closed and its connection waits for that send to be over (end_linger()).
  void linger(H2Stream& s) { lingering_.push_back(&s); }
  // Scratch the streams fill and hand to the session at once (kept: no allocation per stream).
  std::string& lower_scratch() { return lower_; }
  H2Fields& fields_scratch() { return fields_; }

  // H2Handler
  void on_request(const H2Request& request) override;
  void on_body(int32_t stream_id, std::string_view data, bool last) override;
  void on_stream_closed(int32_t stream_id, uint32_t error_code) override;

 private:
  // Frames to the socket: produced up to kOutputLimit, one send at a time.
  void flush();
  void send_wire();
  void release_lingering();
  // The session's counts into the shard's counters.
  void sync_counts();
  // What the connection buffers (frames, response bodies, request bytes of its streams) into the
  // shard's memory_held(), for the overload manager; 0 once it closes.
  void account();
  // GOAWAY sent and nothing left: the outer connection lingers and closes.
  void finish();
  void update_timer();
  static void on_timer(Timer* t);

  HttpShard& http_;
  Connection& outer_;
  Transport& io_;
  H2Session session_;
  // The streams with a connection, in arrival order: at most max_concurrent_streams, looked up
  // by a scan (no node per stream).
  std::vector<H2Stream*> streams_;
  H2Stream* find(int32_t id) const;
  std::string head_;  // on_request(): the HTTP/1.1 head being written
  std::string lower_;
  H2Fields fields_;
  std::vector<H2Stream*> round_;  // pump(): the streams of one round
  H2Output wire_;                 // the frames in the send in flight
  size_t wire_sent_ = 0;
  static constexpr int kMaxIovecs = 256;  // a partial send goes on with the rest
  iovec iov_[kMaxIovecs];
  msghdr msg_{};
  std::vector<H2Stream*> lingering_;
  std::vector<H2Stream*> lingering_round_;
  H2Counts seen_;           // the session's counts already in the shard's counters
  uint64_t accounted_ = 0;  // bytes of this connection in the shard's memory_held()
  enum class Deadline : uint8_t { kNone, kHeader, kIdle, kGoaway };
  Deadline deadline_ = Deadline::kNone;
  bool draining_ = false;  // GOAWAY submitted: no new streams
  bool closing_ = false;   // finished or the outer connection is closing
};

}  // namespace ringgate
