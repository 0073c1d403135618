#pragma once
// Header fields with a rule of their own, by name: what the parsers' fast paths and the head
// writers (forward.cc) both go by, so that a name given a rule is seen by both. Every other
// field passes through a proxy as it was received, unless a Connection header names it.

#include <cstdint>
#include <string_view>

#include "ringgate/core/ascii.h"

namespace ringgate {

enum class FieldRule : uint8_t {
  kOther,
  kConnection,
  kKeepAlive,
  kProxyConnection,
  kTe,
  kTrailer,
  kTransferEncoding,
  kUpgrade,
  kProxyAuthorization,
  kHost,
  kContentLength,
  kExpect,
  kXForwardedFor,
  kXForwardedProto,
  kXForwardedHost,
  kXRequestId,
  kTraceparent,
  kTracestate,
  // A response without one gets the gateway's (RFC 9110 6.6.1). Passed as received: a fast path
  // notes it (may_have) without marking the field ruled.
  kDate,
};

// By length and first letter: at most one name is compared per field, and most names without a
// rule (Content-Type, Server, Accept, ...) are told apart by those two alone.
// Always inlined: each caller's loop over the fields keeps it, where an out-of-line call per
// field cost 200 instructions per proxied request.
[[gnu::always_inline]] inline FieldRule field_rule(std::string_view name) {
  if (name.size() < 2) {
    return FieldRule::kOther;
  }
  auto is = [name](std::string_view lower, FieldRule f) {
    return iequals(name, lower) ? f : FieldRule::kOther;
  };
  const char first = static_cast<char>(name[0] | 0x20);  // (a non-letter matches no case below)
  switch (name.size()) {
    case 2:
      return first == 't' ? is("te", FieldRule::kTe) : FieldRule::kOther;
    case 4:
      return first == 'h'   ? is("host", FieldRule::kHost)
             : first == 'd' ? is("date", FieldRule::kDate)
                            : FieldRule::kOther;
    case 6:
      return first == 'e' ? is("expect", FieldRule::kExpect) : FieldRule::kOther;
    case 7:
      return first == 't'   ? is("trailer", FieldRule::kTrailer)
             : first == 'u' ? is("upgrade", FieldRule::kUpgrade)
                            : FieldRule::kOther;
    case 10:
      return first == 'c'   ? is("connection", FieldRule::kConnection)
             : first == 'k' ? is("keep-alive", FieldRule::kKeepAlive)
             : first == 't' ? is("tracestate", FieldRule::kTracestate)
                            : FieldRule::kOther;
    case 11:
      return first == 't' ? is("traceparent", FieldRule::kTraceparent) : FieldRule::kOther;
    case 12:
      return first == 'x' ? is("x-request-id", FieldRule::kXRequestId) : FieldRule::kOther;
    case 14:
      return first == 'c' ? is("content-length", FieldRule::kContentLength) : FieldRule::kOther;
    case 15:
      return first == 'x' ? is("x-forwarded-for", FieldRule::kXForwardedFor) : FieldRule::kOther;
    case 16:
      return first == 'p'   ? is("proxy-connection", FieldRule::kProxyConnection)
             : first == 'x' ? is("x-forwarded-host", FieldRule::kXForwardedHost)
                            : FieldRule::kOther;
    case 17:
      return first == 't'   ? is("transfer-encoding", FieldRule::kTransferEncoding)
             : first == 'x' ? is("x-forwarded-proto", FieldRule::kXForwardedProto)
                            : FieldRule::kOther;
    case 19:
      return first == 'p' ? is("proxy-authorization", FieldRule::kProxyAuthorization)
                          : FieldRule::kOther;
    default:
      return FieldRule::kOther;
  }
}

}  // namespace ringgate
