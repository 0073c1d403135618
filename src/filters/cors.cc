// cors: a route with `cors:` answers browsers' CORS preflights itself (they never reach the
// upstream) and marks its responses for the origins it allows; the route's upstream has no say in
// CORS (its Access-Control-Allow-* headers are dropped). Every response of the route carries
// `Vary: Origin`, so a cache never serves one origin's answer to another.

#include <cstring>

#include "ringgate/core/method.h"
#include "ringgate/filters/registry.h"
#include "ringgate/http/forward.h"

namespace ringgate {

namespace {

// What the filter learned about one request (in its arena).
struct CorsState {
  enum class Kind : uint8_t { kAllowed, kPreflight };
  Kind kind = Kind::kAllowed;
  std::string_view origin;  // the request's Origin, as the response names it
};

bool contains(const std::vector<std::string>& list, std::string_view item) {
  for (const std::string& s : list) {
    if (s == item) {
      return true;
    }
  }
  return false;
}

// Request headers a page may send without asking (Fetch: CORS-safelisted request headers).
bool safelisted_header(std::string_view lower) {
  return lower == "accept" || lower == "accept-language" || lower == "content-language" ||
         lower == "content-type";
}

bool safelisted_method(std::string_view method) {
  return method == "GET" || method == "HEAD" || method == "POST";
}

class CorsFilter final : public Filter {
 public:
  CorsFilter(const RouteConfig& route, size_t slot)
      : config_(*route.cors), slot_(slot), allow_line_(allow_line(route)) {}

  std::string_view name() const override { return "cors"; }
  uint8_t phases() const override { return kOnRequest | kOnResponse; }

  FilterStatus on_request(Exchange& x) override {
    const RequestParser& r = x.request();
    const std::string_view origin = r.header("origin");
    const std::string_view wanted_method = r.header("access-control-request-method");
    const bool options = r.method() == HTTP_OPTIONS;
    if (options && (origin.empty() || wanted_method.empty()) && config_.options_added) {
      // The route takes OPTIONS only for preflights.
      x.error = Error::client(ErrorKind::kMethodNotAllowed);
      x.error_headers = allow_line_;
      return FilterStatus::kReply;
    }
    if (origin.empty() || !origin_allowed(origin)) {
      if (options && !origin.empty() && !wanted_method.empty()) {
        x.error = Error::client(ErrorKind::kCorsRefused);  // no CORS headers: the browser stops
        return FilterStatus::kReply;
      }
      return FilterStatus::kContinue;  // not a CORS request, or not an origin this route allows
    }
    auto* state = x.arena().make<CorsState>();
    if (!state || !x.set_filter_state(slot_, state)) {
      return FilterStatus::kContinue;  // no room to remember it: treated as not allowed
    }
    state->origin = x.arena().copy(origin);
    if (!options || wanted_method.empty()) {
      return FilterStatus::kContinue;  // an actual request: marked on the way out
    }
    if (!method_allowed(wanted_method) ||
        !headers_allowed(r.header("access-control-request-headers"))) {
      x.set_filter_state(slot_, nullptr);
      x.error = Error::client(ErrorKind::kCorsRefused);
      return FilterStatus::kReply;
    }
    state->kind = CorsState::Kind::kPreflight;
    x.reply.status = 204;  // the headers come in the response phase, like every response's
    return FilterStatus::kReply;
  }

  void on_response(Exchange& x, ResponseHead& head) override {
    // The gateway speaks for the route: what the upstream says about CORS does not pass.
    head.drop("access-control-allow-origin");
    head.drop("access-control-allow-credentials");
    head.drop("access-control-expose-headers");
    const auto* state = static_cast<const CorsState*>(x.filter_state(slot_));
    if (!state) {
      head.add("Vary", "Origin");
      return;
    }
    head.add("Access-Control-Allow-Origin", state->origin);
    if (config_.allow_credentials) {
      head.add("Access-Control-Allow-Credentials", "true");
    }
    if (state->kind == CorsState::Kind::kAllowed) {
      if (!config_.expose_value.empty()) {
        head.add("Access-Control-Expose-Headers", config_.expose_value);
      }
      head.add("Vary", "Origin");
      return;
    }
    head.add("Access-Control-Allow-Methods", config_.methods_value);
    if (!config_.headers_value.empty()) {
      head.add("Access-Control-Allow-Headers", config_.headers_value);
    }
    if (!config_.max_age_value.empty()) {
      head.add("Access-Control-Max-Age", config_.max_age_value);
    }
    head.add("Vary", "Origin, Access-Control-Request-Method, Access-Control-Request-Headers");
  }

 private:
  bool origin_allowed(std::string_view origin) const {
    return config_.any_origin || contains(config_.allow_origins, origin);
  }

  bool method_allowed(std::string_view method) const {
    return safelisted_method(method) || contains(config_.allow_methods, method);
  }

  // Access-Control-Request-Headers: a comma-separated list of lower-case names.
  bool headers_allowed(std::string_view list) const {
    while (!list.empty()) {
      const size_t comma = list.find(',');
      const std::string_view item = trim_ows(list.substr(0, comma));
      list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
      char lower[128];
      if (item.size() > sizeof lower) {
        return false;
      }
      for (size_t i = 0; i < item.size(); ++i) {
        const char c = item[i];
        lower[i] = c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c;
      }
      const std::string_view name(lower, item.size());
      if (!name.empty() && !safelisted_header(name) && !contains(config_.allow_headers, name)) {
        return false;
      }
    }
    return true;
  }

  // The 405's Allow line: the route's own methods (GET brings HEAD, as the router has it).
  static std::string allow_line(const RouteConfig& route) {
    std::string line = "Allow: ";
    bool first = true;
    auto add = [&](std::string_view m) {
      line.append(first ? "" : ", ").append(m);
      first = false;
    };
    for (const std::string& m : route.match.methods) {
      if (m != "OPTIONS") {  // added for preflights only
        add(m);
      }
      if (m == "GET" && !contains(route.match.methods, "HEAD")) {
        add("HEAD");
      }
    }
    return line.append("\r\n");
  }

  const CorsConfig& config_;
  size_t slot_;
  std::string allow_line_;
};

}  // namespace

std::unique_ptr<Filter> make_cors_filter(const RouteConfig& route, FilterServices& shard) {
  if (!route.cors) {
    return nullptr;
  }
  return std::make_unique<CorsFilter>(route, shard.position);
}

}  // namespace ringgate
