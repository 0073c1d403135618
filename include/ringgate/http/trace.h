#pragma once
// W3C trace context (https://www.w3.org/TR/trace-context/): the `traceparent` a request brings is
// continued or a new trace started (server.trace_context), and every call the gateway makes for
// the request carries a traceparent with a span id of its own.

#include <cstddef>
#include <string_view>

#include "ringgate/http/exchange.h"
#include "ringgate/http/forward.h"

namespace ringgate {

constexpr size_t kTraceparentLength = 55;  // "00-" 32 "-" 16 "-" 2

// Reads a traceparent: version 00, or a later version's first 55 characters when what follows
// them starts with '-'. Its trace id and flags; false when it is not valid (wrong layout,
// upper-case hex, an all-zero trace or parent id, version ff).
bool parse_traceparent(std::string_view value, char* trace_id, char* flags);
// The request's trace: the client's continued (accept, and a valid single traceparent), else a
// new one with a fresh trace id from `ids` and flags 01 (sampled: the services behind record it).
void start_trace(TraceContext& trace, const MessageParser& request, bool accept,
                 RequestIdGenerator& ids);
// "00-<trace id>-<a new span id from ids>-<flags>" into out[kTraceparentLength].
// A trace started here has a trace id no other request has: it serves as the request's
// X-Request-Id too (one id to quote), sparing a second one.
inline bool trace_is_unique(const TraceContext& trace) {
  return trace.on && !trace.continued;
}
void write_traceparent(char* out, const TraceContext& trace, RequestIdGenerator& ids);

}  // namespace ringgate
