// The cache filter's response side: what a response tells the cache (RFC 9111), recording it as
// it streams, storing it whole, refreshing a stored one on a 304, and what stands in for a
// failed answer (cache_filter.h).

#include <ctime>
#include <string>

#include "cache_filter.h"
#include "ringgate/core/ascii.h"
#include "ringgate/core/hash.h"
#include "ringgate/http/forward.h"
#include "ringgate/http/response.h"

namespace ringgate::cache_filter {

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

namespace {

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

}  // namespace

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
    // Keyed by the values of the headers this response names (a marker that named others
    // before has just been replaced).
    variant = variant_key_text(c, rec.vary);
    p.key = variant;
    p.hash = hash_bytes(variant, process_seed());
  }
  p.head = rec.head;
  p.body = rec.body;
  p.tags = rec.tags;
  p.etag = rec.etag;
  p.last_modified = rec.last_modified;
  p.status = rec.status;
  p.set_freshness(d, rec.stored_us);
  CacheEntry* e = CacheEntry::make(p);
  return e && store_.insert(e);
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
  p.set_freshness(d, now_us());
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

}  // namespace ringgate::cache_filter
