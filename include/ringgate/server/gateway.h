#pragma once
// The gateway process: N shards, each a thread running a Worker (HTTP/1.1 server on its own
// reactor and SO_REUSEPORT listeners), plus the admin listener on shard 0.

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "ringgate/config/config.h"
#include "ringgate/core/counters.h"
#include "ringgate/core/log_writer.h"
#include "ringgate/http/actions.h"
#include "ringgate/net/address.h"
#include "ringgate/tls/successor.h"

namespace ringgate {

class Worker;
struct SharedCluster;
struct SharedRateLimits;
class CacheStore;
struct ApiKeySource;
struct JwtKeySource;

struct BoundListener {
  SocketAddress address;
  bool admin = false;
  std::string service;  // "" for client listeners, "admin", or a local service's name
  bool tls = false;
};

class Gateway {
 public:
  explicit Gateway(std::shared_ptr<const Config> config);
  ~Gateway();
  Gateway(const Gateway&) = delete;
  Gateway& operator=(const Gateway&) = delete;

  void set_admin_handler(AdminHandler handler) { admin_handler_ = std::move(handler); }
  // Before start(): one more listener on shard 0, not routed: `handler` answers each request
  // (as the admin endpoints are). Its connections are not client traffic: not limited by
  // server.limits.connections and not in the metrics. The demo's built-in services use this.
  void add_local_service(std::string name, const SocketAddress& address, AdminHandler handler);

  // Before start(): listening sockets (and address claims) handed over by the process this one
  // replaces, keyed as handover_sockets() names them. Those this config listens on are taken
  // instead of bound (the backlog set again); the rest are closed by start().
  void inherit(std::map<std::string, int> sockets) { inherited_ = std::move(sockets); }
  // After start(): every listening socket and address claim of this process, keyed by what it
  // listens for ("listen ADDRESS SHARD" with ADDRESS as the config writes it, "admin ADDRESS",
  // "service NAME ADDRESS", "claim ADDRESS"), for a successor. The shards own the descriptors.
  const std::vector<std::pair<std::string, int>>& handover_sockets() const { return handover_; }
  // Sockets start() took over from a predecessor.
  size_t inherited_count() const { return inherited_taken_; }
  // A successor serves now: this gateway drains, handing its idle keep-alive connections (and
  // idle pooled upstream connections) to it. Another process (an upgrade): over `channel`
  // (owned from here, closed with the gateway), plain connections only. Another gateway in this
  // process (a reload): TLS connections too, their sessions moved along.
  void hand_over_and_stop(int channel);
  void hand_over_and_stop(Gateway& successor);
  // Where the shards hand their idle connections as they drain (null: nowhere).
  ConnectionSuccessor* successor() const { return successor_.load(std::memory_order_acquire); }
  // The successor's side (any thread): a connection the predecessor handed over with its
  // message. "conn": a client connection, joining a shard as if accepted on the plain client
  // listener with its address (closed when this config has none). "up CLUSTER ENDPOINT": a
  // pooled upstream connection, into a shard's pool for that cluster and endpoint.
  void adopt(const std::string& what, int fd);
  // The same for a gateway in this process, with a TLS connection's session: a client
  // connection joins a shard as if accepted on the client listener with its address that
  // speaks the same (TLS or plain); an upstream one, the pool of the cluster and endpoint.
  void adopt_connection(int fd, std::unique_ptr<TlsSession> tls);
  void adopt_upstream(int fd, std::string cluster, std::string endpoint,
                      std::unique_ptr<TlsSession> tls);
  // Gateways this one replaced that still drain (in this process or another): each is one
  // more config snapshot in service.
  void set_draining_predecessors(unsigned n) { draining_predecessors_.store(n); }
  // Config generations serving these sockets now: this one, plus predecessors still draining.
  unsigned config_snapshots() const { return 1 + draining_predecessors_.load(); }

  // For a successor: the live buckets of each local rate-limit policy, by policy name.
  std::map<std::string, std::string> rate_limit_state() const;
  // Before start(): buckets a predecessor handed over, by policy name; start() takes those of a
  // policy with the same name, rate and burst (the others start full).
  void inherit_rate_limits(std::map<std::string, std::string> state) {
    inherited_rate_limits_ = std::move(state);
  }
  // Policies whose buckets start() took over.
  size_t rate_limits_kept() const { return rate_limits_kept_; }
  // The config's generation: 1 at first start, one more at each reload (handed over).
  void set_generation(uint64_t generation) { generation_ = generation; }
  uint64_t generation() const { return generation_; }
  // Reloads and upgrades refused (invalid config) or whose new generation failed to start;
  // carried to the next generation in this process (an upgrade's new process counts afresh).
  enum class Reload : uint8_t { kInvalid, kFailed };
  // POST /reload (any thread): asks the main thread for a reload; `done` gets the outcome there.
  // False when one is already asked for or running (`done` is not kept then).
  using ReloadDone = std::function<void(AdminResponse)>;
  bool request_reload(ReloadDone done) const;
  // The main thread: the reload asked for, if any (it is then running until reload_finished()).
  ReloadDone take_reload_request() const;
  void reload_finished() const;
  void count_reload(Reload r) { reloads_[static_cast<size_t>(r)].fetch_add(1); }
  // Before start() of a gateway replacing `predecessor` in this process (which must outlive
  // start()): what it learnt of the upstreams goes on, cluster by name and endpoint by address
  // as configured: health, ejections and the circuit. A reload then sends nothing to an endpoint
  // known to be down, and does not close an open circuit.
  void inherit_upstream_state(const Gateway& predecessor) { upstream_state_from_ = &predecessor; }
  // Before start() of a gateway replacing `predecessor` in this process: its reload counts go on.
  void carry_reload_counts(const Gateway& predecessor) {
    for (size_t i = 0; i < 2; ++i) {
      reloads_[i].store(predecessor.reloads_[i].load());
    }
  }
  uint64_t reloads(Reload r) const { return reloads_[static_cast<size_t>(r)].load(); }

  // Binds every listener (so address errors surface here), starts the shard threads and waits
  // until each has its reactor up. False with `error` set on any failure (nothing left running).
  bool start(std::string& error);
  // Any thread: stop accepting, finish in-flight requests, close idle connections.
  void request_stop();
  // Joins the shard threads; true when every shard drained within server.drain_timeout.
  bool wait();
  // True once every shard thread has returned.
  bool finished() const { return running_.load() == 0; }

  const std::vector<BoundListener>& listeners() const { return bound_; }
  unsigned workers() const { return static_cast<unsigned>(counters_.size()); }
  const ShardCounters& counters(unsigned shard) const { return *counters_[shard]; }
  const Config& config() const { return *config_; }
  bool stopping() const { return stopping_.load(std::memory_order_acquire); }
  const AdminHandler& admin_handler() const { return admin_handler_; }
  const std::vector<std::string>& setup_notes() const { return setup_notes_; }
  // When start() began serving this config (UTC, ISO 8601).
  const std::string& started_at() const { return started_at_; }
  // Appends the per-upstream metrics (summed over shards, labelled by cluster) in Prometheus text.
  void render_upstream_metrics(std::string& out) const;
  // Appends the per-policy rate-limit counters (summed over shards) in Prometheus text.
  void render_rate_limit_metrics(std::string& out) const;
  // Appends the per-issuer JWT counters (summed over shards) in Prometheus text.
  void render_jwt_metrics(std::string& out) const;
  // Appends the per-set API-key counters (summed over shards) in Prometheus text.
  void render_api_key_metrics(std::string& out) const;
  // Appends the TLS metrics (handshakes, failures, certificate expiry) in Prometheus text.
  void render_tls_metrics(std::string& out) const;
  // Appends the per-route counters and latency histograms (summed over shards) in Prometheus text.
  void render_route_metrics(std::string& out) const;
  // Per aggregation backend (route and key): calls, failures by kind, defaults, latency.
  void render_aggregate_backend_metrics(std::string& out) const;
  // Appends the response cache metrics (labelled by cache) in Prometheus text.
  void render_cache_metrics(std::string& out) const;
  // The response caches (Config::caches order), shared by the shards and kept across reloads
  // by name.
  CacheStore* cache(size_t index) const { return caches_[index].get(); }
  // The cache named `name`, or nullptr.
  CacheStore* cache_named(std::string_view name) const;
  // Appends the log metrics (lines, dropped lines, write errors, reopens) in Prometheus text.
  void render_log_metrics(std::string& out) const;
  // SIGUSR1: log files are opened again by their paths (after logrotate moved them).
  void reopen_logs() { log_writer_.reopen(); }
  // Where the current keys of API-key set `index` are published (re-read when the file
  // changes); the API-key filters read it per request.
  const std::atomic<const ApiKeyTable*>& api_key_table(size_t index) const;
  // The keys of JWT issuer `index` (Config::jwt_issuers), published by its fetcher.
  JwtKeySource& jwt_source(size_t index) { return *jwt_sources_[index]; }
  std::vector<JwtKeySource*> jwt_source_pointers() const;
  // The process-wide part of each cluster (Config::upstreams order), shared by the shards.
  std::vector<SharedCluster*> shared_cluster_pointers() const;

 private:
  friend class Worker;
  void worker_ready(bool ok, const std::string& error, const std::string& note);
  void worker_exited(bool drained);
  // Endpoint addresses: numeric ones published at start, names resolved and then refreshed.
  struct NamedEndpoint {
    size_t cluster;
    size_t endpoint;
    uint64_t next_ms;  // next refresh (steady clock); UINT64_MAX: never
    bool failing;      // the last lookup failed (logged once per failure spell)
  };
  // Per shard: its listening sockets and, for each, the handler of a local one (admin,
  // services) or nullptr for client traffic.
  struct ShardListeners {
    explicit ShardListeners(unsigned shards) : fds(shards), handlers(shards) {}
    std::vector<std::vector<int>> fds;
    std::vector<std::vector<const AdminHandler*>> handlers;
  };
  // The steps of start(): bind every listener; make what the shards share (true when a file
  // is to be watched); start the shard threads and wait until each has its reactor; wait for
  // the jwks_url keys.
  bool bind_listeners(ShardListeners& out, std::string& error);
  bool bind_local(ShardListeners& out, const SocketAddress& address, const std::string& name,
                  const AdminHandler* handler, bool admin, std::string& error);
  // claim_address for a fixed port (no other process may listen on it); port 0 needs none.
  bool claim(const SocketAddress& address, std::string& error);
  // The inherited socket named `key` (taken out of inherited_), or -1.
  int take_inherited(const std::string& key);
  bool make_shared_state(unsigned shards);
  void carry_upstream_state(const Gateway& from);
  bool start_shards(ShardListeners& listeners, std::string& error);
  bool await_jwks(std::string& error);
  void publish_addresses();
  void watch_files();  // thread body: re-reads changed API-key files and certificates
  // Rebuilds the TLS contexts of listeners whose certificate files changed.
  void reload_certificates();
  bool resolve_named(NamedEndpoint& n);
  void dns_loop();
  void stop_dns();

  struct LocalService {
    std::string name;
    SocketAddress address;
    AdminHandler handler;
  };

  std::shared_ptr<const Config> config_;
  std::string started_at_;
  // The log writer thread; its outputs: the error log (stderr) and the access log (when on).
  LogWriter log_writer_;
  int error_output_ = -1;
  int access_output_ = -1;
  AdminHandler admin_handler_;
  std::vector<LocalService> local_services_;
  std::vector<BoundListener> bound_;
  std::vector<int> claims_;  // claim_address: one per fixed listen address, held until exit
  std::map<std::string, int> inherited_;
  std::map<std::string, std::string> inherited_rate_limits_;
  const Gateway* upstream_state_from_ = nullptr;  // inherit_upstream_state(), until start()
  // hand_over_and_stop(): the successor, another process's channel or another gateway.
  std::unique_ptr<ConnectionSuccessor> channel_successor_;
  std::atomic<ConnectionSuccessor*> successor_{nullptr};
  // This gateway as an in-process successor (hand_over_and_stop(Gateway&) on its predecessor).
  std::unique_ptr<ConnectionSuccessor> as_successor_;
  std::atomic<unsigned> draining_predecessors_{0};
  std::atomic<unsigned> next_adopter_{0};
  size_t rate_limits_kept_ = 0;
  size_t inherited_taken_ = 0;
  std::vector<std::pair<std::string, int>> handover_;
  uint64_t generation_ = 1;
  std::atomic<uint64_t> reloads_[2] = {};
  // The reload POST /reload asked for (admin thread → main thread); never on the request path.
  mutable std::mutex reload_mutex_;
  mutable ReloadDone reload_request_;
  mutable bool reload_busy_ = false;
  std::vector<std::unique_ptr<ShardCounters>> counters_;
  std::vector<std::unique_ptr<SharedCluster>> shared_clusters_;  // by Config::upstreams index
  std::unique_ptr<SharedRateLimits> rate_limits_;  // the policies' process-wide buckets
  // A reload's generation takes the stores of its predecessor's caches with the same name (the
  // predecessor keeps using them while it drains).
  std::vector<std::shared_ptr<CacheStore>> caches_;
  std::vector<std::unique_ptr<ApiKeySource>> api_key_sources_;  // by Config::api_keys index
  std::vector<std::unique_ptr<JwtKeySource>> jwt_sources_;      // by Config::jwt_issuers index
  std::thread watch_thread_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<std::thread> threads_;
  std::atomic<bool> stopping_{false};
  std::atomic<int> running_{0};
  std::atomic<int> ready_count_{0};
  std::atomic<int> failed_count_{0};
  std::atomic<bool> all_drained_{true};
  std::vector<std::string> setup_notes_;
  std::string first_error_;
  std::mutex startup_mutex_;
  // Published endpoint addresses, kept for the gateway's life (shards may hold any of them).
  std::vector<std::unique_ptr<SocketAddress>> addresses_;
  std::vector<NamedEndpoint> named_;
  std::thread dns_thread_;
  std::mutex dns_mutex_;  // the resolver thread's sleep only; never on the request path
  std::condition_variable dns_wake_;
};

}  // namespace ringgate
