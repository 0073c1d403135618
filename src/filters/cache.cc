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

#include <cstring>
#include <ctime>
#include <memory>
#include <string>

#include "ringgate/cache/policy.h"
#include "ringgate/cache/store.h"
#include "ringgate/core/ascii.h"
#include "ringgate/core/hash.h"
#include "ringgate/core/method.h"
#include "ringgate/core/timer_wheel.h"
#include "ringgate/filters/registry.h"
#include "ringgate/http/forward.h"
#include "ringgate/http/response.h"

namespace ringgate {

namespace {

// Separates the parts of a key (never in a host, path, query or header value as parsed).
constexpr char kPartEnd = '\x1f';
constexpr char kVariantMark = '\x1e';

enum class Outcome : uint8_t { kBypass, kMiss, kHit, kStale, kRevalidated };

std::string_view outcome_name(Outcome o) {
  switch (o) {
    case Outcome::kHit:
      return "hit";
    case Outcome::kMiss:
      return "miss";
    case Outcome::kStale:
      return "stale";
    case Outcome::kRevalidated:
      return "revalidated";
    case Outcome::kBypass:
      break;
  }
  return "bypass";
}

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

bool is_hop_by_hop(std::string_view name) {
  return iequals(name, "connection") || iequals(name, "keep-alive") ||
         iequals(name, "proxy-connection") || iequals(name, "te") || iequals(name, "trailer") ||
         iequals(name, "transfer-encoding") || iequals(name, "upgrade");
}

// Appends the items of a comma- or space-separated list value, each followed by '\n'.
void append_items(std::string& out, std::string_view value, bool lower) {
  size_t i = 0;
  while (i < value.size()) {
    while (i < value.size() && (value[i] == ',' || value[i] == ' ' || value[i] == '\t')) {
      ++i;
    }
    size_t end = i;
    while (end < value.size() && value[end] != ',' && value[end] != ' ' && value[end] != '\t') {
      ++end;
    }
    if (end > i) {
      out.append(lower ? ascii_lower(value.substr(i, end - i))
                       : std::string(value.substr(i, end - i)));
      out.push_back('\n');
    }
    i = end;
  }
}

class CacheFilter;

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
  const RouteCacheConfig& config() const { return config_; }
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

bool CacheFilter::make_key(Exchange& x, CacheExchange& c) const {
  const RequestParser& r = x.request();
  const std::string_view query = r.query();
  std::string_view consumer = x.identity.consumer;
  if (config_.consumer_claim >= 0 &&
      static_cast<uint32_t>(config_.consumer_claim) < x.identity.claim_count) {
    consumer = x.identity.claims[config_.consumer_claim];
  }
  // Written straight into the arena (a hit allocates nothing): first its largest size.
  size_t size = r.host().size() + r.path().size() + query.size() + consumer.size() + 4;
  if (!config_.query_all) {
    size += config_.query.size() * (query.size() + 1);
  }
  for (const std::string& name : config_.headers) {
    size += r.header(name).size() + 1;
  }
  char* const key = static_cast<char*>(x.arena().allocate(size, 1));
  if (!key) {
    return false;
  }
  size_t n = 0;
  const auto put = [&](std::string_view text) {
    if (!text.empty()) {
      std::memcpy(key + n, text.data(), text.size());
      n += text.size();
    }
  };
  for (char ch : r.host()) {
    key[n++] = ascii_lower(ch);
  }
  key[n++] = kPartEnd;
  c.path_offset = n;
  put(r.path());
  c.path_length = r.path().size();
  key[n++] = kPartEnd;
  if (config_.query_all) {
    put(query);
  } else {
    for (const std::string& name : config_.query) {
      std::string_view rest = query;
      while (!rest.empty()) {
        const size_t amp = rest.find('&');
        const std::string_view item = rest.substr(0, amp);
        rest.remove_prefix(amp == std::string_view::npos ? rest.size() : amp + 1);
        const size_t eq = item.find('=');
        if (item.substr(0, eq) == name) {
          put(item);
          key[n++] = '&';
        }
      }
      key[n++] = kVariantMark;
    }
  }
  key[n++] = kPartEnd;
  for (const std::string& name : config_.headers) {
    put(r.header(name));
    key[n++] = kVariantMark;
  }
  if (config_.consumer) {
    key[n++] = kPartEnd;
    put(consumer);
  }
  c.key = c.base_key = std::string_view(key, n);
  c.hash = c.base_hash = hash_bytes(c.key, process_seed());
  return true;
}

std::string CacheFilter::variant_key_text(const CacheExchange& c, std::string_view names) {
  std::string key(c.base_key);
  key.push_back(kPartEnd);
  while (!names.empty()) {
    const size_t end = names.find('\n');
    key.append(request_header(c, names.substr(0, end))).push_back(kVariantMark);
    names.remove_prefix(end == std::string_view::npos ? names.size() : end + 1);
  }
  return key;
}

bool CacheFilter::variant_key(Exchange& x, CacheExchange& c, std::string_view names) const {
  const std::string key = variant_key_text(c, names);
  c.key = x.arena().copy(key);
  c.hash = hash_bytes(c.key, process_seed());
  return !c.key.empty();
}

Reply CacheFilter::reply_of(const CacheEntry& e) {
  Reply r;
  r.status = e.status();
  r.stored_head = e.head();
  r.body = e.body();
  r.hold = &e;
  r.has_date = e.has_date();
  return r;
}

FilterStatus CacheFilter::serve(Exchange& x, CacheExchange& c, const CacheEntry* e,
                                Outcome outcome) {
  c.served = e;
  c.outcome = outcome;
  e->touch();
  count(outcome == Outcome::kHit ? CacheEvent::kHit : CacheEvent::kStale);
  x.reply = reply_of(*e);
  if (e->status() == 200 && not_modified_for(x.request(), *e)) {
    // The client's own copy is this one (RFC 9111 §4.3.2): 304 with the stored head's
    // validators and freshness, no body.
    std::string_view head = e->head();
    std::string out = "HTTP/1.1 304 Not Modified\r\n";
    head.remove_prefix(std::min(head.size(), head.find("\r\n") + 2));
    for_each_header_line(head, [&](std::string_view name, std::string_view value) {
      if (iequals(name, "etag") || iequals(name, "cache-control") || iequals(name, "expires") ||
          iequals(name, "vary") || iequals(name, "last-modified") ||
          iequals(name, "content-location")) {
        out.append(name).append(": ").append(value).append("\r\n");
      }
    });
    // (kept short: the output copies a head this small instead of pointing into the arena)
    const std::string_view kept = out.size() <= 1024 ? x.arena().copy(out) : std::string_view();
    if (!kept.empty()) {
      x.reply.status = 304;
      x.reply.stored_head = kept;
      x.reply.body = {};
    }
  }
  return FilterStatus::kReply;
}

bool CacheFilter::not_modified_for(const RequestParser& r, const CacheEntry& e) {
  const std::string_view inm = r.header("if-none-match");
  if (!inm.empty()) {
    // Weak comparison: W/"x" matches "x"; any listed tag, or *, will do.
    const auto opaque = [](std::string_view tag) {
      tag = tag.substr(tag.find_first_not_of(" \t") == std::string_view::npos
                           ? tag.size()
                           : tag.find_first_not_of(" \t"));
      while (!tag.empty() && (tag.back() == ' ' || tag.back() == '\t')) {
        tag.remove_suffix(1);
      }
      return tag.substr(0, 2) == "W/" ? tag.substr(2) : tag;
    };
    if (e.etag().empty()) {
      return false;
    }
    const std::string_view stored = opaque(e.etag());
    std::string_view rest = inm;
    while (!rest.empty()) {
      const size_t comma = rest.find(',');
      const std::string_view tag = opaque(rest.substr(0, comma));
      if (tag == "*" || tag == stored) {
        return true;
      }
      rest.remove_prefix(comma == std::string_view::npos ? rest.size() : comma + 1);
    }
    return false;  // If-Modified-Since is not looked at beside If-None-Match
  }
  const std::string_view ims = r.header("if-modified-since");
  int64_t since = 0;
  int64_t modified = 0;
  return !ims.empty() && !e.last_modified().empty() && parse_http_date(ims, since) &&
         parse_http_date(e.last_modified(), modified) && modified <= since;
}

FilterStatus CacheFilter::on_request(Exchange& x) {
  auto* c = x.arena().make<CacheExchange>();
  if (!c || !x.set_filter_state(slot_, c)) {
    count(CacheEvent::kBypass);
    return FilterStatus::kContinue;
  }
  c->filter = this;
  c->x = &x;
  const RequestParser& r = x.request();
  const int method = r.method();
  if (method != HTTP_GET && method != HTTP_HEAD) {
    // A change through this route: a success makes what is stored for the target stale.
    c->invalidate = (method == HTTP_POST || method == HTTP_PUT || method == HTTP_PATCH ||
                     method == HTTP_DELETE) &&
                    make_key(x, *c);
    count(CacheEvent::kBypass);
    return FilterStatus::kContinue;
  }
  if (!config_.authorization && !config_.consumer && !r.header("authorization").empty()) {
    count(CacheEvent::kBypass);  // a response to credentials is not everyone's
    return FilterStatus::kContinue;
  }
  if (!make_key(x, *c)) {
    count(CacheEvent::kBypass);
    return FilterStatus::kContinue;
  }
  return decide(x, *c, true);
}

const CacheEntry* CacheFilter::lookup(Exchange& x, CacheExchange& c) {
  c.key = c.base_key;
  c.hash = c.base_hash;
  const CacheEntry* e = store_.find(c.hash, c.key);
  if (e && e->kind() == CacheEntry::Kind::kVary) {
    const std::string_view names = e->vary();
    const bool keyed = variant_key(x, c, names);
    e->release();
    e = keyed ? store_.find(c.hash, c.key) : nullptr;
  }
  return e;
}

FilterStatus CacheFilter::decide(Exchange& x, CacheExchange& c, bool may_wait) {
  const CacheEntry* e = lookup(x, c);
  if (e) {
    const uint64_t age = e->age_s(now_us());
    if (!e->no_cache() && age < e->fresh_s()) {
      return serve(x, c, e, Outcome::kHit);
    }
    // Stale, but within stale-while-revalidate: served as it is while one request (for the
    // whole process: the entry's flag) refreshes it in the background.
    if (!e->no_cache() && !e->must_revalidate() &&
        age < e->fresh_s() + e->stale_while_revalidate_s() && fetcher_ && e->claim_refresh()) {
      if (start_refresh(x, c, *e)) {
        return serve(x, c, e, Outcome::kStale);
      }
      e->end_refresh();
    } else if (!e->no_cache() && !e->must_revalidate() &&
               age < e->fresh_s() + e->stale_while_revalidate_s()) {
      return serve(x, c, e, Outcome::kStale);  // another request refreshes it already
    }
    // Stale: kept to revalidate with, or to stand in for an error.
    if (c.stale) {
      c.stale->release();
    }
    c.stale = e;
  }
  if (may_wait && !x.head_request && store_.claim_fill(c.hash)) {
    c.filler = true;
    c.fill_hash = c.hash;
  } else if (may_wait && store_.filling(c.hash)) {
    // Another request (on any shard) is fetching this response: wait for it.
    count(CacheEvent::kCoalesced);
    c.wait_until_ms = now_us() / 1000 + static_cast<uint64_t>(config_.lock_timeout.count());
    add_waiter(c);
    return FilterStatus::kWait;
  }
  if (!e) {
    store_.note_miss(c.base_hash);
  }
  return go_upstream(x, c);
}

std::string_view CacheFilter::request_header(const CacheExchange& c, std::string_view lower_name) {
  if (c.request_headers.data() == nullptr) {
    return c.x->request().header(lower_name);
  }
  std::string_view rest = c.request_headers;
  while (!rest.empty()) {
    const size_t colon = rest.find(':');
    const size_t end = rest.find('\n');
    if (rest.substr(0, colon) == lower_name) {
      return rest.substr(colon + 1, end - colon - 1);
    }
    rest.remove_prefix(end + 1);
  }
  return {};
}

FilterStatus CacheFilter::go_upstream(Exchange& x, CacheExchange& c) {
  const RequestParser& r = x.request();
  // The request's head is not kept once it went upstream, but a response that varies is keyed
  // by some of its headers: a copy of them ("name:value\n", names in lower case).
  std::string copy;
  for (int i = 0; i < r.header_count(); ++i) {
    for (char ch : r.header_name(i)) {
      copy.push_back(ascii_lower(ch));
    }
    copy.append(":").append(r.header_value(i)).push_back('\n');
  }
  c.request_headers = x.arena().copy(copy);
  if (c.request_headers.data() == nullptr) {
    c.request_headers = std::string_view("", 0);
  }
  const CacheEntry* e = c.stale;
  if (e && (!e->etag().empty() || !e->last_modified().empty()) &&
      r.header("if-none-match").empty() && r.header("if-modified-since").empty()) {
    if (!e->etag().empty()) {
      x.add_upstream_header("If-None-Match", e->etag());
    } else {
      x.add_upstream_header("If-Modified-Since", e->last_modified());
    }
    c.conditional = true;
  }
  c.outcome = Outcome::kMiss;
  count(CacheEvent::kMiss);
  x.recorder = &c;
  return FilterStatus::kContinue;
}

void CacheFilter::add_waiter(CacheExchange& c) {
  c.waiting = true;
  c.wait_prev = nullptr;
  c.wait_next = waiters_;
  if (waiters_) {
    waiters_->wait_prev = &c;
  }
  waiters_ = &c;
  if (!wait_timer_.armed()) {
    timers_->arm(wait_timer_, now_us() / 1000 + TimerWheel::kTickMs);
  }
}

void CacheFilter::remove_waiter(CacheExchange& c) {
  if (!c.waiting) {
    return;
  }
  c.waiting = false;
  if (c.wait_prev) {
    c.wait_prev->wait_next = c.wait_next;
  } else {
    waiters_ = c.wait_next;
  }
  if (c.wait_next) {
    c.wait_next->wait_prev = c.wait_prev;
  }
  c.wait_prev = c.wait_next = nullptr;
}

void CacheFilter::on_wait_timer(Timer* t) {
  static_cast<WaitTimer*>(t)->filter->recheck_waiters();
}

void CacheFilter::recheck_waiters() {
  const uint64_t now_ms = now_us() / 1000;
  CacheExchange* c = waiters_;
  while (c) {
    CacheExchange* next = c->wait_next;
    if (store_.filling(c->hash) && now_ms < c->wait_until_ms) {
      c = next;
      continue;  // still being fetched
    }
    remove_waiter(*c);
    // The fill ended (or took too long): what it stored is served; else this one goes to the
    // upstream itself, without claiming the fill (waiters for an uncacheable response are not
    // sent one at a time; any of them that gets a storable response stores it).
    Exchange& x = *c->x;
    const FilterStatus status = decide(x, *c, false);
    x.resume(status);
    c = next;
  }
  if (waiters_ && !wait_timer_.armed()) {
    timers_->arm(wait_timer_, now_ms + TimerWheel::kTickMs);
  }
}

void CacheFilter::end_fill(CacheExchange& c) {
  if (!c.filler) {
    return;
  }
  c.filler = false;
  store_.end_fill(c.fill_hash);
  if (waiters_) {
    timers_->arm(wait_timer_, now_us() / 1000);  // the next loop iteration: this shard's waiters
  }
}

bool CacheFilter::start_refresh(Exchange& x, const CacheExchange& c, const CacheEntry& stale) {
  const RequestParser& r = x.request();
  auto* job = new RefreshJob();
  CacheExchange& j = job->c;
  j.filter = this;
  j.background = true;
  j.job = job;
  job->keys.append(c.base_key).append(c.key);
  j.base_key = std::string_view(job->keys).substr(0, c.base_key.size());
  j.key = std::string_view(job->keys).substr(c.base_key.size());
  j.base_hash = c.base_hash;
  j.hash = c.hash;
  j.path_offset = c.path_offset;
  j.path_length = c.path_length;
  // The client's headers, less what belongs to its connection or its own conditions.
  std::string lines;
  for (int i = 0; i < r.header_count(); ++i) {
    const std::string_view name = r.header_name(i);
    const std::string_view value = r.header_value(i);
    for (char ch : name) {
      job->headers.push_back(ascii_lower(ch));
    }
    job->headers.append(":").append(value).push_back('\n');
    if (is_hop_by_hop(name) || iequals(name, "host") || iequals(name, "content-length") ||
        iequals(name, "expect") || iequals(name, "range") || iequals(name, "if-range") ||
        iequals(name, "if-none-match") || iequals(name, "if-modified-since") ||
        iequals(name, "if-match") || iequals(name, "if-unmodified-since") ||
        iequals(name.substr(0, 12), "x-forwarded-")) {
      continue;
    }
    bool dropped = false;
    if (const auto* drop = x.identity.drop_headers) {
      for (const std::string& d : *drop) {
        dropped = dropped || iequals(name, d);
      }
    }
    if (!dropped) {
      lines.append(name).append(": ").append(value).append("\r\n");
    }
  }
  lines.append(x.identity.add_headers);
  j.request_headers = job->headers;
  if (!stale.etag().empty()) {
    lines.append("If-None-Match: ").append(stale.etag()).append("\r\n");
    j.conditional = true;
  } else if (!stale.last_modified().empty()) {
    lines.append("If-Modified-Since: ").append(stale.last_modified()).append("\r\n");
    j.conditional = true;
  }
  stale.retain();
  j.stale = &stale;
  if (!fetcher_->fetch(route_, r.header("host"), r.path(), r.query(), lines, j)) {
    stale.release();
    delete job;
    return false;
  }
  return true;
}

void CacheFilter::end_refresh(CacheExchange& c) {
  if (c.stale) {
    c.stale->end_refresh();  // a failed refresh may be tried again by a later request
    c.stale->release();
  }
  if (c.served) {
    c.served->release();
  }
  delete static_cast<RefreshJob*>(c.job);
}

void CacheFilter::on_cancel(Exchange& x) {
  if (auto* c = static_cast<CacheExchange*>(x.filter_state(slot_))) {
    remove_waiter(*c);
  }
}

void CacheFilter::on_response(Exchange& x, ResponseHead& head) {
  auto* c = static_cast<CacheExchange*>(x.filter_state(slot_));
  if (c && c->served) {
    char age[24];
    const int n = snprintf(age, sizeof age, "%llu",
                           static_cast<unsigned long long>(c->served->age_s(now_us())));
    head.add("Age", std::string_view(age, static_cast<size_t>(n)));
  }
  if (c && c->invalidate && head.status() < 400) {
    store_.remove(c->hash, c->key);
  }
  if (debug_) {
    head.add("Ringgate-Cache", outcome_name(c ? c->outcome : Outcome::kBypass));
  }
}

void CacheFilter::on_log(const Exchange& x) {
  auto* c = static_cast<CacheExchange*>(x.filter_state(slot_));
  if (!c) {
    return;
  }
  remove_waiter(*c);
  end_fill(*c);
  if (c->served) {
    c->served->release();
    c->served = nullptr;
  }
  if (c->stale) {
    c->stale->release();
    c->stale = nullptr;
  }
  delete c->recording;
  c->recording = nullptr;
}

bool CacheFilter::store_recording(CacheExchange& c) {
  Recording& rec = *c.recording;
  std::string variant;
  const StoreDecision& d = rec.decision;
  if (rec.status != 204 && rec.status != 304) {
    char line[48];
    const int n = snprintf(line, sizeof line, "Content-Length: %zu\r\n", rec.body.size());
    rec.head.append(line, static_cast<size_t>(n));
  }
  CacheEntry::Parts p;
  p.hash = c.base_hash;
  p.key = c.base_key;
  p.path_offset = c.path_offset;
  p.path_length = c.path_length;
  if (!rec.vary.empty()) {
    // The base key names the headers the responses vary by; the response is a variant.
    CacheEntry::Parts marker = p;
    marker.kind = CacheEntry::Kind::kVary;
    marker.vary = rec.vary;
    marker.stored_us = rec.stored_us;
    const CacheEntry* was = store_.find(c.base_hash, c.base_key);
    const bool same = was && was->kind() == CacheEntry::Kind::kVary && was->vary() == rec.vary;
    if (was) {
      was->release();
    }
    if (!same) {
      CacheEntry* m = CacheEntry::make(marker);
      if (!m || !store_.insert(m)) {
        return false;
      }
    }
    if (c.key == c.base_key) {
      // Stored before as one response for every request: keyed now by the headers it varies by.
      variant = variant_key_text(c, rec.vary);
      p.key = variant;
      p.hash = hash_bytes(variant, process_seed());
    } else {
      p.hash = c.hash;
      p.key = c.key;
    }
  }
  p.head = rec.head;
  p.body = rec.body;
  p.tags = rec.tags;
  p.etag = rec.etag;
  p.last_modified = rec.last_modified;
  p.status = rec.status;
  p.must_revalidate = d.must_revalidate;
  p.no_cache = d.no_cache;
  p.stored_us = rec.stored_us;
  p.initial_age_s = d.initial_age_s;
  p.fresh_s = d.fresh_s;
  p.stale_while_revalidate_s = d.stale_while_revalidate_s;
  p.stale_if_error_s = d.stale_if_error_s;
  CacheEntry* e = CacheEntry::make(p);
  return e && store_.insert(e);
}

// The facts of a response head for decide_store().
ResponseFacts facts_of(const MessageParser& p, std::string& joined_cache_control) {
  ResponseFacts f;
  f.status = p.parser_status();
  for (int i = 0; i < p.header_count(); ++i) {
    note_response_header(f, p.header_name(i), p.header_value(i), joined_cache_control);
  }
  f.cache_control = joined_cache_control;
  return f;
}

// Starts recording a response of `status`: its status line; header lines follow (keep_header).
Recording* start_recording(int status, const StoreDecision& d, uint64_t now_us) {
  auto* rec = new Recording();
  rec->status = static_cast<uint16_t>(status);
  rec->decision = d;
  rec->stored_us = now_us;
  rec->head.reserve(512);
  rec->head.append("HTTP/1.1 ").append(std::to_string(status)).append(" ");
  rec->head.append(reason_phrase(status)).append("\r\n");
  return rec;
}

// One response header into the recording: stored in its head (unless it is the connection's
// or set per response), and noted when it is a validator, a Vary or a purge tag.
void keep_header(Recording& rec, std::string_view name, std::string_view value) {
  if (is_hop_by_hop(name) || iequals(name, "content-length") || iequals(name, "date") ||
      iequals(name, "age")) {
    return;  // framing is the gateway's; Date and Age are set per response
  }
  if (iequals(name, "vary")) {
    append_items(rec.vary, value, true);
  } else if (iequals(name, "cache-tag") || iequals(name, "surrogate-key")) {
    append_items(rec.tags, value, false);
  } else if (iequals(name, "etag")) {
    rec.etag = value;
  } else if (iequals(name, "last-modified")) {
    rec.last_modified = value;
  }
  rec.head.append(name).append(": ").append(value).append("\r\n");
}

const CacheEntry* CacheFilter::refreshed(CacheExchange& c, const MessageParser& not_modified) {
  // RFC 9111 §4.3.4: the stored response, its freshness from the 304 (which carries the
  // headers that would have come with a 200).
  const CacheEntry& old = *c.stale;
  std::string cache_control;
  const ResponseFacts facts = facts_of(not_modified, cache_control);
  ResponseFacts f = facts;
  f.status = old.status();
  StoreDecision d = decide_store(f, rules_, static_cast<int64_t>(time(nullptr)));
  if (!facts.has_cache_control && !facts.has_expires) {
    // The 304 says nothing of freshness: the stored lifetime goes on from now.
    d.store = true;
    d.fresh_s = old.fresh_s();
    d.initial_age_s = 0;
    d.must_revalidate = old.must_revalidate();
    d.no_cache = old.no_cache();
    d.stale_while_revalidate_s = old.stale_while_revalidate_s();
    d.stale_if_error_s = old.stale_if_error_s();
  }
  if (!d.store) {
    return nullptr;
  }
  CacheEntry::Parts p;
  p.hash = old.hash();
  p.key = old.key();
  p.path_offset = static_cast<size_t>(old.path().data() - old.key().data());
  p.path_length = old.path().size();
  p.head = old.head();
  p.body = old.body();
  p.tags = old.tags();
  p.etag = old.etag();
  p.last_modified = old.last_modified();
  p.status = old.status();
  p.must_revalidate = d.must_revalidate;
  p.no_cache = d.no_cache;
  p.stored_us = now_us();
  p.initial_age_s = d.initial_age_s;
  p.fresh_s = d.fresh_s;
  p.stale_while_revalidate_s = d.stale_while_revalidate_s;
  p.stale_if_error_s = d.stale_if_error_s;
  CacheEntry* e = CacheEntry::make(p);
  if (!e) {
    return nullptr;
  }
  e->retain();  // the exchange's, beside the table's
  if (!store_.insert(e)) {
    return e;  // (insert released the table's: the exchange's is left)
  }
  return e;
}

ResponseRecorder::Verdict CacheExchange::on_head(const MessageParser& response) {
  CacheFilter& f = *filter;
  const int status = response.parser_status();
  if (status == 304 && conditional && stale) {
    if (const CacheEntry* fresh = f.refreshed(*this, response)) {
      served = fresh;
      outcome = Outcome::kRevalidated;
      f.count(CacheEvent::kRevalidated);
      return Verdict::kReplace;
    }
  }
  if (status >= 500 && stale && !stale->must_revalidate() &&
      stale->age_s(f.now_us()) < stale->fresh_s() + stale->stale_if_error_s()) {
    return Verdict::kReplace;  // replacement() serves the stale copy
  }
  if (x && x->head_request) {
    return Verdict::kForward;  // no body to keep
  }
  std::string cache_control;
  const ResponseFacts facts = facts_of(response, cache_control);
  const StoreDecision d = decide_store(facts, f.rules(), static_cast<int64_t>(time(nullptr)));
  if (!d.store) {
    f.count(CacheEvent::kUncacheable);
    if (stale) {
      // What the origin says now replaces what was stored.
      f.store().remove(stale->hash(), stale->key(), stale);
    }
    return Verdict::kForward;
  }
  if (response.has_content_length() && response.content_length() > f.store().max_object()) {
    f.count(CacheEvent::kUncacheable);
    return Verdict::kForward;
  }
  delete recording;
  recording = start_recording(status, d, f.now_us());
  for (int i = 0; i < response.header_count(); ++i) {
    keep_header(*recording, response.header_name(i), response.header_value(i));
  }
  if (recording->head.size() > 16 * 1024) {
    f.count(CacheEvent::kUncacheable);  // heads this large are not worth a slot
    delete recording;
    recording = nullptr;
  }
  return Verdict::kForward;
}

void CacheExchange::on_built(int status, std::string_view headers, std::string_view content_type,
                             std::string_view body) {
  CacheFilter& f = *filter;
  if (x && x->head_request) {
    return;
  }
  std::string cache_control;
  ResponseFacts facts;
  facts.status = status;
  for_each_header_line(headers, [&](std::string_view name, std::string_view value) {
    note_response_header(facts, name, value, cache_control);
  });
  facts.cache_control = cache_control;
  const StoreDecision d = decide_store(facts, f.rules(), static_cast<int64_t>(time(nullptr)));
  if (!d.store || body.size() > f.store().max_object()) {
    f.count(CacheEvent::kUncacheable);
    return;
  }
  delete recording;
  recording = start_recording(status, d, f.now_us());
  for_each_header_line(headers, [&](std::string_view name, std::string_view value) {
    keep_header(*recording, name, value);
  });
  if (!content_type.empty()) {
    keep_header(*recording, "Content-Type", content_type);
  }
  recording->body.assign(body);
  on_complete();
}

void CacheExchange::on_body(std::string_view data) {
  if (!recording) {
    return;
  }
  if (recording->body.size() + data.size() > filter->store().max_object()) {
    filter->count(CacheEvent::kUncacheable);
    delete recording;
    recording = nullptr;
    return;
  }
  recording->body.append(data);
}

void CacheExchange::on_complete() {
  if (recording) {
    filter->store_recording(*this);
    delete recording;
    recording = nullptr;
  }
  filter->end_fill(*this);
  if (background) {
    filter->end_refresh(*this);  // (this is gone)
  }
}

void CacheExchange::on_abandon() {
  delete recording;
  recording = nullptr;
  if (background) {
    filter->end_refresh(*this);  // (this is gone)
  }
}

const Reply* CacheExchange::replacement(const Error* error) {
  CacheFilter& f = *filter;
  if (!served && stale && !stale->must_revalidate() &&
      stale->age_s(f.now_us()) < stale->fresh_s() + stale->stale_if_error_s()) {
    (void)error;  // any failure to answer counts (RFC 5861: where a 5xx would be sent)
    served = stale;
    stale = nullptr;
    outcome = Outcome::kStale;
    f.count(CacheEvent::kStale);
  }
  if (!served) {
    return nullptr;
  }
  stand_in = CacheFilter::reply_of(*served);
  return &stand_in;
}

}  // namespace

std::unique_ptr<Filter> make_cache_filter(const RouteConfig& route, FilterServices& shard) {
  if (!route.cache || shard.caches.size() <= route.cache->cache_index) {
    return nullptr;
  }
  const RouteCacheConfig& c = *route.cache;
  const CacheConfig& cache = shard.config->caches[c.cache_index];
  return std::make_unique<CacheFilter>(
      route, c, *shard.caches[c.cache_index], c.debug_header.value_or(cache.debug_header),
      shard.position, shard.shard_index, shard.now_us, shard.timers, shard.fetcher);
}

}  // namespace ringgate
