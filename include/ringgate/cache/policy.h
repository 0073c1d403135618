#pragma once
// What RFC 9111 lets a shared cache do with a response: whether it may be stored, for how long
// it is fresh, how old it already is, and what may be done with it once stale (RFC 5861's
// stale-while-revalidate and stale-if-error). Pure functions over header values: the cache
// filter gathers them from the response.

#include <cstdint>
#include <string>
#include <string_view>

namespace ringgate {

// The parts of a response head the decision reads (views valid for the call).
struct ResponseFacts {
  int status = 0;
  std::string_view cache_control;  // every Cache-Control field, joined with ", "
  bool has_cache_control = false;
  std::string_view expires;
  bool has_expires = false;
  std::string_view date;
  bool has_date = false;
  std::string_view age;
  bool has_age = false;
  bool set_cookie = false;     // the response sets a cookie
  bool vary_star = false;      // Vary: * (no request can be known to match)
  bool has_validator = false;  // ETag or Last-Modified: a stale copy can be revalidated
};

// What the route's `cache:` adds.
struct CacheRules {
  uint64_t default_ttl_s = 0;  // lifetime of a response that states none (0: not stored)
  uint64_t stale_while_revalidate_s = 0;
  uint64_t stale_if_error_s = 0;
  bool set_cookie = false;  // store responses that set cookies
};

struct StoreDecision {
  bool store = false;
  const char* reason = "";  // why not, when not
  uint64_t fresh_s = 0;     // freshness lifetime
  uint64_t initial_age_s = 0;
  uint64_t stale_while_revalidate_s = 0;
  uint64_t stale_if_error_s = 0;
  bool must_revalidate = false;  // never served stale
  bool no_cache = false;         // stored, but revalidated before each use
};

// Notes in `f` what one response header tells decide_store(); Cache-Control values are joined
// in `joined_cache_control` (f.cache_control points there once every header is noted).
void note_response_header(ResponseFacts& f, std::string_view name, std::string_view value,
                          std::string& joined_cache_control);

// Calls `each(name, value)` for every "name: value\r\n" line of `lines` (value without
// leading whitespace).
template <typename Each>
void for_each_header_line(std::string_view lines, Each&& each) {
  while (!lines.empty()) {
    const size_t end = lines.find("\r\n");
    const std::string_view line = lines.substr(0, end);
    lines.remove_prefix(end == std::string_view::npos ? lines.size() : end + 2);
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) {
      continue;
    }
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) {
      value.remove_prefix(1);
    }
    each(line.substr(0, colon), value);
  }
}

// `now_s`: Unix time when the response arrived.
StoreDecision decide_store(const ResponseFacts& r, const CacheRules& rules, int64_t now_s);

// An HTTP-date (IMF-fixdate, or the obsolete RFC 850 and asctime forms RFC 9110 §5.6.7 makes
// recipients accept) as Unix seconds; false when it is none.
bool parse_http_date(std::string_view text, int64_t& out);

}  // namespace ringgate
