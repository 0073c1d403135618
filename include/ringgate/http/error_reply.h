#pragma once
// The one place that turns an Error into what the client gets: the status and an RFC 9457
// problem body (application/problem+json). The codec, the filters, proxying and aggregation all
// answer their failures through it, so a kind of failure reads the same wherever it happens.

#include <string>

#include "ringgate/core/error.h"

namespace ringgate {

// The status the gateway answers `e` with.
int error_status(const Error& e);
// Appends what went wrong without saying where: "could not be reached", "answered 503", the
// detail the failure site gave (aggregation's "errors" member lists these per backend).
void append_error_reason(const Error& e, std::string& out);
// The status a failed call is reported with beside its reason (aggregation's "errors" member):
// the upstream's own for kUpstreamStatus, otherwise error_status().
int error_reported_status(const Error& e);
// Appends the problem's detail: `upstream "api" could not be reached`, `backend "stock"
// answered 503`, `too many requests: over the rate limit "per_client"`, a parser's reason.
void append_error_detail(const Error& e, std::string& out);
// `body` becomes the RFC 9457 document for `e` (its capacity is reused: no allocation once it
// is large enough), with a "trace_id" member when the request has one.
void error_body(const Error& e, std::string& body, std::string_view trace_id = {});

constexpr std::string_view kProblemContentType = "application/problem+json";

}  // namespace ringgate
