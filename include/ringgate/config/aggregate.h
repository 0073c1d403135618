#pragma once
// The `aggregate:` route action: one client request becomes calls to several backends (clusters
// of `upstreams:`) whose JSON bodies are spliced into one response object.
//
// Everything the aggregation engine needs is resolved at load, so nothing is parsed per request:
// clusters by index, templates compiled into pieces, references between backends into
// depends_on and stage, profiles into one complete projection per backend, `default` values
// into JSON text. Every option is documented in conf/ringgate.yaml.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ringgate/config/host_policy.h"

namespace ringgate {

using Duration = std::chrono::milliseconds;  // as in config.h

// One step of a dotted path into a JSON value: a member of an object, an element of an array,
// or (allow and deny only) every element of an array.
struct JsonPathStep {
  enum class Kind : uint8_t { kMember, kIndex, kEach };
  Kind kind = Kind::kMember;
  std::string member;  // kMember: the member name ([A-Za-z0-9_-]+)
  uint32_t index = 0;  // kIndex: `[N]`, 0-based
};

// A path like `lines[0].sku`, relative to some JSON value; no steps: the value itself. `text`
// is in json::Path syntax (include/ringgate/aggregate/json.h), so the engine can build its
// paths and projections from it; `steps` is the same path, already split.
struct JsonPath {
  std::string text;  // as written, without a leading '.'
  std::vector<JsonPathStep> steps;
};

// One piece of a compiled template. A template is the concatenation of its pieces.
struct TemplatePiece {
  enum class Kind : uint8_t {
    kLiteral,    // `text` as is; `{{` and `}}` are already single braces
    kPathParam,  // the route's path parameter number `index` (RouteMatchResult::params[index],
                 // left to right in match.path); `text` is its name
    kQuery,      // the client's query parameter named `text`
    kHeader,     // the client's request header named `text` (lower-case)
    kItem,       // the current for_each element, at `path`
    kBackend,    // the response of backend number `index`, at `path` (the body as received:
                 // before projection; for a for_each backend the joined array; for a failed
                 // optional backend its default)
    kClaim,      // a claim (`text`) of the route's verified JWT: number `index` of its issuer's
                 // rules.forward
  };
  Kind kind = Kind::kLiteral;
  std::string text;
  uint32_t index = 0;
  JsonPath path;  // kItem and kBackend: where in the value; no steps = all of it
};

struct AggregateTemplate {
  std::string text;                   // as written in the config
  std::vector<TemplatePiece> pieces;  // adjacent literals merged; none for ""
};

// A query parameter or request header sent to a backend.
struct AggregateParam {
  std::string name;  // query parameter name as written; header name lower-case
  AggregateTemplate value;
};

struct MemberRename {
  std::string from;
  std::string to;
};

// What of a backend's body goes into the response: `pick`, then `allow`, then `deny`, then
// `rename` (json::ProjectionSpec's semantics). All empty: the body as received.
struct AggregateProjection {
  std::optional<JsonPath> pick;  // that value replaces the body; never with allow/deny; no [*]
  // Keep only these paths; empty = keep everything. Members and at most one [*] each, no [N];
  // none inside another.
  std::vector<JsonPath> allow;
  std::vector<JsonPath> deny;        // drop these paths (as allow; each inside an allow path)
  std::vector<MemberRename> rename;  // top-level members; no two of one name or to one name
};

// One call per element of an array in an earlier backend's response; the results are joined into
// an array in element order.
struct AggregateForEach {
  uint32_t backend = 0;      // index of the backend whose response holds the array
  JsonPath array;            // from that response to the array: the part before `[*]`
  JsonPath element;          // from each element to the value `{item}` stands for: after `[*]`
  uint32_t concurrency = 8;  // calls in flight at once, 1..256
  uint32_t max_items = 100;  // more elements than this fails the backend, 1..10000
};

// A backend's `cache:` (GET backends without for_each): its responses kept in a cache of
// `caches:`, a fresh one answering in place of the call, a stale one standing in for a failed
// call within stale_if_error (before the backend's `default`).
struct BackendCacheConfig {
  std::string use = "default";
  uint32_t cache_index = 0;  // into Config::caches (resolved at load)
  Duration default_ttl{0};   // lifetime of a response that states none (0: not stored)
  Duration stale_if_error{0};
};

struct AggregateBackend {
  std::string key;             // response member name; unique within the action
  std::string cluster;         // a key of `upstreams:`
  uint32_t cluster_index = 0;  // its position in Config::upstreams (resolved at load)
  std::string method = "GET";  // upper-case; never CONNECT or HEAD
  std::optional<BackendCacheConfig> cache;
  AggregateTemplate path;               // starts with '/'; no query (that is `query`)
  std::vector<AggregateParam> query;    // in config order
  std::vector<AggregateParam> headers;  // in config order; no hop-by-hop, framing or Host
  bool sets_accept_encoding = false;    // one of `headers`; else the call asks for identity
  // `host:` (the Host the call sends); none: the cluster's `host:`, else kEndpoint.
  std::optional<HostPolicy> host;
  std::string host_value;                 // kFixed: host[:port] as written
  std::optional<AggregateTemplate> body;  // POST, PUT, PATCH and DELETE only
  std::string content_type;  // of `body` (default application/json); empty without a body
  Duration timeout{5000};    // one call; the aggregate's timeout when not given, never above it
  bool optional = false;     // false: its failure fails the whole request
  // Valid JSON that stands for an optional backend's response when it fails: `default` as
  // given, else null ({} with merge).
  std::string default_json = "null";
  bool merge = false;  // the members of its (object) body go to the top level, not under `key`
  AggregateProjection projection;
  std::optional<AggregateForEach> for_each;
  std::vector<uint32_t> depends_on;  // backends its templates or for_each read; ascending, unique
  uint32_t stage = 0;                // 0 without dependencies, else 1 + the largest of theirs
};

// Per backend body; crossing one is a failure of that backend.
struct AggregateLimits {
  uint64_t body_bytes = 1 << 20;  // 1..64MiB
  uint32_t depth = 64;            // nesting of arrays and objects, 1..1024
  uint32_t elements = 10000;      // elements of any one array, 1..10000000
};

// A profile's view of one backend.
struct ProfileBackend {
  bool skip = false;               // not called, and absent from the response
  AggregateProjection projection;  // complete: the backend's own, with the profile's overrides
};

struct AggregateProfile {
  std::string name;
  std::vector<ProfileBackend> backends;  // one per AggregateAction::backends, in its order
};

// BFF projections: a request names a profile in a header or a query parameter.
struct AggregateProfiles {
  enum class Select : uint8_t { kHeader, kQuery };
  Select select = Select::kHeader;
  std::string select_name;  // header name (lower-case) or query parameter name
  // Profile for requests that name none or an unknown one; none: the backends' own projections.
  std::optional<uint32_t> default_profile;
  std::vector<AggregateProfile> profiles;  // in config order
};

// Route action: call `backends` (in parallel, in stages where one reads another's response) and
// answer one JSON object with a member per backend.
struct AggregateAction {
  Duration timeout{5000};  // the whole aggregation, 1ms..1h
  bool errors = false;     // add an "errors" member listing the failed optional backends
  // Two members of one name in the response (from `merge: true` backends): refuse the response
  // (502), keep the first, or keep the last.
  enum class Collision : uint8_t { kError, kFirst, kLast };
  Collision on_collision = Collision::kError;
  // A required backend whose own 4xx/5xx status, body and Content-Type the client gets when
  // that backend fails with such a status (its body when within limits.body_bytes, else the
  // gateway's problem document).
  std::optional<uint32_t> status_from;
  std::vector<std::string> headers;  // upstream response headers passed on, lower-case
  // Cache-Control of a 200 answer: computed from the backends' responses (kMostRestrictive, see
  // conf/ringgate.yaml for the rule), none (kNone), or `cache_control_value` as written (kFixed).
  // A partial answer is no-store whatever this says.
  enum class CacheControl : uint8_t { kMostRestrictive, kNone, kFixed };
  CacheControl cache_control = CacheControl::kMostRestrictive;
  std::string cache_control_value;
  AggregateLimits limits;
  std::optional<AggregateProfiles> profiles;
  std::vector<AggregateBackend> backends;  // 1..64, in config order (the response's order)
  uint32_t stage_count = 1;                // 1 + the largest stage
};

}  // namespace ringgate
