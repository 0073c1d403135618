#include "ringgate/core/batch_tuner.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

namespace ringgate {
namespace {

// Small numbers of windows, so that each schedule can be spelled out.
BatchTuner::Options small() {
  BatchTuner::Options o;
  o.min_requests = 100;
  o.first_probe = 2;
  o.hold = 3;
  o.max_hold = 12;
  o.margin = 0.05;
  return o;
}

// A shard whose CPU per request is `batched_ns` while it batches and `unbatched_ns` while not:
// runs `windows` busy windows of 1,000 requests and returns the setting each ran, '+' batching
// and '-' not.
std::string run(BatchTuner& t, int windows, uint64_t batched_ns, uint64_t unbatched_ns) {
  std::string ran;
  for (int i = 0; i < windows; ++i) {
    const bool on = t.batching();
    ran += on ? '+' : '-';
    t.window((on ? batched_ns : unbatched_ns) * 1000, 1000, true);
  }
  return ran;
}

TEST(BatchTuner, ProbesTheOtherSettingFirstAndLastAndKeepsItsOwnWhenNotClearlyCheaper) {
  BatchTuner t(true, small());
  // Two busy windows, then a probe (- + + -), then the hold of 3 windows before the next.
  EXPECT_EQ(run(t, 9, 1000, 980), "++-++-+++");
  EXPECT_EQ(t.probes(), 1u);
  EXPECT_EQ(t.switches(), 0u);
  EXPECT_TRUE(t.settled());
  EXPECT_DOUBLE_EQ(t.last_probe().batched_ns, 1000);
  EXPECT_DOUBLE_EQ(t.last_probe().unbatched_ns, 980);  // 2% cheaper: under the 5% margin
  EXPECT_FALSE(t.last_probe().switched);
}

TEST(BatchTuner, TakesTheOtherSettingWhenItCostsLessPastTheMargin) {
  BatchTuner t(false, small());
  EXPECT_EQ(run(t, 6, 800, 1000), "--+--+");
  EXPECT_EQ(t.probes(), 1u);
  EXPECT_EQ(t.switches(), 1u);
  EXPECT_TRUE(t.last_probe().switched);
  EXPECT_DOUBLE_EQ(t.last_probe().batched_ns, 800);
  EXPECT_DOUBLE_EQ(t.last_probe().unbatched_ns, 1000);
  EXPECT_TRUE(t.settled());
  // It batches from now on; the next probe tries not batching again and keeps batching.
  EXPECT_EQ(run(t, 7, 800, 1000), "+++-++-");
  EXPECT_EQ(t.probes(), 2u);
  EXPECT_EQ(t.switches(), 1u);
  EXPECT_TRUE(t.batching());
}

TEST(BatchTuner, ALoadThatRisesThroughAProbeWeighsOnBothSettingsAlike) {
  // The same cost either way, rising 10% a window: the probe's order (other, current, current,
  // other) gives both settings the same mean; measured in two halves (other, other, current,
  // current) the one measured first would look 20% cheaper.
  BatchTuner t(true, small());
  t.window(1000 * 1000, 1000, true);
  t.window(1000 * 1000, 1000, true);
  ASSERT_TRUE(t.probing());
  uint64_t cost = 1000;
  bool finished = false;
  for (int i = 0; i < 4; ++i) {
    finished = t.window(cost * 1000, 1000, true);
    cost += 100;
  }
  ASSERT_TRUE(finished);
  EXPECT_DOUBLE_EQ(t.last_probe().batched_ns, t.last_probe().unbatched_ns);
  EXPECT_FALSE(t.last_probe().switched);
}

TEST(BatchTuner, AWindowWithoutTheLoadToTellCancelsTheProbeAndCountsForNothing) {
  BatchTuner t(true, small());
  EXPECT_EQ(run(t, 3, 1000, 500), "++-");
  ASSERT_TRUE(t.probing());
  EXPECT_FALSE(t.window(100, 99, true));  // under min_requests: the probe is off
  EXPECT_FALSE(t.probing());
  EXPECT_TRUE(t.batching());
  EXPECT_EQ(t.probes(), 0u);
  // Quiet windows (not busy, or too few requests) do not bring the next probe closer ...
  for (int i = 0; i < 10; ++i) {
    t.window(1000 * 1000, 1000, false);
    t.window(100, 10, true);
  }
  EXPECT_FALSE(t.probing());
  EXPECT_TRUE(t.batching());
  // ... two busy ones do, and this time the probe finishes: not batching is half the cost.
  EXPECT_EQ(run(t, 6, 1000, 500), "++-++-");
  EXPECT_EQ(t.probes(), 1u);
  EXPECT_EQ(t.switches(), 1u);
  EXPECT_FALSE(t.batching());
}

TEST(BatchTuner, ProbesGrowRarerWhileTheyKeepTheSettingAndFrequentAgainAfterAChange) {
  BatchTuner t(true, small());
  // Gaps between probes (hold 3, doubling to the max of 12): 3, 6, 12, 12.
  std::string ran = run(t, 2 + 4 + 3 + 4 + 6 + 4 + 12 + 4 + 12 + 4, 1000, 1000);
  EXPECT_EQ(ran,
            "++"
            "-++-"
            "+++"
            "-++-"
            "++++++"
            "-++-"
            "++++++++++++"
            "-++-"
            "++++++++++++"
            "-++-");
  EXPECT_EQ(t.probes(), 5u);
  // Now not batching gets cheaper: the next probe changes the setting, and the one after it
  // comes after the first hold again.
  ran = run(t, 12 + 4 + 3 + 4, 1000, 500);
  EXPECT_EQ(ran,
            "++++++++++++"
            "-++-"
            "---"
            "+--+");
  EXPECT_EQ(t.switches(), 1u);
  EXPECT_FALSE(t.batching());
}

TEST(BatchTuner, ALoadOfAnotherKindIsMeasuredAgainAtOnce) {
  BatchTuner::Options o = small();
  o.hold = 4;
  o.max_hold = 16;
  o.drift_windows = 2;
  BatchTuner t(true, o);
  // Two probes keep batching (the hold has doubled to 8 windows).
  EXPECT_EQ(run(t, 2 + 4 + 4 + 4, 1000, 1200), "++-++-++++-++-");
  EXPECT_EQ(t.probes(), 2u);
  // One window 60% dearer (drift 50%) is noise; windows within the drift are the same load.
  EXPECT_EQ(run(t, 1, 1600, 1200), "+");
  EXPECT_EQ(run(t, 1, 1400, 1200), "+");
  EXPECT_EQ(run(t, 1, 550, 1200), "+");
  EXPECT_FALSE(t.probing());
  // drift_windows in a row: another load. It is measured in the next window, not after the 3
  // windows left of the hold, and the hold after it starts over at 4 (it would have been 16).
  EXPECT_EQ(run(t, 2, 1600, 1600), "++");
  EXPECT_TRUE(t.probing());
  EXPECT_EQ(run(t, 4 + 4 + 1, 1600, 1600),
            "-++-"
            "++++"
            "-");
  EXPECT_EQ(t.probes(), 3u);
  EXPECT_EQ(t.switches(), 0u);
}

}  // namespace
}  // namespace ringgate
