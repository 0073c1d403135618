// The pass that runs once every section is parsed: what one section names in another is
// resolved here (clusters, rate limits, issuers, key sets), what depends on more than one
// section is derived here (the jwks.NAME clusters, scope bits, claim indexes, dropped headers,
// backend stages), and what no single section can see is checked here (listener overlap, the
// redis timeout). Keeping it out of the section parsers is what lets each of them fill only its
// own part of Config; the checks run in the order the parts were read, route by route.

#include <arpa/inet.h>

#include <algorithm>
#include <variant>

#include "config/sections.h"
#include "ringgate/net/address.h"

namespace ringgate::config_detail {
namespace {

class Validator : public Loader {
 public:
  Validator(const Loader& loader, const References& refs) : Loader(loader), refs_(refs) {}

  void run(Config& config, const References& refs) const;

 private:
  void check_listener_overlap(const Config& config, bool admin_listen_given) const;
  void check_redis(const Config& config, const References& refs) const;
  // The `jwks.NAME` cluster of each issuer with a jwks_url, after the clusters of `upstreams:`.
  void add_jwks_clusters(Config& config, const References& refs) const;
  void resolve_route(Config& config, RouteConfig& route, const RouteRefs& refs) const;
  void resolve_route_auth(Config& config, RouteConfig& route, const RouteRefs& refs) const;
  void resolve_rate_limits(Config& config, RouteConfig& route, const RouteRefs& refs) const;
  void resolve_action(Config& config, RouteConfig& route, const RouteRefs& refs) const;
  void resolve_cache(Config& config, RouteConfig& route, const RouteRefs& refs) const;
  // The index in Config::caches of the cache `ref` names.
  uint32_t resolve_cache(const Config& config, const NameRef& ref) const;
  // The index in Config::upstreams of the cluster `ref` names.
  uint32_t resolve_cluster(const Config& config, const NameRef& ref) const;
  // The index of `claim` in the issuer's rules.forward, added (as a value only) if absent.
  uint32_t extract_claim(JwtIssuerConfig& issuer, const std::string& claim, const Field& f) const;
  // stage and stage_count from depends_on; a cycle is reported where its first backend reads
  // the next one.
  void plan_backends(const RouteRefs& refs, AggregateAction& action) const;
  // An unknown `name` of a kind whose entry or section failed to load has been reported
  // already: abandon the route that names it.
  static void skip_if_failed(const References::Failed& failed, const std::string& name) {
    if (failed.has(name)) {
      skip();
    }
  }

  const References& refs_;
};

// Each check and each route is a part of its own (Loader::recover): a problem in one is recorded
// and the next one checked. A check that needs a section that failed to load is left out.
void Validator::run(Config& config, const References& refs) const {
  if (!refs.server_failed && !refs.admin_failed) {
    recover([&] { check_listener_overlap(config, refs.admin_listen_given); });
  }
  if (!refs.redis_failed) {
    recover([&] { check_redis(config, refs); });
  }
  // Before the routes: a route may name a `jwks.NAME` cluster.
  add_jwks_clusters(config, refs);
  for (size_t i = 0; i < config.routes.size(); ++i) {
    recover([&] { resolve_route(config, config.routes[i], refs.routes[i]); });
  }
}

// Two sockets on one port where one address covers the other would either fail to bind or, with
// SO_REUSEPORT, silently split connections between the gateway and the admin server.
void Validator::check_listener_overlap(const Config& config, bool admin_listen_given) const {
  struct Bound {
    SocketAddress address;
    std::string name;
    SourceMark mark;
  };
  std::vector<Bound> bound;
  auto add = [&](const std::string& text, std::string name, const SourceMark& mark) {
    Bound b{{}, std::move(name), mark};
    parse_socket_address(text, b.address);  // already validated
    if (b.address.port() == 0) {
      return;  // each socket gets its own free port; no clash possible
    }
    const std::string here = b.address.to_string();
    const std::string any =
        (b.address.family() == AF_INET ? "0.0.0.0:" : "[::]:") + std::to_string(b.address.port());
    for (const Bound& earlier : bound) {
      const std::string there = earlier.address.to_string();
      if (earlier.address.family() == b.address.family() &&
          earlier.address.port() == b.address.port() &&
          (here == there || here == any || there == any)) {
        throw ConfigError(mark,
                          b.name + ": " + here + " overlaps " + earlier.name + " (" + there + ")");
      }
    }
    bound.push_back(std::move(b));
  };
  // The admin address goes first so that a clash with its default is reported at the server
  // listener, the line the user actually wrote.
  if (config.admin.enabled) {
    add(config.admin.listen,
        admin_listen_given ? "admin.listen" : "admin.listen (default " + config.admin.listen + ")",
        config.admin.mark);
  }
  for (size_t i = 0; i < config.server.listen.size(); ++i) {
    add(config.server.listen[i].address, "server.listen[" + std::to_string(i) + "]",
        config.server.listen[i].mark);
  }
}

void Validator::check_redis(const Config& config, const References& refs) const {
  const Duration request_timeout = config.server.limits.request_timeout;
  if (refs.redis_timeout && !refs.server_failed && config.redis.timeout >= request_timeout) {
    // A request waits for its lease: the wait must end (on_error) before the request does.
    fail(*refs.redis_timeout, "redis.timeout (" + std::to_string(config.redis.timeout.count()) +
                                  "ms) must be shorter than server.limits.request_timeout (" +
                                  std::to_string(request_timeout.count()) + "ms)");
  }
  if (!config.redis.enabled && !refs.redis_backends.empty()) {
    fail(refs.redis_backends.front(),
         "backend: redis needs a top-level 'redis:' section (e.g. redis: {address: "
         "\"127.0.0.1:6379\"})");
  }
}

void Validator::add_jwks_clusters(Config& config, const References& refs) const {
  for (const References::JwksSource& source : refs.jwks) {
    JwtIssuerConfig& j = config.jwt_issuers[source.issuer];
    UpstreamConfig up;
    up.name = "jwks." + j.name;
    EndpointConfig ep;
    ep.address = source.endpoint;
    ep.mark = source_mark(source.url.mark);
    up.endpoints.push_back(ep);
    up.keepalive = 2;
    up.tls = source.tls;
    up.mark = source_mark(source.url.mark);
    recover([&] {
      for (const UpstreamConfig& other : config.upstreams) {
        if (other.name == up.name) {
          fail(source.url, "an upstream is already named " + quote(up.name));
        }
      }
      j.jwks_cluster = static_cast<uint32_t>(config.upstreams.size());
      config.upstreams.push_back(std::move(up));
    });
  }
}

// In the order the route's parts were read: its auth, its rate limits, its action.
void Validator::resolve_route(Config& config, RouteConfig& route, const RouteRefs& refs) const {
  resolve_route_auth(config, route, refs);
  resolve_rate_limits(config, route, refs);
  resolve_action(config, route, refs);
  resolve_cache(config, route, refs);
}

uint32_t Validator::resolve_cache(const Config& config, const NameRef& ref) const {
  for (size_t i = 0; i < config.caches.size(); ++i) {
    if (config.caches[i].name == ref.name) {
      return static_cast<uint32_t>(i);
    }
  }
  skip_if_failed(refs_.caches, ref.name);
  std::vector<std::string_view> defined;
  for (const CacheConfig& cache : config.caches) {
    defined.push_back(cache.name);
  }
  fail(ref.field, "unknown cache " + quote(ref.name) +
                      (defined.empty() ? " (no 'caches:' are defined; e.g. caches: {default: "
                                         "{memory: 256MiB}})"
                                       : " (defined: " + join(defined) + ")"));
}

void Validator::resolve_cache(Config& config, RouteConfig& route, const RouteRefs& refs) const {
  if (!route.cache || !refs.cache) {
    return;
  }
  RouteCacheConfig& c = *route.cache;
  const NameRef& ref = *refs.cache;
  c.cache_index = resolve_cache(config, ref);
  if (std::holds_alternative<DirectResponse>(route.action)) {
    fail(ref.field, "a direct route's response is built in: it needs no cache");
  }
  if (std::holds_alternative<AggregateAction>(route.action) &&
      c.stale_while_revalidate.count() > 0) {
    fail(ref.field,
         "stale_while_revalidate: an aggregate route's merged answer is not refreshed in the "
         "background; give its backends a cache instead");
  }
  if (c.consumer) {
    if (route.auth.api_key < 0 && route.auth.jwt < 0) {
      fail(ref.field, "key.consumer keys on the caller: the route needs auth.api_key or auth.jwt");
    }
    if (route.auth.api_key < 0) {
      c.consumer_claim = static_cast<int32_t>(
          extract_claim(config.jwt_issuers[static_cast<size_t>(route.auth.jwt)], "sub", ref.field));
    }
  }
}

void Validator::resolve_route_auth(Config& config, RouteConfig& route,
                                   const RouteRefs& refs) const {
  if (refs.api_key) {
    const std::vector<ApiKeyConfig>& api_keys = config.api_keys;
    const std::string& name = refs.api_key->name;
    size_t i = 0;
    while (i < api_keys.size() && api_keys[i].name != name) {
      ++i;
    }
    if (i == api_keys.size()) {
      skip_if_failed(refs_.key_sets, name);
      fail(refs.api_key->field, "unknown API-key set " + quote(name) + " (auth.api_keys)");
    }
    route.auth.api_key = static_cast<int32_t>(i);
    if (!api_keys[i].consumer_header.empty()) {
      route.auth.drop_headers.push_back(api_keys[i].consumer_header);
    }
  }
  if (!refs.jwt) {
    return;
  }
  std::vector<JwtIssuerConfig>& issuers = config.jwt_issuers;
  const std::string& name = refs.jwt->name;
  size_t i = 0;
  while (i < issuers.size() && issuers[i].name != name) {
    ++i;
  }
  if (i == issuers.size()) {
    skip_if_failed(refs_.issuers, name);
    std::string known;
    for (const JwtIssuerConfig& j : issuers) {
      known += (known.empty() ? "" : ", ") + j.name;
    }
    fail(refs.jwt->field,
         "unknown JWT issuer " + quote(name) +
             (known.empty() ? " (auth.jwt defines none)" : " (defined: " + known + ")"));
  }
  route.auth.jwt = static_cast<int32_t>(i);
  for (const std::string& h : issuers[i].forward_headers) {
    if (!h.empty()) {
      route.auth.drop_headers.push_back(h);
    }
  }
  // The scopes the issuer's routes require, together, are its rules.scopes: a route's scopes
  // are bits of it.
  std::vector<std::string>& scopes = issuers[i].rules.scopes;
  for (const NameRef& scope : refs.scopes) {
    size_t bit = 0;
    while (bit < scopes.size() && scopes[bit] != scope.name) {
      ++bit;
    }
    if (bit == scopes.size()) {
      if (scopes.size() == 64) {
        fail(scope.field, "an issuer's routes may require at most 64 different scopes");
      }
      scopes.push_back(scope.name);
    }
    route.auth.scopes |= uint64_t{1} << bit;
  }
}

void Validator::resolve_rate_limits(Config& config, RouteConfig& route,
                                    const RouteRefs& refs) const {
  const std::vector<RateLimitPolicy>& policies = config.rate_limits;
  for (size_t i = 0; i < policies.size(); ++i) {
    if (policies[i].global) {
      route.rate_limits.push_back(static_cast<uint32_t>(i));
    }
  }
  for (const NameRef& ref : refs.rate_limits) {
    const std::string& name = ref.name;
    const Field& item = ref.field;
    size_t i = 0;
    while (i < policies.size() && policies[i].name != name) {
      ++i;
    }
    if (i == policies.size()) {
      skip_if_failed(refs_.policies, name);
      std::string known;
      for (const RateLimitPolicy& p : policies) {
        known += (known.empty() ? "" : ", ") + p.name;
      }
      fail(item,
           "unknown rate limit " + quote(name) +
               (known.empty() ? " (no rate_limits are defined)" : " (defined: " + known + ")"));
    }
    if (policies[i].global) {
      continue;  // already checked for every route
    }
    for (uint32_t earlier : route.rate_limits) {
      if (earlier == i) {
        fail(item, "rate limit " + quote(name) + " is listed twice");
      }
    }
    const RateLimitPolicy::Key key = policies[i].key;
    if (key == RateLimitPolicy::Key::kConsumer && route.auth.api_key < 0) {
      fail(item, "rate limit " + quote(name) + " is per consumer: the route needs auth.api_key");
    }
    if (key == RateLimitPolicy::Key::kClaim && route.auth.jwt < 0) {
      fail(item, "rate limit " + quote(name) + " is per JWT claim: the route needs auth.jwt");
    }
    route.rate_limits.push_back(static_cast<uint32_t>(i));
  }
  // A claim-keyed policy reads its claim from the route's issuer: the issuer extracts it with
  // the claims it forwards (as a value only, when it is not forwarded as a header).
  for (uint32_t policy : route.rate_limits) {
    const RateLimitPolicy& p = policies[policy];
    int32_t claim_index = -1;
    if (p.key == RateLimitPolicy::Key::kClaim) {
      JwtIssuerConfig& issuer = config.jwt_issuers[static_cast<size_t>(route.auth.jwt)];
      claim_index = static_cast<int32_t>(extract_claim(issuer, p.claim, refs.route));
    }
    route.rate_limit_claims.push_back(claim_index);
  }
}

void Validator::resolve_action(Config& config, RouteConfig& route, const RouteRefs& refs) const {
  if (auto* upstream = std::get_if<UpstreamAction>(&route.action)) {
    upstream->cluster_index = resolve_cluster(config, *refs.cluster);
    return;
  }
  auto* aggregate = std::get_if<AggregateAction>(&route.action);
  if (!aggregate) {
    return;
  }
  // A {claim.NAME} placeholder, like a claim-keyed rate limit, reads a value the route's issuer
  // extracts; claims are added in the order the placeholders were read.
  bool claims = false;
  for (size_t b = 0; b < aggregate->backends.size(); ++b) {
    aggregate->backends[b].cluster_index = resolve_cluster(config, refs.backends[b].cluster);
    if (refs.backends[b].cache) {
      aggregate->backends[b].cache->cache_index = resolve_cache(config, *refs.backends[b].cache);
    }
    for (const NameRef& claim : refs.backends[b].claims) {
      if (route.auth.jwt < 0) {
        fail(claim.field, "placeholder " + quote("{claim." + claim.name + "}") +
                              " reads the verified JWT: the route needs auth.jwt");
      }
      extract_claim(config.jwt_issuers[static_cast<size_t>(route.auth.jwt)], claim.name,
                    claim.field);
      claims = true;
    }
  }
  if (claims) {
    const std::vector<std::string>& names =
        config.jwt_issuers[static_cast<size_t>(route.auth.jwt)].rules.forward;
    const auto set_indexes = [&](AggregateTemplate& t) {
      for (TemplatePiece& piece : t.pieces) {
        if (piece.kind == TemplatePiece::Kind::kClaim) {
          piece.index = static_cast<uint32_t>(std::find(names.begin(), names.end(), piece.text) -
                                              names.begin());
        }
      }
    };
    for (AggregateBackend& b : aggregate->backends) {
      set_indexes(b.path);
      for (AggregateParam& param : b.query) {
        set_indexes(param.value);
      }
      for (AggregateParam& param : b.headers) {
        set_indexes(param.value);
      }
      if (b.body) {
        set_indexes(*b.body);
      }
    }
  }
  plan_backends(refs, *aggregate);
}

uint32_t Validator::resolve_cluster(const Config& config, const NameRef& ref) const {
  const std::string& name = ref.name;
  std::vector<std::string_view> defined;
  for (size_t i = 0; i < config.upstreams.size(); ++i) {
    const UpstreamConfig& up = config.upstreams[i];
    if (up.name == name) {
      return static_cast<uint32_t>(i);
    }
    defined.push_back(up.name);
  }
  skip_if_failed(refs_.clusters, name);
  std::string quoted = quote(name);
  quoted.front() = '"';
  quoted.back() = '"';
  fail(ref.field,
       "unknown upstream " + quoted +
           (defined.empty() ? " (no upstreams are defined)" : " (defined: " + join(defined) + ")"));
}

uint32_t Validator::extract_claim(JwtIssuerConfig& issuer, const std::string& claim,
                                  const Field& f) const {
  std::vector<std::string>& names = issuer.rules.forward;
  size_t k = 0;
  while (k < names.size() && names[k] != claim) {
    ++k;
  }
  if (k == names.size()) {
    if (names.size() == kMaxJwtValues) {
      fail(f, "issuer " + quote(issuer.name) + " would extract more than " +
                  std::to_string(kMaxJwtValues) +
                  " claims (forwarded, rate-limit keys and templates)");
    }
    names.push_back(claim);
    issuer.forward_headers.emplace_back();  // a value only, not a header
  }
  return static_cast<uint32_t>(k);
}

void Validator::plan_backends(const RouteRefs& refs, AggregateAction& action) const {
  std::vector<AggregateBackend>& backends = action.backends;
  // Depth first from each backend in order; a dependency met again while still on the path closes
  // a cycle. At most kMaxBackends deep.
  enum class State : uint8_t { kNew, kOnPath, kDone };
  std::vector<State> state(backends.size(), State::kNew);
  std::vector<uint32_t> path;
  const auto visit = [&](const auto& self, uint32_t i) -> void {
    state[i] = State::kOnPath;
    path.push_back(i);
    uint32_t stage = 0;
    for (uint32_t d : backends[i].depends_on) {
      if (state[d] == State::kOnPath) {
        const std::vector<uint32_t> cycle(std::find(path.begin(), path.end(), d), path.end());
        std::string names;
        for (uint32_t c : cycle) {
          names += backends[c].key + " → ";
        }
        names += backends[cycle.front()].key;
        // Reported where the cycle's first backend reads the next one (it always does: its
        // depends_on came from these reads).
        const uint32_t next = cycle.size() > 1 ? cycle[1] : cycle[0];
        const auto& reads = refs.backends[cycle.front()].reads;
        const auto read = std::find_if(reads.begin(), reads.end(),
                                       [&](const auto& r) { return r.first == next; });
        fail(read != reads.end() ? read->second : reads.front().second,
             "backends " + names + " form a cycle");
      }
      if (state[d] == State::kNew) {
        self(self, d);
      }
      stage = std::max(stage, backends[d].stage + 1);
    }
    backends[i].stage = stage;
    action.stage_count = std::max(action.stage_count, stage + 1);
    state[i] = State::kDone;
    path.pop_back();
  };
  for (uint32_t i = 0; i < backends.size(); ++i) {
    if (state[i] == State::kNew) {
      visit(visit, i);
    }
  }
}

}  // namespace

void validate(const Loader& loader, Config& config, const References& refs) {
  Validator(loader, refs).run(config, refs);
}

}  // namespace ringgate::config_detail
