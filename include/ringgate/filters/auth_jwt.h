#pragma once
// JWT authentication on the request path: one ShardJwtAuth per shard checks tokens for every
// issuer of the config (signature, then claims), and remembers verified tokens until they
// expire, so a repeated token costs two hashes and a cache lookup instead of a signature check.

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ringgate/config/config.h"
#include "ringgate/core/timer_wheel.h"

namespace ringgate {

#define RINGGATE_JWT_COUNTERS(X)                                                           \
  X(accepted, "accepted_total", "counter", "Requests whose token was accepted")            \
  X(cache_hits, "cache_hits_total", "counter", "Accepted tokens found in the shard cache") \
  X(missing, "missing_total", "counter", "Requests without a token (401)")                 \
  X(invalid, "invalid_total", "counter", "Requests with an invalid token (401)")           \
  X(insufficient_scope, "insufficient_scope_total", "counter",                             \
    "Requests whose token lacks a scope the route requires (403)")                         \
  X(key_waits, "key_waits_total", "counter",                                               \
    "Requests that waited for a fetch of the jwks_url (no key matched their token)")       \
  X(keys_unavailable, "keys_unavailable_total", "counter",                                 \
    "Requests no key matched while the jwks_url could not be fetched (503)")

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

// An issuer's keys, and how the shards and its jwks_url fetcher (on shard 0) meet: through
// these atomics only, so nothing on the request path locks.
//
// A token whose kid no key matches may belong to a key the issuer has just rotated in. Its
// request waits for the next fetch (ShardJwtAuth::wait_for_keys) when one is under way, or asks
// for one (`wanted`) when jwks_min_refresh allows it, and is decided on the keys that fetch
// brings; otherwise it is refused at once. The fetcher publishes the keys, then counts the fetch
// in `generation` (good or failed). Shards learn of it through their eventfd wake (Shard::wake,
// the way a stop request reaches them): the fetcher wakes them only when one has said that it
// holds waiters (`waiters`), so a refresh nobody waits for costs the shards nothing, and a
// waiting request costs no polling. The same wake tells the fetcher's shard that a fetch is
// wanted. Only the handshake's rare steps touch these atomics: a token that verifies reads
// `generation` and `current`, nothing more.
struct JwtKeySource {
  std::atomic<const JwtKeySet*> current{nullptr};
  std::atomic<uint64_t> generation{0};  // fetches finished, with keys or not
  // A shard needs a fetch that finishes after this generation began: wanted > generation asks
  // for one. Raised by shards, never lowered; a fetch under way answers every ask made before
  // it finishes.
  std::atomic<uint64_t> wanted{0};
  std::atomic<bool> fetching{false};       // a fetch is under way (or the first is about to run)
  std::atomic<bool> last_ok{true};         // the last finished fetch brought keys
  std::atomic<uint64_t> next_fetch_ms{0};  // monotonic: no fetch is asked for before this
  std::atomic<bool> waiters{false};        // a shard holds requests waiting for the next fetch
  // Set before the shards start, only read afterwards (empty: nothing to wake). wake_fetcher: a
  // fetch is wanted; wake_shards: a fetch finished while a shard had waiters.
  std::function<void()> wake_fetcher;
  std::function<void()> wake_shards;
  // The first fetch of a jwks_url: 0 under way, 1 done, -1 failed (first_error says why).
  std::atomic<int> first_fetch{0};
  std::string first_error;
  std::atomic<uint64_t> fetches{0};
  std::atomic<uint64_t> failures{0};
  std::deque<std::unique_ptr<JwtKeySet>> kept;  // the fetcher's; newest last
  // The fetcher's side: makes `fetched` the current set (with the file's keys).
  void publish(std::shared_ptr<const std::vector<jwt::Key>> file, std::vector<jwt::Key> fetched);
  // The fetcher's side: a fetch ended (`ok`: its keys are published). Waiters are told.
  void fetch_ended(bool ok);
};

// A request waiting for its issuer's jwks_url to be fetched again: the JWT filter's per-request
// part, in the exchange's arena. keys_ready() is called exactly once, unless
// ShardJwtAuth::cancel() is called first.
class JwtKeyWaiter {
 public:
  // The fetch waited for has ended (`timed_out` false), or jwks_timeout passed first.
  virtual void keys_ready(bool timed_out) = 0;

  // ShardJwtAuth's bookkeeping: the issuer's waiters, oldest first.
  JwtKeyWaiter* prev = nullptr;
  JwtKeyWaiter* next = nullptr;
  uint64_t generation = 0;   // JwtKeySource::generation when the wait began
  uint64_t deadline_ms = 0;  // the shard's clock
  uint32_t issuer = 0;
  bool waiting = false;

 protected:
  // Not virtual: a waiter lives in a request's arena and is never deleted through this type.
  ~JwtKeyWaiter() = default;
};

class ShardJwtAuth {
 public:
  // `sources`: one per issuer of the config, owned by the gateway. `timers` and `clock_ms` (the
  // shard's wheel and monotonic clock) let a request wait for a jwks_url fetch; without them a
  // kid no key matches is refused at once.
  ShardJwtAuth(const Config& config, std::vector<JwtKeySource*> sources,
               TimerWheel* timers = nullptr, const uint64_t* clock_ms = nullptr);
  ~ShardJwtAuth();
  ShardJwtAuth(const ShardJwtAuth&) = delete;
  ShardJwtAuth& operator=(const ShardJwtAuth&) = delete;

  static constexpr size_t kMaxValues = 16;  // claims an issuer extracts (forwarded or keys)
  // kUnknownKey: no key matches the token (its kid), but a fetch of the issuer's jwks_url is
  // under way or may start now: the caller may wait for it (wait_for_keys) or refuse
  // (unknown_key). kKeysUnavailable: no key matches and the jwks_url could not be fetched.
  enum class Outcome : uint8_t {
    kOk,
    kMissing,
    kInvalid,
    kInsufficientScope,
    kUnknownKey,
    kKeysUnavailable
  };
  struct Result {
    Outcome outcome = Outcome::kMissing;
    std::string_view reason;   // kInvalid: why, for error_description (static text)
    std::string_view forward;  // kOk: the forwarded-claim header lines ("name: value\r\n"...),
                               // valid until the next check() on this shard
    // kOk: the value of each claim of the issuer's rules.forward (empty when absent), as valid
    // as `forward`.
    std::string_view values[kMaxValues];
    uint64_t generation = 0;  // kUnknownKey: the JwtKeySource::generation of the keys tried
  };

  // Checks `token` (empty: none was sent) for issuer `issuer` at `now_s` (seconds since the
  // epoch); a token must grant every bit of `scopes` (bits of the issuer's rules.scopes).
  Result check(uint32_t issuer, std::string_view token, uint64_t scopes, int64_t now_s);

  // After kUnknownKey: `waiter` waits for the fetch after `generation` (asked for when none is
  // under way) or for jwks_timeout, whichever ends first. False: it does not wait, as the keys
  // changed since `generation` (check again) or waiting is off.
  bool wait_for_keys(uint32_t issuer, uint64_t generation, JwtKeyWaiter& waiter);
  // The waiter goes away (its exchange ended): it will not be told.
  void cancel(JwtKeyWaiter& waiter);
  // The refusal of a token no key matches, after its wait (or instead of one): 401 when the
  // last fetch brought keys, 503 (kKeysUnavailable) when it failed or did not end in time.
  Result unknown_key(uint32_t issuer, bool timed_out);
  // The shard was woken: decides the waiters whose fetch has ended.
  void keys_changed();

  const JwtCounters& counters(uint32_t issuer) const { return issuers_[issuer].counters; }

 private:
  static constexpr size_t kMaxData = 768;          // forwarded headers and values an entry holds
  static constexpr size_t kMaxCachedToken = 2048;  // longer tokens are verified every time
  // A waiter's deadline is jwks_timeout (the fetch's own bound, all tries) plus this: the fetch
  // it waits for normally decides it, the deadline only when the fetcher is stuck.
  static constexpr uint64_t kWaitSlackMs = 100;
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
  // The requests of one issuer waiting for a fetch, oldest first: their generations and
  // deadlines only grow along the list, so the ones to decide are always a prefix, and the
  // timer is armed for the first one's deadline.
  struct WaitList final : Timer {
    ShardJwtAuth* owner = nullptr;
    uint32_t issuer = 0;
    JwtKeyWaiter* head = nullptr;
    JwtKeyWaiter* tail = nullptr;
  };
  struct Issuer {
    const JwtIssuerConfig* config = nullptr;
    uint64_t seed = 0;
    std::vector<Entry> cache;  // direct-mapped by h1
    JwtCounters counters;
    WaitList waits;
  };

  Result invalid(Issuer& is, std::string_view why);
  Result verified(Issuer& is, Entry& e, uint64_t hash, std::string_view token, uint64_t scopes,
                  int64_t now_s, const jwt::Verified& v);
  // Whether a request may wait for the issuer's keys: a fetch is under way or may start now.
  bool fetch_may_come(const JwtKeySource& source) const;
  void unlink(WaitList& list, JwtKeyWaiter& w);
  // Tells the waiters whose fetch ended or whose deadline passed; re-arms the timer.
  void settle(WaitList& list);
  static void on_wait_timer(Timer* t);

  std::vector<Issuer> issuers_;
  std::vector<JwtKeySource*> sources_;
  TimerWheel* timers_;
  const uint64_t* clock_ms_;
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
