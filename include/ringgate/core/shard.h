#pragma once
// A shard: one thread, one reactor, one timer wheel. Everything a request touches on this thread
// belongs to its shard; other threads reach it only through wake() and atomics.

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "ringgate/core/reactor.h"
#include "ringgate/core/timer_wheel.h"

namespace ringgate {

// What the layer above the shard plugs into its loop.
class ShardHooks {
 public:
  // Another thread called wake(): look at the shared atomics (stop request, config snapshot).
  virtual void on_wake() = 0;
  // After every wait, before completions are handled (the clock has just been refreshed).
  virtual void after_wait() = 0;
  // Once per loop iteration after completions and timers: free what is no longer in flight.
  // Returns the longest the next wait may sleep in ms (work it put off), or -1: no bound.
  virtual int end_of_iteration() = 0;
  // True when the loop may exit.
  virtual bool finished() = 0;

 protected:
  ~ShardHooks() = default;
};

class Shard final : public Completion {
 public:
  explicit Shard(unsigned index);
  ~Shard();
  Shard(const Shard&) = delete;
  Shard& operator=(const Shard&) = delete;

  // On the shard's own thread.
  bool init(const ReactorOptions& options, std::string& error);
  void run(ShardHooks& hooks);

  // Any thread: make the loop call hooks.on_wake() soon.
  void wake();
  // Any thread: run `task` on this shard's thread soon (with the next wake). For the rare work
  // another thread finishes for a shard (an admin answer decided on the main thread); the lock
  // is taken only when something was posted, never on the request path. False (the task is
  // dropped) once the loop has ended: a loop does not end while a task waits.
  bool post(std::function<void()> task);

  unsigned index() const { return index_; }
  Reactor& reactor() { return reactor_; }
  TimerWheel& timers() { return timers_; }
  // Monotonic milliseconds, refreshed once per loop iteration.
  uint64_t now_ms() const { return now_ms_; }
  uint64_t now_us() const { return now_us_; }             // same instant as now_ms(), finer
  const uint64_t& now_ms_ref() const { return now_ms_; }  // for objects that read it later
  const uint64_t& now_us_ref() const { return now_us_; }
  void refresh_clock();

  void complete(unsigned op, int res, uint32_t flags) override;

  // The shard running on this thread (nullptr elsewhere).
  static Shard* current() { return current_; }

 private:
  void arm_wake_read();

  unsigned index_;
  Reactor reactor_;
  TimerWheel timers_;
  uint64_t now_ms_ = 0;
  uint64_t now_us_ = 0;
  int wake_fd_ = -1;
  uint64_t wake_value_ = 0;
  ShardHooks* hooks_ = nullptr;
  std::mutex posted_mutex_;
  std::vector<std::function<void()>> posted_;
  std::atomic<bool> has_posted_{false};
  bool mailbox_closed_ = false;  // under posted_mutex_: the loop has ended
  static thread_local Shard* current_;
};

// Pins the calling thread to one CPU; false if the kernel refuses.
bool pin_current_thread(int cpu);

}  // namespace ringgate
