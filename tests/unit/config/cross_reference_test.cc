// What one section of a config names in another, resolved once every section is parsed: the
// `jwks.NAME` clusters of jwks_url issuers, cluster and policy indexes, scope bits, claim
// indexes and the headers a route drops; and the errors of those references, at their exact
// position.

#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "config_test_util.h"

namespace ringgate {
namespace {

using config_test::action_of;
using config_test::ErrorCase;
using config_test::expect_errors;

#define SERVER "server: {listen: \"127.0.0.1:0\"}\n"

TEST(CrossReference, JwksUrlIssuersGetAClusterAfterTheUpstreams) {
  const Config c = load_config_string(SERVER
                                      "auth:\n"
                                      "  jwt:\n"
                                      "    corp: {jwks_url: \"http://127.0.0.1:9500/keys?v=1\"}\n"
                                      "    idp: {jwks_url: \"http://idp.example.com\"}\n"
                                      "upstreams:\n"
                                      "  a: {endpoints: [\"127.0.0.1:9001\"]}\n"
                                      "  b: {endpoints: [\"127.0.0.1:9002\"], keepalive: 8}\n"
                                      "routes:\n"
                                      "  - match: {path: /keys}\n"
                                      "    upstream: jwks.idp\n",
                                      "t.yaml");
  ASSERT_EQ(c.upstreams.size(), 4u);
  EXPECT_EQ(c.upstreams[0].name, "a");
  EXPECT_EQ(c.upstreams[1].name, "b");
  const UpstreamConfig& corp = c.upstreams[2];
  EXPECT_EQ(corp.name, "jwks.corp");
  ASSERT_EQ(corp.endpoints.size(), 1u);
  EXPECT_EQ(corp.endpoints[0].address, "127.0.0.1:9500");
  EXPECT_EQ(corp.endpoints[0].weight, 1u);
  EXPECT_EQ(corp.endpoints[0].mark.line, 4);
  EXPECT_EQ(corp.endpoints[0].mark.column, 22);
  EXPECT_EQ(corp.mark.line, 4);
  EXPECT_EQ(corp.mark.column, 22);
  EXPECT_EQ(corp.keepalive, 2u);
  // Everything else is a cluster's default.
  const UpstreamConfig defaults;
  EXPECT_EQ(corp.balance, defaults.balance);
  EXPECT_EQ(corp.connect_timeout, defaults.connect_timeout);
  EXPECT_EQ(corp.dns_refresh, defaults.dns_refresh);
  EXPECT_FALSE(corp.health.enabled);
  const UpstreamConfig& idp = c.upstreams[3];
  EXPECT_EQ(idp.name, "jwks.idp");
  ASSERT_EQ(idp.endpoints.size(), 1u);
  EXPECT_EQ(idp.endpoints[0].address, "idp.example.com:80");  // the URL gives no port

  ASSERT_EQ(c.jwt_issuers.size(), 2u);
  EXPECT_EQ(c.jwt_issuers[0].jwks_cluster, 2u);
  EXPECT_EQ(c.jwt_issuers[0].jwks_host, "127.0.0.1:9500");
  EXPECT_EQ(c.jwt_issuers[0].jwks_path, "/keys?v=1");
  EXPECT_EQ(c.jwt_issuers[1].jwks_cluster, 3u);
  EXPECT_EQ(c.jwt_issuers[1].jwks_host, "idp.example.com");
  EXPECT_EQ(c.jwt_issuers[1].jwks_path, "/");
  // A route may name the added cluster like any other.
  EXPECT_EQ(action_of<UpstreamAction>(c.routes[0]).cluster_index, 3u);
}

// An https jwks_url: port 443 unless given, TLS verified by default, jwks_tls as a cluster's tls.
TEST(CrossReference, HttpsJwksUrlsGetATlsCluster) {
  const Config c = load_config_string(SERVER
                                      "auth:\n"
                                      "  jwt:\n"
                                      "    idp: {jwks_url: \"https://idp.example.com/jwks\"}\n"
                                      "    corp:\n"
                                      "      jwks_url: \"https://10.0.0.7:8443/k\"\n"
                                      "      jwks_tls: {sni: keys.corp, verify: false}\n"
                                      "    plain: {jwks_url: \"http://10.0.0.8/k\"}\n",
                                      "t.yaml");
  ASSERT_EQ(c.upstreams.size(), 3u);
  const UpstreamConfig& idp = c.upstreams[0];
  EXPECT_EQ(idp.endpoints[0].address, "idp.example.com:443");
  ASSERT_TRUE(idp.tls);
  EXPECT_TRUE(idp.tls->verify);
  EXPECT_TRUE(idp.tls->sni.empty());  // the URL's host
  EXPECT_TRUE(idp.tls->ca.empty());   // the system's store
  EXPECT_TRUE(idp.tls->client);
  EXPECT_EQ(c.jwt_issuers[0].jwks_host, "idp.example.com");
  EXPECT_EQ(c.jwt_issuers[0].jwks_path, "/jwks");
  const UpstreamConfig& corp = c.upstreams[1];
  EXPECT_EQ(corp.endpoints[0].address, "10.0.0.7:8443");
  ASSERT_TRUE(corp.tls);
  EXPECT_FALSE(corp.tls->verify);
  EXPECT_EQ(corp.tls->sni, "keys.corp");
  EXPECT_EQ(c.jwt_issuers[1].jwks_host, "10.0.0.7:8443");
  EXPECT_FALSE(c.upstreams[2].tls);
}

TEST(CrossReference, JwksTlsProblems) {
  const ErrorCase cases[] = {
      {SERVER "auth:\n  jwt:\n    a:\n      jwks_url: \"http://10.0.0.7/k\"\n"
              "      jwks_tls: {verify: false}\n",
       "t.yaml:6:17", "jwks_tls is for an https:// jwks_url"},
      {SERVER "auth:\n  jwt:\n    a:\n      jwks_file: /nonexistent.json\n"
              "      jwks_tls: {verify: false}\n",
       "t.yaml:6:17", "jwks_tls needs an https:// jwks_url"},
      {SERVER "auth:\n  jwt:\n    a:\n      jwks_url: \"https://10.0.0.7/k\"\n"
              "      jwks_tls: {ca: /nonexistent.pem}\n",
       "t.yaml:6:22", "cannot be read"},
      {SERVER "auth:\n  jwt:\n    a:\n      jwks_url: \"ftp://10.0.0.7/k\"\n", "t.yaml:5:17",
       "expected https://host[:port]/path or http://host[:port]/path"},
  };
  expect_errors(cases);
}

TEST(CrossReference, ScopesAreBitsOfTheirIssuersScopes) {
  const Config c = load_config_string(SERVER
                                      "auth:\n"
                                      "  jwt:\n"
                                      "    a: {jwks_url: \"http://127.0.0.1:9500/k\"}\n"
                                      "    b: {jwks_url: \"http://127.0.0.1:9500/k\"}\n"
                                      "routes:\n"
                                      "  - match: {path: /1}\n"
                                      "    auth: {jwt: a, scopes: [read, write]}\n"
                                      "    direct: {}\n"
                                      "  - match: {path: /2}\n"
                                      "    auth: {jwt: b, scopes: write}\n"
                                      "    direct: {}\n"
                                      "  - match: {path: /3}\n"
                                      "    auth: {jwt: a, scopes: [admin, read]}\n"
                                      "    direct: {}\n",
                                      "t.yaml");
  EXPECT_EQ(c.jwt_issuers[0].rules.scopes, (std::vector<std::string>{"read", "write", "admin"}));
  EXPECT_EQ(c.jwt_issuers[1].rules.scopes, (std::vector<std::string>{"write"}));
  EXPECT_EQ(c.routes[0].auth.jwt, 0);
  EXPECT_EQ(c.routes[0].auth.scopes, 0b011u);
  EXPECT_EQ(c.routes[0].auth.scope_text, "read write");
  EXPECT_EQ(c.routes[1].auth.jwt, 1);
  EXPECT_EQ(c.routes[1].auth.scopes, 0b001u);
  EXPECT_EQ(c.routes[2].auth.scopes, 0b101u);
  EXPECT_EQ(c.routes[2].auth.scope_text, "admin read");
}

// Claim-keyed rate limits and {claim.NAME} placeholders read values their route's issuer
// extracts after the claims it forwards, in the order routes name them.
TEST(CrossReference, ClaimsAreExtractedInRouteOrder) {
  const Config c = load_config_string(
      SERVER
      "upstreams:\n"
      "  u: {endpoints: [\"127.0.0.1:9001\"]}\n"
      "rate_limits:\n"
      "  ip: {rate: 100/s, global: true}\n"
      "  tenant: {rate: 10/s, key: \"claim:tenant\"}\n"
      "  user: {rate: 10/s, key: \"claim:sub\"}\n"
      "auth:\n"
      "  jwt:\n"
      "    main:\n"
      "      jwks_url: \"http://127.0.0.1:9500/k\"\n"
      "      forward_claims: {sub: X-User, email: X-Email}\n"
      "routes:\n"
      "  - match: {path: /1}\n"
      "    auth: {jwt: main}\n"
      "    rate_limit: [tenant, user]\n"
      "    direct: {}\n"
      "  - match: {path: \"/2/{id}\"}\n"
      "    auth: {jwt: main}\n"
      "    aggregate:\n"
      "      backends:\n"
      "        - {key: a, upstream: u, path: \"/a/{claim.role}\", headers: {X-T: "
      "\"{claim.tenant}\"}}\n"
      "        - {key: b, upstream: u, path: \"/b/{a.x}\", query: {e: \"{claim.email}\", o: "
      "\"{claim.org}\"}}\n",
      "t.yaml");
  const JwtIssuerConfig& main = c.jwt_issuers[0];
  EXPECT_EQ(main.rules.forward,
            (std::vector<std::string>{"sub", "email", "tenant", "role", "org"}));
  // Extracted claims that are not forwarded have no header.
  EXPECT_EQ(main.forward_headers, (std::vector<std::string>{"x-user", "x-email", "", "", ""}));
  EXPECT_EQ(c.routes[0].rate_limits, (std::vector<uint32_t>{0, 1, 2}));
  EXPECT_EQ(c.routes[0].rate_limit_claims, (std::vector<int32_t>{-1, 2, 0}));
  EXPECT_EQ(c.routes[0].auth.drop_headers, (std::vector<std::string>{"x-user", "x-email"}));
  EXPECT_EQ(c.routes[1].rate_limits, (std::vector<uint32_t>{0}));
  EXPECT_EQ(c.routes[1].rate_limit_claims, (std::vector<int32_t>{-1}));
  const AggregateAction& agg = action_of<AggregateAction>(c.routes[1]);
  ASSERT_EQ(agg.backends.size(), 2u);
  EXPECT_EQ(agg.backends[0].cluster_index, 0u);
  EXPECT_EQ(agg.backends[0].path.pieces[1].kind, TemplatePiece::Kind::kClaim);
  EXPECT_EQ(agg.backends[0].path.pieces[1].index, 3u);              // role
  EXPECT_EQ(agg.backends[0].headers[0].value.pieces[0].index, 2u);  // tenant
  EXPECT_EQ(agg.backends[1].query[0].value.pieces[0].index, 1u);    // email
  EXPECT_EQ(agg.backends[1].query[1].value.pieces[0].index, 4u);    // org
  EXPECT_EQ(agg.backends[1].depends_on, (std::vector<uint32_t>{0}));
  EXPECT_EQ(agg.backends[1].stage, 1u);
  EXPECT_EQ(agg.stage_count, 2u);
}

TEST(CrossReference, RoutesDropTheHeadersTheGatewaySets) {
  const std::string keys = ::testing::TempDir() + "cross_reference_keys.txt";
  {
    FILE* f = fopen(keys.c_str(), "w");
    ASSERT_NE(f, nullptr);
    // SHA-256 of "key".
    fputs("2c70e12b7a0646f92279f427c7b38e7334d8e5389cff167a1dc30e73f826b683 alice\n", f);
    fclose(f);
  }
  const Config c = load_config_string(SERVER
                                          "auth:\n"
                                          "  api_keys:\n"
                                          "    partners: {file: \"" +
                                          keys +
                                          "\", consumer_header: X-Partner}\n"
                                          "    quiet: {file: \"" +
                                          keys +
                                          "\", consumer_header: \"\"}\n"
                                          "  jwt:\n"
                                          "    main:\n"
                                          "      jwks_url: \"http://127.0.0.1:9500/k\"\n"
                                          "      forward_claims: {sub: X-User}\n"
                                          "routes:\n"
                                          "  - match: {path: /1}\n"
                                          "    auth: {jwt: main, api_key: partners}\n"
                                          "    direct: {}\n"
                                          "  - match: {path: /2}\n"
                                          "    auth: {api_key: quiet}\n"
                                          "    direct: {}\n",
                                      "t.yaml");
  std::remove(keys.c_str());
  EXPECT_EQ(c.routes[0].auth.api_key, 0);
  EXPECT_EQ(c.routes[0].auth.jwt, 0);
  EXPECT_EQ(c.routes[0].auth.drop_headers, (std::vector<std::string>{"x-partner", "x-user"}));
  EXPECT_EQ(c.routes[1].auth.api_key, 1);
  EXPECT_EQ(c.routes[1].auth.jwt, -1);
  EXPECT_TRUE(c.routes[1].auth.drop_headers.empty());
}

// Each reference is reported where it is written, whichever section it names.
TEST(CrossReference, ErrorsAtTheirPosition) {
  const ErrorCase cases[] = {
      {SERVER "upstreams:\n  jwks.corp: {endpoints: [\"127.0.0.1:1\"]}\n"
              "auth:\n  jwt:\n    corp: {jwks_url: \"http://127.0.0.1:9500/k\"}\n",
       "t.yaml:6:22", "auth.jwt.corp.jwks_url: an upstream is already named 'jwks.corp'"},
      // The upstreams come first wherever they are in the file.
      {SERVER "auth:\n  jwt:\n    corp: {jwks_url: \"http://127.0.0.1:9500/k\"}\n"
              "upstreams:\n  jwks.corp: {endpoints: [\"127.0.0.1:1\"]}\n",
       "t.yaml:4:22", "auth.jwt.corp.jwks_url: an upstream is already named 'jwks.corp'"},
      {SERVER "routes:\n  - match: {path: /}\n    upstream: nowhere\n", "t.yaml:4:15",
       "routes[0].upstream: unknown upstream \"nowhere\" (no upstreams are defined)"},
      {SERVER "routes:\n  - match: {path: /}\n    auth: {jwt: corp}\n    direct: {}\n",
       "t.yaml:4:17", "routes[0].auth.jwt: unknown JWT issuer 'corp' (auth.jwt defines none)"},
      {SERVER "routes:\n  - match: {path: /}\n    rate_limit: [x]\n    direct: {}\n", "t.yaml:4:18",
       "routes[0].rate_limit[0]: unknown rate limit 'x' (no rate_limits are defined)"},
      {SERVER "rate_limits:\n  c: {rate: 1/s, key: \"claim:sub\"}\n"
              "routes:\n  - match: {path: /}\n    rate_limit: c\n    direct: {}\n",
       "t.yaml:6:17",
       "routes[0].rate_limit: rate limit 'c' is per JWT claim: the route needs "
       "auth.jwt"},
      {SERVER "upstreams:\n  u: {endpoints: [\"127.0.0.1:1\"]}\n"
              "routes:\n  - match: {path: /}\n    aggregate:\n      backends:\n"
              "        - {key: a, upstream: u, path: \"/{claim.sub}\"}\n",
       "t.yaml:8:39",
       "routes[0].aggregate.backends[0].path: placeholder '{claim.sub}' reads the "
       "verified JWT: the route needs auth.jwt"},
      {SERVER "upstreams:\n  u: {endpoints: [\"127.0.0.1:1\"]}\n"
              "routes:\n  - match: {path: /}\n    aggregate:\n      backends:\n"
              "        - {key: a, upstream: u, path: \"/\"}\n"
              "        - {key: b, upstream: v, path: \"/\"}\n",
       "t.yaml:9:30",
       "routes[0].aggregate.backends[1].upstream: unknown upstream \"v\" (defined: u)"},
      // Without a timeout of its own, the redis section is at fault, even above the server's.
      {"redis:\n  address: \"127.0.0.1:6379\"\n"
       "server: {listen: \"127.0.0.1:0\", limits: {request_timeout: 40ms}}\n",
       "t.yaml:2:3",
       "redis: redis.timeout (50ms) must be shorter than server.limits.request_timeout (40ms)"},
  };
  expect_errors(cases);
}

// An issuer extracts at most 16 claims; the one past them is reported where it is read.
TEST(CrossReference, TooManyClaimsAtTheirPosition) {
  std::string yaml = SERVER
      "auth:\n  jwt:\n    main: {jwks_url: \"http://127.0.0.1:9500/k\"}\n"
      "upstreams:\n  u: {endpoints: [\"127.0.0.1:1\"]}\n"
      "routes:\n  - match: {path: /}\n    auth: {jwt: main}\n    aggregate:\n      backends:\n";
  for (int i = 0; i < 17; ++i) {
    yaml += "        - {key: k" + std::to_string(i) + ", upstream: u, path: \"/{claim.c" +
            std::to_string(i) + "}\"}\n";
  }
  const std::string message = config_test::error_of(yaml);
  EXPECT_EQ(message,
            "t.yaml:28:41: routes[0].aggregate.backends[16].path: issuer 'main' would extract more "
            "than 16 claims (forwarded, rate-limit keys and templates)");
}

}  // namespace
}  // namespace ringgate

#undef SERVER
