#include "worker.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <ctime>
#include <string_view>

#include "ringgate/core/allocator.h"
#include "ringgate/http/actions.h"
#include "ringgate/http/response.h"
#include "ringgate/upstream/proxy_action.h"

namespace ringgate {

namespace {
constexpr unsigned kOpAccept = 1;
constexpr uint64_t kAcceptRetryMs = 100;
constexpr uint64_t kTrimPeriodMs = 1000;

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
  if (r.head.size() + DateCache::kLineLength + 2 + r.body.size() <= CannedResponse::kWholeMax) {
    r.date_at = r.head.size();
    r.whole = r.head;
    r.whole.append(DateCache::kLineLength, '?');  // not a date: a line left unwritten shows
    r.whole += "\r\n";
    r.whole += r.body;
  }
  return r;
}

uint32_t share(uint32_t limit, unsigned shards) {
  return (limit + shards - 1) / shards;
}

uint64_t open_file_limit() {
  rlimit nofile{};
  return getrlimit(RLIMIT_NOFILE, &nofile) == 0 ? nofile.rlim_cur : 1024;
}

// The memory limit of the process's cgroup (v2), 0 when there is none.
uint64_t cgroup_memory_limit() {
  FILE* f = fopen("/sys/fs/cgroup/memory.max", "r");
  if (!f) {
    return 0;
  }
  unsigned long long limit = 0;
  const bool number = fscanf(f, "%llu", &limit) == 1;  // "max" when unlimited
  fclose(f);
  return number ? limit : 0;
}

// aggregate.max_calls_in_flight for one shard: as given, or sized to the open-file limit.
uint32_t aggregate_budget(const Config& config, unsigned shards) {
  if (config.aggregate.max_calls_in_flight != 0) {
    return config.aggregate.max_calls_in_flight;
  }
  return aggregate_calls_auto(open_file_limit(), config.server.limits.connections, shards);
}

// server.buffers.count for one shard: as given, or sized to its share of the connections.
uint32_t buffer_count(const Config& config, unsigned shards) {
  return config.server.buffers.count
             ? config.server.buffers.count
             : buffer_count_auto(share(config.server.limits.connections, shards));
}

// Slots of the shard's registered file table: its share of the client connections, as many
// upstream connections again (a pool connection per client at most, in steady state), and room
// for fan-out; within the open-file limit, which the kernel holds a table to. A socket beyond
// them goes by descriptor.
uint32_t file_slots(const Config& config, unsigned shards) {
  const uint64_t want = uint64_t{2} * share(config.server.limits.connections, shards) + 1024;
  return static_cast<uint32_t>(std::min<uint64_t>(want, open_file_limit()));
}

// `percent` of `total`, rounded up (a mark of 0 would shed at once).
uint64_t percent_of(uint64_t total, uint64_t percent) {
  return std::max<uint64_t>(1, (total * percent + 99) / 100);
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
      chains_(shard_.reactor(), buffer_count(*config_, gateway.workers())),
      http_(shard_, *config_, chains_, counters,
            share(config_->server.limits.connections, gateway.workers())),
      upstream_(shard_, *config_, chains_, gateway.shared_cluster_pointers(), gateway.workers()),
      aggregate_(upstream_, http_, aggregate_budget(*config_, gateway.workers()),
                 static_cast<uint64_t>(config_->aggregate.queue_timeout.count())) {
  const Config& cfg = *config_;
  // Access lines: 4 × 64 KiB per shard (a burst of ~800 lines before any is dropped); error
  // lines: 2 × 16 KiB.
  if (gateway.access_output_ >= 0) {
    access_log_ =
        gateway.log_writer_.stream(static_cast<unsigned>(gateway.access_output_), 4, 64 * 1024);
  }
  error_log_ =
      gateway.log_writer_.stream(static_cast<unsigned>(gateway.error_output_), 2, 16 * 1024);
  request_log_ = std::make_unique<RequestLog>(cfg.logging, access_log_.get(), error_log_.get(),
                                              shard_.timers(), shard_.now_ms_ref(), index);
  http_.set_request_log(request_log_.get());
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
  jwt_auth_ = std::make_unique<ShardJwtAuth>(cfg, gateway.jwt_source_pointers(), &shard_.timers(),
                                             &shard_.now_ms_ref());
  api_key_counters_ = std::make_unique<ApiKeyCounters[]>(cfg.api_keys.size());
  listeners_.resize(listen_fds.size());
  for (size_t i = 0; i < listen_fds.size(); ++i) {
    listeners_[i].worker = this;
    listeners_[i].fd = listen_fds[i];
    listeners_[i].local = listen_local[i];
    // The client listeners come first, in the order of server.listen.
    if (i < cfg.server.listen.size()) {
      listeners_[i].tls = cfg.server.listen[i].tls.get();
    }
  }
  build_plans();
  // This shard's share of the overload budgets: shed at 95%, resume under 90%.
  const unsigned shards = gateway.workers();
  const uint64_t memory =
      (cfg.overload.memory ? cfg.overload.memory
                           : overload_memory_auto(static_cast<uint64_t>(sysconf(_SC_PHYS_PAGES)) *
                                                      static_cast<uint64_t>(sysconf(_SC_PAGESIZE)),
                                                  cgroup_memory_limit())) /
      shards;
  const uint64_t fds =
      (cfg.overload.fds ? cfg.overload.fds : overload_fds_auto(open_file_limit())) / shards;
  overload_ = {percent_of(memory, 95), percent_of(memory, 90), percent_of(fds, 95),
               percent_of(fds, 90)};
  bump(http_.counters().overload_memory_budget, memory);
  bump(http_.counters().overload_fds_budget, fds);
}

Worker::~Worker() {
  for (ListenerSocket& l : listeners_) {
    if (l.fd >= 0) {
      close(l.fd);
    }
  }
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
  for (size_t i = 0; i < cfg.caches.size(); ++i) {
    services.caches.push_back(gateway_.cache(i));
  }
  services.shard_index = shard_.index();
  aggregate_.set_caches(services.caches, shard_.index());
  services.timers = &shard_.timers();
  if (!fetcher_) {
    fetcher_ = make_background_fetcher(upstream_);
  }
  services.fetcher = fetcher_.get();
  std::vector<RoutePlan> plans;
  plans.reserve(cfg.routes.size());
  for (const RouteConfig& route : cfg.routes) {
    std::vector<Filter*> chain;
    for (auto& f : build_route_filters(route, services)) {
      chain.push_back(f.get());
      filters_.push_back(std::move(f));
    }
    actions_.push_back(make_action(route));
    plans.emplace_back(&route, std::move(chain), actions_.back().get());
  }
  http_.set_pipeline(std::make_unique<Pipeline>(*router_, std::move(plans)));
  for (ListenerSocket& l : listeners_) {
    if (!l.local) {
      continue;
    }
    filters_.push_back(make_local_path_policy());
    actions_.push_back(make_local_action(http_, l.local));
    local_plans_.push_back(std::make_unique<RoutePlan>(
        nullptr, std::vector<Filter*>{filters_.back().get()}, actions_.back().get()));
    l.plan = local_plans_.back().get();
  }
}

std::unique_ptr<Action> Worker::make_action(const RouteConfig& route) {
  if (const auto* proxy = std::get_if<UpstreamAction>(&route.action)) {
    return make_proxy_action(upstream_, route, *proxy);
  }
  if (const auto* aggregate = std::get_if<AggregateAction>(&route.action)) {
    return aggregate_.make_action(route, *aggregate);
  }
  return make_direct_action(
      canned_response(std::get<DirectResponse>(route.action), http_.server_line()));
}

void Worker::start_shard0_tasks() {
  // Health checks run once per endpoint for the whole process: here, on shard 0.
  for (const auto& c : upstream_.clusters()) {
    if (!c->config->health.enabled) {
      continue;
    }
    for (UpstreamEndpoint& ep : c->endpoints) {
      probes_.push_back(std::make_unique<HealthProbe>(upstream_, *c, ep));
      probes_.back()->start();
    }
  }
  // JWKS URLs are fetched once for the whole process, here too.
  for (size_t i = 0; i < config_->jwt_issuers.size(); ++i) {
    if (!config_->jwt_issuers[i].jwks_url.empty()) {
      jwks_fetchers_.push_back(std::make_unique<JwksFetcher>(upstream_, config_->jwt_issuers[i],
                                                             gateway_.jwt_source(i)));
      jwks_fetchers_.back()->start();
    }
  }
}

void Worker::run() {
  RequestLog::set_current(request_log_.get());  // this thread's shard
  const Config& cfg = *config_;
  ReactorOptions opts;
  opts.entries = cfg.server.ring_entries;
  opts.buffer_size = cfg.server.buffers.size;
  opts.buffer_count = buffer_count(cfg, gateway_.workers());
  opts.batch_wait_us = cfg.server.batch_wait_us;
  opts.batch_wait_auto = cfg.server.batch_wait_auto;
  opts.file_slots = file_slots(cfg, gateway_.workers());
  std::string error;
  if (!shard_.init(opts, error)) {
    init_failed_ = true;
    gateway_.worker_ready(false, "shard " + std::to_string(shard_.index()) + ": " + error, "");
    return;
  }
  gateway_.worker_ready(true, "", shard_.reactor().setup_note());
  batching_ = reactor().batch_first();
  if (cfg.server.batch_wait_auto && reactor().batch_wait_us() > 0) {
    batch_tuner_.emplace(batching_);
  }
  for (ListenerSocket& l : listeners_) {
    reactor().submit_accept_multishot(l.fd, &l, kOpAccept);
    l.armed = true;
  }
  // Timers capture the worker through a thread-local: one worker per shard thread.
  static thread_local Worker* self;
  self = this;
  drain_timer_.set_callback([](Timer*) {
    self->drain_expired_ = true;
    self->http_.abort_all();
  });
  accept_retry_timer_.set_callback([](Timer*) {
    if (self->draining_) {
      return;
    }
    for (ListenerSocket& l : self->listeners_) {
      if (!l.armed && !l.paused && l.fd >= 0) {
        self->reactor().submit_accept_multishot(l.fd, &l, kOpAccept);
        l.armed = true;
      }
    }
  });
  trim_timer_.set_callback([](Timer* t) {
    self->http_.trim_pools();
    self->upstream_.trim_pools();
    self->reactor().trim_buffers();
    if (self->http_.busy_connections() == 0) {
      release_free_memory();  // quiet: what a burst freed goes back to the system
    }
    self->shard_.timers().arm(*t, self->shard_.now_ms() + kTrimPeriodMs);
  });
  shard_.timers().arm(trim_timer_, shard_.now_ms() + kTrimPeriodMs);
  if (shard_.index() == 0) {
    start_shard0_tasks();
  }
  if (redis_) {
    shard_.refresh_clock();  // the link's deadlines count from now
    redis_->start();
  }
  if (gateway_.stopping()) {
    begin_drain();
  }
  shard_.run(*this);
  reactor().flush();      // the last closes
  request_log_->flush();  // the writer writes it before the process exits
  gateway_.worker_exited(!drain_expired_);
}

void Worker::on_accept(ListenerSocket& l, int res, uint32_t flags) {
  if (res < 0) {
    if (draining_) {
      if (!l.armed && l.fd >= 0) {
        sweep_accept_queue(l);
        close(l.fd);
        l.fd = -1;
      }
      return;
    }
    if (res == -ECANCELED) {
      // The pause's cancel landed. If the shard went below the mark before it did, accepting
      // resumes now.
      if (!l.paused && !l.armed && l.fd >= 0) {
        reactor().submit_accept_multishot(l.fd, &l, kOpAccept);
        l.armed = true;
      }
      return;
    }
    // EMFILE/ENFILE/ENOMEM: the multishot accept ended; retry shortly instead of spinning.
    if (!l.armed) {
      shard_.timers().arm(accept_retry_timer_, shard_.now_ms() + kAcceptRetryMs);
    }
    return;
  }
  // A connection accepted after the drain began (its completion was posted before the cancel
  // landed) is served like the others, its answer with Connection: close: its client connected
  // while this process listened, and after a handover the successor never sees it.
  if (!http_.accept(res, l.plan, l.tls)) {
    http_.refuse(res, l.tls == nullptr);
  }
  if (!l.plan && !draining_ && http_.at_connection_limit()) {
    pause_accepting(PauseCause::kConnectionLimit);
  } else if (!l.plan && !draining_ && http_.shedding()) {
    pause_accepting(PauseCause::kOverload);
  }
  if (!l.armed && !l.paused && !draining_ && !cqe_more(flags)) {
    reactor().submit_accept_multishot(l.fd, &l, kOpAccept);
    l.armed = true;
  }
}

void Worker::adopt(int fd, size_t listener, std::unique_ptr<TlsSession> tls) {
  if (std::string_view(reactor().backend_name()) == "io_uring") {
    // A predecessor on epoll left the socket non-blocking; io_uring would then fail a receive
    // with EAGAIN instead of waiting for data.
    const int flags = fcntl(fd, F_GETFL);
    if (flags >= 0 && (flags & O_NONBLOCK)) {
      fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
    }
  }
  ListenerSocket& l = listeners_[listener];
  bump(http_.counters().connections_adopted);
  if (!http_.accept(fd, l.plan, l.tls, std::move(tls))) {
    http_.refuse(fd, l.tls == nullptr);
  }
}

void Worker::adopt_upstream(int fd, const std::string& cluster, const std::string& endpoint,
                            std::unique_ptr<TlsSession> tls) {
  upstream_.adopt(fd, cluster, endpoint, std::move(tls));
}

void Worker::sweep_accept_queue(ListenerSocket& l) {
  // io_uring polls a listener exclusively: a connection's wake-up goes to one waiter. When it
  // went to this shard's accept just as the cancel took it away, nobody accepted the connection,
  // and a successor listening on the same socket (a reload) was never told: it would wait in the
  // queue until the next connection came. What is queued now is taken here and served, as
  // connections accepted during the drain are. The socket is shared with that successor, so it
  // is not made non-blocking (its io_uring accept would then fail instead of waiting): a 1 ms
  // receive timeout ends the blocking accept on an empty queue.
  timeval brief{0, 1000};
  setsockopt(l.fd, SOL_SOCKET, SO_RCVTIMEO, &brief, sizeof brief);
  for (int i = 0; i < 1024; ++i) {
    const int fd = accept4(l.fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      break;
    }
    if (!http_.accept(fd, l.plan, l.tls)) {
      http_.refuse(fd, l.tls == nullptr);
    }
  }
}

void Worker::on_wake() {
  if (gateway_.stopping() && !draining_) {
    begin_drain();
  }
  // A JWKS fetch ended while this shard had requests waiting for it; on shard 0, a shard may
  // want a fetch (JwtKeySource). Both are a few atomic loads when nothing changed.
  jwt_auth_->keys_changed();
  for (auto& f : jwks_fetchers_) {
    f->poke();
  }
}

void Worker::begin_drain() {
  draining_ = true;
  http_.set_successor(gateway_.successor());
  close_listeners();
  http_.begin_drain();
  for (auto& p : probes_) {
    p->stop();
  }
  for (auto& f : jwks_fetchers_) {
    f->stop();
  }
  upstream_.begin_drain(gateway_.successor());
  shard_.timers().arm(
      drain_timer_, shard_.now_ms() + static_cast<uint64_t>(config_->server.drain_timeout.count()));
}

void Worker::close_listeners() {
  shard_.timers().disarm(accept_retry_timer_);
  shard_.timers().disarm(trim_timer_);
  for (ListenerSocket& l : listeners_) {
    if (l.armed) {
      reactor().submit_cancel(&l, kOpAccept);  // the fd is closed on the final CQE
    } else if (l.fd >= 0) {
      close(l.fd);
      l.fd = -1;
    }
  }
}

void Worker::pause_accepting(PauseCause cause) {
  if (accept_paused_) {
    return;
  }
  accept_paused_ = true;
  if (cause == PauseCause::kConnectionLimit) {
    bump(http_.counters().accept_pauses);  // an overload pause is counted as a shed
  }
  for (ListenerSocket& l : listeners_) {
    if (!l.plan && l.fd >= 0) {
      l.paused = true;
      if (l.armed) {
        reactor().submit_cancel(&l, kOpAccept);  // its last completion is -ECANCELED
      }
    }
  }
}

void Worker::resume_accepting() {
  accept_paused_ = false;
  for (ListenerSocket& l : listeners_) {
    if (l.paused) {
      l.paused = false;
      if (!l.armed && l.fd >= 0) {
        reactor().submit_accept_multishot(l.fd, &l, kOpAccept);
        l.armed = true;
      }
    }
  }
}

void Worker::check_overload() {
  // Receive buffers held by connections (client and upstream) count with the pools.
  const uint64_t memory = http_.memory_held() + upstream_.memory_held() + aggregate_.bytes_held() +
                          uint64_t{reactor().buffers_out()} * reactor().buffer_size();
  const uint64_t fds = uint64_t{http_.client_connections()} + upstream_.open_connections();
  ShardCounters& c = http_.counters();
  c.overload_memory.store(memory, std::memory_order_relaxed);
  c.overload_fds.store(fds, std::memory_order_relaxed);
  if (!http_.shedding() && (memory >= overload_.shed_memory || fds >= overload_.shed_fds)) {
    http_.set_shedding(true);
    bump(c.overload_sheds);
    bump(c.overload_shedding);
    if (!draining_) {
      pause_accepting(PauseCause::kOverload);
    }
  } else if (http_.shedding() && memory < overload_.resume_memory && fds < overload_.resume_fds) {
    http_.set_shedding(false);
    drop(c.overload_shedding);
  }
}

void Worker::tune_batching(uint64_t now_ms, bool busy) {
  ++window_ticks_;
  window_busy_ticks_ += busy;
  if (now_ms < window_end_ms_) {
    return;
  }
  ShardCounters& c = http_.counters();
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  const uint64_t cpu_ns = uint64_t(ts.tv_sec) * 1000000000u + uint64_t(ts.tv_nsec);
  const uint64_t requests = c.requests_1xx.load(std::memory_order_relaxed) +
                            c.requests_2xx.load(std::memory_order_relaxed) +
                            c.requests_3xx.load(std::memory_order_relaxed) +
                            c.requests_4xx.load(std::memory_order_relaxed) +
                            c.requests_5xx.load(std::memory_order_relaxed);
  BatchTuner& tuner = *batch_tuner_;
  const uint32_t window_ms = tuner.options().window_ms;
  if (window_end_ms_ != 0) {
    // Busy at most of the milliseconds the loop ran in (a shard short of CPU runs in fewer of
    // them; an idle one wakes in a few, and answers too few requests to count).
    const bool busy_window = window_busy_ticks_ * 2 >= window_ticks_;
    if (tuner.window(cpu_ns - window_cpu_ns_, requests - window_requests_, busy_window)) {
      const BatchTuner::Probe& p = tuner.last_probe();
      c.batch_probes.store(tuner.probes(), std::memory_order_relaxed);
      c.batch_switches.store(tuner.switches(), std::memory_order_relaxed);
      // A change at info, a probe that kept the setting at debug.
      const LogLevel level = p.switched ? LogLevel::kInfo : LogLevel::kDebug;
      if (request_log_->wants(level)) {
        char text[200];
        std::snprintf(text, sizeof text,
                      "shard %u: batch_wait auto: %.2f us of CPU per request batched, %.2f us "
                      "not: %s",
                      shard_.index(), p.batched_ns / 1000, p.unbatched_ns / 1000,
                      p.switched ? (tuner.settled() ? "batching from now on" : "batching stops")
                                 : (tuner.settled() ? "batching goes on" : "still not batching"));
        request_log_->event(level, text);
      }
    }
    batching_ = tuner.batching();
  }
  window_end_ms_ = now_ms + window_ms;
  window_cpu_ns_ = cpu_ns;
  window_requests_ = requests;
  window_ticks_ = 0;
  window_busy_ticks_ = 0;
}

int Worker::end_of_iteration() {
  // The overload check and the gauges once per millisecond: a shard that wakes for a few
  // requests at a time loops tens of thousands of times a second, and what these read (the
  // pools, the ring's counts) is cold by then. Put off, they bound the next sleep to 1 ms.
  const uint64_t now = shard_.now_ms();
  const bool bookkeep = now != bookkept_ms_;
  if (bookkeep) {
    bookkept_ms_ = now;
    check_overload();
  }
  if (accept_paused_ && !draining_ && http_.below_resume_mark() && !http_.shedding()) {
    resume_accepting();
  }
  // Batch only under concurrency: wait for about half the busy connections' worth of completions
  // (bounded). With few busy connections a lone request is never held back, however many others
  // are open and quiet (idle keep-alive, slow or silent clients).
  const uint32_t busy = http_.busy_connections();
  const bool can_batch = busy >= 4;
  if (bookkeep && batch_tuner_) {
    tune_batching(now, can_batch);
  }
  reactor().set_batch_target(can_batch && batching_ ? std::min(busy / 2, 64u) : 1);
  if (bookkeep) {
    ShardCounters& c = http_.counters();
    c.batching_shards.store(batching_, std::memory_order_relaxed);
    c.batched_waits.store(reactor().batched_waits(), std::memory_order_relaxed);
    c.registered_sockets.store(reactor().registered_fds(), std::memory_order_relaxed);
    c.receive_buffer_bytes.store(reactor().buffer_bytes_resident(), std::memory_order_relaxed);
    c.unregistered_sockets.store(reactor().unregistered_fds(), std::memory_order_relaxed);
  }
  upstream_.end_of_iteration();
  http_.end_of_iteration();
  return bookkeep ? -1 : 1;
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
  if (!http_.idle() || !upstream_.idle()) {
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
