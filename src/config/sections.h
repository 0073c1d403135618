#pragma once
// The sections of a config and the pass that joins them. Each section parser fills only its own
// part of Config; what it names in another section it leaves, with the field to blame, in
// References, which validate() resolves once every section is parsed. So a section can be read,
// tested and changed without knowing which sections were parsed before it.

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "config/loader.h"
#include "ringgate/config/config.h"

namespace ringgate::config_detail {

constexpr size_t kMaxJwtValues = 16;  // claims an issuer extracts (ShardJwtAuth::kMaxValues)

// A name given in one section for an entry of another, and the field to point at when there is
// no such entry.
struct NameRef {
  Field field;
  std::string name;
};

// What one route names in other sections, left by the route parser for validate().
struct RouteRefs {
  Field route;                       // the route itself
  std::optional<NameRef> api_key;    // auth.api_key
  std::optional<NameRef> jwt;        // auth.jwt
  std::vector<NameRef> scopes;       // auth.scopes, in order
  std::vector<NameRef> rate_limits;  // rate_limit, in order
  std::optional<NameRef> cluster;    // an upstream action's
  std::optional<NameRef> cache;      // cache.use
  // One per backend of an aggregate action.
  struct Backend {
    NameRef cluster;
    std::optional<NameRef> cache;  // cache.use
    std::vector<NameRef> claims;   // {claim.NAME} placeholders, in the order they were read
    // The backends it reads, each with where it first reads it (where a cycle through it is
    // reported).
    std::vector<std::pair<uint32_t, Field>> reads;
  };
  std::vector<Backend> backends;
};

// The cross-section references and checks that the section parsers leave for validate(): a
// parser fills only its own part of Config, so whatever depends on another section waits here
// until every section is parsed.
struct References {
  // What failed to load, so that what names it or depends on it is not reported again.
  struct Failed {
    bool all = false;                // the whole section failed
    std::vector<std::string> names;  // entries whose own problem was reported
    bool has(const std::string& name) const {
      return all || std::find(names.begin(), names.end(), name) != names.end();
    }
  };
  Failed clusters;  // upstreams (and the jwks.NAME clusters of failed issuers)
  Failed policies;  // rate_limits
  Failed issuers;   // auth.jwt
  Failed key_sets;  // auth.api_keys
  Failed caches;    // caches
  bool server_failed = false;
  bool admin_failed = false;
  bool redis_failed = false;

  bool admin_listen_given = false;  // else a clash names the default admin address
  // redis.timeout, or the redis section when it gives none: it must be shorter than
  // server.limits.request_timeout.
  std::optional<Field> redis_timeout;
  std::vector<Field> redis_backends;  // `backend: redis` of the rate limits, in order
  // An issuer with a jwks_url, whose keys come from a cluster of its own, `jwks.NAME`.
  struct JwksSource {
    uint32_t issuer = 0;   // index into Config::jwt_issuers
    Field url;             // jwks_url
    std::string endpoint;  // the URL's host:port (port 80, or 443 for https, when it gives none)
    std::shared_ptr<const TlsUpstreamConfig> tls;  // https: jwks_tls, or verification defaults
  };
  std::vector<JwksSource> jwks;
  std::vector<RouteRefs> routes;  // one per route
};

// Section parsers, in the order load_document() (loader.cc) calls them. Each reads one
// top-level key. Those of named entries (clusters, policies, issuers, key sets, routes) go on
// past an entry with a problem (Loader::recover), noting its name in `refs` as failed.

void load_server(const Loader& loader, const Field& f, ServerConfig& server);
// A listener's `tls:` map; builds its contexts (so a bad certificate is reported here).
std::shared_ptr<const TlsListenConfig> load_listener_tls(const Loader& loader, const Field& f);
// A cluster's `tls:` map; builds its client context (a bad CA or client key is reported here).
// `h2`: the cluster speaks HTTP/2 (its client offers ALPN h2).
std::shared_ptr<const TlsUpstreamConfig> load_upstream_tls(const Loader& loader, const Field& f,
                                                           bool h2 = false);
// TLS with every default (verified against the system's store); a failure is reported at `f`.
std::shared_ptr<const TlsUpstreamConfig> default_upstream_tls(const Loader& loader, const Field& f);
// Returns whether `listen` was given.
bool load_admin(const Loader& loader, const Field& f, AdminConfig& admin);
void load_aggregate_budget(const Loader& loader, const Field& f, AggregateBudgetConfig& budget);
void load_overload(const Loader& loader, const Field& f, OverloadConfig& overload);
void load_logging(const Loader& loader, const Field& f, LoggingConfig& logging);
void load_upstreams(const Loader& loader, const Field& f, std::vector<UpstreamConfig>& upstreams,
                    References& refs);
void load_redis(const Loader& loader, const Field& f, RedisConfig& redis, References& refs);
void load_rate_limits(const Loader& loader, const Field& f, std::vector<RateLimitPolicy>& policies,
                      References& refs);
void load_auth(const Loader& loader, const Field& f, std::vector<JwtIssuerConfig>& issuers,
               std::vector<ApiKeyConfig>& api_keys, References& refs);
void load_routes(const Loader& loader, const Field& f, std::vector<RouteConfig>& routes,
                 References& refs);
void load_caches(const Loader& loader, const Field& f, std::vector<CacheConfig>& caches,
                 References& refs);

// Parts of a route that other files own.

// Route filter keys, dispatched by kFilters in routes.cc: `rate_limit:` (rate_limits.cc, with
// the policies it names) and `auth:` (auth.cc, with the issuers and key sets it names).
void load_route_rate_limit(const Loader& loader, const Field& f, RouteConfig& route,
                           RouteRefs& refs);
void load_route_auth(const Loader& loader, const Field& f, RouteConfig& route, RouteRefs& refs);
// `cors:` (cors.cc).
void load_route_cors(const Loader& loader, const Field& f, RouteConfig& route, RouteRefs& refs);
// `cache:` (caches.cc).
void load_route_cache(const Loader& loader, const Field& f, RouteConfig& route, RouteRefs& refs);
// The `aggregate:` action (aggregate.cc).
RouteAction load_aggregate(const Loader& loader, const Field& f, const RouteMatch& match,
                           RouteRefs& refs);

// Resolves `refs` into `config`, derives what depends on more than one section, and checks what
// no single section can (validate.cc). Problems are recorded route by route and check by check;
// what depends on a part that failed to load is left unchecked.
void validate(const Loader& loader, Config& config, const References& refs);

// "file:line: warning: ..." for each route that no request can reach because an earlier route
// takes every request it would (shadow.cc).
std::vector<std::string> shadowed_routes(const std::vector<RouteConfig>& routes);

}  // namespace ringgate::config_detail
