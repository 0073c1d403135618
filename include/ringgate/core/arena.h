#pragma once
// A request's memory: bump allocation from blocks of the shard's pool, all of it given back at
// once when the request ends. Holds nothing between requests, so an idle connection costs no
// block; in steady state the pool recycles blocks and nothing reaches the heap.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <string_view>
#include <type_traits>
#include <utility>

#include "ringgate/core/block_pool.h"

namespace ringgate {

class Arena {
 public:
  Arena() = default;
  explicit Arena(BlockPool* pool) : pool_(pool) {}
  ~Arena() { reset(); }
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;

  void set_pool(BlockPool* pool) { pool_ = pool; }

  // `n` bytes aligned to `align` (a power of two, at most 64); nullptr when `n` does not fit a
  // block. Each block keeps a link to the previous one in its first bytes.
  void* allocate(size_t n, size_t align = alignof(std::max_align_t)) {
    size_t at = (used_ + align - 1) & ~(align - 1);
    if (!block_ || at + n > pool_->block_size()) {
      if (kHeader + n > pool_->block_size() || !grow()) {
        return nullptr;
      }
      at = (used_ + align - 1) & ~(align - 1);
    }
    used_ = at + n;
    return block_ + at;
  }

  // Objects made here are never destroyed one by one: only trivially destructible types.
  template <typename T, typename... Args>
  T* make(Args&&... args) {
    static_assert(std::is_trivially_destructible_v<T>, "the arena runs no destructors");
    void* p = allocate(sizeof(T), alignof(T));
    return p ? new (p) T(std::forward<Args>(args)...) : nullptr;
  }

  // A copy of `text` in the arena; empty when it does not fit.
  std::string_view copy(std::string_view text) {
    if (text.empty()) {
      return {};
    }
    char* p = static_cast<char*>(allocate(text.size(), 1));
    if (!p) {
      return {};
    }
    std::memcpy(p, text.data(), text.size());
    return std::string_view(p, text.size());
  }

  // Gives every block back to the pool.
  void reset() {
    while (block_) {
      char* previous;
      std::memcpy(&previous, block_, sizeof previous);
      pool_->release(block_);
      block_ = previous;
    }
    used_ = 0;
  }

  bool empty() const { return block_ == nullptr; }

 private:
  static constexpr size_t kHeader = 64;  // the link to the previous block, cache-line aligned

  bool grow() {
    char* block = static_cast<char*>(pool_->acquire());
    if (!block) {
      return false;
    }
    std::memcpy(block, &block_, sizeof block_);
    block_ = block;
    used_ = kHeader;
    return true;
  }

  BlockPool* pool_ = nullptr;
  char* block_ = nullptr;  // the newest block
  size_t used_ = 0;        // bytes of block_ in use
};

}  // namespace ringgate
