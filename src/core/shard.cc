#include "ringgate/core/shard.h"

#include <pthread.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "ringgate/core/clock.h"

namespace ringgate {

thread_local Shard* Shard::current_ = nullptr;

namespace {
constexpr unsigned kOpWake = 1;
}

Shard::Shard(unsigned index) : index_(index), timers_(monotonic_ms()) {
  now_us_ = monotonic_ns() / 1000;
  now_ms_ = now_us_ / 1000;
  wake_fd_ = eventfd(0, EFD_CLOEXEC);
}

Shard::~Shard() {
  if (wake_fd_ >= 0) {
    close(wake_fd_);
  }
}

bool Shard::init(const ReactorOptions& options, std::string& error) {
  if (wake_fd_ < 0) {
    error = std::string("eventfd: ") + strerror(errno);
    return false;
  }
  current_ = this;
  return reactor_.init(options, error);
}

void Shard::refresh_clock() {
  now_us_ = monotonic_ns() / 1000;
  now_ms_ = now_us_ / 1000;
}

void Shard::arm_wake_read() {
  reactor_.submit_read(wake_fd_, &wake_value_, sizeof wake_value_, this, kOpWake);
}

void Shard::wake() {
  uint64_t one = 1;
  ssize_t n = write(wake_fd_, &one, sizeof one);
  (void)n;  // an eventfd at its maximum is already signalled
}

bool Shard::post(std::function<void()> task) {
  {
    std::lock_guard<std::mutex> lock(posted_mutex_);
    if (mailbox_closed_) {
      return false;
    }
    posted_.push_back(std::move(task));
    has_posted_.store(true, std::memory_order_release);
  }
  wake();
  return true;
}

void Shard::complete(unsigned op, int res, uint32_t) {
  if (op != kOpWake) {
    return;
  }
  if (res < 0 && res != -EINTR && res != -EAGAIN && res != -ECANCELED) {
    return;  // eventfd broken: nothing sensible to re-arm
  }
  arm_wake_read();
  if (has_posted_.load(std::memory_order_acquire)) {
    std::vector<std::function<void()>> tasks;
    {
      std::lock_guard<std::mutex> lock(posted_mutex_);
      tasks.swap(posted_);
      has_posted_.store(false, std::memory_order_relaxed);
    }
    for (auto& task : tasks) {
      task();
    }
  }
  if (hooks_) {
    hooks_->on_wake();
  }
}

// Expired timers fired per loop iteration: a header timeout (answer and close) costs some
// microseconds, so this bounds the stall one iteration adds to the requests in it.
constexpr uint32_t kTimersPerIteration = 8;

void Shard::run(ShardHooks& hooks) {
  hooks_ = &hooks;
  arm_wake_read();
  // The loop ends once the hooks say so and no task waits; a task posted later is refused.
  auto ended = [this, &hooks] {
    if (!hooks.finished()) {
      return false;
    }
    std::lock_guard<std::mutex> lock(posted_mutex_);
    mailbox_closed_ = posted_.empty();
    return mailbox_closed_;
  };
  int bound = -1;  // what end_of_iteration put off, due within this many ms
  while (!ended()) {
    int timeout = timers_.next_timeout_ms(now_ms_);
    if (bound >= 0 && (timeout < 0 || bound < timeout)) {
      timeout = bound;
    }
    reactor_.wait(timeout);
    // The clock must be fresh before any handler runs: a timer armed by a completion with the
    // time from before a long sleep would expire at once.
    refresh_clock();
    hooks.after_wait();
    reactor_.dispatch();
    // A few expiries per iteration: a burst of them (connections opened together, timing out
    // together) is served between completions rather than in one stall.
    timers_.advance(now_ms_, kTimersPerIteration);
    bound = hooks.end_of_iteration();
  }
  hooks_ = nullptr;
}

bool pin_current_thread(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return pthread_setaffinity_np(pthread_self(), sizeof set, &set) == 0;
}

}  // namespace ringgate
