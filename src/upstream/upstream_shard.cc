#include "ringgate/upstream/upstream_shard.h"

#include <unistd.h>

#include <algorithm>
#include <new>

#include "h2_upstream.h"
#include "pool.h"
#include "ringgate/core/hash.h"
#include "ringgate/net/socket.h"
#include "ringgate/upstream/call.h"

namespace ringgate {

namespace {

// Request bytes of one proxied request: the rewritten head with room to spare, then body.
size_t request_bytes(const Limits& limits) {
  return std::max<size_t>(16 * 1024, size_t{limits.header_bytes} + limits.request_line + 4096);
}

}  // namespace

UpstreamShard::UpstreamShard(Shard& shard, const Config& config, BufferChains& chains,
                             const std::vector<SharedCluster*>& shared, unsigned shards)
    : shard_(shard),
      config_(config),
      chains_(chains),
      scratch_pool_(scratch_block_size(config.server.limits), 256),
      request_pool_(request_bytes(config.server.limits), 1024),
      request_ids_(process_seed(), RequestIdGenerator::new_stream()) {
  tls_.timers = &shard.timers();
  tls_.now_ms = &shard.now_ms_ref();
  for (size_t i = 0; i < config.upstreams.size(); ++i) {
    clusters_.push_back(build_cluster(config, i, *shared[i], shards, shard.index()));
  }
  response_spans_.resize(config.server.limits.headers);
  response_parser_context_.limits = &config.server.limits;
  response_parser_context_.scratch_pool = &scratch_pool_;
  response_parser_context_.shared_spans = response_spans_.data();
  stream_request_spans_.resize(config.server.limits.headers);
  stream_request_context_.limits = &config.server.limits;
  stream_request_context_.scratch_pool = &scratch_pool_;
  stream_request_context_.shared_spans = stream_request_spans_.data();
}

UpstreamShard::~UpstreamShard() {
  for (UpstreamConn* u : dead_) {
    destroy(u);
  }
  for (H2Upstream* h : h2_dead_) {
    delete h;
  }
}

UpstreamConn* UpstreamShard::open_h2_stream(UpstreamCluster& c, UpstreamEndpoint& ep,
                                            ErrorKind& error, bool& opened) {
  opened = false;
  H2Upstream* h = nullptr;
  for (H2Upstream* candidate : ep.h2) {
    if (candidate->has_capacity()) {
      h = candidate;
      break;
    }
  }
  if (!h) {
    if (c.connections >= c.max_connections) {
      error = ErrorKind::kAtLimit;
      return nullptr;
    }
    const int fd = open_stream_socket(ep.address.family());
    if (fd < 0) {
      error = ErrorKind::kConnect;
      return nullptr;
    }
    reactor().register_fd(fd);
    h = new H2Upstream(*this, c, ep, fd);
    h->connect();
    opened = true;
  }
  H2ClientStream& s =
      h2_streams_.acquire([this] { return new H2ClientStream(&stream_request_context_); });
  s.open(*h);
  auto* u = new (s.companion_memory) UpstreamConn(*this, c, ep, s);
  s.bind(*u);
  h->add(s);
  return u;
}

void UpstreamShard::destroy(UpstreamConn* u) {
  if (!u->stream()) {
    delete u;
    return;
  }
  auto* s = static_cast<H2ClientStream*>(&u->io());
  u->~UpstreamConn();
  s->recycle();
  h2_streams_.release(s);
}

void UpstreamShard::add_starved_h2(H2Upstream* h) {
  if (!h->starved) {
    h->starved = true;
    h2_starved_.push_back(h);
  }
}

void UpstreamShard::retire_h2(H2Upstream* h) {
  if (h->starved) {
    std::replace(h2_starved_.begin(), h2_starved_.end(), h, static_cast<H2Upstream*>(nullptr));
  }
  h2_dead_.push_back(h);
}

void UpstreamShard::unschedule_h2(H2Upstream* h) {
  for (auto* list : {&h2_pending_, &h2_round_}) {
    for (H2Upstream*& p : *list) {
      if (p == h) {
        p = nullptr;
      }
    }
  }
}

ProxyCall* UpstreamShard::acquire_call() {
  return calls_.acquire(*this);
}

void UpstreamShard::release_call(ProxyCall* call) {
  calls_.release(call);
}

size_t UpstreamShard::trim_pools() {
  // Pooled calls keep their request block for the next request; once a second, the calls that
  // sat free give theirs back, so that the calls a burst made do not each keep one for good.
  calls_.for_each_free([](ProxyCall& call) { call.give_back_request_block(); });
  return scratch_pool_.trim() + request_pool_.trim() + h2_streams_.trim();
}

void UpstreamShard::add_starved(UpstreamConn* u) {
  if (!u->starved) {
    u->starved = true;
    starved_.push_back(u);
  }
}

void UpstreamShard::retire(UpstreamConn* u) {
  if (u->starved) {
    for (UpstreamConn*& s : starved_) {
      if (s == u) {
        s = nullptr;
      }
    }
  }
  dead_.push_back(u);
}

void UpstreamShard::begin_drain(ConnectionSuccessor* successor) {
  draining_ = true;
  successor_ = successor;
  for (auto& c : clusters_) {
    const bool moves = successor_ && (!c->config->tls || successor_->takes_tls());
    for (UpstreamEndpoint& ep : c->endpoints) {
      // HTTP/2 connections take no new streams and close once theirs are done.
      for (H2Upstream* h : ep.h2) {
        h->drain();
      }
      // hand_over() takes a connection out of the idle list at once (then closes it).
      while (ep.idle) {
        if (moves) {
          ep.idle->hand_over();
        } else {
          ep.idle->close();
        }
      }
    }
  }
}

bool UpstreamShard::hand_over(UpstreamConn& conn, std::unique_ptr<TlsSession> tls) {
  return successor_ && successor_->take_upstream(conn.fd(), conn.cluster().config->name,
                                                 conn.endpoint().address.to_string(),
                                                 std::move(tls), conn.cluster().config->tls.get());
}

void UpstreamShard::adopt(int fd, std::string_view cluster, std::string_view endpoint,
                          std::unique_ptr<TlsSession> tls) {
  for (auto& c : clusters_) {
    if (c->config->name != cluster || (c->config->tls != nullptr) != (tls != nullptr)) {
      continue;
    }
    for (UpstreamEndpoint& ep : c->endpoints) {
      if (ep.address.length != 0 && ep.address.to_string() == endpoint) {
        if (draining_) {
          // Replaced meanwhile: on to the successor, as the idle pool went.
          if (successor_) {
            successor_->take_upstream(fd, cluster, endpoint, std::move(tls), c->config->tls.get());
          }
          close(fd);
          return;
        }
        shard_.reactor().register_fd(fd);
        (new UpstreamConn(*this, *c, ep, fd))->adopt_idle(std::move(tls));
        return;
      }
    }
  }
  close(fd);
}

void UpstreamShard::end_of_iteration() {
  Reactor& reactor = shard_.reactor();
  resume_starved(reactor, starved_);
  resume_starved(reactor, h2_starved_);
  // HTTP/2 work callbacks left for now (a stream's request, input for a stream connection).
  for (int round = 0; round < 8 && !h2_pending_.empty(); ++round) {
    h2_round_.swap(h2_pending_);
    for (H2Upstream* h : h2_round_) {
      if (h) {
        h->scheduled = false;
        h->pump();
      }
    }
    h2_round_.clear();
  }
  for (UpstreamConn* u : dead_) {
    if (!u->stream()) {
      reactor.submit_close(u->fd());
      --open_;
    }
    destroy(u);
  }
  dead_.clear();
  for (H2Upstream* h : h2_dead_) {
    reactor.submit_close(h->fd());
    delete h;
    --open_;
  }
  h2_dead_.clear();
}

}  // namespace ringgate
