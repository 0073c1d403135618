#pragma once
// TLS over the shard's reactor: a Transport that wraps the plain one. Ciphertext arrives in the
// shard's receive buffers and is handed to OpenSSL at once (the buffer is then reused for the
// plaintext, so one buffer serves both); records OpenSSL writes (handshake messages, tickets,
// alerts, KeyUpdate replies, the response) are sent after every call. The HTTP code above sees
// plaintext in receive buffers, exactly as over plain TCP.
//
//   handshake ──done──► open ──close_notify / EOF──► input end
//       └──failure / timeout / over max_handshakes──► alert flushed ──► input end (-EPROTO)

#include <sys/uio.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "ringgate/core/reactor.h"
#include "ringgate/core/timer_wheel.h"
#include "ringgate/core/transport.h"
#include "ringgate/tls/client.h"
#include "ringgate/tls/config.h"
#include "ringgate/tls/session.h"

namespace ringgate {

// One shard's TLS counters (relaxed stores by the shard, summed on scrape).
struct TlsCounters {
  // [version: 0 TLS 1.2, 1 TLS 1.3][0 full, 1 resumed]
  std::atomic<uint64_t> handshakes[2][2] = {};
  std::atomic<uint64_t> failures[static_cast<size_t>(TlsFailure::kCount)] = {};
  // Records that failed after the handshake (the connection was closed with an alert).
  std::atomic<uint64_t> bad_records{0};
  std::atomic<uint64_t> in_flight{0};  // handshakes in progress (gauge)
};

// What a shard's TLS connections share: its timers, clock and counters.
struct TlsShard {
  TimerWheel* timers = nullptr;
  const uint64_t* now_ms = nullptr;
  TlsCounters counters;
};

class TlsTransport final : public Transport, public TransportHandler, public Timer {
 public:
  // Server side of an accepted connection on a TLS listener.
  TlsTransport(Reactor& reactor, TlsShard& shard, const TlsListenConfig& config, int fd,
               TransportHandler& handler);
  // Client side of a connected socket to `host` (an upstream endpoint): its ClientHello goes at
  // the first start_input(); on_ready() once the handshake is done. No deadline of its own (the
  // connection's connect timeout covers the handshake) and no server metrics.
  TlsTransport(Reactor& reactor, TlsShard& shard, const TlsClient& client, std::string_view host,
               TlsResumption* resumption, int fd, TransportHandler& handler);
  // An established session handed over by a draining gateway in this process (a reload): open
  // at once, no handshake and no deadline of its own. `config`: the listener's settings now
  // (null on the client side).
  TlsTransport(Reactor& reactor, TlsShard& shard, const TlsListenConfig* config,
               TlsSession&& established, int fd, TransportHandler& handler);
  ~TlsTransport() override;

  // For a successor in this process: the session, when nothing is held or in flight in it (the
  // handshake done, no plaintext or ciphertext waiting, nothing being sent, the receive ended);
  // null otherwise. This transport is then only fit to be closed.
  std::unique_ptr<TlsSession> release_session();

  // Transport
  void start_input() override;
  void pause_input() override;
  bool receiving() const override { return !paused_ && !starved_ && raw_.receiving(); }
  void send(iovec* iov, int count, msghdr* msg) override;
  bool sending() const override { return plain_sending_; }
  void shutdown_write() override;
  void close() override;
  bool quiet() const override { return raw_.quiet(); }
  int fd() const override { return raw_.fd(); }

  // TransportHandler (the plain transport underneath)
  void on_input(uint16_t bid, uint32_t len) override;
  void on_input_end(int error) override;
  void on_input_starved() override;
  void after_input() override;
  void on_sent(int res) override;
  void on_quiet() override;

  const TlsSession& session() const { return session_; }

 private:
  enum class State : uint8_t { kHandshake, kOpen, kFailing, kFailed };

  // Turns the ciphertext held into plaintext for the handler, starting with buffer `bid` (the
  // one the ciphertext came in; kNoBuffer: take free ones as needed).
  void decrypt(int bid);
  void handshake_done();
  // A fatal error: the alert (if any) is flushed, then the handler hears input end.
  void fail(TlsFailure why);
  void end_input(int error);
  void flush_output();
  // False when the session cannot encrypt any more.
  bool encrypt(const iovec* iov, int count);
  // Out of the shard's handshakes in progress (once).
  void uncount();
  // Nothing more is read: closed, input ended, failing or refused.
  bool input_over() const {
    return closed_ || input_ended_ || state_ == State::kFailing || state_ == State::kFailed ||
           refused_ != TlsFailure::kNone;
  }
  static void on_timer(Timer* t);

  static constexpr int kNoBuffer = -1;

  Reactor& reactor_;
  TlsShard& shard_;
  const TlsListenConfig* config_;  // null on the client side
  TransportHandler& handler_;
  PlainTransport raw_;
  TlsSession session_;
  std::string sending_;  // ciphertext in the send in flight
  size_t sent_ = 0;      // of sending_
  iovec send_iov_{};
  msghdr send_msg_{};
  size_t plain_bytes_ = 0;  // the plaintext send being encrypted and flushed
  int spare_ = kNoBuffer;   // a buffer taken when input resumed after starving
  State state_ = State::kHandshake;
  bool plain_sending_ = false;
  bool paused_ = false;
  bool starved_ = false;
  bool input_ended_ = false;  // the handler heard input end
  bool eof_held_ = false;     // input end arrived while plaintext was still held
  int eof_error_ = 0;
  bool shutdown_pending_ = false;
  bool closed_ = false;
  bool counted_ = false;  // in shard_.counters.in_flight
  bool client_ = false;
  bool hello_sent_ = false;  // client: the first start_input() wrote the ClientHello
  // Refused at accept (over tls.max_handshakes, or no memory): failed from the timer.
  TlsFailure refused_ = TlsFailure::kNone;
};

}  // namespace ringgate
