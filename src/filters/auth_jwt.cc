#include "ringgate/filters/auth_jwt.h"

#include <algorithm>
#include <cstring>

#include "ringgate/core/hash.h"

namespace ringgate {

namespace {

// Where a token's cache entry is; not a proof of identity (entries hold the whole token).
uint64_t hash_token(std::string_view s, uint64_t seed) {
  uint64_t a = seed ^ (s.size() * 0x9e3779b97f4a7c15ull);
  size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    uint64_t chunk;
    std::memcpy(&chunk, s.data() + i, 8);
    a = (a ^ chunk) * 0xff51afd7ed558ccdull;
    a ^= a >> 29;
  }
  uint64_t tail = 0;
  if (i < s.size()) {
    std::memcpy(&tail, s.data() + i, s.size() - i);
  }
  return mix64(a ^ tail);
}

// A claim value that can go into a header as it is: visible ASCII, spaces, tabs, UTF-8.
bool header_safe(std::string_view v) {
  for (char c : v) {
    const unsigned char u = static_cast<unsigned char>(c);
    if ((u < 0x20 && u != '\t') || u == 0x7f) {
      return false;
    }
  }
  return true;
}

}  // namespace

void JwtKeySource::publish(std::shared_ptr<const std::vector<jwt::Key>> file,
                           std::vector<jwt::Key> fetched_keys) {
  auto set = std::make_unique<JwtKeySet>();
  set->file = std::move(file);
  set->fetched = std::move(fetched_keys);
  current.store(set.get(), std::memory_order_release);
  kept.push_back(std::move(set));
  while (kept.size() > 4) {
    kept.pop_front();
  }
}

ShardJwtAuth::ShardJwtAuth(const Config& config, std::vector<JwtKeySource*> sources)
    : issuers_(config.jwt_issuers.size()), sources_(std::move(sources)) {
  for (size_t i = 0; i < issuers_.size(); ++i) {
    Issuer& is = issuers_[i];
    is.config = &config.jwt_issuers[i];
    is.seed = mix64(process_seed() + (i + 1) * 0x9e3779b97f4a7c15ull);
    is.cache.resize(is.config->cache_entries);
  }
}

ShardJwtAuth::~ShardJwtAuth() = default;

ShardJwtAuth::Result ShardJwtAuth::check(uint32_t issuer, std::string_view token, uint64_t scopes,
                                         int64_t now_s) {
  Issuer& is = issuers_[issuer];
  JwtCounters& counters = is.counters;
  const JwtIssuerConfig& cfg = *is.config;
  Result r;
  if (token.empty()) {
    counters.missing.fetch_add(1, std::memory_order_relaxed);
    r.outcome = Outcome::kMissing;
    return r;
  }
  const uint64_t hash = hash_token(token, is.seed) | 1;
  Entry& e = is.cache[hash & (is.cache.size() - 1)];
  if (e.hash == hash && e.token_len == token.size() && now_s <= e.valid_until &&
      std::memcmp(e.token, token.data(), token.size()) == 0) {
    if ((e.scopes & scopes) != scopes) {
      counters.insufficient_scope.fetch_add(1, std::memory_order_relaxed);
      r.outcome = Outcome::kInsufficientScope;
      return r;
    }
    counters.cache_hits.fetch_add(1, std::memory_order_relaxed);
    counters.accepted.fetch_add(1, std::memory_order_relaxed);
    r.outcome = Outcome::kOk;
    r.forward = std::string_view(e.data, e.forward_len);
    for (size_t i = 0; i < cfg.rules.forward.size() && i < kMaxValues; ++i) {
      r.values[i] = std::string_view(e.data + e.value_off[i], e.value_len[i]);
    }
    return r;
  }
  auto invalid = [&](std::string_view why) {
    counters.invalid.fetch_add(1, std::memory_order_relaxed);
    r.outcome = Outcome::kInvalid;
    r.reason = why;
    return r;
  };
  const size_t need = jwt::verify_buffer_size(token.size());
  if (verify_buf_.size() < need) {
    verify_buf_.resize(need);
  }
  jwt::Verified v;
  const JwtKeySet* keys = sources_[issuer]->current.load(std::memory_order_acquire);
  jwt::Error err = jwt::Error::kNoKey;
  if (keys && keys->file) {
    err = jwt::verify(token, *keys->file, cfg.algorithms, verify_buf_.data(), &v);
  }
  if (err == jwt::Error::kNoKey && keys && !keys->fetched.empty()) {
    err = jwt::verify(token, keys->fetched, cfg.algorithms, verify_buf_.data(), &v);
  }
  if (err == jwt::Error::kNoKey && !cfg.jwks_url.empty()) {
    // Perhaps the issuer rotated its keys: the fetcher refetches (at most once per
    // jwks_min_refresh); this request is refused meanwhile.
    sources_[issuer]->refetch.store(true, std::memory_order_relaxed);
  }
  if (err != jwt::Error::kOk) {
    return invalid(jwt::error_text(err));
  }
  // The payload is followed by the zeroed padding verify() leaves after it.
  const size_t capacity =
      static_cast<size_t>(verify_buf_.data() + verify_buf_.size() - v.payload.data());
  const jwt::ClaimError ce = jwt::check_claims(v.payload, capacity, cfg.rules, now_s, &claims_);
  if (ce != jwt::ClaimError::kOk) {
    return invalid(jwt::claim_error_text(ce));
  }
  // data_: the forwarded header lines, then every value (offsets in `off`).
  data_.clear();
  uint16_t off[kMaxValues] = {};
  uint16_t len[kMaxValues] = {};
  for (size_t i = 0; i < cfg.forward_headers.size(); ++i) {
    const std::string& value = claims_.values[i];
    if (!header_safe(value)) {
      return invalid("a forwarded claim holds control characters");
    }
    if (!value.empty() && !cfg.forward_headers[i].empty()) {
      data_.append(cfg.forward_headers[i]).append(": ").append(value).append("\r\n");
    }
  }
  const size_t forward_len = data_.size();
  for (size_t i = 0; i < cfg.rules.forward.size() && i < kMaxValues; ++i) {
    off[i] = static_cast<uint16_t>(std::min<size_t>(data_.size(), UINT16_MAX));
    len[i] = static_cast<uint16_t>(std::min<size_t>(claims_.values[i].size(), UINT16_MAX));
    data_.append(claims_.values[i]);
  }
  const bool granted = (claims_.scopes & scopes) == scopes;
  if (data_.size() <= kMaxData && token.size() <= kMaxCachedToken) {
    e.hash = hash;
    e.token_len = static_cast<uint32_t>(token.size());
    std::memcpy(e.token, token.data(), token.size());
    e.valid_until = claims_.exp == INT64_MAX ? INT64_MAX : claims_.exp + cfg.rules.leeway_s;
    e.scopes = claims_.scopes;
    e.forward_len = static_cast<uint16_t>(forward_len);
    std::memcpy(e.value_off, off, sizeof off);
    std::memcpy(e.value_len, len, sizeof len);
    std::memcpy(e.data, data_.data(), data_.size());
  }
  if (!granted) {
    counters.insufficient_scope.fetch_add(1, std::memory_order_relaxed);
    r.outcome = Outcome::kInsufficientScope;
    return r;
  }
  counters.accepted.fetch_add(1, std::memory_order_relaxed);
  r.outcome = Outcome::kOk;
  r.forward = std::string_view(data_.data(), forward_len);
  for (size_t i = 0; i < cfg.rules.forward.size() && i < kMaxValues; ++i) {
    r.values[i] = std::string_view(data_.data() + off[i], len[i]);
  }
  return r;
}

}  // namespace ringgate
