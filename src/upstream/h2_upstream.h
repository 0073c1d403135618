#pragma once
// HTTP/2 to a cluster's endpoints (`protocol: h2`): one H2Upstream is a connection to an
// endpoint (prior knowledge, or TLS with ALPN h2) carrying many requests at once; each request
// is an UpstreamConn of its own whose transport is an H2ClientStream. That stream connection
// writes its request as HTTP/1.1 (the call's rewritten head and body, as to any upstream), which
// the stream parses into HEADERS and DATA, and reads the response as HTTP/1.1, written from the
// stream's HEADERS, DATA and trailers (a body without a length chunked, the trailers at its end).
// So retries, timeouts, outlier detection, the circuit and the response's relay are those of
// HTTP/1.1 upstreams: one proxy, two codecs (as h2_connection.h is for clients).
//
// Backpressure as downstream: response DATA goes back to the upstream's window once its stream
// connection took it; a stream's send completes once its body has been framed.

#include <sys/socket.h>
#include <sys/uio.h>

#include <cerrno>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ringgate/core/reactor.h"
#include "ringgate/core/timer_wheel.h"
#include "ringgate/core/transport.h"
#include "ringgate/http/nghttp2_util.h"
#include "ringgate/http/request_parser.h"
#include "ringgate/http/stream_transport.h"
#include "ringgate/tls/transport.h"
#include "ringgate/upstream/cluster.h"

namespace ringgate {

class H2Upstream;
class UpstreamConn;
class UpstreamShard;

// One request on an H2Upstream, as its stream connection sees it. The object outlives its
// request: the shard keeps it (with the memory of the stream connection on it) for the next.
class H2ClientStream final : public StreamTransport, private BodySink {
 public:
  explicit H2ClientStream(ParserContext* request_context);
  ~H2ClientStream() override;

  // A new request on `conn`.
  void open(H2Upstream& conn);
  // Its stream connection is gone: ready for the next open().
  void recycle();

  void bind(UpstreamConn& owner);
  bool attached() const override { return conn_ != nullptr; }
  int32_t id() const { return id_; }

  // Transport (the stream connection's side). The first start_input() asks for the connection:
  // on_ready() follows once it is up (on_input_end(error) if it cannot be).
  void start_input() override;
  bool receiving() const override { return conn_ && ready_ && !paused_ && !starved_; }
  void shutdown_write() override {}
  int fd() const override { return -1; }

  // --- from the connection ---
  void connection_ready();
  // The stream ended under its request (reset, or closed early): once the response bytes
  // held are delivered, its connection hears input end `error`.
  void cut(int error);
  // The connection is going: its connection hears input end `error` now, and the stream is
  // detached.
  void cut_now(int error);
  // The response, as the session reports it.
  void on_field(std::string_view name, std::string_view value, bool trailer);
  void on_fields_end(bool end_stream);
  void on_data(std::string_view data);
  void on_end();
  void on_closed(uint32_t error_code);
  // The request body for the session's data provider: bytes copied into `buf` (at most `len`),
  // `eof` once all of it is out; -1: none yet (deferred).
  long read_body(uint8_t* buf, size_t len, bool& eof);
  bool body_deferred = false;
  // Delivers what is due (ready, input, its end, a send's completion); true when it did.
  bool pump();

 private:
  void on_body(std::string_view data) override;  // the request body, from the parser
  void translate(const char* data, size_t len) override;
  void schedule() override;
  void submit_request();
  void detach() override;
  void queue(std::string_view bytes) { in_.queue(bytes); }
  static constexpr size_t kKeptBodyCapacity = 16 * 1024;  // a recycled stream's body_

  H2Upstream* conn_ = nullptr;
  RequestParser request_;
  int32_t id_ = 0;    // once the request is submitted
  std::string body_;  // request body not yet framed
  size_t body_off_ = 0;
  bool body_end_ = false;
  int status_ = 0;        // of the response head being written
  std::string trailers_;  // "name: value\r\n" lines
  int cut_error_ = 0;
  bool wants_ready_ = false;
  bool ready_due_ = false;
  bool ready_ = false;
  bool head_done_ = false;  // the final response head is written
  bool has_length_ = false;
  bool chunked_ = false;
  bool response_complete_ = false;
  bool closed_ = false;  // the session closed the stream
  bool request_failed_ = false;
};

class H2Upstream final : public Completion, public TransportHandler, public Timer {
 public:
  enum Op : unsigned { kOpConnect = 1 };
  enum class State : uint8_t { kConnecting, kReady, kClosing };

  H2Upstream(UpstreamShard& shard, UpstreamCluster& cluster, UpstreamEndpoint& endpoint, int fd);
  ~H2Upstream();

  void connect();
  // Room for another request now (open, not draining, under the peer's stream limit).
  bool has_capacity() const;
  // A stream connection for the next request.
  void add(H2ClientStream& s);
  void forget(H2ClientStream& s);
  void schedule();
  void pump();
  bool scheduled = false;
  // Out of receive buffers: input resumes (resume_receive) once the shard has some again.
  void resume_receive();
  bool starved = false;
  // Draining: no new streams; closed once the open ones are done.
  void drain();
  void close();

  // --- for streams ---
  nghttp2_session* session() { return session_; }
  UpstreamShard& shard() { return shard_; }
  UpstreamCluster& cluster() { return cluster_; }
  UpstreamEndpoint& endpoint() { return endpoint_; }
  bool tls() const { return cluster_.config->tls != nullptr; }
  bool ready() const { return state_ == State::kReady; }
  bool closing() const { return state_ == State::kClosing; }
  int fd() const { return fd_; }

  // Completion
  void complete(unsigned op, int res, uint32_t flags) override;
  // TransportHandler (the socket)
  void on_input(uint16_t bid, uint32_t len) override;
  void on_input_end(int error) override;
  void on_input_starved() override;
  void after_input() override;
  void on_sent(int res) override;
  void on_quiet() override;
  void on_ready() override { ready(true); }

 private:
  void ready(bool tls_done);
  void fail(int error);
  void flush();
  void send_wire();
  void update_timer();
  static void on_timer(Timer* t);

  UpstreamShard& shard_;
  UpstreamCluster& cluster_;
  UpstreamEndpoint& endpoint_;
  int fd_;
  PlainTransport plain_;
  std::unique_ptr<TlsTransport> tls_;
  Transport* io_;
  Nghttp2Pool pool_;  // the session's memory (freed into it when the session is deleted)
  nghttp2_session* session_ = nullptr;
  std::vector<H2ClientStream*> streams_;  // attached streams (submitted or waiting)
  std::vector<H2ClientStream*> round_;
  std::string out_;   // frames produced, not yet in a send
  std::string wire_;  // the frames in the send in flight
  size_t wire_sent_ = 0;
  iovec iov_{};
  msghdr msg_{};
  State state_ = State::kConnecting;
  bool connect_inflight_ = false;
  bool draining_ = false;
  bool retired_ = false;
  int close_error_ = -ECONNRESET;  // what the streams hear when the connection goes
};

}  // namespace ringgate
