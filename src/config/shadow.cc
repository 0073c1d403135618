// Routes no request can reach. The router tries routes in config order and the first whose path,
// host and method fit takes the request, whatever it then does with it (path_allow, auth and the
// rest run after the choice). So a route is dead when an earlier one fits every request it
// would: its path set covers the later one's, its host is the same or any, and its methods
// include every method the later one takes. The comparisons below follow the router's own
// matching (src/router/router.cc) and answer "covers" only when that holds for every possible
// path: a warning is a certainty, never a guess.

#include <string_view>
#include <vector>

#include "config/sections.h"
#include "ringgate/core/method.h"

namespace ringgate::config_detail {
namespace {

// The method bits a route takes, as the router compiles them: GET brings HEAD; 0 = any method.
// (A route with `cors:` lists OPTIONS already: the loader adds it for preflights.)
uint64_t method_bits(const RouteMatch& match) {
  uint64_t bits = 0;
  for (const std::string& name : match.methods) {
    const int method = method_from_name(name);
    if (method >= 0 && method < kMaxMethods) {
      bits |= method_bit(method);
    }
  }
  static const uint64_t kGet = method_bit(method_from_name("GET"));
  static const uint64_t kHead = method_bit(method_from_name("HEAD"));
  return (bits & kGet) != 0 ? bits | kHead : bits;
}

// Whether a prefix route takes `path` (the router's prefix_matches): "/api" takes /api and
// /api/x, not /apix; a prefix ending in '/' takes everything that starts with it.
bool prefix_takes(std::string_view prefix, std::string_view path) {
  if (!path.starts_with(prefix)) {
    return false;
  }
  return prefix.ends_with('/') || path.size() == prefix.size() || path[prefix.size()] == '/';
}

// A template split at every '/', as the router splits it (the empty piece before the leading
// '/' included, so a trailing slash is one more, empty, segment).
struct Segment {
  bool param = false;
  std::string_view text;
};

std::vector<Segment> segments(std::string_view path) {
  std::vector<Segment> out;
  size_t start = 0;
  while (true) {
    const size_t slash = path.find('/', start);
    const std::string_view piece = path.substr(start, slash - start);
    out.push_back({!piece.empty() && piece.front() == '{', piece});
    if (slash == std::string_view::npos) {
      return out;
    }
    start = slash + 1;
  }
}

// Whether template `t` takes every path of `other` (a literal path, or a template): as many
// segments, and each of t's is a parameter (which takes any non-empty segment) or the same
// literal. A parameter of `other` stands for any segment, so only a parameter of t covers it.
bool template_covers(std::string_view t, std::string_view other) {
  const std::vector<Segment> a = segments(t);
  const std::vector<Segment> b = segments(other);
  if (a.size() != b.size()) {
    return false;
  }
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].param ? (!b[i].param && b[i].text.empty()) : (b[i].param || a[i].text != b[i].text)) {
      return false;
    }
  }
  return true;
}

// Whether every path `later` takes, `earlier` takes too.
bool path_covers(const RouteMatch& earlier, const RouteMatch& later) {
  using Kind = RouteMatch::Kind;
  switch (earlier.kind) {
    case Kind::kExact:
      return later.kind == Kind::kExact && later.path == earlier.path;
    case Kind::kPrefix:
      if (later.kind == Kind::kTemplate) {
        // Every path of the template starts with its literal head, up to the '/' before its
        // first parameter, and goes on with a segment that can be anything: covered exactly
        // when the prefix takes that head.
        return prefix_takes(earlier.path, later.path.substr(0, later.path.find('{')));
      }
      // A prefix's own paths are itself and what extends it, which the earlier prefix takes
      // exactly when it takes the prefix itself (given its segment-boundary rule).
      return prefix_takes(earlier.path, later.path);
    case Kind::kTemplate:
      return later.kind != Kind::kPrefix && template_covers(earlier.path, later.path);
  }
  return false;
}

bool covers(const RouteMatch& earlier, uint64_t earlier_methods, const RouteMatch& later,
            uint64_t later_methods) {
  if (!earlier.host.empty() && earlier.host != later.host) {
    return false;
  }
  if (earlier_methods != 0 && (later_methods == 0 || (later_methods & ~earlier_methods) != 0)) {
    return false;
  }
  return path_covers(earlier, later);
}

std::string where(const SourceMark& mark) {
  return mark.file + ":" + std::to_string(mark.line);
}

}  // namespace

std::vector<std::string> shadowed_routes(const std::vector<RouteConfig>& routes) {
  std::vector<uint64_t> methods;
  methods.reserve(routes.size());
  for (const RouteConfig& route : routes) {
    methods.push_back(method_bits(route.match));
  }
  std::vector<std::string> warnings;
  for (size_t later = 1; later < routes.size(); ++later) {
    for (size_t earlier = 0; earlier < later; ++earlier) {
      if (covers(routes[earlier].match, methods[earlier], routes[later].match, methods[later])) {
        warnings.push_back(where(routes[later].mark) + ": warning: routes[" +
                           std::to_string(later) + "] (" + routes[later].name +
                           ") can never match: routes[" + std::to_string(earlier) + "] (" +
                           where(routes[earlier].mark) + ") takes every request it would");
        break;
      }
    }
  }
  return warnings;
}

}  // namespace ringgate::config_detail
