#pragma once
// The transport seam: how a client connection's bytes move. The HTTP/1.1 code sees received
// bytes in shard receive buffers and hands over iovecs to send; it never submits a socket
// operation itself. Plain TCP (PlainTransport, driven by the shard's reactor) is the transport
// today; TLS over shard-owned buffers plugs in here without touching the HTTP code.

#include <sys/socket.h>
#include <sys/uio.h>

#include <cstdint>

#include "ringgate/core/reactor.h"

namespace ringgate {

// What a transport reports to its connection.
class TransportHandler {
 public:
  // Bytes arrived in receive buffer `bid` (handed over: the connection recycles it when used).
  virtual void on_input(uint16_t bid, uint32_t len) = 0;
  // No more input: 0 when the peer closed its side, -errno when the connection broke.
  virtual void on_input_end(int error) = 0;
  // The shard has no receive buffer free: input resumes when start_input() is called again.
  virtual void on_input_starved() = 0;
  // After each receive completion (data, end, or a paused receive's last word): the moment to
  // decide whether to receive on.
  virtual void after_input() = 0;
  // The send in flight completed: bytes sent, or -errno.
  virtual void on_sent(int res) = 0;
  // After close(): the last operation in flight has completed; the transport may be freed.
  virtual void on_quiet() = 0;
  // A transport with a handshake of its own (TLS) has finished it: a client sends from now on.
  virtual void on_ready() {}

 protected:
  ~TransportHandler() = default;
};

class Transport {
 public:
  virtual ~Transport() = default;

  // Receives until paused (a no-op while receiving).
  virtual void start_input() = 0;
  // Stops receiving until start_input() (input already on its way may still arrive).
  virtual void pause_input() = 0;
  virtual bool receiving() const = 0;
  // Sends `count` iovecs (one send at a time); `msg` is the caller's, kept until on_sent().
  virtual void send(iovec* iov, int count, msghdr* msg) = 0;
  virtual bool sending() const = 0;
  // Half-closes: the peer reads the end of the response, then EOF.
  virtual void shutdown_write() = 0;
  // Cancels what is in flight; on_quiet() follows once nothing is (at once when idle).
  virtual void close() = 0;
  virtual bool quiet() const = 0;
  // The socket, for the peer's address and for its final close.
  virtual int fd() const = 0;
};

// Plain TCP through the reactor: multishot receives into the provided-buffer ring, send or
// sendmsg for output.
class PlainTransport final : public Transport, public Completion {
 public:
  enum Op : unsigned { kOpRecv = 1, kOpSend = 2, kOpShutdown = 3 };

  PlainTransport(Reactor& reactor, int fd, TransportHandler& handler)
      : reactor_(reactor), handler_(handler), fd_(fd) {}

  void start_input() override;
  void pause_input() override;
  bool receiving() const override { return recv_armed_ && !recv_cancelling_; }
  void send(iovec* iov, int count, msghdr* msg) override;
  bool sending() const override { return send_inflight_; }
  void shutdown_write() override;
  void close() override;
  bool quiet() const override { return !recv_armed_ && !send_inflight_ && !shutdown_inflight_; }
  int fd() const override { return fd_; }

  void complete(unsigned op, int res, uint32_t flags) override;

 private:
  void on_recv(int res, uint32_t flags);

  Reactor& reactor_;
  TransportHandler& handler_;
  int fd_;
  bool recv_armed_ = false;
  bool recv_cancelling_ = false;
  bool send_inflight_ = false;
  bool shutdown_inflight_ = false;
  bool closed_ = false;
};

}  // namespace ringgate
