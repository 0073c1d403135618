#include "connection.h"

#include <arpa/inet.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>

#include "h2_connection.h"
#include "out_buffer.h"
#include "ringgate/core/assert.h"
#include "ringgate/core/method.h"
#include "ringgate/http/access_log.h"
#include "ringgate/http/error_reply.h"
#include "ringgate/http/http_shard.h"
#include "ringgate/http/trace.h"

namespace ringgate {

namespace {

// A connection whose output is backed up stops receiving beyond this many held buffers.
constexpr uint16_t kMaxHeldBuffers = 8;
// Space kept free in the output buffer before another pipelined request is parsed.
constexpr size_t kOutReserve = 3 * 1024;
constexpr int kIovReserve = 6;
// Bodies up to this size are copied next to their head (one iovec); larger ones are referenced.
constexpr size_t kCopyBodyMax = 1024;
constexpr uint64_t kLingerMs = 2000;
constexpr uint32_t kLingerMaxBytes = 1 << 20;

}  // namespace

Connection::Connection(HttpShard& http, int fd, const RoutePlan* fixed, const TlsListenConfig* tls,
                       std::unique_ptr<TlsSession> established)
    : Timer(&Connection::on_timer),
      http_(http),
      arena_(http.request_arena_pool()),
      fixed_(fixed),
      plain_(http.reactor(), fd, *this),
      tls_(!tls ? nullptr
           : established
               ? std::make_unique<TlsTransport>(http.reactor(), http.tls(), tls,
                                                std::move(*established), fd, *this)
               : std::make_unique<TlsTransport>(http.reactor(), http.tls(), *tls, fd, *this)),
      io_(tls_ ? static_cast<Transport*>(tls_.get()) : &plain_),
      secure_(tls != nullptr) {}

Connection::~Connection() {
  if (parser_) {
    http_.release_parser(parser_, false);
  }
}

void Connection::detach_parser_if_idle() {
  if (parser_ && !x_ && in_.empty() && !parser_->in_message()) {
    // After a keep-alive message llhttp waits for the next one as a fresh parser would; after
    // anything else (close, upgrade, an error) it is reset before another connection gets it.
    http_.release_parser(parser_, parser_->reusable());
    parser_ = nullptr;
  }
}

ShardCounters& Connection::counters() const {
  return fixed_ ? http_.admin_counters() : http_.counters();
}

void Connection::start() {
  accepted_us_ = http_.shard().now_us();
  io_->start_input();
  update_timer();
}

void Connection::on_input(uint16_t bid, uint32_t len) {
  if (!stream_) {
    bump(counters().bytes_in, len);  // a stream's bytes were counted on its connection
  }
  handing_over_ = false;  // a request came first: it is answered here (Connection: close)
  if (state_ == State::kOpen && (h2_ || (!head_seen_ && in_.empty() && !parser_ && !local() &&
                                         !stream_ && wants_h2(http_.reactor().buffer(bid), len)))) {
    const char* data = http_.reactor().buffer(bid);
    if (h2_) {
      h2_->on_input(data, len);
    } else {
      start_h2(data, len);
    }
    http_.reactor().recycle(bid);  // the session keeps what it needs
    return;
  }
  if (state_ == State::kOpen) {
    in_.push(http_.chains(), bid, len);
    process_input();
    return;
  }
  // Lingering: discard, with a cap on how much a lingering client may send.
  http_.reactor().recycle(bid);
  linger_bytes_ += len;
  if (linger_bytes_ > kLingerMaxBytes) {
    close_now();
  }
}

void Connection::on_input_end(int error) {
  if (h2_ && state_ == State::kOpen) {
    h2_->on_input_end(error);
    return;
  }
  if (error != 0 || state_ != State::kOpen) {
    close_now();
    return;
  }
  peer_eof_ = true;
  process_input();  // ends with finish_after_eof() once the held input is used up
}

void Connection::on_input_starved() {
  // The data stays in the socket. Input resumes when buffers come back; lingering too: starting
  // it now would only spin on an empty ring.
  bump(counters().buffer_ring_empty);
  if (!io_->receiving()) {
    http_.add_starved(this);
  }
}

void Connection::after_input() {
  if (handing_over_) {
    if (state_ == State::kOpen && io_->quiet() && in_.empty()) {
      finish_handover();
    }
    return;
  }
  if (state_ != State::kClosing && !starved && !peer_eof_ && in_.count() < kMaxHeldBuffers) {
    io_->start_input();
  }
}

void Connection::on_quiet() {
  // Nothing with an operation in flight is freed: the transport's last completion is in.
  if (!retired_) {
    retired_ = true;
    http_.retire(this);
  }
}

void Connection::finish_after_eof() {
  // The client half-closed and every request it sent has been parsed: answer what was asked,
  // then close. An incomplete request can never complete.
  if (out_ && out_->pending_bytes() > 0) {
    close_after_send_ = true;
    if (!io_->sending()) {
      flush();
    }
  } else {
    close_now();
  }
}

void Connection::resume_receive() {
  starved = false;
  if (state_ != State::kClosing && !peer_eof_ && in_.count() < kMaxHeldBuffers) {
    io_->start_input();
  }
}

bool Connection::output_room() const {
  if (!out_) {
    return true;
  }
  if (out_->owned) {
    return false;  // one admin body at a time
  }
  return out_->used + kOutReserve <= out_block_capacity() &&
         out_->iov_count + kIovReserve <= OutBuffer::kMaxIov &&
         out_->hold_count < OutBuffer::kMaxHolds;
}

void Connection::process_input() {
  if (in_process_) {
    return;  // re-entered from a send completion inside processing
  }
  in_process_ = true;
  while (state_ == State::kOpen && !in_.empty() && !close_after_send_ && !waiting()) {
    if (tunnel_ && responder_) {
      if (!tunnel_input()) {
        break;
      }
      continue;
    }
    if (!in_message() && (busy() || !output_room())) {
      // Backpressure: answer what we have before reading the next request. A proxied
      // response in progress holds the next pipelined request back until it is complete.
      break;
    }
    size_t avail = 0;
    const char* data = in_.front(http_.chains(), avail);
    if (responder_ && !in_head()) {
      // Request body for the responder: no more than it can buffer now.
      const size_t room = responder_->request_room();
      if (room == 0) {
        break;  // resumed by request_room() when the upstream has taken the bytes
      }
      avail = std::min(avail, room);
    }
    size_t consumed = 0;
    if (!parser_) {
      parser_ = http_.acquire_parser();
      parser_->set_own_input(stream_);  // an HTTP/2 stream's head is the gateway's own writing
    }
    RequestParser::Event ev = parser_->feed(data, avail, consumed);
    in_.consume(consumed);
    if (ev == RequestParser::Event::kHead) {
      on_head();
    } else if (ev == RequestParser::Event::kMessageComplete) {
      on_message_complete();
    } else if (ev == RequestParser::Event::kError) {
      on_parse_error();
      break;
    }
    if (ev != RequestParser::Event::kHead && in_.front_used(http_.chains())) {
      // Buffer fully parsed (a head event may still have a pending completion to report).
      in_.pop(http_.chains());
    }
  }
  in_process_ = false;
  if (state_ == State::kClosing) {
    return;
  }
  if (responder_) {
    responder_->flush_request();  // one upstream send for the head and the body bytes parsed now
  }
  if (out_ && !io_->sending()) {
    flush();
  }
  if (peer_eof_ && in_.empty() && state_ == State::kOpen && !waiting()) {
    if (responder_ && tunnel_) {
      responder_->on_client_eof();  // may end the tunnel (and re-enter here through response_done)
      return;
    }
    if (busy() && !in_message()) {
      // A complete request whose response is on its way: answer it, then close.
      close_after_send_ = true;
      update_timer();
      return;
    }
    finish_after_eof();
    return;
  }
  if (state_ == State::kOpen && in_.count() >= kMaxHeldBuffers && io_->receiving()) {
    // Output is backed up and input keeps coming: stop receiving until we catch up.
    io_->pause_input();
  } else if (state_ == State::kOpen && !starved && !peer_eof_ &&
             in_.count() < kMaxHeldBuffers / 2) {
    io_->start_input();
  }
  detach_parser_if_idle();
  update_timer();
}

bool Connection::tunnel_input() {
  const size_t room = responder_->request_room();
  if (room == 0) {
    return false;  // resumed by request_room() when the upstream has taken the bytes
  }
  size_t len = 0;
  const char* data = in_.front(http_.chains(), len);
  const size_t n = std::min(len, room);
  responder_->on_tunnel_input(data, n);
  in_.consume(n);
  if (in_.front_used(http_.chains())) {
    in_.pop(http_.chains());
  }
  return true;
}

void Connection::on_head() {
  RG_ASSERT(x_ == nullptr);
  head_seen_ = true;
  if (!local()) {
    http_.note_busy(busy_stamp_);
  }
  x_ = arena_.make<Exchange>(*this, arena_, *parser_, counters());
  if (!x_) {
    fail_and_close(Error::gateway(ErrorKind::kInternal, "no memory for the request"));
    return;
  }
  Exchange& x = *x_;
  x.trusted_hops = http_.config().server.trusted_hops;
  x.tls = secure_;
  x.http2 = stream_;
  x.head_request = parser_->method() == HTTP_HEAD;
  x.timings.accepted_us = accepted_us_;
  x.timings.head_us = http_.shard().now_us();
  const ServerConfig::TraceContext trace = http_.config().server.trace_context;
  if (trace != ServerConfig::TraceContext::kOff && !local()) {
    start_trace(x.trace, *parser_, trace == ServerConfig::TraceContext::kAccept, http_.trace_ids());
  }
  if (RequestLog* log = request_log(); log && log->access_on()) {
    log->capture(x);  // before the target is normalised: the log shows what was sent
  }
  if (parser_->expect_continue() && parser_->has_body() && parser_->http_minor() >= 1) {
    append_copy("HTTP/1.1 100 Continue\r\n\r\n");
    x.log.bytes_out = 0;  // an interim answer: bytes_out is the response's
    if (!io_->sending()) {
      flush();
    }
  }
  if (!fixed_ && http_.shedding()) {
    // Over an overload budget: new work is refused before it costs anything, and the
    // connection closes after the answer (its descriptor and buffers are what is short).
    bump(counters().overload_shed_requests);
    x.error = Error::gateway(ErrorKind::kOverloaded,
                             "the gateway is overloaded (over its overload.memory or overload.fds "
                             "budget); try again shortly");
    x.error_headers = "Retry-After: 1\r\n";
    return;  // answered at message complete, then closed
  }
  // One path from here on: what is routed, what a rule checks and what goes upstream.
  if (!parser_->normalize_path(&x.path_flags, &x.error)) {
    bump(counters().parse_bad_path);
    return;  // answered at message complete, like any refusal
  }
  proceed(http_.pipeline().start(x, fixed_));
}

void Connection::proceed(FilterStatus status) {
  switch (status) {
    case FilterStatus::kWait:
      // Parsing stops here until resumed(). Other connections parse meanwhile, into the shard's
      // shared header table: the head moves to this connection's own scratch block.
      parser_->pin_head();
      return;
    case FilterStatus::kReply:
      return;  // answered at message complete
    case FilterStatus::kContinue:
      break;
  }
  responder_ = Pipeline::act(*x_, *this);
  if (responder_) {
    parser_->set_body_sink(responder_->body_sink());
  }
}

void Connection::resumed(Exchange& x, FilterStatus status) {
  if (state_ != State::kOpen || close_after_send_) {
    return;
  }
  if (status == FilterStatus::kContinue) {
    status = Pipeline::run_filters(x);
  }
  proceed(status);
  if (!in_process_) {
    process_input();
  }
}

void Connection::on_message_complete() {
  // After a half-close the remaining pipelined requests are still answered; finish_after_eof()
  // closes once the input is used up.
  const bool keep_alive = parser_->keep_alive() && !http_.draining() &&
                          !(x_ && x_->error.kind == ErrorKind::kOverloaded);
  if (responder_) {
    // The response may still be on its way: keep-alive is settled when it completes.
    set_body_sink(nullptr);
    responder_->on_request_complete(keep_alive);
    return;
  }
  if (x_) {
    answer(keep_alive);
  }
  deadline_ = Deadline::kNone;  // the next request gets its own header deadline
  if (!keep_alive) {
    close_after_send_ = true;
  }
}

void Connection::answer(bool keep_alive) {
  Exchange& x = *x_;
  if (x.error) {
    emit_error(x.error, x.error_headers, keep_alive);
  } else if (x.reply.canned) {
    emit_canned(*static_cast<const CannedResponse*>(x.reply.canned), keep_alive, x.head_request);
  } else if (x.reply.hold) {
    emit_stored(x.reply, keep_alive, x.head_request);
  } else {
    emit_generated(x.reply.status, x.reply.headers, x.reply.content_type, x.reply.body, keep_alive,
                   x.head_request);
  }
  end_exchange();
}

void Connection::end_exchange() {
  if (!x_) {
    return;
  }
  x_->timings.done_us = http_.shard().now_us();
  if (RequestLog* log = request_log()) {
    log->log(*x_);
  }
  if (x_->plan && x_->plan->route && !local()) {
    const Exchange& x = *x_;
    const Timings& t = x.timings;
    http_.route_counters(x.match.route_index)
        .record(x.log.status, x.request().head_bytes() + x.request().body_bytes(), x.log.bytes_out,
                t.done_us > t.head_us ? t.done_us - t.head_us : 0);
  }
  Pipeline::finish(*x_);
  x_ = nullptr;
  arena_.reset();
  if (!in_process_) {
    detach_parser_if_idle();  // else process_input() does, once it has parsed what it holds
  }
}

void Connection::respond(int status, std::string_view headers, std::string_view content_type,
                         std::string* body, bool keep_alive) {
  responder_ = nullptr;
  keep_alive = keep_alive && !http_.draining() && !peer_eof_;
  emit_head(status, headers, content_type, body->size(), keep_alive);
  stage_owned_body(body, x_ && x_->head_request);
  answered(keep_alive);
}

void Connection::answered(bool keep_alive) {
  end_exchange();
  if (!keep_alive) {
    close_after_send_ = true;
  }
  deadline_ = Deadline::kNone;
  if (!in_process_) {
    process_input();
  }
}

void Connection::respond_stored(const Reply& reply, bool keep_alive) {
  responder_ = nullptr;
  if (in_message()) {
    // The rest of the request body will never be read as a request.
    set_body_sink(nullptr);
    keep_alive = false;
  }
  keep_alive = keep_alive && !http_.draining() && !peer_eof_;
  emit_stored(reply, keep_alive, x_ && x_->head_request);
  answered(keep_alive);
}

std::string_view Connection::peer_ip() {
  if (parent_) {
    return parent_->peer_ip();
  }
  if (peer_ip_[0] == '\0') {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    if (getpeername(io_->fd(), reinterpret_cast<sockaddr*>(&ss), &len) == 0) {
      if (ss.ss_family == AF_INET) {
        inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(&ss)->sin_addr, peer_ip_,
                  sizeof peer_ip_);
      } else if (ss.ss_family == AF_INET6) {
        inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(&ss)->sin6_addr, peer_ip_,
                  sizeof peer_ip_);
      }
    }
    if (peer_ip_[0] == '\0') {
      std::memcpy(peer_ip_, "unknown", 8);
    }
  }
  return peer_ip_;
}

void Connection::response_failed(const Error& error, bool keep_alive) {
  responder_ = nullptr;
  if (in_message()) {
    // The rest of the request body will never be read as a request.
    set_body_sink(nullptr);
    keep_alive = false;
  }
  keep_alive = keep_alive && !http_.draining();
  emit_error(error, {}, keep_alive);
  answered(keep_alive);
}

void Connection::response_done(bool keep_alive) {
  responder_ = nullptr;
  if (in_message()) {
    // Answered before the request was complete: the rest cannot be read as a request.
    set_body_sink(nullptr);
    keep_alive = false;
  }
  end_exchange();
  if (!keep_alive) {
    close_after_send_ = true;
  }
  tunnel_ = false;
  deadline_ = Deadline::kNone;
  if (!in_process_) {
    process_input();
  }
  if (close_after_send_ && state_ == State::kOpen && !io_->sending() && !out_pending()) {
    start_linger();  // nothing left to send (a tunnel that ended quiet)
  }
}

void Connection::tunnel() {
  tunnel_ = true;
  if (!in_process_) {
    process_input();  // bytes the client sent behind its request are the tunnel's first
  }
}

void Connection::response_cut() {
  responder_ = nullptr;
  set_body_sink(nullptr);
  close_now();  // counts the request as aborted: its exchange never ended
}

const ResponseHead& Connection::response_head(int status) {
  static const ResponseHead kNone(0, nullptr, 0);
  if (!x_ || !Pipeline::edits_response(*x_)) {
    return kNone;
  }
  constexpr size_t kRoom = 1024;  // header lines the filters may add
  char* room = static_cast<char*>(arena_.allocate(kRoom, 1));
  ResponseHead* head = arena_.make<ResponseHead>(status, room, room ? kRoom : 0);
  if (!head) {
    return kNone;
  }
  Pipeline::respond(*x_, *head);
  return *head;
}

std::string_view Connection::filter_headers(int status) {
  return response_head(status).added();
}

void Connection::on_parse_error() {
  const ParseError& e = parser_->error();
  ShardCounters& c = counters();
  switch (e.kind) {
    case ErrorKind::kUriTooLong:
      bump(c.parse_uri_too_long);
      break;
    case ErrorKind::kHeadTooLarge:
      bump(c.parse_header_too_large);
      break;
    case ErrorKind::kBodyTooLarge:
      bump(c.parse_body_too_large);
      break;
    case ErrorKind::kMalformed:
      bump(c.parse_bad_request);
      break;
    default:
      bump(c.parse_other);
      break;
  }
  fail_and_close(e.error());
}

void Connection::fail_and_close(const Error& error) {
  // The request cannot go on: answer with a problem document and close once it is sent; nothing
  // more is read as a request on this connection.
  if (responder_) {
    Responder* r = responder_;
    responder_ = nullptr;
    set_body_sink(nullptr);
    r->on_client_gone();
  }
  if (x_) {
    x_->head_request = false;  // the problem document goes out whatever the method
  }
  emit_error(error, {}, false);
  end_exchange();
  close_after_send_ = true;
  release_input();
  if (!io_->sending()) {
    flush();
  }
}

std::string_view Connection::connection_line(bool keep_alive) const {
  if (!keep_alive) {
    return "Connection: close\r\n";
  }
  if (parser_ && parser_->http_minor() == 0) {
    return "Connection: keep-alive\r\n";
  }
  return {};
}

RequestLog* Connection::request_log() const {
  return local() ? nullptr : http_.request_log();
}

void Connection::count_status(int status) {
  if (x_) {
    x_->log.status = static_cast<uint16_t>(status);
  }
  ShardCounters& c = counters();
  switch (status / 100) {
    case 1:
      bump(c.requests_1xx);
      break;
    case 2:
      bump(c.requests_2xx);
      break;
    case 3:
      bump(c.requests_3xx);
      break;
    case 4:
      bump(c.requests_4xx);
      break;
    default:
      bump(c.requests_5xx);
      break;
  }
}

void Connection::emit_canned(const CannedResponse& r, bool keep_alive, bool head_only) {
  count_status(r.status);
  const bool copy_head = r.head.size() + r.body.size() <= kOutReserve - 128;
  const std::string_view filters =
      x_ && Pipeline::edits_response(*x_) ? filter_headers(r.status) : std::string_view();
  const std::string_view body = head_only ? std::string_view() : r.body;
  const std::string_view connection = connection_line(keep_alive);
  static_assert(CannedResponse::kWholeMax <= kOutReserve - 128);  // what output_room() leaves
  if (!r.whole.empty() && filters.empty() && connection.empty()) {
    // The common case: one copy of the prebuilt answer, and the Date line over its placeholder.
    const std::string_view whole(r.whole.data(), r.whole.size() - (r.body.size() - body.size()));
    append_copy(whole);
    std::memcpy(out_->data + out_->used - whole.size() + r.date_at,
                http_.date().header_line().data(), DateCache::kLineLength);
    return;
  }
  if (copy_head && body.size() <= kCopyBodyMax) {
    // With a Connection line or the response filters' lines: still one copy, of its pieces.
    append_copies({r.head, http_.date().header_line(), filters, connection, "\r\n", body});
    return;
  }
  if (copy_head) {
    append_copy(r.head);
  } else {
    append_ref(r.head.data(), r.head.size());
  }
  append_copies({http_.date().header_line(), filters, connection, "\r\n"});
  if (!body.empty()) {
    append_ref(body.data(), body.size());
  }
}

void Connection::emit_stored(const Reply& r, bool keep_alive, bool head_only) {
  count_status(r.status);
  // Small parts are copied (one iovec, nothing held); a large head or body goes out from the
  // stored entry, which the output keeps a reference to until it is sent. output_room()
  // leaves a hold slot free for each answer.
  const auto put = [this, &r](std::string_view bytes, size_t copy_max) {
    if (bytes.size() <= copy_max) {
      append_copy(bytes);
      return;
    }
    if (!out_) {
      out_ = http_.acquire_out();
    }
    OutBuffer& o = *out_;
    if (o.hold_count == 0 || o.holds[o.hold_count - 1] != r.hold) {
      if (o.hold_count == OutBuffer::kMaxHolds) {
        // (not reached while output_room() gates each answer) a copy the output owns
        std::string* copy = http_.acquire_body();
        copy->assign(bytes);
        stage_owned_body(copy, false);
        return;
      }
      r.hold->retain();
      o.holds[o.hold_count++] = r.hold;
    }
    append_ref(bytes.data(), bytes.size());
  };
  put(r.stored_head, 1536);
  append_copies(
      {r.headers, r.has_date ? std::string_view() : http_.date().header_line(),
       x_ && Pipeline::edits_response(*x_) ? filter_headers(r.status) : std::string_view(),
       connection_line(keep_alive), "\r\n"});
  if (!head_only) {
    put(r.body, kCopyBodyMax);
  }
}

void Connection::emit_head(int status, std::string_view headers, std::string_view content_type,
                           size_t content_length, bool keep_alive) {
  count_status(status);
  char status_line[16] = "HTTP/1.1 ";
  char* end = std::to_chars(status_line + 9, status_line + 15, status).ptr;
  *end++ = ' ';
  const std::string_view status_start(status_line, static_cast<size_t>(end - status_line));
  // 1xx, 204 and 304 carry no body and no Content-Length.
  char length_line[48];
  std::string_view length;
  if (status >= 200 && status != 204 && status != 304) {
    std::memcpy(length_line, "Content-Length: ", 16);
    end = std::to_chars(length_line + 16, length_line + 46, content_length).ptr;
    *end++ = '\r';
    *end++ = '\n';
    length = std::string_view(length_line, static_cast<size_t>(end - length_line));
  }
  const std::string_view filters =
      x_ && Pipeline::edits_response(*x_) ? filter_headers(status) : std::string_view();
  const bool typed = !content_type.empty();
  append_copies({status_start, reason_phrase(status), "\r\n", http_.server_line(),
                 http_.date().header_line(), headers, filters,
                 typed ? "Content-Type: " : std::string_view(), content_type,
                 typed ? "\r\n" : std::string_view(), length, connection_line(keep_alive), "\r\n"});
}

void Connection::emit_generated(int status, std::string_view headers, std::string_view content_type,
                                std::string_view body, bool keep_alive, bool head_only) {
  emit_head(status, headers, content_type, body.size(), keep_alive);
  if (!head_only) {
    append_copy(body);  // generated bodies are small problem documents
  }
}

void Connection::emit_error(const Error& error, std::string_view headers, bool keep_alive) {
  std::string& body = http_.error_body_scratch();
  error_body(error, body, x_ ? x_->trace.id() : std::string_view());
  const int status = error_status(error);
  if (x_) {
    x_->log.error = error.kind;
  }
  if (RequestLog* log = request_log()) {
    const std::string_view client = x_ && !x_->log.client.empty() ? x_->log.client : peer_ip();
    log->log_error(x_, error, status, client);
    if (!x_) {
      // Refused before its head was complete: no exchange will log it.
      log->log_unparsed(status, error.kind, client, parser_ ? parser_->head_bytes() : 0);
    }
  }
  emit_generated(status, headers, kProblemContentType, body, keep_alive, x_ && x_->head_request);
}

void Connection::stage_owned_body(std::string* body, bool drop) {
  if (drop || body->empty()) {
    http_.release_body(body);
    return;
  }
  // Owned by the output buffer until sent; output_room() stages one such body at a time.
  out_->owned = body;
  append_ref(body->data(), body->size());
}

void Connection::flush() {
  if (!out_ || io_->sending() || state_ == State::kClosing) {
    return;
  }
  OutBuffer& o = *out_;
  if (o.iov_sent >= o.iov_count) {
    return;
  }
  o.inflight_end = o.iov_count;
  io_->send(&o.iov[o.iov_sent], o.iov_count - o.iov_sent, &o.msg);
}

void Connection::on_sent(int res) {
  if (res < 0) {
    close_now();
    return;
  }
  if (!stream_) {
    bump(counters().bytes_out, static_cast<uint64_t>(res));  // a stream's count on its connection
  }
  if (h2_) {
    if (state_ == State::kOpen) {
      h2_->on_sent(res);
    }
    return;
  }
  OutBuffer& o = *out_;
  size_t left = static_cast<size_t>(res);
  while (left > 0 && o.iov_sent < o.inflight_end) {
    iovec& v = o.iov[o.iov_sent];
    if (left >= v.iov_len) {
      left -= v.iov_len;
      ++o.iov_sent;
    } else {
      v.iov_base = static_cast<char*>(v.iov_base) + left;
      v.iov_len -= left;
      left = 0;
    }
  }
  o.inflight_end = o.iov_sent;
  if (o.iov_sent < o.iov_count) {
    flush();                      // partial send, or more was staged meanwhile
    deadline_ = Deadline::kNone;  // progress: restart the send deadline
    update_timer();
    return;
  }
  // Everything sent: the buffer goes back to the pool, so an idle connection holds none.
  http_.release_out(out_);
  out_ = nullptr;
  if (responder_ && responder_->on_client_drained()) {
    return;  // the response in progress goes on from here
  }
  if (close_after_send_) {
    start_linger();
    return;
  }
  if (http_.draining() && !in_message() && in_.empty()) {
    // Shutting down, and this response was built before the drain began: it did not say
    // Connection: close, so the client may have sent its next request already. That request
    // gets the drain grace to arrive (and is answered, with Connection: close), as on a
    // connection that was idle when the drain began; closing now would drop it unanswered.
    const Duration grace = http_.config().server.drain_grace;
    if (grace.count() == 0 || local()) {
      start_linger();
      return;
    }
    arm_deadline(Deadline::kDrainGrace, static_cast<uint64_t>(grace.count()));
  }
  process_input();
}

void Connection::start_linger() {
  // Half-close and drain what the client still sends, so the kernel does not answer its late
  // bytes with a reset that could destroy the response in its receive queue.
  release_input();
  state_ = State::kLingering;
  io_->shutdown_write();
  if (peer_eof_) {
    close_now();
    return;
  }
  if (!starved) {
    io_->start_input();
  }
  arm_deadline(Deadline::kLinger, kLingerMs);
}

void Connection::release_input() {
  in_.release(http_.chains());
}

void Connection::close_now() {
  if (state_ == State::kClosing) {
    return;
  }
  if (state_ == State::kOpen && (in_message() || x_ || out_pending())) {
    // A request that began but will never be (fully) answered is counted, never lost silently.
    bump(counters().requests_aborted);
  }
  state_ = State::kClosing;
  http_.shard().timers().disarm(*this);
  if (h2_) {
    h2_->close_streams();
  }
  let_go();
  release_input();
  if (parser_) {
    http_.release_parser(parser_, false);
    parser_ = nullptr;
  }
  io_->close();  // on_quiet() once no operation is in flight: then the connection is retired
}

void Connection::update_timer() {
  if (state_ != State::kOpen) {
    return;
  }
  if (busy() && !in_message()) {
    // The responder keeps its own deadlines (connect, try, route timeout, stalled transfer).
    // A timer still armed for an earlier deadline finds kResponder when it fires, and stops.
    deadline_ = Deadline::kResponder;
    return;
  }
  Deadline want;
  if (in_head() || (!head_seen_ && !in_message() && !out_pending())) {
    // From accept to the first complete head: a connection that never sends a byte is held no
    // longer than one that sends its head slowly.
    want = Deadline::kHeader;
  } else if (in_message() || waiting() || out_pending()) {
    want = Deadline::kRequest;
  } else {
    want = Deadline::kIdle;
  }
  if (want == deadline_ || (want == Deadline::kIdle && deadline_ == Deadline::kDrainGrace)) {
    return;
  }
  const Limits& l = http_.limits();
  const Duration d = want == Deadline::kHeader    ? l.header_timeout
                     : want == Deadline::kRequest ? l.request_timeout
                                                  : l.idle_timeout;
  arm_deadline(want, static_cast<uint64_t>(d.count()));
}

std::string_view Connection::date_line() const {
  return http_.date().header_line();
}

void Connection::arm_deadline(Deadline d, uint64_t ms) {
  deadline_ = d;
  due_ms_ = http_.shard().now_ms() + ms;
  if (armed() && deadline_ms() <= due_ms_) {
    // Pushed back (every keep-alive request does that, twice): the timer fires at the earlier
    // time and on_timer arms it again for due_ms_, so a moved deadline costs no wheel update.
    return;
  }
  http_.shard().timers().arm(*this, due_ms_);
}

void Connection::let_go() {
  if (responder_) {
    Responder* r = responder_;
    responder_ = nullptr;
    set_body_sink(nullptr);
    r->on_client_gone();
  }
  end_exchange();  // a filter that kept the exchange waiting lets go of it there
}

void Connection::on_timer(Timer* t) {
  auto* c = static_cast<Connection*>(t);
  if (c->deadline_ == Deadline::kResponder) {
    return;  // the responder keeps its own deadlines; update_timer arms this again after it
  }
  if (c->due_ms_ > c->http_.shard().now_ms()) {
    c->http_.shard().timers().arm(*c, c->due_ms_);  // the deadline moved on since it was armed
    return;
  }
  ShardCounters& counters = c->counters();
  switch (c->deadline_) {
    case Deadline::kIdle:
      bump(counters.idle_timeouts);
      c->close_now();
      break;
    case Deadline::kDrainGrace:
      c->close_now();  // no response in flight that a reset could destroy
      break;
    case Deadline::kHeader:
    case Deadline::kRequest:
      if (c->waiting()) {
        // A filter kept the request waiting longer than it may (the rate limit's Redis:
        // redis.timeout is shorter than request_timeout, but a waiter can be moved on to a
        // second call).
        Pipeline::time_out(*c->x_);
        bump(counters.request_timeouts);
        const Error error = c->x_->error;
        c->fail_and_close(error);
        c->arm_deadline(Deadline::kLinger, kLingerMs);
      } else if (c->responder_ && c->responder_->body_sink()) {
        bump(counters.request_timeouts);
        c->close_now();  // the body stalled while being proxied: the upstream side is cut too
      } else if (c->in_message() && !c->close_after_send_) {
        const bool header = c->deadline_ == Deadline::kHeader;
        bump(header ? counters.header_timeouts : counters.request_timeouts);
        c->fail_and_close(
            Error::client(header ? ErrorKind::kHeadTimeout : ErrorKind::kBodyTimeout));
        // If the client does not read the 408 either, the linger deadline closes the connection.
        c->arm_deadline(Deadline::kLinger, kLingerMs);
      } else if (!c->head_seen_ && !c->in_message() && !c->out_pending()) {
        bump(counters.header_timeouts);
        c->close_now();  // not a byte since accept: nothing to answer
      } else {
        c->close_now();  // stuck sending to a client that does not read
      }
      break;
    case Deadline::kLinger:
    case Deadline::kResponder:
    case Deadline::kNone:
      c->close_now();
      break;
  }
}

}  // namespace ringgate
