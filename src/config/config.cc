// YAML → validated Config. The schema and every default are documented in conf/ringgate.yaml.
//
// Every problem is reported as "FILE:LINE:COLUMN: path.to.key: reason", pointing at the offending
// key or value, and the first problem ends the load: a gateway must not start on a config that
// says something other than what its author meant.

#include "ringgate/config/config.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <unistd.h>
#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <optional>
#include <string_view>
#include <utility>
#include <variant>

#include "config/loader.h"
#include "ringgate/core/method.h"
#include "ringgate/core/path_flags.h"
#include "ringgate/net/address.h"

namespace ringgate {
namespace config_detail {
namespace {

// Bounds. Each one is documented next to its option in conf/ringgate.yaml.
constexpr uint32_t kMaxWorkers = 1024;
constexpr uint64_t kMinBufferSize = 1 * kKiB;
constexpr uint64_t kMaxBufferSize = 64 * kKiB;  // buffer offsets are 16-bit
constexpr uint32_t kMaxBufferCount = 32768;     // kernel limit on a provided-buffer ring
constexpr uint64_t kMinRequestLine = 64;        // room for a method, a short target and the version
constexpr uint64_t kMinHeaderBytes = 1 * kKiB;
constexpr uint64_t kMaxHeaderBytes = 64 * kKiB;
constexpr uint32_t kMaxHeaders = 1000;
constexpr uint64_t kMaxBodyBytes = 1 * kTiB;
constexpr uint32_t kMaxConnections = 1 << 20;  // a typical hard RLIMIT_NOFILE
constexpr Duration kMaxDrainTimeout{60 * 60 * 1000};
// Waiting longer than this for a batch costs more latency than any batch saves.
constexpr uint64_t kMaxBatchWaitUs = 10000;
constexpr uint32_t kMinRingEntries = 64;
constexpr uint32_t kMaxRingEntries = 32768;  // IORING_MAX_ENTRIES
constexpr uint32_t kMaxBacklog = 65535;
constexpr size_t kMaxServerHeader = 256;
constexpr size_t kMaxRouteName = 128;
// Upstream clusters.
constexpr uint64_t kMaxRateTokens = 1000000000;  // per period; also the largest burst
constexpr size_t kMaxJwtValues = 16;  // claims an issuer extracts (ShardJwtAuth::kMaxValues)
constexpr uint32_t kMaxTrustedHops = 16;
constexpr uint32_t kMaxEndpointWeight = 1000;
constexpr uint32_t kMaxKeepalive = 100000;
constexpr uint32_t kMaxRequestsPerConnection = 10000000;
constexpr uint32_t kMaxCircuitLimit = 10000000;
constexpr uint32_t kMaxConsecutive = 1000;  // outlier and circuit failure counts
constexpr uint32_t kMaxThreshold = 100;     // health check pass/fail streaks
constexpr uint32_t kMaxRetryConcurrency = 100000;
constexpr uint32_t kMaxRetries = 10;
constexpr Duration kMaxConnectTimeout{5 * 60 * 1000};
constexpr Duration kMinHealthInterval{100};
// Aggregation.
// The aggregation engine has not landed: until it does, `aggregate:` routes are validated in full
// and then refused, because the server would otherwise answer them as something else.
constexpr size_t kMaxBackends = 64;
constexpr size_t kMaxBackendKey = 64;
constexpr size_t kMaxProfileName = 64;
constexpr uint64_t kMaxAggregateBody = 64 * kMiB;
constexpr uint32_t kMaxAggregateDepth = 1024;
constexpr uint32_t kMaxAggregateElements = 10000000;
// An index at or past the element limit could never be found in a body the engine accepts.
constexpr uint32_t kMaxPathIndex = kMaxAggregateElements - 1;
constexpr uint32_t kMaxForEachConcurrency = 256;
constexpr uint32_t kMaxForEachItems = 10000;

// The whole file at `path`; false (errno set) when it cannot be opened or read.
bool read_whole_file(const std::string& path, std::string* out) {
  FILE* f = fopen(path.c_str(), "rb");
  if (!f) {
    return false;
  }
  char buf[8192];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
    out->append(buf, n);
  }
  const bool ok = !ferror(f);
  fclose(f);
  return ok;
}

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
  // One per backend of an aggregate action.
  struct Backend {
    NameRef cluster;
    std::vector<NameRef> claims;  // {claim.NAME} placeholders, in the order they were read
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
  bool admin_listen_given = false;  // else a clash names the default admin address
  // redis.timeout, or the redis section when it gives none: it must be shorter than
  // server.limits.request_timeout.
  std::optional<Field> redis_timeout;
  std::vector<Field> redis_backends;  // `backend: redis` of the rate limits, in order
  // An issuer with a jwks_url, whose keys come from a cluster of its own, `jwks.NAME`.
  struct JwksSource {
    uint32_t issuer = 0;   // index into Config::jwt_issuers
    Field url;             // jwks_url
    std::string endpoint;  // the URL's host:port (port 80 when it gives none)
  };
  std::vector<JwksSource> jwks;
  std::vector<RouteRefs> routes;  // one per route
};

// Every section of the config, for now in one class. The YAML walking core it builds on is in
// loader.h.
class SectionLoader : public Loader {
 public:
  explicit SectionLoader(std::string source) : Loader(std::move(source)) {}

  Config load(const YAML::Node& root);

  // Sections ---------------------------------------------------------------------------------

  void load_server(const Field& f, ServerConfig& server) const;
  void load_listen(const Field& f, std::vector<ListenConfig>& out) const;
  ListenConfig load_listener(const Field& f) const;
  void load_limits(const Field& f, const BufferConfig& buffers, const Field* buffers_field,
                   Limits& limits) const;
  // Returns whether `listen` was given.
  bool load_admin(const Field& f, AdminConfig& admin) const;
  void load_routes(const Field& f, std::vector<RouteConfig>& routes, References& refs) const;
  void load_rate_limits(const Field& f, std::vector<RateLimitPolicy>& policies,
                        References& refs) const;
  void load_redis(const Field& f, RedisConfig& redis, References& refs) const;
  void load_auth(const Field& f, std::vector<JwtIssuerConfig>& issuers,
                 std::vector<ApiKeyConfig>& api_keys, References& refs) const;
  ApiKeyConfig load_api_keys(const Field& f, std::string name, const YAML::Mark& key) const;
  // `jwks` gets the issuer's jwks_url when it has one.
  JwtIssuerConfig load_jwt_issuer(const Field& f, std::string name, const YAML::Mark& key,
                                  std::optional<References::JwksSource>& jwks) const;
  void load_route_auth(const Field& f, RouteConfig& route, RouteRefs& refs) const;
  RateLimitPolicy load_rate_limit(const Field& f, std::string name, const YAML::Mark& key,
                                  References& refs) const;
  RouteConfig load_route(const Field& f, size_t index, RouteRefs& refs) const;
  void load_match(const Field& f, RouteMatch& match) const;
  std::string load_path(const Field& f, RouteMatch::Kind kind) const;
  std::string load_host(const Field& f) const;
  std::vector<std::string> load_methods(const Field& f) const;

  // Upstream clusters ---------------------------------------------------------------------------

  void load_upstreams(const Field& f, std::vector<UpstreamConfig>& upstreams) const;
  UpstreamConfig load_upstream(const Field& f, std::string name, const YAML::Mark& key) const;
  void load_endpoints(const Field& f, std::vector<EndpointConfig>& endpoints) const;
  // `canonical` gets the address spelled so that duplicates compare equal.
  EndpointConfig load_endpoint(const Field& f, std::string& canonical) const;
  BalanceKind load_balance(const Field& f) const;
  HashKeyConfig load_hash_key(const Field& f) const;
  void load_health(const Field& f, HealthCheckConfig& health) const;
  void load_outlier(const Field& f, OutlierConfig& outlier) const;
  void load_circuit(const Field& f, CircuitConfig& circuit) const;
  void load_retry_budget(const Field& f, RetryBudgetConfig& budget) const;

  // Route actions -----------------------------------------------------------------------------
  //
  // A route has exactly one action, chosen by which of these keys it holds. A new action
  // (upstream, aggregate, ...) is an alternative in RouteAction (config.h), a parse function here
  // and one row in kActions below; nothing else in the loader changes. A parse function gets the
  // route's match, already loaded, for what depends on it (path parameters).

  RouteAction load_direct(const Field& f, const RouteMatch& match, RouteRefs& refs) const;
  void load_direct_headers(const Field& f, DirectResponse& direct) const;
  RouteAction load_upstream_action(const Field& f, const RouteMatch& match, RouteRefs& refs) const;
  std::string load_action_path(const Field& f) const;

  // The aggregate action ------------------------------------------------------------------------

  struct TemplateScope;
  struct BackendRefs;
  enum class TemplateUse : uint8_t { kPath, kQuery, kHeader, kBody };

  RouteAction load_aggregate(const Field& f, const RouteMatch& match, RouteRefs& refs) const;
  void load_backends(const Field& f, const RouteMatch& match, const Section& aggregate,
                     AggregateAction& action, RouteRefs& route_refs) const;
  // `scope` arrives with the keys and `self` set; for_each is filled in here.
  AggregateBackend load_backend(const Section& s, TemplateScope scope, const Section& aggregate,
                                const AggregateAction& action, BackendRefs& refs) const;
  void load_backend_params(const Field& f, TemplateUse use, const TemplateScope& scope,
                           BackendRefs& refs, std::vector<AggregateParam>& out) const;
  AggregateForEach load_for_each(const Field& f, const TemplateScope& scope,
                                 BackendRefs& refs) const;
  AggregateTemplate load_template(const Field& f, TemplateUse use, const TemplateScope& scope,
                                  BackendRefs& refs) const;
  TemplatePiece load_placeholder(const Field& f, std::string_view content,
                                 const TemplateScope& scope, BackendRefs& refs) const;
  // A standalone dotted path: pick's ("a.b[0]", "[0].a"), or with `filter` allow's and deny's
  // ("a[*].b": [*] at most once, no [N]).
  JsonPath load_json_path(const Field& f, std::string_view text, bool filter) const;
  // pick, allow, deny and rename of a backend or of a profile's override. `base` is what an
  // override changes (nullptr for a backend's own); `merge` is the backend's.
  AggregateProjection load_projection(const Section& s, const AggregateProjection* base,
                                      bool merge) const;
  // `fields` (when given) gets the field of each path, for messages.
  std::vector<JsonPath> load_path_list(const Field& f, std::vector<Field>* fields) const;
  std::vector<MemberRename> load_renames(const Field& f) const;
  std::vector<std::string> load_response_headers(const Field& f) const;
  void load_profiles(const Field& f, AggregateAction& action) const;
  AggregateProfiles::Select load_profile_select(const Field& f, std::string& name) const;
  // `default:` as JSON text.
  void append_json(const Field& f, std::string& out) const;
  void append_json_string(const Field& f, std::string_view text, std::string& out) const;

  struct ActionParser {
    std::string_view key;
    RouteAction (SectionLoader::*parse)(const Field&, const RouteMatch&, RouteRefs&) const;
  };
  static constexpr ActionParser kActions[] = {
      {"direct", &SectionLoader::load_direct},
      {"upstream", &SectionLoader::load_upstream_action},
      {"aggregate", &SectionLoader::load_aggregate},
  };

  // The validation pass ------------------------------------------------------------------------
  //
  // Runs once every section is parsed: resolves what one section names in another, derives what
  // depends on more than one, and checks what no single section can.

  void validate(Config& config, const References& refs) const;
  void check_listener_overlap(const Config& config, bool admin_listen_given) const;
  void check_redis(const Config& config, const References& refs) const;
  // The `jwks.NAME` cluster of each issuer with a jwks_url, after the clusters of `upstreams:`.
  void add_jwks_clusters(Config& config, const References& refs) const;
  void resolve_route(Config& config, RouteConfig& route, const RouteRefs& refs) const;
  void resolve_route_auth(Config& config, RouteConfig& route, const RouteRefs& refs) const;
  void resolve_rate_limits(Config& config, RouteConfig& route, const RouteRefs& refs) const;
  void resolve_action(Config& config, RouteConfig& route, const RouteRefs& refs) const;
  // The index in Config::upstreams of the cluster `ref` names.
  uint32_t resolve_cluster(const Config& config, const NameRef& ref) const;
  // The index of `claim` in the issuer's rules.forward, added (as a value only) if absent.
  uint32_t extract_claim(JwtIssuerConfig& issuer, const std::string& claim, const Field& f) const;
  // stage and stage_count from depends_on; a cycle is reported where its first backend reads
  // the next one.
  void plan_backends(const RouteRefs& refs, AggregateAction& action) const;
};

Config SectionLoader::load(const YAML::Node& root) {
  Config config;
  config.source = source();
  Field top{root, "", root.Mark()};
  if (top.mark.is_null()) {
    top.mark = YAML::Mark();  // an empty document: point at its start
  }
  const Section section(*this, top,
                        {"server", "admin", "upstreams", "auth", "redis", "rate_limits", "routes"});

  const Field* server = section.find("server");
  if (server) {
    load_server(*server, config.server);
  }
  if (config.server.listen.empty()) {
    const Field& where = server ? *server : top;
    fail_at(where.mark,
            "server.listen: at least one listener is required, e.g. "
            "listen: \"0.0.0.0:8080\"");
  }
  References refs;
  const Field* admin = section.find("admin");
  if (admin) {
    refs.admin_listen_given = load_admin(*admin, config.admin);
  } else {
    config.admin.mark = source_mark(top.mark);
  }
  if (const Field* upstreams = section.find("upstreams")) {
    load_upstreams(*upstreams, config.upstreams);
  }
  if (const Field* redis = section.find("redis")) {
    load_redis(*redis, config.redis, refs);
  }
  if (const Field* rate_limits = section.find("rate_limits")) {
    load_rate_limits(*rate_limits, config.rate_limits, refs);
  }
  if (const Field* auth = section.find("auth")) {
    load_auth(*auth, config.jwt_issuers, config.api_keys, refs);
  }
  if (const Field* routes = section.find("routes")) {
    load_routes(*routes, config.routes, refs);
  }
  // Names given in one section for entries of another are resolved only now, so the sections
  // may come in any order in the file.
  validate(config, refs);
  return config;
}

void SectionLoader::load_server(const Field& f, ServerConfig& server) const {
  const Section s(
      *this, f,
      {"workers", "pin_cpus", "listen", "buffers", "limits", "drain_timeout", "server_header",
       "ring_entries", "backlog", "batch_wait", "trusted_hops", "hosts_file"});
  if (const Field* v = s.find("workers")) {
    if (v->node.IsScalar() && v->node.Scalar() == "auto") {
      server.workers = 0;
    } else if (v->node.IsScalar() && !v->node.Scalar().empty() &&
               v->node.Scalar().find_first_not_of("0123456789") == std::string::npos) {
      server.workers = static_cast<uint32_t>(read_number(*v, 1, kMaxWorkers));
    } else {
      fail(*v, "expected a number or 'auto', got " + describe(v->node));
    }
  }
  if (const Field* v = s.find("pin_cpus")) {
    server.pin_cpus = read_bool(*v);
  }
  if (const Field* v = s.find("listen")) {
    load_listen(*v, server.listen);
  }
  const Field* buffers = s.find("buffers");
  if (buffers) {
    const Section b(*this, *buffers, {"size", "count"});
    if (const Field* v = b.find("size")) {
      server.buffers.size = static_cast<uint32_t>(read_size(*v, kMinBufferSize, kMaxBufferSize));
    }
    if (const Field* v = b.find("count")) {
      server.buffers.count = read_power_of_two(*v, 1, kMaxBufferCount);
    }
  }
  if (const Field* v = s.find("limits")) {
    load_limits(*v, server.buffers, buffers, server.limits);
  } else {
    load_limits(Field{YAML::Node(), f.path + ".limits", f.mark}, server.buffers, buffers,
                server.limits);
  }
  if (const Field* v = s.find("drain_timeout")) {
    server.drain_timeout = read_duration(*v, Duration{0}, kMaxDrainTimeout);
  }
  if (const Field* v = s.find("batch_wait")) {
    const std::string text = scalar(*v, "a duration like 50us or 1ms");
    uint64_t us = 0;
    if (!parse_microseconds(text, us)) {
      fail(*v, "expected a duration like 50us or 1ms (units: us, ms, s), got " + quote(text));
    }
    if (us > kMaxBatchWaitUs) {
      fail(*v, "must be between 0us and 10ms, got " + text);
    }
    server.batch_wait_us = static_cast<uint32_t>(us);
  }
  if (const Field* v = s.find("server_header")) {
    server.server_header = read_string(*v);
    if (server.server_header.size() > kMaxServerHeader) {
      fail(*v, "longer than " + std::to_string(kMaxServerHeader) + " characters");
    }
    if (auto problem = field_value_problem(server.server_header)) {
      fail(*v, *problem);
    }
  }
  if (const Field* v = s.find("ring_entries")) {
    server.ring_entries = read_power_of_two(*v, kMinRingEntries, kMaxRingEntries);
  }
  if (const Field* v = s.find("backlog")) {
    server.backlog = static_cast<uint32_t>(read_number(*v, 1, kMaxBacklog));
  }
  if (const Field* v = s.find("trusted_hops")) {
    server.trusted_hops = static_cast<uint32_t>(read_number(*v, 0, kMaxTrustedHops));
  }
  if (const Field* v = s.find("hosts_file")) {
    server.hosts_file = read_string(*v);
    if (server.hosts_file.empty() || access(server.hosts_file.c_str(), R_OK) != 0) {
      fail(*v, "hosts_file \"" + server.hosts_file + "\" cannot be read");
    }
  }
}

// `listen` is a list of {address: ...} maps; a bare string, or a list of strings, is shorthand.
void SectionLoader::load_listen(const Field& f, std::vector<ListenConfig>& out) const {
  if (f.node.IsScalar() || f.node.IsMap()) {
    out.push_back(load_listener(f));
    return;
  }
  if (!f.node.IsSequence()) {
    fail(f, "expected an address, a list of addresses or a list of {address: ...} maps, got " +
                describe(f.node));
  }
  if (f.node.size() == 0) {
    fail(f, "at least one listener is required, e.g. listen: \"0.0.0.0:8080\"");
  }
  size_t i = 0;
  for (auto it = f.node.begin(); it != f.node.end(); ++it, ++i) {
    out.push_back(load_listener(item(f, i, *it)));
  }
}

ListenConfig SectionLoader::load_listener(const Field& f) const {
  ListenConfig listener;
  if (f.node.IsScalar()) {
    listener.address = read_address(f);
    listener.mark = source_mark(f.mark);
    return listener;
  }
  if (!f.node.IsMap()) {
    fail(f, "expected an address or an {address: ...} map, got " + describe(f.node));
  }
  const Section s(*this, f, {"address"});
  const Field* address = s.find("address");
  if (!address) {
    fail(f, "missing 'address'");
  }
  listener.address = read_address(*address);
  listener.mark = source_mark(address->mark);
  return listener;
}

void SectionLoader::load_limits(const Field& f, const BufferConfig& buffers,
                                const Field* buffers_field, Limits& limits) const {
  const Section s(*this, f,
                  {"request_line", "header_bytes", "headers", "body_bytes", "connections",
                   "header_timeout", "idle_timeout", "request_timeout"});
  const Field* header_bytes = s.find("header_bytes");
  if (header_bytes) {
    limits.header_bytes =
        static_cast<uint32_t>(read_size(*header_bytes, kMinHeaderBytes, kMaxHeaderBytes));
  }
  const Field* request_line = s.find("request_line");
  if (request_line) {
    limits.request_line =
        static_cast<uint32_t>(read_size(*request_line, kMinRequestLine, kMaxHeaderBytes));
  }
  if (const Field* v = s.find("headers")) {
    limits.headers = static_cast<uint32_t>(read_number(*v, 1, kMaxHeaders));
  }
  if (const Field* v = s.find("body_bytes")) {
    limits.body_bytes = read_size(*v, 0, kMaxBodyBytes);
  }
  if (const Field* v = s.find("connections")) {
    limits.connections = static_cast<uint32_t>(read_number(*v, 1, kMaxConnections));
  }
  if (const Field* v = s.find("header_timeout")) {
    limits.header_timeout = read_duration(*v, kMinTimeout, kMaxTimeout);
  }
  if (const Field* v = s.find("idle_timeout")) {
    limits.idle_timeout = read_duration(*v, kMinTimeout, kMaxTimeout);
  }
  if (const Field* v = s.find("request_timeout")) {
    limits.request_timeout = read_duration(*v, kMinTimeout, kMaxTimeout);
  }

  // The request line is part of the head, so a larger line limit could never be reached.
  if (limits.request_line > limits.header_bytes) {
    const Field& where = request_line ? *request_line : (header_bytes ? *header_bytes : s.self());
    fail_at(where.mark, f.path + ".request_line (" + format_size(limits.request_line) +
                            ") must not exceed " + f.path + ".header_bytes (" +
                            format_size(limits.header_bytes) + ")");
  }
  // A request head waits in ring buffers until it is complete; a ring smaller than one head
  // could never hold it.
  const uint64_t ring_bytes = uint64_t{buffers.size} * buffers.count;
  if (limits.header_bytes > ring_bytes) {
    const Field& where = header_bytes ? *header_bytes : (buffers_field ? *buffers_field : s.self());
    fail_at(where.mark, f.path + ".header_bytes (" + format_size(limits.header_bytes) +
                            ") must not exceed the receive ring, buffers.size x buffers.count (" +
                            format_size(ring_bytes) + ")");
  }
}

bool SectionLoader::load_admin(const Field& f, AdminConfig& admin) const {
  const Section s(*this, f, {"listen", "enabled"});
  admin.mark = source_mark(f.mark);
  if (const Field* v = s.find("enabled")) {
    admin.enabled = read_bool(*v);
  }
  if (const Field* v = s.find("listen")) {
    admin.listen = read_address(*v);
    admin.mark = source_mark(v->mark);
    return true;
  }
  return false;
}

void SectionLoader::load_routes(const Field& f, std::vector<RouteConfig>& routes,
                                References& refs) const {
  if (f.node.IsNull()) {
    return;
  }
  if (!f.node.IsSequence()) {
    fail(f, "expected a list of routes, got " + describe(f.node));
  }
  size_t i = 0;
  for (auto it = f.node.begin(); it != f.node.end(); ++it, ++i) {
    const Field route_field = item(f, i, *it);
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
  }
}

RouteConfig SectionLoader::load_route(const Field& f, size_t index, RouteRefs& refs) const {
  if (!f.node.IsMap()) {
    fail(f, "expected a route map with 'match' and an action, got " + describe(f.node));
  }
  std::vector<std::string_view> keys = {"name", "match", "path_allow", "rate_limit", "auth"};
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
  if (const Field* v = s.find("path_allow")) {
    for (const Field& item : list_or_one(*v, "empty list; leave 'path_allow' out to allow none")) {
      const std::string name = read_string(item);
      const uint8_t flag = path_flag_by_name(name);
      if (flag == 0) {
        fail(item, "unknown path_allow value " + quote(name) +
                       " (encoded_slash, backslash, nul, overlong_utf8)");
      }
      route.path_allow |= flag;
    }
  }
  if (const Field* v = s.find("auth")) {
    load_route_auth(*v, route, refs);
  }
  if (const Field* v = s.find("rate_limit")) {
    for (const Field& item : list_or_one(*v, "empty list; leave 'rate_limit' out for none")) {
      refs.rate_limits.push_back({item, read_string(item)});
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
    keys.erase(keys.begin(), keys.begin() + 5);  // name, match, path_allow, rate_limit, auth
    fail(f, "missing an action (expected one of: " + join(keys) + ")");
  }
  route.action = (this->*(chosen->parse))(*chosen_field, route.match, refs);
  return route;
}

void SectionLoader::load_match(const Field& f, RouteMatch& match) const {
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

std::string SectionLoader::load_path(const Field& f, RouteMatch::Kind kind) const {
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
std::string SectionLoader::load_host(const Field& f) const {
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
std::vector<std::string> SectionLoader::load_methods(const Field& f) const {
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

RouteAction SectionLoader::load_direct(const Field& f, const RouteMatch& /*match*/,
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
void SectionLoader::load_direct_headers(const Field& f, DirectResponse& direct) const {
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

// ---------------------------------------------------------------------------------------------
// Upstream clusters.

struct BalanceName {
  std::string_view name;
  BalanceKind kind;
};
constexpr BalanceName kBalanceNames[] = {
    {"round_robin", BalanceKind::kRoundRobin},
    {"least_request", BalanceKind::kLeastRequest},
    {"p2c", BalanceKind::kP2C},
    {"ring_hash", BalanceKind::kRingHash},
    {"maglev", BalanceKind::kMaglev},
};

std::string_view balance_name(BalanceKind kind) {
  for (const BalanceName& b : kBalanceNames) {
    if (b.kind == kind) {
      return b.name;
    }
  }
  return "?";
}

// Cluster names are a map's keys, so duplicates and bad names are reported at the key.
void SectionLoader::load_auth(const Field& f, std::vector<JwtIssuerConfig>& issuers,
                              std::vector<ApiKeyConfig>& api_keys, References& refs) const {
  const Section s(*this, f, {"jwt", "api_keys"});
  if (const Field* keys = s.find("api_keys"); keys && !keys->node.IsNull()) {
    if (!keys->node.IsMap()) {
      fail(*keys, "expected a map of key-set names to key sets, got " + describe(keys->node));
    }
    for (auto it = keys->node.begin(); it != keys->node.end(); ++it) {
      const YAML::Node key = it->first;  // a copy: it-> yields a temporary proxy
      const std::string name = key.IsScalar() ? key.Scalar() : "";
      if (!is_cluster_name(name)) {
        fail_at(key.Mark(), keys->path + ": key-set name " + quote(name) + " must be 1 to " +
                                std::to_string(kMaxClusterName) +
                                " characters: letters, digits, '_', '.' and '-'");
      }
      for (const ApiKeyConfig& earlier : api_keys) {
        if (earlier.name == name) {
          fail_at(key.Mark(), keys->path + ": duplicate key set " + quote(name));
        }
      }
      api_keys.push_back(load_api_keys(child(*keys, name, key, it->second), name, key.Mark()));
    }
  }
  const Field* jwt = s.find("jwt");
  if (!jwt || jwt->node.IsNull()) {
    return;
  }
  if (!jwt->node.IsMap()) {
    fail(*jwt, "expected a map of issuer names to issuers, got " + describe(jwt->node));
  }
  for (auto it = jwt->node.begin(); it != jwt->node.end(); ++it) {
    const YAML::Node key = it->first;  // a copy: it-> yields a temporary proxy
    const std::string name = key.IsScalar() ? key.Scalar() : "";
    if (!is_cluster_name(name)) {
      fail_at(key.Mark(), jwt->path + ": issuer name " + quote(name) + " must be 1 to " +
                              std::to_string(kMaxClusterName) +
                              " characters: letters, digits, '_', '.' and '-'");
    }
    for (const JwtIssuerConfig& earlier : issuers) {
      if (earlier.name == name) {
        fail_at(key.Mark(), jwt->path + ": duplicate issuer " + quote(name) + " (first at line " +
                                std::to_string(earlier.mark.line) + ")");
      }
    }
    std::optional<References::JwksSource> jwks;
    issuers.push_back(load_jwt_issuer(child(*jwt, name, key, it->second), name, key.Mark(), jwks));
    if (jwks) {
      jwks->issuer = static_cast<uint32_t>(issuers.size() - 1);
      refs.jwks.push_back(std::move(*jwks));
    }
  }
}

JwtIssuerConfig SectionLoader::load_jwt_issuer(const Field& f, std::string name,
                                               const YAML::Mark& key,
                                               std::optional<References::JwksSource>& jwks) const {
  const Section s(*this, f,
                  {"issuer", "audiences", "jwks_file", "jwks_url", "jwks_refresh",
                   "jwks_min_refresh", "jwks_timeout", "algorithms", "leeway", "require_exp",
                   "required_claims", "from", "forward_claims", "cache_entries"});
  JwtIssuerConfig j;
  j.name = std::move(name);
  j.mark = source_mark(key);
  const Field* file = s.find("jwks_file");
  const Field* url = s.find("jwks_url");
  if (!file && !url) {
    fail(f, "needs 'jwks_file' (a JWKS document) or 'jwks_url' (where to fetch one), or both");
  }
  j.keys = std::make_shared<std::vector<jwt::Key>>();
  if (url) {
    // http://host[:port]/path: the host:port becomes the endpoint of a cluster of its own, added
    // once every section is parsed.
    j.jwks_url = read_string(*url);
    const std::string& u = j.jwks_url;
    if (u.rfind("https://", 0) == 0) {
      fail(*url, "https is not available yet (no TLS client): use http:// on a trusted network");
    }
    if (u.rfind("http://", 0) != 0) {
      fail(*url, "expected http://host:port/path, got " + quote(u));
    }
    const size_t slash = u.find('/', 7);
    j.jwks_host = u.substr(7, slash == std::string::npos ? std::string::npos : slash - 7);
    j.jwks_path = slash == std::string::npos ? "/" : u.substr(slash);
    std::string endpoint = j.jwks_host;
    if (endpoint.find(':') == std::string::npos || endpoint.back() == ']') {
      endpoint += ":80";
    }
    std::string canonical;
    if (auto problem = host_port_problem(endpoint, true, &canonical)) {
      fail(*url, quote(j.jwks_host) + " is not a valid host: " + *problem);
    }
    if (j.jwks_path.find_first_of(" \r\n") != std::string::npos) {
      fail(*url, "the path has spaces or line breaks");
    }
    jwks = References::JwksSource{0, *url, std::move(endpoint)};
    j.algorithms = 0xffffffffu >> (32 - jwt::kAlgCount);
  }
  if (const Field* v = s.find("jwks_refresh")) {
    j.jwks_refresh = read_duration(*v, kOneSecond, Duration(86400000));
  }
  if (const Field* v = s.find("jwks_min_refresh")) {
    j.jwks_min_refresh = read_duration(*v, kOneSecond, Duration(3600000));
  }
  if (const Field* v = s.find("jwks_timeout")) {
    j.jwks_timeout = read_duration(*v, kMinTimeout, kOneMinute);
  }
  if (file) {
    j.jwks_file = read_string(*file);
    std::string text;
    if (!read_whole_file(j.jwks_file, &text)) {
      fail(*file, "jwks_file \"" + j.jwks_file + "\" cannot be read: " + std::strerror(errno));
    }
    auto keys = std::make_shared<std::vector<jwt::Key>>();
    std::vector<std::string> skipped;
    std::string why;
    if (!jwt::parse_jwks(text, keys.get(), &skipped, &why)) {
      fail(*file, "jwks_file \"" + j.jwks_file + "\" is not a JWKS document: " + why);
    }
    if (keys->empty()) {
      fail(*file,
           "jwks_file \"" + j.jwks_file + "\" has no usable key" +
               (skipped.empty()
                    ? ""
                    : " (" + join(std::vector<std::string_view>(skipped.begin(), skipped.end())) +
                          ")"));
    }
    if (!url) {
      for (const jwt::Key& k : *keys) {
        j.algorithms |= jwt::alg_bit(k.alg());
      }
    }
    j.keys = std::move(keys);
  }
  if (const Field* v = s.find("algorithms")) {
    uint32_t allowed = 0;
    for (const Field& item :
         list_or_one(*v, "empty list; leave 'algorithms' out for the keys' own")) {
      const std::string alg = read_string(item);
      const std::optional<jwt::Alg> a = jwt::alg_by_name(alg);
      if (!a) {
        fail(item, "unknown or refused algorithm " + quote(alg) +
                       " (HS256, HS384, HS512, RS256, RS384, RS512, PS256, PS384, PS512, ES256, "
                       "ES384, ES512, EdDSA; never none)");
      }
      if (!url && !(j.algorithms & jwt::alg_bit(*a))) {
        fail(item, "no key of jwks_file uses " + alg);
      }
      allowed |= jwt::alg_bit(*a);
    }
    j.algorithms = allowed;
  }
  if (const Field* v = s.find("issuer")) {
    j.rules.issuer = read_string(*v);
  }
  if (const Field* v = s.find("audiences")) {
    for (const Field& item : list_or_one(*v, "empty list; leave 'audiences' out to accept any")) {
      j.rules.audiences.push_back(read_string(item));
    }
  }
  if (const Field* v = s.find("leeway")) {
    j.rules.leeway_s = read_duration(*v, Duration(0), Duration(3600000)).count() / 1000;
  }
  if (const Field* v = s.find("require_exp")) {
    j.rules.require_exp = read_bool(*v);
  }
  if (const Field* v = s.find("required_claims")) {
    for (const Field& item : list_or_one(*v, "empty list; leave 'required_claims' out for none")) {
      j.rules.required.push_back(read_string(item));
    }
    if (j.rules.required.size() > 64) {
      fail(*v, "at most 64 required claims");
    }
  }
  if (const Field* v = s.find("from")) {
    const std::string from = read_string(*v);
    if (from == "bearer") {
      j.from = JwtIssuerConfig::From::kBearer;
    } else if (from.rfind("header:", 0) == 0 && is_token(from.substr(7))) {
      j.from = JwtIssuerConfig::From::kHeader;
      j.from_name = ascii_lower(from.substr(7));
    } else if (from.rfind("query:", 0) == 0 && from.size() > 6) {
      j.from = JwtIssuerConfig::From::kQuery;
      j.from_name = from.substr(6);
    } else if (from.rfind("cookie:", 0) == 0 && is_token(from.substr(7))) {
      j.from = JwtIssuerConfig::From::kCookie;
      j.from_name = from.substr(7);
    } else {
      fail(*v, "expected bearer, header:NAME, query:NAME or cookie:NAME, got " + quote(from));
    }
  }
  if (const Field* v = s.find("forward_claims")) {
    if (!v->node.IsMap()) {
      fail(*v, "expected a map of claim names to header names, e.g. {sub: X-User-Id}");
    }
    for (auto it = v->node.begin(); it != v->node.end(); ++it) {
      const YAML::Node claim_key = it->first;
      const std::string claim = claim_key.IsScalar() ? claim_key.Scalar() : "";
      const Field header_field = child(*v, claim, claim_key, it->second);
      const std::string header = read_string(header_field);
      static const char* const kChecked[] = {"exp", "nbf", "iat", "iss", "aud", "scope", "scp"};
      for (const char* c : kChecked) {
        if (claim == c) {
          fail_at(claim_key.Mark(), "claim " + quote(claim) +
                                        " is checked, not forwarded; forward sub, email or "
                                        "your own claims");
        }
      }
      if (claim.empty()) {
        fail_at(claim_key.Mark(), "claim names must be plain strings");
      }
      if (!is_token(header)) {
        fail(header_field, quote(header) + " is not a valid header name");
      }
      j.rules.forward.push_back(claim);
      j.forward_headers.push_back(ascii_lower(header));
    }
    if (j.rules.forward.size() > kMaxJwtValues) {
      fail(*v, "at most " + std::to_string(kMaxJwtValues) + " forwarded claims");
    }
  }
  if (const Field* v = s.find("cache_entries")) {
    j.cache_entries = read_power_of_two(*v, 16, 1u << 20);
  }
  return j;
}

ApiKeyConfig SectionLoader::load_api_keys(const Field& f, std::string name,
                                          const YAML::Mark& key) const {
  const Section s(*this, f, {"file", "header", "query", "consumer_header", "reload_interval"});
  ApiKeyConfig k;
  k.name = std::move(name);
  k.mark = source_mark(key);
  const Field* file = s.find("file");
  if (!file) {
    fail(f, "missing 'file' (SHA-256 digests of the keys with consumer names)");
  }
  k.file = read_string(*file);
  std::string text;
  if (!read_whole_file(k.file, &text)) {
    fail(*file, "file \"" + k.file + "\" cannot be read: " + std::strerror(errno));
  }
  auto table = std::make_shared<ApiKeyTable>();
  std::string why;
  if (!ApiKeyTable::parse(text, table.get(), &why)) {
    fail(*file, "file \"" + k.file + "\": " + why);
  }
  k.table = std::move(table);
  const Field* header = s.find("header");
  const Field* query = s.find("query");
  if (header && query) {
    fail(*query, "'header' and 'query' are exclusive: a key is read from one place");
  }
  if (header) {
    const std::string h = read_string(*header);
    if (!is_token(h)) {
      fail(*header, quote(h) + " is not a valid header name");
    }
    k.from_name = ascii_lower(h);
  } else if (query) {
    k.from = ApiKeyConfig::From::kQuery;
    k.from_name = read_string(*query);
    if (k.from_name.empty()) {
      fail(*query, "the query parameter name is empty");
    }
  }
  if (const Field* v = s.find("consumer_header")) {
    const std::string h = read_string(*v);
    if (!h.empty() && !is_token(h)) {
      fail(*v, quote(h) + " is not a valid header name");
    }
    k.consumer_header = ascii_lower(h);
  }
  if (const Field* v = s.find("reload_interval")) {
    k.reload_interval = read_duration_or_off(*v, kOneSecond, kOneHour);
  }
  return k;
}

void SectionLoader::load_route_auth(const Field& f, RouteConfig& route, RouteRefs& refs) const {
  const Section s(*this, f, {"jwt", "scopes", "api_key"});
  if (const Field* v = s.find("api_key")) {
    refs.api_key = NameRef{*v, read_string(*v)};
  }
  const Field* jwt = s.find("jwt");
  if (!jwt) {
    if (!refs.api_key) {
      fail(f, "needs 'jwt' (an issuer of auth.jwt) or 'api_key' (a set of auth.api_keys)");
    }
    if (const Field* v = s.find("scopes")) {
      fail(*v, "scopes are JWT scopes: they need 'jwt'");
    }
    return;
  }
  refs.jwt = NameRef{*jwt, read_string(*jwt)};
  if (const Field* v = s.find("scopes")) {
    for (const Field& item : list_or_one(*v, "empty list; leave 'scopes' out for none")) {
      const std::string scope = read_string(item);
      if (scope.empty() || scope.find(' ') != std::string::npos || field_value_problem(scope)) {
        fail(item, "a scope is one word without spaces or control characters");
      }
      route.auth.scope_text += (route.auth.scope_text.empty() ? "" : " ") + scope;
      refs.scopes.push_back({item, scope});
    }
  }
}

void SectionLoader::load_redis(const Field& f, RedisConfig& redis, References& refs) const {
  const Section s(*this, f, {"address", "password", "database", "timeout", "retry", "key_prefix"});
  redis.enabled = true;
  redis.mark = source_mark(f.mark);
  const Field* address = s.find("address");
  if (!address) {
    fail(f, "missing 'address' (e.g. address: \"127.0.0.1:6379\")");
  }
  redis.address = read_address(*address);
  if (const Field* v = s.find("password")) {
    redis.password = read_string(*v);
  }
  if (const Field* v = s.find("database")) {
    redis.database = static_cast<uint32_t>(read_number(*v, 0, 1000000));
  }
  const Field* timeout = s.find("timeout");
  if (timeout) {
    redis.timeout = read_duration(*timeout, kMinTimeout, Duration{10000});
  }
  refs.redis_timeout = timeout ? *timeout : f;  // checked against the request timeout later
  if (const Field* v = s.find("retry")) {
    redis.retry = read_duration(*v, Duration{10}, Duration{600000});
  }
  if (const Field* v = s.find("key_prefix")) {
    redis.key_prefix = read_string(*v);
    if (redis.key_prefix.size() > 200) {
      fail(*v, "key_prefix is longer than 200 bytes");
    }
  }
}

void SectionLoader::load_rate_limits(const Field& f, std::vector<RateLimitPolicy>& policies,
                                     References& refs) const {
  if (f.node.IsNull()) {
    return;
  }
  if (!f.node.IsMap()) {
    fail(f, "expected a map of policy names to policies, got " + describe(f.node));
  }
  for (auto it = f.node.begin(); it != f.node.end(); ++it) {
    const YAML::Node key = it->first;  // a copy: it-> yields a temporary proxy
    if (!key.IsScalar()) {
      fail_at(key.Mark(), f.path + ": policy names must be plain names, got " + describe(key));
    }
    const std::string name = key.Scalar();
    if (!is_cluster_name(name)) {
      fail_at(key.Mark(), f.path + ": policy name " + quote(name) + " must be 1 to " +
                              std::to_string(kMaxClusterName) +
                              " characters: letters, digits, '_', '.' and '-'");
    }
    for (const RateLimitPolicy& earlier : policies) {
      if (earlier.name == name) {
        fail_at(key.Mark(), f.path + ": duplicate rate limit " + quote(name) + " (first at line " +
                                std::to_string(earlier.mark.line) + ")");
      }
    }
    policies.push_back(load_rate_limit(child(f, name, key, it->second), name, key.Mark(), refs));
  }
}

RateLimitPolicy SectionLoader::load_rate_limit(const Field& f, std::string name,
                                               const YAML::Mark& key, References& refs) const {
  const Section s(*this, f,
                  {"key", "rate", "burst", "max_keys", "global", "backend", "on_error", "batch"});
  RateLimitPolicy p;
  p.name = std::move(name);
  p.mark = source_mark(key);
  const Field* rate = s.find("rate");
  if (!rate) {
    fail(f, "missing 'rate' (e.g. rate: 100/s)");
  }
  {
    // "N/s", "N/m" or "N/h".
    const std::string text = scalar(*rate, "a rate like 100/s");
    const size_t slash = text.find('/');
    uint64_t n = 0;
    const char* digits_end = text.data() + (slash == std::string::npos ? text.size() : slash);
    auto [end, ec] = std::from_chars(text.data(), digits_end, n);
    const std::string unit = slash == std::string::npos ? "" : text.substr(slash + 1);
    const int64_t period_ms = unit == "s" ? 1000 : unit == "m" ? 60000 : unit == "h" ? 3600000 : 0;
    if (ec != std::errc() || end != digits_end || period_ms == 0 || text.empty()) {
      fail(*rate, "expected a rate like 100/s, 600/m or 5000/h, got " + quote(text));
    }
    if (n < 1 || n > kMaxRateTokens) {
      fail(*rate, "the count must be between 1 and " + std::to_string(kMaxRateTokens) + ", got " +
                      std::to_string(n));
    }
    p.tokens = n;
    p.period = Duration(period_ms);
    p.burst = n;
  }
  if (const Field* v = s.find("burst")) {
    p.burst = read_number(*v, 1, kMaxRateTokens);
  }
  if (const Field* v = s.find("max_keys")) {
    p.max_keys = read_power_of_two(*v, 16, 1u << 24);
  }

  if (const Field* v = s.find("key")) {
    const std::string k = read_string(*v);
    if (k == "client_ip") {
      p.key = RateLimitPolicy::Key::kClientIp;
    } else if (k == "route") {
      p.key = RateLimitPolicy::Key::kRoute;
    } else if (k.rfind("header:", 0) == 0 && is_token(k.substr(7))) {
      p.key = RateLimitPolicy::Key::kHeader;
      p.header = ascii_lower(k.substr(7));
    } else if (k == "consumer") {
      p.key = RateLimitPolicy::Key::kConsumer;
    } else if (k.rfind("claim:", 0) == 0 && k.size() > 6) {
      p.key = RateLimitPolicy::Key::kClaim;
      p.claim = k.substr(6);
    } else {
      fail(*v, "expected client_ip, header:NAME, route, consumer or claim:NAME, got " + quote(k));
    }
  }
  if (const Field* v = s.find("global")) {
    p.global = read_bool(*v);
    if (p.global &&
        (p.key == RateLimitPolicy::Key::kConsumer || p.key == RateLimitPolicy::Key::kClaim)) {
      fail(*v, "a global policy applies to every route, so it cannot be per consumer or claim");
    }
  }
  const Field* backend = s.find("backend");
  if (backend) {
    const std::string b = read_string(*backend);
    if (b == "local") {
      p.backend = RateLimitPolicy::Backend::kLocal;
    } else if (b == "redis") {
      p.backend = RateLimitPolicy::Backend::kRedis;
      refs.redis_backends.push_back(*backend);  // needs the redis section
    } else {
      fail(*backend, "expected local or redis, got " + quote(b));
    }
  }
  if (const Field* v = s.find("on_error")) {
    const std::string e = read_string(*v);
    if (e != "allow" && e != "deny") {
      fail(*v, "expected allow or deny, got " + quote(e));
    }
    if (p.backend != RateLimitPolicy::Backend::kRedis) {
      fail(*v, "on_error applies to backend: redis only (a local budget cannot fail)");
    }
    p.deny_on_error = e == "deny";
  }
  if (const Field* v = s.find("batch")) {
    p.batch = static_cast<uint32_t>(read_number(*v, 1, 1024));
  }
  return p;
}

void SectionLoader::load_upstreams(const Field& f, std::vector<UpstreamConfig>& upstreams) const {
  if (f.node.IsNull()) {
    return;
  }
  if (!f.node.IsMap()) {
    fail(f, "expected a map of cluster names to clusters, got " + describe(f.node));
  }
  for (auto it = f.node.begin(); it != f.node.end(); ++it) {
    const YAML::Node key = it->first;  // a copy: it-> yields a temporary proxy
    if (!key.IsScalar()) {
      fail_at(key.Mark(), f.path + ": cluster names must be plain names, got " + describe(key));
    }
    const std::string name = key.Scalar();
    if (!is_cluster_name(name)) {
      fail_at(key.Mark(), f.path + ": cluster name " + quote(name) + " must be 1 to " +
                              std::to_string(kMaxClusterName) +
                              " characters: letters, digits, '_', '.' and '-'");
    }
    for (const UpstreamConfig& earlier : upstreams) {
      if (earlier.name == name) {
        fail_at(key.Mark(), f.path + ": duplicate upstream " + quote(name) + " (first at line " +
                                std::to_string(earlier.mark.line) + ")");
      }
    }
    upstreams.push_back(load_upstream(child(f, name, key, it->second), name, key.Mark()));
  }
}

UpstreamConfig SectionLoader::load_upstream(const Field& f, std::string name,
                                            const YAML::Mark& key) const {
  const Section s(*this, f,
                  {"endpoints", "balance", "hash_key", "keepalive", "keepalive_timeout",
                   "max_requests_per_connection", "connect_timeout", "dns_refresh", "health",
                   "outlier", "circuit", "retry_budget"});
  UpstreamConfig up;
  up.name = std::move(name);
  up.mark = source_mark(key);
  const Field* endpoints = s.find("endpoints");
  if (!endpoints) {
    fail(f, "missing 'endpoints' (e.g. endpoints: [\"10.0.0.1:8080\"])");
  }
  load_endpoints(*endpoints, up.endpoints);
  const Field* balance = s.find("balance");
  if (balance) {
    up.balance = load_balance(*balance);
  }
  if (const Field* v = s.find("hash_key")) {
    // A key given to a policy that never hashes would be silently ignored.
    if (up.balance != BalanceKind::kRingHash && up.balance != BalanceKind::kMaglev) {
      fail(*v, "only balance ring_hash or maglev hashes requests, but balance is " +
                   std::string(balance_name(up.balance)) + (balance ? "" : " (the default)"));
    }
    up.hash_key = load_hash_key(*v);
  }
  if (const Field* v = s.find("keepalive")) {
    up.keepalive = static_cast<uint32_t>(read_number(*v, 0, kMaxKeepalive));
  }
  if (const Field* v = s.find("keepalive_timeout")) {
    up.keepalive_timeout = read_duration(*v, kOneSecond, kOneHour);
  }
  if (const Field* v = s.find("max_requests_per_connection")) {
    up.max_requests_per_connection =
        static_cast<uint32_t>(read_number(*v, 0, kMaxRequestsPerConnection));
  }
  if (const Field* v = s.find("connect_timeout")) {
    up.connect_timeout = read_duration(*v, kMinTimeout, kMaxConnectTimeout);
  }
  if (const Field* v = s.find("dns_refresh")) {
    up.dns_refresh = read_duration_or_off(*v, kOneSecond, kMaxTimeout);
  }
  if (const Field* v = s.find("health")) {
    up.health.enabled = true;  // even `health: {}`: checks with every default
    load_health(*v, up.health);
  }
  if (const Field* v = s.find("outlier")) {
    load_outlier(*v, up.outlier);
  }
  if (const Field* v = s.find("circuit")) {
    load_circuit(*v, up.circuit);
  }
  if (const Field* v = s.find("retry_budget")) {
    load_retry_budget(*v, up.retry_budget);
  }
  return up;
}

void SectionLoader::load_endpoints(const Field& f, std::vector<EndpointConfig>& endpoints) const {
  if (!f.node.IsSequence()) {
    fail(f, "expected a list of endpoints like [\"10.0.0.1:8080\"], got " + describe(f.node));
  }
  if (f.node.size() == 0) {
    fail(f, "at least one endpoint is required");
  }
  std::vector<std::string> canonical;  // parallel to `endpoints`
  size_t i = 0;
  for (auto it = f.node.begin(); it != f.node.end(); ++it, ++i) {
    const Field v = item(f, i, *it);
    std::string same;
    EndpointConfig endpoint = load_endpoint(v, same);
    for (size_t j = 0; j < endpoints.size(); ++j) {
      if (canonical[j] == same) {
        const std::string spelled =
            endpoints[j].address == endpoint.address ? "" : " as " + quote(endpoints[j].address);
        throw ConfigError(endpoint.mark, v.path + ": duplicate endpoint " +
                                             quote(endpoint.address) + " (first at line " +
                                             std::to_string(endpoints[j].mark.line) + spelled +
                                             ")");
      }
    }
    canonical.push_back(std::move(same));
    endpoints.push_back(std::move(endpoint));
  }
}

// An endpoint is "host:port", or an {address, weight} map when its weight is not 1.
EndpointConfig SectionLoader::load_endpoint(const Field& f, std::string& canonical) const {
  const auto read_address = [&](const Field& v) {
    const std::string text = scalar(v, "an address like \"10.0.0.1:8080\"");
    if (auto problem = host_port_problem(text, true, &canonical)) {
      fail(v, quote(text) + " is not a valid endpoint: " + *problem);
    }
    return text;
  };
  EndpointConfig endpoint;
  if (f.node.IsScalar()) {
    endpoint.address = read_address(f);
    endpoint.mark = source_mark(f.mark);
    return endpoint;
  }
  if (!f.node.IsMap()) {
    fail(f,
         "expected \"host:port\" or an {address: ..., weight: ...} map, got " + describe(f.node));
  }
  const Section s(*this, f, {"address", "weight"});
  const Field* address = s.find("address");
  if (!address) {
    fail(f, "missing 'address'");
  }
  endpoint.address = read_address(*address);
  endpoint.mark = source_mark(address->mark);
  if (const Field* v = s.find("weight")) {
    endpoint.weight = static_cast<uint32_t>(read_number(*v, 1, kMaxEndpointWeight));
  }
  return endpoint;
}

BalanceKind SectionLoader::load_balance(const Field& f) const {
  const std::string text = scalar(f, "a balance policy");
  std::vector<std::string_view> names;
  for (const BalanceName& b : kBalanceNames) {
    if (b.name == text) {
      return b.kind;
    }
    names.push_back(b.name);
  }
  fail(f, "expected one of " + join(names) + ", got " + quote(text));
}

HashKeyConfig SectionLoader::load_hash_key(const Field& f) const {
  const std::string text = scalar(f, "client_ip, header:NAME or cookie:NAME");
  HashKeyConfig key;
  if (text == "client_ip") {
    return key;
  }
  const size_t colon = text.find(':');
  const std::string kind = colon == std::string::npos ? text : text.substr(0, colon);
  const std::string name = colon == std::string::npos ? "" : text.substr(colon + 1);
  if (colon == std::string::npos || (kind != "header" && kind != "cookie")) {
    fail(f, "expected client_ip, header:NAME or cookie:NAME, got " + quote(text));
  }
  if (name.empty()) {
    fail(f, "missing the " + kind + " name after '" + kind + ":'");
  }
  // Cookie names are tokens too (RFC 6265 §4.1.1).
  if (!is_token(name)) {
    fail(f,
         quote(name) + " is not a valid " + kind + " name (letters, digits and !#$%&'*+-.^_`|~)");
  }
  if (kind == "header") {
    key.kind = HashKeyConfig::Kind::kHeader;
    key.name = ascii_lower(name);  // header names are case-insensitive; cookie names are not
  } else {
    key.kind = HashKeyConfig::Kind::kCookie;
    key.name = name;
  }
  return key;
}

void SectionLoader::load_health(const Field& f, HealthCheckConfig& health) const {
  const Section s(*this, f,
                  {"path", "interval", "timeout", "healthy_threshold", "unhealthy_threshold"});
  if (const Field* v = s.find("path")) {
    health.path = scalar(*v, "a path starting with '/'");
    if (auto problem = request_path_problem(health.path, true)) {
      fail(*v, *problem);
    }
  }
  const Field* interval = s.find("interval");
  if (interval) {
    health.interval = read_duration(*interval, kMinHealthInterval, kOneHour);
  }
  const Field* timeout = s.find("timeout");
  if (timeout) {
    health.timeout = read_duration(*timeout, kMinTimeout, kOneMinute);
  }
  if (const Field* v = s.find("healthy_threshold")) {
    health.healthy_threshold = static_cast<uint32_t>(read_number(*v, 1, kMaxThreshold));
  }
  if (const Field* v = s.find("unhealthy_threshold")) {
    health.unhealthy_threshold = static_cast<uint32_t>(read_number(*v, 1, kMaxThreshold));
  }
  // A check still running when the next is due would overlap it.
  check_not_above(timeout, interval, s.self(), "timeout", health.timeout, "interval",
                  health.interval);
}

void SectionLoader::load_outlier(const Field& f, OutlierConfig& outlier) const {
  const Section s(*this, f,
                  {"consecutive_5xx", "consecutive_connect_failures", "base_ejection",
                   "max_ejection", "max_ejection_percent"});
  if (const Field* v = s.find("consecutive_5xx")) {
    outlier.consecutive_5xx = static_cast<uint32_t>(read_number(*v, 0, kMaxConsecutive));
  }
  if (const Field* v = s.find("consecutive_connect_failures")) {
    outlier.consecutive_connect_failures =
        static_cast<uint32_t>(read_number(*v, 0, kMaxConsecutive));
  }
  const Field* base = s.find("base_ejection");
  if (base) {
    outlier.base_ejection = read_duration(*base, kMinTimeout, kOneHour);
  }
  const Field* max = s.find("max_ejection");
  if (max) {
    outlier.max_ejection = read_duration(*max, kMinTimeout, kMaxTimeout);
  }
  if (const Field* v = s.find("max_ejection_percent")) {
    outlier.max_ejection_percent = static_cast<uint32_t>(read_number(*v, 0, 100));
  }
  check_not_above(base, max, s.self(), "base_ejection", outlier.base_ejection, "max_ejection",
                  outlier.max_ejection);
}

void SectionLoader::load_circuit(const Field& f, CircuitConfig& circuit) const {
  const Section s(
      *this, f,
      {"max_connections", "max_pending", "max_requests", "consecutive_failures", "open_for"});
  if (const Field* v = s.find("max_connections")) {
    circuit.max_connections = static_cast<uint32_t>(read_number(*v, 1, kMaxCircuitLimit));
  }
  if (const Field* v = s.find("max_pending")) {
    circuit.max_pending = static_cast<uint32_t>(read_number(*v, 1, kMaxCircuitLimit));
  }
  if (const Field* v = s.find("max_requests")) {
    circuit.max_requests = static_cast<uint32_t>(read_number(*v, 1, kMaxCircuitLimit));
  }
  if (const Field* v = s.find("consecutive_failures")) {
    circuit.consecutive_failures = static_cast<uint32_t>(read_number(*v, 0, kMaxConsecutive));
  }
  if (const Field* v = s.find("open_for")) {
    circuit.open_for = read_duration(*v, kMinTimeout, kOneHour);
  }
}

void SectionLoader::load_retry_budget(const Field& f, RetryBudgetConfig& budget) const {
  const Section s(*this, f, {"percent", "min_concurrent"});
  if (const Field* v = s.find("percent")) {
    budget.percent = static_cast<uint32_t>(read_number(*v, 0, 100));
  }
  if (const Field* v = s.find("min_concurrent")) {
    budget.min_concurrent = static_cast<uint32_t>(read_number(*v, 0, kMaxRetryConcurrency));
  }
}

// `upstream: NAME` is shorthand for `upstream: {cluster: NAME}`.
RouteAction SectionLoader::load_upstream_action(const Field& f, const RouteMatch& /*match*/,
                                                RouteRefs& refs) const {
  if (!f.node.IsScalar() && !f.node.IsMap()) {
    fail(f, "expected a cluster name or a map with 'cluster', got " + describe(f.node));
  }
  std::optional<Section> s;
  const Field* cluster = &f;
  if (f.node.IsMap()) {
    s.emplace(*this, f,
              std::vector<std::string_view>{"cluster", "strip_prefix", "rewrite", "host", "timeout",
                                            "try_timeout", "retries"});
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
    const std::string text = scalar(*v, "preserve, endpoint or a host name");
    if (text == "preserve") {
      action.host = UpstreamAction::HostPolicy::kPreserve;
    } else if (text == "endpoint") {
      action.host = UpstreamAction::HostPolicy::kEndpoint;
    } else {
      if (auto problem = host_port_problem(text, false, nullptr)) {
        fail(*v, "expected preserve, endpoint or a host[:port] to send, but " + quote(text) +
                     " is not one: " + *problem);
      }
      action.host = UpstreamAction::HostPolicy::kFixed;
      action.host_value = text;
    }
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
  // A try that may outlast the whole request could never time out on its own.
  if (action.try_timeout.count() != 0) {
    check_not_above(try_timeout, timeout, s->self(), "try_timeout", action.try_timeout, "timeout",
                    action.timeout);
  }
  return action;
}

std::string SectionLoader::load_action_path(const Field& f) const {
  std::string path = scalar(f, "a path starting with '/'");
  if (auto problem = request_path_problem(path, false)) {
    fail(f, *problem);
  }
  return path;
}

// ---------------------------------------------------------------------------------------------
// The aggregate route action.

// Backend keys, profile names and the members of dotted paths: what can follow a '.' in a
// placeholder without quoting.
bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

bool is_name(std::string_view text, size_t max_size) {
  if (text.empty() || text.size() > max_size) {
    return false;
  }
  for (char c : text) {
    if (!is_name_char(c)) {
      return false;
    }
  }
  return true;
}

// A query parameter name as `{query.NAME}` and `select: query:NAME` read it.
bool is_query_name(std::string_view name) {
  if (name.empty()) {
    return false;
  }
  for (char ch : name) {
    const auto c = static_cast<unsigned char>(ch);
    if (c <= 0x20 || c == 0x7f || c == '&' || c == '=' || c == '#' || c == '{' || c == '}') {
      return false;
    }
  }
  return true;
}

bool comes_after(const Field& a, const Field& b) {
  return a.mark.line > b.mark.line || (a.mark.line == b.mark.line && a.mark.column > b.mark.column);
}

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

// Steps of a dotted path after its first name: ".a", "[3]", "[*]" (each position of a `[*]` goes
// to `each`). Returns what is wrong, if anything.
std::optional<std::string> parse_path_steps(std::string_view text, std::vector<JsonPathStep>& steps,
                                            std::vector<size_t>& each) {
  size_t i = 0;
  while (i < text.size()) {
    if (text[i] == '.') {
      size_t end = i + 1;
      while (end < text.size() && is_name_char(text[end])) {
        ++end;
      }
      if (end == i + 1) {
        return "expected a member name (letters, digits, '_' and '-') after '.'";
      }
      JsonPathStep step;
      step.member = std::string(text.substr(i + 1, end - i - 1));
      steps.push_back(std::move(step));
      i = end;
    } else if (text[i] == '[') {
      const size_t close = text.find(']', i);
      if (close == std::string_view::npos) {
        return std::string("'[' without its ']'");
      }
      const std::string_view inside = text.substr(i + 1, close - i - 1);
      if (inside == "*") {
        each.push_back(steps.size());
      } else {
        uint32_t index = 0;
        auto [end, ec] = std::from_chars(inside.data(), inside.data() + inside.size(), index);
        if (inside.empty() || end != inside.data() + inside.size() ||
            (ec != std::errc() && ec != std::errc::result_out_of_range)) {
          return "expected an element number [N] or [*], got " +
                 quote("[" + std::string(inside) + "]");
        }
        if (inside.size() > 1 && inside.front() == '0') {
          return "element " + quote("[" + std::string(inside) + "]") +
                 " has a leading zero; write [" + std::to_string(index) + "]";
        }
        if (ec == std::errc::result_out_of_range || index > kMaxPathIndex) {
          return "element " + quote("[" + std::string(inside) + "]") + " is past the most " +
                 std::to_string(kMaxAggregateElements) + " elements a body may hold";
        }
        JsonPathStep step;
        step.kind = JsonPathStep::Kind::kIndex;
        step.index = index;
        steps.push_back(std::move(step));
      }
      i = close + 1;
    } else {
      return "unexpected " + quote(text.substr(i, 1)) +
             " (a path is names joined by '.', each optionally followed by [N])";
    }
  }
  return std::nullopt;
}

bool same_step(const JsonPathStep& a, const JsonPathStep& b) {
  return a.kind == b.kind && a.member == b.member && a.index == b.index;
}

// Whether `inner` lies inside `outer` or is the same path.
bool path_within(const JsonPath& inner, const JsonPath& outer) {
  if (inner.steps.size() < outer.steps.size()) {
    return false;
  }
  for (size_t i = 0; i < outer.steps.size(); ++i) {
    if (!same_step(inner.steps[i], outer.steps[i])) {
      return false;
    }
  }
  return true;
}

// Well-formed UTF-8: no overlong forms, surrogates or code points past U+10FFFF, so the JSON
// written from it is valid.
bool is_utf8(std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t length = 0;
    uint32_t code = 0;
    uint32_t min = 0;
    if ((c & 0xe0) == 0xc0) {
      length = 2, code = c & 0x1f, min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
      length = 3, code = c & 0x0f, min = 0x800;
    } else if ((c & 0xf8) == 0xf0) {
      length = 4, code = c & 0x07, min = 0x10000;
    } else {
      return false;
    }
    if (i + length > text.size()) {
      return false;
    }
    for (size_t k = 1; k < length; ++k) {
      const auto next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xc0) != 0x80) {
        return false;
      }
      code = (code << 6) | (next & 0x3f);
    }
    if (code < min || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) {
      return false;
    }
    i += length;
  }
  return true;
}

// A plain YAML 1.2 (core schema) number, spelled as JSON: no '+', no leading zeros, a digit on
// both sides of '.', hexadecimal (0x) and octal (0o) in decimal. nullopt: not a number (then
// `too_large` says whether it was a hexadecimal or octal number past 64 bits).
std::optional<std::string> json_number(std::string_view s, bool& too_large) {
  too_large = false;
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'o')) {
    uint64_t v = 0;
    auto [end, ec] = std::from_chars(s.data() + 2, s.data() + s.size(), v, s[1] == 'x' ? 16 : 8);
    if (end != s.data() + s.size()) {
      return std::nullopt;
    }
    if (ec == std::errc::result_out_of_range) {
      too_large = true;
      return std::nullopt;
    }
    if (ec != std::errc()) {
      return std::nullopt;
    }
    return std::to_string(v);
  }
  const auto digits_from = [&](size_t at) {
    size_t end = at;
    while (end < s.size() && s[end] >= '0' && s[end] <= '9') {
      ++end;
    }
    return end;
  };
  size_t i = 0;
  const bool negative = !s.empty() && s[0] == '-';
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    i = 1;
  }
  const size_t int_end = digits_from(i);
  const std::string_view whole = s.substr(i, int_end - i);
  i = int_end;
  bool dot = false;
  std::string_view fraction;
  if (i < s.size() && s[i] == '.') {
    dot = true;
    const size_t fraction_end = digits_from(i + 1);
    fraction = s.substr(i + 1, fraction_end - i - 1);
    i = fraction_end;
  }
  if (whole.empty() && fraction.empty()) {
    return std::nullopt;
  }
  std::string_view exponent;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    size_t at = i + 1;
    if (at < s.size() && (s[at] == '+' || s[at] == '-')) {
      ++at;
    }
    const size_t exponent_end = digits_from(at);
    if (exponent_end == at) {
      return std::nullopt;
    }
    exponent = s.substr(i, exponent_end - i);
    i = exponent_end;
  }
  if (i != s.size()) {
    return std::nullopt;
  }
  std::string out = negative ? "-" : "";
  const size_t first = whole.find_first_not_of('0');
  out += first == std::string_view::npos ? std::string_view("0") : whole.substr(first);
  if (dot) {
    out += '.';
    out += fraction.empty() ? std::string_view("0") : fraction;
  }
  out += exponent;
  return out;
}

struct SectionLoader::TemplateScope {
  RouteMatch::Kind match_kind = RouteMatch::Kind::kExact;
  std::vector<std::string> params;  // the route's path parameters, left to right
  std::vector<std::string> keys;    // every backend's key, in order
  uint32_t self = 0;                // the backend whose templates these are
  bool for_each = false;            // it has for_each, so {item} is defined

  std::string other_keys() const {
    std::vector<std::string_view> others;
    for (size_t i = 0; i < keys.size(); ++i) {
      if (i != self) {
        others.push_back(keys[i]);
      }
    }
    return others.empty() ? "none" : join(others);
  }
};

// The backends one backend reads, each with the first field that reads it (where a cycle
// through it is reported), and the claims it reads.
struct SectionLoader::BackendRefs {
  std::vector<std::pair<uint32_t, Field>> reads;
  bool uses_item = false;
  std::vector<NameRef> claims;  // {claim.NAME} placeholders, in order

  void add(uint32_t backend, const Field& f) {
    for (const auto& read : reads) {
      if (read.first == backend) {
        return;
      }
    }
    reads.emplace_back(backend, f);
  }
};

RouteAction SectionLoader::load_aggregate(const Field& f, const RouteMatch& match,
                                          RouteRefs& refs) const {
  const Section s(*this, f,
                  {"timeout", "errors", "on_collision", "status_from", "headers", "limits",
                   "profiles", "backends"});
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

void SectionLoader::load_backends(const Field& f, const RouteMatch& match, const Section& aggregate,
                                  AggregateAction& action, RouteRefs& route_refs) const {
  if (!f.node.IsSequence()) {
    fail(f, "expected a list of backends, got " + describe(f.node));
  }
  if (f.node.size() == 0) {
    fail(f, "at least one backend is required");
  }
  static const std::vector<std::string_view> kBackendKeys = {
      "key",          "upstream", "method",   "path",        "query",    "headers", "body",
      "content_type", "timeout",  "optional", "default",     "merge",    "pick",    "allow",
      "deny",         "rename",   "for_each", "concurrency", "max_items"};
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
    route_refs.backends.push_back({NameRef{*sections[b].find("upstream"), backend.cluster},
                                   std::move(refs[b].claims), std::move(refs[b].reads)});
  }
}

AggregateBackend SectionLoader::load_backend(const Section& s, TemplateScope scope,
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

  const Field* path = s.find("path");
  if (!path) {
    fail(self, "missing 'path' (the path to call, e.g. path: \"/items/{id}\")");
  }
  b.path = load_template(*path, TemplateUse::kPath, scope, refs);
  if (const Field* v = s.find("query")) {
    load_backend_params(*v, TemplateUse::kQuery, scope, refs, b.query);
  }
  if (const Field* v = s.find("headers")) {
    load_backend_params(*v, TemplateUse::kHeader, scope, refs, b.headers);
  }
  const Field* body = s.find("body");
  if (body) {
    if (b.method != "POST" && b.method != "PUT" && b.method != "PATCH" && b.method != "DELETE") {
      const bool vowel = std::string_view("AEIOU").find(b.method.front()) != std::string::npos;
      fail(*body, (vowel ? "an " : "a ") + b.method + " request carries no body" +
                      (method ? std::string() : std::string(" (GET is the default method)")) +
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

  if (for_each && !refs.uses_item) {
    fail(*for_each,
         "for_each makes one call per element, but no template of this backend uses {item}, so "
         "every call would be the same");
  }
  return b;
}

void SectionLoader::load_backend_params(const Field& f, TemplateUse use, const TemplateScope& scope,
                                        BackendRefs& refs, std::vector<AggregateParam>& out) const {
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
        why = "is set by the gateway for the endpoint it calls";
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

AggregateForEach SectionLoader::load_for_each(const Field& f, const TemplateScope& scope,
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

AggregateTemplate SectionLoader::load_template(const Field& f, TemplateUse use,
                                               const TemplateScope& scope,
                                               BackendRefs& refs) const {
  AggregateTemplate t;
  t.text = scalar(
      f, use == TemplateUse::kPath ? "a path template like \"/items/{id}\"" : "a template string");
  const std::string& text = t.text;
  std::string literal;
  const auto flush = [&] {
    if (!literal.empty()) {
      TemplatePiece piece;
      piece.text = std::move(literal);
      t.pieces.push_back(std::move(piece));
      literal.clear();
    }
  };
  size_t i = 0;
  while (i < text.size()) {
    const char c = text[i];
    const bool doubled = i + 1 < text.size() && text[i + 1] == c;
    if ((c == '{' || c == '}') && doubled) {
      literal += c;
      i += 2;
      continue;
    }
    if (c == '}') {
      fail(f, "unmatched '}' at character " + std::to_string(i + 1) + " of " + quote(text) +
                  "; write '}}' for a literal brace");
    }
    if (c != '{') {
      literal += c;
      ++i;
      continue;
    }
    const size_t close = text.find('}', i + 1);
    const size_t open = text.find('{', i + 1);
    if (close == std::string::npos) {
      fail(f, "'{' at character " + std::to_string(i + 1) + " of " + quote(text) +
                  " is never closed; write '{{' for a literal brace");
    }
    if (open < close) {
      fail(f, "'{' at character " + std::to_string(i + 1) + " of " + quote(text) +
                  " opens a placeholder that holds another '{'; write '{{' and '}}' for literal "
                  "braces (a JSON body: '{{\"id\": {item}}}')");
    }
    flush();
    t.pieces.push_back(
        load_placeholder(f, std::string_view(text).substr(i + 1, close - i - 1), scope, refs));
    i = close + 1;
  }
  flush();

  // The literal text, where it lands in the request; placeholders are encoded by the engine.
  if (use == TemplateUse::kPath) {
    if (t.pieces.empty() || t.pieces.front().kind != TemplatePiece::Kind::kLiteral ||
        t.pieces.front().text.front() != '/') {
      fail(f, "must start with '/', got " + quote(text));
    }
  }
  for (const TemplatePiece& piece : t.pieces) {
    if (piece.kind != TemplatePiece::Kind::kLiteral) {
      continue;
    }
    if (use == TemplateUse::kPath) {
      // What request_path_problem checks, but for a piece of a path.
      for (char ch : piece.text) {
        const auto c = static_cast<unsigned char>(ch);
        if (c <= 0x20 || c == 0x7f) {
          fail(f, "must not contain spaces or control characters (percent-encode them)");
        }
        if (c == '#') {
          fail(f, "must not contain '#'");
        }
        if (c == '?') {
          fail(f, "must not contain '?'; give query parameters in 'query'");
        }
      }
    } else if (use == TemplateUse::kHeader) {
      if (auto problem = field_value_problem(piece.text)) {
        fail(f, *problem);
      }
    } else if (use == TemplateUse::kQuery) {
      for (char ch : piece.text) {
        const auto c = static_cast<unsigned char>(ch);
        if (c < 0x20 || c == 0x7f) {
          fail(f, "must not contain control characters");
        }
      }
    }
  }
  return t;
}

TemplatePiece SectionLoader::load_placeholder(const Field& f, std::string_view content,
                                              const TemplateScope& scope, BackendRefs& refs) const {
  const std::string shown = quote("{" + std::string(content) + "}");
  if (content.empty()) {
    fail(f, "empty placeholder '{}'; write '{{}}' for literal braces");
  }
  const size_t split = std::min(content.find_first_of(".["), content.size());
  const std::string_view head = content.substr(0, split);
  const std::string_view rest = content.substr(split);
  TemplatePiece piece;
  if (head == "claim") {
    if (rest.size() < 2 || rest.front() != '.') {
      fail(f, "placeholder " + shown + " needs a name: {claim.NAME}");
    }
    piece.kind = TemplatePiece::Kind::kClaim;
    piece.text = std::string(rest.substr(1));
    refs.claims.push_back({f, piece.text});  // needs the route's issuer, known later
    return piece;
  }
  if (head == "query" || head == "header") {
    if (rest.size() < 2 || rest.front() != '.') {
      fail(f, "placeholder " + shown + " needs a name: {" + std::string(head) + ".NAME}");
    }
    const std::string name(rest.substr(1));
    if (head == "header") {
      if (!is_token(name)) {
        fail(f, "in placeholder " + shown + ", " + quote(name) + " is not a valid header name");
      }
      piece.kind = TemplatePiece::Kind::kHeader;
      piece.text = ascii_lower(name);
    } else {
      if (!is_query_name(name)) {
        fail(f, "in placeholder " + shown + ", " + quote(name) +
                    " is not a query parameter name (no spaces, control characters, '&', '=' or "
                    "'#')");
      }
      piece.kind = TemplatePiece::Kind::kQuery;
      piece.text = name;
    }
    return piece;
  }
  if (!is_name(head, content.size())) {
    fail(f, shown +
                " is not a placeholder (a name of letters, digits, '_' and '-', then .member or "
                "[N] steps); write '{{' and '}}' for literal braces");
  }
  const auto read_path = [&](JsonPath& path) {
    std::vector<size_t> stars;
    if (auto problem = parse_path_steps(rest, path.steps, stars)) {
      fail(f, "in placeholder " + shown + ": " + *problem);
    }
    if (!stars.empty()) {
      fail(f, "in placeholder " + shown +
                  ": '[*]' belongs in for_each; a placeholder stands for one value");
    }
    path.text = std::string(!rest.empty() && rest.front() == '.' ? rest.substr(1) : rest);
  };
  if (head == "item") {
    if (!scope.for_each) {
      fail(f, "{item} is the for_each element, but this backend has no for_each");
    }
    piece.kind = TemplatePiece::Kind::kItem;
    read_path(piece.path);
    refs.uses_item = true;
    return piece;
  }
  for (size_t i = 0; i < scope.params.size(); ++i) {
    if (scope.params[i] == head) {
      if (!rest.empty()) {
        fail(f, "path parameter " + quote(head) + " is text; " + shown +
                    " cannot read a member or element of it");
      }
      piece.kind = TemplatePiece::Kind::kPathParam;
      piece.text = std::string(head);
      piece.index = static_cast<uint32_t>(i);
      return piece;
    }
  }
  for (size_t i = 0; i < scope.keys.size(); ++i) {
    if (scope.keys[i] != head) {
      continue;
    }
    if (i == scope.self) {
      fail(f, "backend " + quote(head) + " cannot read its own response (" + shown + ")");
    }
    piece.kind = TemplatePiece::Kind::kBackend;
    piece.index = static_cast<uint32_t>(i);
    read_path(piece.path);
    refs.add(piece.index, f);
    return piece;
  }
  if (!rest.empty()) {
    fail(f, "placeholder " + shown + " reads backend " + quote(head) +
                ", but no backend has that key (other backends: " + scope.other_keys() + ")");
  }
  std::vector<std::string_view> params(scope.params.begin(), scope.params.end());
  const std::string params_text = !params.empty() ? join(params)
                                  : scope.match_kind == RouteMatch::Kind::kPrefix
                                      ? "none: a prefix route has none"
                                      : "none: match.path has no {parameters}";
  fail(f, "unknown placeholder " + shown + " (path parameters: " + params_text +
              "; other backends: " + scope.other_keys() + "; or query.NAME, header.NAME" +
              (scope.for_each ? ", item" : "") + ")");
}

JsonPath SectionLoader::load_json_path(const Field& f, std::string_view text, bool filter) const {
  JsonPath path;
  path.text = std::string(text);
  if (text.empty()) {
    fail(f, filter ? "empty path; expected a member path like items[*].id"
                   : "empty path; expected a dotted path like items[0].id");
  }
  if (text.front() == '.') {
    fail(f, "in " + quote(text) + ": a path starts with a member name or [N], not '.'");
  }
  std::vector<size_t> stars;
  const std::string steps = text.front() == '[' ? std::string(text) : "." + std::string(text);
  if (auto problem = parse_path_steps(steps, path.steps, stars)) {
    fail(f, "in " + quote(text) + ": " + *problem);
  }
  if (!filter) {
    if (!stars.empty()) {
      fail(f, "in " + quote(text) + ": '[*]' selects many values; pick takes one");
    }
    return path;
  }
  // allow and deny name members (of every element, with [*]), not positions.
  for (const JsonPathStep& step : path.steps) {
    if (step.kind == JsonPathStep::Kind::kIndex) {
      fail(f, "in " + quote(text) +
                  ": allow and deny take no element numbers; use [*] for every element");
    }
  }
  if (stars.size() > 1) {
    fail(f, "in " + quote(text) + ": more than one '[*]' (nested arrays are not supported)");
  }
  for (size_t at : stars) {
    JsonPathStep each;
    each.kind = JsonPathStep::Kind::kEach;
    path.steps.insert(path.steps.begin() + static_cast<ptrdiff_t>(at), std::move(each));
  }
  if (path.steps.back().kind == JsonPathStep::Kind::kEach) {
    fail(f, "in " + quote(text) + ": a path ends at a member; '[*]' goes before one, as in " +
                "lines[*].sku");
  }
  return path;
}

AggregateProjection SectionLoader::load_projection(const Section& s,
                                                   const AggregateProjection* base,
                                                   bool merge) const {
  const Field* pick = s.find("pick");
  const Field* allow = s.find("allow");
  const Field* deny = s.find("deny");
  const Field* rename = s.find("rename");
  if (pick && (allow || deny)) {
    const Field& other = allow ? *allow : *deny;
    fail(comes_after(other, *pick) ? other : *pick,
         std::string("'pick' and '") + (allow ? "allow" : "deny") +
             "' are exclusive: pick replaces the body with one value, allow and deny filter its "
             "members");
  }
  if (pick && merge) {
    fail(*pick,
         "'pick' and merge: true are exclusive: pick replaces the body with one value, merge "
         "needs the members of an object (keep some members with allow instead)");
  }
  AggregateProjection p = base ? *base : AggregateProjection{};
  // An override replaces pick, allow and deny together, so it never mixes with the backend's.
  if (pick || allow || deny) {
    p.pick.reset();
    p.allow.clear();
    p.deny.clear();
  }
  if (pick) {
    p.pick = load_json_path(*pick, scalar(*pick, "a dotted path like items[0].id"), false);
  }
  std::vector<Field> deny_fields;
  if (allow) {
    p.allow = load_path_list(*allow, nullptr);
  }
  if (deny) {
    p.deny = load_path_list(*deny, &deny_fields);
  }
  if (!p.allow.empty()) {
    for (size_t i = 0; i < p.deny.size(); ++i) {
      bool inside = false;
      for (const JsonPath& kept : p.allow) {
        if (path_within(p.deny[i], kept)) {
          if (p.deny[i].steps.size() == kept.steps.size()) {
            fail(deny_fields[i], quote(p.deny[i].text) + " drops what allow keeps");
          }
          inside = true;
        }
      }
      if (!inside) {
        fail(deny_fields[i],
             quote(p.deny[i].text) + " lies outside every allow path, so allow already drops it");
      }
    }
  }
  if (rename) {
    p.rename = load_renames(*rename);
  }
  return p;
}

// A list of dotted paths; one path alone is shorthand for a list of one.
std::vector<JsonPath> SectionLoader::load_path_list(const Field& f,
                                                    std::vector<Field>* fields) const {
  std::vector<Field> items;
  if (f.node.IsSequence()) {
    size_t i = 0;
    for (auto it = f.node.begin(); it != f.node.end(); ++it, ++i) {
      items.push_back(item(f, i, *it));
    }
    if (items.empty()) {
      fail(f, "empty list of paths");
    }
  } else {
    items.push_back(f);
  }
  std::vector<JsonPath> paths;
  for (const Field& v : items) {
    JsonPath path = load_json_path(v, scalar(v, "a member path like items[*].id"), true);
    for (const JsonPath& earlier : paths) {
      if (path_within(path, earlier) || path_within(earlier, path)) {
        fail(v, path.steps.size() == earlier.steps.size()
                    ? quote(path.text) + " is listed twice"
                    : quote(path.text) + " overlaps " + quote(earlier.text) +
                          "; list the outer path only");
      }
    }
    paths.push_back(std::move(path));
  }
  if (fields) {
    *fields = std::move(items);
  }
  return paths;
}

std::vector<MemberRename> SectionLoader::load_renames(const Field& f) const {
  if (!f.node.IsMap()) {
    fail(f, "expected a map of member names to new names, got " + describe(f.node));
  }
  // Names are written into the response as they are, so nothing in them may need escaping.
  const auto check = [&](const YAML::Mark& mark, const std::string& name) {
    const bool plain = !name.empty() && is_utf8(name) && [&] {
      for (char ch : name) {
        const auto c = static_cast<unsigned char>(ch);
        if (c < 0x20 || c == 0x7f || c == '"' || c == '\\') {
          return false;
        }
      }
      return true;
    }();
    if (!plain) {
      fail_at(mark, f.path + ": " + quote(name) +
                        " is not a member name this gateway writes (non-empty UTF-8 without "
                        "quotes, backslashes or control characters)");
    }
  };
  std::vector<MemberRename> renames;
  for (auto it = f.node.begin(); it != f.node.end(); ++it) {
    const YAML::Node key = it->first;  // a copy: it-> yields a temporary proxy
    if (!key.IsScalar()) {
      fail_at(key.Mark(), f.path + ": member names must be plain strings, got " + describe(key));
    }
    const Field value = child(f, key.Scalar(), key, it->second);
    MemberRename r{key.Scalar(), scalar(value, "the new member name")};
    check(key.Mark(), r.from);
    check(value.mark, r.to);
    if (r.from == r.to) {
      fail(value, "renames " + quote(r.from) + " to itself");
    }
    for (const MemberRename& earlier : renames) {
      if (earlier.from == r.from) {
        fail_at(key.Mark(), f.path + ": " + quote(r.from) + " is renamed twice");
      }
      if (earlier.to == r.to) {
        fail(value,
             quote(earlier.from) + " and " + quote(r.from) + " are both renamed to " + quote(r.to));
      }
    }
    renames.push_back(std::move(r));
  }
  return renames;
}

// A single name is shorthand for a one-element list.
std::vector<std::string> SectionLoader::load_response_headers(const Field& f) const {
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
          "is always computed (the most restrictive of the backends'), so it cannot be passed "
          "on";
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

AggregateProfiles::Select SectionLoader::load_profile_select(const Field& f,
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

// `profiles` holds `select`, `default` and one entry per profile, named by its key.
void SectionLoader::load_profiles(const Field& f, AggregateAction& action) const {
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
    profiles.profiles.push_back(std::move(profile));
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

// `default:` as JSON: strings quoted and escaped, YAML 1.2 numbers, booleans and null as JSON,
// lists and maps recursively.
void SectionLoader::append_json(const Field& f, std::string& out) const {
  const YAML::Node& node = f.node;
  if (node.IsSequence()) {
    out += '[';
    size_t i = 0;
    for (auto it = node.begin(); it != node.end(); ++it, ++i) {
      if (i != 0) {
        out += ',';
      }
      append_json(item(f, i, *it), out);
    }
    out += ']';
    return;
  }
  if (node.IsMap()) {
    out += '{';
    std::vector<std::string> names;
    for (auto it = node.begin(); it != node.end(); ++it) {
      const YAML::Node key = it->first;  // a copy: it-> yields a temporary proxy
      if (!key.IsScalar()) {
        fail_at(key.Mark(), f.path + ": JSON member names are strings, got " + describe(key));
      }
      const std::string name = key.Scalar();
      if (std::find(names.begin(), names.end(), name) != names.end()) {
        fail_at(key.Mark(), f.path + ": duplicate member " + quote(name));
      }
      const Field value = child(f, name, key, it->second);
      if (!names.empty()) {
        out += ',';
      }
      names.push_back(name);
      append_json_string(value, name, out);
      out += ':';
      append_json(value, out);
    }
    out += '}';
    return;
  }
  if (!node.IsScalar()) {
    out += "null";  // `default:` left empty, `~`, `null`
    return;
  }
  const std::string& text = node.Scalar();
  const std::string& tag = node.Tag();
  if (tag == "!" || tag == "tag:yaml.org,2002:str") {  // quoted, or !!str
    append_json_string(f, text, out);
    return;
  }
  if (tag != "?") {
    fail(f, "unsupported tag " + quote(tag) +
                " (a default is plain YAML; quote a value to keep it a string)");
  }
  if (text == "true" || text == "True" || text == "TRUE") {
    out += "true";
  } else if (text == "false" || text == "False" || text == "FALSE") {
    out += "false";
  } else if (text == "null" || text == "Null" || text == "NULL" || text == "~") {
    out += "null";
  } else if (bool too_large = false; auto number = json_number(text, too_large)) {
    out += *number;
  } else if (too_large) {
    fail(f, quote(text) + " does not fit in 64 bits; write large numbers in decimal");
  } else {
    std::string_view rest(text);
    if (!rest.empty() && (rest.front() == '+' || rest.front() == '-')) {
      rest.remove_prefix(1);
    }
    if (rest == ".inf" || rest == ".Inf" || rest == ".INF" || text == ".nan" || text == ".NaN" ||
        text == ".NAN") {
      fail(f, quote(text) + " has no JSON form (JSON numbers are finite); quote it for a string");
    }
    append_json_string(f, text, out);
  }
}

void SectionLoader::append_json_string(const Field& f, std::string_view text,
                                       std::string& out) const {
  if (!is_utf8(text)) {
    fail(f, "not valid UTF-8, so it has no JSON form");
  }
  static const char kHex[] = "0123456789abcdef";
  out += '"';
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out += kHex[c >> 4];
          out += kHex[c & 15];
        } else {
          out += ch;
        }
    }
  }
  out += '"';
}

// ---------------------------------------------------------------------------------------------
// The validation pass.

void SectionLoader::validate(Config& config, const References& refs) const {
  check_listener_overlap(config, refs.admin_listen_given);
  check_redis(config, refs);
  // Before the routes: a route may name a `jwks.NAME` cluster.
  add_jwks_clusters(config, refs);
  for (size_t i = 0; i < config.routes.size(); ++i) {
    resolve_route(config, config.routes[i], refs.routes[i]);
  }
}

// Two sockets on one port where one address covers the other would either fail to bind or, with
// SO_REUSEPORT, silently split connections between the gateway and the admin server.
void SectionLoader::check_listener_overlap(const Config& config, bool admin_listen_given) const {
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

void SectionLoader::check_redis(const Config& config, const References& refs) const {
  const Duration request_timeout = config.server.limits.request_timeout;
  if (refs.redis_timeout && config.redis.timeout >= request_timeout) {
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

void SectionLoader::add_jwks_clusters(Config& config, const References& refs) const {
  for (const References::JwksSource& source : refs.jwks) {
    JwtIssuerConfig& j = config.jwt_issuers[source.issuer];
    UpstreamConfig up;
    up.name = "jwks." + j.name;
    EndpointConfig ep;
    ep.address = source.endpoint;
    ep.mark = source_mark(source.url.mark);
    up.endpoints.push_back(ep);
    up.keepalive = 2;
    up.mark = source_mark(source.url.mark);
    for (const UpstreamConfig& other : config.upstreams) {
      if (other.name == up.name) {
        fail(source.url, "an upstream is already named " + quote(up.name));
      }
    }
    j.jwks_cluster = static_cast<uint32_t>(config.upstreams.size());
    config.upstreams.push_back(std::move(up));
  }
}

// In the order the route's parts were read: its auth, its rate limits, its action.
void SectionLoader::resolve_route(Config& config, RouteConfig& route, const RouteRefs& refs) const {
  resolve_route_auth(config, route, refs);
  resolve_rate_limits(config, route, refs);
  resolve_action(config, route, refs);
}

void SectionLoader::resolve_route_auth(Config& config, RouteConfig& route,
                                       const RouteRefs& refs) const {
  if (refs.api_key) {
    const std::vector<ApiKeyConfig>& api_keys = config.api_keys;
    const std::string& name = refs.api_key->name;
    size_t i = 0;
    while (i < api_keys.size() && api_keys[i].name != name) {
      ++i;
    }
    if (i == api_keys.size()) {
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

void SectionLoader::resolve_rate_limits(Config& config, RouteConfig& route,
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

void SectionLoader::resolve_action(Config& config, RouteConfig& route,
                                   const RouteRefs& refs) const {
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

uint32_t SectionLoader::resolve_cluster(const Config& config, const NameRef& ref) const {
  const std::string& name = ref.name;
  std::vector<std::string_view> defined;
  for (size_t i = 0; i < config.upstreams.size(); ++i) {
    const UpstreamConfig& up = config.upstreams[i];
    if (up.name == name) {
      return static_cast<uint32_t>(i);
    }
    defined.push_back(up.name);
  }
  std::string quoted = quote(name);
  quoted.front() = '"';
  quoted.back() = '"';
  fail(ref.field,
       "unknown upstream " + quoted +
           (defined.empty() ? " (no upstreams are defined)" : " (defined: " + join(defined) + ")"));
}

uint32_t SectionLoader::extract_claim(JwtIssuerConfig& issuer, const std::string& claim,
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

void SectionLoader::plan_backends(const RouteRefs& refs, AggregateAction& action) const {
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

Config load_from_text(const std::string& yaml, const std::string& source_name) {
  std::vector<YAML::Node> documents;
  try {
    documents = YAML::LoadAll(yaml);
  } catch (const YAML::DeepRecursion& e) {
    throw ConfigError(Loader(source_name).source_mark(e.mark), "nested too deeply");
  } catch (const YAML::ParserException& e) {
    throw ConfigError(Loader(source_name).source_mark(e.mark), e.msg);
  }
  if (documents.size() > 1) {
    // A second document would be silently ignored; say so instead.
    throw ConfigError(Loader(source_name).source_mark(documents[1].Mark()),
                      "more than one YAML document; a config is a single document");
  }
  const YAML::Node root = documents.empty() ? YAML::Node() : documents.front();
  return SectionLoader(source_name).load(root);
}

}  // namespace
}  // namespace config_detail

Config load_config_string(const std::string& yaml, const std::string& source_name) {
  try {
    return config_detail::load_from_text(yaml, source_name);
  } catch (const ConfigError&) {
    throw;
  } catch (const YAML::Exception& e) {
    // yaml-cpp may throw from node access on input the loader did not foresee; still a config
    // problem, and still reported with a position.
    throw ConfigError(config_detail::Loader(source_name).source_mark(e.mark), e.msg);
  } catch (const std::exception& e) {
    throw ConfigError(source_name + ": " + e.what());
  }
}

Config load_config_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    throw ConfigError(path + ": cannot open: " + std::strerror(errno));
  }
  std::string text;
  char chunk[16384];
  while (true) {
    const ssize_t n = ::read(fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      const int saved = errno;
      ::close(fd);
      throw ConfigError(path + ": cannot read: " + std::strerror(saved));
    }
    if (n == 0) {
      break;
    }
    text.append(chunk, static_cast<size_t>(n));
  }
  ::close(fd);
  return load_config_string(text, path);
}

}  // namespace ringgate
