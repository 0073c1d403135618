#include "worker.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>

#include "connection.h"
#include "ringgate/core/hash.h"
#include "route_actions.h"

namespace ringgate {

namespace {
constexpr unsigned kOpAccept = 1;
constexpr uint64_t kAcceptRetryMs = 100;

// Request bytes of one proxied request: the rewritten head with room to spare, then body.
size_t request_bytes(const Limits& limits) {
  return std::max<size_t>(16 * 1024, size_t{limits.header_bytes} + limits.request_line + 4096);
}

BalancePolicy balance_policy(BalanceKind kind) {
  switch (kind) {
    case BalanceKind::kLeastRequest:
      return BalancePolicy::kLeastRequest;
    case BalanceKind::kP2C:
      return BalancePolicy::kP2C;
    case BalanceKind::kRingHash:
      return BalancePolicy::kRingHash;
    case BalanceKind::kMaglev:
      return BalancePolicy::kMaglev;
    case BalanceKind::kRoundRobin:
      break;
  }
  return BalancePolicy::kRoundRobin;
}

CannedResponse canned_response(const DirectResponse& d, const std::string& server_line) {
  CannedResponse r;
  r.status = d.status;
  std::string head = "HTTP/1.1 " + std::to_string(d.status) + " ";
  head += reason_phrase(d.status);
  head += "\r\n";
  head += server_line;
  for (const HeaderPair& h : d.headers) {
    head += h.name + ": " + h.value + "\r\n";
  }
  // 1xx, 204 and 304 carry no body and no Content-Length.
  if (d.status >= 200 && d.status != 204 && d.status != 304) {
    head += "Content-Length: " + std::to_string(d.body.size()) + "\r\n";
  }
  r.head = std::move(head);
  r.body = d.body;
  return r;
}

}  // namespace

void ListenerSocket::complete(unsigned, int res, uint32_t flags) {
  if (!cqe_more(flags)) {
    armed = false;
  }
  worker->on_accept(*this, res, flags);
}

Worker::Worker(Gateway& gateway, unsigned index, std::vector<int> listen_fds,
               std::vector<const AdminHandler*> listen_local, ShardCounters& counters)
    : gateway_(gateway),
      config_(gateway.config_),
      shard_(index),
      counters_(counters),
      arena_pool_(kArenaBlockSize, 1024),
      scratch_pool_(scratch_block_size(config_->server.limits), 256),
      out_pool_(kOutBlockSize, 1024),
      request_pool_(request_bytes(config_->server.limits), 1024),
      request_ids_(process_seed(), index) {
  const Config& cfg = *config_;
  router_ = std::make_unique<Router>(cfg);
  for (const RateLimitPolicy& p : cfg.rate_limits) {
    if (p.backend == RateLimitPolicy::Backend::kRedis && !redis_) {
      redis_ = std::make_unique<RedisLink>(shard_.reactor(), shard_.timers(), cfg.redis,
                                           shard_.now_ms_ref());
    }
  }
  rate_limiter_ =
      std::make_unique<ShardRateLimiter>(cfg, *gateway.rate_limits_, gateway.workers(),
                                         shard_.timers(), redis_.get(), &shard_.now_us_ref());
  jwt_auth_ = std::make_unique<ShardJwtAuth>(cfg, gateway.jwt_source_pointers());
  api_key_counters_ = std::make_unique<ApiKeyCounters[]>(cfg.api_keys.size());
  if (!cfg.server.server_header.empty()) {
    server_line_ = "Server: " + cfg.server.server_header + "\r\n";
  }
  listeners_.resize(listen_fds.size());
  for (size_t i = 0; i < listen_fds.size(); ++i) {
    listeners_[i].worker = this;
    listeners_[i].fd = listen_fds[i];
    listeners_[i].local = listen_local[i];
  }
  shared_spans_.resize(cfg.server.limits.headers);
  parser_context_.limits = &cfg.server.limits;
  parser_context_.scratch_pool = &scratch_pool_;
  parser_context_.shared_spans = shared_spans_.data();
  chain_next_.assign(cfg.server.buffers.count, 0xffff);
  chain_len_.assign(cfg.server.buffers.count, 0);
  const uint32_t workers = gateway.workers();
  connection_limit_ = (cfg.server.limits.connections + workers - 1) / workers;
  build_clusters();
  build_plans();
}

void Worker::build_clusters() {
  const Config& cfg = *config_;
  const uint32_t workers = gateway_.workers();
  auto share = [workers](uint32_t limit) { return std::max(1u, (limit + workers - 1) / workers); };
  for (size_t i = 0; i < cfg.upstreams.size(); ++i) {
    const UpstreamConfig& u = cfg.upstreams[i];
    auto c = std::make_unique<UpstreamCluster>();
    c->config = &u;
    c->index = static_cast<uint32_t>(i);
    c->shared = gateway_.shared_clusters_[i].get();
    c->endpoints.resize(u.endpoints.size());
    c->endpoint_counters = std::make_unique<EndpointCounters[]>(u.endpoints.size());
    c->views.resize(u.endpoints.size());
    std::vector<std::string> names;
    std::vector<uint32_t> weights;
    for (size_t e = 0; e < u.endpoints.size(); ++e) {
      UpstreamEndpoint& ep = c->endpoints[e];
      ep.authority = u.endpoints[e].address;
      ep.weight = u.endpoints[e].weight;
      ep.shared = &c->shared->endpoints[e];
      ep.counters = &c->endpoint_counters[e];
      sync_endpoint_address(ep);  // resolved by the gateway; refreshed when it re-resolves
      c->views[e].weight = ep.weight;
      names.push_back(ep.authority);
      weights.push_back(ep.weight);
    }
    if (u.balance == BalanceKind::kRingHash) {
      c->table = build_ring_hash(names, weights);
    } else if (u.balance == BalanceKind::kMaglev) {
      c->table = build_maglev(names, weights);
    }
    c->balancer = std::make_unique<Balancer>(balance_policy(u.balance), u.endpoints.size(),
                                             c->table.get(), process_seed() + shard_.index());
    c->max_connections = share(u.circuit.max_connections);
    c->max_pending = share(u.circuit.max_pending);
    c->max_requests = share(u.circuit.max_requests);
    clusters_.push_back(std::move(c));
  }
  response_spans_.resize(cfg.server.limits.headers);
  response_parser_context_.limits = &cfg.server.limits;
  response_parser_context_.scratch_pool = &scratch_pool_;
  response_parser_context_.shared_spans = response_spans_.data();
}

void Worker::build_plans() {
  const Config& cfg = *config_;
  FilterServices services;
  services.config = &cfg;
  services.jwt = jwt_auth_.get();
  services.rate_limiter = rate_limiter_.get();
  services.now_us = &shard_.now_us_ref();
  services.api_key_counters = api_key_counters_.get();
  for (size_t i = 0; i < cfg.api_keys.size(); ++i) {
    services.api_key_tables.push_back(&gateway_.api_key_table(i));
  }
  std::vector<RoutePlan> plans;
  plans.reserve(cfg.routes.size());
  for (const RouteConfig& route : cfg.routes) {
    std::vector<Filter*> chain;
    for (auto& f : build_route_filters(route, services)) {
      chain.push_back(f.get());
      filters_.push_back(std::move(f));
    }
    plans.emplace_back(&route, std::move(chain), make_action(route));
  }
  pipeline_ = std::make_unique<Pipeline>(*router_, std::move(plans));
  for (ListenerSocket& l : listeners_) {
    if (!l.local) {
      continue;
    }
    filters_.push_back(make_local_path_policy());
    actions_.push_back(std::make_unique<LocalAction>(*this, l.local));
    local_plans_.push_back(std::make_unique<RoutePlan>(
        nullptr, std::vector<Filter*>{filters_.back().get()}, actions_.back().get()));
    l.plan = local_plans_.back().get();
  }
}

Action* Worker::make_action(const RouteConfig& route) {
  if (const auto* a = std::get_if<UpstreamAction>(&route.action)) {
    actions_.push_back(
        std::make_unique<ProxyAction>(*this, route, *a, *clusters_[a->cluster_index]));
  } else if (const auto* g = std::get_if<AggregateAction>(&route.action)) {
    auto built = std::make_unique<AggregateRoute>();
    std::string why;
    if (!build_aggregate_route(route, *g, clusters_, built.get(), &why)) {
      // Config validated every path already; a mismatch here is a bug worth stopping for.
      throw ConfigError(route.name + ": " + why);
    }
    actions_.push_back(std::make_unique<AggregateRouteAction>(*this, std::move(built)));
  } else {
    const auto& d = std::get<DirectResponse>(route.action);
    actions_.push_back(std::make_unique<DirectAction>(canned_response(d, server_line_)));
  }
  return actions_.back().get();
}

ProxyCall* Worker::acquire_call() {
  if (!free_calls_) {
    calls_.push_back(std::make_unique<ProxyCall>(*this));
    return calls_.back().get();
  }
  ProxyCall* c = free_calls_;
  free_calls_ = c->next_free;
  c->next_free = nullptr;
  return c;
}

AggregateCall* Worker::acquire_aggregate() {
  if (!free_aggregates_) {
    aggregates_.push_back(std::make_unique<AggregateCall>(*this));
    return aggregates_.back().get();
  }
  AggregateCall* c = free_aggregates_;
  free_aggregates_ = c->next_free;
  c->next_free = nullptr;
  return c;
}

void Worker::release_aggregate(AggregateCall* call) {
  call->next_free = free_aggregates_;
  free_aggregates_ = call;
}

void Worker::release_call(ProxyCall* call) {
  call->next_free = free_calls_;
  free_calls_ = call;
}

void Worker::add_starved(UpstreamConn* u) {
  if (!u->starved) {
    u->starved = true;
    starved_upstreams_.push_back(u);
  }
}

void Worker::retire(UpstreamConn* u) {
  if (u->starved) {
    for (UpstreamConn*& s : starved_upstreams_) {
      if (s == u) {
        s = nullptr;
      }
    }
  }
  dead_upstreams_.push_back(u);
}

Worker::~Worker() {
  for (ListenerSocket& l : listeners_) {
    if (l.fd >= 0) {
      close(l.fd);
    }
  }
  while (connections_) {
    Connection* c = connections_;
    connections_ = c->next;
    delete c;
  }
  for (Connection* c : dead_) {
    delete c;
  }
  for (UpstreamConn* u : dead_upstreams_) {
    delete u;
  }
  for (std::string* body : free_bodies_) {
    delete body;
  }
}

void Worker::run() {
  const Config& cfg = *config_;
  ReactorOptions opts;
  opts.entries = cfg.server.ring_entries;
  opts.buffer_size = cfg.server.buffers.size;
  opts.buffer_count = cfg.server.buffers.count;
  opts.batch_wait_us = cfg.server.batch_wait_us;
  std::string error;
  if (!shard_.init(opts, error)) {
    init_failed_ = true;
    gateway_.worker_ready(false, "shard " + std::to_string(shard_.index()) + ": " + error, "");
    return;
  }
  gateway_.worker_ready(true, "", shard_.reactor().setup_note());
  for (ListenerSocket& l : listeners_) {
    reactor().submit_accept_multishot(l.fd, &l, kOpAccept);
    l.armed = true;
  }
  // Timers capture the worker through a thread-local: one worker per shard thread.
  static thread_local Worker* self;
  self = this;
  drain_timer_.set_callback([](Timer*) {
    self->drain_expired_ = true;
    for (Connection* c = self->connections_; c;) {
      Connection* next = c->next;
      c->abort();
      c = next;
    }
  });
  accept_retry_timer_.set_callback([](Timer*) {
    if (self->draining_) {
      return;
    }
    for (ListenerSocket& l : self->listeners_) {
      if (!l.armed && l.fd >= 0) {
        self->reactor().submit_accept_multishot(l.fd, &l, kOpAccept);
        l.armed = true;
      }
    }
  });
  if (shard_.index() == 0) {
    // Health checks run once per endpoint for the whole process: here, on shard 0.
    for (auto& c : clusters_) {
      if (!c->config->health.enabled) {
        continue;
      }
      for (UpstreamEndpoint& ep : c->endpoints) {
        probes_.push_back(std::make_unique<HealthProbe>(*this, *c, ep));
        probes_.back()->start();
      }
    }
    // JWKS URLs are fetched once for the whole process, here too.
    for (size_t i = 0; i < config_->jwt_issuers.size(); ++i) {
      if (!config_->jwt_issuers[i].jwks_url.empty()) {
        jwks_fetchers_.push_back(
            std::make_unique<JwksFetcher>(*this, config_->jwt_issuers[i], gateway_.jwt_source(i)));
        jwks_fetchers_.back()->start();
      }
    }
  }
  if (redis_) {
    shard_.refresh_clock();  // the link's deadlines count from now
    redis_->start();
  }
  if (gateway_.stopping()) {
    begin_drain();
  }
  shard_.run(*this);
  reactor().flush();  // the last closes
  gateway_.worker_exited(!drain_expired_);
}

void Worker::on_accept(ListenerSocket& l, int res, uint32_t flags) {
  if (res < 0) {
    if (res == -ECANCELED || draining_) {
      if (!l.armed && l.fd >= 0) {
        close(l.fd);
        l.fd = -1;
      }
      return;
    }
    // EMFILE/ENFILE/ENOMEM: the multishot accept ended; retry shortly instead of spinning.
    if (!l.armed) {
      shard_.timers().arm(accept_retry_timer_, shard_.now_ms() + kAcceptRetryMs);
    }
    return;
  }
  if (draining_) {
    close(res);
  } else if (!l.local && connection_count_ >= connection_limit_) {
    bump(counters_.connections_rejected);
    close(res);
  } else {
    auto* c = new Connection(*this, res, l.plan);
    c->next = connections_;
    if (connections_) {
      connections_->prev = c;
    }
    connections_ = c;
    if (!l.local) {
      ++connection_count_;
    }
    ShardCounters& counters = l.local ? admin_counters_ : counters_;
    bump(counters.connections_total);
    bump(counters.connections_active);
    c->start();
  }
  if (!l.armed && !draining_ && !cqe_more(flags)) {
    reactor().submit_accept_multishot(l.fd, &l, kOpAccept);
    l.armed = true;
  }
}

void Worker::retire(Connection* c) {
  if (c->prev) {
    c->prev->next = c->next;
  } else {
    connections_ = c->next;
  }
  if (c->next) {
    c->next->prev = c->prev;
  }
  c->prev = c->next = nullptr;
  if (!c->local()) {
    --connection_count_;
  }
  drop(c->counters().connections_active);
  if (c->starved) {
    for (Connection*& s : starved_) {
      if (s == c) {
        s = nullptr;
      }
    }
  }
  dead_.push_back(c);
}

void Worker::add_starved(Connection* c) {
  if (!c->starved) {
    c->starved = true;
    starved_.push_back(c);
  }
}

OutBuffer* Worker::acquire_out() {
  auto* o = static_cast<OutBuffer*>(out_pool_.acquire());
  o->reset();
  return o;
}

void Worker::release_out(OutBuffer* out) {
  if (out->owned) {
    release_body(out->owned);
    out->owned = nullptr;
  }
  out_pool_.release(out);
}

std::string* Worker::acquire_body() {
  if (free_bodies_.empty()) {
    return new std::string();
  }
  std::string* body = free_bodies_.back();
  free_bodies_.pop_back();
  return body;
}

void Worker::release_body(std::string* body) {
  if (free_bodies_.size() >= kMaxFreeBodies || body->capacity() > kMaxKeptBodyCapacity) {
    delete body;
    return;
  }
  body->clear();
  free_bodies_.push_back(body);
}

void Worker::on_wake() {
  if (gateway_.stopping() && !draining_) {
    begin_drain();
  }
}

void Worker::begin_drain() {
  draining_ = true;
  close_listeners();
  for (Connection* c = connections_; c;) {
    Connection* next = c->next;
    c->begin_drain();
    c = next;
  }
  for (auto& p : probes_) {
    p->stop();
  }
  for (auto& f : jwks_fetchers_) {
    f->stop();
  }
  // Idle upstream connections are closed now; busy ones when their response is done.
  for (auto& c : clusters_) {
    for (UpstreamEndpoint& ep : c->endpoints) {
      while (ep.idle) {
        ep.idle->close();
      }
    }
  }
  shard_.timers().arm(
      drain_timer_, shard_.now_ms() + static_cast<uint64_t>(config_->server.drain_timeout.count()));
}

void Worker::close_listeners() {
  shard_.timers().disarm(accept_retry_timer_);
  for (ListenerSocket& l : listeners_) {
    if (l.armed) {
      reactor().submit_cancel(&l, kOpAccept);  // the fd is closed on the final CQE
    } else if (l.fd >= 0) {
      close(l.fd);
      l.fd = -1;
    }
  }
}

void Worker::end_of_iteration() {
  // Batch only under concurrency: wait for about half the open connections' worth of completions
  // (bounded). With few connections a lone request is never held back.
  reactor().set_batch_target(connection_count_ < 4 ? 1 : std::min(connection_count_ / 2, 64u));
  if (!starved_upstreams_.empty() && reactor().buffers_out() < reactor().buffer_count()) {
    std::vector<UpstreamConn*> starved;
    starved.swap(starved_upstreams_);
    for (UpstreamConn* u : starved) {
      if (u) {
        u->resume_receive();
      }
    }
  }
  if (!starved_.empty() && reactor().buffers_out() < reactor().buffer_count()) {
    std::vector<Connection*> starved;
    starved.swap(starved_);
    for (Connection* c : starved) {
      if (c) {
        c->resume_receive();
      }
    }
  }
  for (Connection* c : dead_) {
    if (c->out_) {
      release_out(c->out_);
      c->out_ = nullptr;
    }
    reactor().submit_close(c->fd_);
    delete c;
  }
  dead_.clear();
  for (UpstreamConn* u : dead_upstreams_) {
    reactor().submit_close(u->fd_);
    delete u;
    --upstream_open_;
  }
  dead_upstreams_.clear();
}

bool Worker::finished() {
  if (init_failed_) {
    return true;
  }
  if (!draining_) {
    return false;
  }
  for (const ListenerSocket& l : listeners_) {
    if (l.armed) {
      return false;
    }
  }
  for (const auto& f : jwks_fetchers_) {
    if (!f->idle()) {
      return false;
    }
  }
  for (const auto& p : probes_) {
    if (!p->idle()) {
      return false;
    }
  }
  if (connections_ != nullptr || !dead_.empty() || upstream_open_ != 0) {
    return false;
  }
  if (redis_) {
    // Kept up while connections drain (their requests may wait for a lease); closed last.
    redis_->stop();
    return redis_->idle();
  }
  return true;
}

}  // namespace ringgate
