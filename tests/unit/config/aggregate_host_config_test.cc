// `host:` of an aggregate backend and of a cluster: the values read back, the defaults, and one
// case per error with its exact file:line:column.

#include <gtest/gtest.h>

#include <string>

#include "config_test_util.h"
#include "ringgate/config/config.h"

namespace ringgate {
namespace {

using config_test::ErrorCase;

using config_test::aggregate_of;

// Lines 1-5: a server, clusters a and b, `routes:`. ROUTE adds a route whose aggregate action
// starts on line 8.
#define UPSTREAMS AGGREGATE_UPSTREAMS
#define ROUTE AGGREGATE_ROUTE

TEST(AggregateHostConfig, BackendAndClusterHostsAreRead) {
  const Config c = load_config_string(R"(server: {listen: "127.0.0.1:0"}
upstreams:
  a: {endpoints: ["127.0.0.1:1"]}
  b: {endpoints: ["127.0.0.1:2"], host: "api.internal:8443"}
  c: {endpoints: ["127.0.0.1:3"], host: preserve}
  d: {endpoints: ["127.0.0.1:4"], host: endpoint}
routes:
  - match: {path: "/p/{id}"}
    aggregate:
      backends:
        - {key: none, upstream: a, path: /n}
        - {key: keep, upstream: a, path: /k, host: preserve}
        - {key: ep, upstream: b, path: /e, host: endpoint}
        - {key: fixed, upstream: a, path: /f, host: "[::1]:8080"}
  - match: {prefix: /x}
    upstream: b
)",
                                      "t.yaml");
  ASSERT_EQ(c.upstreams.size(), 4u);
  EXPECT_FALSE(c.upstreams[0].host);
  ASSERT_TRUE(c.upstreams[1].host);
  EXPECT_EQ(*c.upstreams[1].host, HostPolicy::kFixed);
  EXPECT_EQ(c.upstreams[1].host_value, "api.internal:8443");
  EXPECT_TRUE(c.upstreams[2].host == HostPolicy::kPreserve);
  EXPECT_TRUE(c.upstreams[3].host == HostPolicy::kEndpoint);
  const AggregateAction& a = aggregate_of(c.routes[0]);
  EXPECT_FALSE(a.backends[0].host);  // the cluster's, else endpoint: resolved by the engine
  EXPECT_TRUE(a.backends[1].host == HostPolicy::kPreserve);
  EXPECT_TRUE(a.backends[2].host == HostPolicy::kEndpoint);
  EXPECT_TRUE(a.backends[3].host == HostPolicy::kFixed);
  EXPECT_EQ(a.backends[3].host_value, "[::1]:8080");
  // A proxied route without host: leaves it to the cluster.
  const UpstreamAction& u = config_test::action_of<UpstreamAction>(c.routes[1]);
  EXPECT_FALSE(u.host_set);
  EXPECT_EQ(u.host, HostPolicy::kPreserve);
}

const ErrorCase kHostErrors[] = {
    {ROUTE "      backends:\n        - key: p\n          upstream: a\n          path: /p\n"
           "          host: \"a b\"\n",
     "t.yaml:12:17",
     "routes[0].aggregate.backends[0].host: expected preserve, endpoint or a host[:port] to "
     "send, but 'a b' is not one"},
    {ROUTE "      backends:\n        - {key: p, upstream: a, path: /p, host: \"http://x\"}\n",
     "t.yaml:9:49", "routes[0].aggregate.backends[0].host: expected preserve, endpoint or a"},
    {ROUTE "      backends:\n        - {key: p, upstream: a, path: /p, host: [x]}\n", "t.yaml:9:49",
     "routes[0].aggregate.backends[0].host: expected preserve, endpoint or a host"},
    {"server: {listen: \"127.0.0.1:0\"}\nupstreams:\n  a: {endpoints: [\"127.0.0.1:1\"], host: "
     "\"x:99999\"}\n",
     "t.yaml:3:41", "upstreams.a.host: expected preserve, endpoint or a host[:port] to send"},
};

TEST(AggregateHostConfigErrors, EachIsReportedAtItsPosition) {
  config_test::expect_errors(kHostErrors);
}

}  // namespace
}  // namespace ringgate

#undef ROUTE
#undef UPSTREAMS
