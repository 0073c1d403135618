// cache_control: most_restrictive, directive by directive: what the parts allow together, and a
// part without Cache-Control stating no lifetime rather than forbidding storage.

#include "aggregate/cache_control.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

namespace ringgate::aggregate {
namespace {

// The merged header's value for these parts (nullopt: the part sent no Cache-Control), or
// "<none>" when no header is written.
std::string merged(const std::vector<std::optional<std::string>>& parts) {
  CacheControlMerge merge;
  for (const auto& p : parts) {
    merge.add(p.has_value(), p.value_or(""));
  }
  std::string out;
  merge.write(out);
  if (out.empty()) {
    return "<none>";
  }
  EXPECT_EQ(out.rfind("Cache-Control: ", 0), 0u) << out;
  EXPECT_EQ(out.substr(out.size() - 2), "\r\n") << out;
  return out.substr(15, out.size() - 17);
}

TEST(CacheControlMerge, AbsentHeaderStatesNoLifetimeButDoesNotForbidStorage) {
  EXPECT_EQ(merged({std::nullopt}), "<none>");
  EXPECT_EQ(merged({std::nullopt, std::nullopt}), "<none>");
  EXPECT_EQ(merged({"max-age=60", std::nullopt}), "<none>");
  EXPECT_EQ(merged({"public, max-age=60", std::nullopt}), "<none>");
  EXPECT_EQ(merged({"private, max-age=60", std::nullopt}), "private");
  EXPECT_EQ(merged({std::nullopt, "no-cache"}), "no-cache");
  EXPECT_EQ(merged({std::nullopt, "no-store"}), "no-store");
}

TEST(CacheControlMerge, LifetimesTakeTheSmallestWhenEveryPartStatesOne) {
  EXPECT_EQ(merged({"max-age=60"}), "max-age=60");
  EXPECT_EQ(merged({"public, max-age=300", "max-age=5", "public, max-age=60"}), "max-age=5");
  EXPECT_EQ(merged({"public, max-age=300", "public, max-age=60"}), "public, max-age=60");
  EXPECT_EQ(merged({"max-age=60", "no-cache"}), "no-cache");
  // Given twice in one part: the smaller. Unreadable: 0. Too large: 2^31.
  EXPECT_EQ(merged({"max-age=60, max-age=10"}), "max-age=10");
  EXPECT_EQ(merged({"max-age=abc", "max-age=60"}), "max-age=0");
  EXPECT_EQ(merged({"max-age=\"30\""}), "max-age=30");
  EXPECT_EQ(merged({"max-age=99999999999999999999"}), "max-age=2147483648");
}

TEST(CacheControlMerge, SharedLifetimeIsSMaxageElseMaxAge) {
  EXPECT_EQ(merged({"max-age=600, s-maxage=60", "max-age=300"}), "max-age=300, s-maxage=60");
  EXPECT_EQ(merged({"max-age=600, s-maxage=60", "s-maxage=30"}), "s-maxage=30");
  EXPECT_EQ(merged({"max-age=60, s-maxage=600", "max-age=60"}), "max-age=60");
  EXPECT_EQ(merged({"s-maxage=60", std::nullopt}), "<none>");
  // Shared caches never store a private response: its s-maxage is meaningless.
  EXPECT_EQ(merged({"private, max-age=60, s-maxage=10"}), "private, max-age=60");
}

TEST(CacheControlMerge, RestrictionsFromAnyPartPermissionsOnlyFromAll) {
  EXPECT_EQ(merged({"no-store", "public, max-age=60"}), "no-store");
  EXPECT_EQ(merged({"NO-STORE"}), "no-store");
  EXPECT_EQ(merged({"public, max-age=60", "max-age=30, private"}), "private, max-age=30");
  EXPECT_EQ(merged({"private=\"set-cookie, x-a\", max-age=5", "public, max-age=9"}),
            "private, max-age=5");
  EXPECT_EQ(merged({"no-cache=\"set-cookie\", max-age=5"}), "no-cache, max-age=5");
  EXPECT_EQ(merged({"max-age=5, must-revalidate", "max-age=5, no-transform, proxy-revalidate"}),
            "no-transform, must-revalidate, proxy-revalidate, max-age=5");
  EXPECT_EQ(merged({"public, max-age=5", "max-age=5"}), "max-age=5");
  EXPECT_EQ(merged({"max-age=60, immutable, stale-while-revalidate=30, stale-if-error=60"}),
            "max-age=60");
  EXPECT_EQ(merged({"unknown-directive, max-age=7"}), "max-age=7");
  EXPECT_EQ(merged({" Public ,MAX-AGE=7 "}), "public, max-age=7");
}

TEST(CacheControlMerge, NoPartsNoHeader) {
  EXPECT_EQ(merged({}), "<none>");
}

}  // namespace
}  // namespace ringgate::aggregate
