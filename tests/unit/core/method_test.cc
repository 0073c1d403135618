#include "ringgate/core/method.h"

#include <gtest/gtest.h>

namespace ringgate {
namespace {

// method_name reads a table built from llhttp's method list: every name maps to its number and
// back, and a number outside the table has no name.
TEST(Method, NamesAndNumbersRoundTrip) {
  for (const char* name : {"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "CONNECT",
                           "TRACE", "PURGE", "PROPFIND", "MKCOL", "SEARCH"}) {
    const int number = method_from_name(name);
    ASSERT_GE(number, 0) << name;
    EXPECT_EQ(method_name(number), name);
  }
  EXPECT_EQ(method_name(method_from_name("GET")), "GET");
  EXPECT_EQ(method_name(-1), "");
  EXPECT_EQ(method_name(kMaxMethods), "");
  int named = 0;
  for (int m = 0; m < kMaxMethods; ++m) {
    const std::string_view name = method_name(m);
    if (!name.empty() && method_from_name(name) == m) {
      ++named;
    }
  }
  EXPECT_GE(named, 30);  // llhttp's HTTP methods all round-trip
}

}  // namespace
}  // namespace ringgate
