// The `routes:` section: what a request must look like to take a route (its match), what the
// route checks on the way (path_allow, auth, rate_limit) and its action. Whatever a route names
// elsewhere (a cluster, an issuer, a key set, a policy) is only recorded here and resolved by
// validate(), so routes may come before the sections they name.

#include <iterator>
#include <optional>

#include "config/sections.h"
#include "ringgate/core/path_flags.h"

namespace ringgate::config_detail {
namespace {

constexpr size_t kMaxRouteName = 128;
constexpr uint32_t kMaxRetries = 10;
constexpr uint64_t kMaxMinRateBytes = uint64_t{1} << 40;  // 1 TiB per window

class RoutesLoader : public Loader {
 public:
  explicit RoutesLoader(const Loader& loader) : Loader(loader) {}

  void load(const Field& f, std::vector<RouteConfig>& routes, References& refs) const;
  RouteAction load_direct(const Field& f, const RouteMatch& match, RouteRefs& refs) const;
  RouteAction load_upstream_action(const Field& f, const RouteMatch& match, RouteRefs& refs) const;

 private:
  RouteConfig load_route(const Field& f, size_t index, RouteRefs& refs) const;
  void load_match(const Field& f, RouteMatch& match) const;
  std::string load_path(const Field& f, RouteMatch::Kind kind) const;
  std::string load_host(const Field& f) const;
  std::vector<std::string> load_methods(const Field& f) const;
  void load_direct_headers(const Field& f, DirectResponse& direct) const;
  std::string load_action_path(const Field& f) const;
};

// Route filters -------------------------------------------------------------------------------
//
// The keys of a route that configure a request filter, each read by its own function into the
// route's part of Config, and into RouteRefs for what it names in other sections (resolved by
// validate()). A new filter (cors, ...) is a file with its parse function, declared in
// sections.h, and one row in kFilters below. Rows are parsed in their order, which is also the
// order of the keys in messages.

// `path_allow`: the PathFlag bits a route accepts in a request path.
void load_path_allow(const Loader& loader, const Field& f, RouteConfig& route,
                     RouteRefs& /*refs*/) {
  for (const Field& item :
       loader.list_or_one(f, "empty list; leave 'path_allow' out to allow none")) {
    const std::string name = loader.read_string(item);
    const uint8_t flag = path_flag_by_name(name);
    if (flag == 0) {
      loader.fail(item, "unknown path_allow value " + quote(name) +
                            " (encoded_slash, backslash, nul, overlong_utf8)");
    }
    route.path_allow |= flag;
  }
}

struct FilterParser {
  std::string_view key;
  void (*parse)(const Loader& loader, const Field& f, RouteConfig& route, RouteRefs& refs);
};
constexpr FilterParser kFilters[] = {
    {"path_allow", &load_path_allow},       {"cors", &load_route_cors},
    {"rate_limit", &load_route_rate_limit}, {"auth", &load_route_auth},
    {"cache", &load_route_cache},
};

// Route actions -------------------------------------------------------------------------------
//
// A route has exactly one action, chosen by which of these keys it holds. A new action
// (upstream, aggregate, ...) is an alternative in RouteAction (config.h), a parse function and
// one row in kActions below; nothing else in the loader changes. A parse function gets the
// route's match, already loaded, for what depends on it (path parameters).

RouteAction load_direct(const Loader& loader, const Field& f, const RouteMatch& match,
                        RouteRefs& refs) {
  return RoutesLoader(loader).load_direct(f, match, refs);
}

RouteAction load_upstream_action(const Loader& loader, const Field& f, const RouteMatch& match,
                                 RouteRefs& refs) {
  return RoutesLoader(loader).load_upstream_action(f, match, refs);
}

struct ActionParser {
  std::string_view key;
  RouteAction (*parse)(const Loader& loader, const Field& f, const RouteMatch& match,
                       RouteRefs& refs);
};
constexpr ActionParser kActions[] = {
    {"direct", &load_direct},
    {"upstream", &load_upstream_action},
    {"aggregate", &load_aggregate},
};

void RoutesLoader::load(const Field& f, std::vector<RouteConfig>& routes, References& refs) const {
  if (f.node.IsNull()) {
    return;
  }
  if (!f.node.IsSequence()) {
    fail(f, "expected a list of routes, got " + describe(f.node));
  }
  // A route with a problem is left out and the next one read: routes name nothing in each other.
  size_t i = 0;
  for (auto it = f.node.begin(); it != f.node.end(); ++it, ++i) {
    const Field route_field = item(f, i, *it);
    recover([&] {
      RouteRefs route_refs;
      route_refs.route = route_field;
      RouteConfig route = load_route(route_field, i, route_refs);
      for (const RouteConfig& earlier : routes) {
        if (earlier.name == route.name) {
          fail(route_field, "duplicate route name " + quote(route.name) + " (first at line " +
                                std::to_string(earlier.mark.line) + ")");
        }
      }
      routes.push_back(std::move(route));
      refs.routes.push_back(std::move(route_refs));
    });
  }
}

RouteConfig RoutesLoader::load_route(const Field& f, size_t index, RouteRefs& refs) const {
  if (!f.node.IsMap()) {
    fail(f, "expected a route map with 'match' and an action, got " + describe(f.node));
  }
  std::vector<std::string_view> keys = {"name", "match"};
  for (const FilterParser& filter : kFilters) {
    keys.push_back(filter.key);
  }
  for (const ActionParser& action : kActions) {
    keys.push_back(action.key);
  }
  const Section s(*this, f, keys);

  RouteConfig route;
  route.mark = source_mark(f.mark);
  route.name = "route#" + std::to_string(index + 1);
  if (const Field* v = s.find("name")) {
    route.name = read_string(*v);
    if (route.name.empty() || route.name.size() > kMaxRouteName) {
      fail(*v, "must be 1 to " + std::to_string(kMaxRouteName) + " characters");
    }
    if (field_value_problem(route.name)) {
      fail(*v, "must not contain control characters");
    }
  }

  const Field* match = s.find("match");
  if (!match) {
    fail(f, "missing 'match' (e.g. match: {path: /hello})");
  }
  load_match(*match, route.match);
  for (const FilterParser& filter : kFilters) {
    if (const Field* v = s.find(filter.key)) {
      filter.parse(*this, *v, route, refs);
    }
  }

  const ActionParser* chosen = nullptr;
  const Field* chosen_field = nullptr;
  for (const ActionParser& action : kActions) {
    const Field* v = s.find(action.key);
    if (!v) {
      continue;
    }
    if (chosen) {
      fail(*v, "a route has exactly one action, but this one also has '" +
                   std::string(chosen->key) + "'");
    }
    chosen = &action;
    chosen_field = v;
  }
  if (!chosen) {
    keys.erase(keys.begin(), keys.begin() + 2 + std::size(kFilters));  // name, match, filters
    fail(f, "missing an action (expected one of: " + join(keys) + ")");
  }
  route.action = chosen->parse(*this, *chosen_field, route.match, refs);
  return route;
}

void RoutesLoader::load_match(const Field& f, RouteMatch& match) const {
  const Section s(*this, f, {"path", "prefix", "methods", "host"});
  const Field* path = s.find("path");
  const Field* prefix = s.find("prefix");
  if (path && prefix) {
    fail(*prefix, "'path' and 'prefix' are exclusive; a route matches one or the other");
  }
  if (!path && !prefix) {
    fail(f, "needs 'path' (exact or template) or 'prefix'");
  }
  if (path) {
    const bool is_template =
        path->node.IsScalar() && path->node.Scalar().find_first_of("{}") != std::string::npos;
    match.kind = is_template ? RouteMatch::Kind::kTemplate : RouteMatch::Kind::kExact;
    match.path = load_path(*path, match.kind);
  } else {
    match.kind = RouteMatch::Kind::kPrefix;
    match.path = load_path(*prefix, match.kind);
  }
  if (const Field* v = s.find("methods")) {
    match.methods = load_methods(*v);
  }
  if (const Field* v = s.find("host")) {
    match.host = load_host(*v);
  }
}

std::string RoutesLoader::load_path(const Field& f, RouteMatch::Kind kind) const {
  const std::string path = scalar(f, "a path starting with '/'");
  if (path.empty() || path.front() != '/') {
    fail(f, "must start with '/', got " + quote(path));
  }
  for (char ch : path) {
    const auto c = static_cast<unsigned char>(ch);
    if (c <= 0x20 || c == 0x7f) {
      fail(f, "must not contain spaces or control characters (percent-encode them)");
    }
    if (c == '?' || c == '#') {
      fail(f, "must not contain '?' or '#'; routes match the path, not the query string");
    }
  }
  if (kind == RouteMatch::Kind::kPrefix && path.find_first_of("{}") != std::string::npos) {
    fail(f, "a prefix cannot hold {parameters}; use 'path' for a template");
  }
  if (kind != RouteMatch::Kind::kTemplate) {
    return path;
  }
  // Template syntax is checked here so the message points at the path itself; the router
  // compiles it later.
  std::vector<std::string_view> names;
  std::string_view rest(path);
  while (!rest.empty()) {
    rest.remove_prefix(1);  // the '/'
    const size_t slash = rest.find('/');
    const std::string_view segment = rest.substr(0, slash);
    rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash);
    if (segment.find_first_of("{}") == std::string_view::npos) {
      continue;
    }
    if (segment.size() < 2 || segment.front() != '{' || segment.back() != '}' ||
        segment.substr(1, segment.size() - 2).find_first_of("{}") != std::string_view::npos) {
      fail(f, "in template " + quote(path) + ", a {parameter} must be a whole path segment, not " +
                  quote(segment));
    }
    const std::string_view name = segment.substr(1, segment.size() - 2);
    if (name.empty()) {
      fail(f, "in template " + quote(path) + ", empty parameter name '{}'");
    }
    for (std::string_view earlier : names) {
      if (earlier == name) {
        fail(f, "in template " + quote(path) + ", duplicate parameter " + quote(name));
      }
    }
    names.push_back(name);
  }
  return path;
}

// Hosts are compared case-insensitively and without the port (the gateway strips it from the
// request's Host), so the config holds them lower-case and a port here could never match.
std::string RoutesLoader::load_host(const Field& f) const {
  const std::string host = ascii_lower(scalar(f, "a host name like example.com"));
  if (host.empty()) {
    fail(f, "empty; leave 'host' out to match any host");
  }
  if (host.front() == '[') {
    const size_t close = host.find(']');
    if (close != host.size() - 1) {
      fail(f, close == std::string::npos ? "unterminated IPv6 literal " + quote(host)
                                         : "must not include a port, got " + quote(host));
    }
    if (host.find_first_not_of("0123456789abcdef:.", 1) != close) {
      fail(f, "not an IPv6 literal: " + quote(host));
    }
    return host;
  }
  if (host.find(':') != std::string::npos) {
    fail(f, "must not include a port, got " + quote(host) + " (the port is ignored when matching)");
  }
  for (char c : host) {
    const bool ok =
        (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
    if (!ok) {
      fail(f, "not a host name: " + quote(host) + " (letters, digits, '-', '.' and '_' only)");
    }
  }
  return host;
}

// A single method name is shorthand for a one-element list.
std::vector<std::string> RoutesLoader::load_methods(const Field& f) const {
  const std::vector<Field> items =
      list_or_one(f, "empty list; leave 'methods' out to match any method");
  std::vector<std::string> methods;
  for (const Field& v : items) {
    const std::string name = read_method(v);
    bool seen = false;
    for (const std::string& m : methods) {
      seen = seen || m == name;
    }
    if (seen) {
      fail(v, "method " + quote(name) + " is listed twice");
    }
    methods.push_back(name);
  }
  return methods;
}

RouteAction RoutesLoader::load_direct(const Field& f, const RouteMatch& /*match*/,
                                      RouteRefs& /*refs*/) const {
  const Section s(*this, f, {"status", "headers", "body"});
  DirectResponse direct;
  const Field* status = s.find("status");
  if (status) {
    direct.status = static_cast<int>(read_number(*status, 100, 599));
    // An interim response cannot end an exchange: the client would wait for the real one.
    if (direct.status < 200) {
      fail(*status, "a 1xx status is an interim response and cannot answer a request");
    }
  }
  if (const Field* v = s.find("headers")) {
    load_direct_headers(*v, direct);
  }
  if (const Field* v = s.find("body")) {
    direct.body = read_string(*v);
    if (!direct.body.empty() && (direct.status == 204 || direct.status == 304)) {
      fail(*v, "a " + std::to_string(direct.status) + " response has no body (RFC 9110 §15)");
    }
  }
  return direct;
}

// `headers` maps a name to a value, or to a list of values for a field that repeats
// (Set-Cookie). Names are case-insensitive, so two spellings of one name are one field twice.
void RoutesLoader::load_direct_headers(const Field& f, DirectResponse& direct) const {
  if (f.node.IsNull()) {
    return;
  }
  if (!f.node.IsMap()) {
    fail(f, "expected a map of header names to values, got " + describe(f.node));
  }
  std::vector<std::pair<std::string, YAML::Mark>> seen;  // lower-case names
  for (auto it = f.node.begin(); it != f.node.end(); ++it) {
    const YAML::Node key = it->first;  // a copy: it-> yields a temporary proxy
    if (!key.IsScalar()) {
      fail_at(key.Mark(), f.path + ": header names must be plain strings, got " + describe(key));
    }
    const std::string name = key.Scalar();
    const Field value = child(f, name, key, it->second);
    if (!is_token(name)) {
      fail_at(key.Mark(), f.path + ": " + quote(name) +
                              " is not a valid header name (letters, digits and !#$%&'*+-.^_`|~)");
    }
    const std::string lower = ascii_lower(name);
    for (const auto& [earlier, mark] : seen) {
      if (earlier == lower) {
        fail_at(key.Mark(), f.path + ": header " + quote(name) + " is given twice (first at line " +
                                std::to_string(mark.line + 1) +
                                "); use a list of values to repeat a header");
      }
    }
    seen.emplace_back(lower, key.Mark());
    if (lower == "content-length" || lower == "transfer-encoding" || lower == "connection" ||
        lower == "date") {
      fail_at(key.Mark(),
              f.path + ": " + quote(name) + " is set by the server for every response; remove it");
    }
    if (lower == "server") {
      fail_at(key.Mark(), f.path + ": " + quote(name) +
                              " is set by the server; configure it with server.server_header");
    }
    if (lower == "keep-alive" || lower == "upgrade" || lower == "trailer" || lower == "te") {
      fail_at(key.Mark(), f.path + ": " + quote(name) +
                              " is a connection-level header and cannot be part of a direct "
                              "response");
    }
    std::vector<Field> values;
    if (value.node.IsSequence()) {
      size_t i = 0;
      for (auto v = value.node.begin(); v != value.node.end(); ++v, ++i) {
        values.push_back(item(value, i, *v));
      }
      if (values.empty()) {
        fail(value, "empty list of values");
      }
    } else {
      values.push_back(value);
    }
    for (const Field& v : values) {
      std::string text = scalar(v, "a header value");
      if (auto problem = field_value_problem(text)) {
        fail(v, *problem);
      }
      direct.headers.push_back({name, std::move(text)});
    }
  }
}

// `upstream: NAME` is shorthand for `upstream: {cluster: NAME}`.
RouteAction RoutesLoader::load_upstream_action(const Field& f, const RouteMatch& /*match*/,
                                               RouteRefs& refs) const {
  if (!f.node.IsScalar() && !f.node.IsMap()) {
    fail(f, "expected a cluster name or a map with 'cluster', got " + describe(f.node));
  }
  std::optional<Section> s;
  const Field* cluster = &f;
  if (f.node.IsMap()) {
    s.emplace(*this, f,
              std::vector<std::string_view>{"cluster", "strip_prefix", "rewrite", "host", "timeout",
                                            "try_timeout", "retries", "stream", "min_rate"});
    cluster = s->find("cluster");
    if (!cluster) {
      fail(f, "missing 'cluster' (the name of one of the upstreams)");
    }
  }
  UpstreamAction action;
  action.cluster = scalar(*cluster, "a cluster name");
  refs.cluster = NameRef{*cluster, action.cluster};
  if (!s) {
    return action;
  }

  const Field* strip = s->find("strip_prefix");
  const Field* rewrite = s->find("rewrite");
  if (strip && rewrite) {
    const bool rewrite_later =
        rewrite->mark.line > strip->mark.line ||
        (rewrite->mark.line == strip->mark.line && rewrite->mark.column > strip->mark.column);
    fail(rewrite_later ? *rewrite : *strip,
         "'strip_prefix' and 'rewrite' are exclusive; a route changes the path one way or the "
         "other");
  }
  if (strip) {
    action.strip_prefix = load_action_path(*strip);
    // Stripping happens on a segment boundary, so the prefix names whole segments: "/v1", not
    // "/v1/"; and stripping "/" would change nothing.
    if (action.strip_prefix == "/") {
      fail(*strip, "stripping '/' changes nothing; leave 'strip_prefix' out");
    }
    if (action.strip_prefix.back() == '/') {
      fail(*strip,
           "must not end with '/'; it removes whole segments (\"/v1\" turns /v1/x "
           "into /x)");
    }
  }
  if (rewrite) {
    action.rewrite = load_action_path(*rewrite);
  }
  if (const Field* v = s->find("host")) {
    action.host = read_host(*v, &action.host_value);
    action.host_set = true;
  }
  const Field* timeout = s->find("timeout");
  if (timeout) {
    action.timeout = read_duration(*timeout, kMinTimeout, kOneHour);
  }
  const Field* try_timeout = s->find("try_timeout");
  if (try_timeout) {
    action.try_timeout = read_duration_or_off(*try_timeout, kMinTimeout, kOneHour);
  }
  if (const Field* v = s->find("retries")) {
    action.retries = static_cast<uint32_t>(read_number(*v, 0, kMaxRetries));
  }
  if (const Field* v = s->find("stream")) {
    action.stream = read_bool(*v);
  }
  if (const Field* v = s->find("min_rate")) {
    const Section rate(*this, *v, {"bytes", "window"});
    const Field* bytes = rate.find("bytes");
    const Field* window = rate.find("window");
    if (!bytes || !window) {
      fail(*v, "needs both 'bytes' and 'window' (at least this much in every window)");
    }
    action.min_rate_bytes = read_size(*bytes, 1, kMaxMinRateBytes);
    action.min_rate_window = read_duration(*window, kMinTimeout, kOneHour);
  }
  // A try that may outlast the whole request could never time out on its own.
  if (action.try_timeout.count() != 0) {
    check_not_above(try_timeout, timeout, s->self(), "try_timeout", action.try_timeout, "timeout",
                    action.timeout);
  }
  return action;
}

std::string RoutesLoader::load_action_path(const Field& f) const {
  std::string path = scalar(f, "a path starting with '/'");
  if (auto problem = request_path_problem(path, false)) {
    fail(f, *problem);
  }
  return path;
}

}  // namespace

void load_routes(const Loader& loader, const Field& f, std::vector<RouteConfig>& routes,
                 References& refs) {
  loader.recover([&] { RoutesLoader(loader).load(f, routes, refs); });
}

}  // namespace ringgate::config_detail
