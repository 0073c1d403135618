// The `aggregate:` section: the fan-out budget that a shard's aggregate routes share.

#include <algorithm>

#include "config/sections.h"

namespace ringgate::config_detail {
namespace {

constexpr uint32_t kMaxCallsInFlight = 1 << 20;
constexpr Duration kMinQueueTimeout{1};
constexpr Duration kMaxQueueTimeout{60 * 1000};

}  // namespace

void load_aggregate_budget(const Loader& loader, const Field& f, AggregateBudgetConfig& budget) {
  const Section s(loader, f, {"max_calls_in_flight", "queue_timeout"});
  if (const Field* v = s.find("max_calls_in_flight")) {
    if (v->node.IsScalar() && v->node.Scalar() == "auto") {
      budget.max_calls_in_flight = 0;
    } else if (v->node.IsScalar()) {
      budget.max_calls_in_flight =
          static_cast<uint32_t>(loader.read_number(*v, 1, kMaxCallsInFlight));
    } else {
      loader.fail(*v, "expected a number or 'auto', got " + Loader::describe(v->node));
    }
  }
  if (const Field* v = s.find("queue_timeout")) {
    budget.queue_timeout = loader.read_duration(*v, kMinQueueTimeout, kMaxQueueTimeout);
  }
}

}  // namespace ringgate::config_detail

namespace ringgate {

uint32_t aggregate_calls_auto(uint64_t nofile, uint32_t connections, uint32_t workers) {
  // Each call in flight holds an upstream connection: half of what the clients leave, so plain
  // proxying keeps the other half.
  constexpr uint64_t kMin = 64;
  constexpr uint64_t kMax = 1024;
  const uint64_t spare = nofile > connections ? nofile - connections : 0;
  const uint64_t share = spare / 2 / std::max<uint32_t>(workers, 1);
  return static_cast<uint32_t>(std::clamp(share, kMin, kMax));
}

}  // namespace ringgate
