#pragma once
// Objects of one kind for one shard (upstream calls, aggregate calls): made when first needed and
// kept, so once a shard has warmed up an acquire is a pop from the free list and nothing is
// allocated. T has a `T* next_free` member, the list's link.

#include <memory>
#include <utility>
#include <vector>

namespace ringgate {

template <typename T>
class ObjectPool {
 public:
  // A free object, or a new one made from `args`.
  template <typename... Args>
  T* acquire(Args&&... args) {
    if (!free_) {
      all_.push_back(std::make_unique<T>(std::forward<Args>(args)...));
      return all_.back().get();
    }
    T* t = free_;
    free_ = t->next_free;
    t->next_free = nullptr;
    return t;
  }
  void release(T* t) {
    t->next_free = free_;
    free_ = t;
  }
  // Calls `fn(T&)` on every free object (a periodic trim of what they hold).
  template <typename F>
  void for_each_free(F fn) {
    for (T* t = free_; t; t = t->next_free) {
      fn(*t);
    }
  }

 private:
  std::vector<std::unique_ptr<T>> all_;  // every object made; the free ones are listed below
  T* free_ = nullptr;
};

}  // namespace ringgate
