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
  bool has_exp = false;
  bool has_nbf = false;
  bool has_iat = false;
  bool has_iss = false;
  bool has_aud = false;
  bool has_scope = false;
  bool has_scp = false;
  int64_t nbf = 0;
  int64_t iat = 0;
  bool issuer_ok = rules.issuer.empty();
  bool audience_ok = rules.audiences.empty();
  uint64_t present = 0;  // bits of rules.required seen
  auto bad = [out](std::string_view claim) {
    out->missing.assign(claim);
    return ClaimError::kBadType;
  };
  for (auto field : obj) {
    std::string_view key;
    if (field.unescaped_key().get(key)) {
      return ClaimError::kNotJson;
    }
    for (size_t i = 0; i < rules.required.size() && i < 64; ++i) {
      if (rules.required[i] == key) {
        present |= uint64_t{1} << i;
      }
    }
    od::value v;
    if (field.value().get(v)) {
      return ClaimError::kNotJson;
    }
    // A registered claim given twice is read differently by different parsers: refused.
    auto once = [](bool& seen) {
      const bool first = !seen;
      seen = true;
      return first;
    };
    if (key == "exp") {
      if (!once(has_exp)) {
        return ClaimError::kNotJson;
      }
      if (!numeric_date(v, &out->exp)) {
        return bad("exp");
      }
    } else if (key == "nbf") {
      if (!once(has_nbf)) {
        return ClaimError::kNotJson;
      }
      if (!numeric_date(v, &nbf)) {
        return bad("nbf");
      }
    } else if (key == "iat") {
      if (!once(has_iat)) {
        return ClaimError::kNotJson;
      }
      if (!numeric_date(v, &iat)) {
        return bad("iat");
      }
    } else if (key == "iss") {
      if (!once(has_iss)) {
        return ClaimError::kNotJson;
      }
      std::string_view iss;
      if (v.get_string().get(iss)) {
        return bad("iss");
      }
      issuer_ok = rules.issuer.empty() || iss == rules.issuer;
    } else if (key == "aud") {
      if (!once(has_aud)) {
        return ClaimError::kNotJson;
      }
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
        audience_ok = audience_ok || matches(s);
      } else if (!v.get_array().get(list)) {
        for (auto item : list) {
          if (item.get_string().get(s)) {
            return bad("aud");
          }
          audience_ok = audience_ok || matches(s);
        }
      } else {
        return bad("aud");
      }
    } else if (key == "scope" || key == "scp") {
      if (!once(key == "scope" ? has_scope : has_scp)) {
        return ClaimError::kNotJson;
      }
      if (!read_scopes(v, rules, &out->scopes)) {
        return bad(key);
      }
    } else {
      for (size_t i = 0; i < rules.forward.size(); ++i) {
        if (rules.forward[i] != key) {
          continue;
        }
        std::string_view s;
        od::json_type type;
        if (v.type().get(type)) {
          return ClaimError::kNotJson;
        }
        if (type == od::json_type::string) {
          if (v.get_string().get(s)) {
            return ClaimError::kNotJson;
          }
          out->values[i].assign(s);
        } else if (type == od::json_type::number || type == od::json_type::boolean) {
          std::string_view raw = v.raw_json_token();
          while (!raw.empty() && (raw.back() == ' ' || raw.back() == '\t' || raw.back() == '\n' ||
                                  raw.back() == '\r')) {
            raw.remove_suffix(1);
          }
          out->values[i].assign(raw);
        }
        break;
      }
    }
  }
  const int64_t leeway = rules.leeway_s;
  if (!has_exp && rules.require_exp) {
    return ClaimError::kNoExp;
  }
  if (has_exp && now_s > out->exp + leeway) {
    return ClaimError::kExpired;
  }
  if (has_nbf && now_s < nbf - leeway) {
    return ClaimError::kNotYetValid;
  }
  if (has_iat && now_s < iat - leeway) {
    return ClaimError::kIssuedInFuture;
  }
  if (!issuer_ok || (!has_iss && !rules.issuer.empty())) {
    return ClaimError::kIssuer;
  }
  if (!audience_ok) {
    return ClaimError::kAudience;
  }
  for (size_t i = 0; i < rules.required.size() && i < 64; ++i) {
    if (!(present & (uint64_t{1} << i))) {
      out->missing = rules.required[i];
      return ClaimError::kMissing;
    }
  }
  return ClaimError::kOk;
}

}  // namespace ringgate::jwt
