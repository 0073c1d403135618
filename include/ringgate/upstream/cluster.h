#pragma once
// An upstream cluster as one shard sees it: its endpoints (addresses published by the gateway's
// resolver, health and ejection shared by all shards), this shard's keep-alive pools and share of
// the circuit limits, its balancer and its counters. The calls that use it are in call.h.

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ringgate/config/config.h"
#include "ringgate/core/counters.h"
#include "ringgate/core/error.h"
#include "ringgate/core/histogram.h"
#include "ringgate/net/address.h"
#include "ringgate/tls/client.h"
#include "ringgate/upstream/balancer.h"

namespace ringgate {

class H2Upstream;
class UpstreamConn;

// Per cluster and shard; written only by the shard, summed on scrape.
// X(field, prometheus name suffix, type, help)
#define RINGGATE_CLUSTER_COUNTERS(X)                                                          \
  X(requests, "requests_total", "counter", "Requests proxied to the cluster")                 \
  X(responses_1xx, "responses_1xx_total", "counter", "Upstream responses 1xx (101)")          \
  X(responses_2xx, "responses_2xx_total", "counter", "Upstream responses 2xx")                \
  X(responses_3xx, "responses_3xx_total", "counter", "Upstream responses 3xx")                \
  X(responses_4xx, "responses_4xx_total", "counter", "Upstream responses 4xx")                \
  X(responses_5xx, "responses_5xx_total", "counter", "Upstream responses 5xx")                \
  X(failures_502, "errors_502_total", "counter", "Requests answered 502 by the gateway")      \
  X(failures_503, "errors_503_total", "counter", "Requests answered 503 by the gateway")      \
  X(failures_504, "errors_504_total", "counter", "Requests answered 504 by the gateway")      \
  X(connect_failures, "connect_failures_total", "counter", "Failed connection attempts")      \
  X(timeouts, "timeouts_total", "counter", "Tries that timed out (connect or response)")      \
  X(slow_responses, "slow_responses_total", "counter",                                        \
    "Responses cut for sending less than the route's min_rate")                               \
  X(retries, "retries_total", "counter", "Retried tries")                                     \
  X(bad_responses, "bad_responses_total", "counter", "Responses with bad framing or cut off") \
  X(pool_hits, "pool_hits_total", "counter", "Requests sent on a pooled connection")          \
  X(pool_misses, "pool_misses_total", "counter", "Requests that needed a new connection")     \
  X(ejections, "ejections_total", "counter", "Endpoints ejected by outlier detection")        \
  X(circuit_rejections, "circuit_rejections_total", "counter",                                \
    "Requests refused 503 by the circuit breaker or its limits")                              \
  X(connections_active, "connections_active", "gauge", "Open upstream connections")

struct ClusterCounters {
#define RINGGATE_CLUSTER_FIELD(field, name, type, help) std::atomic<uint64_t> field{0};
  RINGGATE_CLUSTER_COUNTERS(RINGGATE_CLUSTER_FIELD)
#undef RINGGATE_CLUSTER_FIELD
  // From the request head to the response complete (or the gateway's error answer).
  LatencyHistogram latency;
};

// Per endpoint and shard, labelled {upstream, endpoint} on scrape.
#define RINGGATE_ENDPOINT_COUNTERS(X)                                                    \
  X(requests, "requests_total", "counter", "Tries sent to the endpoint")                 \
  X(connect_failures, "connect_failures_total", "counter", "Failed connection attempts") \
  X(failures, "failures_total", "counter",                                               \
    "Tries that failed after connecting (reset, timeout, bad or cut response)")          \
  X(responses_5xx, "responses_5xx_total", "counter", "Responses 5xx from the endpoint")  \
  X(connections_active, "connections_active", "gauge", "Open connections to the endpoint")

struct EndpointCounters {
#define RINGGATE_ENDPOINT_FIELD(field, name, type, help) std::atomic<uint64_t> field{0};
  RINGGATE_ENDPOINT_COUNTERS(RINGGATE_ENDPOINT_FIELD)
#undef RINGGATE_ENDPOINT_FIELD
};

// What all shards share about an endpoint: the health verdict (written by the one health
// checker) and passive ejection (written by whichever shard saw the failures).
struct SharedEndpoint {
  // The address to connect to, published by the gateway (at start and by DNS refreshes); null
  // while a name has never resolved. Published addresses live as long as the gateway.
  std::atomic<const SocketAddress*> address{nullptr};
  std::atomic<bool> healthy{true};
  std::atomic<uint64_t> ejected_until_ms{0};
  std::atomic<uint32_t> ejections{0};  // times ejected: the next ejection lasts longer
  std::atomic<uint64_t> checks{0};     // active health checks run (metrics)
  std::atomic<uint64_t> checks_failed{0};
};

// Per cluster, shared by all shards; touched only on failures, health changes and while the
// circuit is open, never per request in the steady state.
struct SharedCluster {
  explicit SharedCluster(size_t endpoints) : endpoints(endpoints) {}
  std::vector<SharedEndpoint> endpoints;
  std::atomic<uint32_t> consecutive_failures{0};
  std::atomic<uint64_t> open_until_ms{0};    // circuit open until then; 0 = closed
  std::atomic<bool> half_open_probe{false};  // one request is probing an open circuit
  std::atomic<uint64_t> circuit_opened{0};   // times opened (metric)
  std::atomic<uint64_t> dns_failures{0};     // failed lookups of endpoint names (metric)
};

// One endpoint of a cluster, as this shard sees it.
struct UpstreamEndpoint {
  SocketAddress address;
  const SocketAddress* published = nullptr;  // the shared address `address` was copied from
  uint32_t generation = 0;                   // bumped when the address changes
  EndpointCounters* counters = nullptr;      // in the cluster's endpoint_counters
  std::string authority;                     // "host:port" as configured (Host policy `endpoint`)
  uint32_t weight = 1;
  UpstreamConn* idle = nullptr;  // pooled idle connections, most recently used first
  uint32_t idle_count = 0;
  uint32_t connections = 0;  // open: connecting, idle or busy
  uint32_t in_flight = 0;
  // Passive outlier detection, counted by this shard.
  uint32_t consecutive_5xx = 0;
  uint32_t consecutive_connect_failures = 0;
  SharedEndpoint* shared = nullptr;
  TlsResumption tls_session;    // the session the next TLS connection offers (tls clusters)
  std::vector<H2Upstream*> h2;  // protocol h2: this shard's connections to the endpoint
};

struct UpstreamCluster {
  const UpstreamConfig* config = nullptr;
  SharedCluster* shared = nullptr;
  uint32_t index = 0;
  std::vector<UpstreamEndpoint> endpoints;
  std::vector<EndpointView> views;
  std::unique_ptr<HashTable> table;
  std::unique_ptr<Balancer> balancer;
  // This shard's share of the circuit limits, and what it uses of them now.
  uint32_t max_connections = 0;
  uint32_t max_pending = 0;
  uint32_t max_requests = 0;
  uint32_t connections = 0;
  uint32_t pending = 0;   // calls waiting for a connection
  uint32_t requests = 0;  // calls in flight
  uint32_t retries = 0;   // retries in flight
  ClusterCounters counters;
  std::unique_ptr<EndpointCounters[]> endpoint_counters;

  Error error(ErrorKind kind) const { return Error::upstream(kind, config->name); }
};

// Picks up an address the gateway re-resolved; connections to the old one are not pooled again.
// False while the endpoint has no address.
bool sync_endpoint_address(UpstreamEndpoint& ep);

// An upstream state change (health, ejection, circuit) on the error log at level warn, through
// the request log of the shard this thread runs (printf-style; lines are cut at 1 KiB).
void upstream_event(const char* format, ...) __attribute__((format(printf, 1, 2)));

// The endpoint's host as configured, without port or brackets: what a TLS connection to it
// sends as SNI (unless the cluster names one) and checks the certificate against.
std::string_view endpoint_host(const UpstreamEndpoint& ep);

// --- circuit breaker and retry budget (circuit.cc) ---
// Whether a call may start now. An open circuit refuses until open_for has passed; then one call
// from any shard probes it (*probe set: that call holds the probe).
bool circuit_admits(UpstreamCluster& c, uint64_t now_ms, bool* probe);
// A call ended: a success closes a half-open circuit and restarts the failure count; failures
// open it (consecutive_failures in a row, or a failed probe).
void circuit_record(UpstreamCluster& c, bool success, bool* probe, uint64_t now_ms);
// A call that held the probe ended without an outcome: another call may probe.
void circuit_release_probe(UpstreamCluster& c, bool* probe);
// One more retry fits the budget: retry_budget.percent of the calls in flight, at least
// min_concurrent.
bool retry_budget_allows(const UpstreamCluster& c);

// --- outlier detection (outlier.cc) ---
// The try on `ep` ended: consecutive connect failures or 5xx eject the endpoint for
// base_ejection x times ejected (at most max_ejection), never more than max_ejection_percent of
// the cluster at once.
void outlier_note(UpstreamCluster& c, UpstreamEndpoint& ep, bool connect_failed, bool server_error,
                  uint64_t now_ms);

// This shard's view of cluster `index` of the config: endpoints, balancer (seeded per shard) and
// its share of the circuit limits among `shards`.
std::unique_ptr<UpstreamCluster> build_cluster(const Config& config, size_t index,
                                               SharedCluster& shared, unsigned shards,
                                               unsigned shard_index);

}  // namespace ringgate
