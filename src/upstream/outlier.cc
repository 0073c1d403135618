// Passive outlier detection: an endpoint that keeps failing the tries this shard sends it is
// ejected for every shard (SharedEndpoint::ejected_until_ms), longer each time.

#include <algorithm>

#include "ringgate/upstream/cluster.h"

namespace ringgate {

void outlier_note(UpstreamCluster& c, UpstreamEndpoint& ep, bool connect_failed, bool server_error,
                  uint64_t now_ms) {
  const OutlierConfig& cfg = c.config->outlier;
  bool eject = false;
  if (connect_failed) {
    eject = cfg.consecutive_connect_failures > 0 &&
            ++ep.consecutive_connect_failures >= cfg.consecutive_connect_failures;
  } else {
    ep.consecutive_connect_failures = 0;
    if (server_error) {
      eject = cfg.consecutive_5xx > 0 && ++ep.consecutive_5xx >= cfg.consecutive_5xx;
    } else {
      ep.consecutive_5xx = 0;
    }
  }
  if (!eject) {
    return;
  }
  ep.consecutive_5xx = ep.consecutive_connect_failures = 0;
  // Never take out more than max_ejection_percent of the endpoints.
  size_t ejected = 0;
  for (const UpstreamEndpoint& e : c.endpoints) {
    ejected += e.shared->ejected_until_ms.load(std::memory_order_relaxed) > now_ms;
  }
  if ((ejected + 1) * 100 > size_t{cfg.max_ejection_percent} * c.endpoints.size()) {
    return;
  }
  SharedEndpoint& shared = *ep.shared;
  const uint32_t times = shared.ejections.fetch_add(1, std::memory_order_relaxed) + 1;
  const uint64_t base = static_cast<uint64_t>(cfg.base_ejection.count());
  const uint64_t duration = std::min(base * times, static_cast<uint64_t>(cfg.max_ejection.count()));
  shared.ejected_until_ms.store(now_ms + duration, std::memory_order_relaxed);
  bump(c.counters.ejections);
  upstream_event("upstream %s: endpoint %s ejected for %llu ms (ejection %u; outlier detection)",
                 c.config->name.c_str(), ep.authority.c_str(),
                 static_cast<unsigned long long>(duration), times);
}

}  // namespace ringgate
