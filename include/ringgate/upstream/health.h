#pragma once
// Active health checks. One probe per endpoint for the whole process (run by shard 0), not one
// per shard: the verdict is published through SharedEndpoint::healthy, which every shard's
// balancer reads at pick time.
//
// A probe is a fresh connection each interval: connect, then (on a tls cluster) the TLS
// handshake, verified like the cluster's own connections and resuming the endpoint's last
// session, then `GET <path>` with Connection: close and the status line read; 2xx passes,
// anything else (or the timeout, which covers all of it) fails. `healthy_threshold` passes in a
// row make an unhealthy endpoint healthy again, `unhealthy_threshold` failures in a row make a
// healthy one unhealthy.
//
//   idle ──interval──► connecting ──► [handshake] ──► request sent ──► status line ──► verdict
//                          └──────── failure or timeout ────────────────────────────► verdict
//   verdict: the transport closed (on_quiet), the socket closed, the result counted.

#include <sys/socket.h>
#include <sys/uio.h>

#include <cstdint>
#include <memory>
#include <string>

#include "ringgate/core/reactor.h"
#include "ringgate/core/timer_wheel.h"
#include "ringgate/core/transport.h"

namespace ringgate {

class UpstreamShard;
struct UpstreamCluster;
struct UpstreamEndpoint;

class HealthProbe final : public Completion, public TransportHandler, public Timer {
 public:
  HealthProbe(UpstreamShard& shard, UpstreamCluster& cluster, UpstreamEndpoint& endpoint);
  ~HealthProbe();

  // Completion: the connect.
  void complete(unsigned op, int res, uint32_t flags) override;

  // TransportHandler: the check's connection once connected.
  void on_input(uint16_t bid, uint32_t len) override;
  void on_input_end(int error) override;
  void on_input_starved() override;
  void after_input() override {}
  void on_sent(int res) override;
  void on_quiet() override;
  void on_ready() override { send_request(); }  // TLS: the handshake is done

  // Starts the cycle: the first check runs at once.
  void start();
  // Shutting down: no new checks; a check in progress is cut short.
  void stop();
  bool idle() const { return fd_ < 0; }

 private:
  enum Op : unsigned { kOpConnect = 1 };
  // While starved of receive buffers, the receive is retried this often (within the timeout).
  static constexpr uint64_t kStarvedRetryMs = 20;

  void begin_check();
  void on_connect(int res);
  void send_request();
  // The check has its result: what is open closes, then the result counts (record()).
  void decide(bool passed, const char* why);
  // `why`: why it failed (for the error log when the endpoint turns unhealthy).
  void record(bool passed, const char* why = nullptr);
  void close_socket();
  static void on_timer(Timer* t);

  UpstreamShard& shard_;
  UpstreamCluster& cluster_;
  UpstreamEndpoint& endpoint_;
  std::string request_;
  size_t sent_ = 0;  // of request_
  iovec send_iov_{};
  msghdr send_msg_{};
  // The check's connection; kept after it closes until the next check (it may not be freed
  // from within its own callbacks).
  std::unique_ptr<Transport> io_;
  char status_line_[12];  // "HTTP/1.x SSS" settles it
  uint32_t received_ = 0;
  uint64_t deadline_ms_ = 0;
  int fd_ = -1;
  uint32_t passes_ = 0;
  uint32_t failures_ = 0;
  bool checking_ = false;
  bool connecting_ = false;  // the connect is in flight
  bool decided_ = false;     // the check in progress has its result (waiting for the close)
  bool passed_ = false;
  const char* why_ = nullptr;  // the check in progress failed: why
  char answered_[24] = {};     // "answered 503"
  bool starved_ = false;
  bool stopped_ = false;
};

}  // namespace ringgate
