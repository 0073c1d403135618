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

void JwtKeySource::fetch_ended(bool ok) {
  // The generation moves before `fetching` clears: a shard that sees no fetch under way also
  // sees this fetch's generation (and the keys published before it), so it never refuses a
  // token on the keys from before the fetch that just ended (ShardJwtAuth::check).
  last_ok.store(ok);
  generation.fetch_add(1);
  fetching.store(false);
  // A shard links a waiter, sets `waiters`, then reads `generation` again (wait_for_keys). All
  // four steps are sequentially consistent: either the shard sees this generation, or this
  // exchange sees its flag and wakes it.
  if (waiters.exchange(false) && wake_shards) {
    wake_shards();
  }
}

ShardJwtAuth::ShardJwtAuth(const Config& config, std::vector<JwtKeySource*> sources,
                           TimerWheel* timers, const uint64_t* clock_ms)
    : issuers_(config.jwt_issuers.size()),
      sources_(std::move(sources)),
      timers_(clock_ms ? timers : nullptr),
      clock_ms_(clock_ms) {
  for (size_t i = 0; i < issuers_.size(); ++i) {
    Issuer& is = issuers_[i];
    is.config = &config.jwt_issuers[i];
    is.seed = mix64(process_seed() + (i + 1) * 0x9e3779b97f4a7c15ull);
    is.cache.resize(is.config->cache_entries);
    is.waits.owner = this;
    is.waits.issuer = static_cast<uint32_t>(i);
    is.waits.set_callback(&ShardJwtAuth::on_wait_timer);
  }
}

ShardJwtAuth::~ShardJwtAuth() = default;

ShardJwtAuth::Result ShardJwtAuth::invalid(Issuer& is, std::string_view why) {
  is.counters.invalid.fetch_add(1, std::memory_order_relaxed);
  Result r;
  r.outcome = Outcome::kInvalid;
  r.reason = why;
  return r;
}

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
  const size_t need = jwt::verify_buffer_size(token.size());
  if (verify_buf_.size() < need) {
    verify_buf_.resize(need);
  }
  const JwtKeySource& source = *sources_[issuer];
  jwt::Verified v;
  for (int pass = 0;; ++pass) {
    // The generation before the keys: keys published after this load count as a later one.
    const uint64_t generation = source.generation.load();
    const JwtKeySet* keys = source.current.load(std::memory_order_acquire);
    jwt::Error err = jwt::Error::kNoKey;
    if (keys && keys->file) {
      err = jwt::verify(token, *keys->file, cfg.algorithms, verify_buf_.data(), &v);
    }
    if (err == jwt::Error::kNoKey && keys && !keys->fetched.empty()) {
      err = jwt::verify(token, keys->fetched, cfg.algorithms, verify_buf_.data(), &v);
    }
    if (err == jwt::Error::kOk) {
      break;
    }
    if (err != jwt::Error::kNoKey || cfg.jwks_url.empty()) {
      return invalid(is, jwt::error_text(err));
    }
    // Perhaps the issuer rotated its keys: the caller may wait for the fetch that can tell.
    if (timers_ && fetch_may_come(source)) {
      r.outcome = Outcome::kUnknownKey;
      r.generation = generation;
      return r;
    }
    // No fetch may come before jwks_min_refresh has passed: refused now, unless keys were
    // published since this pass loaded them (then once more with those).
    if (pass > 0 || source.generation.load() == generation) {
      return unknown_key(issuer, false);
    }
  }
  return verified(is, e, hash, token, scopes, now_s, v);
}

ShardJwtAuth::Result ShardJwtAuth::verified(Issuer& is, Entry& e, uint64_t hash,
                                            std::string_view token, uint64_t scopes, int64_t now_s,
                                            const jwt::Verified& v) {
  JwtCounters& counters = is.counters;
  const JwtIssuerConfig& cfg = *is.config;
  Result r;
  // The payload is followed by the zeroed padding verify() leaves after it.
  const size_t capacity =
      static_cast<size_t>(verify_buf_.data() + verify_buf_.size() - v.payload.data());
  const jwt::ClaimError ce = jwt::check_claims(v.payload, capacity, cfg.rules, now_s, &claims_);
  if (ce != jwt::ClaimError::kOk) {
    return invalid(is, jwt::claim_error_text(ce));
  }
  // data_: the forwarded header lines, then every value (offsets in `off`).
  data_.clear();
  uint16_t off[kMaxValues] = {};
  uint16_t len[kMaxValues] = {};
  for (size_t i = 0; i < cfg.forward_headers.size(); ++i) {
    const std::string& value = claims_.values[i];
    if (!header_safe(value)) {
      return invalid(is, "a forwarded claim holds control characters");
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

bool ShardJwtAuth::fetch_may_come(const JwtKeySource& source) const {
  // The limit before `fetching`: a starting fetch sets them the other way round, so a shard that
  // sees the new limit also sees the fetch under way.
  const uint64_t next = source.next_fetch_ms.load();
  return source.fetching.load() || *clock_ms_ >= next;
}

bool ShardJwtAuth::wait_for_keys(uint32_t issuer, uint64_t generation, JwtKeyWaiter& w) {
  if (!timers_) {
    return false;
  }
  Issuer& is = issuers_[issuer];
  JwtKeySource& source = *sources_[issuer];
  WaitList& list = is.waits;
  w.issuer = issuer;
  w.generation = generation;
  w.deadline_ms =
      *clock_ms_ + static_cast<uint64_t>(is.config->jwks_timeout.count()) + kWaitSlackMs;
  w.prev = list.tail;
  w.next = nullptr;
  (list.tail ? list.tail->next : list.head) = &w;
  list.tail = &w;
  w.waiting = true;
  // Linked, then the flag, then the generation again (see JwtKeySource::fetch_ended): a fetch
  // that ended since `generation` is seen here, any later one wakes this shard.
  source.waiters.store(true);
  if (source.generation.load() != generation) {
    unlink(list, w);
    return false;
  }
  // Ask for a fetch that ends after `generation`. The first request to ask wakes the fetcher's
  // shard: one eventfd write per fetch, whatever the number of requests that wait for it.
  uint64_t wanted = source.wanted.load();
  while (wanted <= generation) {
    if (source.wanted.compare_exchange_weak(wanted, generation + 1)) {
      if (source.wake_fetcher) {
        source.wake_fetcher();
      }
      break;
    }
  }
  if (list.head == &w) {
    timers_->arm(list, w.deadline_ms);
  }
  is.counters.key_waits.fetch_add(1, std::memory_order_relaxed);
  return true;
}

void ShardJwtAuth::cancel(JwtKeyWaiter& w) {
  if (!w.waiting) {
    return;
  }
  WaitList& list = issuers_[w.issuer].waits;
  unlink(list, w);
  if (!list.head) {
    timers_->disarm(list);
  }
}

void ShardJwtAuth::unlink(WaitList& list, JwtKeyWaiter& w) {
  (w.prev ? w.prev->next : list.head) = w.next;
  (w.next ? w.next->prev : list.tail) = w.prev;
  w.prev = w.next = nullptr;
  w.waiting = false;
}

ShardJwtAuth::Result ShardJwtAuth::unknown_key(uint32_t issuer, bool timed_out) {
  Issuer& is = issuers_[issuer];
  if (timed_out || !sources_[issuer]->last_ok.load()) {
    is.counters.keys_unavailable.fetch_add(1, std::memory_order_relaxed);
    Result r;
    r.outcome = Outcome::kKeysUnavailable;
    return r;
  }
  return invalid(is, jwt::error_text(jwt::Error::kNoKey));
}

void ShardJwtAuth::keys_changed() {
  for (Issuer& is : issuers_) {
    if (is.waits.head) {
      settle(is.waits);
    }
  }
}

void ShardJwtAuth::settle(WaitList& list) {
  const JwtKeySource& source = *sources_[list.issuer];
  // One waiter at a time from the head: keys_ready() resumes an exchange, which may end other
  // waiters or add one (a pipelined request, waiting for the generation now current).
  while (JwtKeyWaiter* w = list.head) {
    const bool ended = w->generation != source.generation.load();
    if (!ended && w->deadline_ms > *clock_ms_) {
      break;
    }
    unlink(list, *w);
    w->keys_ready(!ended);
  }
  if (list.head) {
    timers_->arm(list, list.head->deadline_ms);
  } else {
    timers_->disarm(list);
  }
}

void ShardJwtAuth::on_wait_timer(Timer* t) {
  auto* list = static_cast<WaitList*>(t);
  list->owner->settle(*list);
}

}  // namespace ringgate
