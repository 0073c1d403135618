// A client connection's HTTP/2 side: how its first bytes switch it to HTTP/2 (ALPN h2, or the
// connection preface), and the stream connections its H2Connection makes, one per request.

#include <algorithm>
#include <string_view>

#include "connection.h"
#include "h2_connection.h"
#include "ringgate/http/http_shard.h"

namespace ringgate {

Connection::Connection(HttpShard& http, Transport& stream, Connection& parent)
    : Timer(&Connection::on_timer),
      http_(http),
      arena_(http.request_arena_pool()),
      fixed_(nullptr),
      plain_(http.reactor(), -1, *this),
      io_(&stream),
      parent_(&parent),
      stream_(true),
      secure_(parent.secure_) {}

bool Connection::wants_h2(const char* data, uint32_t len) const {
  if (tls_) {
    return tls_->session().alpn() == "h2";
  }
  // Prior knowledge (RFC 9113 3.3): the connection preface, or as much of it as came.
  static constexpr std::string_view kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
  const size_t n = std::min<size_t>(len, kPreface.size());
  return n >= 4 && std::string_view(data, n) == kPreface.substr(0, n);
}

void Connection::start_h2(const char* data, uint32_t len) {
  // The HTTP/1.1 deadline gives way to the session's own (idle, GOAWAY).
  http_.shard().timers().disarm(*this);
  deadline_ = Deadline::kNone;
  head_seen_ = true;
  bump(counters().h2_connections);
  h2_ = std::make_unique<H2Connection>(http_, *this, *io_);
  if (!h2_->start()) {
    close_now();
    return;
  }
  h2_->on_input(data, len);
}

}  // namespace ringgate
