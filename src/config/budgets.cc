// The process-wide budgets: `aggregate:` (the fan-out budget that a shard's aggregate routes
// share) and `overload:` (the memory and descriptors the shards may hold before they shed work).

#include <algorithm>

#include "config/sections.h"

namespace ringgate::config_detail {
namespace {

constexpr uint32_t kMaxCallsInFlight = 1 << 20;
constexpr Duration kMinQueueTimeout{1};
constexpr Duration kMaxQueueTimeout{60 * 1000};
constexpr uint64_t kMinOverloadMemory = 1 * kMiB;
constexpr uint64_t kMaxOverloadMemory = 64 * kTiB;
constexpr uint64_t kMinOverloadFds = 16;
constexpr uint64_t kMaxOverloadFds = 1 << 24;

}  // namespace

void load_aggregate_budget(const Loader& loader, const Field& f, AggregateBudgetConfig& budget) {
  const Section s(loader, f, {"max_calls_in_flight", "queue_timeout"});
  if (const Field* v = s.find("max_calls_in_flight")) {
    budget.max_calls_in_flight =
        static_cast<uint32_t>(loader.read_number_or_auto(*v, 1, kMaxCallsInFlight));
  }
  if (const Field* v = s.find("queue_timeout")) {
    budget.queue_timeout = loader.read_duration(*v, kMinQueueTimeout, kMaxQueueTimeout);
  }
}

void load_overload(const Loader& loader, const Field& f, OverloadConfig& overload) {
  const Section s(loader, f, {"memory", "fds"});
  if (const Field* v = s.find("memory")) {
    overload.memory = loader.read_size_or_auto(*v, kMinOverloadMemory, kMaxOverloadMemory);
  }
  if (const Field* v = s.find("fds")) {
    overload.fds = loader.read_number_or_auto(*v, kMinOverloadFds, kMaxOverloadFds);
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

uint64_t overload_memory_auto(uint64_t physical, uint64_t cgroup_limit) {
  // A quarter of what the process may use: the rest is the receive rings, the code, the
  // allocator's slack and the rest of the host.
  const uint64_t usable = cgroup_limit ? std::min(physical, cgroup_limit) : physical;
  return std::max<uint64_t>(usable / 4, 64 * config_detail::kMiB);
}

uint32_t buffer_count_auto(uint32_t connections) {
  constexpr uint32_t kMin = 256;
  constexpr uint32_t kMax = 4096;
  uint32_t count = kMin;
  while (count < kMax && count < connections / 4) {
    count *= 2;
  }
  return count;
}

uint64_t overload_fds_auto(uint64_t nofile) {
  // Kept back: listeners, the rings, the admin server, files opened at reload.
  constexpr uint64_t kReserve = 64;
  return nofile > 2 * kReserve ? nofile - kReserve : nofile / 2;
}

}  // namespace ringgate
