#include "ringgate/jose/claims.h"

#include <simdjson.h>

#include <cmath>

namespace ringgate::jwt {

namespace {

namespace od = simdjson::ondemand;

// A NumericDate: seconds since the epoch, an integer or not (RFC 7519 2), floored.
bool numeric_date(od::value v, int64_t* out) {
  double d = 0;
  if (v.get_double().get(d) || !std::isfinite(d) || d < -9.2e18 || d > 9.2e18) {
    return false;
  }
  *out = static_cast<int64_t>(std::floor(d));
  return true;
}

// Sets the bits of `rules.scopes` named in a space-separated list.
void grant(std::string_view list, const ClaimRules& rules, uint64_t* bits) {
  while (!list.empty()) {
    const size_t space = list.find(' ');
    const std::string_view name = list.substr(0, space);
    list = space == std::string_view::npos ? std::string_view() : list.substr(space + 1);
    for (size_t i = 0; i < rules.scopes.size() && i < 64; ++i) {
      if (!name.empty() && rules.scopes[i] == name) {
        *bits |= uint64_t{1} << i;
      }
    }
  }
}

// `scope` or `scp`: a space-separated string or an array of strings.
bool read_scopes(od::value v, const ClaimRules& rules, uint64_t* bits) {
  std::string_view s;
  if (!v.get_string().get(s)) {
    grant(s, rules, bits);
    return true;
  }
  od::array a;
  if (v.get_array().get(a)) {
    return false;
  }
  for (auto item : a) {
    if (item.get_string().get(s)) {
      return false;
    }
    grant(s, rules, bits);
  }
  return true;
}

}  // namespace

std::string_view claim_error_text(ClaimError e) {
  switch (e) {
    case ClaimError::kOk:
      return "ok";
    case ClaimError::kNotJson:
      return "the claims are not a JSON object with each registered claim once";
    case ClaimError::kBadType:
      return "a claim has the wrong type";
    case ClaimError::kNoExp:
      return "the token has no expiry";
    case ClaimError::kExpired:
      return "the token has expired";
    case ClaimError::kNotYetValid:
      return "the token is not valid yet";
    case ClaimError::kIssuedInFuture:
      return "the token was issued in the future";
    case ClaimError::kIssuer:
      return "the token is from another issuer";
    case ClaimError::kAudience:
      return "the token is for another audience";
    case ClaimError::kMissing:
      return "a required claim is missing";
  }
  return "invalid claims";
}

namespace {

// What the payload's claims said, as far as the checks after reading them need.
struct Seen {
  bool exp = false;
  bool nbf = false;
  bool iat = false;
  bool iss = false;
  bool aud = false;
  bool scope = false;
  bool scp = false;
  int64_t nbf_s = 0;
  int64_t iat_s = 0;
  bool issuer_ok = false;
  bool audience_ok = false;
  uint64_t present = 0;  // bits of rules.required seen
};

// A registered claim given twice is read differently by different parsers: refused.
bool once(bool& seen) {
  const bool first = !seen;
  seen = true;
  return first;
}

// `aud`: a string or a list of strings; one of them must be an accepted audience.
bool read_audience(od::value& v, const ClaimRules& rules, bool* ok) {
  auto matches = [&rules](std::string_view a) {
    for (const std::string& want : rules.audiences) {
      if (a == want) {
        return true;
      }
    }
    return false;
  };
  std::string_view s;
  od::array list;
  if (!v.get_string().get(s)) {
    *ok = *ok || matches(s);
    return true;
  }
  if (v.get_array().get(list)) {
    return false;
  }
  for (auto item : list) {
    if (item.get_string().get(s)) {
      return false;
    }
    *ok = *ok || matches(s);
  }
  return true;
}

// A forwarded claim's value: a string as it is, a number or boolean as written.
ClaimError read_forwarded(od::value& v, std::string* out) {
  od::json_type type;
  if (v.type().get(type)) {
    return ClaimError::kNotJson;
  }
  if (type == od::json_type::string) {
    std::string_view s;
    if (v.get_string().get(s)) {
      return ClaimError::kNotJson;
    }
    out->assign(s);
  } else if (type == od::json_type::number || type == od::json_type::boolean) {
    std::string_view raw = v.raw_json_token();
    while (!raw.empty() &&
           (raw.back() == ' ' || raw.back() == '\t' || raw.back() == '\n' || raw.back() == '\r')) {
      raw.remove_suffix(1);
    }
    out->assign(raw);
  }
  return ClaimError::kOk;
}

// One member of the payload.
ClaimError read_claim(std::string_view key, od::value& v, const ClaimRules& rules, Seen& seen,
                      Claims* out) {
  auto bad = [out](std::string_view claim) {
    out->missing.assign(claim);
    return ClaimError::kBadType;
  };
  if (key == "exp") {
    if (!once(seen.exp)) {
      return ClaimError::kNotJson;
    }
    return numeric_date(v, &out->exp) ? ClaimError::kOk : bad("exp");
  }
  if (key == "nbf") {
    if (!once(seen.nbf)) {
      return ClaimError::kNotJson;
    }
    return numeric_date(v, &seen.nbf_s) ? ClaimError::kOk : bad("nbf");
  }
  if (key == "iat") {
    if (!once(seen.iat)) {
      return ClaimError::kNotJson;
    }
    return numeric_date(v, &seen.iat_s) ? ClaimError::kOk : bad("iat");
  }
  if (key == "iss") {
    if (!once(seen.iss)) {
      return ClaimError::kNotJson;
    }
    std::string_view iss;
    if (v.get_string().get(iss)) {
      return bad("iss");
    }
    seen.issuer_ok = rules.issuer.empty() || iss == rules.issuer;
    return ClaimError::kOk;
  }
  if (key == "aud") {
    if (!once(seen.aud)) {
      return ClaimError::kNotJson;
    }
    return read_audience(v, rules, &seen.audience_ok) ? ClaimError::kOk : bad("aud");
  }
  if (key == "scope" || key == "scp") {
    if (!once(key == "scope" ? seen.scope : seen.scp)) {
      return ClaimError::kNotJson;
    }
    return read_scopes(v, rules, &out->scopes) ? ClaimError::kOk : bad(key);
  }
  for (size_t i = 0; i < rules.forward.size(); ++i) {
    if (rules.forward[i] == key) {
      return read_forwarded(v, &out->values[i]);
    }
  }
  return ClaimError::kOk;
}

// After every claim was read: the times (with leeway), the issuer, the audience, what is
// required.
ClaimError judge(const Seen& seen, const ClaimRules& rules, int64_t now_s, Claims* out) {
  const int64_t leeway = rules.leeway_s;
  if (!seen.exp && rules.require_exp) {
    return ClaimError::kNoExp;
  }
  if (seen.exp && now_s > out->exp + leeway) {
    return ClaimError::kExpired;
  }
  if (seen.nbf && now_s < seen.nbf_s - leeway) {
    return ClaimError::kNotYetValid;
  }
  if (seen.iat && now_s < seen.iat_s - leeway) {
    return ClaimError::kIssuedInFuture;
  }
  if (!seen.issuer_ok || (!seen.iss && !rules.issuer.empty())) {
    return ClaimError::kIssuer;
  }
  if (!seen.audience_ok) {
    return ClaimError::kAudience;
  }
  for (size_t i = 0; i < rules.required.size() && i < 64; ++i) {
    if (!(seen.present & (uint64_t{1} << i))) {
      out->missing = rules.required[i];
      return ClaimError::kMissing;
    }
  }
  return ClaimError::kOk;
}

}  // namespace

ClaimError check_claims(std::string_view payload, size_t capacity, const ClaimRules& rules,
                        int64_t now_s, Claims* out) {
  thread_local od::parser parser;  // per shard; keeps its buffers
  out->exp = INT64_MAX;
  out->scopes = 0;
  out->values.assign(rules.forward.size(), std::string());
  out->missing.clear();
  od::document doc;
  od::object obj;
  if (parser.iterate(payload.data(), payload.size(), capacity).get(doc) ||
      doc.get_object().get(obj)) {
    return ClaimError::kNotJson;
  }
  Seen seen;
  seen.issuer_ok = rules.issuer.empty();
  seen.audience_ok = rules.audiences.empty();
  for (auto field : obj) {
    std::string_view key;
    if (field.unescaped_key().get(key)) {
      return ClaimError::kNotJson;
    }
    for (size_t i = 0; i < rules.required.size() && i < 64; ++i) {
      if (rules.required[i] == key) {
        seen.present |= uint64_t{1} << i;
      }
    }
    od::value v;
    if (field.value().get(v)) {
      return ClaimError::kNotJson;
    }
    const ClaimError e = read_claim(key, v, rules, seen, out);
    if (e != ClaimError::kOk) {
      return e;
    }
  }
  return judge(seen, rules, now_s, out);
}

}  // namespace ringgate::jwt
