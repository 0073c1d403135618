#pragma once
// Objects made once and used again, each with the memory of a companion object that is built in
// it for each use and destroyed after (an HTTP/2 stream and the connection object on it). A
// burst's objects stay free for the next one; trim() (once a second) frees those the last period
// did not need at once, as BlockPool does: no allocation per use in steady state.
//
// T has a `void* companion_memory` the pool sets; it is sizeof(Companion) bytes, aligned for it.

#include <algorithm>
#include <cstddef>
#include <new>
#include <vector>

namespace ringgate {

template <typename T, typename Companion>
class CompanionPool {
 public:
  CompanionPool() = default;
  CompanionPool(const CompanionPool&) = delete;
  CompanionPool& operator=(const CompanionPool&) = delete;
  ~CompanionPool() {
    for (T* t : free_) {
      destroy(t);
    }
  }

  // A free object, else one from `make()` (a T*, given its companion's memory here).
  template <typename Make>
  T& acquire(Make make) {
    ++in_use_;
    peak_ = std::max(peak_, in_use_);
    if (!free_.empty()) {
      T* t = free_.back();
      free_.pop_back();
      return *t;
    }
    T* t = make();
    t->companion_memory = ::operator new (sizeof(Companion), std::align_val_t{alignof(Companion)});
    return *t;
  }
  // `t` is free again (its companion destroyed, its state ready for the next use).
  void release(T* t) {
    --in_use_;
    free_.push_back(t);
  }
  // Frees the free objects beyond what the last period had in use at once; how many it freed.
  size_t trim() {
    const size_t keep = peak_ - in_use_;
    size_t freed = 0;
    for (; free_.size() > keep; ++freed) {
      destroy(free_.back());
      free_.pop_back();
    }
    peak_ = in_use_;
    return freed;
  }
  size_t free_count() const { return free_.size(); }

 private:
  static void destroy(T* t) {
    ::operator delete (t->companion_memory, std::align_val_t{alignof(Companion)});
    delete t;
  }

  std::vector<T*> free_;
  size_t in_use_ = 0;
  size_t peak_ = 0;  // the most in use at once since the last trim()
};

}  // namespace ringgate
