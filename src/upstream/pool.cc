#include "pool.h"

#include <algorithm>
#include <cerrno>

#include "ringgate/upstream/call.h"
#include "ringgate/upstream/upstream_shard.h"

namespace ringgate {

namespace {

// A connection whose client is backed up stops receiving beyond this many held buffers.
constexpr uint16_t kMaxHeldBuffers = 8;

}  // namespace

UpstreamConn::UpstreamConn(UpstreamShard& shard, UpstreamCluster& cluster,
                           UpstreamEndpoint& endpoint, int fd)
    : Timer(&UpstreamConn::on_timer),
      shard_(shard),
      cluster_(cluster),
      endpoint_(endpoint),
      fd_(fd),
      generation_(endpoint.generation),
      plain_(shard.reactor(), fd, *this),
      io_(&plain_) {
  parser_.init(shard.response_parser_context());
  ++endpoint_.connections;
  ++cluster_.connections;
  bump(cluster_.counters.connections_active);
  bump(endpoint_.counters->connections_active);
  shard_.opened();
}

UpstreamConn::UpstreamConn(UpstreamShard& shard, UpstreamCluster& cluster,
                           UpstreamEndpoint& endpoint, Transport& stream)
    : Timer(&UpstreamConn::on_timer),
      shard_(shard),
      cluster_(cluster),
      endpoint_(endpoint),
      fd_(-1),
      generation_(endpoint.generation),
      plain_(shard.reactor(), -1, *this),
      io_(&stream),
      stream_(true) {
  parser_.init(shard.response_parser_context());
}

UpstreamConn::~UpstreamConn() = default;

void UpstreamConn::connect() {
  state_ = State::kConnecting;
  if (stream_) {
    // The stream's connection connects (or is up): on_ready() when it can carry the request.
    shard_.timers().arm(
        *this, shard_.now_ms() + static_cast<uint64_t>(cluster_.config->connect_timeout.count()));
    io_->start_input();
    return;
  }
  connect_inflight_ = true;
  shard_.reactor().submit_connect(fd_, endpoint_.address.get(), endpoint_.address.length, this,
                                  kOpConnect);
  shard_.timers().arm(
      *this, shard_.now_ms() + static_cast<uint64_t>(cluster_.config->connect_timeout.count()));
}

void UpstreamConn::attach(ProxyCall* call) {
  call_ = call;
  parser_.set_body_sink(nullptr);
  parser_.set_head_request(call->head_request());
  if (state_ == State::kIdle) {
    leave_pool();
    // Its keep-alive deadline stays armed: on_timer leaves an active connection be (the call
    // keeps its own deadlines), and release() pushes the deadline back without a wheel update.
    state_ = State::kActive;
  }
}

void UpstreamConn::leave_pool() {
  if (prev_idle) {
    prev_idle->next_idle = next_idle;
  } else {
    endpoint_.idle = next_idle;
  }
  if (next_idle) {
    next_idle->prev_idle = prev_idle;
  }
  prev_idle = next_idle = nullptr;
  --endpoint_.idle_count;
}

void UpstreamConn::release(bool reusable) {
  call_ = nullptr;
  ++requests_;
  const UpstreamConfig& cfg = *cluster_.config;
  // parser_.reusable(): the response ended keep-alive (no Connection: close, not an HTTP/1.0
  // answer without keep-alive, no close in chunked trailers); RFC 9112 9.6 forbids another
  // request on a connection whose response said close, even while the upstream leaves it open.
  const bool keep =
      reusable && !stream_ && state_ == State::kActive && in_.empty() && !peer_eof_ &&
      generation_ == endpoint_.generation && !parser_.in_message() && parser_.reusable() &&
      !io_->sending() && !shard_.draining() && endpoint_.idle_count < cfg.keepalive &&
      (cfg.max_requests_per_connection == 0 || requests_ < cfg.max_requests_per_connection);
  if (!keep) {
    close();
    return;
  }
  state_ = State::kIdle;
  // The last response's head copy goes back now, not when the next response begins: a burst
  // leaves many connections idle in the pools, and each would hold a scratch block (header_bytes
  // and its table, 28 KiB by default) until keepalive_timeout. The call is done with it: the
  // connection may carry another call's request at once.
  parser_.release();
  next_idle = endpoint_.idle;
  prev_idle = nullptr;
  if (endpoint_.idle) {
    endpoint_.idle->prev_idle = this;
  }
  endpoint_.idle = this;
  ++endpoint_.idle_count;
  idle_due_ms_ = shard_.now_ms() + static_cast<uint64_t>(cfg.keepalive_timeout.count());
  if (!armed() || deadline_ms() > idle_due_ms_) {
    shard_.timers().arm(*this, idle_due_ms_);
  }
  arm_recv();
}

void UpstreamConn::complete(unsigned op, int res, uint32_t /*flags*/) {
  if (op == kOpConnect) {
    on_connect(res);
  }
}

void UpstreamConn::on_connect(int res) {
  connect_inflight_ = false;
  if (state_ == State::kClosing) {
    maybe_retire();
    return;
  }
  if (res < 0) {
    connect_failed(ErrorKind::kConnect);
    return;
  }
  if (const TlsUpstreamConfig* tls = cluster_.config->tls.get()) {
    // The handshake first, still under the connect timeout; on_ready() goes on.
    tls_ = std::make_unique<TlsTransport>(shard_.reactor(), shard_.tls(), *tls->client,
                                          endpoint_host(endpoint_), &endpoint_.tls_session, fd_,
                                          *this);
    io_ = tls_.get();
    io_->start_input();
    return;
  }
  connected();
}

void UpstreamConn::connected() {
  shard_.timers().disarm(*this);
  state_ = State::kActive;
  arm_recv();
  if (call_) {
    call_->on_connected();
    flush();
  } else {
    release(true);  // the client left while we connected: keep the connection for the next one
  }
}

void UpstreamConn::connect_failed(ErrorKind kind) {
  bump(cluster_.counters.connect_failures);
  bump(endpoint_.counters->connect_failures);
  if (kind == ErrorKind::kConnectTimeout) {
    bump(cluster_.counters.timeouts);
  }
  ProxyCall* call = call_;
  call_ = nullptr;
  close();
  if (call) {
    call->on_upstream_failure(cluster_.error(kind));
  }
}

void UpstreamConn::arm_recv() {
  if (state_ == State::kClosing || (state_ == State::kConnecting && !tls_ && !stream_) ||
      peer_eof_) {
    return;
  }
  io_->start_input();
}

void UpstreamConn::resume_receive() {
  starved = false;
  if (state_ != State::kClosing && !peer_eof_ && in_.count() < kMaxHeldBuffers) {
    arm_recv();
  }
}

void UpstreamConn::flush() {
  if (state_ != State::kActive || io_->sending() || !call_ || call_->request_pending() == 0) {
    return;
  }
  send_iov_ = {const_cast<char*>(call_->request_data()), call_->request_pending()};
  io_->send(&send_iov_, 1, &send_msg_);
}

void UpstreamConn::on_sent(int res) {
  if (res < 0) {
    fail(ErrorKind::kReset);
    return;
  }
  if (call_) {
    call_->on_request_sent(static_cast<size_t>(res));  // may flush again
  }
}

void UpstreamConn::on_input(uint16_t bid, uint32_t len) {
  if (state_ != State::kActive || !call_) {
    // Bytes nobody asked for (an idle pooled connection): this connection is out of step.
    shard_.reactor().recycle(bid);
    close();
    return;
  }
  in_.push(shard_.chains(), bid, len);
  call_->note_received(len);
  process_input();
}

void UpstreamConn::on_input_end(int error) {
  if (state_ == State::kConnecting || (stream_ && error == -ECONNREFUSED)) {
    // The TLS handshake failed or the peer left during it; or the HTTP/2 endpoint refused this
    // request unprocessed: retried like a connect failure (any method).
    connect_failed(ErrorKind::kConnect);
    return;
  }
  if (error == 0) {
    peer_eof_ = true;
    if (state_ == State::kActive && call_) {
      process_input();
    } else {
      close();
    }
  } else if (state_ == State::kActive && call_) {
    fail(ErrorKind::kReset);
  } else {
    close();
  }
}

void UpstreamConn::on_input_starved() {
  if (state_ != State::kClosing && !io_->receiving()) {
    shard_.add_starved(this);
  }
}

void UpstreamConn::hand_over() {
  leave_pool();
  shard_.timers().disarm(*this);
  state_ = State::kActive;  // out of the pool: nothing picks it; no call is attached
  handing_over_ = true;
  io_->pause_input();
  if (io_->quiet()) {
    after_input();
  }
}

void UpstreamConn::adopt_idle(std::unique_ptr<TlsSession> tls) {
  if (tls) {
    tls_ = std::make_unique<TlsTransport>(shard_.reactor(), shard_.tls(), nullptr, std::move(*tls),
                                          fd_, *this);
    io_ = tls_.get();
  }
  state_ = State::kActive;
  release(true);  // into the pool, with its keep-alive timer and a receive armed
}

void UpstreamConn::after_input() {
  if (handing_over_) {
    if (state_ == State::kActive && io_->quiet()) {
      handing_over_ = false;
      std::unique_ptr<TlsSession> session;
      if (tls_) {
        session = tls_->release_session();  // null while anything is held or in flight
      }
      if (!tls_ || session) {
        shard_.hand_over(*this, std::move(session));
      }
      close();  // this gateway's descriptor only, whether the successor took it or not
    }
    return;
  }
  if (state_ != State::kClosing && !starved && !peer_eof_ && in_.count() < kMaxHeldBuffers) {
    arm_recv();
  }
}

void UpstreamConn::process_input() {
  if (in_process_) {
    return;
  }
  in_process_ = true;
  while (state_ == State::kActive && call_ && !in_.empty()) {
    const size_t room = call_->response_room();
    if (room == 0) {
      break;  // the client is backed up: resumed when its output drains
    }
    size_t len = 0;
    const char* data = in_.front(shard_.chains(), len);
    call_->set_response_buffer(in_.front_bid());  // what the client's output may point into
    if (call_->tunnelling()) {
      const size_t n = std::min(len, room);
      call_->on_tunnel_response(std::string_view(data, n));
      in_.consume(n);
      if (in_.front_used(shard_.chains())) {
        in_.pop(shard_.chains());
      }
      continue;
    }
    size_t consumed = 0;
    const MessageParser::Event ev = parser_.feed(data, std::min(len, room), consumed);
    in_.consume(consumed);
    if (ev != MessageParser::Event::kHead && in_.front_used(shard_.chains())) {
      in_.pop(shard_.chains());
    }
    if (ev == MessageParser::Event::kHead) {
      if (!call_->on_response_head()) {
        break;
      }
    } else if (ev == MessageParser::Event::kMessageComplete) {
      call_->on_response_complete();  // may release this connection to the pool or close it
    } else if (ev == MessageParser::Event::kError) {
      bump(cluster_.counters.bad_responses);
      fail(ErrorKind::kBadResponse);
      break;
    }
  }
  in_process_ = false;
  if (call_) {
    call_->flush_response();  // one client send for everything parsed now
  }
  if (state_ == State::kActive && call_ && peer_eof_ && in_.empty() && call_->tunnelling()) {
    ProxyCall* call = call_;
    call->on_upstream_eof();  // releases (closes) this connection
    return;
  }
  if (state_ == State::kActive && call_ && peer_eof_ && in_.empty() && !parser_.in_message()) {
    fail(ErrorKind::kReset);  // closed without a byte of the response: as good as a reset
    return;
  }
  if (state_ == State::kActive && call_ && peer_eof_ && in_.empty()) {
    // The upstream closed: that may end a body read until close, or cut a response short.
    const MessageParser::Event ev = parser_.finish();
    if (ev == MessageParser::Event::kMessageComplete) {
      call_->on_response_complete();
    } else {
      if (ev == MessageParser::Event::kError) {
        bump(cluster_.counters.bad_responses);
      }
      fail(ErrorKind::kBadResponse);
    }
    return;
  }
  if (state_ == State::kClosing) {
    return;
  }
  if (in_.count() >= kMaxHeldBuffers && io_->receiving()) {
    io_->pause_input();
  } else if (!io_->receiving() && !starved && !peer_eof_ && in_.count() < kMaxHeldBuffers / 2) {
    arm_recv();
  }
}

void UpstreamConn::fail(ErrorKind kind) {
  ProxyCall* call = call_;
  call_ = nullptr;
  close();
  if (call) {
    call->on_upstream_failure(cluster_.error(kind));
  }
}

void UpstreamConn::release_input() {
  in_.release(shard_.chains());
}

void UpstreamConn::close() {
  if (state_ == State::kClosing) {
    return;
  }
  if (state_ == State::kIdle) {
    leave_pool();
  }
  state_ = State::kClosing;
  call_ = nullptr;
  shard_.timers().disarm(*this);
  release_input();
  parser_.release();
  if (!stream_) {
    --endpoint_.connections;
    --cluster_.connections;
    drop(cluster_.counters.connections_active);
    drop(endpoint_.counters->connections_active);
  }
  if (connect_inflight_) {
    shard_.reactor().submit_cancel(this, kOpConnect);
  }
  io_->close();  // on_quiet() once its receive and send are over (at once when idle)
}

void UpstreamConn::maybe_retire() {
  if (state_ == State::kClosing && io_->quiet() && !connect_inflight_ && !retired_) {
    retired_ = true;
    shard_.retire(this);
  }
}

void UpstreamConn::on_timer(Timer* t) {
  auto* u = static_cast<UpstreamConn*>(t);
  if (u->state_ == State::kConnecting) {
    u->connect_failed(ErrorKind::kConnectTimeout);
  } else if (u->state_ == State::kActive) {
    // A keep-alive deadline left armed when a call took the connection (attach): release()
    // arms it again.
  } else if (u->idle_due_ms_ > u->shard_.now_ms()) {
    u->shard_.timers().arm(*u, u->idle_due_ms_);  // used again since it was armed
  } else {
    u->close();  // idle past keepalive_timeout
  }
}

}  // namespace ringgate
