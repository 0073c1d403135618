#include "ringgate/router/router.h"

#include <limits>
#include <string>
#include <unordered_map>
#include <utility>

#include "ringgate/core/method.h"

namespace ringgate {
namespace {

constexpr uint32_t kNoRoute = std::numeric_limits<uint32_t>::max();

// One `/`-separated piece of a template: a literal to compare, or a `{name}` capture.
struct TemplateSegment {
  bool is_param = false;
  std::string_view text;  // literal bytes, or the parameter name (no braces)
};

// What every route kind needs to decide host and method after its path matched.
struct CompiledRoute {
  uint32_t index = 0;
  uint64_t methods = 0;  // method bits; 0 = any method
  std::string host;      // lower-case; empty = any host
};

struct PrefixRoute {
  CompiledRoute base;
  std::string_view prefix;
  bool ends_with_slash = false;
};

struct TemplateRoute {
  CompiledRoute base;
  // Split at every '/', including the empty piece before the leading one, so a template and a
  // path line up segment by segment and a trailing slash is one more (empty) segment.
  std::vector<TemplateSegment> segments;
  int param_count = 0;
};

char ascii_lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

std::string quoted(std::string_view text) {
  return "\"" + std::string(text) + "\"";
}

[[noreturn]] void fail(const RouteConfig& route, const std::string& reason) {
  throw ConfigError(route.mark, "route " + quoted(route.name) + ": " + reason);
}

uint64_t compile_methods(const RouteConfig& route) {
  uint64_t bits = 0;
  for (const std::string& name : route.match.methods) {
    int method = method_from_name(name);
    if (method < 0 || method >= kMaxMethods) {
      fail(route, "unknown method " + quoted(name));
    }
    bits |= method_bit(method);
  }
  // HEAD is GET without a body (RFC 9110 §9.3.2), so a route serving GET serves HEAD too.
  static const uint64_t kGet = method_bit(method_from_name("GET"));
  static const uint64_t kHead = method_bit(method_from_name("HEAD"));
  if (bits & kGet) {
    bits |= kHead;
  }
  return bits;
}

CompiledRoute compile_base(const RouteConfig& route, uint32_t index) {
  CompiledRoute base;
  base.index = index;
  base.methods = compile_methods(route);
  base.host.reserve(route.match.host.size());
  for (char c : route.match.host) {
    base.host.push_back(ascii_lower(c));
  }
  return base;
}

TemplateRoute compile_template(const RouteConfig& route, uint32_t index) {
  TemplateRoute compiled;
  compiled.base = compile_base(route, index);
  const std::string_view path = route.match.path;
  const std::string where = "template " + quoted(path) + ": ";
  if (path.empty() || path.front() != '/') {
    fail(route, where + "must start with '/'");
  }
  size_t start = 0;
  while (true) {
    size_t slash = path.find('/', start);
    std::string_view segment = path.substr(
        start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    size_t opens = 0;
    size_t closes = 0;
    for (char c : segment) {
      opens += c == '{';
      closes += c == '}';
    }
    if (opens == 0 && closes == 0) {
      compiled.segments.push_back({false, segment});
    } else if (opens != closes || segment.find('}') < segment.find('{')) {
      fail(route, where + "unbalanced braces in segment " + quoted(segment));
    } else if (opens != 1 || segment.front() != '{' || segment.back() != '}') {
      fail(route, where + "a parameter must span a whole path segment, not " + quoted(segment));
    } else {
      std::string_view name = segment.substr(1, segment.size() - 2);
      if (name.empty()) {
        fail(route, where + "empty parameter name");
      }
      for (const TemplateSegment& earlier : compiled.segments) {
        if (earlier.is_param && earlier.text == name) {
          fail(route, where + "duplicate parameter name " + quoted(name));
        }
      }
      if (compiled.param_count == kMaxPathParams) {
        fail(route, where + "more than " + std::to_string(kMaxPathParams) + " parameters");
      }
      compiled.segments.push_back({true, name});
      ++compiled.param_count;
    }
    if (slash == std::string_view::npos) {
      break;
    }
    start = slash + 1;
  }
  return compiled;
}

bool host_matches(const CompiledRoute& route, std::string_view host) {
  if (route.host.empty()) {
    return true;
  }
  if (route.host.size() != host.size()) {
    return false;
  }
  for (size_t i = 0; i < host.size(); ++i) {
    if (ascii_lower(host[i]) != route.host[i]) {
      return false;
    }
  }
  return true;
}

bool prefix_matches(const PrefixRoute& route, std::string_view path) {
  if (!path.starts_with(route.prefix)) {
    return false;
  }
  if (route.ends_with_slash || path.size() == route.prefix.size()) {
    return true;
  }
  // `/api` is a whole segment: it covers `/api` and `/api/x` but not `/apix`.
  char next = path[route.prefix.size()];
  return next == '/' || next == '?';
}

// Writes captures into `params` as it goes; they are only meaningful when it returns true.
bool template_matches(const TemplateRoute& route, std::string_view path, size_t path_segments,
                      PathParam* params) {
  if (path_segments != route.segments.size()) {
    return false;
  }
  size_t start = 0;
  int captured = 0;
  for (const TemplateSegment& segment : route.segments) {
    size_t slash = path.find('/', start);
    size_t end = slash == std::string_view::npos ? path.size() : slash;
    std::string_view piece = path.substr(start, end - start);
    if (segment.is_param) {
      if (piece.empty()) {
        return false;
      }
      params[captured++] = PathParam{segment.text, piece};
    } else if (piece != segment.text) {
      return false;
    }
    start = end + 1;
  }
  return true;
}

}  // namespace

struct Router::Impl {
  const Config* config = nullptr;
  // Exact path → every exact route with that path, in config order (hosts and methods may
  // differ, so the first one is not always the answer).
  std::unordered_map<std::string_view, std::vector<CompiledRoute>> exact;
  std::vector<PrefixRoute> prefixes;     // config order
  std::vector<TemplateRoute> templates;  // config order
};

Router::Router(const Config& config) : impl_(std::make_unique<Impl>()) {
  impl_->config = &config;
  for (size_t i = 0; i < config.routes.size(); ++i) {
    const RouteConfig& route = config.routes[i];
    const uint32_t index = static_cast<uint32_t>(i);
    switch (route.match.kind) {
      case RouteMatch::Kind::kExact:
        impl_->exact[route.match.path].push_back(compile_base(route, index));
        break;
      case RouteMatch::Kind::kPrefix: {
        PrefixRoute prefix;
        prefix.base = compile_base(route, index);
        prefix.prefix = route.match.path;
        prefix.ends_with_slash = !prefix.prefix.empty() && prefix.prefix.back() == '/';
        impl_->prefixes.push_back(std::move(prefix));
        break;
      }
      case RouteMatch::Kind::kTemplate:
        impl_->templates.push_back(compile_template(route, index));
        break;
    }
  }
}

Router::~Router() = default;

void Router::match(std::string_view host, int method, std::string_view path,
                   RouteMatchResult& result) const {
  // Out-of-range methods match only routes that accept any method.
  const uint64_t bit = (method >= 0 && method < kMaxMethods) ? method_bit(method) : 0;
  uint32_t best = kNoRoute;
  uint64_t allowed = 0;
  int best_params = 0;

  // Each candidate set is in config order, so within a set the first full match is the answer,
  // and across sets the lowest index wins; a candidate at or past `best` can never win.
  auto consider = [&](const CompiledRoute& route) {
    if (route.methods == 0 || (route.methods & bit) != 0) {
      best = route.index;
      return true;
    }
    allowed |= route.methods;
    return false;
  };

  if (auto it = impl_->exact.find(path); it != impl_->exact.end()) {
    for (const CompiledRoute& route : it->second) {
      if (host_matches(route, host) && consider(route)) {
        break;
      }
    }
  }
  for (const PrefixRoute& route : impl_->prefixes) {
    if (route.base.index >= best) {
      break;
    }
    if (host_matches(route.base, host) && prefix_matches(route, path) && consider(route.base)) {
      break;
    }
  }
  if (!impl_->templates.empty()) {
    size_t path_segments = 1;
    for (char c : path) {
      path_segments += c == '/';
    }
    for (const TemplateRoute& route : impl_->templates) {
      if (route.base.index >= best) {
        break;
      }
      if (host_matches(route.base, host) &&
          template_matches(route, path, path_segments, result.params) && consider(route.base)) {
        best_params = route.param_count;
        break;
      }
    }
  }

  if (best != kNoRoute) {
    result.status = RouteMatchResult::Status::kMatched;
    result.route = &impl_->config->routes[best];
    result.route_index = best;
    result.allowed_methods = 0;
    // 0 unless a template won; its captures are already in result.params.
    result.param_count = best_params;
    return;
  }
  result.status = allowed != 0 ? RouteMatchResult::Status::kMethodNotAllowed
                               : RouteMatchResult::Status::kNotFound;
  result.route = nullptr;
  result.route_index = 0;
  result.allowed_methods = allowed;
  result.param_count = 0;
}

}  // namespace ringgate
