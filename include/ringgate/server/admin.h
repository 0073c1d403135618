#pragma once
// The admin endpoint: GET /healthz, GET /metrics (Prometheus text, per-shard counters summed on
// scrape), GET /config, POST /reload. Served on its own listener (admin.listen, loopback by
// default) by shard 0.

#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

#include "ringgate/server/gateway.h"

namespace ringgate {

// Renders every counter of every shard, summed, in Prometheus text format 0.0.4.
std::string render_metrics(const Gateway& gateway);

// The answer to POST /reload, decided on the main thread: `status` (200 reloaded, 409 busy or not
// available, 422 the config refused, 500 the new process failed), `state` ("reloaded", "busy",
// "refused", "failed"), the generation serving afterwards, the config's problems (file:line:
// reason), a detail, and the new process's pid when there is one.
AdminResponse reload_answer(int status, std::string_view state, uint64_t generation,
                            const std::vector<std::string>& problems, std::string_view detail,
                            pid_t pid);

// The handler to install with Gateway::set_admin_handler.
AdminHandler make_admin_handler(const Gateway& gateway);

}  // namespace ringgate
