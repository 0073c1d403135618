// What this machine's kernel charges for what a shard pays besides the TCP stack, so that bench
// figures from two machines can be told apart by cause (bench/run prints it before every
// measurement):
//
//   platform_costs [SERVER_CPU CLIENT_CPU]      (default 1 0, as bench/run pins)
//
// - syscall: one getppid() round trip into the kernel and back, in ns (the least an
//   io_uring_enter costs; about 1 µs on a paravirtualized guest with page-table isolation and
//   no PCID);
// - sleep+wake: the CPU time a thread pinned to SERVER_CPU spends per cycle of going to sleep in
//   read() on an eventfd and being woken by a write from a thread on CLIENT_CPU, its read and its
//   write to the peer included: what a shard pays each time it waits in io_uring_enter for a
//   packet that a process on the other CPU sends;
// - round trip: the wall time of one such ping-pong, both sides sleeping;
// - page after a syscall: what reading a byte from a page costs right after a syscall, above
//   what it costs in a loop that stays in user space: the refill of its TLB entry (and its cache
//   line) that a kernel entry forces where page-table isolation runs without PCID (where it
//   does not, only the cache line's). 64 pages 2 MiB apart, so that no two share a page-table page,
//   as a process's code, stack, heap and buffers do not.
//
// Each figure but the last is the lowest of a few batches (the least the machine charges, not
// its noise); the last is a difference of three timings, so it is their median.
// Not a product: a measurement for bench/run and perf/, about a second long.

#include <pthread.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "ringgate/core/syscall_cost.h"

namespace {

uint64_t now_ns(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

bool pin(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return pthread_setaffinity_np(pthread_self(), sizeof set, &set) == 0;
}

struct PingPong {
  int to_server = -1;
  int to_client = -1;
  int client_cpu = 0;
  int rounds = 0;
};

void signal_fd(int fd) {
  const uint64_t one = 1;
  if (write(fd, &one, sizeof one) != sizeof one) {
    std::perror("platform_costs: eventfd write");
    std::exit(1);
  }
}

void wait_fd(int fd) {
  uint64_t value = 0;
  if (read(fd, &value, sizeof value) != sizeof value) {
    std::perror("platform_costs: eventfd read");
    std::exit(1);
  }
}

void* client_side(void* arg) {
  auto* pp = static_cast<PingPong*>(arg);
  pin(pp->client_cpu);
  for (int i = 0; i < pp->rounds; ++i) {
    signal_fd(pp->to_server);
    wait_fd(pp->to_client);
  }
  return nullptr;
}

// The time per pass of `passes` passes: a syscall first if `enter`, then a byte read from each of
// `count` pages if `touch`.
double pass_ns(char* const* pages, int count, bool enter, bool touch, int passes) {
  unsigned sum = 0;
  const uint64_t start = now_ns(CLOCK_MONOTONIC);
  for (int i = 0; i < passes; ++i) {
    if (enter) {
      syscall(SYS_getppid);
    }
    for (int p = 0; touch && p < count; ++p) {
      sum += *static_cast<volatile char*>(pages[p]);
    }
  }
  if (sum != 0) {
    std::abort();  // the pages hold zeros; the sum keeps the reads
  }
  return static_cast<double>(now_ns(CLOCK_MONOTONIC) - start) / passes;
}

// ns per page that a syscall before the reads adds (see the top of the file), the median of a
// few batches that each time the three kinds of pass back to back; -1 if the memory could not
// be mapped.
double page_after_syscall_ns() {
  constexpr int kPages = 64;
  constexpr size_t kApart = size_t{2} << 20;
  const size_t span = kApart * kPages;
  void* map = mmap(nullptr, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (map == MAP_FAILED) {
    return -1;
  }
  madvise(map, span, MADV_NOHUGEPAGE);
  char* pages[kPages];
  for (int p = 0; p < kPages; ++p) {
    // A different cache set in each page, so that the reads do not evict one another.
    pages[p] = static_cast<char*>(map) + kApart * p + (p * 64) % 4096;
    *pages[p] = 0;  // faulted in before timing
  }
  constexpr int kBatches = 9;
  constexpr int kPasses = 5000;
  double added[kBatches];
  for (double& a : added) {
    const double both = pass_ns(pages, kPages, true, true, kPasses);
    const double enter = pass_ns(pages, kPages, true, false, kPasses);
    const double touch = pass_ns(pages, kPages, false, true, kPasses);
    a = (both - enter - touch) / kPages;
  }
  munmap(map, span);
  std::nth_element(added, added + kBatches / 2, added + kBatches);
  return std::max(0.0, added[kBatches / 2]);
}

}  // namespace

int main(int argc, char** argv) {
  const int server_cpu = argc > 2 ? std::atoi(argv[1]) : 1;
  const int client_cpu = argc > 2 ? std::atoi(argv[2]) : 0;
  if (!pin(server_cpu)) {
    std::fprintf(stderr, "platform_costs: cannot pin to CPU %d\n", server_cpu);
    return 1;
  }
  // Timed as the shards time it for server.batch_wait: auto, with more calls.
  const double sys_ns = ringgate::least_syscall_ns(5, 100000);
  const double page_ns = page_after_syscall_ns();

  constexpr int kRounds = 4000;
  double best_cpu = 1e18;
  double best_wall = 1e18;
  for (int batch = 0; batch < 4; ++batch) {
    PingPong pp;
    pp.to_server = eventfd(0, EFD_CLOEXEC);
    pp.to_client = eventfd(0, EFD_CLOEXEC);
    pp.client_cpu = client_cpu;
    pp.rounds = kRounds;
    if (pp.to_server < 0 || pp.to_client < 0) {
      std::perror("platform_costs: eventfd");
      return 1;
    }
    pthread_t client;
    if (pthread_create(&client, nullptr, client_side, &pp) != 0) {
      std::fprintf(stderr, "platform_costs: cannot start a thread\n");
      return 1;
    }
    const uint64_t cpu0 = now_ns(CLOCK_THREAD_CPUTIME_ID);
    const uint64_t wall0 = now_ns(CLOCK_MONOTONIC);
    for (int i = 0; i < kRounds; ++i) {
      wait_fd(pp.to_server);
      signal_fd(pp.to_client);
    }
    const uint64_t cpu = now_ns(CLOCK_THREAD_CPUTIME_ID) - cpu0;
    const uint64_t wall = now_ns(CLOCK_MONOTONIC) - wall0;
    pthread_join(client, nullptr);
    close(pp.to_server);
    close(pp.to_client);
    best_cpu = std::min(best_cpu, static_cast<double>(cpu) / kRounds);
    best_wall = std::min(best_wall, static_cast<double>(wall) / kRounds);
  }
  std::printf(
      "syscall %.0f ns, sleep+wake %.2f us of CPU %d per cycle (woken from CPU %d), "
      "round trip %.1f us, ",
      sys_ns, best_cpu / 1000.0, server_cpu, client_cpu, best_wall / 1000.0);
  if (page_ns >= 0) {
    std::printf("a page after a syscall %.1f ns\n", page_ns);
  } else {
    std::printf("a page after a syscall not measured (no memory to map)\n");
  }
  return 0;
}
