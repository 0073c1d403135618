// LD_PRELOAD shim counting heap allocations of a process: malloc, calloc, realloc, aligned_alloc,
// posix_memalign, memalign, and C++ operator new (which mimalloc exports itself, so new never
// reaches malloc). The count lives in a file mapped shared (RINGGATE_ALLOC_COUNT_FILE,
// 8 bytes, native-endian), so another process can read it at any moment without signalling the
// counted one. Frees are not counted: the question is whether the steady state allocates at all.
//
// Build: cc -shared -fPIC -O2 perf/alloc_count.c -o liballoc_count.so -ldl
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

static _Atomic uint64_t local_count;
static _Atomic uint64_t* counter = &local_count;

static void* (*real_malloc)(size_t);
static void* (*real_calloc)(size_t, size_t);
static void* (*real_realloc)(void*, size_t);
static void* (*real_aligned_alloc)(size_t, size_t);
static int (*real_posix_memalign)(void**, size_t, size_t);
static void* (*real_memalign)(size_t, size_t);

// dlsym may itself call calloc before real_calloc is known: serve that from a static arena.
static char bootstrap[4096];
static size_t bootstrap_used;

__attribute__((constructor)) static void init(void) {
  real_malloc = dlsym(RTLD_NEXT, "malloc");
  real_calloc = dlsym(RTLD_NEXT, "calloc");
  real_realloc = dlsym(RTLD_NEXT, "realloc");
  real_aligned_alloc = dlsym(RTLD_NEXT, "aligned_alloc");
  real_posix_memalign = dlsym(RTLD_NEXT, "posix_memalign");
  real_memalign = dlsym(RTLD_NEXT, "memalign");
  const char* path = getenv("RINGGATE_ALLOC_COUNT_FILE");
  if (!path) {
    return;
  }
  int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0 || ftruncate(fd, sizeof(uint64_t)) != 0) {
    return;
  }
  void* m = mmap(NULL, sizeof(uint64_t), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (m != MAP_FAILED) {
    counter = m;
    atomic_store(counter, atomic_load(&local_count));
  }
}

static void count(void) {
  atomic_fetch_add_explicit(counter, 1, memory_order_relaxed);
}

void* malloc(size_t n) {
  if (!real_malloc) {
    init();
  }
  count();
  return real_malloc(n);
}

void* calloc(size_t a, size_t b) {
  if (!real_calloc) {
    size_t n = (a * b + 15) & ~(size_t)15;
    if (bootstrap_used + n > sizeof bootstrap) {
      return NULL;
    }
    void* p = bootstrap + bootstrap_used;
    bootstrap_used += n;
    return p;  // zeroed: static storage
  }
  count();
  return real_calloc(a, b);
}

void* realloc(void* p, size_t n) {
  count();
  return real_realloc(p, n);
}

void* aligned_alloc(size_t a, size_t n) {
  count();
  return real_aligned_alloc(a, n);
}

int posix_memalign(void** out, size_t a, size_t n) {
  count();
  return real_posix_memalign(out, a, n);
}

void* memalign(size_t a, size_t n) {
  count();
  return real_memalign(a, n);
}

// operator new family, by their mangled names: new, new[], nothrow and aligned variants.
#define FORWARD_NEW(name, params, args)               \
  void* name params {                                 \
    static void*(*real)params;                        \
    if (!real) {                                      \
      real = (void*(*)params)dlsym(RTLD_NEXT, #name); \
    }                                                 \
    count();                                          \
    return real args;                                 \
  }
FORWARD_NEW(_Znwm, (size_t n), (n))
FORWARD_NEW(_Znam, (size_t n), (n))
FORWARD_NEW(_ZnwmRKSt9nothrow_t, (size_t n, const void* t), (n, t))
FORWARD_NEW(_ZnamRKSt9nothrow_t, (size_t n, const void* t), (n, t))
FORWARD_NEW(_ZnwmSt11align_val_t, (size_t n, size_t a), (n, a))
FORWARD_NEW(_ZnamSt11align_val_t, (size_t n, size_t a), (n, a))

void free(void* p) {
  static void (*real_free)(void*);
  if ((char*)p >= bootstrap && (char*)p < bootstrap + sizeof bootstrap) {
    return;
  }
  if (!real_free) {
    real_free = dlsym(RTLD_NEXT, "free");
  }
  real_free(p);
}
