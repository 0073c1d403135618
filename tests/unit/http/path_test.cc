// Path normalisation: decoding of unreserved escapes, merged slashes, dot segments, the flags a
// route must allow, malformed escapes, and properties over random paths.

#include "ringgate/http/path.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace ringgate {
namespace {

struct Out {
  bool ok = false;
  std::string path;
  uint8_t flags = 0;
  bool same_bytes = false;  // the result is the input itself (nothing was written)
};

Out normalize(const std::string& in) {
  std::vector<char> buf(in.size() + 1);
  NormalizedPath r;
  Out o;
  o.ok = normalize_path(in, buf.data(), &r);
  if (o.ok) {
    o.path.assign(r.path);
    o.flags = r.flags;
    o.same_bytes = r.path.data() == in.data();
  }
  return o;
}

TEST(NormalizePath, NormalPathsAreReturnedAsTheyAre) {
  for (const char* p :
       {"/", "/a", "/a/b/c", "/api/v1/orders/42", "/a.b/c..d/.e/..f", "/a/b/", "/-._~"}) {
    Out o = normalize(p);
    ASSERT_TRUE(o.ok) << p;
    EXPECT_EQ(o.path, p);
    EXPECT_TRUE(o.same_bytes) << p;
    EXPECT_EQ(o.flags, 0) << p;
  }
}

TEST(NormalizePath, DecodesUnreservedAndUpperCasesOtherEscapes) {
  EXPECT_EQ(normalize("/%7Euser/%41b%2d%5F%2e").path, "/~user/Ab-_.");
  EXPECT_EQ(normalize("/a%3fb%3D%20").path, "/a%3Fb%3D%20");
  EXPECT_EQ(normalize("/caf%c3%a9").path, "/caf%C3%A9");
}

TEST(NormalizePath, MergesSlashesAndRemovesDotSegments) {
  const std::pair<const char*, const char*> cases[] = {
      {"//a///b//", "/a/b/"},
      {"/a/./b", "/a/b"},
      {"/a/.", "/a/"},
      {"/a/b/..", "/a/"},
      {"/a/../b", "/b"},
      {"/..", "/"},
      {"/../../x", "/x"},
      {"/a/b/c/./../../g", "/a/g"},  // RFC 3986 5.2.4
      {"/mid/content=5/../6", "/mid/6"},
      {"/a//..//b", "/b"},
      {"/./", "/"},
  };
  for (auto [in, want] : cases) {
    Out o = normalize(in);
    ASSERT_TRUE(o.ok) << in;
    EXPECT_EQ(o.path, want) << in;
    EXPECT_EQ(o.flags, 0) << in;
  }
}

// The tricks that get a request for /admin past a rule on /admin.
TEST(NormalizePath, BypassAttemptsAllBecomeTheSamePath) {
  for (const char* p :
       {"/admin", "//admin", "/api/../admin", "/api/%2e%2e/admin", "/api/.%2E/admin", "/%2E/admin",
        "/./admin", "///admin/.", "/%61dmin", "/x/y/../../admin"}) {
    Out o = normalize(p);
    ASSERT_TRUE(o.ok) << p;
    std::string path = o.path;
    if (path.size() > 1 && path.back() == '/') {
      path.pop_back();
    }
    EXPECT_EQ(path, "/admin") << p;
    EXPECT_EQ(o.flags, 0) << p;
  }
}

TEST(NormalizePath, WhatARouteMustAllowIsKeptAndFlagged) {
  struct Case {
    const char* in;
    const char* want;
    uint8_t flags;
  };
  const Case cases[] = {
      {"/a%2Fb", "/a%2Fb", kPathEncodedSlash},
      {"/a%2f..", "/a%2F..", kPathEncodedSlash},  // one segment: not a dot segment
      {"/a%2F../b", "/a%2F../b", kPathEncodedSlash},
      {"/%5C/../b", "/b", kPathBackslash},  // flags describe the input, removed segments too
      {"/a\\b", "/a\\b", kPathBackslash},
      {"/a%5c..%5cadmin", "/a%5C..%5Cadmin", kPathBackslash},
      {"/a%00.txt", "/a%00.txt", kPathNul},
      {"/%C0%AE%C0%AE/x", "/%C0%AE%C0%AE/x", kPathOverlongUtf8},
      {"/%c1%9c", "/%C1%9C", kPathOverlongUtf8},
      {"/%E0%80%AF", "/%E0%80%AF", kPathOverlongUtf8},
      {"/%F0%80%80%AF", "/%F0%80%80%AF", kPathOverlongUtf8},
      {"/\xC0\xAE", "/\xC0\xAE", kPathOverlongUtf8},
      {"/%2F%5C%00", "/%2F%5C%00", kPathEncodedSlash | kPathBackslash | kPathNul},
  };
  for (const Case& c : cases) {
    Out o = normalize(c.in);
    ASSERT_TRUE(o.ok) << c.in;
    EXPECT_EQ(o.path, c.want) << c.in;
    EXPECT_EQ(o.flags, c.flags) << c.in;
  }
  // Well-formed multi-byte UTF-8 is not overlong.
  for (const char* p : {"/%E2%82%AC", "/%F0%9F%98%80", "/%C3%A9", "/\xE2\x82\xAC", "/%E0%A0%80"}) {
    Out o = normalize(p);
    ASSERT_TRUE(o.ok) << p;
    EXPECT_EQ(o.flags, 0) << p;
  }
}

TEST(NormalizePath, MalformedEscapesAreRefused) {
  for (const char* p : {"/%", "/a%", "/%4", "/%zz", "/a%g1/b", "/%%41", "/ok/%4/"}) {
    EXPECT_FALSE(normalize(p).ok) << p;
  }
}

TEST(NormalizePath, NonOriginFormIsLeftAlone) {
  for (const char* p : {"*", "", "http://h/a/../b", "a/../b"}) {
    Out o = normalize(p);
    ASSERT_TRUE(o.ok) << p;
    EXPECT_EQ(o.path, p);
  }
}

// Random paths over the characters that matter: the result is never longer, starts with '/',
// has no empty, "." or ".." segment, and normalising it again changes nothing (and flags
// nothing new).
TEST(NormalizePath, PropertiesOverRandomPaths) {
  std::mt19937 rng(1234);
  const std::vector<std::string> pieces = {"/",   "/",   ".",   "..",  "a",   "b",
                                           "%2e", "%2E", "%2F", "%41", "%5C", "\\",
                                           "%00", "%C0", "%AE", "%e2", "~"};
  int checked = 0;
  for (int n = 0; n < 20000; ++n) {
    std::string in = "/";
    const int len = static_cast<int>(rng() % 12);
    for (int k = 0; k < len; ++k) {
      in += pieces[rng() % pieces.size()];
    }
    Out o = normalize(in);
    ASSERT_TRUE(o.ok) << in;
    const std::string& p = o.path;
    ASSERT_LE(p.size(), in.size()) << in;
    ASSERT_EQ(p.front(), '/') << in;
    EXPECT_EQ(p.find("//"), std::string::npos) << in << " -> " << p;
    for (const char* bad : {"/./", "/../"}) {
      EXPECT_EQ(p.find(bad), std::string::npos) << in << " -> " << p;
    }
    for (const char* tail : {"/.", "/.."}) {
      const std::string t = tail;
      EXPECT_FALSE(p.size() >= t.size() && p.compare(p.size() - t.size(), t.size(), t) == 0)
          << in << " -> " << p;
    }
    Out again = normalize(p);
    ASSERT_TRUE(again.ok) << p;
    EXPECT_EQ(again.path, p) << in;
    EXPECT_EQ(again.flags & ~o.flags, 0) << in;  // o.flags also counts removed segments
    ++checked;
  }
  EXPECT_EQ(checked, 20000);
}

TEST(NormalizePath, FlagNames) {
  EXPECT_EQ(path_flag_by_name("encoded_slash"), kPathEncodedSlash);
  EXPECT_EQ(path_flag_by_name("backslash"), kPathBackslash);
  EXPECT_EQ(path_flag_by_name("nul"), kPathNul);
  EXPECT_EQ(path_flag_by_name("overlong_utf8"), kPathOverlongUtf8);
  EXPECT_EQ(path_flag_by_name("dots"), 0);
}

}  // namespace
}  // namespace ringgate
