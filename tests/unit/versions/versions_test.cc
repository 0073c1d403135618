#include "ringgate/versions.h"

#include <gtest/gtest.h>

namespace ringgate {
namespace {

TEST(Versions, ReportNamesEveryLibrary) {
  std::string r = version_report();
  for (const char* lib :
       {"ringgate ", "liburing ", "llhttp ", "simdjson ", "OpenSSL ", "mimalloc "}) {
    EXPECT_NE(r.find(lib), std::string::npos) << lib << " missing in:\n" << r;
  }
}

#ifdef RINGGATE_EXPECT_MIMALLOC
// mimalloc must really be the process allocator (g++ links with --as-needed, so an unreferenced
// mimalloc silently disappears).
TEST(Versions, MimallocIsTheProcessAllocator) {
  EXPECT_TRUE(mimalloc_active());
}
#endif

}  // namespace
}  // namespace ringgate
