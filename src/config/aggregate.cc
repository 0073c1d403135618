// The `aggregate:` route action itself: its options, its backends (each a call with a cluster,
// a method, templates and a projection) and its profiles. The templates and the JSON paths are
// read by aggregate_template.cc and aggregate_json.cc; the clusters and claims the backends
// name, and the stages their dependencies give, are resolved by validate().

#include <algorithm>

#include "config/aggregate_loader.h"
#include "ringgate/core/ascii.h"

namespace ringgate::config_detail {
namespace {

// Bounds. Each one is documented next to its option in conf/ringgate.yaml.
constexpr size_t kMaxBackends = 64;
constexpr size_t kMaxBackendKey = 64;
constexpr size_t kMaxProfileName = 64;
constexpr uint64_t kMaxAggregateBody = 64 * kMiB;
constexpr uint32_t kMaxAggregateDepth = 1024;
constexpr uint32_t kMaxForEachConcurrency = 256;
constexpr uint32_t kMaxForEachItems = 10000;

// The `{name}` parameters of a template route, left to right (the router captures them in this
// order).
std::vector<std::string> path_params(const RouteMatch& match) {
  std::vector<std::string> names;
  if (match.kind != RouteMatch::Kind::kTemplate) {
    return names;
  }
  for (size_t open = match.path.find('{'); open != std::string::npos;
       open = match.path.find('{', open + 1)) {
    const size_t close = match.path.find('}', open);
    names.push_back(match.path.substr(open + 1, close - open - 1));
  }
  return names;
}

}  // namespace

RouteAction AggregateLoader::load(const Field& f, const RouteMatch& match, RouteRefs& refs) const {
  const Section s(*this, f,
                  {"timeout", "errors", "on_collision", "status_from", "headers", "cache_control",
                   "limits", "profiles", "backends"});
  AggregateAction action;
  if (const Field* v = s.find("timeout")) {
    action.timeout = read_duration(*v, kMinTimeout, kOneHour);
  }
  if (const Field* v = s.find("errors")) {
    action.errors = read_bool(*v);
  }
  if (const Field* v = s.find("on_collision")) {
    const std::string text = scalar(*v, "error, first or last");
    if (text == "error") {
      action.on_collision = AggregateAction::Collision::kError;
    } else if (text == "first") {
      action.on_collision = AggregateAction::Collision::kFirst;
    } else if (text == "last") {
      action.on_collision = AggregateAction::Collision::kLast;
    } else {
      fail(*v, "expected error, first or last, got " + quote(text));
    }
  }
  if (const Field* v = s.find("headers")) {
    action.headers = load_response_headers(*v);
  }
  if (const Field* v = s.find("cache_control")) {
    load_cache_control(*v, action);
  }
  if (const Field* v = s.find("limits")) {
    const Section l(*this, *v, {"body_bytes", "depth", "elements"});
    if (const Field* n = l.find("body_bytes")) {
      action.limits.body_bytes = read_size(*n, 1, kMaxAggregateBody);
    }
    if (const Field* n = l.find("depth")) {
      action.limits.depth = static_cast<uint32_t>(read_number(*n, 1, kMaxAggregateDepth));
    }
    if (const Field* n = l.find("elements")) {
      action.limits.elements = static_cast<uint32_t>(read_number(*n, 1, kMaxAggregateElements));
    }
  }
  const Field* backends = s.find("backends");
  if (!backends) {
    fail(f,
         "missing 'backends' (the calls to make, e.g. backends: [{key: product, upstream: "
         "catalog, path: \"/products/{id}\"}])");
  }
  load_backends(*backends, match, s, action, refs);

  if (const Field* v = s.find("status_from")) {
    const std::string key = scalar(*v, "a backend key");
    std::vector<std::string_view> keys;
    for (size_t i = 0; i < action.backends.size(); ++i) {
      const AggregateBackend& b = action.backends[i];
      if (b.key == key) {
        if (b.optional) {
          fail(*v, quote(key) +
                       " is optional: its failure never fails the request, so its status is never "
                       "the answer; status_from names a required backend");
        }
        action.status_from = static_cast<uint32_t>(i);
      }
      keys.push_back(b.key);
    }
    if (!action.status_from) {
      fail(*v, "names no backend: " + quote(key) + " (backends: " + join(keys) + ")");
    }
  }
  if (const Field* v = s.find("profiles")) {
    load_profiles(*v, action);
  }
  return action;
}

void AggregateLoader::load_backends(const Field& f, const RouteMatch& match,
                                    const Section& aggregate, AggregateAction& action,
                                    RouteRefs& route_refs) const {
  if (!f.node.IsSequence()) {
    fail(f, "expected a list of backends, got " + describe(f.node));
  }
  if (f.node.size() == 0) {
    fail(f, "at least one backend is required");
  }
  static const std::vector<std::string_view> kBackendKeys = {
      "key",          "upstream", "method",   "path",        "query",     "headers", "body",
      "content_type", "timeout",  "optional", "default",     "merge",     "pick",    "allow",
      "deny",         "rename",   "for_each", "concurrency", "max_items", "host",    "cache"};
  TemplateScope scope;
  scope.match_kind = match.kind;
  scope.params = path_params(match);

  // Every key first: a template may read a backend listed after its own.
  std::vector<Section> sections;
  std::vector<int> key_lines;
  size_t i = 0;
  for (auto it = f.node.begin(); it != f.node.end(); ++it, ++i) {
    const Field v = item(f, i, *it);
    if (i == kMaxBackends) {
      fail(v, "more than " + std::to_string(kMaxBackends) + " backends");
    }
    if (!v.node.IsMap()) {
      fail(v, "expected a backend map with key, upstream and path, got " + describe(v.node));
    }
    sections.emplace_back(*this, v, kBackendKeys);
    const Field* key = sections.back().find("key");
    if (!key) {
      fail(v, "missing 'key' (the member of the response this backend fills)");
    }
    std::string name = scalar(*key, "a key name");
    if (!is_name(name, kMaxBackendKey)) {
      fail(*key, "must be 1 to " + std::to_string(kMaxBackendKey) +
                     " characters: letters, digits, '_' and '-' (it names a response member and "
                     "{placeholders}), got " +
                     quote(name));
    }
    if (name == "item" || name == "query" || name == "header") {
      fail(*key, quote(name) + " is reserved for " +
                     (name == "item" ? std::string("{item} in for_each templates")
                                     : "{" + name + ".NAME} placeholders") +
                     "; choose another key");
    }
    if (name == "errors" && action.errors) {
      fail(*key,
           "'errors' is the member that lists failed backends when errors: true; choose another "
           "key");
    }
    for (const std::string& param : scope.params) {
      if (param == name) {
        fail(*key, quote(name) + " is also a path parameter of this route, so {" + name +
                       "} would be ambiguous; rename one");
      }
    }
    for (size_t j = 0; j < scope.keys.size(); ++j) {
      if (scope.keys[j] == name) {
        fail(*key, "duplicate backend key " + quote(name) + " (first at line " +
                       std::to_string(key_lines[j]) + ")");
      }
    }
    key_lines.push_back(source_mark(key->mark).line);
    scope.keys.push_back(std::move(name));
  }

  std::vector<BackendRefs> refs(sections.size());
  for (size_t b = 0; b < sections.size(); ++b) {
    scope.self = static_cast<uint32_t>(b);
    action.backends.push_back(load_backend(sections[b], scope, aggregate, action, refs[b]));
  }
  // The clusters and claims are resolved, and the stages planned, once every section is parsed.
  for (size_t b = 0; b < refs.size(); ++b) {
    AggregateBackend& backend = action.backends[b];
    for (const auto& read : refs[b].reads) {
      backend.depends_on.push_back(read.first);
    }
    std::sort(backend.depends_on.begin(), backend.depends_on.end());
    std::optional<NameRef> cache;
    if (const Field* c = sections[b].find("cache")) {
      const Section cs(*this, *c, {"use", "default_ttl", "stale_if_error"});
      BackendCacheConfig bc;
      const Field* use = cs.find("use");
      if (use) {
        bc.use = read_string(*use);
      }
      if (const Field* v = cs.find("default_ttl")) {
        bc.default_ttl = read_duration_or_off(*v, kOneSecond, 365 * 24 * kOneHour);
      }
      if (const Field* v = cs.find("stale_if_error")) {
        bc.stale_if_error = read_duration_or_off(*v, kOneSecond, 7 * 24 * kOneHour);
      }
      if (backend.method != "GET" || backend.for_each) {
        fail(*c, "only a GET backend without for_each can be cached");
      }
      cache = NameRef{use ? *use : *c, bc.use};
      backend.cache = std::move(bc);
    }
    route_refs.backends.push_back({NameRef{*sections[b].find("upstream"), backend.cluster},
                                   std::move(cache), std::move(refs[b].claims),
                                   std::move(refs[b].reads)});
  }
}

AggregateBackend AggregateLoader::load_backend(const Section& s, TemplateScope scope,
                                               const Section& aggregate,
                                               const AggregateAction& action,
                                               BackendRefs& refs) const {
  AggregateBackend b;
  b.key = scope.keys[scope.self];
  const Field& self = s.self();

  const Field* upstream = s.find("upstream");
  if (!upstream) {
    fail(self, "missing 'upstream' (the name of one of the upstreams)");
  }
  b.cluster = scalar(*upstream, "a cluster name");
  const Field* method = s.find("method");
  if (method) {
    b.method = read_method(*method);
    if (b.method == "CONNECT") {
      fail(*method, "CONNECT opens a tunnel; a backend call must answer with a JSON body");
    }
    if (b.method == "HEAD") {
      fail(*method, "a HEAD response has no body to aggregate");
    }
  }

  const Field* for_each = s.find("for_each");
  if (for_each) {
    scope.for_each = true;
    b.for_each = load_for_each(*for_each, scope, refs);
  }
  for (std::string_view key : {"concurrency", "max_items"}) {
    const Field* v = s.find(key);
    if (!v) {
      continue;
    }
    if (!for_each) {
      fail(*v,
           "'" + std::string(key) + "' applies to for_each calls; this backend has no for_each");
    }
    if (key == "concurrency") {
      b.for_each->concurrency = static_cast<uint32_t>(read_number(*v, 1, kMaxForEachConcurrency));
    } else {
      b.for_each->max_items = static_cast<uint32_t>(read_number(*v, 1, kMaxForEachItems));
    }
  }

  load_backend_request(s, scope, refs, method != nullptr, b);
  load_backend_answer(s, aggregate, action, for_each != nullptr, b);

  if (for_each && !refs.uses_item) {
    fail(*for_each,
         "for_each makes one call per element, but no template of this backend uses {item}, so "
         "every call would be the same");
  }
  return b;
}

// The request a backend sends: its path, query, headers and body.
void AggregateLoader::load_backend_request(const Section& s, const TemplateScope& scope,
                                           BackendRefs& refs, bool method_given,
                                           AggregateBackend& b) const {
  const Field* path = s.find("path");
  if (!path) {
    fail(s.self(), "missing 'path' (the path to call, e.g. path: \"/items/{id}\")");
  }
  b.path = load_template(*path, TemplateUse::kPath, scope, refs);
  if (const Field* v = s.find("query")) {
    load_backend_params(*v, TemplateUse::kQuery, scope, refs, b.query);
  }
  if (const Field* v = s.find("headers")) {
    load_backend_params(*v, TemplateUse::kHeader, scope, refs, b.headers);
    b.sets_accept_encoding =
        std::any_of(b.headers.begin(), b.headers.end(),
                    [](const AggregateParam& h) { return iequals(h.name, "accept-encoding"); });
  }
  if (const Field* v = s.find("host")) {
    b.host = read_host(*v, &b.host_value);
  }
  const Field* body = s.find("body");
  if (body) {
    if (b.method != "POST" && b.method != "PUT" && b.method != "PATCH" && b.method != "DELETE") {
      const bool vowel = std::string_view("AEIOU").find(b.method.front()) != std::string::npos;
      fail(*body, (vowel ? "an " : "a ") + b.method + " request carries no body" +
                      (method_given ? std::string() : std::string(" (GET is the default method)")) +
                      "; 'body' needs method POST, PUT, PATCH or DELETE");
    }
    b.body = load_template(*body, TemplateUse::kBody, scope, refs);
    b.content_type = "application/json";
  }
  if (const Field* v = s.find("content_type")) {
    if (!body) {
      fail(*v, "'content_type' is the type of 'body', which this backend does not send");
    }
    b.content_type = scalar(*v, "a media type like application/json");
    const std::string_view media =
        std::string_view(b.content_type)
            .substr(0, std::min(b.content_type.find(';'), b.content_type.size()));
    const size_t slash = media.find('/');
    if (slash == std::string_view::npos || !is_token(media.substr(0, slash)) ||
        !is_token(media.substr(slash + 1))) {
      fail(*v, "expected a media type like application/json, got " + quote(b.content_type));
    }
    if (auto problem = field_value_problem(b.content_type)) {
      fail(*v, *problem);
    }
  }
}

// What becomes of a backend's answer: how long it may take, whether its failure fails the
// request, and what of its body goes into the response.
void AggregateLoader::load_backend_answer(const Section& s, const Section& aggregate,
                                          const AggregateAction& action, bool for_each,
                                          AggregateBackend& b) const {
  b.timeout = action.timeout;
  if (const Field* v = s.find("timeout")) {
    b.timeout = read_duration(*v, kMinTimeout, kOneHour);
    // A call that may outlast the whole aggregation could never time out on its own.
    if (b.timeout > action.timeout) {
      fail_at(v->mark, v->path + " (" + format_duration(b.timeout) + ") must not exceed " +
                           aggregate.self().path + ".timeout (" + format_duration(action.timeout) +
                           (aggregate.find("timeout") ? ")" : ", the default)"));
    }
  }

  if (const Field* v = s.find("optional")) {
    b.optional = read_bool(*v);
  }
  const Field* merge = s.find("merge");
  if (merge) {
    b.merge = read_bool(*merge);
    if (b.merge && for_each) {
      fail(*merge, "a for_each backend answers an array, which has no members to merge");
    }
  }
  if (const Field* v = s.find("default")) {
    if (!b.optional) {
      fail(*v, "'default' is used only when an optional backend fails; add optional: true");
    }
    if (b.merge && !v->node.IsMap()) {
      fail(*v, "with merge: true the default must be a map: its members go to the top level");
    }
    b.default_json.clear();
    append_json(*v, b.default_json);
  } else if (b.merge) {
    b.default_json = "{}";
  }
  b.projection = load_projection(s, nullptr, b.merge);
}

void AggregateLoader::load_backend_params(const Field& f, TemplateUse use,
                                          const TemplateScope& scope, BackendRefs& refs,
                                          std::vector<AggregateParam>& out) const {
  const bool header = use == TemplateUse::kHeader;
  if (f.node.IsNull()) {
    return;
  }
  if (!f.node.IsMap()) {
    fail(f, std::string("expected a map of ") + (header ? "header" : "query parameter") +
                " names to templates, got " + describe(f.node));
  }
  std::vector<std::pair<std::string, YAML::Mark>> seen;
  for (auto it = f.node.begin(); it != f.node.end(); ++it) {
    const YAML::Node key = it->first;  // a copy: it-> yields a temporary proxy
    if (!key.IsScalar()) {
      fail_at(key.Mark(), f.path + ": names must be plain strings, got " + describe(key));
    }
    const std::string name = key.Scalar();
    std::string stored = name;
    if (header) {
      if (!is_token(name)) {
        fail_at(key.Mark(), f.path + ": " + quote(name) +
                                " is not a valid header name (letters, digits and "
                                "!#$%&'*+-.^_`|~)");
      }
      stored = ascii_lower(name);
      std::string_view why;
      if (stored == "connection" || stored == "keep-alive" || stored == "proxy-connection" ||
          stored == "te" || stored == "trailer" || stored == "upgrade") {
        why = "is hop-by-hop: the gateway manages its own connections to backends";
      } else if (stored == "content-length" || stored == "transfer-encoding") {
        why = "frames the body; the gateway sets it";
      } else if (stored == "host") {
        why =
            "is set with the backend's 'host:' (preserve, endpoint or a host[:port]; default the "
            "cluster's host:, else endpoint: the called endpoint's host:port)";
      } else if (stored == "content-type") {
        why = "describes the body; set it with content_type";
      }
      if (!why.empty()) {
        fail_at(key.Mark(), f.path + ": " + quote(name) + " " + std::string(why));
      }
    } else if (!is_query_name(name)) {
      fail_at(key.Mark(), f.path + ": " + quote(name) +
                              " is not a query parameter name (no spaces, control characters, "
                              "'&', '=', '#' or braces)");
    }
    for (const auto& [earlier, mark] : seen) {
      if (earlier == stored) {
        fail_at(key.Mark(), f.path + ": " + quote(name) + " is given twice (first at line " +
                                std::to_string(mark.line + 1) + ")");
      }
    }
    seen.emplace_back(stored, key.Mark());
    const Field value = child(f, name, key, it->second);
    out.push_back({std::move(stored), load_template(value, use, scope, refs)});
  }
}

AggregateForEach AggregateLoader::load_for_each(const Field& f, const TemplateScope& scope,
                                                BackendRefs& refs) const {
  const std::string text = scalar(f, "a path like order.lines[*].id");
  const size_t split = std::min(text.find_first_of(".["), text.size());
  const std::string head = text.substr(0, split);
  const std::string_view rest = std::string_view(text).substr(split);
  AggregateForEach each;
  bool found = false;
  for (size_t i = 0; i < scope.keys.size(); ++i) {
    if (scope.keys[i] == head) {
      each.backend = static_cast<uint32_t>(i);
      found = true;
    }
  }
  if (!found) {
    fail(f, "must start with the key of another backend (" + scope.other_keys() + "), got " +
                quote(text));
  }
  if (each.backend == scope.self) {
    fail(f, "backend " + quote(head) + " cannot iterate over its own response");
  }
  std::vector<JsonPathStep> steps;
  std::vector<size_t> stars;
  if (auto problem = parse_path_steps(rest, steps, stars)) {
    fail(f, "in " + quote(text) + ": " + *problem);
  }
  if (stars.size() != 1) {
    fail(f, "needs exactly one '[*]' to mark the array to iterate over, got " +
                (stars.empty() ? std::string("none") : std::to_string(stars.size())) + " in " +
                quote(text));
  }
  const size_t star = rest.find("[*]");
  std::string_view before = rest.substr(0, star);
  std::string_view after = rest.substr(star + 3);
  if (!before.empty() && before.front() == '.') {
    before.remove_prefix(1);
  }
  if (!after.empty() && after.front() == '.') {
    after.remove_prefix(1);
  }
  each.array.text = std::string(before);
  each.array.steps.assign(steps.begin(), steps.begin() + static_cast<ptrdiff_t>(stars[0]));
  each.element.text = std::string(after);
  each.element.steps.assign(steps.begin() + static_cast<ptrdiff_t>(stars[0]), steps.end());
  refs.add(each.backend, f);
  return each;
}

// A single name is shorthand for a one-element list.
std::vector<std::string> AggregateLoader::load_response_headers(const Field& f) const {
  const std::vector<Field> items =
      list_or_one(f, "empty list; leave 'headers' out to pass no upstream header on");
  std::vector<std::string> names;
  for (const Field& v : items) {
    const std::string name = scalar(v, "a header name");
    if (!is_token(name)) {
      fail(v, quote(name) + " is not a valid header name (letters, digits and !#$%&'*+-.^_`|~)");
    }
    const std::string lower = ascii_lower(name);
    std::string_view why;
    if (lower == "cache-control") {
      why =
          "is set by cache_control (most_restrictive of the backends' by default, none, or a "
          "value), so it cannot be passed on";
    } else if (lower == "content-type" || lower == "content-length" ||
               lower == "transfer-encoding" || lower == "content-encoding") {
      why = "describes one backend's body, not the aggregated one";
    } else if (lower == "connection" || lower == "keep-alive" || lower == "proxy-connection" ||
               lower == "te" || lower == "trailer" || lower == "upgrade") {
      why = "is hop-by-hop: it describes one connection, not a response";
    } else if (lower == "ringgate-partial" || lower == "date" || lower == "server") {
      why = "is set by the gateway";
    }
    if (!why.empty()) {
      fail(v, quote(name) + " " + std::string(why));
    }
    for (const std::string& earlier : names) {
      if (earlier == lower) {
        fail(v, "header " + quote(name) + " is listed twice");
      }
    }
    names.push_back(lower);
  }
  return names;
}

AggregateProfiles::Select AggregateLoader::load_profile_select(const Field& f,
                                                               std::string& name) const {
  const std::string text = scalar(f, "header:NAME or query:NAME");
  const size_t colon = text.find(':');
  const std::string kind = text.substr(0, std::min(colon, text.size()));
  if (colon == std::string::npos || (kind != "header" && kind != "query")) {
    fail(f, "expected \"header:NAME\" or \"query:NAME\", got " + quote(text));
  }
  name = text.substr(colon + 1);
  if (name.empty()) {
    fail(f, "missing the " + kind + " name after '" + kind + ":'");
  }
  if (kind == "header") {
    if (!is_token(name)) {
      fail(f, quote(name) + " is not a valid header name (letters, digits and !#$%&'*+-.^_`|~)");
    }
    name = ascii_lower(name);
    return AggregateProfiles::Select::kHeader;
  }
  if (!is_query_name(name)) {
    fail(f, quote(name) +
                " is not a query parameter name (no spaces, control characters, '&', '=' or '#')");
  }
  return AggregateProfiles::Select::kQuery;
}

// One profile: its override of each backend it names, from the backends' own projections.
AggregateProfile AggregateLoader::load_profile(const Field& value, const std::string& name,
                                               const AggregateAction& action,
                                               const std::vector<std::string_view>& keys) const {
  AggregateProfile profile;
  profile.name = name;
  for (const AggregateBackend& b : action.backends) {
    profile.backends.push_back({false, b.projection});
  }
  std::vector<std::optional<Field>> overrides(action.backends.size());
  if (!value.node.IsNull() && !value.node.IsMap()) {
    fail(value,
         "expected a map of backend keys to overrides like {allow: [id]} or {skip: "
         "true}, got " +
             describe(value.node));
  }
  for (auto b = value.node.begin(); value.node.IsMap() && b != value.node.end(); ++b) {
    const YAML::Node backend_key = b->first;  // a copy: it-> yields a temporary proxy
    if (!backend_key.IsScalar()) {
      fail_at(backend_key.Mark(),
              value.path + ": keys must be backend keys, got " + describe(backend_key));
    }
    const std::string backend = backend_key.Scalar();
    const auto at = std::find(keys.begin(), keys.end(), backend);
    if (at == keys.end()) {
      fail_at(backend_key.Mark(), value.path + ": unknown backend " + quote(backend) +
                                      " (backends: " + join(keys) + ")");
    }
    const size_t index = static_cast<size_t>(at - keys.begin());
    if (overrides[index]) {
      fail_at(backend_key.Mark(),
              value.path + ": duplicate key " + quote(backend) + " (first at line " +
                  std::to_string(source_mark(overrides[index]->mark).line) + ")");
    }
    const Field o = child(value, backend, backend_key, b->second);
    overrides[index] = o;
    const Section os(*this, o, {"skip", "pick", "allow", "deny", "rename"});
    ProfileBackend& entry = profile.backends[index];
    if (const Field* skip = os.find("skip")) {
      entry.skip = read_bool(*skip);
      for (std::string_view other : {"pick", "allow", "deny", "rename"}) {
        if (const Field* v = os.find(other); v && entry.skip) {
          fail(*v, "a skipped backend is not called, so '" + std::string(other) +
                       "' would never apply");
        }
      }
    }
    entry.projection =
        load_projection(os, &action.backends[index].projection, action.backends[index].merge);
  }
  // A backend that reads a skipped one could not be called.
  for (size_t i = 0; i < action.backends.size(); ++i) {
    if (profile.backends[i].skip) {
      continue;
    }
    for (uint32_t d : action.backends[i].depends_on) {
      if (profile.backends[d].skip) {
        fail(*overrides[d], "profile " + quote(name) + " skips " + quote(keys[d]) + ", but " +
                                quote(keys[i]) + " reads its response; skip " + quote(keys[i]) +
                                " too");
      }
    }
  }
  return profile;
}

// `profiles` holds `select`, `default` and one entry per profile, named by its key.
void AggregateLoader::load_profiles(const Field& f, AggregateAction& action) const {
  if (!f.node.IsMap()) {
    fail(f, "expected a map with select, default and the profiles, got " + describe(f.node));
  }
  std::vector<std::string_view> keys;
  for (const AggregateBackend& b : action.backends) {
    keys.push_back(b.key);
  }
  AggregateProfiles profiles;
  bool has_select = false;
  std::optional<Field> default_field;
  std::vector<std::pair<std::string, YAML::Mark>> seen;
  for (auto it = f.node.begin(); it != f.node.end(); ++it) {
    const YAML::Node key = it->first;  // a copy: it-> yields a temporary proxy
    if (!key.IsScalar()) {
      fail_at(key.Mark(), f.path + ": keys must be plain names, got " + describe(key));
    }
    const std::string name = key.Scalar();
    for (const auto& [earlier, mark] : seen) {
      if (earlier == name) {
        fail_at(key.Mark(), f.path + ": duplicate key " + quote(name) + " (first at line " +
                                std::to_string(mark.line + 1) + ")");
      }
    }
    seen.emplace_back(name, key.Mark());
    const Field value = child(f, name, key, it->second);
    if (name == "select") {
      profiles.select = load_profile_select(value, profiles.select_name);
      has_select = true;
      continue;
    }
    if (name == "default") {
      default_field = value;
      continue;
    }
    if (!is_name(name, kMaxProfileName)) {
      fail_at(key.Mark(), f.path + ": profile name " + quote(name) + " must be 1 to " +
                              std::to_string(kMaxProfileName) +
                              " characters: letters, digits, '_' and '-'");
    }
    profiles.profiles.push_back(load_profile(value, name, action, keys));
  }
  if (!has_select) {
    fail(f,
         "missing 'select' (where a request names its profile: \"header:NAME\" or "
         "\"query:NAME\")");
  }
  if (profiles.profiles.empty()) {
    fail(f, "no profiles; add at least one, e.g. web: {}");
  }
  if (default_field) {
    const std::string name = scalar(*default_field, "a profile name");
    std::vector<std::string_view> names;
    for (size_t i = 0; i < profiles.profiles.size(); ++i) {
      if (profiles.profiles[i].name == name) {
        profiles.default_profile = static_cast<uint32_t>(i);
      }
      names.push_back(profiles.profiles[i].name);
    }
    if (!profiles.default_profile) {
      fail(*default_field, "names no profile: " + quote(name) + " (profiles: " + join(names) + ")");
    }
  }
  action.profiles = std::move(profiles);
}

RouteAction load_aggregate(const Loader& loader, const Field& f, const RouteMatch& match,
                           RouteRefs& refs) {
  return AggregateLoader(loader).load(f, match, refs);
}

}  // namespace ringgate::config_detail
