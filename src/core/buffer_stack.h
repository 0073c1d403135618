#pragma once
// The receive buffers that are free (neither lent to the kernel nor held by a connection), for
// both reactor backends: a stack with the most recently used buffer on top (still warm in cache
// and resident), and the record of which buffers' pages are resident, so that a quiet shard can
// give the memory of buffers it does not need back to the system. Private to src/core.

#include <sys/mman.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace ringgate {

class BufferStack {
 public:
  // `count` buffers of `size` bytes at `base`, all free and none resident; buffer 0 on top.
  void init(char* base, uint32_t size, uint32_t count) {
    base_ = base;
    size_ = size;
    free_.reserve(count);
    for (uint32_t i = count; i > 0; --i) {
      free_.push_back(static_cast<uint16_t>(i - 1));
    }
    cold_ = free_.size();
    warm_.assign(count, 0);
  }

  bool empty() const { return free_.empty(); }
  size_t size() const { return free_.size(); }
  uint16_t top() const { return free_.back(); }
  void push(uint16_t bid) { free_.push_back(bid); }
  // Takes the top buffer (to lend it to the kernel, or to write into it).
  uint16_t pop() {
    const uint16_t bid = free_.back();
    free_.pop_back();
    cold_ = std::min(cold_, free_.size());
    return bid;
  }
  // A free buffer for user space to fill: the top one, now resident. False when none is free.
  bool take(uint16_t& bid) {
    if (free_.empty()) {
      return false;
    }
    bid = pop();
    mark_written(bid);
    return true;
  }
  // Buffer `bid` was written (by the kernel or user space): its pages are resident.
  void mark_written(uint16_t bid) {
    warm_count_ += warm_[bid] ^ 1u;
    warm_[bid] = 1;
  }
  bool resident(uint16_t bid) const { return warm_[bid] != 0; }
  // madvise(DONTNEED): the buffer's pages go back to the system until it is written again.
  void give_back(uint16_t bid) {
    madvise(base_ + size_t{bid} * size_, size_, MADV_DONTNEED);
    if (warm_[bid]) {
      warm_[bid] = 0;
      --warm_count_;
    }
  }
  // Free buffers beyond the top `keep` give their pages back, the least recently used first, at
  // most `max_calls` madvise calls (the rest at the next trim).
  void give_back_beyond(size_t keep, size_t max_calls) {
    size_t given = 0;
    while (cold_ + keep < free_.size() && given < max_calls) {
      const uint16_t bid = free_[cold_++];
      if (warm_[bid]) {
        give_back(bid);
        ++given;
      }
    }
  }
  uint64_t resident_bytes() const { return uint64_t{warm_count_} * size_; }

 private:
  char* base_ = nullptr;
  uint32_t size_ = 0;
  // free_[0, cold_) have given their pages back (or were never touched).
  std::vector<uint16_t> free_;
  size_t cold_ = 0;
  std::vector<uint8_t> warm_;
  uint32_t warm_count_ = 0;
};

}  // namespace ringgate
