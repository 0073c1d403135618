#pragma once
// Why a request failed, as every module reports it: what went wrong (kind), whose fault it is
// (source: the client, an upstream cluster, an aggregation backend, the gateway) and whether
// another try may succeed. Failures travel as an Error from where they happen to the one place
// that turns them into a status and an RFC 9457 body (src/http/error_reply.cc); no failure site
// picks a status code.

#include <cstdint>
#include <string_view>

namespace ringgate {

enum class ErrorKind : uint8_t {
  kNone,
  // --- the client's request (source kClient) ---
  kMalformed,         // bad syntax or framing (the detail says what) → 400
  kUriTooLong,        // request line over limits.request_line → 414
  kHeadTooLarge,      // head over limits.header_bytes or limits.headers → 431
  kBodyTooLarge,      // body over limits.body_bytes → 413
  kExpectation,       // an Expect other than 100-continue → 417
  kVersion,           // not HTTP/1.x → 505
  kNotImplemented,    // CONNECT, or a transfer coding other than chunked → 501
  kBadEscape,         // '%' without two hex digits in the path → 400
  kPathNotAllowed,    // an encoded slash, backslash, NUL or overlong UTF-8 the route refuses
  kNoRoute,           // → 404
  kMethodNotAllowed,  // the path matches, the method does not → 405
  kHeadTimeout,       // the head did not arrive within limits.header_timeout → 408
  kBodyTimeout,       // the body did not arrive within limits.request_timeout → 408
  kUnauthorized,      // no credentials, or invalid ones → 401
  kForbidden,         // valid credentials without the rights the route needs → 403
  kLimited,           // over a rate limit → 429
  kCorsRefused,       // a preflight for an origin, method or header the route does not allow
  // --- an upstream or an aggregation backend (source kUpstream or kBackend) ---
  kConnect,         // could not connect (refused, unreachable) → 502
  kConnectTimeout,  // the connection was not established within connect_timeout → 504
  kReset,           // the connection failed after it was established → 502
  kBadResponse,     // invalid or cut response (bad framing, over a limit, bad JSON) → 502
  kTimeout,         // no (complete) answer in time → 504
  kNoEndpoint,      // every endpoint is down, ejected or unresolved → 503
  kAtLimit,         // the cluster's connection, pending or request limit → 503
  kCircuitOpen,     // the circuit breaker refuses calls → 503
  kUpstreamStatus,  // a backend answered a non-2xx status; 502 unless `pass_status`
  // --- the gateway itself (source kGateway) ---
  kDependencyTimeout,  // a service the gateway asks (the rate limit's Redis) did not answer → 503
  kOverloaded,         // at server.limits.connections: a connection accepted past the cap → 503
  kInternal,           // the gateway could not build a response → 502
};

inline constexpr size_t kErrorKindCount = static_cast<size_t>(ErrorKind::kInternal) + 1;

enum class ErrorSource : uint8_t { kClient, kUpstream, kBackend, kGateway };

struct Error {
  ErrorKind kind = ErrorKind::kNone;
  ErrorSource source = ErrorSource::kGateway;
  bool retryable = false;    // another try (another endpoint) may succeed
  bool pass_status = false;  // kUpstreamStatus: answer with the backend's own status
  uint16_t status = 0;       // kUpstreamStatus: the status the upstream answered
  // The upstream cluster or backend key (kUpstream, kBackend): config-owned text.
  std::string_view name;
  // What went wrong, when more is known than the kind says (a parser's reason, a token's
  // problem, an aggregation backend's reason). Must outlive the answer: static, config-owned or
  // held by the call that failed until it has answered.
  std::string_view detail;

  explicit operator bool() const { return kind != ErrorKind::kNone; }
  // Nothing reached the upstream: even a request that is not idempotent may be tried again.
  bool before_connection() const {
    return kind == ErrorKind::kConnect || kind == ErrorKind::kConnectTimeout;
  }

  static Error of(ErrorKind kind) {
    Error e;
    e.kind = kind;
    return e;
  }
  static Error client(ErrorKind kind, std::string_view detail = {}) {
    Error e;
    e.kind = kind;
    e.source = ErrorSource::kClient;
    e.detail = detail;
    return e;
  }
  static Error upstream(ErrorKind kind, std::string_view cluster) {
    Error e;
    e.kind = kind;
    e.source = ErrorSource::kUpstream;
    e.name = cluster;
    e.retryable = kind == ErrorKind::kConnect || kind == ErrorKind::kConnectTimeout ||
                  kind == ErrorKind::kReset || kind == ErrorKind::kBadResponse ||
                  kind == ErrorKind::kTimeout;
    return e;
  }
  static Error gateway(ErrorKind kind, std::string_view detail = {}) {
    Error e;
    e.kind = kind;
    e.source = ErrorSource::kGateway;
    e.detail = detail;
    return e;
  }
};

// The kind's own words ("could not be reached", "did not answer in time"), for logs, bodies and
// aggregation's "errors" member.
std::string_view error_text(ErrorKind kind);
// The kind as one lower-case word ("upstream_connect", "rate_limited"), for log lines.
std::string_view error_code(ErrorKind kind);

}  // namespace ringgate
