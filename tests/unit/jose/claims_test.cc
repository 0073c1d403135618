// JWT claims: exp/nbf/iat with leeway at the edges, issuer, audience, required claims, scopes
// from `scope` and `scp`, forwarded values, and malformed or duplicated claims.

#include "ringgate/jose/claims.h"

#include <gtest/gtest.h>

#include <string>

namespace ringgate::jwt {
namespace {

constexpr int64_t kNow = 1800000000;

ClaimError run(const std::string& json, const ClaimRules& rules, Claims* out = nullptr,
               int64_t now = kNow) {
  std::string padded = json;
  padded.append(64, '\0');
  Claims c;
  return check_claims(std::string_view(padded.data(), json.size()), padded.size(), rules, now,
                      out ? out : &c);
}

std::string exp_in(int64_t seconds) {
  return std::to_string(kNow + seconds);
}

TEST(Claims, ExpNbfIatAtTheLeewayEdges) {
  ClaimRules r;
  r.leeway_s = 30;
  EXPECT_EQ(run("{\"exp\":" + exp_in(0) + "}", r), ClaimError::kOk);
  EXPECT_EQ(run("{\"exp\":" + exp_in(-30) + "}", r), ClaimError::kOk);  // within the leeway
  EXPECT_EQ(run("{\"exp\":" + exp_in(-31) + "}", r), ClaimError::kExpired);
  EXPECT_EQ(run("{\"exp\":" + exp_in(60) + ",\"nbf\":" + exp_in(30) + "}", r), ClaimError::kOk);
  EXPECT_EQ(run("{\"exp\":" + exp_in(60) + ",\"nbf\":" + exp_in(31) + "}", r),
            ClaimError::kNotYetValid);
  EXPECT_EQ(run("{\"exp\":" + exp_in(60) + ",\"iat\":" + exp_in(30) + "}", r), ClaimError::kOk);
  EXPECT_EQ(run("{\"exp\":" + exp_in(60) + ",\"iat\":" + exp_in(31) + "}", r),
            ClaimError::kIssuedInFuture);
  // NumericDate may have a fraction.
  Claims c;
  EXPECT_EQ(run("{\"exp\":" + exp_in(10) + ".75}", r, &c), ClaimError::kOk);
  EXPECT_EQ(c.exp, kNow + 10);
  r.leeway_s = 0;
  EXPECT_EQ(run("{\"exp\":" + exp_in(-1) + "}", r), ClaimError::kExpired);
}

TEST(Claims, ExpIsRequiredUnlessDisabled) {
  ClaimRules r;
  EXPECT_EQ(run("{\"sub\":\"a\"}", r), ClaimError::kNoExp);
  r.require_exp = false;
  Claims c;
  EXPECT_EQ(run("{\"sub\":\"a\"}", r, &c), ClaimError::kOk);
  EXPECT_EQ(c.exp, INT64_MAX);
}

TEST(Claims, IssuerAndAudience) {
  ClaimRules r;
  r.issuer = "https://id.example";
  r.audiences = {"web", "mobile"};
  const std::string exp = ",\"exp\":" + exp_in(60);
  EXPECT_EQ(run("{\"iss\":\"https://id.example\",\"aud\":\"web\"" + exp + "}", r), ClaimError::kOk);
  EXPECT_EQ(run("{\"iss\":\"https://id.example\",\"aud\":[\"tv\",\"mobile\"]" + exp + "}", r),
            ClaimError::kOk);
  EXPECT_EQ(run("{\"iss\":\"https://evil.example\",\"aud\":\"web\"" + exp + "}", r),
            ClaimError::kIssuer);
  EXPECT_EQ(run("{\"aud\":\"web\"" + exp + "}", r), ClaimError::kIssuer);  // no iss at all
  EXPECT_EQ(run("{\"iss\":\"https://id.example\",\"aud\":\"tv\"" + exp + "}", r),
            ClaimError::kAudience);
  EXPECT_EQ(run("{\"iss\":\"https://id.example\"" + exp + "}", r), ClaimError::kAudience);
  EXPECT_EQ(run("{\"iss\":\"https://id.example\",\"aud\":[]" + exp + "}", r),
            ClaimError::kAudience);
  Claims c;
  EXPECT_EQ(run("{\"iss\":7,\"aud\":\"web\"" + exp + "}", r, &c), ClaimError::kBadType);
  EXPECT_EQ(c.missing, "iss");
  EXPECT_EQ(run("{\"iss\":\"https://id.example\",\"aud\":[\"web\",3]" + exp + "}", r),
            ClaimError::kBadType);
}

TEST(Claims, RequiredClaims) {
  ClaimRules r;
  r.require_exp = false;
  r.required = {"sub", "tenant"};
  Claims c;
  EXPECT_EQ(run(R"({"sub":"a","tenant":null})", r, &c), ClaimError::kOk);
  EXPECT_EQ(run(R"({"sub":"a"})", r, &c), ClaimError::kMissing);
  EXPECT_EQ(c.missing, "tenant");
}

TEST(Claims, ScopesFromScopeOrScp) {
  ClaimRules r;
  r.require_exp = false;
  r.scopes = {"orders:read", "orders:write", "admin"};
  Claims c;
  ASSERT_EQ(run(R"({"scope":"openid orders:read  admin"})", r, &c), ClaimError::kOk);
  EXPECT_EQ(c.scopes, 0b101u);
  ASSERT_EQ(run(R"({"scp":["orders:write","other"]})", r, &c), ClaimError::kOk);
  EXPECT_EQ(c.scopes, 0b010u);
  ASSERT_EQ(run(R"({"scp":"orders:read orders:write"})", r, &c), ClaimError::kOk);
  EXPECT_EQ(c.scopes, 0b011u);
  ASSERT_EQ(run(R"({"scope":"orders:readx"})", r, &c), ClaimError::kOk);  // whole names only
  EXPECT_EQ(c.scopes, 0u);
  EXPECT_EQ(run(R"({"scope":7})", r, &c), ClaimError::kBadType);
}

TEST(Claims, ForwardedValues) {
  ClaimRules r;
  r.require_exp = false;
  r.forward = {"sub", "email", "level", "admin", "groups", "absent"};
  Claims c;
  ASSERT_EQ(run(R"({"sub":"ann\u00e9","email":"a@example.com","level":  42 ,"admin":true,)"
                R"("groups":["x"]})",
                r, &c),
            ClaimError::kOk);
  ASSERT_EQ(c.values.size(), 6u);
  EXPECT_EQ(c.values[0], "ann\xc3\xa9");
  EXPECT_EQ(c.values[1], "a@example.com");
  EXPECT_EQ(c.values[2], "42");
  EXPECT_EQ(c.values[3], "true");
  EXPECT_EQ(c.values[4], "");  // not a scalar
  EXPECT_EQ(c.values[5], "");
}

TEST(Claims, MalformedAndDuplicated) {
  ClaimRules r;
  EXPECT_EQ(run("not json", r), ClaimError::kNotJson);
  EXPECT_EQ(run("[1]", r), ClaimError::kNotJson);
  EXPECT_EQ(run("", r), ClaimError::kNotJson);
  EXPECT_EQ(run("{\"exp\":" + exp_in(60) + ",\"exp\":" + exp_in(999999) + "}", r),
            ClaimError::kNotJson);
  EXPECT_EQ(run("{\"exp\":\"tomorrow\"}", r), ClaimError::kBadType);
  EXPECT_EQ(run("{\"exp\":1e400}", r), ClaimError::kBadType);
  r.issuer = "a";
  EXPECT_EQ(run("{\"iss\":\"a\",\"iss\":\"b\",\"exp\":" + exp_in(60) + "}", r),
            ClaimError::kNotJson);
}

}  // namespace
}  // namespace ringgate::jwt
