// Endpoint addresses: numeric ones published at start, names resolved by the gateway (never on a
// shard: lookups block) and re-resolved every dns_refresh, hosts_file first. Shards pick up a new
// address at their next pick (sync_endpoint_address).

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <mutex>

#include "ringgate/core/clock.h"
#include "ringgate/server/gateway.h"
#include "ringgate/upstream/cluster.h"

namespace ringgate {

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

}  // namespace ringgate
