#pragma once
// Upstream connections and their keep-alive pools. A connection belongs to one endpoint of one
// cluster on one shard; idle ones wait in their endpoint's pool with a receive armed, so an
// upstream that closes them is noticed at once.

#include <cstdint>
#include <memory>

#include "ringgate/core/error.h"
#include "ringgate/core/input_chain.h"
#include "ringgate/core/reactor.h"
#include "ringgate/core/timer_wheel.h"
#include "ringgate/core/transport.h"
#include "ringgate/http/request_parser.h"
#include "ringgate/tls/transport.h"
#include "ringgate/upstream/cluster.h"

namespace ringgate {

class ProxyCall;
class UpstreamShard;

// A connection to one endpoint. Idle ones wait in their endpoint's pool with a receive armed,
// so an upstream that closes them is noticed at once.
class UpstreamConn final : public Completion, public TransportHandler, public Timer {
 public:
  enum Op : unsigned { kOpConnect = 1 };
  enum class State : uint8_t { kConnecting, kIdle, kActive, kClosing };

  UpstreamConn(UpstreamShard& shard, UpstreamCluster& cluster, UpstreamEndpoint& endpoint, int fd);
  // One request on an HTTP/2 connection to the endpoint (h2_upstream.h): `stream` is its
  // transport; no socket, never pooled, not counted as a connection (its H2Upstream is).
  UpstreamConn(UpstreamShard& shard, UpstreamCluster& cluster, UpstreamEndpoint& endpoint,
               Transport& stream);
  ~UpstreamConn();

  void complete(unsigned op, int res, uint32_t flags) override;

  // TransportHandler: the socket's input and output, once connected.
  void on_input(uint16_t bid, uint32_t len) override;
  void on_input_end(int error) override;
  void on_input_starved() override;
  void after_input() override;
  void on_sent(int res) override;
  void on_quiet() override { maybe_retire(); }
  void on_ready() override { connected(); }  // TLS: the handshake is done

  void connect();
  // Bound to a call: sends its request bytes, feeds its response.
  void attach(ProxyCall* call);
  // The call is done with this connection: back to the pool if it can carry another request.
  void release(bool reusable);
  // Sends what the call has buffered (no-op while connecting or a send is in flight).
  void flush();
  // The client has output room again: parse held response bytes.
  void resume() { process_input(); }
  // Receive buffers are available again after ENOBUFS.
  void resume_receive();
  void close();
  // Draining after a reload: out of the pool, the receive cancelled; once quiet, the socket goes
  // to the successor (UpstreamShard::hand_over) and this one closes (without touching the
  // connection). Bytes or an end that arrive first close it as usual.
  void hand_over();
  // A connection the predecessor handed over: idle in its endpoint's pool from now, over
  // `tls` (an established session) on a TLS cluster.
  void adopt_idle(std::unique_ptr<TlsSession> tls);

  State state() const { return state_; }
  UpstreamEndpoint& endpoint() { return endpoint_; }
  UpstreamCluster& cluster() { return cluster_; }
  ResponseParser& parser() { return parser_; }
  bool reused() const { return requests_ > 0; }
  bool closed() const { return state_ == State::kClosing; }
  int fd() const { return fd_; }
  bool stream() const { return stream_; }
  Transport& io() const { return *io_; }
  // Where its receive and send complete (tests play the kernel through it).
  PlainTransport& transport() { return plain_; }

  UpstreamConn* next_idle = nullptr;
  UpstreamConn* prev_idle = nullptr;
  bool starved = false;

 private:
  void on_connect(int res);
  // Connected (and, on a tls cluster, the handshake done): the call's request goes out.
  void connected();
  // Connecting failed (`kind`: kConnect or kConnectTimeout): counted, the call told.
  void connect_failed(ErrorKind kind);
  void process_input();
  void arm_recv();
  void release_input();
  void leave_pool();  // out of the endpoint's idle list
  void fail(ErrorKind kind);
  void maybe_retire();
  static void on_timer(Timer* t);

  UpstreamShard& shard_;
  UpstreamCluster& cluster_;
  UpstreamEndpoint& endpoint_;
  ProxyCall* call_ = nullptr;
  ResponseParser parser_;
  int fd_;
  uint32_t requests_ = 0;
  uint32_t generation_ = 0;   // the endpoint's address generation at connect
  uint64_t idle_due_ms_ = 0;  // pooled: closed then (the timer may be armed earlier: release())
  PlainTransport plain_;      // receives and sends (connect is this object's own operation)
  std::unique_ptr<TlsTransport> tls_;  // over plain_'s socket, on a tls cluster
  Transport* io_;  // &plain_, tls_ or an HTTP/2 stream (h2_upstream.h), which outlives this
  bool stream_ = false;
  iovec send_iov_{};
  msghdr send_msg_{};
  InputChain in_;
  State state_ = State::kConnecting;
  bool connect_inflight_ = false;
  bool in_process_ = false;
  bool retired_ = false;
  bool peer_eof_ = false;
  bool handing_over_ = false;
};

}  // namespace ringgate
