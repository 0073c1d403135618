#pragma once
// Validated, immutable gateway configuration. Built once from YAML at start-up (or on reload, off
// the request path) and then shared read-only by every shard.

#include <chrono>
#include <cstdint>
#include <iterator>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "ringgate/config/aggregate.h"
#include "ringgate/config/cors.h"
#include "ringgate/config/host_policy.h"
#include "ringgate/jose/api_keys.h"
#include "ringgate/jose/claims.h"
#include "ringgate/jose/jwt.h"
#include "ringgate/tls/config.h"

namespace ringgate {

using Duration = std::chrono::milliseconds;

// Where a config value came from, for error messages (`file:line:column`). Lines and columns are
// 1-based.
struct SourceMark {
  std::string file;
  int line = 0;
  int column = 0;
};

// A load reports at most this many problems; beyond them it only counts.
inline constexpr size_t kMaxConfigProblems = 20;

// Thrown only while loading a config; what() is "file:line:column: reason", or for a config
// with several problems one such line per problem, the first found first, and "... and N more"
// past kMaxConfigProblems.
class ConfigError : public std::runtime_error {
 public:
  ConfigError(const SourceMark& mark, const std::string& reason);
  explicit ConfigError(const std::string& message);
  // `problems` in the order found; `more` problems left out after them.
  ConfigError(std::vector<std::string> problems, size_t more);

  // Each problem, "file:line:column: reason"; one unless the load found several.
  const std::vector<std::string>& problems() const { return problems_; }
  size_t more() const { return more_; }

 private:
  std::vector<std::string> problems_;
  size_t more_ = 0;
};

struct ListenConfig {
  std::string
      address;  // "host:port", IPv4 or [IPv6]; port 0 picks a free port (shared by all shards)
  SourceMark mark;
  std::shared_ptr<const TlsListenConfig> tls;  // null: plain HTTP
};

// Provided-buffer ring per shard: `count` buffers of `size` bytes receive everything read.
struct BufferConfig {
  uint32_t size = 16 * 1024;  // 1KiB..64KiB (offsets into a buffer are 16-bit)
  uint32_t count = 0;         // power of two, 1..32768; 0 = auto (buffer_count_auto)
};

// `buffers.count: auto` for a shard with `connections` client connections (its share of
// limits.connections): a buffer for every fourth connection, as a power of two in 256..4096.
// Touched memory per shard is count x size, so it follows the connections a shard may have
// instead of a fixed 64MiB (4096 x 16KiB) whatever the number of shards.
uint32_t buffer_count_auto(uint32_t connections);

struct Limits {
  uint32_t request_line = 8 * 1024;   // method + target + version; longer → 414
  uint32_t header_bytes = 16 * 1024;  // whole request head; more → 431 (≤ 64KiB)
  uint32_t headers = 100;             // header fields; more → 431
  uint64_t body_bytes = 8ull << 20;   // request body; more → 413
  uint32_t connections = 10000;    // open client connections per process; more are closed at once
  Duration header_timeout{10000};  // from the first byte of a request to the end of its head → 408
  Duration idle_timeout{60000};    // keep-alive connection with no request in progress → close
  Duration request_timeout{60000};  // from head complete to the response being sent → 408 and close
};

// server.http2: the limits of a client's HTTP/2 connection (ALPN h2, or h2c by prior knowledge).
struct Http2Config {
  uint32_t max_concurrent_streams = 100;  // SETTINGS_MAX_CONCURRENT_STREAMS
  uint32_t initial_window = 64 * 1024;    // SETTINGS_INITIAL_WINDOW_SIZE, per stream
  // SETTINGS_MAX_HEADER_LIST_SIZE; a request over it is answered 431 on its stream. 0: the same
  // as limits.header_bytes (the resolved value is stored after loading).
  uint32_t max_header_list = 0;
  // Stream resets and protocol errors a client may cause per second; more: GOAWAY
  // ENHANCE_YOUR_CALM (the rapid-reset attack).
  uint32_t max_resets_per_second = 200;
};

struct ServerConfig {
  uint32_t workers = 0;  // shards; 0 = auto (one per online CPU)
  bool pin_cpus = true;  // pin shard i to the i-th allowed CPU
  std::vector<ListenConfig> listen;
  BufferConfig buffers;
  Limits limits;
  Http2Config http2;
  Duration drain_timeout{10000};  // SIGTERM: time allowed for in-flight requests
  // SIGTERM: an idle keep-alive connection is kept this long (within drain_timeout) so that a
  // request already on the wire is still answered (with Connection: close); then it is closed.
  Duration drain_grace{1000};
  std::string server_header = "ringgate";  // empty: no Server header
  uint32_t ring_entries = 4096;            // io_uring SQ entries per shard (power of two)
  uint32_t backlog = 4096;                 // listen(2) backlog
  // Once a completion has arrived, wait up to this long for more before handling the batch
  // (only while at least 4 connections are busy; needs Linux 6.12, ignored before). Fewer
  // wake-ups of the shard, but its peers see bursts; 0 turns it off. batch_wait_auto (`auto`,
  // the default): 50us, used or not as each shard measures under load (core/batch_tuner.h),
  // starting as a syscall's cost suggests (core/reactor.h, auto_batch_wait_us).
  uint32_t batch_wait_us = 0;
  bool batch_wait_auto = true;
  // Proxies in front of this gateway whose X-Forwarded-* headers are trusted. 0 (the edge): a
  // client's X-Forwarded-For/-Proto/-Host are replaced by what the gateway saw. N: they are
  // kept and the peer appended, and the client address is the Nth entry from the right.
  uint32_t trusted_hops = 0;
  // W3C trace context. accept: a valid `traceparent` from the client is continued (its trace
  // id kept, `tracestate` passed on), else a trace is started here; restart: a trace is always
  // started here (the client's traceparent and tracestate are dropped); off: neither read nor
  // written (passed through like any header). Every upstream call gets a span id of its own.
  enum class TraceContext : uint8_t {
    kAccept,
    kRestart,
    kOff
  } trace_context = TraceContext::kAccept;
  // Upstream endpoint names are looked up in this hosts(5)-format file before DNS, reread at
  // every dns_refresh (file-based service discovery). Empty: DNS only. Like every path of a
  // config, as opened: a relative path given in a config file is joined to its directory.
  std::string hosts_file;
};

struct AdminConfig {
  bool enabled = true;
  std::string listen = "127.0.0.1:9901";  // /healthz, /metrics
  SourceMark mark;
};

// `logging:` — the error log's level and the access log.
enum class LogLevel : uint8_t { kError, kWarn, kInfo, kDebug };

// An access log line's fields (logging.access.fields), in the order kAccessFieldNames lists them.
enum class AccessField : uint8_t {
  kTime,
  kRequestId,
  kTraceId,
  kClient,
  kMethod,
  kPath,
  kStatus,
  kBytesIn,
  kBytesOut,
  kDurationUs,
  kUpstream,
  kUpstreamStatus,
  kUpstreamDurationUs,
  kRoute,
  kConsumer,
  kPartial,
  kError,
  kCount
};
inline constexpr const char* kAccessFieldNames[] = {"time",
                                                    "request_id",
                                                    "trace_id",
                                                    "client",
                                                    "method",
                                                    "path",
                                                    "status",
                                                    "bytes_in",
                                                    "bytes_out",
                                                    "duration_us",
                                                    "upstream",
                                                    "upstream_status",
                                                    "upstream_duration_us",
                                                    "route",
                                                    "consumer",
                                                    "partial",
                                                    "error"};
static_assert(std::size(kAccessFieldNames) == static_cast<size_t>(AccessField::kCount));

struct AccessLogConfig {
  bool enabled = false;  // off unless `logging.access` is given
  // "stdout", "stderr" or a file (appended to; opened again by SIGUSR1, for logrotate).
  std::string path = "stdout";
  enum class Format : uint8_t { kJson, kCombined } format = Format::kJson;
  std::vector<AccessField> fields;  // json: in this order; default every field
  // Of 1xx-3xx responses, the fraction logged (4xx and 5xx always are): 0..1 in millionths.
  uint32_t sample_ppm = 1000000;
};

struct LoggingConfig {
  // The error log (stderr): error = the gateway's own 5xx answers; warn = and upstream state
  // changes (health, ejection, circuit); info (default) = and its 4xx answers; debug = and every
  // aggregation backend call. Start-up and config messages are always written.
  LogLevel level = LogLevel::kInfo;
  AccessLogConfig access;
};

struct HeaderPair {
  std::string name;
  std::string value;
};

// Route action: answer from config without any upstream.
struct DirectResponse {
  int status = 200;
  std::vector<HeaderPair> headers;
  std::string body;
};

struct RouteMatch {
  enum class Kind { kExact, kPrefix, kTemplate };
  Kind kind = Kind::kExact;
  std::string path;                  // `/a/b`, prefix `/api/`, or template `/products/{id}`
  std::vector<std::string> methods;  // upper-case method names; empty = any method
  std::string host;                  // lower-case, no port; empty = any host
};

// Route action: proxy to a cluster from `upstreams:`.
struct UpstreamAction {
  std::string cluster;         // a key of `upstreams:`
  uint32_t cluster_index = 0;  // its position in Config::upstreams (resolved at load)
  // Path sent upstream. At most one of the two: `strip_prefix` removes a leading prefix (on a
  // segment boundary; an emptied path becomes "/"); `rewrite` replaces the part the route
  // matched: the whole path of an exact or template route, the prefix of a prefix route (the
  // rest is kept). The query string is always kept.
  std::string strip_prefix;
  std::string rewrite;
  // Host header sent upstream (kFixed: `host_value`). Without the route's own `host:`
  // (host_set false) the cluster's `host:` applies when it has one, else kPreserve.
  using HostPolicy = ringgate::HostPolicy;
  HostPolicy host = HostPolicy::kPreserve;
  std::string host_value;
  bool host_set = false;
  // The whole exchange, all tries, until the response's last byte: 504 before the head, a cut
  // response after it. With `stream`, it bounds the time to the head and then each stall
  // (re-armed whenever the client took what was sent), for long downloads and event streams.
  Duration timeout{15000};
  Duration try_timeout{0};  // one try until the response head; 0 = timeout
  uint32_t retries = 1;     // extra tries after the first (0..10)
  bool stream = false;
  // From the response head on, at least `min_rate_bytes` from the upstream in every
  // `min_rate_window`, or the response is cut (0: no minimum).
  uint64_t min_rate_bytes = 0;
  Duration min_rate_window{0};
};

// AggregateAction (the third action) is in aggregate.h.
using RouteAction = std::variant<DirectResponse, UpstreamAction, AggregateAction>;

// --- response caches (`caches:`) ---

// A named cache: a byte budget for the whole process, shared by the routes that `use` it.
struct CacheConfig {
  std::string name;
  uint64_t memory = 256ull << 20;    // bytes of stored responses (keys, heads and bodies)
  uint64_t max_object = 1ull << 20;  // a larger body passes through uncached
  bool debug_header = false;         // `Ringgate-Cache: hit|miss|stale|bypass` on responses
  SourceMark mark;
};

// A route's `cache:` (the cache filter's): which cache, what the key holds beyond the method
// (GET and HEAD share entries), the host and the normalised path, and the stale windows.
struct RouteCacheConfig {
  std::string use = "default";
  uint32_t cache_index = 0;  // into Config::caches (resolved at load)
  // `key.query`: the query parameters in the key, by name, in this order; without it the whole
  // query string is (`query: []`: none).
  bool query_all = true;
  std::vector<std::string> query;
  std::vector<std::string> headers;  // `key.headers`, lower-case
  // `key.consumer`: the caller is part of the key (the API-key consumer, else the JWT's `sub`);
  // such a route also caches requests with Authorization.
  bool consumer = false;
  int32_t consumer_claim = -1;  // the `sub` claim's index in the issuer's extracted claims
  Duration default_ttl{0};      // lifetime of a response that states none (0: not stored)
  Duration stale_while_revalidate{0};
  Duration stale_if_error{0};
  // Concurrent misses for one key wait this long for the first one's response, then go to the
  // upstream themselves.
  Duration lock_timeout{5000};
  bool authorization = false;        // cache requests that carry Authorization
  bool set_cookie = false;           // store responses that set cookies
  std::optional<bool> debug_header;  // else the cache's
};

struct RouteConfig {
  std::string name;  // `name:` or "route#N" (1-based index)
  RouteMatch match;
  // PathFlag bits (ringgate/core/path_flags.h) this route accepts in a request path: an encoded
  // slash, a backslash, an encoded NUL, overlong UTF-8. Anything else flagged is a 400.
  uint8_t path_allow = 0;
  // Indexes into Config::rate_limits checked for this route, in order: the global policies,
  // then the route's `rate_limit`.
  std::vector<uint32_t> rate_limits;
  // Per rate_limits entry: for a claim-keyed policy, the index of its claim in the route's
  // issuer's rules.forward (the value the check returns); -1 otherwise.
  std::vector<int32_t> rate_limit_claims;
  // `auth: {jwt: NAME, scopes: [...]}`: the issuer (index into Config::jwt_issuers, -1: none)
  // and the scopes a token must grant, as bits of that issuer's rules.scopes.
  struct Auth {
    int32_t jwt = -1;
    uint64_t scopes = 0;
    std::string scope_text;  // the scopes, space-separated (for WWW-Authenticate)
    int32_t api_key = -1;    // index into Config::api_keys, -1: none
    // Headers the gateway sets on this route (forwarded claims, the consumer), lower-case: the
    // client's copies are dropped.
    std::vector<std::string> drop_headers;
  };
  Auth auth;
  std::optional<CorsConfig> cors;         // `cors:`: browsers' cross-origin calls (the cors filter)
  std::optional<RouteCacheConfig> cache;  // `cache:` (the cache filter)
  RouteAction action;
  SourceMark mark;
};

// --- upstream clusters (`upstreams:`) ---

enum class BalanceKind : uint8_t { kRoundRobin, kLeastRequest, kP2C, kRingHash, kMaglev };

struct EndpointConfig {
  std::string address;  // "host:port", "[v6]:port" or "name:port" (resolved at load)
  uint32_t weight = 1;  // 1..1000
  SourceMark mark;
};

// Key of the hash policies: a request header, a cookie or the client address.
struct HashKeyConfig {
  enum class Kind : uint8_t { kClientIp, kHeader, kCookie };
  Kind kind = Kind::kClientIp;
  std::string name;  // header (lower-case) or cookie name
};

struct HealthCheckConfig {
  bool enabled = false;           // on when `health:` is given
  std::string path = "/healthz";  // GET; 2xx = pass
  Duration interval{5000};
  Duration timeout{1000};
  // Consecutive passes to become healthy: one, so a recovered endpoint serves again within one
  // interval (a failing one needs three misses, so one lucky pass does not flap it back for long).
  uint32_t healthy_threshold = 1;
  uint32_t unhealthy_threshold = 3;  // consecutive failures to become unhealthy
};

// Passive outlier ejection: an endpoint that keeps failing is taken out for a while, longer each
// time (base_ejection × times ejected, at most max_ejection).
struct OutlierConfig {
  uint32_t consecutive_5xx = 5;               // 0 = off
  uint32_t consecutive_connect_failures = 3;  // 0 = off
  Duration base_ejection{30000};
  Duration max_ejection{300000};
  uint32_t max_ejection_percent = 50;  // never eject more than this share of the endpoints
};

// Per cluster; the limits are process-wide, split evenly across shards (at least 1 each).
struct CircuitConfig {
  uint32_t max_connections = 10000;   // open upstream connections
  uint32_t max_pending = 1000;        // requests waiting for a connection
  uint32_t max_requests = 10000;      // requests in flight
  uint32_t consecutive_failures = 0;  // failed requests that open the circuit; 0 = never
  Duration open_for{10000};           // then one probe request; success closes it
};

struct RetryBudgetConfig {
  uint32_t percent = 20;        // retries may add at most this share of requests in flight
  uint32_t min_concurrent = 3;  // ... but this many concurrent retries are always allowed
};

inline constexpr uint32_t kKeepaliveUnlimited = UINT32_MAX;  // `keepalive: unlimited`

// How a cluster's endpoints are spoken to.
enum class UpstreamProtocol : uint8_t {
  kHttp1,  // HTTP/1.1, one request at a time per pooled connection
  kH2,     // HTTP/2: many requests per connection (prior knowledge, or ALPN h2 with tls:)
};

struct UpstreamConfig {
  std::string name;
  std::vector<EndpointConfig> endpoints;
  BalanceKind balance = BalanceKind::kRoundRobin;
  HashKeyConfig hash_key;  // for ring_hash / maglev
  // Idle connections kept per endpoint per shard. Unlimited by default: every connection opened
  // stays until keepalive_timeout (circuit.max_connections bounds how many are open), so a burst
  // wider than a fixed cap does not close connections the next burst opens again.
  uint32_t keepalive = kKeepaliveUnlimited;
  Duration keepalive_timeout{60000};         // idle pooled connection closed after this
  uint32_t max_requests_per_connection = 0;  // 0 = unlimited
  Duration connect_timeout{1000};
  Duration dns_refresh{30000};  // re-resolve names this often; 0 = only at load
  HealthCheckConfig health;
  OutlierConfig outlier;
  CircuitConfig circuit;
  RetryBudgetConfig retry_budget;
  // `host:`: the Host of the calls to this cluster that choose none (a proxied route or an
  // aggregate backend without its own `host:`); none: theirs, preserve and endpoint.
  std::optional<HostPolicy> host;
  std::string host_value;  // kFixed: host[:port] as written
  // `tls:`: HTTPS to the endpoints (verified by default); null: plain HTTP.
  std::shared_ptr<const TlsUpstreamConfig> tls;
  // `protocol: http1 | h2`.
  UpstreamProtocol protocol = UpstreamProtocol::kHttp1;
  SourceMark mark;
};

// --- authentication (`auth:`) ---

// A JWT issuer (`auth.jwt.NAME`): its keys, the algorithms and claims its tokens must have,
// where the token is read, and which claims go upstream as headers.
struct JwtIssuerConfig {
  std::string name;
  std::string jwks_file;  // as opened (see ServerConfig::hosts_file); may be empty
  // The keys of jwks_file, loaded with the config (a bad file is a config error); empty
  // without a file.
  std::shared_ptr<const std::vector<jwt::Key>> keys;
  // `jwks_url: https://host[:port]/path` (or http://): keys fetched by the gateway through its
  // own upstream client, from the cluster the loader adds for it (`jwks.NAME`; over https with
  // `jwks_tls`, the map of an upstream's `tls:`, verified by default), before it reports ready and
  // then every jwks_refresh; a request with an unknown kid waits for a refetch (at most one per
  // jwks_min_refresh, bounded by jwks_timeout). The last good keys stay while the URL fails.
  std::string jwks_url;
  uint32_t jwks_cluster = 0;  // index into Config::upstreams
  std::string jwks_host;      // Host header: the URL's host[:port]
  std::string jwks_path;      // path and query of the URL
  Duration jwks_refresh{300000};
  Duration jwks_min_refresh{30000};
  Duration jwks_timeout{5000};  // one fetch; the first must succeed within it (unless a file
                                // gives keys) or the gateway does not start
  // jwt::alg_bit mask; default: the algorithms of the file's keys, or every algorithm with a
  // URL (each key is pinned to its own anyway).
  uint32_t algorithms = 0;
  jwt::ClaimRules rules;  // scopes are filled in from the routes that use this issuer
  // Where the token is: kBearer = `Authorization: Bearer TOKEN`; kHeader = a header's whole
  // value; kQuery = a query parameter; kCookie = a cookie.
  enum class From : uint8_t { kBearer, kHeader, kQuery, kCookie };
  From from = From::kBearer;
  std::string from_name;  // kHeader: lower-case header name; kQuery, kCookie: the name
  // Claims sent upstream as headers (each header's client-sent copies are dropped first),
  // parallel to rules.forward.
  std::vector<std::string> forward_headers;  // lower-case header names
  uint32_t cache_entries = 1024;             // verified tokens remembered per shard (power of two)
  SourceMark mark;
};

// An API-key set (`auth.api_keys.NAME`): SHA-256 digests of the keys with consumer names.
struct ApiKeyConfig {
  std::string name;
  std::string file;                          // as opened (see ServerConfig::hosts_file)
  std::shared_ptr<const ApiKeyTable> table;  // as loaded with the config
  enum class From : uint8_t { kHeader, kQuery };
  From from = From::kHeader;
  std::string from_name = "x-api-key";         // header (lower-case) or query parameter
  std::string consumer_header = "x-consumer";  // sent upstream (lower-case); "" = none
  Duration reload_interval{5000};              // the file is re-read when it changes; 0 = never
  SourceMark mark;
};

// --- rate limits (`rate_limits:`) ---

// A named token-bucket policy: `rate` requests per `period`, bursts of up to `burst`, per key.
// The limit holds for the whole process (every shard together).
struct RateLimitPolicy {
  std::string name;
  enum class Key : uint8_t {
    kClientIp,    // the client's address: the peer, or with server.trusted_hops N the Nth
                  // X-Forwarded-For entry from the right
    kHeader,      // a request header's value (`header`); requests without it share one bucket
    kRoute,       // one bucket per route that applies the policy
    kConsumer,    // the API-key consumer (routes with auth.api_key only)
    kClaim,       // a verified JWT claim (`claim`; routes with auth.jwt only)
    kClientCert,  // the verified client certificate's subject (mTLS listeners); requests
                  // without one share one bucket
  };
  Key key = Key::kClientIp;
  std::string header;         // kHeader: lower-case name
  std::string claim;          // kClaim: the claim's name
  uint64_t tokens = 1;        // `rate: N/s`: N ...
  Duration period{1000};      // ... per second, minute (60s) or hour
  uint64_t burst = 1;         // bucket size: requests let through at once; default max(1, N)
  uint32_t max_keys = 65536;  // keys tracked at once (power of two); beyond, new keys share one
                              // overflow bucket until idle ones are reclaimed
  bool global = false;        // checked for every route, before the route's own policies
  // Where the shared budget lives: this process (shards lease from one table), or a Redis server
  // shared by every gateway node (shards lease batches from it, one call per batch).
  enum class Backend : uint8_t { kLocal, kRedis };
  Backend backend = Backend::kLocal;
  // kRedis: what a request gets when Redis cannot answer in time (counted either way).
  bool deny_on_error = false;  // `on_error: allow | deny`
  uint32_t batch = 0;  // tokens a shard leases at once; 0 = from the rate (see rate_limit.h)
  SourceMark mark;
};

// The Redis server of `backend: redis` rate limits (one for the process; each shard keeps one
// connection to it).
struct RedisConfig {
  bool enabled = false;   // the `redis:` section is present
  std::string address;    // "host:port" (a literal address)
  std::string password;   // AUTH before anything else when set
  uint32_t database = 0;  // SELECT when not 0
  Duration timeout{50};   // a lease call (or the connect) that takes longer fails → on_error
  Duration retry{1000};   // after a failure, requests use on_error until the next connect try
  std::string key_prefix = "ringgate:rl:";  // keys are PREFIX + policy + ":" + key
  SourceMark mark;
};

// The `aggregate:` section: the fan-out budget every aggregate route of a shard shares.
struct AggregateBudgetConfig {
  // Backend calls in flight at once on one shard, across all its aggregate requests (each call
  // of a for_each element counts). 0 = auto: a share of the open-file limit beside the client
  // connections, 64..1024 (aggregate_calls_auto).
  uint32_t max_calls_in_flight = 0;
  // A request that finds the budget taken waits this long for its first call, then 503 with
  // Retry-After. Calls of a request already started wait for a slot within its own timeout.
  Duration queue_timeout{1000};
};

// What `max_calls_in_flight: auto` gives each of `workers` shards, with `nofile` descriptors for
// the process and `connections` of them kept for clients.
uint32_t aggregate_calls_auto(uint64_t nofile, uint32_t connections, uint32_t workers);

// The `overload:` section: what the shards together may hold before they shed new work (new
// requests answered 503 with Retry-After and Connection: close, accepting paused) at 95% of a
// budget, until they are back under 90% of both. Each shard gets an even share.
struct OverloadConfig {
  // Bytes of request and response buffers held: received bytes not yet used (buffer-ring
  // buffers), heads waiting in scratch blocks, request arenas, output blocks, aggregation
  // bodies. 0 = auto (overload_memory_auto).
  uint64_t memory = 0;
  // Open sockets: client and upstream connections. 0 = auto (overload_fds_auto).
  uint64_t fds = 0;
};

// `memory: auto`: a quarter of the host's memory, or of the cgroup's limit when lower (0: none),
// at least 64MiB. `fds: auto`: the open-file limit less a reserve.
uint64_t overload_memory_auto(uint64_t physical, uint64_t cgroup_limit);
uint64_t overload_fds_auto(uint64_t nofile);

struct Config {
  std::string source;  // file name, or "<embedded>"
  std::string sha256;  // of the text it was loaded from (lower-case hex)
  // What the config says that is allowed but surely not meant, "file:line: warning: ..." (a
  // route no request can reach); printed at start-up and by `ringgate -t`.
  std::vector<std::string> warnings;
  ServerConfig server;
  AdminConfig admin;
  std::vector<UpstreamConfig> upstreams;     // in file order
  std::vector<RateLimitPolicy> rate_limits;  // in file order
  RedisConfig redis;
  AggregateBudgetConfig aggregate;
  OverloadConfig overload;
  LoggingConfig logging;
  std::vector<JwtIssuerConfig> jwt_issuers;  // `auth.jwt`, in file order
  std::vector<ApiKeyConfig> api_keys;        // `auth.api_keys`, in file order
  std::vector<CacheConfig> caches;           // `caches:`, in file order
  std::vector<RouteConfig> routes;
};

// Parse and validate; throws ConfigError with file:line:column and the reason of every problem
// found (see ConfigError). Relative
// paths in the config (jwks_file, an API-key file, hosts_file) are joined to the directory of
// the config file; a config loaded from a string has none, so its relative paths stay relative
// to the working directory.
Config load_config_file(const std::string& path);
Config load_config_string(const std::string& yaml, const std::string& source_name);

// conf/ringgate.yaml, compiled into the binary.
extern const char* const kEmbeddedDefaultConfig;

// "16KiB", "8MiB", "512" → bytes; "300ms", "60s", "2m", "1h" → Duration. false on bad
// syntax/overflow.
bool parse_size(const std::string& text, uint64_t& out);
bool parse_duration(const std::string& text, Duration& out);
// "50us", "1ms" → microseconds (for the few sub-millisecond settings).
bool parse_microseconds(const std::string& text, uint64_t& out);

}  // namespace ringgate
