#include "ringgate/upstream/cluster.h"

#include <algorithm>
#include <cstdarg>
#include <cstdio>

#include "pool.h"
#include "ringgate/core/hash.h"
#include "ringgate/http/access_log.h"

namespace ringgate {

namespace {

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

}  // namespace

bool sync_endpoint_address(UpstreamEndpoint& ep) {
  const SocketAddress* a = ep.shared->address.load(std::memory_order_acquire);
  if (a != ep.published) {
    ep.published = a;
    if (a) {
      ep.address = *a;
    }
    ++ep.generation;
    // Pooled connections go to the old address: let them go.
    while (ep.idle) {
      ep.idle->close();
    }
  }
  return a != nullptr;
}

void upstream_event(const char* format, ...) {
  RequestLog* log = RequestLog::current();
  if (!log) {
    return;
  }
  char text[1024];
  va_list args;
  va_start(args, format);
  const int n = vsnprintf(text, sizeof text, format, args);
  va_end(args);
  if (n > 0) {
    log->event(LogLevel::kWarn,
               std::string_view(text, std::min(static_cast<size_t>(n), sizeof text - 1)));
  }
}

std::string_view endpoint_host(const UpstreamEndpoint& ep) {
  std::string_view host = ep.authority;
  host = host.substr(0, host.rfind(':'));
  if (host.size() > 1 && host.front() == '[') {
    host = host.substr(1, host.size() - 2);
  }
  return host;
}

std::unique_ptr<UpstreamCluster> build_cluster(const Config& config, size_t index,
                                               SharedCluster& shared, unsigned shards,
                                               unsigned shard_index) {
  auto share = [shards](uint32_t limit) { return std::max(1u, (limit + shards - 1) / shards); };
  const UpstreamConfig& u = config.upstreams[index];
  auto c = std::make_unique<UpstreamCluster>();
  c->config = &u;
  c->index = static_cast<uint32_t>(index);
  c->shared = &shared;
  c->endpoints.resize(u.endpoints.size());
  c->endpoint_counters = std::make_unique<EndpointCounters[]>(u.endpoints.size());
  c->views.resize(u.endpoints.size());
  std::vector<std::string> names;
  std::vector<uint32_t> weights;
  for (size_t e = 0; e < u.endpoints.size(); ++e) {
    UpstreamEndpoint& ep = c->endpoints[e];
    ep.authority = u.endpoints[e].address;
    ep.weight = u.endpoints[e].weight;
    ep.shared = &shared.endpoints[e];
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
                                           c->table.get(), process_seed() + shard_index);
  c->max_connections = share(u.circuit.max_connections);
  c->max_pending = share(u.circuit.max_pending);
  c->max_requests = share(u.circuit.max_requests);
  return c;
}

}  // namespace ringgate
