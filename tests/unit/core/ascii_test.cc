#include "ringgate/core/ascii.h"

#include <gtest/gtest.h>

#include <string>

namespace ringgate {
namespace {

// iequals reads eight bytes at a time (the last eight overlapping the word before), and names of
// four to seven as two overlapping four-byte words: every byte value at every position of names
// of every length up to 17 must fold exactly as one byte at a time would, A-Z alone changing.
TEST(Ascii, IequalsFoldsExactlyAtEveryPositionAndLength) {
  const std::string lowers = "az-0_@[`{~ \x7f";
  for (size_t len = 1; len <= 17; ++len) {
    for (size_t at = 0; at < len; ++at) {
      for (char l : lowers) {
        std::string lower(len, 'k');
        lower[at] = l;
        for (int c = 0; c < 256; ++c) {
          std::string a(len, 'K');
          a[at] = static_cast<char>(c);
          const bool expected = ascii_lower(static_cast<char>(c)) == l;
          ASSERT_EQ(iequals(a, lower), expected)
              << "len " << len << " at " << at << " byte " << c << " against " << int(l);
        }
      }
    }
  }
}

TEST(Ascii, IequalsNeedsTheSameLength) {
  EXPECT_TRUE(iequals("Content-Length", "content-length"));
  EXPECT_FALSE(iequals("Content-Length", "content-lengt"));
  EXPECT_FALSE(iequals("Content-Lengthx", "content-length"));
  EXPECT_TRUE(iequals("", ""));
  EXPECT_FALSE(iequals("CONNECTIOM", "connection"));
}

}  // namespace
}  // namespace ringgate
