#include "ringgate/server/gateway.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>

#include "ringgate/core/clock.h"
#include "ringgate/core/histogram.h"
#include "ringgate/core/shard.h"
#include "ringgate/filters/auth_jwt.h"
#include "ringgate/filters/rate_limit.h"
#include "ringgate/net/listener.h"
#include "worker.h"

namespace ringgate {

// One API-key set as it is now: the table in use, the ones kept for shards that may still read
// them, and what the file looked like when it was last read.
struct ApiKeySource {
  const ApiKeyConfig* config = nullptr;
  std::atomic<const ApiKeyTable*> current{nullptr};
  std::deque<std::shared_ptr<const ApiKeyTable>> kept;  // newest last; at most 3
  struct timespec mtime {};
  off_t size = 0;
  uint64_t next_ms = 0;
};

Gateway::Gateway(std::shared_ptr<const Config> config) : config_(std::move(config)) {}

std::vector<JwtKeySource*> Gateway::jwt_source_pointers() const {
  std::vector<JwtKeySource*> out;
  for (const auto& s : jwt_sources_) {
    out.push_back(s.get());
  }
  return out;
}

std::vector<SharedCluster*> Gateway::shared_cluster_pointers() const {
  std::vector<SharedCluster*> out;
  for (const auto& c : shared_clusters_) {
    out.push_back(c.get());
  }
  return out;
}

const std::atomic<const ApiKeyTable*>& Gateway::api_key_table(size_t index) const {
  return api_key_sources_[index]->current;
}

void Gateway::watch_api_keys() {
  std::unique_lock<std::mutex> lock(dns_mutex_);
  while (!stopping()) {
    uint64_t next = UINT64_MAX;
    const uint64_t now = monotonic_ms();
    for (auto& src : api_key_sources_) {
      const ApiKeyConfig& cfg = *src->config;
      if (cfg.reload_interval.count() == 0) {
        continue;
      }
      if (src->next_ms <= now) {
        src->next_ms = now + static_cast<uint64_t>(cfg.reload_interval.count());
        struct stat st {};
        if (stat(cfg.file.c_str(), &st) != 0) {
          fprintf(stderr, "ringgate: api_keys %s: %s: %s; the keys in use stay\n", cfg.name.c_str(),
                  cfg.file.c_str(), strerror(errno));
        } else if (st.st_mtim.tv_sec != src->mtime.tv_sec ||
                   st.st_mtim.tv_nsec != src->mtime.tv_nsec || st.st_size != src->size) {
          src->mtime = st.st_mtim;
          src->size = st.st_size;
          std::string text;
          FILE* f = fopen(cfg.file.c_str(), "rb");
          char buf[8192];
          size_t n;
          while (f && (n = fread(buf, 1, sizeof buf, f)) > 0) {
            text.append(buf, n);
          }
          if (f) {
            fclose(f);
          }
          auto table = std::make_shared<ApiKeyTable>();
          std::string why;
          if (!f || !ApiKeyTable::parse(text, table.get(), &why)) {
            fprintf(stderr, "ringgate: api_keys %s: %s: %s; the keys in use stay\n",
                    cfg.name.c_str(), cfg.file.c_str(), f ? why.c_str() : strerror(errno));
          } else {
            src->kept.push_back(table);
            src->current.store(table.get(), std::memory_order_release);
            while (src->kept.size() > 3) {
              src->kept.pop_front();
            }
            fprintf(stderr, "ringgate: api_keys %s: %zu keys loaded from %s\n", cfg.name.c_str(),
                    table->size(), cfg.file.c_str());
          }
        }
      }
      next = std::min(next, src->next_ms);
    }
    if (next == UINT64_MAX) {
      return;
    }
    dns_wake_.wait_for(lock, std::chrono::milliseconds(next - std::min(next, monotonic_ms())),
                       [this] { return stopping(); });
  }
}

void Gateway::add_local_service(std::string name, const SocketAddress& address,
                                AdminHandler handler) {
  local_services_.push_back(LocalService{std::move(name), address, std::move(handler)});
}

Gateway::~Gateway() {
  request_stop();
  for (std::thread& t : threads_) {
    if (t.joinable()) {
      t.join();
    }
  }
  stop_dns();
}

void Gateway::publish_addresses() {
  const Config& cfg = *config_;
  const uint64_t now = monotonic_ms();
  for (size_t c = 0; c < cfg.upstreams.size(); ++c) {
    const UpstreamConfig& u = cfg.upstreams[c];
    for (size_t e = 0; e < u.endpoints.size(); ++e) {
      const std::string& text = u.endpoints[e].address;
      if (is_numeric_address(text)) {
        auto a = std::make_unique<SocketAddress>();
        parse_socket_address(text, *a);
        shared_clusters_[c]->endpoints[e].address.store(a.get(), std::memory_order_release);
        addresses_.push_back(std::move(a));
        continue;
      }
      NamedEndpoint n{c, e, UINT64_MAX, false};
      resolve_named(n);
      if (u.dns_refresh.count() > 0) {
        n.next_ms = now + static_cast<uint64_t>(u.dns_refresh.count());
      }
      named_.push_back(n);
    }
  }
}

bool Gateway::resolve_named(NamedEndpoint& n) {
  const UpstreamConfig& u = config_->upstreams[n.cluster];
  const std::string& name = u.endpoints[n.endpoint].address;
  SharedEndpoint& shared = shared_clusters_[n.cluster]->endpoints[n.endpoint];
  SocketAddress resolved;
  std::string error;
  if (!resolve_socket_address(name, resolved, &error, config_->server.hosts_file)) {
    // The last good address (if any) stays in use.
    shared_clusters_[n.cluster]->dns_failures.fetch_add(1, std::memory_order_relaxed);
    if (!n.failing) {
      fprintf(stderr, "ringgate: upstream %s: endpoint %s: %s\n", u.name.c_str(), name.c_str(),
              error.c_str());
    }
    n.failing = true;
    return false;
  }
  n.failing = false;
  const SocketAddress* current = shared.address.load(std::memory_order_acquire);
  if (current && current->length == resolved.length &&
      std::memcmp(&current->storage, &resolved.storage, resolved.length) == 0) {
    return true;
  }
  if (current) {
    fprintf(stderr, "ringgate: upstream %s: endpoint %s now resolves to %s (was %s)\n",
            u.name.c_str(), name.c_str(), resolved.to_string().c_str(),
            current->to_string().c_str());
  }
  addresses_.push_back(std::make_unique<SocketAddress>(resolved));
  shared.address.store(addresses_.back().get(), std::memory_order_release);
  return true;
}

void Gateway::dns_loop() {
  std::unique_lock<std::mutex> lock(dns_mutex_);
  while (!stopping()) {
    uint64_t next = UINT64_MAX;
    const uint64_t now = monotonic_ms();
    for (NamedEndpoint& n : named_) {
      if (n.next_ms <= now) {
        resolve_named(n);  // blocking lookups happen here, never on a shard
        n.next_ms = now + static_cast<uint64_t>(config_->upstreams[n.cluster].dns_refresh.count());
      }
      next = std::min(next, n.next_ms);
    }
    dns_wake_.wait_for(lock, std::chrono::milliseconds(next - std::min(next, monotonic_ms())),
                       [this] { return stopping(); });
  }
}

void Gateway::stop_dns() {
  { std::lock_guard<std::mutex> lock(dns_mutex_); }
  dns_wake_.notify_all();
  if (dns_thread_.joinable()) {
    dns_thread_.join();
  }
  if (watch_thread_.joinable()) {
    watch_thread_.join();
  }
}

bool Gateway::start(std::string& error) {
  const ServerConfig& server = config_->server;
  unsigned n = server.workers;
  if (n == 0) {
    n = std::thread::hardware_concurrency();
    if (n == 0) {
      n = 1;
    }
  }
  // Allowed CPUs, in order, for pinning.
  std::vector<int> cpus;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    for (int c = 0; c < CPU_SETSIZE; ++c) {
      if (CPU_ISSET(c, &set)) {
        cpus.push_back(c);
      }
    }
  }

  // Bind in the main thread so "address in use" is a start-up error. Port 0: the first shard's
  // socket picks the port, the others bind the same one (SO_REUSEPORT).
  std::vector<SocketAddress> specs;
  for (const ListenConfig& l : server.listen) {
    SocketAddress a;
    std::string why;
    if (!parse_socket_address(l.address, a, &why)) {
      error = "listen " + l.address + ": " + why;
      return false;
    }
    specs.push_back(a);
  }
  std::vector<std::vector<int>> fds(n);
  // Per listener socket: the handler of a local one (admin, services), nullptr for clients.
  std::vector<std::vector<const AdminHandler*>> handlers(n);
  auto close_all = [&] {
    for (auto& v : fds) {
      for (int fd : v) {
        close(fd);
      }
    }
  };
  for (const SocketAddress& spec : specs) {
    SocketAddress addr = spec;
    for (unsigned i = 0; i < n; ++i) {
      SocketAddress bound;
      int fd = open_listener(addr, static_cast<int>(server.backlog), error, &bound);
      if (fd < 0) {
        close_all();
        return false;
      }
      if (i == 0) {
        addr = bound;
        bound_.push_back(BoundListener{bound, false, ""});
      }
      fds[i].push_back(fd);
      handlers[i].push_back(nullptr);
    }
  }
  if (config_->admin.enabled) {
    // The admin listener lives on shard 0 only: it is not on the request path.
    SocketAddress addr;
    std::string why;
    if (!parse_socket_address(config_->admin.listen, addr, &why)) {
      close_all();
      error = "admin.listen " + config_->admin.listen + ": " + why;
      return false;
    }
    SocketAddress bound;
    int fd = open_listener(addr, 128, error, &bound);
    if (fd < 0) {
      close_all();
      error = "admin: " + error;
      return false;
    }
    fds[0].push_back(fd);
    handlers[0].push_back(&admin_handler_);
    bound_.push_back(BoundListener{bound, true, "admin"});
  }
  // Local services live on shard 0 only, as the admin listener does.
  for (const LocalService& service : local_services_) {
    SocketAddress bound;
    int fd = open_listener(service.address, 128, error, &bound);
    if (fd < 0) {
      close_all();
      error = service.name + ": " + error;
      return false;
    }
    fds[0].push_back(fd);
    handlers[0].push_back(&service.handler);
    bound_.push_back(BoundListener{bound, false, service.name});
  }

  for (unsigned i = 0; i < n; ++i) {
    counters_.push_back(std::make_unique<ShardCounters>());
  }
  for (const UpstreamConfig& u : config_->upstreams) {
    shared_clusters_.push_back(std::make_unique<SharedCluster>(u.endpoints.size()));
  }
  rate_limits_ = std::make_unique<SharedRateLimits>(*config_);
  for (const JwtIssuerConfig& j : config_->jwt_issuers) {
    auto src = std::make_unique<JwtKeySource>();
    src->publish(j.keys, {});  // the file's keys; a jwks_url adds its own when fetched
    src->first_fetch.store(j.jwks_url.empty() ? 1 : 0, std::memory_order_release);
    jwt_sources_.push_back(std::move(src));
  }
  bool watching = false;
  for (const ApiKeyConfig& k : config_->api_keys) {
    auto src = std::make_unique<ApiKeySource>();
    src->config = &k;
    src->kept.push_back(k.table);
    src->current.store(k.table.get(), std::memory_order_release);
    struct stat st {};
    if (stat(k.file.c_str(), &st) == 0) {
      src->mtime = st.st_mtim;
      src->size = st.st_size;
    }
    src->next_ms = monotonic_ms() + static_cast<uint64_t>(k.reload_interval.count());
    watching = watching || k.reload_interval.count() > 0;
    api_key_sources_.push_back(std::move(src));
  }
  publish_addresses();
  for (unsigned i = 0; i < n; ++i) {
    workers_.push_back(
        std::make_unique<Worker>(*this, i, std::move(fds[i]), handlers[i], *counters_[i]));
  }
  running_.store(static_cast<int>(n));
  for (unsigned i = 0; i < n; ++i) {
    int cpu = server.pin_cpus && !cpus.empty() ? cpus[i % cpus.size()] : -1;
    threads_.emplace_back([this, i, cpu] {
      if (cpu >= 0) {
        pin_current_thread(cpu);
      }
      workers_[i]->run();
    });
  }
  // Wait until every shard has its reactor (or one failed).
  while (ready_count_.load() + failed_count_.load() < static_cast<int>(n)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (failed_count_.load() > 0) {
    error = first_error_;
    request_stop();
    wait();
    return false;
  }
  // Keys from jwks_url are fetched before the gateway reports ready. Without them (and without
  // a jwks_file) the issuer could accept nothing: that is a start-up error.
  for (size_t i = 0; i < jwt_sources_.size(); ++i) {
    const JwtIssuerConfig& j = config_->jwt_issuers[i];
    JwtKeySource& src = *jwt_sources_[i];
    const uint64_t deadline = monotonic_ms() + static_cast<uint64_t>(j.jwks_timeout.count()) * 2;
    while (src.first_fetch.load(std::memory_order_acquire) == 0 && monotonic_ms() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    const int state = src.first_fetch.load(std::memory_order_acquire);
    if (state == 1) {
      continue;
    }
    const std::string why = state == 0 ? "no answer in time" : src.first_error;
    if (j.keys->empty()) {
      error = "auth.jwt." + j.name + ": jwks_url " + j.jwks_url + ": " + why;
      request_stop();
      wait();
      return false;
    }
    setup_notes_.push_back("auth.jwt." + j.name + ": jwks_url " + j.jwks_url + ": " + why +
                           "; using jwks_file's keys until a fetch succeeds");
  }
  const bool refreshing = std::any_of(named_.begin(), named_.end(), [](const NamedEndpoint& named) {
    return named.next_ms != UINT64_MAX;
  });
  if (refreshing) {
    dns_thread_ = std::thread([this] { dns_loop(); });
  }
  if (watching) {
    watch_thread_ = std::thread([this] { watch_api_keys(); });
  }
  return true;
}

void Gateway::worker_ready(bool ok, const std::string& error, const std::string& note) {
  {
    // Start-up bookkeeping only; never on the request path.
    std::lock_guard<std::mutex> lock(startup_mutex_);
    if (!ok && first_error_.empty()) {
      first_error_ = error;
    }
    if (ok && setup_notes_.empty() && !note.empty()) {
      setup_notes_.push_back(note);  // shards are set up identically: one line says it
    }
  }
  (ok ? ready_count_ : failed_count_).fetch_add(1);
}

void Gateway::worker_exited(bool drained) {
  if (!drained) {
    all_drained_.store(false);
  }
  running_.fetch_sub(1);
}

void Gateway::request_stop() {
  if (stopping_.exchange(true, std::memory_order_acq_rel)) {
    return;
  }
  for (auto& w : workers_) {
    w->shard().wake();
  }
  {
    std::lock_guard<std::mutex> lock(dns_mutex_);  // the resolver sees stopping_ or the wake
  }
  dns_wake_.notify_all();
}

bool Gateway::wait() {
  for (std::thread& t : threads_) {
    if (t.joinable()) {
      t.join();
    }
  }
  stop_dns();
  return all_drained_.load();
}

namespace {

// "# HELP name help" and "# TYPE name type" lines.
void metric_head(std::string& out, std::string_view name, std::string_view type,
                 std::string_view help) {
  out.append("# HELP ").append(name).append(" ").append(help).append("\n# TYPE ");
  out.append(name).append(" ").append(type).append("\n");
}

// "name{label="value"} n", or "name n" without a label.
void metric_line(std::string& out, std::string_view name, std::string_view label,
                 std::string_view value, uint64_t n) {
  out.append(name);
  if (!label.empty()) {
    out.append("{").append(label).append("=\"").append(value).append("\"}");
  }
  out.append(" ").append(std::to_string(n)).append("\n");
}

}  // namespace

void Gateway::render_rate_limit_metrics(std::string& out) const {
  const Config& cfg = *config_;
  if (cfg.rate_limits.empty() || workers_.empty()) {
    return;
  }
#define RINGGATE_RENDER_RATE_LIMIT(field, suffix, type, help)                                \
  metric_head(out, "ringgate_rate_limit_" suffix, type, help);                               \
  for (size_t p = 0; p < cfg.rate_limits.size(); ++p) {                                      \
    uint64_t sum = 0;                                                                        \
    for (const auto& w : workers_) {                                                         \
      sum += w->rate_limiter()                                                               \
                 .counters(static_cast<uint32_t>(p))                                         \
                 .field.load(std::memory_order_relaxed);                                     \
    }                                                                                        \
    metric_line(out, "ringgate_rate_limit_" suffix, "policy", cfg.rate_limits[p].name, sum); \
  }
  RINGGATE_RATE_LIMIT_COUNTERS(RINGGATE_RENDER_RATE_LIMIT)
#undef RINGGATE_RENDER_RATE_LIMIT
  if (!workers_.front()->redis()) {
    return;
  }
  uint64_t calls = 0;
  uint64_t failures = 0;
  uint64_t connects = 0;
  uint64_t up = 0;
  for (const auto& w : workers_) {
    const RedisLink::Stats& st = w->redis()->stats();
    calls += st.calls.load(std::memory_order_relaxed);
    failures += st.failures.load(std::memory_order_relaxed);
    connects += st.connects.load(std::memory_order_relaxed);
    up += st.up.load(std::memory_order_relaxed) ? 1 : 0;
  }
  const struct {
    const char* name;
    const char* type;
    const char* help;
    uint64_t value;
  } redis[] = {
      {"ringgate_redis_calls_total", "counter", "Lease calls sent to Redis", calls},
      {"ringgate_redis_failures_total", "counter",
       "Calls Redis did not answer (down, timeout, error)", failures},
      {"ringgate_redis_connects_total", "counter", "Connections to Redis made and set up",
       connects},
      {"ringgate_redis_connected", "gauge", "Shards connected to Redis now", up},
  };
  for (const auto& m : redis) {
    metric_head(out, m.name, m.type, m.help);
    metric_line(out, m.name, {}, {}, m.value);
  }
}

void Gateway::render_jwt_metrics(std::string& out) const {
  const Config& cfg = *config_;
  if (cfg.jwt_issuers.empty() || workers_.empty()) {
    return;
  }
#define RINGGATE_RENDER_JWT(field, suffix, type, help)                                            \
  metric_head(out, "ringgate_jwt_" suffix, type, help);                                           \
  for (size_t i = 0; i < cfg.jwt_issuers.size(); ++i) {                                           \
    uint64_t sum = 0;                                                                             \
    for (const auto& w : workers_) {                                                              \
      sum +=                                                                                      \
          w->jwt_auth().counters(static_cast<uint32_t>(i)).field.load(std::memory_order_relaxed); \
    }                                                                                             \
    metric_line(out, "ringgate_jwt_" suffix, "issuer", cfg.jwt_issuers[i].name, sum);             \
  }
  RINGGATE_JWT_COUNTERS(RINGGATE_RENDER_JWT)
#undef RINGGATE_RENDER_JWT
  const struct {
    const char* name;
    const char* help;
    std::atomic<uint64_t> JwtKeySource::*field;
  } fetch_counters[] = {
      {"ringgate_jwt_jwks_fetches_total", "Fetches of the issuer's jwks_url",
       &JwtKeySource::fetches},
      {"ringgate_jwt_jwks_failures_total", "Fetches of jwks_url that failed (last keys kept)",
       &JwtKeySource::failures},
  };
  for (const auto& c : fetch_counters) {
    metric_head(out, c.name, "counter", c.help);
    for (size_t i = 0; i < cfg.jwt_issuers.size(); ++i) {
      metric_line(out, c.name, "issuer", cfg.jwt_issuers[i].name,
                  (jwt_sources_[i].get()->*c.field).load(std::memory_order_relaxed));
    }
  }
}

void Gateway::render_api_key_metrics(std::string& out) const {
  const Config& cfg = *config_;
  if (cfg.api_keys.empty() || workers_.empty()) {
    return;
  }
  const struct {
    const char* name;
    const char* help;
    std::atomic<uint64_t> ApiKeyCounters::*field;
  } kinds[] = {
      {"ringgate_api_key_accepted_total", "Requests with a known API key",
       &ApiKeyCounters::accepted},
      {"ringgate_api_key_missing_total", "Requests without an API key (401)",
       &ApiKeyCounters::missing},
      {"ringgate_api_key_invalid_total", "Requests with an unknown API key (401)",
       &ApiKeyCounters::invalid},
  };
  for (const auto& k : kinds) {
    metric_head(out, k.name, "counter", k.help);
    for (size_t i = 0; i < cfg.api_keys.size(); ++i) {
      uint64_t sum = 0;
      for (const auto& w : workers_) {
        sum += (w->api_key_counters(i).*k.field).load(std::memory_order_relaxed);
      }
      metric_line(out, k.name, "set", cfg.api_keys[i].name, sum);
    }
  }
}

void Gateway::render_upstream_metrics(std::string& out) const {
  const Config& cfg = *config_;
  if (cfg.upstreams.empty() || workers_.empty()) {
    return;
  }
#define RINGGATE_RENDER_CLUSTER(field, suffix, type, help)                                         \
  out += "# HELP ringgate_upstream_" suffix " " help "\n# TYPE ringgate_upstream_" suffix " " type \
         "\n";                                                                                     \
  for (size_t c = 0; c < cfg.upstreams.size(); ++c) {                                              \
    uint64_t sum = 0;                                                                              \
    for (const auto& w : workers_) {                                                               \
      sum += w->clusters()[c]->counters.field.load(std::memory_order_relaxed);                     \
    }                                                                                              \
    out += "ringgate_upstream_" suffix "{upstream=\"";                                             \
    out += cfg.upstreams[c].name;                                                                  \
    out += "\"} ";                                                                                 \
    out += std::to_string(sum);                                                                    \
    out += '\n';                                                                                   \
  }
  RINGGATE_CLUSTER_COUNTERS(RINGGATE_RENDER_CLUSTER)
#undef RINGGATE_RENDER_CLUSTER
  out +=
      "# HELP ringgate_upstream_request_duration_seconds Proxied requests, from the request head "
      "to "
      "the response complete\n"
      "# TYPE ringgate_upstream_request_duration_seconds histogram\n";
  for (size_t c = 0; c < cfg.upstreams.size(); ++c) {
    std::vector<const LatencyHistogram*> parts;
    for (const auto& w : workers_) {
      parts.push_back(&w->clusters()[c]->counters.latency);
    }
    render_histogram(out, "ringgate_upstream_request_duration_seconds",
                     "upstream=\"" + cfg.upstreams[c].name + "\"", parts);
  }
  const uint64_t now = monotonic_ms();
  auto endpoint_labels = [&](size_t c, size_t e) {
    return "{upstream=\"" + cfg.upstreams[c].name + "\",endpoint=\"" +
           cfg.upstreams[c].endpoints[e].address + "\"} ";
  };
#define RINGGATE_RENDER_ENDPOINT(field, suffix, type, help)                                       \
  out += "# HELP ringgate_upstream_endpoint_" suffix " " help                                     \
         "\n# TYPE ringgate_upstream_endpoint_" suffix " " type "\n";                             \
  for (size_t c = 0; c < cfg.upstreams.size(); ++c) {                                             \
    for (size_t e = 0; e < cfg.upstreams[c].endpoints.size(); ++e) {                              \
      uint64_t sum = 0;                                                                           \
      for (const auto& w : workers_) {                                                            \
        sum += w->clusters()[c]->endpoint_counters[e].field.load(std::memory_order_relaxed);      \
      }                                                                                           \
      out += "ringgate_upstream_endpoint_" suffix + endpoint_labels(c, e) + std::to_string(sum) + \
             '\n';                                                                                \
    }                                                                                             \
  }
  RINGGATE_ENDPOINT_COUNTERS(RINGGATE_RENDER_ENDPOINT)
#undef RINGGATE_RENDER_ENDPOINT
  auto render_shared = [&](const char* name, const char* type, const char* help, auto value) {
    out += std::string("# HELP ringgate_upstream_endpoint_") + name + " " + help +
           "\n# TYPE ringgate_upstream_endpoint_" + name + " " + type + "\n";
    for (size_t c = 0; c < cfg.upstreams.size(); ++c) {
      for (size_t e = 0; e < cfg.upstreams[c].endpoints.size(); ++e) {
        out += std::string("ringgate_upstream_endpoint_") + name + endpoint_labels(c, e) +
               std::to_string(value(shared_clusters_[c]->endpoints[e])) + '\n';
      }
    }
  };
  render_shared("healthy", "gauge", "1 while active health checks pass (or are off)",
                [](const SharedEndpoint& s) { return s.healthy.load() ? 1 : 0; });
  render_shared("ejected", "gauge", "1 while ejected by outlier detection",
                [now](const SharedEndpoint& s) { return s.ejected_until_ms.load() > now ? 1 : 0; });
  render_shared("ejections_total", "counter", "Times ejected by outlier detection",
                [](const SharedEndpoint& s) { return s.ejections.load(); });
  out +=
      "# HELP ringgate_upstream_dns_failures_total Failed lookups of endpoint names\n"
      "# TYPE ringgate_upstream_dns_failures_total counter\n";
  for (size_t c = 0; c < cfg.upstreams.size(); ++c) {
    out += "ringgate_upstream_dns_failures_total{upstream=\"" + cfg.upstreams[c].name + "\"} " +
           std::to_string(shared_clusters_[c]->dns_failures.load(std::memory_order_relaxed)) + '\n';
  }
}

}  // namespace ringgate
