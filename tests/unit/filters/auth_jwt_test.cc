// The shard's JWT check: verdicts, the token cache (hits, expiry, scopes, long tokens), forwarded
// claims and where tokens are found in a request.

#include "ringgate/filters/auth_jwt.h"

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>

#include "jwt_signer.h"

namespace ringgate {
namespace {

using jwt::Alg;

constexpr int64_t kNow = 1800000000;

struct IssuerSetup {
  IssuerSetup() : signer(test_jwt::make_signer(Alg::kES256, "k")) {
    JwtIssuerConfig issuer;
    issuer.name = "main";
    auto keys = std::make_shared<std::vector<jwt::Key>>();
    std::vector<std::string> skipped;
    std::string why;
    EXPECT_TRUE(jwt::parse_jwks("{\"keys\":[" + signer.jwk + "]}", keys.get(), &skipped, &why));
    issuer.keys = keys;
    issuer.algorithms = jwt::alg_bit(Alg::kES256);
    issuer.rules.leeway_s = 10;
    issuer.rules.scopes = {"read", "write"};
    issuer.rules.forward = {"sub", "note"};
    issuer.forward_headers = {"x-user-id", "x-note"};
    issuer.cache_entries = 16;
    config.jwt_issuers.push_back(std::move(issuer));
    source.publish(config.jwt_issuers[0].keys, {});
    auth = std::make_unique<ShardJwtAuth>(config, std::vector<JwtKeySource*>{&source});
  }
  std::string token(const std::string& claims) const {
    return signer.sign(test_jwt::header_for(Alg::kES256, ",\"kid\":\"k\""), claims);
  }
  test_jwt::Signer signer;
  Config config;
  JwtKeySource source;
  std::unique_ptr<ShardJwtAuth> auth;
};

TEST(ShardJwtAuth, VerdictsAndTheCache) {
  IssuerSetup s;
  const std::string t =
      s.token("{\"sub\":\"ann\",\"scope\":\"read\",\"exp\":" + std::to_string(kNow + 60) + "}");
  auto r = s.auth->check(0, t, 0b01, kNow);
  ASSERT_EQ(r.outcome, ShardJwtAuth::Outcome::kOk) << r.reason;
  EXPECT_EQ(r.forward, "x-user-id: ann\r\n");
  r = s.auth->check(0, t, 0b01, kNow + 1);
  ASSERT_EQ(r.outcome, ShardJwtAuth::Outcome::kOk);
  EXPECT_EQ(r.forward, "x-user-id: ann\r\n");
  EXPECT_EQ(s.auth->counters(0).cache_hits.load(), 1u);
  // The cached token still lacks "write".
  EXPECT_EQ(s.auth->check(0, t, 0b10, kNow + 2).outcome, ShardJwtAuth::Outcome::kInsufficientScope);
  // Past exp + leeway the cache does not answer; the check does, and refuses.
  r = s.auth->check(0, t, 0b01, kNow + 71);
  EXPECT_EQ(r.outcome, ShardJwtAuth::Outcome::kInvalid);
  EXPECT_EQ(r.reason, "the token has expired");
  EXPECT_EQ(s.auth->check(0, "", 0, kNow).outcome, ShardJwtAuth::Outcome::kMissing);
  // One byte off: another token entirely.
  std::string other = t;
  other[other.size() / 2] = other[other.size() / 2] == 'A' ? 'B' : 'A';
  EXPECT_EQ(s.auth->check(0, other, 0b01, kNow).outcome, ShardJwtAuth::Outcome::kInvalid);
}

TEST(ShardJwtAuth, LongTokensAreCheckedEveryTime) {
  IssuerSetup s;
  const std::string t = s.token("{\"sub\":\"ann\",\"pad\":\"" + std::string(3000, 'x') +
                                "\",\"exp\":" + std::to_string(kNow + 60) + "}");
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(s.auth->check(0, t, 0, kNow).outcome, ShardJwtAuth::Outcome::kOk);
  }
  EXPECT_EQ(s.auth->counters(0).cache_hits.load(), 0u);
  EXPECT_EQ(s.auth->counters(0).accepted.load(), 3u);
}

TEST(ShardJwtAuth, ForwardedClaimsMustBeHeaderSafe) {
  IssuerSetup s;
  const std::string exp = ",\"exp\":" + std::to_string(kNow + 60) + "}";
  auto r =
      s.auth->check(0, s.token("{\"sub\":\"ann\",\"note\":\"a\\r\\nX-Admin: 1\"" + exp), 0, kNow);
  EXPECT_EQ(r.outcome, ShardJwtAuth::Outcome::kInvalid);
  EXPECT_EQ(r.reason, "a forwarded claim holds control characters");
  r = s.auth->check(0, s.token("{\"sub\":7,\"note\":\"caf\\u00e9\"" + exp), 0, kNow);
  ASSERT_EQ(r.outcome, ShardJwtAuth::Outcome::kOk);
  EXPECT_EQ(r.forward, "x-user-id: 7\r\nx-note: caf\xc3\xa9\r\n");
}

TEST(FindToken, BearerHeaderQueryAndCookie) {
  std::map<std::string, std::string> headers = {
      {"authorization", "bEaReR   abc.def.ghi  "},
      {"x-token", " t1 "},
      {"cookie", "a=1; jwt=c.o.k; b=2"},
  };
  auto lookup = [&headers](std::string_view name) -> std::string_view {
    auto it = headers.find(std::string(name));
    return it == headers.end() ? std::string_view() : std::string_view(it->second);
  };
  JwtIssuerConfig c;
  EXPECT_EQ(find_token(c, lookup, ""), "abc.def.ghi");
  c.from = JwtIssuerConfig::From::kHeader;
  c.from_name = "x-token";
  EXPECT_EQ(find_token(c, lookup, ""), "t1");
  c.from = JwtIssuerConfig::From::kQuery;
  c.from_name = "access_token";
  EXPECT_EQ(find_token(c, lookup, "x=1&access_token=q.u.e&y=2"), "q.u.e");
  EXPECT_EQ(find_token(c, lookup, "x=1"), "");
  c.from = JwtIssuerConfig::From::kCookie;
  c.from_name = "jwt";
  EXPECT_EQ(find_token(c, lookup, ""), "c.o.k");
  c.from = JwtIssuerConfig::From::kBearer;
  headers["authorization"] = "Basic YTpi";
  EXPECT_EQ(find_token(c, lookup, ""), "");
  headers["authorization"] = "Bearertoken";
  EXPECT_EQ(find_token(c, lookup, ""), "");
}

}  // namespace
}  // namespace ringgate
