#pragma once
// The claims of a verified JWT (RFC 7519): time limits with leeway, issuer, audience, required
// claims, scopes, and the values of claims to pass on.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ringgate::jwt {

// What an issuer's tokens must satisfy; built once from config, shared read-only.
struct ClaimRules {
  std::string issuer;                  // `iss` must equal it; empty: not checked
  std::vector<std::string> audiences;  // `aud` (string or array) must hold one; empty: not checked
  int64_t leeway_s = 30;               // allowed clock skew for exp, nbf and iat
  bool require_exp = true;             // a token without `exp` is refused
  std::vector<std::string> required;   // claims that must be present (any value)
  // Scope names routes of this issuer require, at most 64: bit i of Claims::scopes is set when
  // the token grants scopes[i] (in `scope` or `scp`, a space-separated string or an array).
  std::vector<std::string> scopes;
  // Claims whose values are wanted, in Claims::values; not the ones checked above (exp, nbf,
  // iat, iss, aud, scope, scp), whose values are read only to check them.
  std::vector<std::string> forward;
};

enum class ClaimError : uint8_t {
  kOk,
  kNotJson,         // the payload is not a JSON object, or a registered claim is given twice
  kBadType,         // exp/nbf/iat not a number, iss not a string, aud not a string or array, ...
  kNoExp,           // no `exp` and require_exp
  kExpired,         // now > exp + leeway
  kNotYetValid,     // now < nbf - leeway
  kIssuedInFuture,  // now < iat - leeway
  kIssuer,
  kAudience,
  kMissing,  // a required claim is absent (Claims::missing names it)
};
std::string_view claim_error_text(ClaimError e);

struct Claims {
  int64_t exp = INT64_MAX;  // seconds since the epoch; INT64_MAX without `exp`
  uint64_t scopes = 0;      // bits of ClaimRules::scopes granted
  // Per ClaimRules::forward: the value as text (a string unescaped; a number or boolean as
  // written); empty when absent or not a scalar.
  std::vector<std::string> values;
  std::string missing;  // kMissing / kBadType: which claim
};

// Checks `payload` (JSON; `capacity` >= payload.size() + 64 readable bytes, zeroed past the end,
// as verify() leaves it) at `now_s` (seconds since the epoch).
ClaimError check_claims(std::string_view payload, size_t capacity, const ClaimRules& rules,
                        int64_t now_s, Claims* out);

}  // namespace ringgate::jwt
