// JWT authentication through the real gateway, with keys generated here, a JWKS file, and a real
// upstream that records what reaches it: 401 without or with a bad token (each reason), 403 for
// a missing scope, forwarded claims replacing the client's copies, the token cache, and the
// algorithm attacks.

#include <algorithm>
#include <ctime>
#include <string>
#include <vector>

#include "jwt_signer.h"
#include "proxy_fixture.h"
#include "successors.h"

namespace ringgate::it {
namespace {

using jwt::Alg;
using test_jwt::b64url;
using test_jwt::header_for;
using test_jwt::make_signer;
using test_jwt::Signer;

class JwtAuthTest : public ProxyTest {
 protected:
  void SetUp() override {
    rsa_ = make_signer(Alg::kRS256, "rsa-1");
    ec_ = make_signer(Alg::kES256, "ec-1");
    ed_ = make_signer(Alg::kEdDSA, "ed-1");
    jwks_ =
        dir_.write("jwks.json", "{\"keys\":[" + rsa_.jwk + "," + ec_.jwk + "," + ed_.jwk + "]}");
  }

  GatewayProcess& start_auth(uint16_t upstream, const std::string& issuer_extra = "") {
    ConfigSpec spec;
    spec.sections = "auth:\n  jwt:\n    main:\n      jwks_file: \"" + jwks_ +
                    "\"\n"
                    "      issuer: \"https://id.example\"\n"
                    "      audiences: [web]\n"
                    "      forward_claims: {sub: X-User-Id, email: X-User-Email}\n" +
                    issuer_extra;
    return start_proxy(endpoint(upstream), "",
                       "  - match: {prefix: /orders}\n"
                       "    auth: {jwt: main, scopes: [\"orders:read\"]}\n"
                       "    upstream: api\n"
                       "  - match: {prefix: /me}\n"
                       "    auth: {jwt: main}\n"
                       "    upstream: api\n",
                       spec);
  }

  std::string claims(int64_t exp_in = 300, const std::string& extra = "") const {
    return "{\"iss\":\"https://id.example\",\"aud\":\"web\",\"sub\":\"ann\","
           "\"email\":\"ann@example.com\",\"scope\":\"openid orders:read\",\"exp\":" +
           std::to_string(static_cast<int64_t>(time(nullptr)) + exp_in) + extra + "}";
  }

  std::string token(const Signer& s, const std::string& payload, const std::string& kid) const {
    return s.sign(header_for(s.alg, ",\"kid\":\"" + kid + "\""), payload);
  }

  static std::string bearer(const std::string& t) { return "Authorization: Bearer " + t + "\r\n"; }

  Signer rsa_;
  Signer ec_;
  Signer ed_;
  std::string jwks_;
};

TEST_F(JwtAuthTest, NoTokenIs401WithAChallengeAndReachesNothing) {
  Upstream up({"--record", record_file()});
  auto& gw = start_auth(up.port());
  ASSERT_TRUE(gw.ok()) << gw.error();
  for (const char* extra : {"", "Authorization: Basic YTpi\r\n", "Authorization: Bearer\r\n"}) {
    auto r = fetch(gw.port(), request("GET", "/orders/1", extra));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 401) << r->raw;
    EXPECT_EQ(r->header("www-authenticate").value_or(""), "Bearer realm=\"main\"") << extra;
    EXPECT_EQ(r->header("content-type").value_or(""), "application/problem+json");
    EXPECT_FALSE(r->connection_has("close"));
  }
  EXPECT_TRUE(read_record(record_file()).requests.empty());
  EXPECT_EQ(metric(gw.admin_port(), "ringgate_jwt_missing_total{issuer=\"main\"}"), 3);
}

TEST_F(JwtAuthTest, AValidTokenPassesAndItsClaimsReplaceTheClientsHeaders) {
  Upstream up({"--record", record_file()});
  auto& gw = start_auth(up.port());
  ASSERT_TRUE(gw.ok()) << gw.error();
  for (const Signer* s : {&rsa_, &ec_, &ed_}) {
    const std::string kid = s == &rsa_ ? "rsa-1" : s == &ec_ ? "ec-1" : "ed-1";
    auto r = fetch(gw.port(), request("GET", "/orders/1",
                                      bearer(token(*s, claims(), kid)) +
                                          "X-User-Id: admin\r\nx-user-email: root@evil\r\n"));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << r->raw;
  }
  Recorded rec = read_record(record_file());
  ASSERT_EQ(rec.requests.size(), 3u);
  for (const std::string& sent : rec.requests) {
    EXPECT_EQ(values(sent, "x-user-id"), std::vector<std::string>{"ann"}) << visible(sent);
    EXPECT_EQ(values(sent, "x-user-email"), std::vector<std::string>{"ann@example.com"});
    // The token itself goes on to the upstream.
    EXPECT_EQ(values(sent, "authorization").size(), 1u);
  }
}

TEST_F(JwtAuthTest, HttpTwoClientsAreCheckedAlike) {
  Upstream up({"--record", record_file()});
  auto& gw = start_auth(up.port());
  ASSERT_TRUE(gw.ok()) << gw.error();
  const std::string url = "http://127.0.0.1:" + std::to_string(gw.port()) + "/orders/1";
  const CommandResult none =
      run_command({"curl", "-sS", "--http2-prior-knowledge", "-i", url}, 10s);
  EXPECT_EQ(none.out.rfind("HTTP/2 401", 0), 0u) << none.out;
  EXPECT_NE(none.out.find("www-authenticate: Bearer"), std::string::npos) << none.out;
  const CommandResult ok = run_command(
      {"curl", "-sS", "--http2-prior-knowledge", "-o", "/dev/null", "-w", "%{http_code}", "-H",
       "authorization: Bearer " + token(ec_, claims(), "ec-1"), "-H", "x-user-id: admin", url},
      10s);
  EXPECT_EQ(ok.out, "200") << ok.err;
  Recorded rec = read_record(record_file());
  ASSERT_EQ(rec.requests.size(), 1u);
  EXPECT_EQ(values(rec.requests[0], "x-user-id"), std::vector<std::string>{"ann"})
      << visible(rec.requests[0]);
}

// Key files reload with the config: after a reload the JWKS file is read again, so a key added
// there is trusted and a key removed is not.
TEST_F(JwtAuthTest, AReloadReadsTheJwksFileAgain) {
  Upstream up;
  auto& gw = start_auth(up.port());
  ASSERT_TRUE(gw.ok()) << gw.error();
  const Signer added = make_signer(Alg::kES256, "ec-2");
  auto status = [&](const Signer& s, const std::string& kid) {
    return status_of(gw.port(), "/me", bearer(token(s, claims(), kid)));
  };
  EXPECT_EQ(status(rsa_, "rsa-1"), 200);
  EXPECT_EQ(status(added, "ec-2"), 401);
  dir_.write("jwks.json", "{\"keys\":[" + added.jwk + "]}");
  Successors successors;
  ASSERT_GT(successors.take_over(gw), 0) << gw.log();
  ASSERT_TRUE(successors.wait_drained(gw, 1)) << gw.log();
  EXPECT_EQ(status(added, "ec-2"), 200);
  EXPECT_EQ(status(rsa_, "rsa-1"), 401);
}

TEST_F(JwtAuthTest, EachKindOfBadTokenIs401WithItsReason) {
  Upstream up({"--record", record_file()});
  auto& gw = start_auth(up.port(), "      leeway: 0s\n      required_claims: [sub]\n");
  ASSERT_TRUE(gw.ok()) << gw.error();
  const int64_t now = static_cast<int64_t>(time(nullptr));
  Signer hs = make_signer(Alg::kHS256, "rsa-1");
  hs.secret = rsa_.jwk;  // the public key as an HMAC secret
  Signer stranger = make_signer(Alg::kRS256, "rsa-1");
  const std::string none = b64url(R"({"alg":"none"})") + "." + b64url(claims()) + ".";
  const struct {
    std::string token;
    std::string reason;
  } cases[] = {
      {token(rsa_, claims(-5), "rsa-1"), "the token has expired"},
      {token(rsa_, claims(300, ",\"nbf\":" + std::to_string(now + 120)), "rsa-1"),
       "the token is not valid yet"},
      {token(rsa_,
             R"({"iss":"https://evil.example","aud":"web","sub":"a","exp":)" +
                 std::to_string(now + 60) + "}",
             "rsa-1"),
       "the token is from another issuer"},
      {token(rsa_,
             R"({"iss":"https://id.example","aud":"tv","sub":"a","exp":)" +
                 std::to_string(now + 60) + "}",
             "rsa-1"),
       "the token is for another audience"},
      {token(rsa_,
             R"({"iss":"https://id.example","aud":"web","exp":)" + std::to_string(now + 60) + "}",
             "rsa-1"),
       "a required claim is missing"},
      {token(stranger, claims(), "rsa-1"), "the signature is invalid"},
      {token(rsa_, claims(), "nobody"), "no key matches the token"},
      {token(hs, claims(), "rsa-1"), "the token's algorithm is not allowed"},
      {none + "AAAA", "the token's algorithm is not allowed"},
      {"not.a.token", "the token is malformed"},
  };
  for (const auto& c : cases) {
    auto r = fetch(gw.port(), request("GET", "/orders/1", bearer(c.token)));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 401) << c.reason << "\n" << r->raw;
    EXPECT_EQ(
        r->header("www-authenticate").value_or(""),
        "Bearer realm=\"main\", error=\"invalid_token\", error_description=\"" + c.reason + "\"");
    EXPECT_NE(r->body.find(c.reason), std::string::npos) << r->body;
  }
  EXPECT_TRUE(read_record(record_file()).requests.empty());
  EXPECT_EQ(metric(gw.admin_port(), "ringgate_jwt_invalid_total{issuer=\"main\"}"),
            static_cast<double>(std::size(cases)));
}

TEST_F(JwtAuthTest, AMissingScopeIs403NamingIt) {
  Upstream up;
  auto& gw = start_auth(up.port());
  ASSERT_TRUE(gw.ok()) << gw.error();
  const int64_t now = static_cast<int64_t>(time(nullptr));
  const std::string no_scope =
      token(rsa_,
            R"({"iss":"https://id.example","aud":"web","sub":"a","scp":["profile"],"exp":)" +
                std::to_string(now + 60) + "}",
            "rsa-1");
  auto r = fetch(gw.port(), request("GET", "/orders/1", bearer(no_scope)));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403) << r->raw;
  EXPECT_EQ(r->header("www-authenticate").value_or(""),
            "Bearer realm=\"main\", error=\"insufficient_scope\", scope=\"orders:read\"");
  // The same token on a route that requires no scope.
  auto me = fetch(gw.port(), request("GET", "/me", bearer(no_scope)));
  ASSERT_TRUE(me);
  EXPECT_EQ(me->status, 200) << me->raw;
  // And again, from the cache: still refused where the scope is needed.
  auto again = fetch(gw.port(), request("GET", "/orders/2", bearer(no_scope)));
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 403);
}

TEST_F(JwtAuthTest, ARepeatedTokenComesFromTheCache) {
  Upstream up;
  auto& gw = start_auth(up.port());
  ASSERT_TRUE(gw.ok()) << gw.error();
  const std::string t = token(ec_, claims(), "ec-1");
  for (int i = 0; i < 5; ++i) {
    auto r = fetch(gw.port(), request("GET", "/orders/1", bearer(t)));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << r->raw;
  }
  EXPECT_EQ(metric(gw.admin_port(), "ringgate_jwt_accepted_total{issuer=\"main\"}"), 5);
  EXPECT_EQ(metric(gw.admin_port(), "ringgate_jwt_cache_hits_total{issuer=\"main\"}"), 4);
}

// An aggregate route reads verified claims in its templates and sends the forwarded-claim
// headers to every backend call.
TEST_F(JwtAuthTest, AggregationBackendsGetClaimsInTemplatesAndHeaders) {
  Upstream up({"--record", record_file()});
  ConfigSpec spec;
  spec.sections = "auth:\n  jwt:\n    main:\n      jwks_file: \"" + jwks_ +
                  "\"\n      forward_claims: {sub: X-User-Id}\n";
  auto& gw = start_proxy(endpoint(up.port()), "",
                         "  - match: {path: /me/summary}\n"
                         "    auth: {jwt: main}\n"
                         "    aggregate:\n"
                         "      backends:\n"
                         "        - {key: user, upstream: api, path: \"/users/{claim.sub}\"}\n"
                         "        - {key: orders, upstream: api, path: /orders,"
                         " query: {owner: \"{claim.email}\"}}\n",
                         spec);
  ASSERT_TRUE(gw.ok()) << gw.error();
  auto r = fetch(gw.port(), request("GET", "/me/summary",
                                    bearer(token(ec_, claims(), "ec-1")) + "X-User-Id: root\r\n"));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->raw;
  Recorded rec = read_record(record_file());
  ASSERT_EQ(rec.requests.size(), 2u);
  std::vector<std::string> lines;
  for (const std::string& sent : rec.requests) {
    lines.push_back(sent.substr(0, sent.find("\r\n")));
    EXPECT_EQ(values(sent, "x-user-id"), std::vector<std::string>{"ann"}) << visible(sent);
  }
  std::sort(lines.begin(), lines.end());
  EXPECT_EQ(lines[0], "GET /orders?owner=ann%40example.com HTTP/1.1");
  EXPECT_EQ(lines[1], "GET /users/ann HTTP/1.1");
}

TEST_F(JwtAuthTest, ABadJwksFileIsAConfigErrorWithItsPosition) {
  const std::string bad = dir_.write("bad.json", "{\"keys\":[{\"kty\":\"oct\",\"k\":\"AAAA\"}]}");
  const std::string conf = dir_.write(
      "c.yaml", "server: {listen: \"127.0.0.1:0\"}\nauth:\n  jwt:\n    main: {jwks_file: \"" + bad +
                    "\"}\nroutes:\n  - match: {path: /x}\n    auth: {jwt: main}\n    direct: {}\n");
  CommandResult r = run_binary({"-t", "-c", conf});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.err.find(conf + ":4:"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("has no usable key"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("needs alg"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace ringgate::it
