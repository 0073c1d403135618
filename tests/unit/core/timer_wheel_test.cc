#include "ringgate/core/timer_wheel.h"

#include <gtest/gtest.h>

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
