#include "ringgate/core/error.h"

namespace ringgate {

std::string_view error_text(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kNone:
      return "no error";
    case ErrorKind::kMalformed:
      return "the request is malformed";
    case ErrorKind::kUriTooLong:
      return "request target too long";
    case ErrorKind::kHeadTooLarge:
      return "request head too large";
    case ErrorKind::kBodyTooLarge:
      return "request body too large";
    case ErrorKind::kExpectation:
      return "unsupported expectation";
    case ErrorKind::kVersion:
      return "HTTP version not supported";
    case ErrorKind::kNotImplemented:
      return "the gateway does not implement what the request needs";
    case ErrorKind::kBadEscape:
      return "the path holds a malformed percent-escape ('%' without two hex digits)";
    case ErrorKind::kPathNotAllowed:
      return "the path holds an encoded slash, a backslash, an encoded NUL or overlong UTF-8, "
             "which this route does not allow";
    case ErrorKind::kNoRoute:
      return "no route matches this request";
    case ErrorKind::kMethodNotAllowed:
      return "method not allowed on this route";
    case ErrorKind::kHeadTimeout:
      return "request head not received in time";
    case ErrorKind::kBodyTimeout:
      return "request body not received in time";
    case ErrorKind::kUnauthorized:
      return "credentials are required";
    case ErrorKind::kForbidden:
      return "the credentials do not grant what this route requires";
    case ErrorKind::kLimited:
      return "too many requests";
    case ErrorKind::kCorsRefused:
      return "the CORS preflight asks for an origin, method or header this route does not allow";
    case ErrorKind::kConnect:
      return "could not be reached";
    case ErrorKind::kConnectTimeout:
      return "could not be reached in time";
    case ErrorKind::kReset:
    case ErrorKind::kBadResponse:
      return "sent an invalid or incomplete response";
    case ErrorKind::kTimeout:
      return "did not answer in time";
    case ErrorKind::kNoEndpoint:
      return "has no available endpoint";
    case ErrorKind::kAtLimit:
      return "is at its connection or request limit";
    case ErrorKind::kCircuitOpen:
      return "is failing; its circuit breaker is open";
    case ErrorKind::kUpstreamStatus:
      return "answered an error status";
    case ErrorKind::kDependencyTimeout:
      return "a service the gateway depends on did not answer in time";
    case ErrorKind::kInternal:
      return "the response could not be built";
    case ErrorKind::kOverloaded:
      return "the gateway is at its connection limit; try again shortly";
  }
  return "failed";
}

std::string_view error_code(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kNone:
      return "none";
    case ErrorKind::kMalformed:
      return "malformed";
    case ErrorKind::kUriTooLong:
      return "uri_too_long";
    case ErrorKind::kHeadTooLarge:
      return "head_too_large";
    case ErrorKind::kBodyTooLarge:
      return "body_too_large";
    case ErrorKind::kExpectation:
      return "expectation";
    case ErrorKind::kVersion:
      return "version";
    case ErrorKind::kNotImplemented:
      return "not_implemented";
    case ErrorKind::kBadEscape:
      return "bad_escape";
    case ErrorKind::kPathNotAllowed:
      return "path_not_allowed";
    case ErrorKind::kNoRoute:
      return "no_route";
    case ErrorKind::kMethodNotAllowed:
      return "method_not_allowed";
    case ErrorKind::kHeadTimeout:
      return "head_timeout";
    case ErrorKind::kBodyTimeout:
      return "body_timeout";
    case ErrorKind::kUnauthorized:
      return "unauthorized";
    case ErrorKind::kForbidden:
      return "forbidden";
    case ErrorKind::kLimited:
      return "rate_limited";
    case ErrorKind::kCorsRefused:
      return "cors_refused";
    case ErrorKind::kConnect:
      return "upstream_connect";
    case ErrorKind::kConnectTimeout:
      return "upstream_connect_timeout";
    case ErrorKind::kReset:
      return "upstream_reset";
    case ErrorKind::kBadResponse:
      return "upstream_bad_response";
    case ErrorKind::kTimeout:
      return "upstream_timeout";
    case ErrorKind::kNoEndpoint:
      return "no_endpoint";
    case ErrorKind::kAtLimit:
      return "upstream_at_limit";
    case ErrorKind::kCircuitOpen:
      return "circuit_open";
    case ErrorKind::kUpstreamStatus:
      return "upstream_status";
    case ErrorKind::kDependencyTimeout:
      return "dependency_timeout";
    case ErrorKind::kOverloaded:
      return "overloaded";
    case ErrorKind::kInternal:
      return "internal";
  }
  return "unknown";
}

}  // namespace ringgate
