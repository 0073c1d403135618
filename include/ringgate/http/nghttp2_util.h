#pragma once
// What the files that speak nghttp2 share (h2_session.cc, h2_upstream.cc): header fields from
// views, and a pooled allocator for a session. It needs nghttp2's header, which the public API
// does not.

#include <nghttp2/nghttp2.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <vector>

namespace ringgate {

// A header field from views (the library copies what it is given: the views need to live only
// through the submit call).
inline nghttp2_nv nghttp2_field(std::string_view name, std::string_view value) {
  nghttp2_nv nv{};
  nv.name = reinterpret_cast<uint8_t*>(const_cast<char*>(name.data()));
  nv.namelen = name.size();
  nv.value = reinterpret_cast<uint8_t*>(const_cast<char*>(value.data()));
  nv.valuelen = value.size();
  nv.flags = NGHTTP2_NV_FLAG_NONE;
  return nv;
}

// nghttp2's memory for one session: freed blocks are kept by size class for the next stream, so a
// warm session takes nothing from the heap per stream.
class Nghttp2Pool {
 public:
  Nghttp2Pool() = default;
  Nghttp2Pool(const Nghttp2Pool&) = delete;
  Nghttp2Pool& operator=(const Nghttp2Pool&) = delete;
  ~Nghttp2Pool() {
    for (auto& list : free_) {
      for (void* p : list) {
        ::free(p);
      }
    }
  }

  // The allocator to hand a session (nghttp2_session_*_new3 copies it).
  nghttp2_mem mem() { return {this, on_malloc, on_free, on_calloc, on_realloc}; }
  // Blocks taken from the heap so far (a class had none free, or a block over 16 KiB).
  uint64_t heap_allocations() const { return heap_; }

 private:
  // Size classes of 64 B to 16 KiB (powers of two); each block carries a header with its class
  // and usable size before what the library sees. Larger blocks go to the heap and back. Each
  // class keeps at most kMaxFree blocks, so a burst's memory is given back.
  static constexpr uint32_t kClasses = 9;  // 64 << 0 .. 64 << 8
  static constexpr size_t kMaxFree = 256;
  static constexpr uint32_t kHeap = kClasses;  // a block sized to its request, not pooled

  struct alignas(16) Header {
    uint32_t size_class;
    uint64_t size;  // usable bytes after the header
  };
  static Header* header(void* user) { return static_cast<Header*>(user) - 1; }

  void* allocate(size_t n) {
    uint32_t c = 0;
    while (c < kClasses && (size_t{64} << c) < n) {
      ++c;
    }
    Header* h = nullptr;
    if (c < kClasses && !free_[c].empty()) {
      h = static_cast<Header*>(free_[c].back());
      free_[c].pop_back();
    } else {
      ++heap_;
      const size_t size = c < kClasses ? size_t{64} << c : n;
      h = static_cast<Header*>(::malloc(sizeof(Header) + size));
      if (!h) {
        return nullptr;
      }
      h->size_class = c;
      h->size = size;
    }
    return h + 1;
  }
  void release(void* user) {
    if (!user) {
      return;
    }
    Header* h = header(user);
    if (h->size_class == kHeap || free_[h->size_class].size() >= kMaxFree) {
      ::free(h);
    } else {
      free_[h->size_class].push_back(h);
    }
  }

  static void* on_malloc(size_t n, void* self) {
    return static_cast<Nghttp2Pool*>(self)->allocate(n);
  }
  static void on_free(void* p, void* self) { static_cast<Nghttp2Pool*>(self)->release(p); }
  static void* on_calloc(size_t count, size_t n, void* self) {
    void* p = static_cast<Nghttp2Pool*>(self)->allocate(count * n);
    if (p) {
      memset(p, 0, count * n);
    }
    return p;
  }
  static void* on_realloc(void* p, size_t n, void* self) {
    auto* pool = static_cast<Nghttp2Pool*>(self);
    if (!p) {
      return pool->allocate(n);
    }
    const size_t have = header(p)->size;
    if (have >= n) {
      return p;  // the block already holds it
    }
    void* q = pool->allocate(n);
    if (q) {
      memcpy(q, p, have);
      pool->release(p);
    }
    return q;
  }

  std::vector<void*> free_[kClasses];
  uint64_t heap_ = 0;
};

}  // namespace ringgate
