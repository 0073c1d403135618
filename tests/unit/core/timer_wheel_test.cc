#include "ringgate/core/timer_wheel.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <random>
#include <vector>

namespace ringgate {
namespace {

std::vector<int>* fired_log = nullptr;

struct Tagged : Timer {
  explicit Tagged(int t)
      : Timer([](Timer* self) { fired_log->push_back(static_cast<Tagged*>(self)->tag); }), tag(t) {}
  int tag;
};

TEST(TimerWheel, FiresInDeadlineOrderNeverEarly) {
  std::vector<int> log;
  fired_log = &log;
  TimerWheel wheel(1000);
  Tagged a(1), b(2), c(3);
  wheel.arm(a, 1050);
  wheel.arm(b, 1020);
  wheel.arm(c, 1500);
  wheel.advance(1019);
  EXPECT_TRUE(log.empty());
  wheel.advance(1030);
  EXPECT_EQ(log, std::vector<int>{2});
  wheel.advance(1499);
  EXPECT_EQ(log, (std::vector<int>{2, 1}));
  wheel.advance(1510);
  EXPECT_EQ(log, (std::vector<int>{2, 1, 3}));
  EXPECT_EQ(wheel.size(), 0u);
  EXPECT_EQ(wheel.next_timeout_ms(1510), -1);
}

// Re-arming into the slot a timer is already in keeps it there with the new deadline: a later
// one within the tick, an earlier one, and one a whole lap later (same slot, next lap) all fire in
// their own tick, never in the old deadline's.
TEST(TimerWheel, RearmIntoTheSameSlotKeepsTheNewDeadline) {
  std::vector<int> log;
  fired_log = &log;
  TimerWheel wheel(1000);
  constexpr uint64_t kLap = TimerWheel::kSlots * TimerWheel::kTickMs;
  Tagged a(1), b(2), c(3);
  wheel.arm(a, 1101);
  wheel.arm(a, 1105);  // same tick, later
  wheel.arm(b, 1109);
  wheel.arm(b, 1102);                           // same tick, earlier
  EXPECT_LE(wheel.next_timeout_ms(1000), 102);  // never sleeps past a deadline
  wheel.arm(c, 1200);
  wheel.arm(c, 1200 + kLap);  // same slot, one lap later
  EXPECT_EQ(wheel.size(), 3u);
  wheel.advance(1100);
  EXPECT_TRUE(log.empty());
  wheel.advance(1110);
  std::sort(log.begin(), log.end());
  EXPECT_EQ(log, (std::vector<int>{1, 2}));
  wheel.advance(1210);
  wheel.advance(1300);
  EXPECT_EQ(log.size(), 2u);  // c is a lap away
  wheel.advance(1200 + kLap - 1);
  EXPECT_EQ(log.size(), 2u);
  wheel.advance(1200 + kLap + TimerWheel::kTickMs);
  EXPECT_EQ(log, (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(wheel.size(), 0u);
}

// A burst of due timers is fired a few per call: the rest wait, never lost, and the wheel says
// there is no time to sleep until they have all fired.
TEST(TimerWheel, ABurstOfExpiriesIsSpreadOverCalls) {
  std::vector<int> log;
  fired_log = &log;
  TimerWheel wheel(1000);
  std::vector<std::unique_ptr<Tagged>> timers;
  for (int i = 0; i < 20; ++i) {
    timers.push_back(std::make_unique<Tagged>(i));
    wheel.arm(*timers.back(), 1010 + static_cast<uint64_t>(i % 3) * 10);  // three ticks
  }
  Tagged later(100);
  wheel.arm(later, 5000);
  wheel.advance(1100, 8);
  EXPECT_EQ(log.size(), 8u);
  EXPECT_EQ(wheel.next_timeout_ms(1100), 0);
  wheel.advance(1100, 8);
  EXPECT_EQ(log.size(), 16u);
  EXPECT_EQ(wheel.next_timeout_ms(1100), 0);
  wheel.advance(1100, 8);
  ASSERT_EQ(log.size(), 20u);
  std::vector<int> sorted = log;
  std::sort(sorted.begin(), sorted.end());
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(sorted[static_cast<size_t>(i)], i);  // each once
  }
  EXPECT_EQ(wheel.size(), 1u);
  EXPECT_GT(wheel.next_timeout_ms(1100), 3000);  // only `later` is left
  wheel.advance(5000, 8);
  EXPECT_EQ(log.back(), 100);
}

TEST(TimerWheel, DisarmAndRearm) {
  std::vector<int> log;
  fired_log = &log;
  TimerWheel wheel(0);
  Tagged a(1);
  wheel.arm(a, 100);
  wheel.disarm(a);
  wheel.advance(200);
  EXPECT_TRUE(log.empty());
  wheel.arm(a, 300);
  wheel.arm(a, 250);  // re-arm moves it
  wheel.advance(260);
  EXPECT_EQ(log, std::vector<int>{1});
}

TEST(TimerWheel, LongTimersSurviveLaps) {
  std::vector<int> log;
  fired_log = &log;
  TimerWheel wheel(0);
  Tagged a(1);
  const uint64_t lap = TimerWheel::kSlots * TimerWheel::kTickMs;
  wheel.arm(a, 3 * lap + 5);
  for (uint64_t t = 0; t < 3 * lap; t += 7) {
    wheel.advance(t);
  }
  EXPECT_TRUE(log.empty());
  wheel.advance(3 * lap + 20);
  EXPECT_EQ(log, std::vector<int>{1});
}

TEST(TimerWheel, NextTimeoutTracksEarliestAfterFiring) {
  std::vector<int> log;
  fired_log = &log;
  TimerWheel wheel(0);
  Tagged a(1), b(2);
  wheel.arm(a, 50);
  wheel.arm(b, 60000);
  wheel.advance(55);
  EXPECT_EQ(log, std::vector<int>{1});
  // After the expiry the wheel knows the next deadline is a minute away: no 10 ms wake-ups.
  EXPECT_GE(wheel.next_timeout_ms(55), 59000);
}

TEST(TimerWheel, NextTimeoutIsExactWithManyTimersAcrossLaps) {
  // Thousands of timers (slow clients' header deadlines, idle connections a lap or more away),
  // some disarmed or re-armed while the clock moves: the next timeout is never later than the
  // earliest deadline, and after an expiry it is that deadline exactly (no early wake-ups), as
  // found by looking at every timer.
  std::vector<int> log;
  fired_log = &log;
  TimerWheel wheel(0);
  std::mt19937 rng(7);
  const uint64_t lap = TimerWheel::kSlots * TimerWheel::kTickMs;
  std::vector<std::unique_ptr<Tagged>> timers;
  for (int i = 0; i < 4000; ++i) {
    timers.push_back(std::make_unique<Tagged>(i));
    wheel.arm(*timers.back(), 10000 + rng() % (3 * lap));
  }
  uint64_t now = 0;
  for (int step = 0; step < 3000; ++step) {
    now += 1 + rng() % 20;
    Tagged& t = *timers[rng() % timers.size()];
    if (rng() % 2) {
      wheel.disarm(t);
    } else {
      wheel.arm(t, now + 1 + rng() % (2 * lap));
    }
    const size_t fired_before = log.size();
    wheel.advance(now);
    uint64_t earliest = UINT64_MAX;
    for (const auto& p : timers) {
      if (p->armed()) {
        earliest = std::min(earliest, p->deadline_ms());
        // Due in a later tick than the one just processed (a timer may be late by up to a tick).
        ASSERT_GT((p->deadline_ms() + TimerWheel::kTickMs - 1) / TimerWheel::kTickMs,
                  now / TimerWheel::kTickMs)
            << "timer " << p->tag << " is overdue";
      }
    }
    if (earliest == UINT64_MAX) {
      EXPECT_EQ(wheel.next_timeout_ms(now), -1);
      continue;
    }
    // Never before the next tick boundary: the wheel's resolution.
    const uint64_t next_tick_ms = (now / TimerWheel::kTickMs + 1) * TimerWheel::kTickMs;
    const uint64_t exact = std::max(earliest, next_tick_ms) - now;
    const int timeout = wheel.next_timeout_ms(now);
    ASSERT_LE(static_cast<uint64_t>(timeout), exact) << "step " << step;
    if (log.size() > fired_before) {
      ASSERT_EQ(static_cast<uint64_t>(timeout), exact) << "step " << step;
    }
  }
  EXPECT_FALSE(log.empty());
}

TEST(TimerWheel, DestroyedTimerDisarms) {
  TimerWheel wheel(0);
  {
    Tagged a(1);
    wheel.arm(a, 10);
  }
  EXPECT_EQ(wheel.size(), 0u);
}

}  // namespace
}  // namespace ringgate
