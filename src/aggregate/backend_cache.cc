// An aggregate backend's `cache:` (AggregateCall, call.h): its fresh stored response answers in
// place of the call, its response is stored when RFC 9111 allows, and a stale one is kept to
// stand in for a failed call (AggregateCall::fail).

#include <ctime>
#include <string>

#include "call.h"
#include "ringgate/core/hash.h"
#include "ringgate/http/forward.h"
#include "ringgate/upstream/upstream_shard.h"

namespace ringgate {

bool AggregateCall::answer_from_cache(Backend& b, const AggregateRoute::Backend& rb) {
  // The key: the cluster, then the request as rendered up to what differs per request
  // (X-Forwarded-*, X-Request-Id, trace context), then the caller's forwarded identity.
  const std::string_view head(request_);
  const size_t varying = head.find("\r\nX-Forwarded-For: ");
  b.cache_key.assign(rb.config->cluster).push_back('\x1f');
  b.cache_key.append(head.substr(0, varying)).push_back('\x1f');
  b.cache_key.append(auth_forward_);
  b.cache_hash = hash_bytes(b.cache_key, process_seed());
  b.cache_facts.clear();
  drop_stale(b);
  const unsigned shard = shard_.shard_index();
  const CacheEntry* e = rb.cache->find(b.cache_hash, b.cache_key);
  if (e) {
    const uint64_t age = e->age_s(shard_.upstream().now_us());
    if (!e->no_cache() && age < e->fresh_s()) {
      rb.cache->count(shard, CacheEvent::kHit);
      const bool used = use_stored(b, *e, e->fresh_s() - age);
      e->release();
      if (used) {
        return true;
      }
    } else {
      b.stale = e;
    }
  } else {
    rb.cache->note_miss(b.cache_hash);
  }
  rb.cache->count(shard, CacheEvent::kMiss);
  b.caching = true;
  return false;
}

bool AggregateCall::use_stored(Backend& b, const CacheEntry& e, uint64_t fresh_left_s) {
  const AggregateAction& action = *route_->action;
  b.body.assign(e.body());
  b.accepted = false;
  b.described = Described();
  // What the merged response's Cache-Control reads of it: the lifetime it has left.
  b.described.has_cache_control = true;
  b.described.cache_control = "max-age=" + std::to_string(fresh_left_s);
  b.listed.assign(action.headers.size(), std::string());
  for_each_header_line(e.head().substr(e.head().find("\r\n") + 2),
                       [&](std::string_view name, std::string_view value) {
                         if (action.status_from == b.index && iequals(name, "content-type")) {
                           b.described.content_type.assign(value);
                         }
                         for (size_t i = 0; i < action.headers.size(); ++i) {
                           if (iequals(name, action.headers[i])) {
                             b.listed[i].assign(value);
                           }
                         }
                       });
  Error error;
  std::string why;
  if (!accept_body(b.body, false, false, e.status(), &error, &why)) {
    return false;
  }
  b.state = Backend::State::kDone;
  mark_accepted(b);
  return true;
}

void AggregateCall::store_response(Backend& b, const AggregateRoute::Backend& rb, int status) {
  b.caching = false;
  std::string cache_control;
  ResponseFacts facts;
  facts.status = status;
  for_each_header_line(b.cache_facts, [&](std::string_view name, std::string_view value) {
    note_response_header(facts, name, value, cache_control);
  });
  facts.cache_control = cache_control;
  const StoreDecision d = decide_store(facts, rb.cache_rules, static_cast<int64_t>(time(nullptr)));
  if (!d.store || b.body.size() > rb.cache->max_object()) {
    rb.cache->count(shard_.shard_index(), CacheEvent::kUncacheable);
    return;
  }
  std::string head = "HTTP/1.1 " + std::to_string(status) + " OK\r\n";
  std::string tags;
  CacheEntry::Parts p;
  for_each_header_line(b.cache_facts, [&](std::string_view name, std::string_view value) {
    if (iequals(name, "etag")) {
      p.etag = value;
    } else if (iequals(name, "last-modified")) {
      p.last_modified = value;
    } else if (iequals(name, "cache-tag") || iequals(name, "surrogate-key")) {
      for (char c : value) {
        tags.push_back(c == ',' || c == ' ' ? '\n' : c);
      }
      tags.push_back('\n');
    }
    if (iequals(name, "content-type") || iequals(name, "cache-control") || iequals(name, "etag") ||
        iequals(name, "last-modified")) {
      head.append(name).append(": ").append(value).append("\r\n");
    }
  });
  const size_t target_at = b.cache_key.find(' ') + 1;
  const size_t target_end = b.cache_key.find_first_of("? ", target_at);
  p.hash = b.cache_hash;
  p.key = b.cache_key;
  p.path_offset = target_at;
  p.path_length = target_end - target_at;
  p.head = head;
  p.body = b.body;
  p.tags = tags;
  p.status = static_cast<uint16_t>(status);
  p.set_freshness(d, shard_.upstream().now_us());
  if (CacheEntry* e = CacheEntry::make(p)) {
    rb.cache->insert(e);
  }
}

void AggregateCall::drop_stale(Backend& b) {
  if (b.stale) {
    b.stale->release();
    b.stale = nullptr;
  }
}

}  // namespace ringgate
