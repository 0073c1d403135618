#pragma once
// Active health checks. One probe per endpoint for the whole process (run by shard 0), not one
// per shard: the verdict is published through SharedEndpoint::healthy, which every shard's
// balancer reads at pick time.
//
// A probe is a fresh connection each interval: connect, `GET <path>` with Connection: close,
// read the status line; 2xx passes, anything else (or the timeout) fails. `healthy_threshold`
// passes in a row make an unhealthy endpoint healthy again, `unhealthy_threshold` failures in a
// row make a healthy one unhealthy.

#include <cstdint>
#include <string>

#include "ringgate/core/reactor.h"
#include "ringgate/core/timer_wheel.h"

namespace ringgate {

class Shard;
struct UpstreamCluster;
struct UpstreamEndpoint;

class HealthProbe final : public Completion, public Timer {
 public:
  HealthProbe(Shard& shard, UpstreamCluster& cluster, UpstreamEndpoint& endpoint);
  ~HealthProbe();

  void complete(unsigned op, int res, uint32_t flags) override;
  // Starts the cycle: the first check runs at once.
  void start();
  // Shutting down: no new checks; an operation in flight is cancelled.
  void stop();
  bool idle() const { return fd_ < 0; }

 private:
  enum Op : unsigned { kOpConnect = 1, kOpSend = 2, kOpRecv = 3 };

  void begin_check();
  void end_check(bool passed);
  static void on_timer(Timer* t);

  Shard& shard_;
  UpstreamCluster& cluster_;
  UpstreamEndpoint& endpoint_;
  std::string request_;
  char response_[512];
  uint32_t received_ = 0;
  int fd_ = -1;
  unsigned inflight_ = 0;  // operations in flight on fd_
  uint32_t passes_ = 0;
  uint32_t failures_ = 0;
  bool checking_ = false;
  bool verdict_ = false;  // the check in progress has its result (waiting for cancellations)
  bool verdict_passed_ = false;
  bool stopped_ = false;
};

}  // namespace ringgate
