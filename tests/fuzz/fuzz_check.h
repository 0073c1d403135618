#pragma once
// Invariant checks for the fuzz targets: a violated one names itself and aborts, so libFuzzer
// keeps the input (and the corpus replay in ctest fails). Define FUZZ_TARGET (the target's name,
// a string) before including this.

#include <cstdio>
#include <cstdlib>

[[noreturn]] inline void fuzz_fail(const char* target, const char* what) {
  std::fprintf(stderr, "%s: invariant violated: %s\n", target, what);
  std::abort();
}

#define FUZZ_CHECK(cond)             \
  do {                               \
    if (!(cond))                     \
      fuzz_fail(FUZZ_TARGET, #cond); \
  } while (0)
