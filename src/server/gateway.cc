#include "ringgate/server/gateway.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <deque>
#include <mutex>
#include <thread>

#include "file_watch.h"
#include "ringgate/cache/store.h"
#include "ringgate/core/clock.h"
#include "ringgate/core/histogram.h"
#include "ringgate/core/shard.h"
#include "ringgate/filters/auth_jwt.h"
#include "ringgate/filters/rate_limit.h"
#include "ringgate/net/listener.h"
#include "ringgate/net/socket.h"
#include "worker.h"

namespace ringgate {

Gateway::Gateway(std::shared_ptr<const Config> config) : config_(std::move(config)) {}

std::vector<JwtKeySource*> Gateway::jwt_source_pointers() const {
  std::vector<JwtKeySource*> out;
  for (const auto& s : jwt_sources_) {
    out.push_back(s.get());
  }
  return out;
}

CacheStore* Gateway::cache_named(std::string_view name) const {
  for (const auto& c : caches_) {
    if (c->name() == name) {
      return c.get();
    }
  }
  return nullptr;
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

std::map<std::string, std::string> Gateway::rate_limit_state() const {
  std::map<std::string, std::string> out;
  if (!rate_limits_) {
    return out;
  }
  const uint64_t now_ticks = monotonic_ns() / 1000 * kRateTicksPerUs;
  for (size_t i = 0; i < config_->rate_limits.size(); ++i) {
    if (config_->rate_limits[i].backend == RateLimitPolicy::Backend::kLocal) {
      out[config_->rate_limits[i].name] = rate_limits_->tables[i]->export_state(now_ticks);
    }
  }
  return out;
}

bool Gateway::request_reload(ReloadDone done) const {
  std::lock_guard<std::mutex> lock(reload_mutex_);
  if (reload_busy_) {
    return false;
  }
  reload_busy_ = true;
  reload_request_ = std::move(done);
  return true;
}

Gateway::ReloadDone Gateway::take_reload_request() const {
  std::lock_guard<std::mutex> lock(reload_mutex_);
  ReloadDone out;
  out.swap(reload_request_);
  return out;
}

void Gateway::reload_finished() const {
  std::lock_guard<std::mutex> lock(reload_mutex_);
  reload_busy_ = false;
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
  log_writer_.stop();  // before the workers, whose streams it reads, are destroyed
  for (int fd : claims_) {
    close(fd);
  }
  for (auto& [key, fd] : inherited_) {
    close(fd);  // handed over for a start() that failed before it took them
  }
}

namespace {

// A successor in another process: the sockets go over the channel (SCM_RIGHTS); a TLS session
// cannot follow.
class ChannelSuccessor final : public ConnectionSuccessor {
 public:
  explicit ChannelSuccessor(int channel) : channel_(channel) {}
  ~ChannelSuccessor() override { close(channel_); }
  bool takes_tls() const override { return false; }
  bool take_connection(int fd, std::unique_ptr<TlsSession> tls) override {
    return !tls && send_with_descriptor(channel_, "conn", fd);
  }
  bool take_upstream(int fd, std::string_view cluster, std::string_view endpoint,
                     std::unique_ptr<TlsSession> tls, const TlsUpstreamConfig*) override {
    std::string what = "up ";
    what.append(cluster).append(" ").append(endpoint);
    return !tls && send_with_descriptor(channel_, what, fd);
  }

 private:
  const int channel_;
};

// The cluster named `name` in `config` (its index in Config::upstreams), or -1.
ptrdiff_t upstream_named(const Config& config, std::string_view name) {
  for (size_t i = 0; i < config.upstreams.size(); ++i) {
    if (config.upstreams[i].name == name) {
      return static_cast<ptrdiff_t>(i);
    }
  }
  return -1;
}

// The settings a TLS upstream session was made with, compared with a cluster's now: the session
// serves the cluster only if it would have been made the same way.
bool same_tls(const TlsUpstreamConfig* a, const TlsUpstreamConfig* b) {
  if (!a || !b) {
    return a == b;
  }
  return a->sni == b->sni && a->ca == b->ca && a->verify == b->verify &&
         a->client_cert == b->client_cert && a->client_key == b->client_key;
}

// A successor in this process: a copy of the socket, with its TLS session, goes to one of the
// gateway's shards; the predecessor then closes its own descriptor.
class GatewaySuccessor final : public ConnectionSuccessor {
 public:
  explicit GatewaySuccessor(Gateway& next) : next_(next) {}
  bool takes_tls() const override { return true; }
  bool take_connection(int fd, std::unique_ptr<TlsSession> tls) override {
    const int copy = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (copy < 0) {
      return false;
    }
    next_.adopt_connection(copy, std::move(tls));
    return true;
  }
  bool take_upstream(int fd, std::string_view cluster, std::string_view endpoint,
                     std::unique_ptr<TlsSession> tls, const TlsUpstreamConfig* settings) override {
    const ptrdiff_t i = upstream_named(next_.config(), cluster);
    if (i < 0 || !same_tls(next_.config().upstreams[static_cast<size_t>(i)].tls.get(), settings)) {
      return false;
    }
    const int copy = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (copy < 0) {
      return false;
    }
    next_.adopt_upstream(copy, std::string(cluster), std::string(endpoint), std::move(tls));
    return true;
  }

 private:
  Gateway& next_;
};

// A session that rides in a posted task (which must be copyable), taken out once.
std::unique_ptr<TlsSession> take(const std::shared_ptr<TlsSession>& session) {
  return session ? std::make_unique<TlsSession>(std::move(*session)) : nullptr;
}

}  // namespace

void Gateway::hand_over_and_stop(int channel) {
  channel_successor_ = std::make_unique<ChannelSuccessor>(channel);
  successor_.store(channel_successor_.get(), std::memory_order_release);
  request_stop();  // the shards read the successor as they begin to drain
}

void Gateway::hand_over_and_stop(Gateway& successor) {
  channel_successor_ = std::make_unique<GatewaySuccessor>(successor);
  successor_.store(channel_successor_.get(), std::memory_order_release);
  request_stop();
}

void Gateway::adopt(const std::string& what, int fd) {
  const size_t space = what.find(' ', 3);
  if (what.rfind("up ", 0) == 0 && space != std::string::npos) {
    adopt_upstream(fd, what.substr(3, space - 3), what.substr(space + 1), nullptr);
  } else if (what == "conn") {
    adopt_connection(fd, nullptr);
  } else {
    close(fd);
  }
}

void Gateway::adopt_upstream(int fd, std::string cluster, std::string endpoint,
                             std::unique_ptr<TlsSession> tls) {
  if (workers_.empty()) {
    close(fd);
    return;
  }
  Worker* w = workers_[next_adopter_.fetch_add(1) % workers_.size()].get();
  // A posted task is copied: the session rides in a shared pointer.
  std::shared_ptr<TlsSession> session(std::move(tls));
  if (w->shard().post([w, fd, cluster, endpoint, session] {
        w->adopt_upstream(fd, cluster, endpoint, take(session));
      })) {
    return;
  }
  // This gateway's shards have ended (it was replaced meanwhile): on to its successor.
  const ptrdiff_t i = upstream_named(*config_, cluster);
  if (ConnectionSuccessor* next = successor(); next && i >= 0) {
    next->take_upstream(fd, cluster, endpoint, take(session),
                        config_->upstreams[static_cast<size_t>(i)].tls.get());
  }
  close(fd);
}

void Gateway::adopt_connection(int fd, std::unique_ptr<TlsSession> tls) {
  SocketAddress local;
  local.length = sizeof local.storage;
  if (getsockname(fd, local.get(), &local.length) != 0 || workers_.empty()) {
    close(fd);
    return;
  }
  // The client listener with that port and that address (or the wildcard): config order.
  size_t index = 0;
  for (const BoundListener& l : bound_) {
    if (l.admin || !l.service.empty()) {
      continue;
    }
    const std::string text = l.address.to_string();
    const bool wildcard = text.rfind("0.0.0.0:", 0) == 0 || text.rfind("[::]:", 0) == 0;
    if (l.address.port() == local.port() && (wildcard || text == local.to_string())) {
      if (l.tls != (tls != nullptr)) {
        break;  // the listener speaks TLS now and the connection does not, or the other way
      }
      Worker* w = workers_[next_adopter_.fetch_add(1) % workers_.size()].get();
      std::shared_ptr<TlsSession> session(std::move(tls));
      if (w->shard().post([w, fd, index, session] { w->adopt(fd, index, take(session)); })) {
        return;
      }
      // This gateway's shards have ended (it was replaced meanwhile): on to its successor.
      if (ConnectionSuccessor* next = successor()) {
        next->take_connection(fd, take(session));
      }
      break;
    }
    ++index;
  }
  close(fd);
}

namespace {

unsigned shard_count(const ServerConfig& server) {
  if (server.workers != 0) {
    return server.workers;
  }
  const unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : n;
}

// The CPUs this process may run on, in order, for pinning shards.
std::vector<int> allowed_cpus() {
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
  return cpus;
}

}  // namespace

bool Gateway::start(std::string& error) {
  {
    const time_t now = time(nullptr);
    tm utc{};
    gmtime_r(&now, &utc);
    char text[32];
    strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
    started_at_ = text;
  }
  error_output_ = log_writer_.open("stderr", error);
  if (config_->logging.access.enabled) {
    access_output_ = log_writer_.open(config_->logging.access.path, error);
    if (access_output_ < 0) {
      error = "logging.access.path: " + error;
      return false;
    }
  }
  const unsigned n = shard_count(config_->server);
  ShardListeners listeners(n);
  if (!bind_listeners(listeners, error)) {
    for (auto& fds : listeners.fds) {
      for (int fd : fds) {
        close(fd);
      }
    }
    return false;
  }
  for (auto& [key, fd] : inherited_) {
    close(fd);  // listened for by the predecessor's config, not by this one
  }
  inherited_.clear();
  const bool watching = make_shared_state(n);
  if (!inherited_rate_limits_.empty()) {
    const uint64_t now_ticks = monotonic_ns() / 1000 * kRateTicksPerUs;
    for (size_t i = 0; i < config_->rate_limits.size(); ++i) {
      const RateLimitPolicy& p = config_->rate_limits[i];
      const auto it = inherited_rate_limits_.find(p.name);
      if (p.backend == RateLimitPolicy::Backend::kLocal && it != inherited_rate_limits_.end() &&
          rate_limits_->tables[i]->import_state(it->second, now_ticks)) {
        ++rate_limits_kept_;
      }
    }
    inherited_rate_limits_.clear();
  }
  publish_addresses();
  if (!start_shards(listeners, error) || !await_jwks(error)) {
    return false;
  }
  const bool refreshing = std::any_of(named_.begin(), named_.end(), [](const NamedEndpoint& named) {
    return named.next_ms != UINT64_MAX;
  });
  if (refreshing) {
    dns_thread_ = std::thread([this] { dns_loop(); });
  }
  if (watching) {
    watch_thread_ = std::thread([this] { watch_files(); });
  }
  return true;
}

bool Gateway::bind_listeners(ShardListeners& out, std::string& error) {
  // Bound in the main thread so "address in use" is a start-up error. Port 0: the first shard's
  // socket picks the port, the others bind the same one (SO_REUSEPORT).
  const ServerConfig& server = config_->server;
  for (const ListenConfig& l : server.listen) {
    SocketAddress addr;
    std::string why;
    if (!parse_socket_address(l.address, addr, &why)) {
      error = "listen " + l.address + ": " + why;
      return false;
    }
    if (!claim(addr, error)) {
      return false;
    }
    for (size_t i = 0; i < out.fds.size(); ++i) {
      SocketAddress bound;
      const std::string key = "listen " + l.address + " " + std::to_string(i);
      int fd = take_inherited(key);
      if (fd >= 0) {
        listen(fd, static_cast<int>(server.backlog));  // this config's backlog
        bound.length = sizeof bound.storage;
        getsockname(fd, bound.get(), &bound.length);
      } else {
        fd = open_listener(addr, static_cast<int>(server.backlog), error, &bound);
        if (fd < 0) {
          return false;
        }
      }
      if (i == 0) {
        addr = bound;
        bound_.push_back(BoundListener{bound, false, "", l.tls != nullptr});
      }
      out.fds[i].push_back(fd);
      out.handlers[i].push_back(nullptr);
      handover_.emplace_back(key, fd);
    }
  }
  // The admin listener and local services live on shard 0 only: not on the request path.
  if (config_->admin.enabled) {
    SocketAddress addr;
    std::string why;
    if (!parse_socket_address(config_->admin.listen, addr, &why)) {
      error = "admin.listen " + config_->admin.listen + ": " + why;
      return false;
    }
    if (!bind_local(out, addr, "admin", &admin_handler_, true, error)) {
      return false;
    }
  }
  for (const LocalService& service : local_services_) {
    if (!bind_local(out, service.address, service.name, &service.handler, false, error)) {
      return false;
    }
  }
  return true;
}

bool Gateway::bind_local(ShardListeners& out, const SocketAddress& address, const std::string& name,
                         const AdminHandler* handler, bool admin, std::string& error) {
  SocketAddress bound;
  if (!claim(address, error)) {
    error = name + ": " + error;
    return false;
  }
  const std::string key = (admin ? "admin " : "service " + name + " ") + address.to_string();
  int fd = take_inherited(key);
  if (fd >= 0) {
    bound.length = sizeof bound.storage;
    getsockname(fd, bound.get(), &bound.length);
  } else {
    fd = open_listener(address, 128, error, &bound);
    if (fd < 0) {
      error = name + ": " + error;
      return false;
    }
  }
  handover_.emplace_back(key, fd);
  out.fds[0].push_back(fd);
  out.handlers[0].push_back(handler);
  bound_.push_back(BoundListener{bound, admin, name});
  return true;
}

bool Gateway::claim(const SocketAddress& address, std::string& error) {
  if (address.port() == 0) {
    return true;  // the kernel picks a port no one listens on
  }
  const std::string key = "claim " + address.to_string();
  int fd = take_inherited(key);  // the predecessor's claim: this process holds the address now
  if (fd < 0) {
    fd = claim_address(address, error);
  }
  if (fd < 0) {
    return false;
  }
  claims_.push_back(fd);
  handover_.emplace_back(key, fd);
  return true;
}

int Gateway::take_inherited(const std::string& key) {
  const auto it = inherited_.find(key);
  if (it == inherited_.end()) {
    return -1;
  }
  const int fd = it->second;
  inherited_.erase(it);
  ++inherited_taken_;
  return fd;
}

void Gateway::carry_upstream_state(const Gateway& from) {
  const auto relaxed = std::memory_order_relaxed;
  for (size_t i = 0; i < config_->upstreams.size(); ++i) {
    const UpstreamConfig& now = config_->upstreams[i];
    const ptrdiff_t at = upstream_named(*from.config_, now.name);
    if (at < 0) {
      continue;
    }
    const UpstreamConfig* old = &from.config_->upstreams[static_cast<size_t>(at)];
    const SharedCluster& was = *from.shared_clusters_[static_cast<size_t>(at)];
    SharedCluster& is = *shared_clusters_[i];
    is.consecutive_failures.store(was.consecutive_failures.load(relaxed), relaxed);
    is.open_until_ms.store(was.open_until_ms.load(relaxed), relaxed);
    for (size_t e = 0; e < now.endpoints.size(); ++e) {
      for (size_t o = 0; o < old->endpoints.size(); ++o) {
        if (old->endpoints[o].address == now.endpoints[e].address) {
          const SharedEndpoint& a = was.endpoints[o];
          SharedEndpoint& b = is.endpoints[e];
          b.healthy.store(a.healthy.load(relaxed), relaxed);
          b.ejected_until_ms.store(a.ejected_until_ms.load(relaxed), relaxed);
          b.ejections.store(a.ejections.load(relaxed), relaxed);
          break;
        }
      }
    }
  }
}

bool Gateway::make_shared_state(unsigned shards) {
  for (unsigned i = 0; i < shards; ++i) {
    counters_.push_back(std::make_unique<ShardCounters>());
  }
  for (const UpstreamConfig& u : config_->upstreams) {
    shared_clusters_.push_back(std::make_unique<SharedCluster>(u.endpoints.size()));
  }
  for (const CacheConfig& c : config_->caches) {
    std::shared_ptr<CacheStore> kept;
    if (upstream_state_from_) {
      for (const auto& was : upstream_state_from_->caches_) {
        if (was->name() == c.name) {
          kept = was;
          kept->resize(c.memory, c.max_object);
        }
      }
    }
    caches_.push_back(kept ? kept : std::make_shared<CacheStore>(c.name, c.memory, c.max_object));
  }
  if (upstream_state_from_) {
    carry_upstream_state(*upstream_state_from_);
    upstream_state_from_ = nullptr;
  }
  rate_limits_ = std::make_unique<SharedRateLimits>(*config_);
  for (const JwtIssuerConfig& j : config_->jwt_issuers) {
    auto src = std::make_unique<JwtKeySource>();
    src->publish(j.keys, {});  // the file's keys; a jwks_url adds its own when fetched
    src->first_fetch.store(j.jwks_url.empty() ? 1 : 0, std::memory_order_release);
    src->fetching.store(!j.jwks_url.empty());  // the first fetch runs as shard 0 starts
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
  for (const ListenConfig& l : config_->server.listen) {
    watching = watching || l.tls != nullptr;  // certificate files
  }
  return watching;
}

bool Gateway::start_shards(ShardListeners& listeners, std::string& error) {
  const unsigned n = static_cast<unsigned>(listeners.fds.size());
  const std::vector<int> cpus = allowed_cpus();
  for (unsigned i = 0; i < n; ++i) {
    workers_.push_back(std::make_unique<Worker>(*this, i, std::move(listeners.fds[i]),
                                                listeners.handlers[i], *counters_[i]));
  }
  // The JWKS handshake's wakes (JwtKeySource): the fetchers run on shard 0. Set before any
  // shard thread starts, only read afterwards.
  for (auto& src : jwt_sources_) {
    Shard* fetcher_shard = &workers_[0]->shard();
    src->wake_fetcher = [fetcher_shard] { fetcher_shard->wake(); };
    src->wake_shards = [this] {
      for (auto& w : workers_) {
        w->shard().wake();
      }
    };
  }
  log_writer_.start();  // every shard's streams are made
  running_.store(static_cast<int>(n));
  for (unsigned i = 0; i < n; ++i) {
    const int cpu = config_->server.pin_cpus && !cpus.empty() ? cpus[i % cpus.size()] : -1;
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
  return true;
}

bool Gateway::await_jwks(std::string& error) {
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
  log_writer_.stop();  // after the shards' last lines
  return all_drained_.load();
}

}  // namespace ringgate
