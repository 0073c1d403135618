#include "ringgate/tls/transport.h"

#include <cerrno>
#include <cstring>

#include "ringgate/core/counters.h"
#include "ringgate/tls/server.h"

namespace ringgate {

namespace {

// Small pieces of a response (a head, a short body) are encrypted together: one record and one
// AEAD pass instead of one per piece. Larger pieces are encrypted in place.
constexpr size_t kCoalesceMax = 16 * 1024;
constexpr size_t kCoalescePiece = 4 * 1024;
// How long a failed handshake's alert may take to go out before the connection just closes.
constexpr uint64_t kAlertFlushMs = 1000;
// A send buffer that grew past this for one large response is not kept for the next.
constexpr size_t kKeptOutputCapacity = 64 * 1024;

}  // namespace

TlsTransport::TlsTransport(Reactor& reactor, TlsShard& shard, const TlsListenConfig& config, int fd,
                           TransportHandler& handler)
    : Timer(&TlsTransport::on_timer),
      reactor_(reactor),
      shard_(shard),
      config_(&config),
      handler_(handler),
      raw_(reactor, fd, *this) {
  uint64_t deadline = *shard_.now_ms + static_cast<uint64_t>(config.handshake_timeout.count());
  if (shard_.counters.in_flight.load(std::memory_order_relaxed) >= config.max_handshakes) {
    refused_ = TlsFailure::kOverload;
    deadline = *shard_.now_ms;  // refused from the timer, outside the accept path
  } else if (!session_.start(*config.server)) {
    refused_ = TlsFailure::kOverload;  // out of memory: refused as overload
    deadline = *shard_.now_ms;
  } else {
    bump(shard_.counters.in_flight);
    counted_ = true;
  }
  shard_.timers->arm(*this, deadline);
}

TlsTransport::TlsTransport(Reactor& reactor, TlsShard& shard, const TlsClient& client,
                           std::string_view host, TlsResumption* resumption, int fd,
                           TransportHandler& handler)
    : Timer(&TlsTransport::on_timer),
      reactor_(reactor),
      shard_(shard),
      config_(nullptr),
      handler_(handler),
      raw_(reactor, fd, *this),
      client_(true) {
  if (!session_.start_client(client, host, resumption)) {
    refused_ = TlsFailure::kOverload;  // out of memory (or a name OpenSSL refused)
    shard_.timers->arm(*this, *shard_.now_ms);
  }
}

TlsTransport::TlsTransport(Reactor& reactor, TlsShard& shard, const TlsListenConfig* config,
                           TlsSession&& established, int fd, TransportHandler& handler)
    : Timer(&TlsTransport::on_timer),
      reactor_(reactor),
      shard_(shard),
      config_(config),
      handler_(handler),
      raw_(reactor, fd, *this),
      session_(std::move(established)),
      state_(State::kOpen),
      client_(config == nullptr),
      hello_sent_(config == nullptr) {}

std::unique_ptr<TlsSession> TlsTransport::release_session() {
  if (state_ != State::kOpen || closed_ || input_ended_ || eof_held_ || shutdown_pending_ ||
      plain_sending_ || starved_ || spare_ != kNoBuffer || !raw_.quiet() ||
      session_.input_pending() || !session_.output().empty()) {
    return nullptr;
  }
  return std::make_unique<TlsSession>(std::move(session_));
}

TlsTransport::~TlsTransport() {
  uncount();
  if (spare_ != kNoBuffer) {
    reactor_.recycle(static_cast<uint16_t>(spare_));
  }
}

void TlsTransport::uncount() {
  if (counted_) {
    counted_ = false;
    drop(shard_.counters.in_flight);
  }
}

void TlsTransport::start_input() {
  if (input_over()) {
    return;
  }
  paused_ = false;
  if (starved_ && session_.input_pending()) {
    // Resumed after running out of buffers: only once one can be had, else the resume would
    // spin (the buffers left may all be lent to the kernel).
    uint16_t taken;
    if (spare_ == kNoBuffer && !reactor_.take_buffer(taken)) {
      handler_.on_input_starved();
      return;
    }
    if (spare_ == kNoBuffer) {
      spare_ = taken;
    }
  }
  starved_ = false;
  if (client_ && !hello_sent_) {
    hello_sent_ = true;
    if (session_.handshake() == TlsSession::kFailed) {
      fail(session_.failure());
      return;
    }
    flush_output();
  }
  if (state_ == State::kOpen && (session_.input_pending() || eof_held_)) {
    // Plaintext is waiting in the session: handed over from the timer, not from inside the
    // caller (which may be in the middle of handling input).
    if (!armed()) {
      shard_.timers->arm(*this, *shard_.now_ms);
    }
    return;
  }
  raw_.start_input();
}

void TlsTransport::pause_input() {
  paused_ = true;
  raw_.pause_input();
}

void TlsTransport::on_input(uint16_t bid, uint32_t len) {
  if (input_over()) {
    reactor_.recycle(bid);
    return;
  }
  session_.feed(reactor_.buffer(bid), len);
  decrypt(bid);
}

void TlsTransport::decrypt(int bid) {
  while (!closed_ && !paused_ && (state_ == State::kHandshake || state_ == State::kOpen)) {
    if (bid == kNoBuffer && spare_ != kNoBuffer) {
      bid = spare_;
      spare_ = kNoBuffer;
    }
    if (bid == kNoBuffer) {
      if (!session_.input_pending()) {
        break;
      }
      uint16_t taken;
      if (!reactor_.take_buffer(taken)) {
        // Plaintext stays in the session until the handler starts input again.
        starved_ = true;
        handler_.on_input_starved();
        break;
      }
      bid = taken;
    }
    char* out = reactor_.buffer(static_cast<uint16_t>(bid));
    const size_t cap = reactor_.buffer_size();
    size_t fill = 0;
    int r = TlsSession::kWantInput;
    while (fill < cap && (r = session_.read(out + fill, cap - fill)) > 0) {
      fill += static_cast<size_t>(r);
      if (session_.handshake_done() && !session_.input_pending()) {
        r = TlsSession::kWantInput;  // all read: no call needed to hear "want input"
        break;
      }
    }
    if (state_ == State::kHandshake && session_.handshake_done()) {
      handshake_done();
    }
    if (fill > 0) {
      handler_.on_input(static_cast<uint16_t>(bid), static_cast<uint32_t>(fill));
      bid = kNoBuffer;
      if (fill == cap) {
        continue;  // the buffer is full: there may be more
      }
    }
    if (r == TlsSession::kClosed) {
      end_input(0);
    } else if (r == TlsSession::kFailed) {
      fail(session_.failure());
    }
    break;
  }
  if (bid != kNoBuffer) {
    reactor_.recycle(static_cast<uint16_t>(bid));
  }
  if (spare_ != kNoBuffer && !session_.input_pending()) {
    reactor_.recycle(static_cast<uint16_t>(spare_));
    spare_ = kNoBuffer;
  }
  session_.trim();
  flush_output();
}

void TlsTransport::handshake_done() {
  state_ = State::kOpen;
  shard_.timers->disarm(*this);
  if (client_) {
    handler_.on_ready();
    return;
  }
  uncount();
  const size_t version = session_.version() >= 0x0304 ? 1 : 0;
  bump(shard_.counters.handshakes[version][session_.resumed() ? 1 : 0]);
}

void TlsTransport::fail(TlsFailure why) {
  if (client_) {
    // The upstream side counts its own failures (connect failures, resets).
  } else if (state_ == State::kHandshake) {
    bump(shard_.counters.failures[static_cast<size_t>(why)]);
  } else {
    bump(shard_.counters.bad_records);
  }
  uncount();
  state_ = State::kFailing;
  shard_.timers->disarm(*this);
  flush_output();
  if (state_ == State::kFailing && !raw_.sending()) {
    state_ = State::kFailed;
    handler_.on_input_end(-EPROTO);
  } else if (state_ == State::kFailing) {
    shard_.timers->arm(*this, *shard_.now_ms + kAlertFlushMs);
  }
}

void TlsTransport::end_input(int error) {
  input_ended_ = true;
  handler_.on_input_end(error);
}

void TlsTransport::on_input_end(int error) {
  if (input_over()) {
    return;  // a refused connection's end is reported by the timer
  }
  if (state_ == State::kHandshake) {
    // Gone mid-handshake (a scanner, a client that gave up, or one that rejected our
    // certificate and said so with an alert we already read).
    if (!client_) {
      bump(shard_.counters.failures[static_cast<size_t>(TlsFailure::kClosed)]);
    }
    uncount();
    shard_.timers->disarm(*this);
    state_ = State::kFailed;
    handler_.on_input_end(error);
    return;
  }
  if (session_.input_pending() && (paused_ || starved_)) {
    eof_held_ = true;  // after the plaintext still held
    eof_error_ = error;
    return;
  }
  end_input(error);
}

void TlsTransport::on_input_starved() {
  handler_.on_input_starved();
}

void TlsTransport::after_input() {
  handler_.after_input();
}

void TlsTransport::on_timer(Timer* t) {
  auto* self = static_cast<TlsTransport*>(t);
  if (self->closed_) {
    return;
  }
  switch (self->state_) {
    case State::kHandshake:
      // The handshake deadline, or a connection refused at accept.
      self->fail(self->refused_ != TlsFailure::kNone ? self->refused_ : TlsFailure::kTimeout);
      return;
    case State::kFailing:
      // The alert did not go out in time.
      self->state_ = State::kFailed;
      self->handler_.on_input_end(-ETIMEDOUT);
      return;
    case State::kOpen:
      break;
    case State::kFailed:
      return;
  }
  // Plaintext held while input was paused or starved.
  self->decrypt(kNoBuffer);
  if (self->closed_ || self->state_ != State::kOpen) {
    return;
  }
  if (self->eof_held_ && !self->session_.input_pending() && !self->input_ended_) {
    self->eof_held_ = false;
    self->end_input(self->eof_error_);
    return;
  }
  if (!self->paused_ && !self->starved_ && !self->session_.input_pending()) {
    self->raw_.start_input();
  }
  self->handler_.after_input();
}

void TlsTransport::send(iovec* iov, int count, msghdr* /*msg*/) {
  plain_sending_ = true;
  plain_bytes_ = 0;
  for (int i = 0; i < count; ++i) {
    plain_bytes_ += iov[i].iov_len;
  }
  if (state_ == State::kHandshake) {
    // An answer before the handshake is done (the connection's own deadline passed first):
    // nothing can carry it, so the handshake fails now, from the timer (not inside the caller).
    shard_.timers->arm(*this, *shard_.now_ms);
    return;
  }
  if (state_ != State::kOpen) {
    return;  // failing: the connection is about to hear input end and close
  }
  if (!encrypt(iov, count)) {
    fail(TlsFailure::kBadRecord);  // a session that cannot encrypt any more
    return;
  }
  flush_output();
}

bool TlsTransport::encrypt(const iovec* iov, int count) {
  thread_local char scratch[kCoalesceMax];
  size_t used = 0;
  for (int i = 0; i < count; ++i) {
    const char* p = static_cast<const char*>(iov[i].iov_base);
    const size_t len = iov[i].iov_len;
    if (len < kCoalescePiece && used + len <= kCoalesceMax) {
      memcpy(scratch + used, p, len);
      used += len;
      continue;
    }
    if (used > 0 && !session_.write(scratch, used)) {
      return false;
    }
    used = 0;
    if (len < kCoalescePiece) {
      memcpy(scratch, p, len);
      used = len;
    } else if (!session_.write(p, len)) {
      return false;
    }
  }
  return used == 0 || session_.write(scratch, used);
}

void TlsTransport::flush_output() {
  if (closed_ || raw_.sending() || session_.output().empty()) {
    return;
  }
  sending_.clear();
  sending_.swap(session_.output());
  sent_ = 0;
  send_iov_ = {sending_.data(), sending_.size()};
  raw_.send(&send_iov_, 1, &send_msg_);
}

void TlsTransport::on_sent(int res) {
  if (closed_) {
    return;
  }
  if (res < 0) {
    sending_.clear();
    if (state_ == State::kFailing) {
      state_ = State::kFailed;
      shard_.timers->disarm(*this);
      handler_.on_input_end(res);
    } else if (plain_sending_) {
      plain_sending_ = false;
      handler_.on_sent(res);
    }
    return;
  }
  sent_ += static_cast<size_t>(res);
  if (sent_ < sending_.size()) {
    send_iov_ = {sending_.data() + sent_, sending_.size() - sent_};
    raw_.send(&send_iov_, 1, &send_msg_);
    return;
  }
  sending_.clear();
  if (sending_.capacity() > kKeptOutputCapacity) {
    std::string().swap(sending_);
  }
  if (!session_.output().empty()) {
    flush_output();
    return;
  }
  // Everything written so far is on the wire.
  if (state_ == State::kFailing) {
    state_ = State::kFailed;
    shard_.timers->disarm(*this);
    handler_.on_input_end(-EPROTO);
    return;
  }
  if (plain_sending_) {
    plain_sending_ = false;
    handler_.on_sent(static_cast<int>(plain_bytes_));
  }
  if (shutdown_pending_ && !closed_ && !raw_.sending() && session_.output().empty()) {
    shutdown_pending_ = false;
    raw_.shutdown_write();
  }
}

void TlsTransport::shutdown_write() {
  session_.shutdown();  // close_notify
  if (session_.output().empty() && !raw_.sending()) {
    raw_.shutdown_write();
    return;
  }
  shutdown_pending_ = true;
  flush_output();
}

void TlsTransport::close() {
  if (state_ == State::kHandshake && refused_ == TlsFailure::kNone && !closed_ && !client_) {
    // The gateway closed it mid-handshake (its header timeout, a drain).
    bump(shard_.counters.failures[static_cast<size_t>(TlsFailure::kClosed)]);
  }
  closed_ = true;
  shard_.timers->disarm(*this);
  uncount();
  raw_.close();
}

void TlsTransport::on_quiet() {
  handler_.on_quiet();
}

}  // namespace ringgate
