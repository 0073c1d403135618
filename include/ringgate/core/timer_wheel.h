#pragma once
// Per-shard hashed timer wheel. Timers are intrusive nodes embedded in their owners (connections),
// so arming and disarming never allocate. Resolution is one tick (kTickMs); expiry may be late by
// up to a tick, never early.

#include <cstdint>

namespace ringgate {

class TimerWheel;

class Timer {
 public:
  // Called when the timer expires; the owner may re-arm from inside.
  using Callback = void (*)(Timer*);
  explicit Timer(Callback cb = nullptr) : callback_(cb) {}
  ~Timer();
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;
  void set_callback(Callback cb) { callback_ = cb; }
  bool armed() const { return wheel_ != nullptr; }
  uint64_t deadline_ms() const { return deadline_ms_; }

 private:
  friend class TimerWheel;
  Timer* prev_ = nullptr;
  Timer* next_ = nullptr;
  TimerWheel* wheel_ = nullptr;
  uint64_t deadline_ms_ = 0;
  uint32_t slot_ = 0;
  Callback callback_;
};

class TimerWheel {
 public:
  static constexpr uint64_t kTickMs = 10;
  static constexpr uint32_t kSlots = 1024;  // one lap ≈ 10 s; longer timers wait extra laps

  explicit TimerWheel(uint64_t now_ms = 0);
  ~TimerWheel();
  TimerWheel(const TimerWheel&) = delete;
  TimerWheel& operator=(const TimerWheel&) = delete;

  void arm(Timer& t, uint64_t deadline_ms);  // re-arms if already armed
  void disarm(Timer& t);
  // Fires the timers whose deadline is ≤ now_ms, at most `max_fired` of them: a burst of
  // expiries (thousands of connections opened together and timing out together) is spread over
  // loop iterations, between which I/O is served, instead of stalling the loop for all of them.
  // While some due timer is left, next_timeout_ms() says 0.
  void advance(uint64_t now_ms, uint32_t max_fired = UINT32_MAX);
  // Milliseconds until the next tick that may fire a timer; -1 if none armed.
  int next_timeout_ms(uint64_t now_ms) const;
  uint32_t size() const { return size_; }

 private:
  Timer* slots_[kSlots] = {};
  uint64_t current_tick_;  // last tick processed
  uint32_t size_ = 0;
  uint64_t earliest_ms_ = UINT64_MAX;  // exact minimum of armed deadlines, or a lower bound
  void recompute_earliest();
  // earliest_ms_ stays a lower bound of every armed deadline.
  void lower_earliest(uint64_t deadline_ms) {
    if (deadline_ms < earliest_ms_) {
      earliest_ms_ = deadline_ms;
    }
  }
};

}  // namespace ringgate
