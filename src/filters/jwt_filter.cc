// auth_jwt: a route with `auth: {jwt: ISSUER, scopes: [...]}` needs a token of that issuer that
// verifies and grants the scopes (ShardJwtAuth does the checking and caching). The verified
// claims become the exchange's identity; the forwarded ones go upstream as headers. 401 or 403
// with an RFC 6750 challenge otherwise. A token whose kid no key matches may wait (kWait) for a
// fetch of the issuer's jwks_url, and is decided on the keys it brings: a rotated-in key passes
// on its first request.

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <string>

#include "ringgate/filters/auth_jwt.h"
#include "ringgate/filters/registry.h"

namespace ringgate {

namespace {

class JwtFilter;

// The per-request part, made in the exchange's arena when the request waits for the keys.
struct JwtWait final : JwtKeyWaiter {
  JwtFilter* filter = nullptr;
  Exchange* x = nullptr;
  void keys_ready(bool timed_out) override;
};

class JwtFilter final : public Filter {
 public:
  JwtFilter(const RouteConfig& route, uint32_t issuer, FilterServices& shard)
      : route_(route),
        issuer_(issuer),
        config_(shard.config->jwt_issuers[issuer]),
        auth_(*shard.jwt),
        slot_(shard.position) {
    // 503's detail (it must outlive the answer: the filter outlives its exchanges).
    unavailable_detail_ = "the keys of JWT issuer \"" + config_.name +
                          "\" could not be fetched from its jwks_url " + config_.jwks_url +
                          " to check the token";
    const int64_t ms = config_.jwks_min_refresh.count();
    retry_after_ =
        "Retry-After: " + std::to_string(std::max<int64_t>(1, (ms + 999) / 1000)) + "\r\n";
  }

  std::string_view name() const override { return "auth_jwt"; }

  FilterStatus on_request(Exchange& x) override {
    ShardJwtAuth::Result result = check(x);
    if (result.outcome == ShardJwtAuth::Outcome::kUnknownKey) {
      auto* wait = static_cast<JwtWait*>(x.filter_state(slot_));
      if (!wait) {
        wait = x.arena().make<JwtWait>();
        if (wait && !x.set_filter_state(slot_, wait)) {
          wait = nullptr;
        }
      }
      if (wait) {
        wait->filter = this;
        wait->x = &x;
        if (auth_.wait_for_keys(issuer_, result.generation, *wait)) {
          return FilterStatus::kWait;
        }
      }
      // The keys changed meanwhile (or there is no room to wait): decided on what is there now.
      result = check(x);
      if (result.outcome == ShardJwtAuth::Outcome::kUnknownKey) {
        result = auth_.unknown_key(issuer_, false);
      }
    }
    return decide(x, result);
  }

  void on_cancel(Exchange& x) override {
    if (auto* wait = static_cast<JwtWait*>(x.filter_state(slot_))) {
      auth_.cancel(*wait);
    }
  }

  std::string_view wait_timeout_detail() const override {
    return "the JWT issuer's keys were not fetched in time";
  }

  // The fetch the request waited for has ended, or the wait timed out: decided now, never
  // waiting again.
  void keys_ready(JwtWait& wait, bool timed_out) {
    Exchange& x = *wait.x;
    ShardJwtAuth::Result result = check(x);
    if (result.outcome == ShardJwtAuth::Outcome::kUnknownKey) {
      result = auth_.unknown_key(issuer_, timed_out);
    }
    x.resume(decide(x, result));
  }

 private:
  ShardJwtAuth::Result check(Exchange& x) {
    const RequestParser& r = x.request();
    const std::string_view token = find_token(
        config_, [&r](std::string_view name) { return r.header(name); }, r.query());
    const int64_t now_s = static_cast<int64_t>(time(nullptr));
    return auth_.check(issuer_, token, route_.auth.scopes, now_s);
  }

  FilterStatus decide(Exchange& x, const ShardJwtAuth::Result& result) {
    if (result.outcome != ShardJwtAuth::Outcome::kOk) {
      refuse(x, result);
      return FilterStatus::kReply;
    }
    // The check's views last until the shard's next check: the exchange keeps copies.
    const size_t values = config_.rules.forward.size();
    x.identity.claim_count = static_cast<uint32_t>(std::min(values, Identity::kMaxClaims));
    for (size_t i = 0; i < x.identity.claim_count; ++i) {
      x.identity.claims[i] = x.arena().copy(result.values[i]);
    }
    if (!result.forward.empty()) {
      const std::string_view before = x.identity.add_headers;
      x.identity.add_headers = {};
      // The forwarded claims first, then what earlier filters added (the API-key consumer).
      const std::string_view lines = x.arena().copy(result.forward);
      char* joined = static_cast<char*>(x.arena().allocate(lines.size() + before.size(), 1));
      if (joined) {
        std::memcpy(joined, lines.data(), lines.size());
        if (!before.empty()) {
          std::memcpy(joined + lines.size(), before.data(), before.size());
        }
        x.identity.add_headers = std::string_view(joined, lines.size() + before.size());
      }
    }
    x.identity.drop_headers = &route_.auth.drop_headers;
    return FilterStatus::kContinue;
  }

  void refuse(Exchange& x, const ShardJwtAuth::Result& result) {
    if (result.outcome == ShardJwtAuth::Outcome::kKeysUnavailable) {
      // 503, not 401: the token may well be good (signed with a key the issuer rotated in), the
      // gateway could not get the keys to tell. Clients take a 401 as "log in again", which
      // would not help; a 503 with Retry-After (when a new fetch may run) asks them to retry.
      x.error_headers = retry_after_;
      x.error = Error::gateway(ErrorKind::kDependencyTimeout, unavailable_detail_);
      return;
    }
    // RFC 6750 3: no error code when no token was sent; invalid_token (401) or
    // insufficient_scope (403, naming the scopes) otherwise.
    char line[600];
    int n = 0;
    ErrorKind kind = ErrorKind::kUnauthorized;
    std::string_view detail;
    switch (result.outcome) {
      case ShardJwtAuth::Outcome::kMissing:
        n = snprintf(line, sizeof line, "WWW-Authenticate: Bearer realm=\"%s\"\r\n",
                     config_.name.c_str());
        detail = "a bearer token is required";
        break;
      case ShardJwtAuth::Outcome::kInvalid:
      case ShardJwtAuth::Outcome::kUnknownKey:
      case ShardJwtAuth::Outcome::kKeysUnavailable:
        n = snprintf(line, sizeof line,
                     "WWW-Authenticate: Bearer realm=\"%s\", error=\"invalid_token\", "
                     "error_description=\"%.*s\"\r\n",
                     config_.name.c_str(), static_cast<int>(result.reason.size()),
                     result.reason.data());
        detail = result.reason;  // static text
        break;
      case ShardJwtAuth::Outcome::kInsufficientScope:
      case ShardJwtAuth::Outcome::kOk:
        kind = ErrorKind::kForbidden;
        n = snprintf(line, sizeof line,
                     "WWW-Authenticate: Bearer realm=\"%s\", error=\"insufficient_scope\", "
                     "scope=\"%s\"\r\n",
                     config_.name.c_str(), route_.auth.scope_text.c_str());
        detail = "the token does not grant the scope this route requires";
        break;
    }
    if (n > 0 && static_cast<size_t>(n) < sizeof line) {
      x.error_headers = x.arena().copy(std::string_view(line, static_cast<size_t>(n)));
    }
    x.error = Error::client(kind, detail);
  }

  const RouteConfig& route_;
  uint32_t issuer_;
  const JwtIssuerConfig& config_;
  ShardJwtAuth& auth_;
  size_t slot_;  // this filter's position in the route's chain: its per-request slot
  std::string unavailable_detail_;
  std::string retry_after_;
};

void JwtWait::keys_ready(bool timed_out) {
  filter->keys_ready(*this, timed_out);
}

}  // namespace

std::unique_ptr<Filter> make_jwt_filter(const RouteConfig& route, FilterServices& shard) {
  if (route.auth.jwt < 0) {
    return nullptr;
  }
  return std::make_unique<JwtFilter>(route, static_cast<uint32_t>(route.auth.jwt), shard);
}

}  // namespace ringgate
