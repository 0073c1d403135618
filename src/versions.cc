#include "ringgate/versions.h"

#include <llhttp.h>
#include <openssl/crypto.h>
#include <simdjson.h>

#include <cstdlib>

#ifdef RINGGATE_MIMALLOC
#include <mimalloc.h>
#endif

namespace ringgate {

bool mimalloc_active() {
#ifdef RINGGATE_MIMALLOC
  // Referencing mi_* keeps libmimalloc linked (g++ links with --as-needed); its override of
  // malloc is what makes this block land in a mimalloc heap.
  auto* p = static_cast<char*>(std::malloc(64));
  if (!p) {
    return false;
  }
  p[0] = 0;  // touched, so the compiler does not see a read of uninitialised memory
  bool active = mi_is_in_heap_region(p);
  std::free(p);
  return active;
#else
  return false;
#endif
}

std::string version_report() {
  std::string out = "ringgate " RINGGATE_VERSION "\n";
  out += "liburing " RINGGATE_URING_VERSION "\n";
  out += "llhttp " + std::to_string(LLHTTP_VERSION_MAJOR) + "." +
         std::to_string(LLHTTP_VERSION_MINOR) + "." + std::to_string(LLHTTP_VERSION_PATCH) +
         " (strict mode)\n";
  // SIMDJSON_VERSION is a bare token (3.0.1), not a string.
#define RINGGATE_STR2(x) #x
#define RINGGATE_STR(x) RINGGATE_STR2(x)
  out += "simdjson " RINGGATE_STR(SIMDJSON_VERSION) "\n";
  out += std::string(OpenSSL_version(OPENSSL_VERSION)) + "\n";
#ifdef RINGGATE_MIMALLOC
  const int v = mi_version();
  out += "mimalloc " + std::to_string(v / 100) + "." + std::to_string(v % 100 / 10) + "." +
         std::to_string(v % 10) + (mimalloc_active() ? " (active)" : " (linked, NOT active)") +
         "\n";
#else
  out += "mimalloc off (sanitizer build: system allocator)\n";
#endif
  return out;
}

}  // namespace ringgate
