#include "ringgate/http/error_reply.h"

#include <cstdio>

#include "ringgate/http/response.h"

namespace ringgate {

int error_status(const Error& e) {
  switch (e.kind) {
    case ErrorKind::kMalformed:
    case ErrorKind::kBadEscape:
    case ErrorKind::kPathNotAllowed:
      return 400;
    case ErrorKind::kUnauthorized:
      return 401;
    case ErrorKind::kForbidden:
    case ErrorKind::kCorsRefused:
      return 403;
    case ErrorKind::kNoRoute:
      return 404;
    case ErrorKind::kMethodNotAllowed:
      return 405;
    case ErrorKind::kHeadTimeout:
    case ErrorKind::kBodyTimeout:
      return 408;
    case ErrorKind::kBodyTooLarge:
      return 413;
    case ErrorKind::kUriTooLong:
      return 414;
    case ErrorKind::kExpectation:
      return 417;
    case ErrorKind::kLimited:
      return 429;
    case ErrorKind::kHeadTooLarge:
      return 431;
    case ErrorKind::kNotImplemented:
      return 501;
    case ErrorKind::kVersion:
      return 505;
    case ErrorKind::kUpstreamStatus:
      // A backend's own status passes where the route asks for it (status_from); its 503 and
      // 504 say what the gateway would say, so they pass too; anything else is a bad gateway.
      if ((e.pass_status && e.status >= 400 && e.status <= 599) || e.status == 503 ||
          e.status == 504) {
        return e.status;
      }
      return 502;
    case ErrorKind::kTimeout:
    case ErrorKind::kConnectTimeout:
      return 504;
    case ErrorKind::kNoEndpoint:
    case ErrorKind::kAtLimit:
    case ErrorKind::kCircuitOpen:
    case ErrorKind::kDependencyTimeout:
    case ErrorKind::kOverloaded:
      return 503;
    case ErrorKind::kNone:
    case ErrorKind::kConnect:
    case ErrorKind::kReset:
    case ErrorKind::kBadResponse:
    case ErrorKind::kInternal:
      break;
  }
  return 502;
}

void append_error_reason(const Error& e, std::string& out) {
  if (!e.detail.empty()) {
    out.append(e.detail);
  } else if (e.kind == ErrorKind::kUpstreamStatus) {
    char status[16];
    const int n = snprintf(status, sizeof status, "answered %u", e.status);
    out.append(status, static_cast<size_t>(n));
  } else if (e.kind == ErrorKind::kLimited && !e.name.empty()) {
    out.append("too many requests: over the rate limit \"").append(e.name).append("\"");
  } else {
    out.append(error_text(e.kind));
  }
}

void append_error_detail(const Error& e, std::string& out) {
  switch (e.source) {
    case ErrorSource::kUpstream:
      out.append("upstream \"").append(e.name).append("\" ");
      break;
    case ErrorSource::kBackend:
      out.append("backend \"").append(e.name).append("\" ");
      break;
    case ErrorSource::kClient:
    case ErrorSource::kGateway:
      break;
  }
  append_error_reason(e, out);
}

int error_reported_status(const Error& e) {
  return e.kind == ErrorKind::kUpstreamStatus ? e.status : error_status(e);
}

void error_body(const Error& e, std::string& body, std::string_view trace_id) {
  const int status = error_status(e);
  body.assign("{\"type\":\"about:blank\",\"title\":\"");
  body.append(reason_phrase(status));
  char number[48];
  const int n = snprintf(number, sizeof number, "\",\"status\":%d,\"detail\":\"", status);
  body.append(number, static_cast<size_t>(n));
  // The detail goes in after the fixed part, then is escaped in place from where it starts.
  const size_t from = body.size();
  append_error_detail(e, body);
  json_escape_tail(body, from);
  if (!trace_id.empty()) {
    body.append("\",\"trace_id\":\"").append(trace_id);  // lower-case hex: nothing to escape
  }
  body.append("\"}");
}

}  // namespace ringgate
