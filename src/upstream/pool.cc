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
      generation_(endpoint.generation) {
  parser_.init(shard.response_parser_context());
  ++endpoint_.connections;
  ++cluster_.connections;
  bump(cluster_.counters.connections_active);
  bump(endpoint_.counters->connections_active);
  shard_.opened();
}

UpstreamConn::~UpstreamConn() = default;

void UpstreamConn::connect() {
  state_ = State::kConnecting;
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
    shard_.timers().disarm(*this);
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
  const bool keep =
      reusable && state_ == State::kActive && in_.empty() && !peer_eof_ &&
      generation_ == endpoint_.generation && !parser_.in_message() && !send_inflight_ &&
      !shard_.draining() && endpoint_.idle_count < cfg.keepalive &&
      (cfg.max_requests_per_connection == 0 || requests_ < cfg.max_requests_per_connection);
  if (!keep) {
    close();
    return;
  }
  state_ = State::kIdle;
  next_idle = endpoint_.idle;
  prev_idle = nullptr;
  if (endpoint_.idle) {
    endpoint_.idle->prev_idle = this;
  }
  endpoint_.idle = this;
  ++endpoint_.idle_count;
  shard_.timers().arm(*this,
                      shard_.now_ms() + static_cast<uint64_t>(cfg.keepalive_timeout.count()));
  arm_recv();
}

void UpstreamConn::complete(unsigned op, int res, uint32_t flags) {
  switch (op) {
    case kOpConnect:
      on_connect(res);
      break;
    case kOpRecv:
      on_recv(res, flags);
      break;
    case kOpSend:
      on_send(res);
      break;
    default:
      break;
  }
}

void UpstreamConn::on_connect(int res) {
  connect_inflight_ = false;
  if (state_ == State::kClosing) {
    maybe_retire();
    return;
  }
  shard_.timers().disarm(*this);
  if (res < 0) {
    bump(cluster_.counters.connect_failures);
    bump(endpoint_.counters->connect_failures);
    ProxyCall* call = call_;
    call_ = nullptr;
    close();
    if (call) {
      call->on_upstream_failure(cluster_.error(ErrorKind::kConnect));
    }
    return;
  }
  state_ = State::kActive;
  arm_recv();
  if (call_) {
    call_->on_connected();
    flush();
  } else {
    release(true);  // the client left while we connected: keep the connection for the next one
  }
}

void UpstreamConn::arm_recv() {
  if (recv_armed_ || state_ == State::kClosing || state_ == State::kConnecting || peer_eof_) {
    return;
  }
  shard_.reactor().submit_recv_multishot(fd_, this, kOpRecv);
  recv_armed_ = true;
}

void UpstreamConn::resume_receive() {
  starved = false;
  if (state_ != State::kClosing && !peer_eof_ && in_.count() < kMaxHeldBuffers) {
    arm_recv();
  }
}

void UpstreamConn::flush() {
  if (state_ != State::kActive || send_inflight_ || !call_ || call_->request_pending() == 0) {
    return;
  }
  send_inflight_ = true;
  shard_.reactor().submit_send(fd_, call_->request_data(), call_->request_pending(), this, kOpSend);
}

void UpstreamConn::on_send(int res) {
  send_inflight_ = false;
  if (state_ == State::kClosing) {
    maybe_retire();
    return;
  }
  if (res < 0) {
    fail(ErrorKind::kReset);
    return;
  }
  if (call_) {
    call_->on_request_sent(static_cast<size_t>(res));  // may flush again
  }
}

void UpstreamConn::on_recv(int res, uint32_t flags) {
  if (!cqe_more(flags)) {
    recv_armed_ = false;
    recv_cancelling_ = false;
  }
  if (res > 0 && cqe_has_buffer(flags)) {
    const uint16_t bid = cqe_buffer_id(flags);
    shard_.reactor().note_buffer_taken();
    if (state_ != State::kActive || !call_) {
      // Bytes nobody asked for (an idle pooled connection): this connection is out of step.
      shard_.reactor().recycle(bid);
      close();
    } else {
      in_.push(shard_.chains(), bid, static_cast<uint32_t>(res));
      call_->note_received(static_cast<uint32_t>(res));
      process_input();
    }
  } else if (res == 0) {
    peer_eof_ = true;
    if (state_ == State::kActive && call_) {
      process_input();
    } else {
      close();
    }
  } else if (res == -ENOBUFS) {
    if (state_ != State::kClosing && !recv_armed_) {
      shard_.add_starved(this);
    }
  } else if (res < 0 && res != -ECANCELED) {
    if (state_ == State::kActive && call_) {
      fail(ErrorKind::kReset);
    } else {
      close();
    }
  }
  if (state_ == State::kClosing) {
    maybe_retire();
    return;
  }
  if (!recv_armed_ && !starved && !peer_eof_ && in_.count() < kMaxHeldBuffers) {
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
  if (in_.count() >= kMaxHeldBuffers && recv_armed_ && !recv_cancelling_) {
    shard_.reactor().submit_cancel(this, kOpRecv);
    recv_cancelling_ = true;
  } else if (!recv_armed_ && !starved && !peer_eof_ && in_.count() < kMaxHeldBuffers / 2) {
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
  --endpoint_.connections;
  --cluster_.connections;
  drop(cluster_.counters.connections_active);
  drop(endpoint_.counters->connections_active);
  Reactor& reactor = shard_.reactor();
  if (recv_armed_) {
    reactor.submit_cancel(this, kOpRecv);
  }
  if (send_inflight_) {
    reactor.submit_cancel(this, kOpSend);
  }
  if (connect_inflight_) {
    reactor.submit_cancel(this, kOpConnect);
  }
  maybe_retire();
}

void UpstreamConn::maybe_retire() {
  if (state_ == State::kClosing && !recv_armed_ && !send_inflight_ && !connect_inflight_ &&
      !retired_) {
    retired_ = true;
    shard_.retire(this);
  }
}

void UpstreamConn::on_timer(Timer* t) {
  auto* u = static_cast<UpstreamConn*>(t);
  if (u->state_ == State::kConnecting) {
    bump(u->cluster_.counters.connect_failures);
    bump(u->endpoint_.counters->connect_failures);
    bump(u->cluster_.counters.timeouts);
    ProxyCall* call = u->call_;
    u->call_ = nullptr;
    u->close();
    if (call) {
      call->on_upstream_failure(u->cluster_.error(ErrorKind::kConnectTimeout));
    }
  } else {
    u->close();  // idle past keepalive_timeout
  }
}

}  // namespace ringgate
