#include "ringgate/core/allocator.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>

namespace ringgate {
namespace {

long rss_kib() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with("VmRSS:")) {
      return std::stol(line.substr(6));
    }
  }
  return -1;
}

constexpr size_t kBlocks = 64 * 1024;
constexpr size_t kBlockSize = 512;  // 32 MiB in all
char* blocks[kBlocks];              // outside the heap, so that only the blocks are in it

// A burst's worth of small blocks, freed on a thread of its own (as a shard's): the allocator
// keeps their pages after a quiet while, until asked to give them back.
TEST(Allocator, FreedMemoryGoesBackWhenAsked) {
  if (!releases_free_memory()) {
    GTEST_SKIP() << "sanitizer build: the system allocator keeps what it keeps";
  }
  long peak = 0, idle = 0, after = 0;
  std::thread shard([&] {
    for (char*& b : blocks) {
      b = static_cast<char*>(std::malloc(kBlockSize));
      std::memset(b, 1, kBlockSize);
    }
    peak = rss_kib();
    for (char*& b : blocks) {
      std::free(b);
      b = nullptr;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(700));
    idle = rss_kib();
    release_free_memory();
    after = rss_kib();
  });
  shard.join();
  EXPECT_GT(idle, peak - 8 * 1024) << "the allocator gave the memory back by itself";
  EXPECT_LT(after, peak - 16 * 1024)
      << "peak " << peak << " KiB, idle " << idle << " KiB, after " << after << " KiB";
}

}  // namespace
}  // namespace ringgate
