// The per-cluster, per-policy, per-issuer and per-key-set metrics in Prometheus text, each summed
// over the shards' own counters on scrape (nothing on the request path is shared).

#include <string>
#include <string_view>
#include <tuple>

#include "ringgate/cache/store.h"
#include "ringgate/core/clock.h"
#include "ringgate/core/histogram.h"
#include "ringgate/filters/auth_jwt.h"
#include "ringgate/filters/rate_limit.h"
#include "ringgate/server/gateway.h"
#include "ringgate/tls/server.h"
#include "worker.h"

namespace ringgate {

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

void Gateway::render_cache_metrics(std::string& out) const {
  if (caches_.empty()) {
    return;
  }
  std::vector<CacheStats> stats;
  for (const auto& c : caches_) {
    stats.push_back(c->stats());
  }
  const struct {
    const char* name;
    const char* type;
    const char* help;
    uint64_t CacheStats::*field;
  } kinds[] = {
      {"ringgate_cache_hits_total", "counter", "Requests answered with a fresh stored response",
       &CacheStats::hits},
      {"ringgate_cache_misses_total", "counter", "Cacheable requests sent to the upstream",
       &CacheStats::misses},
      {"ringgate_cache_stale_served_total", "counter",
       "Stale responses served (while revalidating, or in place of an error)", &CacheStats::stale},
      {"ringgate_cache_bypass_total", "counter",
       "Requests the cache took no part in (method, Authorization)", &CacheStats::bypass},
      {"ringgate_cache_coalesced_waits_total", "counter",
       "Misses that waited for another request's response", &CacheStats::coalesced},
      {"ringgate_cache_revalidated_total", "counter", "Stored responses made fresh again by a 304",
       &CacheStats::revalidated},
      {"ringgate_cache_stores_total", "counter", "Responses stored", &CacheStats::stores},
      {"ringgate_cache_not_admitted_total", "counter",
       "Responses kept out by the admission filter or the budget", &CacheStats::not_admitted},
      {"ringgate_cache_uncacheable_total", "counter",
       "Responses not stored (no-store, private, no lifetime, too large)",
       &CacheStats::uncacheable},
      {"ringgate_cache_evictions_total", "counter", "Entries evicted to make room",
       &CacheStats::evictions},
      {"ringgate_cache_purged_total", "counter", "Entries removed by purge", &CacheStats::purged},
      {"ringgate_cache_objects", "gauge", "Entries held", &CacheStats::objects},
      {"ringgate_cache_bytes", "gauge", "Bytes held (keys, heads, bodies)", &CacheStats::bytes},
  };
  for (const auto& k : kinds) {
    metric_head(out, k.name, k.type, k.help);
    for (size_t i = 0; i < caches_.size(); ++i) {
      metric_line(out, k.name, "cache", caches_[i]->name(), stats[i].*k.field);
    }
  }
  metric_head(out, "ringgate_cache_memory_bytes", "gauge", "The cache's memory budget");
  for (const auto& c : caches_) {
    metric_line(out, "ringgate_cache_memory_bytes", "cache", c->name(), c->memory());
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
  render_shared("health_checks_total", "counter", "Active health checks run",
                [](const SharedEndpoint& s) { return s.checks.load(); });
  render_shared("health_checks_failed_total", "counter",
                "Active health checks failed (refused, timed out, TLS failed, not 2xx)",
                [](const SharedEndpoint& s) { return s.checks_failed.load(); });
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

void Gateway::render_route_metrics(std::string& out) const {
  const std::vector<RouteConfig>& routes = config_->routes;
  if (routes.empty() || workers_.empty()) {
    return;
  }
  auto label = [&](size_t r) { return "route=\"" + routes[r].name + "\""; };
  static constexpr const char* kClasses[] = {"1xx", "2xx", "3xx", "4xx", "5xx", "aborted"};
  metric_head(out, "ringgate_route_requests_total", "counter",
              "Requests that reached the route, by the class of their response (aborted: the "
              "client left unanswered)");
  for (size_t r = 0; r < routes.size(); ++r) {
    for (size_t c = 0; c < std::size(kClasses); ++c) {
      uint64_t n = 0;
      for (const auto& w : workers_) {
        n += w->route_counters(r).responses[c].load(std::memory_order_relaxed);
      }
      out.append("ringgate_route_requests_total{").append(label(r)).append(",class=\"");
      out.append(kClasses[c]).append("\"} ").append(std::to_string(n)).append("\n");
    }
  }
  for (const auto& [name, field, help] :
       {std::tuple{"ringgate_route_bytes_in_total", &RouteCounters::bytes_in,
                   "Request bytes (head and body) of the route's requests"},
        std::tuple{"ringgate_route_bytes_out_total", &RouteCounters::bytes_out,
                   "Response bytes written to the clients of the route"}}) {
    metric_head(out, name, "counter", help);
    for (size_t r = 0; r < routes.size(); ++r) {
      uint64_t n = 0;
      for (const auto& w : workers_) {
        n += (w->route_counters(r).*field).load(std::memory_order_relaxed);
      }
      out.append(name).append("{").append(label(r)).append("} ");
      out.append(std::to_string(n)).append("\n");
    }
  }
  metric_head(out, "ringgate_route_request_duration_seconds", "histogram",
              "The route's requests, from the request head to the response's last byte written");
  for (size_t r = 0; r < routes.size(); ++r) {
    std::vector<const LatencyHistogram*> parts;
    for (const auto& w : workers_) {
      parts.push_back(&w->route_counters(r).latency);
    }
    render_histogram(out, "ringgate_route_request_duration_seconds", label(r), parts);
  }
}

void Gateway::render_aggregate_backend_metrics(std::string& out) const {
  const std::vector<RouteConfig>& routes = config_->routes;
  // (route, backend) → the shards' counters.
  struct Part {
    const RouteConfig* route;
    size_t backend;
    std::vector<const AggregateBackendCounters*> shards;
  };
  std::vector<Part> parts;
  for (const RouteConfig& r : routes) {
    const auto* action = std::get_if<AggregateAction>(&r.action);
    if (!action) {
      continue;
    }
    for (size_t b = 0; b < action->backends.size(); ++b) {
      Part p{&r, b, {}};
      for (const auto& w : workers_) {
        if (const AggregateBackendCounters* c = w->backend_counters(&r)) {
          p.shards.push_back(&c[b]);
        }
      }
      parts.push_back(std::move(p));
    }
  }
  if (parts.empty()) {
    return;
  }
  auto labels = [](const Part& p) {
    return "route=\"" + p.route->name + "\",backend=\"" +
           std::get<AggregateAction>(p.route->action).backends[p.backend].key + "\"";
  };
  auto sum = [](const Part& p, auto field) {
    uint64_t n = 0;
    for (const AggregateBackendCounters* c : p.shards) {
      n += field(*c).load(std::memory_order_relaxed);
    }
    return n;
  };
  // A counter with one series per backend.
  auto per_backend = [&](const char* name, const char* help,
                         std::atomic<uint64_t> AggregateBackendCounters::*field) {
    metric_head(out, name, "counter", help);
    for (const Part& p : parts) {
      out.append(name).append("{").append(labels(p)).append("} ");
      out
          .append(std::to_string(sum(
              p, [field](const AggregateBackendCounters& c) -> const auto& { return c.*field; })))
          .append("\n");
    }
  };
  per_backend("ringgate_aggregate_backend_calls_total",
              "Calls of an aggregation backend (each for_each element is one)",
              &AggregateBackendCounters::calls);
  metric_head(out, "ringgate_aggregate_backend_failures_total", "counter",
              "Aggregation backends that failed, by kind (kinds that never happened are left out)");
  for (const Part& p : parts) {
    for (size_t k = 1; k < kErrorKindCount; ++k) {
      const uint64_t n = sum(
          p, [k](const AggregateBackendCounters& c) -> const auto& { return c.failures[k]; });
      if (n > 0) {
        out.append("ringgate_aggregate_backend_failures_total{").append(labels(p));
        out.append(",kind=\"").append(error_code(static_cast<ErrorKind>(k))).append("\"} ");
        out.append(std::to_string(n)).append("\n");
      }
    }
  }
  per_backend("ringgate_aggregate_backend_defaults_total",
              "Answers that carried an optional backend's default in place of its response",
              &AggregateBackendCounters::defaults);
  metric_head(out, "ringgate_aggregate_backend_duration_seconds", "histogram",
              "Aggregation backend calls, from their start to their response complete or failure");
  for (const Part& p : parts) {
    std::vector<const LatencyHistogram*> h;
    for (const AggregateBackendCounters* c : p.shards) {
      h.push_back(&c->latency);
    }
    render_histogram(out, "ringgate_aggregate_backend_duration_seconds", labels(p), h);
  }
}

void Gateway::render_log_metrics(std::string& out) const {
  uint64_t lines[2] = {};  // access, error
  uint64_t dropped[2] = {};
  for (const auto& w : workers_) {
    const LogStream* streams[2] = {w->access_log(), w->error_log()};
    for (size_t i = 0; i < 2; ++i) {
      if (streams[i]) {
        lines[i] += streams[i]->lines();
        dropped[i] += streams[i]->dropped();
      }
    }
  }
  static constexpr const char* kLogs[] = {"access", "error"};
  metric_head(out, "ringgate_log_lines_total", "counter",
              "Request log lines written to the shards' buffers, by log");
  for (size_t i = 0; i < 2; ++i) {
    out.append("ringgate_log_lines_total{log=\"").append(kLogs[i]).append("\"} ");
    out.append(std::to_string(lines[i])).append("\n");
  }
  metric_head(out, "ringgate_log_dropped_total", "counter",
              "Request log lines dropped because every buffer of the shard was being written");
  for (size_t i = 0; i < 2; ++i) {
    out.append("ringgate_log_dropped_total{log=\"").append(kLogs[i]).append("\"} ");
    out.append(std::to_string(dropped[i])).append("\n");
  }
  metric_head(out, "ringgate_log_write_errors_total", "counter",
              "Log buffers that could not be written (the output is gone or full)");
  out.append("ringgate_log_write_errors_total ")
      .append(std::to_string(log_writer_.write_errors()))
      .append("\n");
  metric_head(out, "ringgate_log_reopens_total", "counter", "Log files opened again (SIGUSR1)");
  out.append("ringgate_log_reopens_total ")
      .append(std::to_string(log_writer_.reopens()))
      .append("\n");
}

void Gateway::render_tls_metrics(std::string& out) const {
  const std::vector<ListenConfig>& listen = config_->server.listen;
  if (workers_.empty() ||
      std::none_of(listen.begin(), listen.end(), [](const ListenConfig& l) { return l.tls; })) {
    return;
  }
  auto sum = [this](auto field) {
    uint64_t n = 0;
    for (const auto& w : workers_) {
      n += field(w->tls_counters()).load(std::memory_order_relaxed);
    }
    return n;
  };
  metric_head(out, "ringgate_tls_handshakes_total", "counter",
              "TLS handshakes completed, by version and by kind (full or resumed)");
  static constexpr const char* kVersions[] = {"TLSv1.2", "TLSv1.3"};
  static constexpr const char* kKinds[] = {"full", "resumed"};
  for (size_t v = 0; v < 2; ++v) {
    for (size_t k = 0; k < 2; ++k) {
      out.append("ringgate_tls_handshakes_total{version=\"").append(kVersions[v]);
      out.append("\",result=\"").append(kKinds[k]).append("\"} ");
      out.append(std::to_string(sum([&](const TlsCounters& c) -> const std::atomic<uint64_t>& {
        return c.handshakes[v][k];
      })));
      out.append("\n");
    }
  }
  metric_head(out, "ringgate_tls_resumptions_total", "counter",
              "TLS handshakes that resumed a session (a ticket from any shard)");
  metric_line(out, "ringgate_tls_resumptions_total", {}, {},
              sum([](const TlsCounters& c) -> const std::atomic<uint64_t>& {
                return c.handshakes[0][1];
              }) + sum([](const TlsCounters& c) -> const std::atomic<uint64_t>& {
                return c.handshakes[1][1];
              }));
  metric_head(out, "ringgate_tls_handshake_failures_total", "counter",
              "TLS handshakes that failed, by reason");
  for (size_t r = 1; r < static_cast<size_t>(TlsFailure::kCount); ++r) {
    metric_line(
        out, "ringgate_tls_handshake_failures_total", "reason",
        tls_failure_name(static_cast<TlsFailure>(r)),
        sum([r](const TlsCounters& c) -> const std::atomic<uint64_t>& { return c.failures[r]; }));
  }
  metric_head(out, "ringgate_tls_bad_records_total", "counter",
              "Established TLS connections closed with an alert for a bad record");
  metric_line(
      out, "ringgate_tls_bad_records_total", {}, {},
      sum([](const TlsCounters& c) -> const std::atomic<uint64_t>& { return c.bad_records; }));
  metric_head(out, "ringgate_tls_handshakes_in_progress", "gauge",
              "TLS handshakes in progress (limit per shard: tls.max_handshakes)");
  metric_line(
      out, "ringgate_tls_handshakes_in_progress", {}, {},
      sum([](const TlsCounters& c) -> const std::atomic<uint64_t>& { return c.in_flight; }));
  metric_head(out, "ringgate_tls_certificate_expiry_seconds", "gauge",
              "Seconds until each served certificate expires (negative: expired)");
  const int64_t now = static_cast<int64_t>(time(nullptr));
  for (const ListenConfig& l : listen) {
    if (!l.tls) {
      continue;
    }
    for (const TlsCertificateInfo& c : l.tls->server->certificates()) {
      out.append("ringgate_tls_certificate_expiry_seconds{listener=\"").append(l.address);
      out.append("\",cert=\"").append(c.file).append("\"} ");
      out.append(std::to_string(c.not_after - now)).append("\n");
    }
  }
  metric_head(out, "ringgate_tls_certificate_reloads_total", "counter",
              "Times changed certificate files were loaded and put in use");
  uint64_t reloads = 0;
  for (const ListenConfig& l : listen) {
    reloads += l.tls ? l.tls->server->reloads() : 0;
  }
  metric_line(out, "ringgate_tls_certificate_reloads_total", {}, {}, reloads);
}

}  // namespace ringgate
