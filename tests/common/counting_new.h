#pragma once
// Replaces the global operator new of the test binary that includes it (in one file only) with
// one that counts the allocations made while counting is on: steady-state tests assert none.

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <new>

#if defined(__GNUC__) && !defined(__clang__)
// GCC sees through the replacement operators below to malloc/free and flags every delete of a
// `new` pointer as mismatched; here they are matched by construction.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace counting_new {
inline std::atomic<bool> counting{false};
inline std::atomic<uint64_t> allocations{0};

// Allocations made by `fn`.
template <typename Fn>
uint64_t count(Fn fn) {
  allocations = 0;
  counting = true;
  fn();
  counting = false;
  return allocations.load();
}
}  // namespace counting_new

void* operator new(size_t size) {
  if (counting_new::counting.load(std::memory_order_relaxed)) {
    counting_new::allocations.fetch_add(1, std::memory_order_relaxed);
  }
  if (void* p = std::malloc(size == 0 ? 1 : size)) {
    return p;
  }
  throw std::bad_alloc();
}
void* operator new[](size_t size) {
  return operator new(size);
}
void* operator new(size_t size, const std::nothrow_t&) noexcept {
  if (counting_new::counting.load(std::memory_order_relaxed)) {
    counting_new::allocations.fetch_add(1, std::memory_order_relaxed);
  }
  return std::malloc(size == 0 ? 1 : size);
}
void* operator new[](size_t size, const std::nothrow_t& t) noexcept {
  return operator new(size, t);
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete[](void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, size_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, size_t) noexcept {
  std::free(p);
}
