#include "ringgate/upstream/health.h"

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "ringgate/net/socket.h"
#include "ringgate/tls/transport.h"
#include "ringgate/upstream/cluster.h"
#include "ringgate/upstream/upstream_shard.h"

namespace ringgate {

namespace {

bool status_passes(const char (&line)[12]) {
  return std::memcmp(line, "HTTP/1.", 7) == 0 && line[8] == ' ' && line[9] == '2' &&
         line[10] >= '0' && line[10] <= '9' && line[11] >= '0' && line[11] <= '9';
}

}  // namespace

HealthProbe::HealthProbe(UpstreamShard& shard, UpstreamCluster& cluster, UpstreamEndpoint& endpoint)
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
  if (checking_ && !decided_) {
    decide(false, "stopped");  // closes what is open; record() is skipped once stopped
  }
}

void HealthProbe::begin_check() {
  io_.reset();  // the last check's, closed
  if (!sync_endpoint_address(endpoint_)) {
    record(false, "the name does not resolve");
    return;
  }
  fd_ = open_stream_socket(endpoint_.address.family());
  if (fd_ < 0) {
    fd_ = -1;
    record(false, "no socket could be opened");
    return;
  }
  checking_ = true;
  decided_ = false;
  starved_ = false;
  received_ = 0;
  sent_ = 0;
  connecting_ = true;
  shard_.reactor().submit_connect(fd_, endpoint_.address.get(), endpoint_.address.length, this,
                                  kOpConnect);
  deadline_ms_ = shard_.now_ms() + static_cast<uint64_t>(cluster_.config->health.timeout.count());
  shard_.timers().arm(*this, deadline_ms_);
}

void HealthProbe::complete(unsigned op, int res, uint32_t) {
  if (op == kOpConnect) {
    connecting_ = false;
    on_connect(res);
  }
}

void HealthProbe::on_connect(int res) {
  if (decided_) {
    close_socket();  // cancelled: the timeout, or stop()
    return;
  }
  if (res < 0) {
    decide(false, "could not connect");
    return;
  }
  if (const TlsUpstreamConfig* tls = cluster_.config->tls.get()) {
    // The handshake goes out with the first receive; on_ready() sends the request.
    io_ = std::make_unique<TlsTransport>(shard_.reactor(), shard_.tls(), *tls->client,
                                         endpoint_host(endpoint_), &endpoint_.tls_session, fd_,
                                         *this);
    io_->start_input();
    return;
  }
  io_ = std::make_unique<PlainTransport>(shard_.reactor(), fd_, *this);
  io_->start_input();
  send_request();
}

void HealthProbe::send_request() {
  if (decided_) {
    return;
  }
  send_iov_ = {request_.data() + sent_, request_.size() - sent_};
  io_->send(&send_iov_, 1, &send_msg_);
}

void HealthProbe::on_sent(int res) {
  if (decided_) {
    return;
  }
  if (res < 0) {
    decide(false, "the request could not be sent");
    return;
  }
  sent_ += static_cast<size_t>(res);
  if (sent_ < request_.size()) {
    send_request();
  }
}

void HealthProbe::on_input(uint16_t bid, uint32_t len) {
  if (!decided_) {
    const uint32_t take = std::min<uint32_t>(len, sizeof status_line_ - received_);
    std::memcpy(status_line_ + received_, shard_.reactor().buffer(bid), take);
    received_ += take;
  }
  shard_.reactor().recycle(bid);
  if (!decided_ && received_ == sizeof status_line_) {
    const bool passed = status_passes(status_line_);
    if (!passed) {
      snprintf(answered_, sizeof answered_, "answered %.3s", status_line_ + 9);
    }
    decide(passed, answered_);
  }
}

void HealthProbe::on_input_end(int) {
  // Closed (or broken, or a failed handshake) before a whole status line came.
  if (!decided_) {
    decide(false, "closed before a status line (reset, or the TLS handshake failed)");
  }
}

void HealthProbe::on_input_starved() {
  // No receive buffer free on this shard: try again shortly, within the check's timeout.
  starved_ = true;
  shard_.timers().arm(*this, std::min(deadline_ms_, shard_.now_ms() + kStarvedRetryMs));
}

void HealthProbe::decide(bool passed, const char* why) {
  decided_ = true;
  passed_ = passed;
  why_ = why;
  shard_.timers().disarm(*this);
  if (connecting_) {
    shard_.reactor().submit_cancel(this, kOpConnect);  // on_connect() closes the socket
  } else if (io_) {
    io_->close();  // on_quiet() closes the socket
  } else {
    close_socket();
  }
}

void HealthProbe::on_quiet() {
  close_socket();
}

void HealthProbe::close_socket() {
  if (fd_ >= 0) {
    shard_.reactor().submit_close(fd_);
    fd_ = -1;
  }
  checking_ = false;
  if (!stopped_) {
    record(passed_, why_);
  }
}

void HealthProbe::record(bool passed, const char* why) {
  checking_ = false;
  const HealthCheckConfig& h = cluster_.config->health;
  SharedEndpoint& shared = *endpoint_.shared;
  const bool healthy = shared.healthy.load(std::memory_order_relaxed);
  shared.checks.fetch_add(1, std::memory_order_relaxed);
  if (passed) {
    failures_ = 0;
    if (!healthy && ++passes_ >= h.healthy_threshold) {
      shared.healthy.store(true, std::memory_order_relaxed);
      upstream_event("upstream %s: endpoint %s healthy again (%u health checks passed)",
                     cluster_.config->name.c_str(), endpoint_.authority.c_str(), passes_);
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
      upstream_event("upstream %s: endpoint %s unhealthy (%u health checks failed; the last: %s)",
                     cluster_.config->name.c_str(), endpoint_.authority.c_str(), failures_,
                     why ? why : "failed");
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
  if (!p->checking_) {
    p->begin_check();
  } else if (p->decided_) {
    // Waiting for the connection to close.
  } else if (p->starved_ && p->shard_.now_ms() < p->deadline_ms_) {
    p->starved_ = false;
    p->shard_.timers().arm(*p, p->deadline_ms_);
    p->io_->start_input();
  } else {
    p->decide(false, "timed out");
  }
}

}  // namespace ringgate
