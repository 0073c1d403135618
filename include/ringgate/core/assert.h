#pragma once
// Broken invariants stop the process where they are found: RG_ASSERT in debug builds (checks on
// hot paths), RG_RELEASE_ASSERT always (checks whose cost is nothing next to what they guard).

#include <cstdio>
#include <cstdlib>

#define RG_RELEASE_ASSERT(cond)                                                                   \
  do {                                                                                            \
    if (__builtin_expect(!(cond), 0)) {                                                           \
      std::fprintf(stderr, "ringgate: %s:%d: assertion failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                               \
    }                                                                                             \
  } while (0)

#ifdef NDEBUG
#define RG_ASSERT(cond) \
  do {                  \
  } while (0)
#else
#define RG_ASSERT(cond) RG_RELEASE_ASSERT(cond)
#endif
