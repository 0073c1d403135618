#include "ringgate/core/companion_pool.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <new>
#include <vector>

namespace ringgate {
namespace {

struct Item {
  void* companion_memory = nullptr;
  int uses = 0;
};
struct alignas(64) Companion {
  char bytes[200];
};

// An object comes back with its companion's memory for the next use; trim() frees the free
// objects beyond the period's busiest moment (a burst's go one period after it ends).
TEST(CompanionPool, ObjectsAndTheirCompanionMemoryAreReusedAndABurstIsTrimmed) {
  CompanionPool<Item, Companion> pool;
  int made = 0;
  auto make = [&made] {
    ++made;
    return new Item;
  };
  Item& a = pool.acquire(make);
  ASSERT_NE(a.companion_memory, nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(a.companion_memory) % alignof(Companion), 0u);
  auto* c = new (a.companion_memory) Companion{};
  c->~Companion();
  void* memory = a.companion_memory;
  pool.release(&a);
  Item& again = pool.acquire(make);
  EXPECT_EQ(&again, &a);
  EXPECT_EQ(again.companion_memory, memory);
  EXPECT_EQ(made, 1);
  pool.release(&again);

  std::vector<Item*> burst;
  for (int i = 0; i < 40; ++i) {
    burst.push_back(&pool.acquire(make));
  }
  EXPECT_EQ(made, 40);  // the free one, then 39 made
  for (Item* t : burst) {
    pool.release(t);
  }
  EXPECT_EQ(pool.trim(), 0u);  // the period held the burst: kept
  EXPECT_EQ(pool.free_count(), 40u);
  Item& steady = pool.acquire(make);
  EXPECT_EQ(pool.trim(), 39u);  // a period with one in use: the rest go
  pool.release(&steady);
  EXPECT_EQ(pool.trim(), 0u);
  EXPECT_EQ(pool.free_count(), 1u);
  // What is left is freed with the pool (the sanitizer build would see a leak).
}

}  // namespace
}  // namespace ringgate
