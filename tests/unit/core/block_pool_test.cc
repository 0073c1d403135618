#include "ringgate/core/block_pool.h"

#include <gtest/gtest.h>

#include <vector>

namespace ringgate {
namespace {

// Blocks come back for reuse; trim() frees what a burst left beyond the busiest moment of the
// period, so steady use keeps its blocks and a burst's go back one period after it ends.
TEST(BlockPool, TrimKeepsWhatThePeriodNeededAndFreesTheBurst) {
  BlockPool pool(1024, 100);
  std::vector<void*> burst;
  for (int i = 0; i < 50; ++i) {
    burst.push_back(pool.acquire());
  }
  for (void* b : burst) {
    pool.release(b);
  }
  EXPECT_EQ(pool.in_use(), 0u);
  EXPECT_EQ(pool.spare(), 50u);
  // The period held the burst: nothing is freed yet (the burst may come again).
  EXPECT_EQ(pool.trim(), 0u);
  EXPECT_EQ(pool.spare(), 50u);
  // A quiet period with a steady 5 in use: the other 45 go.
  std::vector<void*> steady;
  for (int i = 0; i < 5; ++i) {
    steady.push_back(pool.acquire());
  }
  EXPECT_EQ(pool.trim(), 45u);
  EXPECT_EQ(pool.spare(), 0u);
  for (void* b : steady) {
    pool.release(b);
  }
  // Those five were in use at the period's busiest: kept.
  EXPECT_EQ(pool.trim(), 0u);
  EXPECT_EQ(pool.spare(), 5u);
  // A period with none in use: all go.
  EXPECT_EQ(pool.trim(), 5u);
  EXPECT_EQ(pool.spare(), 0u);
}

// At most max_free spare blocks are kept at any time.
TEST(BlockPool, KeepsAtMostMaxFree) {
  BlockPool pool(64, 3);
  std::vector<void*> b;
  for (int i = 0; i < 6; ++i) {
    b.push_back(pool.acquire());
  }
  for (void* p : b) {
    pool.release(p);
  }
  EXPECT_EQ(pool.spare(), 3u);
}

}  // namespace
}  // namespace ringgate
