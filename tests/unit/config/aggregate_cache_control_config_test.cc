// `cache_control:` of an aggregate route: the values read back, the default, and one case per
// error with its exact file:line:column.

#include <gtest/gtest.h>

#include <string>

#include "config_test_util.h"
#include "ringgate/config/config.h"

namespace ringgate {
namespace {

using config_test::ErrorCase;

using config_test::aggregate_of;

// Lines 1-5: a server, clusters a and b, `routes:`. ROUTE adds a route whose aggregate action
// starts on line 8; FIRST is a one-backend list (lines 8-9).
#define UPSTREAMS AGGREGATE_UPSTREAMS
#define ROUTE AGGREGATE_ROUTE
#define FIRST "      backends:\n        - {key: p, upstream: a, path: /p}\n"

TEST(AggregateCacheControlConfig, ModesAndValuesAreRead) {
  struct Case {
    const char* yaml;
    AggregateAction::CacheControl mode;
    const char* value;
  };
  using CC = AggregateAction::CacheControl;
  const Case cases[] = {
      {"", CC::kMostRestrictive, ""},
      {"      cache_control: most_restrictive\n", CC::kMostRestrictive, ""},
      {"      cache_control: none\n", CC::kNone, ""},
      {"      cache_control: \"public, max-age=60\"\n", CC::kFixed, "public, max-age=60"},
      {"      cache_control: no-store\n", CC::kFixed, "no-store"},
      {"      cache_control: 'private=\"set-cookie, x-a\", MAX-AGE=0, s-maxage=5'\n", CC::kFixed,
       "private=\"set-cookie, x-a\", MAX-AGE=0, s-maxage=5"},
      {"      cache_control: \"no-cache=set-cookie, stale-while-revalidate=30, immutable\"\n",
       CC::kFixed, "no-cache=set-cookie, stale-while-revalidate=30, immutable"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.yaml);
    const Config config = load_config_string(std::string(ROUTE) + c.yaml + FIRST, "t.yaml");
    const AggregateAction& a = aggregate_of(config.routes[0]);
    EXPECT_EQ(a.cache_control, c.mode);
    EXPECT_EQ(a.cache_control_value, c.value);
  }
}

const ErrorCase kCacheControlErrors[] = {
    {ROUTE "      cache_control: \"\"\n" FIRST, "t.yaml:8:22",
     "routes[0].aggregate.cache_control: empty; write none for no Cache-Control"},
    {ROUTE "      cache_control: most-restrictive\n" FIRST, "t.yaml:8:22",
     "routes[0].aggregate.cache_control: expected most_restrictive, none or a Cache-Control "
     "value like \"public, max-age=60\", but 'most-restrictive' is not one: unknown directive "
     "'most-restrictive' (known: max-age, s-maxage"},
    {ROUTE "      cache_control: MostRestrictive\n" FIRST, "t.yaml:8:22",
     "the modes are spelt most_restrictive and none"},
    {ROUTE "      cache_control: \"max-age=1m\"\n" FIRST, "t.yaml:8:22",
     "'max-age' needs a number of seconds (digits only), got '1m'"},
    {ROUTE "      cache_control: \"public, max-age\"\n" FIRST, "t.yaml:8:22",
     "'max-age' needs a number of seconds, e.g. max-age=60"},
    {ROUTE "      cache_control: \"public,\"\n" FIRST, "t.yaml:8:22",
     "it has an empty directive (two commas, or one at an end)"},
    {ROUTE "      cache_control: \"no-store=1\"\n" FIRST, "t.yaml:8:22",
     "'no-store' takes no argument"},
    {ROUTE "      cache_control: 'private=\"x'\n" FIRST, "t.yaml:8:22",
     "it has an unterminated quoted string"},
    {ROUTE "      cache_control: \"private=a b\"\n" FIRST, "t.yaml:8:22",
     "'private' takes header names, as a token or a quoted string, got 'a b'"},
    {ROUTE "      cache_control: \"max-age=60\\nX: y\"\n" FIRST, "t.yaml:8:22",
     "must not contain CR or LF"},
    {ROUTE "      cache_control: [no-store]\n" FIRST, "t.yaml:8:22",
     "routes[0].aggregate.cache_control: expected most_restrictive, none or a Cache-Control value"},
};

TEST(AggregateCacheControlConfigErrors, EachIsReportedAtItsPosition) {
  config_test::expect_errors(kCacheControlErrors);
}

}  // namespace
}  // namespace ringgate

#undef FIRST
#undef ROUTE
#undef UPSTREAMS
