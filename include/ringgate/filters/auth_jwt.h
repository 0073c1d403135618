#pragma once
// JWT authentication on the request path: one ShardJwtAuth per shard checks tokens for every
// issuer of the config (signature, then claims), and remembers verified tokens until they
// expire, so a repeated token costs two hashes and a cache lookup instead of a signature check.

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ringgate/config/config.h"

namespace ringgate {

#define RINGGATE_JWT_COUNTERS(X)                                                           \
  X(accepted, "accepted_total", "counter", "Requests whose token was accepted")            \
  X(cache_hits, "cache_hits_total", "counter", "Accepted tokens found in the shard cache") \
  X(missing, "missing_total", "counter", "Requests without a token (401)")                 \
  X(invalid, "invalid_total", "counter", "Requests with an invalid token (401)")           \
  X(insufficient_scope, "insufficient_scope_total", "counter",                             \
    "Requests whose token lacks a scope the route requires (403)")

struct JwtCounters {
#define RINGGATE_JWT_FIELD(field, name, type, help) std::atomic<uint64_t> field{0};
  RINGGATE_JWT_COUNTERS(RINGGATE_JWT_FIELD)
#undef RINGGATE_JWT_FIELD
};

// An issuer's keys as they are now: the file's (from the config) and the last good fetch of
// its jwks_url. Published by the fetcher (shard 0) through an atomic pointer; a set stays valid
// for several more publications, far longer than one check uses it.
struct JwtKeySet {
  std::shared_ptr<const std::vector<jwt::Key>> file;
  std::vector<jwt::Key> fetched;
};

struct JwtKeySource {
  std::atomic<const JwtKeySet*> current{nullptr};
  std::atomic<bool> refetch{false};  // a shard met a token no key matches (an unknown kid)
  // The first fetch of a jwks_url: 0 under way, 1 done, -1 failed (first_error says why).
  std::atomic<int> first_fetch{0};
  std::string first_error;
  std::atomic<uint64_t> fetches{0};
  std::atomic<uint64_t> failures{0};
  std::deque<std::unique_ptr<JwtKeySet>> kept;  // the fetcher's; newest last
  // The fetcher's side: makes `fetched` the current set (with the file's keys).
  void publish(std::shared_ptr<const std::vector<jwt::Key>> file, std::vector<jwt::Key> fetched);
};

class ShardJwtAuth {
 public:
  // `sources`: one per issuer of the config, owned by the gateway.
  ShardJwtAuth(const Config& config, std::vector<JwtKeySource*> sources);
  ~ShardJwtAuth();
  ShardJwtAuth(const ShardJwtAuth&) = delete;
  ShardJwtAuth& operator=(const ShardJwtAuth&) = delete;

  static constexpr size_t kMaxValues = 16;  // claims an issuer extracts (forwarded or keys)
  enum class Outcome : uint8_t { kOk, kMissing, kInvalid, kInsufficientScope };
  struct Result {
    Outcome outcome = Outcome::kMissing;
    std::string_view reason;   // kInvalid: why, for error_description (static text)
    std::string_view forward;  // kOk: the forwarded-claim header lines ("name: value\r\n"...),
                               // valid until the next check() on this shard
    // kOk: the value of each claim of the issuer's rules.forward (empty when absent), as valid
    // as `forward`.
    std::string_view values[kMaxValues];
  };

  // Checks `token` (empty: none was sent) for issuer `issuer` at `now_s` (seconds since the
  // epoch); a token must grant every bit of `scopes` (bits of the issuer's rules.scopes).
  Result check(uint32_t issuer, std::string_view token, uint64_t scopes, int64_t now_s);

  const JwtCounters& counters(uint32_t issuer) const { return issuers_[issuer].counters; }

 private:
  static constexpr size_t kMaxData = 768;          // forwarded headers and values an entry holds
  static constexpr size_t kMaxCachedToken = 2048;  // longer tokens are verified every time
  // A verified token, kept whole: a cached verdict is reused only for byte-for-byte the same
  // token (the hash only finds the entry). `data` holds the forwarded header lines, then the
  // claim values.
  struct Entry {
    uint64_t hash = 0;
    int64_t valid_until = 0;  // exp + leeway
    uint64_t scopes = 0;
    uint32_t token_len = 0;
    uint16_t forward_len = 0;
    uint16_t value_off[kMaxValues];
    uint16_t value_len[kMaxValues];
    char token[kMaxCachedToken];
    char data[kMaxData];
  };
  struct Issuer {
    const JwtIssuerConfig* config = nullptr;
    uint64_t seed = 0;
    std::vector<Entry> cache;  // direct-mapped by h1
    JwtCounters counters;
  };

  std::vector<Issuer> issuers_;
  std::vector<JwtKeySource*> sources_;
  std::vector<char> verify_buf_;  // decoded token parts (grown to the largest token seen)
  std::string data_;              // forwarded headers and values of the token just verified
  jwt::Claims claims_;
};

namespace auth_detail {

inline bool iequals_prefix(std::string_view s, std::string_view lower_prefix) {
  if (s.size() < lower_prefix.size()) {
    return false;
  }
  for (size_t i = 0; i < lower_prefix.size(); ++i) {
    const char c = s[i] >= 'A' && s[i] <= 'Z' ? static_cast<char>(s[i] + 32) : s[i];
    if (c != lower_prefix[i]) {
      return false;
    }
  }
  return true;
}

inline std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

// The value of `name` in a list of `name=value` pairs separated by `sep`.
inline std::string_view pair_value(std::string_view list, std::string_view name, char sep) {
  while (!list.empty()) {
    const size_t end = list.find(sep);
    const std::string_view pair = trim(list.substr(0, end));
    list = end == std::string_view::npos ? std::string_view() : list.substr(end + 1);
    const size_t eq = pair.find('=');
    if (eq != std::string_view::npos && pair.substr(0, eq) == name) {
      return pair.substr(eq + 1);
    }
  }
  return {};
}

}  // namespace auth_detail

// The token of a request as `issuer` reads it: `header(name)` gives a header's value (empty if
// absent), `query` is the query string. Empty when there is none.
template <typename HeaderLookup>
std::string_view find_token(const JwtIssuerConfig& issuer, HeaderLookup header,
                            std::string_view query) {
  switch (issuer.from) {
    case JwtIssuerConfig::From::kBearer: {
      const std::string_view v = header("authorization");
      // RFC 6750 2.1: the scheme is case-insensitive, then one or more spaces.
      if (!auth_detail::iequals_prefix(v, "bearer ")) {
        return {};
      }
      return auth_detail::trim(v.substr(7));
    }
    case JwtIssuerConfig::From::kHeader:
      return auth_detail::trim(header(issuer.from_name));
    case JwtIssuerConfig::From::kQuery:
      return auth_detail::pair_value(query, issuer.from_name, '&');
    case JwtIssuerConfig::From::kCookie:
      return auth_detail::pair_value(header("cookie"), issuer.from_name, ';');
  }
  return {};
}

}  // namespace ringgate
