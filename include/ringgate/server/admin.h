#pragma once
// The admin endpoint: GET /healthz, GET /metrics (Prometheus text, per-shard counters summed on
// scrape). Served on its own listener (admin.listen, loopback by default) by shard 0.

#include <string>

#include "ringgate/server/gateway.h"

namespace ringgate {

// Renders every counter of every shard, summed, in Prometheus text format 0.0.4.
std::string render_metrics(const Gateway& gateway);

// The handler to install with Gateway::set_admin_handler.
AdminHandler make_admin_handler(const Gateway& gateway);

}  // namespace ringgate
