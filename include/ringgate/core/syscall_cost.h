// What one syscall costs on this machine: the shards time it at start (server.batch_wait: auto,
// syscall_cost_ns in reactor.h) and perf/platform_costs prints it on bench/run's machine line.
// Header-only, so that both time it the same way though the bench tool links no project library.

#pragma once

#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>

namespace ringgate {

// The least time one getppid() round trip into the kernel took, in ns, over `batches` timed
// batches of `calls` calls: another thread or an interrupt only ever adds time.
inline double least_syscall_ns(int batches, int calls) {
  auto best = std::chrono::steady_clock::duration::max();
  for (int b = 0; b < batches; ++b) {
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < calls; ++i) {
      syscall(SYS_getppid);
    }
    best = std::min(best, std::chrono::steady_clock::now() - start);
  }
  return static_cast<double>(std::chrono::duration_cast<std::chrono::nanoseconds>(best).count()) /
         calls;
}

}  // namespace ringgate
