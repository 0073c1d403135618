// The cache filter's request side: keys, lookups, serving stored responses, coalescing misses
// (waiters), background refreshes, the response and log phases (cache_filter.h).

#include <cstring>
#include <ctime>
#include <memory>
#include <string>

#include "cache_filter.h"
#include "ringgate/core/ascii.h"
#include "ringgate/core/hash.h"
#include "ringgate/core/method.h"
#include "ringgate/http/forward.h"

namespace ringgate {
namespace cache_filter {

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
  // Written straight into the arena (no allocation per miss).
  size_t size = 0;
  for (int i = 0; i < r.header_count(); ++i) {
    size += r.header_name(i).size() + r.header_value(i).size() + 2;
  }
  char* copy = size ? static_cast<char*>(x.arena().allocate(size, 1)) : nullptr;
  size_t n = 0;
  for (int i = 0; copy && i < r.header_count(); ++i) {
    for (char ch : r.header_name(i)) {
      copy[n++] = ascii_lower(ch);
    }
    copy[n++] = ':';
    const std::string_view value = r.header_value(i);
    std::memcpy(copy + n, value.data(), value.size());
    n += value.size();
    copy[n++] = '\n';
  }
  c.request_headers = copy ? std::string_view(copy, n) : std::string_view("", 0);
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

}  // namespace cache_filter

std::unique_ptr<Filter> make_cache_filter(const RouteConfig& route, FilterServices& shard) {
  if (!route.cache || shard.caches.size() <= route.cache->cache_index) {
    return nullptr;
  }
  const RouteCacheConfig& c = *route.cache;
  const CacheConfig& cache = shard.config->caches[c.cache_index];
  return std::make_unique<cache_filter::CacheFilter>(
      route, c, *shard.caches[c.cache_index], c.debug_header.value_or(cache.debug_header),
      shard.position, shard.shard_index, shard.now_us, shard.timers, shard.fetcher);
}

}  // namespace ringgate
