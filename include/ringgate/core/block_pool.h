#pragma once
// Fixed-size blocks for one shard (scratch heads, output buffers). Blocks are kept after release,
// so steady state allocates nothing; the pool holds at most `max_free` spare blocks, and trim()
// gives back what a burst left behind.

#include <cstddef>
#include <cstdlib>
#include <vector>

namespace ringgate {

class BlockPool {
 public:
  BlockPool(size_t block_size, size_t max_free) : block_size_(block_size), max_free_(max_free) {
    free_.reserve(max_free);
  }
  ~BlockPool() {
    for (void* b : free_) {
      std::free(b);
    }
  }
  BlockPool(const BlockPool&) = delete;
  BlockPool& operator=(const BlockPool&) = delete;

  size_t block_size() const { return block_size_; }
  void* acquire() {
    ++in_use_;
    if (in_use_ > peak_) {
      peak_ = in_use_;
    }
    if (!free_.empty()) {
      void* b = free_.back();
      free_.pop_back();
      return b;
    }
    return std::aligned_alloc(64, (block_size_ + 63) & ~size_t{63});
  }
  void release(void* block) {
    --in_use_;
    if (free_.size() < max_free_) {
      free_.push_back(block);
    } else {
      std::free(block);
    }
  }
  size_t in_use() const { return in_use_; }
  size_t bytes_in_use() const { return in_use_ * block_size_; }
  size_t spare() const { return free_.size(); }
  // Frees the spare blocks beyond what the busiest moment since the last trim needed, and starts
  // a new period. Called periodically: steady traffic keeps the blocks it uses, and the blocks of
  // a burst go back (to the allocator, and from it to the system) one period after it ends.
  // Returns how many blocks it freed.
  size_t trim() {
    const size_t keep = peak_ - in_use_;
    size_t freed = 0;
    for (; free_.size() > keep; ++freed) {
      std::free(free_.back());
      free_.pop_back();
    }
    peak_ = in_use_;
    return freed;
  }

 private:
  size_t block_size_;
  size_t max_free_;
  size_t in_use_ = 0;
  size_t peak_ = 0;  // the most in use at once since the last trim()
  std::vector<void*> free_;
};

}  // namespace ringgate
