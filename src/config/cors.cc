// A route's `cors:` section (the cors filter's): the origins, methods and headers a browser page
// may use with the route, what it may read, and how long a preflight's answer may be cached.

#include <algorithm>
#include <string>

#include "config/sections.h"

namespace ringgate::config_detail {
namespace {

constexpr Duration kMaxCorsMaxAge{24 * 60 * 60 * 1000};  // browsers cap lower (Chrome: 2h)

// "https://app.example", "http://localhost:3000": a scheme, a host, perhaps a port, nothing
// after (the form a browser's Origin header has), lower-cased as browsers send it.
std::string load_origin(const Loader& loader, const Field& f) {
  std::string origin = loader.read_string(f);
  if (origin == "*") {
    return origin;
  }
  const size_t scheme_end = origin.find("://");
  if (scheme_end == std::string::npos || scheme_end == 0) {
    loader.fail(
        f, "expected an origin such as \"https://app.example\" or \"*\", got " + quote(origin));
  }
  const std::string_view host = std::string_view(origin).substr(scheme_end + 3);
  if (host.empty() || host.find_first_of("/?#@ \t") != std::string_view::npos) {
    loader.fail(
        f, "an origin is a scheme and a host (and port) with nothing after, got " + quote(origin));
  }
  return ascii_lower(origin);
}

std::vector<std::string> load_header_names(const Loader& loader, const Field& f) {
  std::vector<std::string> names;
  for (const Field& item : loader.list_or_one(f, "empty list; leave it out to allow none")) {
    const std::string name = loader.read_string(item);
    if (!is_token(name)) {
      loader.fail(item, "not a header name: " + quote(name));
    }
    names.push_back(ascii_lower(name));
  }
  return names;
}

std::string joined(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& item : items) {
    out.append(out.empty() ? "" : ", ").append(item);
  }
  return out;
}

}  // namespace

void load_route_cors(const Loader& loader, const Field& f, RouteConfig& route,
                     RouteRefs& /*refs*/) {
  const Section s(loader, f,
                  {"allow_origins", "allow_methods", "allow_headers", "expose_headers",
                   "allow_credentials", "max_age"});
  CorsConfig cors;
  const Field* origins = s.find("allow_origins");
  if (!origins) {
    loader.fail(f, "needs 'allow_origins' (e.g. allow_origins: [\"https://app.example\"])");
  }
  for (const Field& item : loader.list_or_one(*origins, "empty list: no origin could be allowed")) {
    cors.allow_origins.push_back(load_origin(loader, item));
    cors.any_origin = cors.any_origin || cors.allow_origins.back() == "*";
  }
  if (const Field* v = s.find("allow_methods")) {
    cors.allow_methods.clear();
    for (const Field& item :
         loader.list_or_one(*v, "empty list; leave it out for GET, HEAD, POST")) {
      cors.allow_methods.push_back(loader.read_method(item));
    }
  }
  if (const Field* v = s.find("allow_headers")) {
    cors.allow_headers = load_header_names(loader, *v);
  }
  if (const Field* v = s.find("expose_headers")) {
    cors.expose_headers = load_header_names(loader, *v);
  }
  if (const Field* v = s.find("allow_credentials")) {
    cors.allow_credentials = loader.read_bool(*v);
  }
  if (const Field* v = s.find("max_age")) {
    cors.max_age = loader.read_duration_or_off(*v, Duration{1000}, kMaxCorsMaxAge);
  }
  cors.methods_value = joined(cors.allow_methods);
  cors.headers_value = joined(cors.allow_headers);
  cors.expose_value = joined(cors.expose_headers);
  if (cors.max_age.count() > 0) {
    cors.max_age_value = std::to_string(cors.max_age.count() / 1000);
  }
  // Preflights are OPTIONS requests: a route limited to other methods takes them too, and the
  // filter refuses any OPTIONS that is not a preflight.
  std::vector<std::string>& methods = route.match.methods;
  if (!methods.empty() && std::find(methods.begin(), methods.end(), "OPTIONS") == methods.end()) {
    methods.push_back("OPTIONS");
    cors.options_added = true;
  }
  route.cors = std::move(cors);
}

}  // namespace ringgate::config_detail
