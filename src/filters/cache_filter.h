#pragma once
// The cache filter's parts, private to it: cache.cc has the request side, cache_record.cc the
// response side.
//
// cache: a route with `cache:` answers GET and HEAD from a shared store (ringgate/cache/store.h)
// while a stored response is fresh, and records the upstream's response as it streams to the
// client when RFC 9111 lets a shared cache keep it (ringgate/cache/policy.h).
//
//   on_request:  key (host, path, query parts, headers, consumer) → lookup
//                 fresh                     → kReply with the stored response (Age added)
//                 stale, within stale_while_revalidate → the stale response
//                 otherwise                 → kContinue: the upstream is asked (conditionally
//                                             when a stale copy has validators), and the
//                                             exchange's recorder is this filter's state
//   recorder:    304 to a conditional ask  → the stored response, refreshed, replaces it
//                5xx or no answer, stale copy within stale_if_error → the stale copy replaces it
//                a storable response       → head and body copied as they go; stored when whole
//   on_response: Age on stored responses; Ringgate-Cache when debug_header
//   on_log:      references and recordings let go
//
// Unsafe methods (POST, PUT, PATCH, DELETE) that succeed invalidate the entry of their target
// (RFC 9111 §4.4). Client Cache-Control request directives are not obeyed (as NGINX and
// Varnish do): a client cannot make the gateway send every request upstream.

#include <cstdint>
#include <string>
#include <string_view>

#include "ringgate/cache/policy.h"
#include "ringgate/cache/store.h"
#include "ringgate/core/timer_wheel.h"
#include "ringgate/filters/registry.h"

namespace ringgate::cache_filter {

// Separates the parts of a key (never in a host, path, query or header value as parsed).
constexpr char kPartEnd = '\x1f';
constexpr char kVariantMark = '\x1e';

enum class Outcome : uint8_t { kBypass, kMiss, kHit, kStale, kRevalidated };

std::string_view outcome_name(Outcome o);

// A response being copied as it streams (heap: it outlives nothing but the exchange).
struct Recording {
  std::string head;  // status line and stored header lines
  std::string body;
  std::string tags;  // Cache-Tag / Surrogate-Key values, each followed by '\n'
  std::string vary;  // lower-case names, each followed by '\n'
  std::string etag;
  std::string last_modified;
  uint16_t status = 0;
  StoreDecision decision;
  uint64_t stored_us = 0;
};

class CacheFilter;

// Whether a response header belongs to the connection it came on (never stored).
bool is_hop_by_hop(std::string_view name);
// Appends the items of a comma- or space-separated list value, each followed by '\n'.
void append_items(std::string& out, std::string_view value, bool lower);

// The filter's part of one exchange (in its arena), and the exchange's recorder on a miss.
struct CacheExchange final : public ResponseRecorder {
  CacheFilter* filter = nullptr;
  Exchange* x = nullptr;
  Outcome outcome = Outcome::kBypass;
  bool invalidate = false;   // an unsafe method: a success removes the target's entry
  bool conditional = false;  // the upstream was asked with this cache's validators
  std::string_view key;      // the response's key (the variant's, when varying)
  uint64_t hash = 0;
  std::string_view base_key;  // the key before any variant part
  uint64_t base_hash = 0;
  size_t path_offset = 0;
  size_t path_length = 0;
  const CacheEntry* served = nullptr;  // the stored response the client gets (held)
  const CacheEntry* stale = nullptr;   // a stale copy kept for revalidation or errors (held)
  Recording* recording = nullptr;
  Reply stand_in;       // replacement()'s answer
  bool filler = false;  // holds the key's fill (fill_hash): others wait for this response
  uint64_t fill_hash = 0;
  std::string_view request_headers;  // a copy once the request went upstream (go_upstream)
  // While waiting for another request's fill: the filter's waiting list, and until when.
  CacheExchange* wait_prev = nullptr;
  CacheExchange* wait_next = nullptr;
  uint64_t wait_until_ms = 0;
  bool waiting = false;
  // A background refresh (stale-while-revalidate): no exchange; the job owns itself and ends
  // at on_complete or on_abandon.
  bool background = false;
  void* job = nullptr;  // the RefreshJob holding it

  Verdict on_head(const MessageParser& response) override;
  void on_body(std::string_view data) override;
  void on_complete() override;
  void on_abandon() override;
  void on_built(int status, std::string_view headers, std::string_view content_type,
                std::string_view body) override;
  const Reply* replacement(const Error* error) override;
};

// A background refresh's CacheExchange and the bytes its views point into (heap: it outlives
// the exchange that started it).
struct RefreshJob {
  CacheExchange c;
  std::string keys;     // the base key, then the key
  std::string headers;  // the request's headers, as go_upstream() copies them
};

class CacheFilter final : public Filter {
 public:
  CacheFilter(const RouteConfig& route, const RouteCacheConfig& config, CacheStore& store,
              bool debug, size_t slot, unsigned shard, const uint64_t* now_us, TimerWheel* timers,
              BackgroundFetcher* fetcher)
      : route_(route),
        fetcher_(fetcher),
        config_(config),
        store_(store),
        debug_(debug),
        slot_(slot),
        shard_(shard),
        now_us_(now_us),
        timers_(timers) {
    rules_.default_ttl_s = static_cast<uint64_t>(config.default_ttl.count() / 1000);
    rules_.stale_while_revalidate_s =
        static_cast<uint64_t>(config.stale_while_revalidate.count() / 1000);
    rules_.stale_if_error_s = static_cast<uint64_t>(config.stale_if_error.count() / 1000);
    rules_.set_cookie = config.set_cookie;
  }

  std::string_view name() const override { return "cache"; }
  uint8_t phases() const override { return kOnRequest | kOnResponse | kOnLog; }

  FilterStatus on_request(Exchange& x) override;
  void on_response(Exchange& x, ResponseHead& head) override;
  void on_log(const Exchange& x) override;
  void on_cancel(Exchange& x) override;
  std::string_view wait_timeout_detail() const override {
    return "waited for another request's response to the same cached resource";
  }

  // --- for CacheExchange ---
  CacheStore& store() { return store_; }
  const CacheRules& rules() const { return rules_; }
  uint64_t now_us() const { return *now_us_; }
  void count(CacheEvent e) { store_.count(shard_, e); }
  // The reply that sends `e` (held by the exchange's state).
  static Reply reply_of(const CacheEntry& e);
  // Stores what `c` recorded; false when the store kept it out.
  bool store_recording(CacheExchange& c);
  // A stored response made fresh again by a 304's head; nullptr when the store refused it.
  const CacheEntry* refreshed(CacheExchange& c, const MessageParser& not_modified);
  // The fill `c` held is over (stored, or given up): waiters look again at once.
  void end_fill(CacheExchange& c);
  // A background refresh is over: its stale entry may be refreshed again, and it goes.
  void end_refresh(CacheExchange& c);

 private:
  // The key of `x` in its arena: false when the request cannot be keyed (no room).
  bool make_key(Exchange& x, CacheExchange& c) const;
  // The variant key of a response varying by `names` (lower-case, '\n'-terminated).
  bool variant_key(Exchange& x, CacheExchange& c, std::string_view names) const;
  static std::string variant_key_text(const CacheExchange& c, std::string_view names);
  // A request header's value: from the request while its head is held, afterwards (a response
  // that varies) from the copy go_upstream() kept.
  static std::string_view request_header(const CacheExchange& c, std::string_view lower_name);
  FilterStatus serve(Exchange& x, CacheExchange& c, const CacheEntry* e, Outcome outcome);
  // The request's If-None-Match (else If-Modified-Since) says the client holds `e` already.
  static bool not_modified_for(const RequestParser& r, const CacheEntry& e);
  // The stored response for c's key (a variant's, when the key's responses vary), held.
  const CacheEntry* lookup(Exchange& x, CacheExchange& c);
  // Decides with what is stored: a fresh response is served; else the exchange goes to the
  // upstream, or (`may_wait`: its first look) waits for a fill under way or claims the fill.
  FilterStatus decide(Exchange& x, CacheExchange& c, bool may_wait);
  FilterStatus go_upstream(Exchange& x, CacheExchange& c);
  // Asks the upstream again for `stale`'s resource, off this exchange (stale-while-revalidate);
  // false when no request could be started.
  bool start_refresh(Exchange& x, const CacheExchange& c, const CacheEntry& stale);
  void add_waiter(CacheExchange& c);
  void remove_waiter(CacheExchange& c);
  // The waiting list's timer: each waiter looks again (served, goes upstream, or waits on).
  static void on_wait_timer(Timer* t);
  void recheck_waiters();

  struct WaitTimer : Timer {
    explicit WaitTimer(CacheFilter* f) : Timer(&CacheFilter::on_wait_timer), filter(f) {}
    CacheFilter* filter;
  };

  const RouteConfig& route_;
  BackgroundFetcher* const fetcher_;
  const RouteCacheConfig& config_;
  CacheStore& store_;
  CacheRules rules_;
  const bool debug_;
  const size_t slot_;
  const unsigned shard_;
  const uint64_t* now_us_;
  TimerWheel* const timers_;
  WaitTimer wait_timer_{this};
  CacheExchange* waiters_ = nullptr;  // a doubly linked list
};

}  // namespace ringgate::cache_filter
