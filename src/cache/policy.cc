// RFC 9111 storage and freshness for a shared cache (ringgate/cache/policy.h).

#include "ringgate/cache/policy.h"

#include <ctime>

#include "ringgate/core/ascii.h"
#include "ringgate/core/header_list.h"

namespace ringgate {

namespace {

// RFC 9111 §1.2.2: a delta too large to represent counts as 2^31 seconds.
constexpr uint64_t kMaxDelta = 2147483648ull;

// delta-seconds (RFC 9111 §1.2.2); false when `text` is not one.
bool parse_delta(std::string_view text, uint64_t& out) {
  if (text.size() >= 2 && text.front() == '"' && text.back() == '"') {
    text = text.substr(1, text.size() - 2);  // senders should not quote it; some do
  }
  if (text.empty()) {
    return false;
  }
  uint64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') {
      return false;
    }
    v = v * 10 + static_cast<uint64_t>(c - '0');
    if (v > kMaxDelta) {
      v = kMaxDelta;
    }
  }
  out = v;
  return true;
}

struct Directives {
  bool no_store = false;
  bool is_private = false;
  bool no_cache = false;
  bool must_revalidate = false;
  bool is_public = false;
  bool has_max_age = false;
  bool has_s_maxage = false;
  bool has_swr = false;
  bool has_sie = false;
  uint64_t max_age = 0;
  uint64_t s_maxage = 0;
  uint64_t swr = 0;
  uint64_t sie = 0;
};

// Reads the directives of a Cache-Control value. A lifetime given twice or badly counts as 0
// (RFC 9111 §4.2.1: a cache treats an invalid max-age as stale).
Directives read_directives(std::string_view value) {
  Directives d;
  for_each_list_element(value, [&d](std::string_view item, bool) {
    const size_t eq = item.find('=');
    const std::string_view name = trim_ows(item.substr(0, eq));
    const std::string_view arg = eq == std::string_view::npos ? "" : trim_ows(item.substr(eq + 1));
    const auto lifetime = [&](bool& has, uint64_t& out) {
      uint64_t v = 0;
      out = has || !parse_delta(arg, v) ? 0 : v;
      has = true;
    };
    if (iequals(name, "no-store")) {
      d.no_store = true;
    } else if (iequals(name, "private")) {
      d.is_private = true;  // private="field": a shared cache does not store it at all either
    } else if (iequals(name, "no-cache")) {
      d.no_cache = true;
    } else if (iequals(name, "must-revalidate") || iequals(name, "proxy-revalidate")) {
      d.must_revalidate = true;
    } else if (iequals(name, "public")) {
      d.is_public = true;
    } else if (iequals(name, "max-age")) {
      lifetime(d.has_max_age, d.max_age);
    } else if (iequals(name, "s-maxage")) {
      lifetime(d.has_s_maxage, d.s_maxage);
    } else if (iequals(name, "stale-while-revalidate")) {
      lifetime(d.has_swr, d.swr);
    } else if (iequals(name, "stale-if-error")) {
      lifetime(d.has_sie, d.sie);
    }
    return true;
  });
  return d;
}

// Statuses a cache may store with a heuristic lifetime (RFC 9110 §15.1): here, the route's
// default_ttl.
bool heuristically_cacheable(int status) {
  switch (status) {
    case 200:
    case 203:
    case 204:
    case 300:
    case 301:
    case 308:
    case 404:
    case 405:
    case 410:
    case 414:
    case 501:
      return true;
    default:
      return false;
  }
}

int month_index(std::string_view m) {
  static constexpr std::string_view kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  for (int i = 0; i < 12; ++i) {
    if (m == kMonths[i]) {
      return i;
    }
  }
  return -1;
}

bool digits(std::string_view s, int& out) {
  if (s.empty() || s.size() > 4) {
    return false;
  }
  int v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') {
      return false;
    }
    v = v * 10 + (c - '0');
  }
  out = v;
  return true;
}

bool parse_clock(std::string_view s, std::tm& tm) {
  return s.size() == 8 && s[2] == ':' && s[5] == ':' && digits(s.substr(0, 2), tm.tm_hour) &&
         digits(s.substr(3, 2), tm.tm_min) && digits(s.substr(6, 2), tm.tm_sec) &&
         tm.tm_hour < 24 && tm.tm_min < 60 && tm.tm_sec < 61;
}

}  // namespace

bool parse_http_date(std::string_view text, int64_t& out) {
  text = trim_ows(text);
  std::tm tm{};
  int day = 0;
  int year = 0;
  const size_t comma = text.find(',');
  if (comma == 3 && text.size() == 29) {
    // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT"
    if (text.substr(25) != " GMT" || !digits(text.substr(5, 2), day) ||
        !digits(text.substr(12, 4), year) || !parse_clock(text.substr(17, 8), tm)) {
      return false;
    }
    tm.tm_mon = month_index(text.substr(8, 3));
  } else if (comma != std::string_view::npos && comma > 3) {
    // RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT"
    const std::string_view rest = text.substr(comma + 1);
    if (rest.size() != 23 || rest[0] != ' ' || rest[3] != '-' || rest[7] != '-' ||
        rest.substr(19) != " GMT" || !digits(rest.substr(1, 2), day) ||
        !digits(rest.substr(8, 2), year) || !parse_clock(rest.substr(11, 8), tm)) {
      return false;
    }
    tm.tm_mon = month_index(rest.substr(4, 3));
    year += year < 70 ? 2000 : 1900;  // a two-digit year more than 50 years ahead is past
  } else if (comma == std::string_view::npos && text.size() == 24) {
    // asctime: "Sun Nov  6 08:49:37 1994"
    const std::string_view d = text.substr(8, 2);
    if (!digits(d[0] == ' ' ? d.substr(1) : d, day) || !parse_clock(text.substr(11, 8), tm) ||
        !digits(text.substr(20, 4), year)) {
      return false;
    }
    tm.tm_mon = month_index(text.substr(4, 3));
  } else {
    return false;
  }
  if (tm.tm_mon < 0 || day < 1 || day > 31) {
    return false;
  }
  tm.tm_mday = day;
  tm.tm_year = year - 1900;
  out = static_cast<int64_t>(timegm(&tm));
  return true;
}

void note_response_header(ResponseFacts& f, std::string_view name, std::string_view value,
                          std::string& joined_cache_control) {
  if (iequals(name, "cache-control")) {
    if (f.has_cache_control) {
      joined_cache_control.append(", ");
    }
    joined_cache_control.append(value);
    f.has_cache_control = true;
  } else if (iequals(name, "expires")) {
    f.expires = value;
    f.has_expires = true;
  } else if (iequals(name, "date")) {
    f.date = value;
    f.has_date = true;
  } else if (iequals(name, "age")) {
    f.age = value;
    f.has_age = true;
  } else if (iequals(name, "set-cookie")) {
    f.set_cookie = true;
  } else if (iequals(name, "vary")) {
    f.vary_star = f.vary_star || value.find('*') != std::string_view::npos;
  } else if (iequals(name, "etag") || iequals(name, "last-modified")) {
    f.has_validator = true;
  }
}

StoreDecision decide_store(const ResponseFacts& r, const CacheRules& rules, int64_t now_s) {
  StoreDecision out;
  const Directives d = r.has_cache_control ? read_directives(r.cache_control) : Directives{};
  if (d.no_store) {
    out.reason = "no-store";
    return out;
  }
  if (d.is_private) {
    out.reason = "private";
    return out;
  }
  if (r.vary_star) {
    out.reason = "Vary: *";
    return out;
  }
  if (r.set_cookie && !rules.set_cookie) {
    out.reason = "Set-Cookie";
    return out;
  }
  int64_t date = now_s;
  if (r.has_date && !parse_http_date(r.date, date)) {
    date = now_s;
  }
  // Freshness lifetime (RFC 9111 §4.2.1): s-maxage, max-age, Expires - Date, then a default.
  bool explicit_lifetime = true;
  if (d.has_s_maxage) {
    out.fresh_s = d.s_maxage;
  } else if (d.has_max_age) {
    out.fresh_s = d.max_age;
  } else if (r.has_expires) {
    int64_t expires = 0;
    // An invalid Expires ("0") means already expired.
    out.fresh_s = parse_http_date(r.expires, expires) && expires > date
                      ? static_cast<uint64_t>(expires - date)
                      : 0;
  } else {
    explicit_lifetime = false;
    out.fresh_s = rules.default_ttl_s;
  }
  const bool status_ok =
      heuristically_cacheable(r.status) || ((explicit_lifetime || d.is_public) && r.status >= 200 &&
                                            r.status < 500 && r.status != 206 && r.status != 304);
  if (!status_ok) {
    out.reason = "status";
    return out;
  }
  if (!explicit_lifetime && rules.default_ttl_s == 0 && !(d.no_cache && r.has_validator)) {
    out.reason = "no freshness lifetime";
    return out;
  }
  // Age when it arrived (RFC 9111 §4.2.3, the transit delay left out).
  uint64_t age = 0;
  if (r.has_age) {
    parse_delta(r.age, age);
  }
  const uint64_t apparent = now_s > date ? static_cast<uint64_t>(now_s - date) : 0;
  out.initial_age_s = age > apparent ? age : apparent;
  out.no_cache = d.no_cache;
  // s-maxage implies proxy-revalidate for a shared cache (RFC 9111 §5.2.2.10).
  out.must_revalidate = d.must_revalidate || d.has_s_maxage;
  if (!out.must_revalidate) {
    out.stale_while_revalidate_s = d.has_swr ? d.swr : rules.stale_while_revalidate_s;
    out.stale_if_error_s = d.has_sie ? d.sie : rules.stale_if_error_s;
  }
  if (out.fresh_s <= out.initial_age_s && !r.has_validator && out.stale_while_revalidate_s == 0 &&
      out.stale_if_error_s == 0) {
    out.reason = "stale on arrival";
    return out;
  }
  out.store = true;
  return out;
}

}  // namespace ringgate
