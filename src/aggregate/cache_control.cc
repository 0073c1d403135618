#include "aggregate/cache_control.h"

#include <strings.h>

#include <algorithm>
#include <charconv>

#include "ringgate/core/header_list.h"

namespace ringgate::aggregate {
namespace {

bool named(std::string_view name, std::string_view expected) {
  return name.size() == expected.size() &&
         strncasecmp(name.data(), expected.data(), expected.size()) == 0;
}

// delta-seconds (quoted or not, RFC 9111 §5.2). Anything else reads as 0: a lifetime that
// cannot be read is no lifetime to extend.
int64_t seconds(std::string_view arg, int64_t max) {
  if (arg.size() >= 2 && arg.front() == '"' && arg.back() == '"') {
    arg = arg.substr(1, arg.size() - 2);
  }
  if (arg.empty() ||
      !std::all_of(arg.begin(), arg.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return 0;
  }
  int64_t v = 0;
  const std::from_chars_result r = std::from_chars(arg.data(), arg.data() + arg.size(), v);
  return r.ec == std::errc() && v <= max ? v : max;
}

}  // namespace

void CacheControlMerge::add(bool present, std::string_view value) {
  ++parts_;
  if (!present) {
    all_public_ = all_max_age_ = all_shared_ = false;
    return;
  }
  bool is_public = false;
  int64_t max_age = -1;
  int64_t s_maxage = -1;
  for_each_list_element(value, [&](std::string_view d, bool /*open_quote: read as it is*/) {
    const size_t eq = d.find('=');
    const std::string_view name = trim_ows(d.substr(0, eq));
    const std::string_view arg =
        eq == std::string_view::npos ? std::string_view() : trim_ows(d.substr(eq + 1));
    if (named(name, "no-store")) {
      no_store_ = true;
    } else if (named(name, "private")) {
      private_ = true;
    } else if (named(name, "no-cache")) {
      no_cache_ = true;
    } else if (named(name, "no-transform")) {
      no_transform_ = true;
    } else if (named(name, "must-revalidate")) {
      must_revalidate_ = true;
    } else if (named(name, "proxy-revalidate")) {
      proxy_revalidate_ = true;
    } else if (named(name, "public")) {
      is_public = true;
    } else if (named(name, "max-age")) {
      // Given twice, the smaller one (RFC 9111 §4.2.1 leaves a duplicate to the recipient).
      const int64_t v = seconds(arg, kMaxSeconds);
      max_age = max_age < 0 ? v : std::min(max_age, v);
    } else if (named(name, "s-maxage")) {
      const int64_t v = seconds(arg, kMaxSeconds);
      s_maxage = s_maxage < 0 ? v : std::min(s_maxage, v);
    }
    return true;
  });
  all_public_ = all_public_ && is_public;
  if (max_age < 0) {
    all_max_age_ = false;
  } else {
    max_age_ = std::min(max_age_, max_age);
  }
  const int64_t shared = s_maxage >= 0 ? s_maxage : max_age;
  if (shared < 0) {
    all_shared_ = false;
  } else {
    shared_age_ = std::min(shared_age_, shared);
  }
}

void CacheControlMerge::write(std::string& out) const {
  if (parts_ == 0) {
    return;
  }
  if (no_store_) {
    out.append("Cache-Control: no-store\r\n");
    return;
  }
  const size_t mark = out.size();
  auto add = [&](std::string_view d) {
    out.append(out.size() == mark ? "Cache-Control: " : ", ").append(d);
  };
  auto add_seconds = [&](std::string_view name, int64_t v) {
    char digits[24];
    const char* end = std::to_chars(digits, digits + sizeof digits, v).ptr;
    add(name);
    out.append(digits, static_cast<size_t>(end - digits));
  };
  if (all_public_ && !private_) {
    add("public");
  }
  if (private_) {
    add("private");
  }
  if (no_cache_) {
    add("no-cache");
  }
  if (no_transform_) {
    add("no-transform");
  }
  if (must_revalidate_) {
    add("must-revalidate");
  }
  if (proxy_revalidate_) {
    add("proxy-revalidate");
  }
  if (all_max_age_) {
    add_seconds("max-age=", max_age_);
  }
  // A shared cache reads s-maxage before max-age; it is only worth writing when shorter, and
  // means nothing in a private response.
  if (all_shared_ && !private_ && (!all_max_age_ || shared_age_ < max_age_)) {
    add_seconds("s-maxage=", shared_age_);
  }
  if (out.size() != mark) {
    out.append("\r\n");
  }
}

}  // namespace ringgate::aggregate
