#pragma once
// Heads that cross the proxy. The request head sent upstream and the response head sent back to
// the client are written from the received bytes: every header that passes through is copied as
// it arrived (name and value bytes unchanged), only what must change is dropped or added.
//
// Dropped both ways (hop-by-hop, RFC 9110 §7.6.1): Connection and every header it names,
// Keep-Alive, Proxy-Connection, TE (except that `TE: trailers` is kept on requests), Trailer,
// Transfer-Encoding (the proxy frames bodies itself), Upgrade (unless tunnelling), and on requests
// Proxy-Authorization. Content-Length passes through unless the body is re-framed.
//
// A header named in Connection is dropped only when no rule of its own governs it: naming
// Content-Length there must not strip the framing of a body still forwarded by length (request
// smuggling), nor naming Host or X-Forwarded-For hide what the gateway vouches for.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "ringgate/core/ascii.h"
#include "ringgate/core/header_list.h"
#include "ringgate/http/request_parser.h"

namespace ringgate {

// How the proxy frames a body it forwards.
enum class BodyFraming : uint8_t {
  kNone,        // no body (Content-Length: 0 is passed through if the client sent it)
  kLength,      // Content-Length, passed through
  kChunked,     // re-encoded chunked: Transfer-Encoding: chunked is written by the proxy
  kUntilClose,  // response without length to an HTTP/1.0 client: delimited by close
};

struct ForwardRequest {
  // Request target to send: the (possibly rewritten) path followed by "?query" if any. Set by
  // the caller (the original target, or a rewritten one); empty = the original target.
  std::string_view target;
  // Host header value: empty = the client's Host as sent. A request without Host (HTTP/1.0) gets
  // `Host: <host>` first, with an empty value when this is empty too (HTTP/1.1 requires one).
  std::string_view host;
  // The peer's address as text ("192.0.2.1" or "2001:db8::1", no port or brackets).
  std::string_view client_ip;
  bool tls = false;  // X-Forwarded-Proto https / http
  // 0: the client's X-Forwarded-For/-Proto/-Host are dropped and replaced. N > 0: kept, with
  // client_ip appended to X-Forwarded-For (-Proto and -Host set only when absent).
  uint32_t trusted_hops = 0;
  // X-Request-Id to add when the client sent no usable one (the first X-Request-Id must be 1 to
  // 200 visible ASCII characters; otherwise every client X-Request-Id is dropped and this one
  // sent). Empty: none added. Usually from RequestIdGenerator.
  std::string_view request_id;
  // W3C trace context: the traceparent value to send (http/trace.h); the client's traceparent
  // lines are dropped, and its tracestate lines too unless keep_tracestate (a continued trace).
  // Empty: both pass through as received.
  std::string_view traceparent;
  bool keep_tracestate = true;
  // Keep the Upgrade header and send `Connection: upgrade` (a tunnel is being set up).
  bool upgrade = false;
  BodyFraming framing = BodyFraming::kNone;
  // Header names (lower-case) the gateway sets itself: the client's copies are dropped.
  const std::vector<std::string>* drop = nullptr;
  // Header lines the gateway adds after the passed-through ones, each ending in CRLF (e.g.
  // forwarded JWT claims).
  std::string_view extra;
};

// Writes the upstream request head (request line through the final CRLF) into out[0, cap).
// Returns the bytes written, or 0 when it does not fit (bytes past cap are never touched). The
// request line is always HTTP/1.1 and the connection is kept alive (no Connection header unless
// upgrading). Headers that pass through keep their order and their received line (OWS included);
// X-Forwarded-For/-Proto/-Host, a generated X-Request-Id, `Connection: upgrade` and
// `Transfer-Encoding: chunked` follow them. `request_id_used`, when given, is set to the
// X-Request-Id sent (a view into the request's bytes or into forward.request_id; empty if none),
// whether or not the head fit.
size_t write_forward_request_head(const MessageParser& request, const ForwardRequest& forward,
                                  char* out, size_t cap,
                                  std::string_view* request_id_used = nullptr);

struct ForwardResponse {
  bool keep_alive = true;  // client connection stays open: no Connection header (1.1) or
                           // `Connection: keep-alive` (client 1.0); false: `Connection: close`
  int client_minor = 1;    // the client's HTTP minor version
  bool upgrade = false;    // 101 to a tunnel: keep Upgrade, send `Connection: upgrade`
  BodyFraming framing = BodyFraming::kLength;
  // Extra header lines to add, each ending in CRLF (e.g. "X-Request-Id: ...\r\n"); may be empty.
  std::string_view extra;
  // The gateway's "Date: ...\r\n" line, written when the response has no Date; may be empty.
  std::string_view date;
  // Lower-case names of upstream headers left out (the gateway's response filters set them).
  const std::string_view* drop = nullptr;
  size_t drop_count = 0;
};

// Writes the client response head (status line through the final CRLF) from an upstream
// response. The status line is "HTTP/1.1 <code> <reason_phrase(code)>" (the parser keeps no
// reason; clients ignore it). The upstream's Date and Server pass through; a response without
// a Date gets forward.date (RFC 9110 6.6.1: a recipient with a clock adds one).
// Returns bytes written, or 0 when it does not fit (bytes past cap are never touched).
size_t write_forward_response_head(const MessageParser& response, const ForwardResponse& forward,
                                   char* out, size_t cap);

// The client's address as the gateway vouches for it: `peer` (the socket's), or with
// `trusted_hops` N proxies in front the Nth X-Forwarded-For entry from the right (the leftmost
// when there are fewer), over every X-Forwarded-For line of `request`.
std::string_view client_address(const MessageParser& request, std::string_view peer,
                                uint32_t trusted_hops);

// Writes the line that opens a chunk of `n` bytes ("<hex>\r\n", at most 18 bytes) to `out`;
// returns its length.
size_t write_chunk_size_line(char* out, size_t n);

// trim_ows() is in ringgate/core/header_list.h, iequals() in ringgate/core/ascii.h.

// Writes `v` as 16 lower-case hex digits, most significant first (no terminator).
void write_hex64(uint64_t v, char* out);

// Request ids: 32 lower-case hex characters, unique per process run (a stream number, a
// per-generator counter and a random per-process seed mixed), made without a syscall or
// allocation.
class RequestIdGenerator {
 public:
  static constexpr size_t kLength = 32;
  // `seed`: random per process (e.g. getrandom at start-up); `stream`: a number no other
  // generator on this seed has, from new_stream(). Shard index alone would not do: a reload
  // builds its shards anew in the same process, and they would repeat the old ones' ids.
  RequestIdGenerator(uint64_t seed, uint64_t stream);
  // A stream number not handed out before in this process (thread-safe; not for the request
  // path, where generators are used, only where they are made).
  static uint64_t new_stream();
  // Writes kLength characters into out (no terminating NUL). Distinct (stream, counter) pairs
  // give distinct ids for a given seed: both halves come from bijective mixes.
  void next(char* out);
  // Writes 16 characters: half an id, distinct from every other this generator makes (a span id).
  void next_half(char* out);

 private:
  uint64_t seed_;  // the process seed mixed with the stream number
  uint64_t counter_ = 0;
};

}  // namespace ringgate
