// The circuit breaker and the retry budget: what all shards decide together about a cluster,
// through its SharedCluster atomics, touched only on failures and while the circuit is open.

#include <algorithm>

#include "ringgate/upstream/cluster.h"

namespace ringgate {

bool circuit_admits(UpstreamCluster& c, uint64_t now_ms, bool* probe) {
  const CircuitConfig& cfg = c.config->circuit;
  if (cfg.consecutive_failures == 0) {
    return true;
  }
  SharedCluster& shared = *c.shared;
  const uint64_t open_until = shared.open_until_ms.load(std::memory_order_relaxed);
  if (open_until == 0) {
    return true;
  }
  if (now_ms < open_until) {
    return false;
  }
  // Half-open: one request (from any shard) probes; the others are refused until it is done.
  bool expected = false;
  if (!shared.half_open_probe.compare_exchange_strong(expected, true, std::memory_order_acq_rel)) {
    return false;
  }
  *probe = true;
  return true;
}

void circuit_record(UpstreamCluster& c, bool success, bool* probe, uint64_t now_ms) {
  const CircuitConfig& cfg = c.config->circuit;
  if (cfg.consecutive_failures == 0) {
    return;
  }
  SharedCluster& shared = *c.shared;
  if (success) {
    if (shared.consecutive_failures.load(std::memory_order_relaxed) != 0) {
      shared.consecutive_failures.store(0, std::memory_order_relaxed);
    }
    if (*probe) {
      shared.open_until_ms.store(0, std::memory_order_relaxed);
      shared.half_open_probe.store(false, std::memory_order_release);
      *probe = false;
      upstream_event("upstream %s: circuit closed (the probe call succeeded)",
                     c.config->name.c_str());
    }
    return;
  }
  const uint32_t n = shared.consecutive_failures.fetch_add(1, std::memory_order_relaxed) + 1;
  const uint64_t reopen = now_ms + static_cast<uint64_t>(cfg.open_for.count());
  if (*probe) {
    shared.open_until_ms.store(reopen, std::memory_order_relaxed);
    shared.half_open_probe.store(false, std::memory_order_release);
    shared.circuit_opened.fetch_add(1, std::memory_order_relaxed);
    *probe = false;
    upstream_event("upstream %s: circuit open again for %lld ms (the probe call failed)",
                   c.config->name.c_str(), static_cast<long long>(cfg.open_for.count()));
  } else if (n >= cfg.consecutive_failures) {
    uint64_t closed = 0;
    if (shared.open_until_ms.compare_exchange_strong(closed, reopen, std::memory_order_relaxed)) {
      shared.circuit_opened.fetch_add(1, std::memory_order_relaxed);
      upstream_event("upstream %s: circuit open for %lld ms after %u failures in a row",
                     c.config->name.c_str(), static_cast<long long>(cfg.open_for.count()), n);
    }
  }
}

void circuit_release_probe(UpstreamCluster& c, bool* probe) {
  if (*probe) {
    c.shared->half_open_probe.store(false, std::memory_order_release);
    *probe = false;
  }
}

bool retry_budget_allows(const UpstreamCluster& c) {
  const RetryBudgetConfig& b = c.config->retry_budget;
  const uint32_t allowed = std::max(b.min_concurrent, c.requests * b.percent / 100);
  return c.retries < allowed;
}

}  // namespace ringgate
