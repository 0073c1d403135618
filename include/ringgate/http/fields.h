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
};

// By length first: at most three names share one, so one to three comparisons a field.
inline FieldRule field_rule(std::string_view name) {
  auto is = [name](std::string_view lower, FieldRule f, FieldRule otherwise = FieldRule::kOther) {
    return iequals(name, lower) ? f : otherwise;
  };
  switch (name.size()) {
    case 2:
      return is("te", FieldRule::kTe);
    case 4:
      return is("host", FieldRule::kHost);
    case 6:
      return is("expect", FieldRule::kExpect);
    case 7:
      return is("trailer", FieldRule::kTrailer, is("upgrade", FieldRule::kUpgrade));
    case 10:
      return is("connection", FieldRule::kConnection,
                is("keep-alive", FieldRule::kKeepAlive, is("tracestate", FieldRule::kTracestate)));
    case 11:
      return is("traceparent", FieldRule::kTraceparent);
    case 12:
      return is("x-request-id", FieldRule::kXRequestId);
    case 14:
      return is("content-length", FieldRule::kContentLength);
    case 15:
      return is("x-forwarded-for", FieldRule::kXForwardedFor);
    case 16:
      return is("proxy-connection", FieldRule::kProxyConnection,
                is("x-forwarded-host", FieldRule::kXForwardedHost));
    case 17:
      return is("transfer-encoding", FieldRule::kTransferEncoding,
                is("x-forwarded-proto", FieldRule::kXForwardedProto));
    case 19:
      return is("proxy-authorization", FieldRule::kProxyAuthorization);
    default:
      return FieldRule::kOther;
  }
}

}  // namespace ringgate
