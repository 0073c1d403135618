#include "ringgate/upstream/health.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "ringgate/core/shard.h"
#include "ringgate/net/socket.h"
#include "ringgate/upstream/cluster.h"

namespace ringgate {

HealthProbe::HealthProbe(Shard& shard, UpstreamCluster& cluster, UpstreamEndpoint& endpoint)
    : Timer(&HealthProbe::on_timer), shard_(shard), cluster_(cluster), endpoint_(endpoint) {
  // A cluster with a fixed `host:` is virtual-hosted: its checks ask for that host too, else
  // the endpoint's own name and port.
  const UpstreamConfig& u = *cluster.config;
  const std::string& host = u.host == HostPolicy::kFixed ? u.host_value : endpoint.authority;
  request_ = "GET " + u.health.path + " HTTP/1.1\r\nHost: " + host +
             "\r\nUser-Agent: ringgate-health-check\r\nConnection: close\r\n\r\n";
}

HealthProbe::~HealthProbe() = default;

void HealthProbe::start() {
  shard_.timers().arm(*this, shard_.now_ms());
}

void HealthProbe::stop() {
  stopped_ = true;
  shard_.timers().disarm(*this);
  if (inflight_ > 0) {
    shard_.reactor().submit_cancel(this, kOpConnect);
    shard_.reactor().submit_cancel(this, kOpSend);
    shard_.reactor().submit_cancel(this, kOpRecv);
  } else if (fd_ >= 0) {
    shard_.reactor().submit_close(fd_);
    fd_ = -1;
  }
}

void HealthProbe::begin_check() {
  if (!sync_endpoint_address(endpoint_)) {
    end_check(false);  // the name does not resolve (yet)
    return;
  }
  fd_ = open_stream_socket(endpoint_.address.family());
  if (fd_ < 0) {
    fd_ = -1;
    end_check(false);
    return;
  }
  checking_ = true;
  verdict_ = false;
  received_ = 0;
  ++inflight_;
  shard_.reactor().submit_connect(fd_, endpoint_.address.get(), endpoint_.address.length, this,
                                  kOpConnect);
  shard_.timers().arm(
      *this, shard_.now_ms() + static_cast<uint64_t>(cluster_.config->health.timeout.count()));
}

void HealthProbe::complete(unsigned op, int res, uint32_t) {
  --inflight_;
  if (stopped_ || verdict_) {
    if (inflight_ == 0 && fd_ >= 0) {
      shard_.reactor().submit_close(fd_);
      fd_ = -1;
      if (!stopped_) {
        end_check(verdict_passed_);
      }
    }
    return;
  }
  if (res < 0) {
    end_check(false);
    return;
  }
  switch (op) {
    case kOpConnect:
      ++inflight_;
      shard_.reactor().submit_send(fd_, request_.data(), request_.size(), this, kOpSend);
      break;
    case kOpSend:
      ++inflight_;
      shard_.reactor().submit_recv(fd_, response_, sizeof response_ - 1, this, kOpRecv);
      break;
    case kOpRecv: {
      received_ += static_cast<uint32_t>(res);
      // "HTTP/1.x SSS": 12 bytes settle it.
      if (received_ >= 12 || res == 0) {
        const bool passed = received_ >= 12 && std::memcmp(response_, "HTTP/1.", 7) == 0 &&
                            response_[8] == ' ' && response_[9] == '2' && response_[10] >= '0' &&
                            response_[10] <= '9' && response_[11] >= '0' && response_[11] <= '9';
        end_check(passed);
      } else {
        ++inflight_;
        shard_.reactor().submit_recv(fd_, response_ + received_, sizeof response_ - 1 - received_,
                                     this, kOpRecv);
      }
      break;
    }
    default:
      break;
  }
}

void HealthProbe::end_check(bool passed) {
  if (inflight_ > 0) {
    // The timeout: cancel what is in flight and decide when it has come back.
    verdict_ = true;
    verdict_passed_ = passed;
    shard_.reactor().submit_cancel(this, kOpConnect);
    shard_.reactor().submit_cancel(this, kOpSend);
    shard_.reactor().submit_cancel(this, kOpRecv);
    shard_.timers().disarm(*this);
    return;
  }
  if (fd_ >= 0) {
    shard_.reactor().submit_close(fd_);
    fd_ = -1;
  }
  checking_ = false;
  verdict_ = false;
  const HealthCheckConfig& h = cluster_.config->health;
  SharedEndpoint& shared = *endpoint_.shared;
  const bool healthy = shared.healthy.load(std::memory_order_relaxed);
  if (passed) {
    failures_ = 0;
    if (!healthy && ++passes_ >= h.healthy_threshold) {
      shared.healthy.store(true, std::memory_order_relaxed);
      passes_ = 0;
    }
    // An endpoint the outlier detector ejected returns as soon as it is healthy by its checks:
    // a restarted endpoint is not kept out for the rest of its ejection.
    if (shared.healthy.load(std::memory_order_relaxed)) {
      shared.ejected_until_ms.store(0, std::memory_order_relaxed);
    }
  } else {
    passes_ = 0;
    shared.checks_failed.fetch_add(1, std::memory_order_relaxed);
    if (healthy && ++failures_ >= h.unhealthy_threshold) {
      shared.healthy.store(false, std::memory_order_relaxed);
      failures_ = 0;
    }
  }
  if (!stopped_) {
    shard_.timers().arm(*this, shard_.now_ms() + static_cast<uint64_t>(h.interval.count()));
  }
}

void HealthProbe::on_timer(Timer* t) {
  auto* p = static_cast<HealthProbe*>(t);
  if (p->stopped_) {
    return;
  }
  if (p->checking_) {
    p->end_check(false);  // timed out
  } else {
    p->begin_check();
  }
}

}  // namespace ringgate
