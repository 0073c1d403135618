// API-key tables: parsing (comments, blank lines, CRLF, bad lines, duplicates) and lookup by the
// presented key's SHA-256.

#include "ringgate/jose/api_keys.h"

#include <gtest/gtest.h>
#include <openssl/sha.h>

#include <string>

namespace ringgate {
namespace {

std::string digest_hex(const std::string& key) {
  unsigned char d[32];
  SHA256(reinterpret_cast<const unsigned char*>(key.data()), key.size(), d);
  std::string out;
  for (unsigned char c : d) {
    const char* hex = "0123456789abcdef";
    out += hex[c >> 4];
    out += hex[c & 15];
  }
  return out;
}

TEST(ApiKeyTable, ParsesAndFinds) {
  std::string upper = digest_hex("k2");
  for (char& c : upper) {
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  const std::string text = "# partners\n\n" + digest_hex("k1") + " acme\r\n  " + upper +
                           "\tglobex  \n" + digest_hex("k3") + "   initech\n";
  ApiKeyTable t;
  std::string why;
  ASSERT_TRUE(ApiKeyTable::parse(text, &t, &why)) << why;
  EXPECT_EQ(t.size(), 3u);
  ASSERT_NE(t.find("k1"), nullptr);
  EXPECT_EQ(*t.find("k1"), "acme");
  ASSERT_NE(t.find("k2"), nullptr);
  EXPECT_EQ(*t.find("k2"), "globex");
  EXPECT_EQ(*t.find("k3"), "initech");
  EXPECT_EQ(t.find("k4"), nullptr);
  EXPECT_EQ(t.find(""), nullptr);
  EXPECT_EQ(t.find(digest_hex("k1")), nullptr);  // the digest itself is not a key
}

TEST(ApiKeyTable, RefusesBadLines) {
  const std::pair<std::string, std::string> cases[] = {
      {"abc acme\n", "line 1: expected the key's SHA-256"},
      {digest_hex("k") + "\n", "line 1: the consumer name is missing"},
      {"# c\n" + digest_hex("k") + " two words\n", "line 2: the consumer name"},
      {digest_hex("k").substr(0, 63) + "g acme\n", "line 1: expected"},
      {digest_hex("k") + " a\n" + digest_hex("k") + " b\n", "the same key is listed twice"},
  };
  for (const auto& [text, reason] : cases) {
    ApiKeyTable t;
    std::string why;
    EXPECT_FALSE(ApiKeyTable::parse(text, &t, &why)) << text;
    EXPECT_NE(why.find(reason), std::string::npos) << why;
  }
}

}  // namespace
}  // namespace ringgate
