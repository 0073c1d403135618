#include "connection.h"

#include <arpa/inet.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "aggregate_call.h"
#include "proxy.h"
#include "ringgate/core/method.h"
#include "ringgate/http/error_reply.h"
#include "worker.h"

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

size_t out_capacity() {
  return kOutBlockSize - offsetof(OutBuffer, data);
}

}  // namespace

size_t OutBuffer::pending_bytes() const {
  size_t n = 0;
  for (uint16_t i = iov_sent; i < iov_count; ++i) {
    n += iov[i].iov_len;
  }
  return n;
}

Connection::Connection(Worker& worker, int fd, const AdminHandler* local)
    : Timer(&Connection::on_timer), worker_(worker), fd_(fd), local_(local) {
  parser_.init(worker.parser_context());
}

Connection::~Connection() {
  if (pending_kind_ == Pending::kAdmin) {
    delete pending_.admin;
  }
}

ShardCounters& Connection::counters() const {
  return local_ ? worker_.admin_counters() : worker_.counters();
}

void Connection::start() {
  arm_recv();
  update_timer();
}

void Connection::arm_recv() {
  if (recv_armed_ || state_ == State::kClosing) {
    return;
  }
  worker_.reactor().submit_recv_multishot(fd_, this, kOpRecv);
  recv_armed_ = true;
}

void Connection::complete(unsigned op, int res, uint32_t flags) {
  if (op == kOpRecv) {
    on_recv(res, flags);
  } else if (op == kOpSend) {
    on_send(res);
  } else if (op == kOpShutdown) {
    shutdown_inflight_ = false;
    if (state_ == State::kClosing) {
      maybe_retire();
    }
  }
}

void Connection::on_recv(int res, uint32_t flags) {
  if (!cqe_more(flags)) {
    recv_armed_ = false;
    recv_cancelling_ = false;
  }
  if (res > 0 && cqe_has_buffer(flags)) {
    const uint16_t bid = cqe_buffer_id(flags);
    worker_.reactor().note_buffer_taken();
    bump(counters().bytes_in, static_cast<uint64_t>(res));
    if (state_ == State::kOpen) {
      in_.push(worker_, bid, static_cast<uint32_t>(res));
      process_input();
    } else {
      // Lingering or closing: discard, with a cap on how much a lingering client may send.
      worker_.reactor().recycle(bid);
      linger_bytes_ += static_cast<uint32_t>(res);
      if (state_ == State::kLingering && linger_bytes_ > kLingerMaxBytes) {
        close_now();
      }
    }
  } else if (res == 0) {
    peer_eof_ = true;
    if (state_ == State::kOpen) {
      process_input();  // ends with finish_after_eof() once the held input is used up
    } else {
      close_now();
    }
  } else if (res == -ENOBUFS) {
    // The ring ran dry: the data stays in the socket. Re-armed when buffers come back.
    bump(counters().buffer_ring_empty);
    if (state_ != State::kClosing && !recv_armed_) {
      worker_.add_starved(this);  // lingering too: re-arming now would only spin on ENOBUFS
    }
  } else if (res < 0 && res != -ECANCELED) {
    close_now();
  }
  if (state_ == State::kClosing) {
    maybe_retire();
    return;
  }
  if (!recv_armed_ && !starved && !peer_eof_ && in_.count() < kMaxHeldBuffers) {
    arm_recv();
  }
}

void Connection::finish_after_eof() {
  // The client half-closed and every request it sent has been parsed: answer what was asked,
  // then close. An incomplete request can never complete.
  if (out_ && out_->pending_bytes() > 0) {
    close_after_send_ = true;
    if (!send_inflight_) {
      flush();
    }
  } else {
    close_now();
  }
}

void Connection::resume_receive() {
  starved = false;
  if (state_ != State::kClosing && !peer_eof_ && in_.count() < kMaxHeldBuffers) {
    arm_recv();
  }
}

bool Connection::output_room() const {
  if (!out_) {
    return true;
  }
  if (out_->owned) {
    return false;  // one admin body at a time
  }
  return out_->used + kOutReserve <= out_capacity() &&
         out_->iov_count + kIovReserve <= OutBuffer::kMaxIov;
}

void Connection::process_input() {
  if (in_process_) {
    return;  // re-entered from a send completion inside processing
  }
  in_process_ = true;
  while (state_ == State::kOpen && !in_.empty() && !close_after_send_ && !rate_waiting()) {
    if (tunnel_ && call_) {
      if (!tunnel_input()) {
        break;
      }
      continue;
    }
    if (!parser_.in_message() && (call_ || agg_ || !output_room())) {
      // Backpressure: answer what we have before reading the next request. A proxied
      // response in progress holds the next pipelined request back until it is complete.
      break;
    }
    size_t avail = 0;
    const char* data = in_.front(worker_, avail);
    if (call_ && !parser_.in_head()) {
      // Request body for the upstream: no more than the call can buffer now.
      const size_t room = call_->request_room();
      if (room == 0) {
        break;  // resumed by proxy_request_room() when the upstream has taken the bytes
      }
      avail = std::min(avail, room);
    }
    size_t consumed = 0;
    RequestParser::Event ev = parser_.feed(data, avail, consumed);
    in_.consume(consumed);
    if (ev == RequestParser::Event::kHead) {
      on_head();
    } else if (ev == RequestParser::Event::kMessageComplete) {
      on_message_complete();
    } else if (ev == RequestParser::Event::kError) {
      on_parse_error();
      break;
    }
    if (ev != RequestParser::Event::kHead && in_.front_used(worker_)) {
      // Buffer fully parsed (a head event may still have a pending completion to report).
      in_.pop(worker_);
    }
  }
  in_process_ = false;
  if (state_ == State::kClosing) {
    return;
  }
  if (call_) {
    call_->flush_request();  // one upstream send for the head and the body bytes parsed now
  }
  if (out_ && !send_inflight_) {
    flush();
  }
  if (peer_eof_ && in_.empty() && state_ == State::kOpen && !rate_waiting()) {
    if (call_ && tunnel_) {
      call_->on_client_eof();  // may end the tunnel (and re-enter here through proxy_done)
      return;
    }
    if ((call_ || agg_) && !parser_.in_message()) {
      // A complete request whose response is on its way: answer it, then close.
      close_after_send_ = true;
      update_timer();
      return;
    }
    finish_after_eof();
    return;
  }
  if (state_ == State::kOpen && in_.count() >= kMaxHeldBuffers && recv_armed_ &&
      !recv_cancelling_) {
    // Output is backed up and input keeps coming: stop receiving until we catch up.
    worker_.reactor().submit_cancel(this, kOpRecv);
    recv_cancelling_ = true;
  } else if (state_ == State::kOpen && !recv_armed_ && !starved && !peer_eof_ &&
             in_.count() < kMaxHeldBuffers / 2) {
    arm_recv();
  }
  update_timer();
}

bool Connection::tunnel_input() {
  const size_t room = call_->request_room();
  if (room == 0) {
    return false;  // resumed by proxy_request_room() when the upstream has taken the bytes
  }
  size_t len = 0;
  const char* data = in_.front(worker_, len);
  const size_t n = std::min(len, room);
  call_->on_tunnel_request(data, n);
  in_.consume(n);
  if (in_.front_used(worker_)) {
    in_.pop(worker_);
  }
  return true;
}

void Connection::on_head() {
  head_request_ = parser_.method() == HTTP_HEAD;
  if (pending_kind_ == Pending::kAdmin) {
    delete pending_.admin;
  }
  pending_kind_ = Pending::kNone;
  if (parser_.expect_continue() && parser_.has_body() && parser_.http_minor() >= 1) {
    append_copy("HTTP/1.1 100 Continue\r\n\r\n");
    if (!send_inflight_) {
      flush();
    }
  }
  // One path from here on: what is routed, what a rule checks and what goes upstream.
  uint8_t path_flags = 0;
  rate_next_ = 0;
  if (!parser_.normalize_path(&path_flags)) {
    refuse_path(ErrorKind::kBadEscape);
    return;
  }
  if (local_) {
    if (path_flags != 0) {
      refuse_path(ErrorKind::kPathNotAllowed);
      return;
    }
    pending_.admin = new AdminResponse();
    pending_kind_ = Pending::kAdmin;
    if (*local_) {
      (*local_)(method_name(parser_.method()), parser_.path(), *pending_.admin);
    } else {
      pending_.admin->status = 404;
    }
    return;
  }
  path_flags_ = path_flags;
  route_request(false);
}

void Connection::route_request(bool resumed) {
  RouteMatchResult match;
  worker_.router().match(parser_.host(), parser_.method(), parser_.path(), match);
  const uint8_t allowed = match.status == RouteMatchResult::Status::kMatched
                              ? worker_.config().routes[match.route_index].path_allow
                              : 0;
  if (path_flags_ & ~allowed) {
    refuse_path(ErrorKind::kPathNotAllowed);
    return;
  }
  Worker::AuthFound& found = worker_.auth_found();
  found.drop = nullptr;
  found.forward.clear();
  found.consumer = {};
  if (match.status == RouteMatchResult::Status::kMatched) {
    const RouteConfig& route = worker_.config().routes[match.route_index];
    // Phases in order: authentication, then rate limits (which may key on what auth found).
    if (!authenticated(route, !resumed) || !within_rate_limits(route)) {
      return;
    }
  }
  switch (match.status) {
    case RouteMatchResult::Status::kMatched:
      if (const ProxyRoute* proxy = worker_.proxy_route(match.route_index)) {
        start_proxy(*proxy);
        break;
      }
      if (const AggregateRoute* agg = worker_.aggregate_route(match.route_index)) {
        start_aggregate(*agg, match);
        break;
      }
      pending_kind_ = Pending::kDirect;
      pending_.route = &worker_.direct_route(match.route_index);
      break;
    case RouteMatchResult::Status::kMethodNotAllowed:
      pending_kind_ = Pending::kMethodNotAllowed;
      pending_.allow = match.allowed_methods;
      break;
    case RouteMatchResult::Status::kNotFound:
      pending_kind_ = Pending::kError;
      error_ = Error::client(ErrorKind::kNoRoute);
      break;
  }
}

bool Connection::authenticated(const RouteConfig& route, bool count) {
  if (route.auth.jwt < 0 && route.auth.api_key < 0) {
    return true;
  }
  const Config& config = worker_.config();
  Worker::AuthFound& found = worker_.auth_found();
  if (route.auth.api_key >= 0) {
    const size_t set = static_cast<size_t>(route.auth.api_key);
    const ApiKeyConfig& kc = config.api_keys[set];
    const std::string_view key = kc.from == ApiKeyConfig::From::kHeader
                                     ? parser_.header(kc.from_name)
                                     : auth_detail::pair_value(parser_.query(), kc.from_name, '&');
    const std::string* consumer = worker_.gateway().api_keys(set)->find(key);
    Worker::ApiKeyCounters& counters = worker_.api_key_counters(set);
    if (!consumer) {
      if (count) {
        (key.empty() ? counters.missing : counters.invalid).fetch_add(1, std::memory_order_relaxed);
      }
      const std::string_view why = "the API key is not valid";
      pending_kind_ = Pending::kUnauthorized;
      pending_.refused = AuthRefusal{
          static_cast<uint32_t>(set),
          true,
          key.empty() ? ShardJwtAuth::Outcome::kMissing : ShardJwtAuth::Outcome::kInvalid,
          why.data(),
          static_cast<uint32_t>(why.size()),
          &route};
      return false;
    }
    if (count) {
      counters.accepted.fetch_add(1, std::memory_order_relaxed);
    }
    found.consumer = *consumer;
  }
  if (route.auth.jwt >= 0) {
    const uint32_t issuer = static_cast<uint32_t>(route.auth.jwt);
    const JwtIssuerConfig& cfg = config.jwt_issuers[issuer];
    const std::string_view token = find_token(
        cfg, [this](std::string_view name) { return parser_.header(name); }, parser_.query());
    const int64_t now_s = static_cast<int64_t>(time(nullptr));
    found.jwt = worker_.jwt_auth().check(issuer, token, route.auth.scopes, now_s, count);
    if (found.jwt.outcome != ShardJwtAuth::Outcome::kOk) {
      pending_kind_ = Pending::kUnauthorized;
      pending_.refused = AuthRefusal{issuer,
                                     false,
                                     found.jwt.outcome,
                                     found.jwt.reason.data(),
                                     static_cast<uint32_t>(found.jwt.reason.size()),
                                     &route};
      return false;
    }
    found.forward.assign(found.jwt.forward);
  }
  if (route.auth.api_key >= 0) {
    const std::string& header =
        config.api_keys[static_cast<size_t>(route.auth.api_key)].consumer_header;
    if (!header.empty()) {
      found.forward.append(header).append(": ").append(found.consumer).append("\r\n");
    }
  }
  found.drop = &route.auth.drop_headers;
  return true;
}

void Connection::emit_auth_refusal(const AuthRefusal& refused, bool keep_alive) {
  if (refused.api_key) {
    // No registered scheme for API keys: the challenge names ours and the key set.
    char headers[200];
    const int n = snprintf(headers, sizeof headers, "WWW-Authenticate: ApiKey realm=\"%s\"\r\n",
                           worker_.config().api_keys[refused.issuer].name.c_str());
    const Error error = Error::client(ErrorKind::kUnauthorized,
                                      refused.outcome == ShardJwtAuth::Outcome::kMissing
                                          ? std::string_view("an API key is required")
                                          : std::string_view(refused.reason, refused.reason_len));
    emit_error(error, n > 0 && static_cast<size_t>(n) < sizeof headers ? headers : nullptr,
               keep_alive);
    return;
  }
  const JwtIssuerConfig& cfg = worker_.config().jwt_issuers[refused.issuer];
  // RFC 6750 3: no error code when no token was sent; invalid_token (401) or
  // insufficient_scope (403, naming the scopes) otherwise.
  char headers[600];
  int n = 0;
  ErrorKind kind = ErrorKind::kUnauthorized;
  std::string_view detail;
  switch (refused.outcome) {
    case ShardJwtAuth::Outcome::kMissing:
      n = snprintf(headers, sizeof headers, "WWW-Authenticate: Bearer realm=\"%s\"\r\n",
                   cfg.name.c_str());
      detail = "a bearer token is required";
      break;
    case ShardJwtAuth::Outcome::kInvalid:
      n = snprintf(headers, sizeof headers,
                   "WWW-Authenticate: Bearer realm=\"%s\", error=\"invalid_token\", "
                   "error_description=\"%.*s\"\r\n",
                   cfg.name.c_str(), static_cast<int>(refused.reason_len), refused.reason);
      detail = std::string_view(refused.reason, refused.reason_len);
      break;
    case ShardJwtAuth::Outcome::kInsufficientScope:
    case ShardJwtAuth::Outcome::kOk:
      kind = ErrorKind::kForbidden;
      n = snprintf(headers, sizeof headers,
                   "WWW-Authenticate: Bearer realm=\"%s\", error=\"insufficient_scope\", "
                   "scope=\"%s\"\r\n",
                   cfg.name.c_str(), refused.route->auth.scope_text.c_str());
      detail = "the token does not grant the scope this route requires";
      break;
  }
  emit_error(Error::client(kind, detail),
             n > 0 && static_cast<size_t>(n) < sizeof headers ? headers : nullptr, keep_alive);
}

bool Connection::within_rate_limits(const RouteConfig& route) {
  if (route.rate_limits.empty()) {
    return true;
  }
  const Config& cfg = worker_.config();
  ShardRateLimiter& limiter = worker_.rate_limiter();
  const uint64_t now_us = worker_.shard().now_us();
  const Worker::AuthFound& found = worker_.auth_found();
  for (size_t k = rate_next_; k < route.rate_limits.size(); ++k) {
    const uint32_t policy = route.rate_limits[k];
    const RateLimitPolicy& p = cfg.rate_limits[policy];
    std::string_view key;
    switch (p.key) {
      case RateLimitPolicy::Key::kConsumer:
        key = found.consumer;
        break;
      case RateLimitPolicy::Key::kClaim: {
        const int32_t claim = route.rate_limit_claims[k];
        key = claim >= 0 ? found.jwt.values[claim] : std::string_view();
        break;
      }
      case RateLimitPolicy::Key::kClientIp:
        key = client_address();
        break;
      case RateLimitPolicy::Key::kHeader:
        key = parser_.header(p.header);
        break;
      case RateLimitPolicy::Key::kRoute:
        key = route.name;
        break;
    }
    uint32_t retry_after_s = 0;
    switch (limiter.admit(policy, key, now_us, &retry_after_s, this)) {
      case RateVerdict::kAllowed:
        break;
      case RateVerdict::kLimited:
        pending_kind_ = Pending::kRateLimited;
        pending_.limited = LimitedAnswer{policy, retry_after_s};
        return false;
      case RateVerdict::kWait:
        // Parsing stops here until rate_decided(). Other connections parse meanwhile, into the
        // shard's shared header table: the head moves to this connection's own scratch block.
        rate_next_ = static_cast<uint8_t>(k);
        rate_wait_policy_ = policy;
        parser_.pin_head();
        return false;
    }
  }
  return true;
}

void Connection::rate_decided(bool allowed, uint32_t retry_after_s) {
  if (state_ != State::kOpen || close_after_send_) {
    return;
  }
  if (allowed) {
    ++rate_next_;  // this policy passed: the resumed request checks the ones after it
    route_request(true);
  } else {
    pending_kind_ = Pending::kRateLimited;
    pending_.limited = LimitedAnswer{rate_wait_policy_, retry_after_s};
  }
  if (!in_process_) {
    process_input();
  }
}

std::string_view Connection::client_address() {
  const uint32_t hops = worker_.config().server.trusted_hops;
  if (hops == 0) {
    return peer_ip();
  }
  // The entries of every X-Forwarded-For line, in order; the Nth from the right is the one the
  // outermost trusted proxy saw.
  std::string_view entries[32];
  size_t count = 0;
  size_t seen = 0;
  for (int i = 0; i < parser_.header_count(); ++i) {
    if (!iequals(parser_.header_name(i), "x-forwarded-for")) {
      continue;
    }
    std::string_view v = parser_.header_value(i);
    while (!v.empty()) {
      const size_t comma = v.find(',');
      const std::string_view item = trim_ows(v.substr(0, comma));
      v = comma == std::string_view::npos ? std::string_view() : v.substr(comma + 1);
      if (!item.empty()) {
        entries[seen % 32] = item;  // a ring: only the rightmost 32 can matter
        ++seen;
        count = std::min<size_t>(seen, 32);
      }
    }
  }
  if (count == 0) {
    return peer_ip();
  }
  const size_t from_right = std::min<size_t>(hops, count);
  return entries[(seen - from_right) % 32];
}

void Connection::emit_rate_limited(const LimitedAnswer& limited, bool keep_alive) {
  const RateLimitPolicy& p = worker_.config().rate_limits[limited.policy];
  // The window in which the whole burst refills, whole seconds.
  const uint64_t period_ms = static_cast<uint64_t>(p.period.count());
  const uint64_t window_s =
      std::max<uint64_t>(1, (p.burst * period_ms + p.tokens * 1000 - 1) / (p.tokens * 1000));
  // Built on the stack: a client over its limit can send at full rate.
  char headers[256];
  const int n =
      snprintf(headers, sizeof headers,
               "Retry-After: %u\r\nRateLimit-Policy: \"%s\";q=%llu;w=%llu\r\n"
               "RateLimit: \"%s\";r=0;t=%u\r\n",
               limited.retry_after_s, p.name.c_str(), static_cast<unsigned long long>(p.burst),
               static_cast<unsigned long long>(window_s), p.name.c_str(), limited.retry_after_s);
  Error error = Error::client(ErrorKind::kLimited);
  error.name = p.name;
  emit_error(error, n > 0 && static_cast<size_t>(n) < sizeof headers ? headers : nullptr,
             keep_alive);
}

void Connection::refuse_path(ErrorKind kind) {
  bump(counters().parse_bad_path);
  pending_kind_ = Pending::kError;  // answered at message complete, like any refusal
  error_ = Error::client(kind);
}

void Connection::start_proxy(const ProxyRoute& route) {
  ProxyCall* call = worker_.acquire_call();
  const Error error = call->start(*this, *route.route, *route.action, *route.cluster);
  if (error) {
    // Refused before anything was sent (no endpoint, limits): answered at message complete.
    worker_.release_call(call);
    pending_kind_ = Pending::kError;
    error_ = error;
    return;
  }
  call_ = call;
  pending_kind_ = Pending::kProxy;
  parser_.set_body_sink(call);
}

void Connection::start_aggregate(const AggregateRoute& route, const RouteMatchResult& match) {
  agg_ = worker_.acquire_aggregate();
  pending_kind_ = Pending::kAggregate;
  agg_->start(*this, route, match);  // answers through aggregate_answer() once the request is done
}

void Connection::aggregate_answer(int status, const std::string& extra_headers,
                                  const char* content_type, std::string* body, bool keep_alive) {
  agg_ = nullptr;
  keep_alive = keep_alive && !worker_.draining() && !peer_eof_;
  emit_head(status, extra_headers.empty() ? nullptr : extra_headers.c_str(), content_type,
            body->size(), keep_alive);
  stage_owned_body(body, head_request_);
  if (!keep_alive) {
    close_after_send_ = true;
  }
  phase_ = Phase::kNone;
  if (!in_process_) {
    process_input();
  }
}

void Connection::on_message_complete() {
  // After a half-close the remaining pipelined requests are still answered; finish_after_eof()
  // closes once the input is used up.
  const bool keep_alive = parser_.keep_alive() && !worker_.draining();
  switch (pending_kind_) {
    case Pending::kDirect:
      emit_direct(*pending_.route, keep_alive, head_request_);
      break;
    case Pending::kMethodNotAllowed: {
      // Built on the stack: a client can send wrong methods at full rate on keep-alive.
      char allow[512];
      size_t n = 0;
      auto put = [&](std::string_view text) {
        const size_t k = std::min(text.size(), sizeof allow - 1 - n);
        std::memcpy(allow + n, text.data(), k);
        n += k;
      };
      put("Allow: ");
      bool first = true;
      for (int m = 0; m < kMaxMethods; ++m) {
        if (pending_.allow & method_bit(m)) {
          put(first ? "" : ", ");
          put(method_name(m));
          first = false;
        }
      }
      put("\r\n");
      allow[n] = '\0';
      emit_error(Error::client(ErrorKind::kMethodNotAllowed), allow, keep_alive);
      break;
    }
    case Pending::kAdmin: {
      AdminResponse* r = pending_.admin;
      pending_kind_ = Pending::kNone;
      emit_admin(r, keep_alive, head_request_);
      break;
    }
    case Pending::kError:
      emit_error(error_, nullptr, keep_alive);
      break;
    case Pending::kRateLimited:
      emit_rate_limited(pending_.limited, keep_alive);
      break;
    case Pending::kUnauthorized:
      emit_auth_refusal(pending_.refused, keep_alive);
      break;
    case Pending::kAggregate:
      pending_kind_ = Pending::kNone;
      if (agg_) {
        agg_->on_request_complete(keep_alive);  // may answer at once
        return;
      }
      break;
    case Pending::kProxy:
      parser_.set_body_sink(nullptr);
      pending_kind_ = Pending::kNone;
      if (call_) {
        // The response may still be on its way: keep-alive is settled when it completes.
        call_->on_request_complete(keep_alive);
        return;
      }
      break;
    case Pending::kNone:
      break;
  }
  pending_kind_ = Pending::kNone;
  phase_ = Phase::kNone;  // the next request gets its own header deadline
  if (!keep_alive) {
    close_after_send_ = true;
  }
}

char* Connection::out_space(size_t& avail) {
  if (!out_) {
    out_ = worker_.acquire_out();
  }
  OutBuffer& o = *out_;
  if (o.owned || o.iov_count + 2 > OutBuffer::kMaxIov) {
    avail = 0;
    return nullptr;
  }
  avail = out_capacity() - o.used;
  return o.data + o.used;
}

void Connection::out_commit(size_t n) {
  if (n == 0) {
    return;
  }
  OutBuffer& o = *out_;
  char* dst = o.data + o.used;
  o.used += static_cast<uint32_t>(n);
  if (o.iov_count > o.inflight_end && o.iov_count > 0) {
    iovec& last = o.iov[o.iov_count - 1];
    if (static_cast<char*>(last.iov_base) + last.iov_len == dst) {
      last.iov_len += n;
      return;
    }
  }
  o.iov[o.iov_count++] = iovec{dst, n};
}

bool Connection::out_pending() const {
  return out_ && out_->pending_bytes() > 0;
}

void Connection::out_discard() {
  if (!out_ || send_inflight_) {
    return;
  }
  worker_.release_out(out_);
  out_ = nullptr;
}

void Connection::out_flush() {
  if (!send_inflight_) {
    flush();
  }
}

std::string_view Connection::peer_ip() {
  if (peer_ip_[0] == '\0') {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    if (getpeername(fd_, reinterpret_cast<sockaddr*>(&ss), &len) == 0) {
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

void Connection::proxy_error(const Error& error, bool keep_alive) {
  call_ = nullptr;
  const bool request_done = !parser_.in_message();
  if (!request_done) {
    // The rest of the request body will never be read as a request.
    parser_.set_body_sink(nullptr);
    pending_kind_ = Pending::kNone;
    keep_alive = false;
  }
  emit_error(error, nullptr, keep_alive && !worker_.draining());
  if (!keep_alive || worker_.draining()) {
    close_after_send_ = true;
  }
  phase_ = Phase::kNone;
  if (!in_process_) {
    process_input();
  }
}

void Connection::proxy_done(bool keep_alive) {
  call_ = nullptr;
  if (parser_.in_message()) {
    // Answered before the request was complete: the rest cannot be read as a request.
    parser_.set_body_sink(nullptr);
    pending_kind_ = Pending::kNone;
    keep_alive = false;
  }
  if (!keep_alive) {
    close_after_send_ = true;
  }
  tunnel_ = false;
  phase_ = Phase::kNone;
  if (!in_process_) {
    process_input();
  }
  if (close_after_send_ && state_ == State::kOpen && !send_inflight_ && !out_pending()) {
    start_linger();  // nothing left to send (a tunnel that ended quiet)
  }
}

void Connection::proxy_tunnel() {
  tunnel_ = true;
  if (!in_process_) {
    process_input();  // bytes the client sent behind its request are the tunnel's first
  }
}

void Connection::proxy_abort() {
  call_ = nullptr;
  parser_.set_body_sink(nullptr);
  if (!parser_.in_message() && !out_pending()) {
    // Everything of the cut response went out: close_now() would not see it unanswered.
    bump(counters().requests_aborted);
  }
  close_now();
}

void Connection::on_parse_error() {
  const ParseError& e = parser_.error();
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
  head_request_ = false;
  emit_error(error, nullptr, false);
  close_after_send_ = true;
  release_input();
  if (!send_inflight_) {
    flush();
  }
}

void Connection::append_copy(std::string_view bytes) {
  if (!out_) {
    out_ = worker_.acquire_out();
  }
  OutBuffer& o = *out_;
  char* dst = o.data + o.used;
  std::memcpy(dst, bytes.data(), bytes.size());
  o.used += static_cast<uint32_t>(bytes.size());
  // Extend the last iovec when it ends right here and is not part of a send in flight.
  if (o.iov_count > o.inflight_end && o.iov_count > 0) {
    iovec& last = o.iov[o.iov_count - 1];
    if (static_cast<char*>(last.iov_base) + last.iov_len == dst) {
      last.iov_len += bytes.size();
      return;
    }
  }
  o.iov[o.iov_count++] = iovec{dst, bytes.size()};
}

void Connection::append_ref(const char* data, size_t len) {
  if (!out_) {
    out_ = worker_.acquire_out();
  }
  out_->iov[out_->iov_count++] = iovec{const_cast<char*>(data), len};
}

void Connection::append_connection_header(bool keep_alive) {
  if (!keep_alive) {
    append_copy("Connection: close\r\n");
  } else if (parser_.http_minor() == 0) {
    append_copy("Connection: keep-alive\r\n");
  }
}

void Connection::count_status(int status) {
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

void Connection::emit_direct(const DirectRoute& route, bool keep_alive, bool head_only) {
  count_status(route.status);
  const bool copy_head = route.head.size() + route.body.size() <= kOutReserve - 128;
  if (copy_head) {
    append_copy(route.head);
  } else {
    append_ref(route.head.data(), route.head.size());
  }
  append_copy(worker_.date().header_line());
  append_connection_header(keep_alive);
  append_copy("\r\n");
  if (!head_only && !route.body.empty()) {
    if (route.body.size() <= kCopyBodyMax && copy_head) {
      append_copy(route.body);
    } else {
      append_ref(route.body.data(), route.body.size());
    }
  }
}

void Connection::emit_head(int status, const char* extra_headers, std::string_view content_type,
                           size_t content_length, bool keep_alive) {
  count_status(status);
  char line[64];
  int n = snprintf(line, sizeof line, "HTTP/1.1 %d ", status);
  append_copy(std::string_view(line, static_cast<size_t>(n)));
  append_copy(reason_phrase(status));
  append_copy("\r\n");
  append_copy(worker_.server_line());
  append_copy(worker_.date().header_line());
  if (extra_headers) {
    append_copy(extra_headers);
  }
  append_copy("Content-Type: ");
  append_copy(content_type);
  n = snprintf(line, sizeof line, "\r\nContent-Length: %zu\r\n", content_length);
  append_copy(std::string_view(line, static_cast<size_t>(n)));
  append_connection_header(keep_alive);
  append_copy("\r\n");
}

void Connection::emit_generated(int status, const char* extra_headers,
                                std::string_view content_type, std::string_view body,
                                bool keep_alive, bool head_only) {
  emit_head(status, extra_headers, content_type, body.size(), keep_alive);
  if (!head_only) {
    append_copy(body);  // generated bodies are small problem documents
  }
}

void Connection::emit_error(const Error& error, const char* extra_headers, bool keep_alive) {
  std::string& body = worker_.error_body_scratch();
  error_body(error, body);
  emit_generated(error_status(error), extra_headers, kProblemContentType, body, keep_alive,
                 head_request_);
}

void Connection::emit_admin(AdminResponse* r, bool keep_alive, bool head_only) {
  emit_head(r->status, r->headers.empty() ? nullptr : r->headers.c_str(), r->content_type,
            r->body.size(), keep_alive);
  std::string* body = worker_.acquire_body();
  body->swap(r->body);
  stage_owned_body(body, head_only);
  delete r;
}

void Connection::stage_owned_body(std::string* body, bool drop) {
  if (drop || body->empty()) {
    worker_.release_body(body);
    return;
  }
  // Owned by the output buffer until sent; output_room() stages one such body at a time.
  out_->owned = body;
  append_ref(body->data(), body->size());
}

void Connection::flush() {
  if (!out_ || send_inflight_ || state_ == State::kClosing) {
    return;
  }
  OutBuffer& o = *out_;
  if (o.iov_sent >= o.iov_count) {
    return;
  }
  o.inflight_end = o.iov_count;
  send_inflight_ = true;
  const int count = o.iov_count - o.iov_sent;
  if (count == 1) {
    worker_.reactor().submit_send(fd_, o.iov[o.iov_sent].iov_base, o.iov[o.iov_sent].iov_len, this,
                                  kOpSend);
  } else {
    o.msg = msghdr{};
    o.msg.msg_iov = &o.iov[o.iov_sent];
    o.msg.msg_iovlen = static_cast<size_t>(count);
    worker_.reactor().submit_sendmsg(fd_, &o.msg, this, kOpSend);
  }
}

void Connection::on_send(int res) {
  send_inflight_ = false;
  if (state_ == State::kClosing) {
    maybe_retire();
    return;
  }
  if (res < 0) {
    close_now();
    return;
  }
  bump(counters().bytes_out, static_cast<uint64_t>(res));
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
    flush();                // partial send, or more was staged meanwhile
    phase_ = Phase::kNone;  // progress: restart the send deadline
    update_timer();
    return;
  }
  // Everything sent: the buffer goes back to the pool, so an idle connection holds none.
  worker_.release_out(out_);
  out_ = nullptr;
  if (call_) {
    call_->on_client_drained();  // the response in progress may go on
    return;
  }
  if (close_after_send_) {
    start_linger();
    return;
  }
  if (worker_.draining() && !parser_.in_message() && in_.empty()) {
    // Shutting down: this response was built before the drain began; nothing else is coming.
    start_linger();
    return;
  }
  process_input();
}

void Connection::start_linger() {
  // Half-close and drain what the client still sends, so the kernel does not answer its late
  // bytes with a reset that could destroy the response in its receive queue.
  release_input();
  state_ = State::kLingering;
  // Tracked like any other operation: io_uring may run SHUTDOWN later in a worker thread that
  // looks the fd number up then. Closing first would let accept reuse the number, and the stale
  // shutdown would cut the new connection.
  worker_.reactor().submit_shutdown(fd_, SHUT_WR, this, kOpShutdown);
  shutdown_inflight_ = true;
  if (peer_eof_) {
    close_now();
    return;
  }
  if (!recv_armed_ && !starved) {
    arm_recv();
  }
  phase_ = Phase::kLinger;
  worker_.shard().timers().arm(*this, worker_.shard().now_ms() + kLingerMs);
}

void Connection::release_input() {
  in_.release(worker_);
}

void Connection::close_now() {
  if (state_ == State::kClosing) {
    return;
  }
  if (state_ == State::kOpen && !rate_waiting() &&
      (parser_.in_message() || call_ || agg_ || (out_ && out_->pending_bytes() > 0))) {
    // A request that began but will never be (fully) answered is counted, never lost silently.
    bump(counters().requests_aborted);
  }
  state_ = State::kClosing;
  worker_.shard().timers().disarm(*this);
  if (rate_waiting()) {
    bump(counters().requests_aborted);  // a bodiless request is no longer "in message"
    worker_.rate_limiter().cancel(this);
  }
  if (call_) {
    ProxyCall* call = call_;
    call_ = nullptr;
    parser_.set_body_sink(nullptr);
    call->client_gone();
  }
  if (agg_) {
    AggregateCall* agg = agg_;
    agg_ = nullptr;
    agg->client_gone();
  }
  release_input();
  parser_.release();
  if (recv_armed_) {
    worker_.reactor().submit_cancel(this, kOpRecv);
  }
  if (send_inflight_) {
    // A client that stopped reading leaves the send waiting for buffer space forever.
    worker_.reactor().submit_cancel(this, kOpSend);
  }
  maybe_retire();
}

void Connection::maybe_retire() {
  // Nothing with an operation in flight is freed: wait for the last recv and send completions.
  if (state_ == State::kClosing && !recv_armed_ && !send_inflight_ && !shutdown_inflight_ &&
      !retired_) {
    retired_ = true;
    worker_.retire(this);
  }
}

void Connection::begin_drain() {
  if (state_ != State::kOpen) {
    return;
  }
  if (!parser_.in_message() && !call_ && !agg_ && !(out_ && out_->pending_bytes() > 0) &&
      in_.empty() && !rate_waiting()) {
    close_now();
  }
  // Otherwise the response in progress goes out with Connection: close (draining() is checked).
}

void Connection::update_timer() {
  if (state_ != State::kOpen) {
    return;
  }
  Phase want;
  if ((call_ || agg_) && !parser_.in_message()) {
    // The call keeps its own deadlines (connect, try, route timeout, stalled transfer).
    if (phase_ != Phase::kProxy) {
      phase_ = Phase::kProxy;
      worker_.shard().timers().disarm(*this);
    }
    return;
  }
  if (parser_.in_head()) {
    want = Phase::kHeader;
  } else if (parser_.in_message() || rate_waiting() || (out_ && out_->pending_bytes() > 0)) {
    want = Phase::kRequest;
  } else {
    want = Phase::kIdle;
  }
  if (want == phase_) {
    return;
  }
  phase_ = want;
  const Limits& l = worker_.limits();
  Duration d = want == Phase::kHeader    ? l.header_timeout
               : want == Phase::kRequest ? l.request_timeout
                                         : l.idle_timeout;
  worker_.shard().timers().arm(*this, worker_.shard().now_ms() + static_cast<uint64_t>(d.count()));
}

void Connection::on_timer(Timer* t) {
  auto* c = static_cast<Connection*>(t);
  ShardCounters& counters = c->counters();
  switch (c->phase_) {
    case Phase::kIdle:
      bump(counters.idle_timeouts);
      c->close_now();
      break;
    case Phase::kHeader:
    case Phase::kRequest:
      if (c->rate_waiting()) {
        // The rate limit's backend took longer than the request may (redis.timeout is shorter
        // than request_timeout, but a waiter can be moved on to a second call).
        c->worker_.rate_limiter().cancel(c);
        bump(counters.request_timeouts);
        c->fail_and_close(Error::gateway(ErrorKind::kDependencyTimeout,
                                         "the rate limit's backend did not answer in time"));
        c->phase_ = Phase::kLinger;
        c->worker_.shard().timers().arm(*c, c->worker_.shard().now_ms() + kLingerMs);
      } else if (c->call_) {
        bump(counters.request_timeouts);
        c->close_now();  // the body stalled while being proxied: the upstream side is cut too
      } else if (c->parser_.in_message() && !c->close_after_send_) {
        const bool header = c->phase_ == Phase::kHeader;
        bump(header ? counters.header_timeouts : counters.request_timeouts);
        c->fail_and_close(
            Error::client(header ? ErrorKind::kHeadTimeout : ErrorKind::kBodyTimeout));
        c->phase_ = Phase::kLinger;
        // If the client does not read the 408 either, the linger deadline closes the connection.
        c->worker_.shard().timers().arm(*c, c->worker_.shard().now_ms() + kLingerMs);
      } else {
        c->close_now();  // stuck sending to a client that does not read
      }
      break;
    case Phase::kLinger:
    case Phase::kProxy:
    case Phase::kNone:
      c->close_now();
      break;
  }
}

}  // namespace ringgate
