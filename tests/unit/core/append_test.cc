#include "ringgate/core/append.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

namespace ringgate {
namespace {

TEST(Append, AllPiecesInOrderAfterWhatWasThere) {
  std::string out = "GET /x";
  const std::string value(300, 'v');  // past the small-string buffer: the string grows
  append_all(out, {" HTTP/1.1\r\n", std::string_view(), "A: ", value, "\r\n", "", "\r\n"});
  EXPECT_EQ(out, "GET /x HTTP/1.1\r\nA: " + value + "\r\n\r\n");
  append_all(out, {});
  EXPECT_EQ(out.size(), 6 + 11 + 3 + value.size() + 4);
  std::string empty;
  append_all(empty, {std::string_view(), ""});
  EXPECT_TRUE(empty.empty());
}

}  // namespace
}  // namespace ringgate
