#include "ringgate/upstream/call.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "h2_upstream.h"
#include "pool.h"
#include "ringgate/core/ascii.h"
#include "ringgate/core/assert.h"
#include "ringgate/core/header_list.h"
#include "ringgate/http/error_reply.h"
#include "ringgate/http/trace.h"
#include "ringgate/net/socket.h"
#include "ringgate/upstream/upstream_shard.h"

namespace ringgate {

namespace {

// A gRPC call's grpc-timeout (content-type application/grpc...): "1-8 digits and a unit" (H M S
// m u n), in milliseconds (at least 1); 0 without one, or when it cannot be read.
uint64_t grpc_timeout_ms(const RequestParser& p) {
  if (!p.header("content-type").starts_with("application/grpc")) {
    return 0;
  }
  const std::string_view t = p.header("grpc-timeout");
  if (t.size() < 2 || t.size() > 9) {
    return 0;
  }
  uint64_t n = 0;
  for (char c : t.substr(0, t.size() - 1)) {
    if (c < '0' || c > '9') {
      return 0;
    }
    n = n * 10 + static_cast<uint64_t>(c - '0');
  }
  uint64_t ms = 0;
  switch (t.back()) {
    case 'H':
      ms = n * 3600 * 1000;
      break;
    case 'M':
      ms = n * 60 * 1000;
      break;
    case 'S':
      ms = n * 1000;
      break;
    case 'm':
      ms = n;
      break;
    case 'u':
      ms = n / 1000;
      break;
    case 'n':
      ms = n / 1000000;
      break;
    default:
      return 0;
  }
  return std::max<uint64_t>(ms, 1);
}

// Room kept for chunk framing around the pieces of one feed: a chunk-size line and CRLF at each
// end of what was fed, beyond what the input itself carried.
constexpr size_t kFramingSlack = 64;
// Less room than this is treated as none: wait for the output to drain.
constexpr size_t kMinRoom = 256;
constexpr uint8_t kMaxTries = 8;
constexpr std::string_view kHeadOutgrown =
    "could not be called: the rewritten request head does not fit a request buffer";

// The one protocol a request may switch an upstream connection to: WebSocket. Any other Upgrade
// (h2c above all: a tunnel to the upstream's HTTP/2, where routes, auth and limits no longer
// see the requests) is left out of the forwarded head, which the upstream then answers as HTTP.
// (CONNECT never gets here: the parser answers it 501.)
bool websocket_upgrade(const RequestParser& p) {
  return p.upgrade() && p.http_minor() >= 1 && !p.has_body() &&
         iequals(trim_ows(p.header("upgrade")), "websocket");
}

bool idempotent(int method) {
  switch (method) {
    case HTTP_GET:
    case HTTP_HEAD:
    case HTTP_PUT:
    case HTTP_DELETE:
    case HTTP_OPTIONS:
    case HTTP_TRACE:
      return true;
    default:
      return false;
  }
}

std::string_view cookie_value(const MessageParser& p, std::string_view name) {
  for (int i = 0; i < p.header_count(); ++i) {
    std::string_view h = p.header_name(i);
    if (h.size() != 6 || strncasecmp(h.data(), "cookie", 6) != 0) {
      continue;
    }
    std::string_view v = p.header_value(i);
    while (!v.empty()) {
      const size_t semi = v.find(';');
      std::string_view pair = trim_ows(v.substr(0, semi));
      v = semi == std::string_view::npos ? std::string_view() : v.substr(semi + 1);
      const size_t eq = pair.find('=');
      if (eq != std::string_view::npos && pair.substr(0, eq) == name) {
        return pair.substr(eq + 1);
      }
    }
  }
  return {};
}

}  // namespace

ProxyCall::ProxyCall(UpstreamShard& shard)
    : Timer(&ProxyCall::on_timer), shard_(shard), client_(shard) {}

ProxyCall::~ProxyCall() {
  if (req_) {
    shard_.release_request_block(req_);
  }
}

void ProxyCall::enter(State next) {
  bool legal = false;
  switch (next) {
    case State::kIdle:
      legal = true;  // every state can end
      break;
    case State::kTrying:  // the first try, or a retry after a failed one
      legal = state_ == State::kIdle || state_ == State::kTrying || state_ == State::kSent ||
              state_ == State::kInterim || state_ == State::kResponding;
      break;
    case State::kSent:
      legal = state_ == State::kTrying || state_ == State::kInterim;
      break;
    case State::kInterim:
    case State::kResponding:
    case State::kTunnel:
      legal = state_ == State::kSent || state_ == State::kInterim;
      break;
    case State::kTunnelHalfClosed:
      legal = state_ == State::kTunnel;
      break;
  }
  RG_RELEASE_ASSERT(legal);
  state_ = next;
}

Error ProxyCall::start(Exchange& x, Downstream& client, const RouteConfig& route,
                       const UpstreamAction& action, UpstreamCluster& cluster) {
  x_ = &x;
  downstream_ = &client;
  sink_ = &client_;
  route_ = &route;
  action_ = &action;
  cluster_ = &cluster;
  start_us_ = shard_.now_us();
  const RequestParser& p = x.request();
  head_request_ = p.method() == HTTP_HEAD;
  idempotent_ = idempotent(p.method());
  upgrade_ = websocket_upgrade(p);
  request_framing_ = p.chunked()                                        ? BodyFraming::kChunked
                     : p.has_content_length() && p.content_length() > 0 ? BodyFraming::kLength
                                                                        : BodyFraming::kNone;
  client_.start(x, client, p.http_minor(), p.keep_alive());
  bump(cluster.counters.requests);
  if (!circuit_admits(cluster, shard_.now_ms(), &holds_probe_)) {
    return refuse(ErrorKind::kCircuitOpen);
  }
  if (cluster.requests >= cluster.max_requests) {
    return refuse(ErrorKind::kAtLimit);
  }
  deadline_ms_ = shard_.now_ms() + static_cast<uint64_t>(action.timeout.count());
  if (const uint64_t grpc = grpc_timeout_ms(p); grpc > 0) {
    // A gRPC call's own deadline bounds the upstream call too, when it is the shorter.
    deadline_ms_ = std::min(deadline_ms_, shard_.now_ms() + grpc);
  }
  const UpstreamConfig& cfg = *cluster.config;
  if (cfg.balance == BalanceKind::kRingHash || cfg.balance == BalanceKind::kMaglev) {
    std::string_view key;
    switch (cfg.hash_key.kind) {
      case HashKeyConfig::Kind::kHeader:
        key = p.header(cfg.hash_key.name);
        break;
      case HashKeyConfig::Kind::kCookie:
        key = cookie_value(p, cfg.hash_key.name);
        break;
      case HashKeyConfig::Kind::kClientIp:
        key = x.client_address();
        break;
    }
    key_hash_ = hash_key(key);
  }
  ++cluster.requests;
  Error error = try_once();
  if (error) {
    --cluster.requests;
    clear();
    return error;
  }
  x.timings.upstream_start_us = shard_.now_us();
  if (!req_) {
    req_ = shard_.acquire_request_block();  // kept while the call is pooled, up to a trim
  }
  if (!build_head()) {
    // Only with a rewrite that makes the head outgrow the request buffer.
    detach_upstream(true);
    --cluster.requests;
    error = cluster.error(ErrorKind::kInternal);
    error.detail = kHeadOutgrown;
    count_failure(error);
    clear();
    return error;
  }
  return {};
}

Error ProxyCall::start_backend(ResponseSink& sink, const UpstreamAction& action,
                               UpstreamCluster& cluster, std::string_view request,
                               bool idempotent) {
  sink_ = &sink;
  action_ = &action;
  cluster_ = &cluster;
  start_us_ = shard_.now_us();
  idempotent_ = idempotent;
  head_request_ = false;
  bump(cluster.counters.requests);
  if (!req_) {
    req_ = shard_.acquire_request_block();
  }
  if (request.size() + kFramingSlack > shard_.request_block_size()) {
    Error error = cluster.error(ErrorKind::kInternal);
    error.detail = "could not be called: the request is larger than a request buffer";
    count_failure(error);
    clear();
    return error;
  }
  if (!circuit_admits(cluster, shard_.now_ms(), &holds_probe_)) {
    return refuse(ErrorKind::kCircuitOpen);
  }
  if (cluster.requests >= cluster.max_requests) {
    return refuse(ErrorKind::kAtLimit);
  }
  std::memcpy(req_, request.data(), request.size());
  req_len_ = static_cast<uint32_t>(request.size());
  request_complete_ = true;
  if (action.host == HostPolicy::kEndpoint) {
    // The caller's Host line, right after the request line, names the endpoint of each try.
    const std::string_view head(req_, req_len_);
    const size_t line = head.find("\r\n");
    if (line != std::string_view::npos && head.substr(line + 2, 6) == "Host: ") {
      host_off_ = static_cast<uint32_t>(line + 8);
      host_len_ = static_cast<uint32_t>(head.find("\r\n", host_off_) - host_off_);
    }
  }
  deadline_ms_ = shard_.now_ms() + static_cast<uint64_t>(action.timeout.count());
  ++cluster.requests;
  Error error = try_once();
  if (!error && !retarget_host()) {
    detach_upstream(true);
    error = cluster.error(ErrorKind::kInternal);
    error.detail = kHeadOutgrown;
    count_failure(error);
  }
  if (error) {
    --cluster.requests;
    clear();
    return error;
  }
  flush_request();  // a pooled connection sends at once; a new one when it connects
  return {};
}

Error ProxyCall::refuse(ErrorKind kind) {
  bump(cluster_->counters.circuit_rejections);
  const Error error = cluster_->error(kind);
  count_failure(error);
  clear();
  return error;
}

void ProxyCall::count_failure(const Error& error) {
  ClusterCounters& c = cluster_->counters;
  switch (error_status(error)) {
    case 503:
      bump(c.failures_503);
      break;
    case 504:
      bump(c.failures_504);
      break;
    default:
      bump(c.failures_502);
      break;
  }
}

size_t upstream_target_size(const UpstreamAction& action, std::string_view path,
                            std::string_view query) {
  const size_t prefix = action.rewrite.size();
  return prefix + path.size() + (query.empty() ? 0 : query.size() + 1) + 1;
}

size_t write_upstream_target(const RouteConfig& route, const UpstreamAction& action,
                             std::string_view path, std::string_view query, char* target) {
  std::string_view prefix;  // what replaces the matched part
  std::string_view rest = path;
  if (!action.strip_prefix.empty()) {
    const std::string& sp = action.strip_prefix;
    if (path.substr(0, sp.size()) == sp &&
        (path.size() == sp.size() || path[sp.size()] == '/' || sp.back() == '/')) {
      rest = path.substr(sp.size());
    }
  } else if (!action.rewrite.empty()) {
    prefix = action.rewrite;
    if (route.match.kind == RouteMatch::Kind::kPrefix) {
      std::string_view matched = route.match.path;
      while (!matched.empty() && matched.back() == '/' && matched.size() > 1) {
        matched.remove_suffix(1);
      }
      rest = path.substr(std::min(matched.size(), path.size()));
      if (!prefix.empty() && prefix.back() == '/' && !rest.empty() && rest.front() == '/') {
        rest.remove_prefix(1);
      }
    } else {
      rest = {};
    }
  }
  size_t t = 0;
  auto append = [&](std::string_view piece) {
    if (!piece.empty()) {  // an empty view may have no data pointer: never memcpy from null
      std::memcpy(target + t, piece.data(), piece.size());
      t += piece.size();
    }
  };
  append(prefix);
  append(rest);
  if (t == 0 || target[0] != '/') {
    std::memmove(target + 1, target, t);
    target[0] = '/';
    ++t;
  }
  if (!query.empty()) {
    target[t++] = '?';
    append(query);
  }
  return t;
}

bool ProxyCall::build_head() {
  const RequestParser& p = x_->request();
  const size_t cap = shard_.request_block_size();
  // The target is composed at the end of the block, the head written from its start.
  const size_t target_len = upstream_target_size(*action_, p.path(), p.query());
  if (target_len + 1024 > cap) {
    return false;
  }
  char* target = req_ + cap - target_len;
  const size_t t = write_upstream_target(*route_, *action_, p.path(), p.query(), target);
  ForwardRequest f;
  f.target = std::string_view(target, t);
  // The route's own `host:`, else its cluster's, else preserve.
  const UpstreamConfig& cluster = *cluster_->config;
  const bool own = action_->host_set || !cluster.host;
  const HostPolicy host = own ? action_->host : *cluster.host;
  switch (host) {
    case HostPolicy::kPreserve:
      break;
    case HostPolicy::kEndpoint:
      f.host = endpoint_->authority;  // a retry to another endpoint rewrites it (retarget_host)
      break;
    case HostPolicy::kFixed:
      f.host = own ? action_->host_value : cluster.host_value;
      break;
  }
  f.client_ip = x_->peer_ip();
  f.trusted_hops = shard_.config().server.trusted_hops;
  f.tls = x_->tls;
  char id[RequestIdGenerator::kLength];
  if (trace_is_unique(x_->trace)) {
    f.request_id = x_->trace.id();  // one id for the request and its trace
  } else {
    shard_.request_ids().next(id);
    f.request_id = std::string_view(id, sizeof id);
  }
  char traceparent[kTraceparentLength];
  if (x_->trace.on) {
    // The call's own span in the request's trace.
    write_traceparent(traceparent, x_->trace, shard_.request_ids());
    f.traceparent = std::string_view(traceparent, sizeof traceparent);
    f.keep_tracestate = x_->trace.continued;
  }
  f.framing = request_framing_;
  f.upgrade = upgrade_;
  // What the request's authentication found.
  f.drop = x_->identity.drop_headers;
  f.extra = x_->identity.add_headers;
  std::string_view id_sent;
  const size_t n = write_forward_request_head(p, f, req_, cap - target_len, &id_sent);
  if (n == 0) {
    return false;
  }
  // For the logs: the id outlives the head's bytes in the exchange's arena.
  if (id_sent.data() == x_->trace.trace_id) {
    x_->log.request_id = id_sent;  // the exchange's own
  } else if (!id_sent.empty()) {
    if (char* kept = static_cast<char*>(x_->arena().allocate(id_sent.size(), 1))) {
      std::memcpy(kept, id_sent.data(), id_sent.size());
      x_->log.request_id = std::string_view(kept, id_sent.size());
    }
  }
  x_->log.upstream = &cluster_->config->name;
  req_len_ = static_cast<uint32_t>(n);
  req_sent_ = 0;
  host_off_ = host_len_ = 0;
  if (host == HostPolicy::kEndpoint) {
    // Remembered so that a retry to another endpoint can name that endpoint instead.
    const size_t at = std::string_view(req_, n).find("\r\nHost: ");
    if (at != std::string_view::npos) {
      host_off_ = static_cast<uint32_t>(at + 8);
      host_len_ = static_cast<uint32_t>(endpoint_->authority.size());
    }
  }
  return true;
}

bool ProxyCall::retarget_host() {
  const std::string& a = endpoint_->authority;
  if (host_off_ == 0 ||
      (a.size() == host_len_ && std::memcmp(req_ + host_off_, a.data(), a.size()) == 0)) {
    return true;
  }
  const size_t end = host_off_ + host_len_;
  const size_t len = req_len_ - host_len_ + a.size();
  if (len + kFramingSlack > shard_.request_block_size()) {
    return false;
  }
  // Everything after the value (the rest of the head, the body so far) moves with it.
  std::memmove(req_ + host_off_ + a.size(), req_ + end, req_len_ - end);
  std::memcpy(req_ + host_off_, a.data(), a.size());
  req_len_ = static_cast<uint32_t>(len);
  host_len_ = static_cast<uint32_t>(a.size());
  return true;
}

Error ProxyCall::try_once() {
  UpstreamCluster& c = *cluster_;
  const uint64_t now = shard_.now_ms();
  for (size_t i = 0; i < c.endpoints.size(); ++i) {
    const SharedEndpoint& shared = *c.endpoints[i].shared;
    c.views[i].in_flight = c.endpoints[i].in_flight;
    c.views[i].available = sync_endpoint_address(c.endpoints[i]) &&
                           shared.healthy.load(std::memory_order_relaxed) &&
                           shared.ejected_until_ms.load(std::memory_order_relaxed) <= now;
  }
  const int index = c.balancer->pick(c.views, key_hash_, std::span<const uint16_t>(tried_, tries_));
  if (index < 0) {
    const Error error = c.error(ErrorKind::kNoEndpoint);
    count_failure(error);
    return error;
  }
  UpstreamEndpoint& ep = c.endpoints[static_cast<size_t>(index)];
  bump(ep.counters->requests);
  UpstreamConn* conn = ep.idle;
  if (c.config->protocol == UpstreamProtocol::kH2) {
    // A stream on a connection to the endpoint that has room (a new connection otherwise).
    ErrorKind why = ErrorKind::kNone;
    bool opened = false;
    conn = shard_.open_h2_stream(c, ep, why, opened);
    if (!conn) {
      bump(why == ErrorKind::kAtLimit ? c.counters.circuit_rejections
                                      : c.counters.connect_failures);
      const Error error = c.error(why);
      count_failure(error);
      return error;
    }
    bump(opened ? c.counters.pool_misses : c.counters.pool_hits);
    conn->attach(this);
    ++c.pending;
    holds_pending_ = true;
    conn->connect();
  } else if (conn) {
    bump(c.counters.pool_hits);
    conn->attach(this);
  } else {
    if (c.connections >= c.max_connections || c.pending >= c.max_pending) {
      bump(c.counters.circuit_rejections);
      const Error error = c.error(ErrorKind::kAtLimit);
      count_failure(error);
      return error;
    }
    const int fd = open_stream_socket(ep.address.family());
    if (fd < 0) {
      bump(c.counters.connect_failures);
      const Error error = c.error(ErrorKind::kConnect);
      count_failure(error);
      return error;
    }
    bump(c.counters.pool_misses);
    shard_.reactor().register_fd(fd);
    conn = new UpstreamConn(shard_, c, ep, fd);
    conn->attach(this);
    ++c.pending;
    holds_pending_ = true;
    conn->connect();
  }
  if (tries_ < kMaxTries) {
    tried_[tries_] = static_cast<uint16_t>(index);
  }
  ++tries_;
  up_ = conn;
  endpoint_ = &ep;
  ++ep.in_flight;
  enter(State::kTrying);
  req_sent_ = 0;
  up_->parser().set_head_request(head_request_);
  arm_try_timer();
  return {};
}

void ProxyCall::arm_try_timer() {
  const uint64_t now = shard_.now_ms();
  const Duration per_try =
      action_->try_timeout.count() > 0 ? action_->try_timeout : action_->timeout;
  try_deadline_ms_ = std::min(deadline_ms_, now + static_cast<uint64_t>(per_try.count()));
  shard_.timers().arm(*this, try_deadline_ms_);
}

void ProxyCall::on_connected() {
  if (holds_pending_) {
    --cluster_->pending;
    holds_pending_ = false;
  }
}

// --- the request, from the client --------------------------------------------------------------

size_t ProxyCall::request_room() const {
  const size_t cap = shard_.request_block_size();
  const size_t used = req_len_ + kFramingSlack;
  return used + kMinRoom > cap ? 0 : cap - used;
}

void ProxyCall::put_request(const char* data, size_t n) {
  std::memcpy(req_ + req_len_, data, n);
  req_len_ += static_cast<uint32_t>(n);
}

void ProxyCall::on_body(std::string_view data) {
  if (request_framing_ == BodyFraming::kChunked) {
    char line[24];
    put_request(line, write_chunk_size_line(line, data.size()));
    put_request(data.data(), data.size());
    put_request("\r\n", 2);
  } else {
    put_request(data.data(), data.size());
  }
}

void ProxyCall::on_request_complete(bool keep_alive) {
  request_complete_ = true;
  client_.request_complete(keep_alive);
  if (request_framing_ == BodyFraming::kChunked) {
    put_request("0\r\n\r\n", 5);
  }
}

void ProxyCall::flush_request() {
  if (up_) {
    up_->flush();
  }
}

void ProxyCall::on_request_sent(size_t n) {
  if (state_ == State::kTrying) {
    enter(State::kSent);
  }
  req_sent_ += static_cast<uint32_t>(n);
  if (req_sent_ < req_len_) {
    up_->flush();
    return;
  }
  if (tunnelling()) {
    req_len_ = req_sent_ = 0;
    arm_tunnel_timer();
    if (state_ == State::kTunnelHalfClosed) {
      end_tunnel();  // everything the client sent before closing has reached the upstream
      return;
    }
    downstream_->request_room();
  } else if (!request_complete_) {
    // Everything buffered is upstream: reuse the buffer for the rest of the body. From here a
    // retry cannot replay the request.
    replayable_ = false;
    req_len_ = req_sent_ = 0;
    downstream_->request_room();
  }
}

void ProxyCall::on_tunnel_input(const char* data, size_t n) {
  put_request(data, n);
}

void ProxyCall::on_client_eof() {
  enter(State::kTunnelHalfClosed);
  if (request_pending() == 0) {
    end_tunnel();
  }
}

// --- the response, from the upstream -----------------------------------------------------------

bool ProxyCall::on_response_head() {
  if (state_ == State::kTrying) {
    enter(State::kSent);  // a response answers what was sent, whatever order completions came in
  }
  ResponseParser& p = up_->parser();
  const int status = p.status();
  if (status == 101) {
    return switch_protocols();
  }
  if (status >= 100 && status < 200) {
    enter(State::kInterim);  // 100 Continue and friends: the client got ours already
    return true;
  }
  last_status_ = status;
  if (x_) {
    x_->timings.upstream_head_us = shard_.now_us();
    x_->log.upstream_status = static_cast<uint16_t>(status);
  }
  if ((status == 502 || status == 503 || status == 504) && can_retry(false, /*sent=*/true)) {
    // The upstream says it (or what is behind it) failed: try another endpoint rather than pass
    // the failure on. The response is not wanted; its connection goes.
    count_response(status);
    UpstreamConn* u = up_;
    u->close();
    Error error = cluster_->error(ErrorKind::kUpstreamStatus);
    error.status = static_cast<uint16_t>(status);
    on_upstream_failure(error);
    return false;
  }
  if (!sink_->on_head(p)) {
    return reject_response();
  }
  enter(State::kResponding);
  count_response(status);
  if (p.has_body()) {
    p.set_body_sink(sink_);
  }
  window_end_ms_ = 0;  // min_rate windows start at this head (not an earlier try's)
  arm_transfer_timer();
  return true;
}

void ProxyCall::on_response_complete() {
  if (state_ == State::kInterim) {
    enter(State::kSent);
    return;
  }
  if (up_ && !up_->parser().trailers().empty()) {
    sink_->on_trailers(up_->parser().trailers());  // before the connection goes back
  }
  finish();  // the sink writes what ends the response and sends it
}

bool ProxyCall::reject_response() {
  bump(cluster_->counters.bad_responses);
  UpstreamConn* u = up_;
  u->close();
  on_upstream_failure(cluster_->error(ErrorKind::kBadResponse));
  return false;
}

bool ProxyCall::switch_protocols() {
  if (!upgrade_ || !request_complete_ || sink_ != &client_) {
    // A switch nobody asked for: the upstream is out of step.
    return reject_response();
  }
  last_status_ = 101;
  if (!client_.on_switch(up_->parser())) {
    return reject_response();
  }
  enter(State::kTunnel);
  count_response(101);
  record_latency();  // the time to the switch; the tunnel's life is not a latency
  circuit_record(*cluster_, true, &holds_probe_, shard_.now_ms());
  outlier_note(*cluster_, *endpoint_, false, false, shard_.now_ms());
  req_len_ = req_sent_ = 0;
  replayable_ = false;
  arm_tunnel_timer();
  client_.begin_tunnel();
  return true;
}

void ProxyCall::arm_transfer_timer() {
  // From the head on the route's timeout still bounds the whole exchange; a stream's bounds
  // each stall instead, re-armed whenever the client took what was sent. min_rate checks the
  // bytes of each window on the same timer.
  const uint64_t now = shard_.now_ms();
  if (action_->stream) {
    transfer_deadline_ms_ = now + static_cast<uint64_t>(action_->timeout.count());
  } else {
    transfer_deadline_ms_ = deadline_ms_;
  }
  if (action_->min_rate_bytes != 0 && window_end_ms_ == 0) {
    window_end_ms_ = now + static_cast<uint64_t>(action_->min_rate_window.count());
    window_start_bytes_ = received_;
  }
  const uint64_t at =
      window_end_ms_ != 0 ? std::min(transfer_deadline_ms_, window_end_ms_) : transfer_deadline_ms_;
  shard_.timers().arm(*this, at);
}

bool ProxyCall::slow_window_passed() {
  // At a window's end: enough bytes came in it, and the next window begins.
  if (window_end_ms_ == 0 || shard_.now_ms() < window_end_ms_ ||
      shard_.now_ms() >= transfer_deadline_ms_) {
    return false;
  }
  if (received_ - window_start_bytes_ < action_->min_rate_bytes) {
    return false;
  }
  window_end_ms_ = shard_.now_ms() + static_cast<uint64_t>(action_->min_rate_window.count());
  window_start_bytes_ = received_;
  shard_.timers().arm(*this, std::min(transfer_deadline_ms_, window_end_ms_));
  return true;
}

void ProxyCall::arm_tunnel_timer() {
  // An idle tunnel is closed after the server's idle timeout; traffic either way re-arms it.
  shard_.timers().arm(
      *this,
      shard_.now_ms() + static_cast<uint64_t>(shard_.config().server.limits.idle_timeout.count()));
}

void ProxyCall::on_upstream_eof() {
  // What the upstream sent is in the client's output: it goes out, then the client is closed.
  end_tunnel();
}

void ProxyCall::end_tunnel() {
  flush_response();
  detach_upstream(false);
  ResponseSink* sink = sink_;
  end_call(false);
  sink->on_complete(101);
}

bool ProxyCall::on_client_drained() {
  if (!up_) {
    return true;
  }
  if (tunnelling()) {
    arm_tunnel_timer();
  } else if (state_ == State::kResponding && action_->stream) {
    arm_transfer_timer();  // progress: a stream's stall bound starts again
  }
  up_->resume();
  return true;
}

// --- outcomes ----------------------------------------------------------------------------------

void ProxyCall::record_latency() {
  cluster_->counters.latency.record(shard_.now_us() - start_us_);
}

void ProxyCall::count_response(int status) {
  ClusterCounters& c = cluster_->counters;
  switch (status / 100) {
    case 1:
      bump(c.responses_1xx);
      break;
    case 2:
      bump(c.responses_2xx);
      break;
    case 3:
      bump(c.responses_3xx);
      break;
    case 4:
      bump(c.responses_4xx);
      break;
    default:
      bump(c.responses_5xx);
      if (endpoint_) {
        bump(endpoint_->counters->responses_5xx);
      }
      break;
  }
}

void ProxyCall::detach_upstream(bool reusable) {
  if (holds_pending_) {
    --cluster_->pending;
    holds_pending_ = false;
  }
  if (endpoint_) {
    --endpoint_->in_flight;
    endpoint_ = nullptr;
  }
  if (up_) {
    UpstreamConn* u = up_;
    up_ = nullptr;
    if (!u->closed()) {
      u->release(reusable);
    }
  }
}

void ProxyCall::finish() {
  const bool reusable = request_complete_ && req_sent_ == req_len_;
  if (endpoint_) {
    outlier_note(*cluster_, *endpoint_, false, last_status_ >= 500, shard_.now_ms());
  }
  circuit_record(*cluster_, last_status_ < 500, &holds_probe_, shard_.now_ms());
  detach_upstream(reusable);
  ResponseSink* sink = sink_;
  const int status = last_status_;
  end_call(true);
  sink->on_complete(status);
}

bool ProxyCall::can_retry(bool connect_failed, bool sent, bool redispatch) const {
  if (tries_ > action_->retries || !replayable_) {
    return false;
  }
  if (!idempotent_ && sent && !connect_failed) {
    return false;  // the upstream may have acted on it
  }
  if (shard_.now_ms() >= deadline_ms_) {
    return false;
  }
  return redispatch || retry_budget_allows(*cluster_);
}

void ProxyCall::on_upstream_failure(const Error& error) {
  // The connection has closed itself (or is being closed by our caller).
  up_ = nullptr;
  const bool connect_failed = error.before_connection();
  const bool sent = state_ != State::kTrying;
  const bool redispatch = (error.kind == ErrorKind::kConnect || error.kind == ErrorKind::kReset) &&
                          (state_ == State::kTrying || state_ == State::kSent);
  if (endpoint_ && !connect_failed) {
    bump(endpoint_->counters->failures);
  }
  if (endpoint_) {
    outlier_note(*cluster_, *endpoint_, connect_failed, !connect_failed, shard_.now_ms());
  }
  detach_upstream(false);
  if (state_ == State::kResponding && !sink_->retract()) {
    // Part of the response went out: it cannot be answered any other way now.
    circuit_record(*cluster_, false, &holds_probe_, shard_.now_ms());
    ResponseSink* sink = sink_;
    end_call(false);
    sink->on_failed(error);  // cut or stalled after its head
    return;
  }
  if (!can_retry(connect_failed, sent, redispatch)) {
    circuit_record(*cluster_, false, &holds_probe_, shard_.now_ms());
    count_failure(error);
    fail_request(error);
    return;
  }
  bump(cluster_->counters.retries);
  if (!holds_retry_) {
    holds_retry_ = true;
    ++cluster_->retries;
  }
  const Error again = try_once();
  if (again) {
    circuit_record(*cluster_, false, &holds_probe_, shard_.now_ms());
    fail_request(again);
    return;
  }
  if (!retarget_host()) {
    detach_upstream(false);
    circuit_record(*cluster_, false, &holds_probe_, shard_.now_ms());
    Error too_long = cluster_->error(ErrorKind::kInternal);
    too_long.detail = kHeadOutgrown;
    count_failure(too_long);
    fail_request(too_long);
    return;
  }
  flush_request();
}

void ProxyCall::fail_request(const Error& error) {
  ResponseSink* sink = sink_;
  end_call(true);
  sink->on_failed(error);
}

void ProxyCall::end_call(bool record) {
  --cluster_->requests;
  if (record) {
    record_latency();
  }
  clear();
  shard_.release_call(this);  // nothing of the call may be touched after this
}

void ProxyCall::on_client_gone() {
  // A response that was not complete leaves the upstream connection out of step: close it.
  detach_upstream(false);
  end_call(false);
}

void ProxyCall::give_back_request_block() {
  if (req_) {
    shard_.release_request_block(req_);
    req_ = nullptr;
  }
}

void ProxyCall::clear() {
  shard_.timers().disarm(*this);
  // Ended without an outcome (refused by a limit, client gone): let another request probe.
  circuit_release_probe(*cluster_, &holds_probe_);
  if (holds_retry_) {
    --cluster_->retries;
    holds_retry_ = false;
  }
  enter(State::kIdle);
  x_ = nullptr;
  downstream_ = nullptr;
  sink_ = nullptr;
  up_ = nullptr;
  endpoint_ = nullptr;
  req_len_ = req_sent_ = 0;
  tries_ = 0;
  replayable_ = true;
  request_complete_ = false;
  upgrade_ = false;
  key_hash_ = 0;
  host_off_ = host_len_ = 0;
  last_status_ = 0;
  transfer_deadline_ms_ = window_end_ms_ = window_start_bytes_ = received_ = 0;
}

void ProxyCall::on_timer(Timer* t) {
  auto* call = static_cast<ProxyCall*>(t);
  if (call->tunnelling()) {
    call->end_tunnel();  // idle
    return;
  }
  Error error = call->cluster_->error(ErrorKind::kTimeout);
  if (call->state_ == State::kResponding && call->window_end_ms_ != 0 &&
      call->shard_.now_ms() >= call->window_end_ms_ &&
      call->shard_.now_ms() < call->transfer_deadline_ms_) {
    if (call->slow_window_passed()) {
      return;
    }
    bump(call->cluster_->counters.slow_responses);
    error.detail = "sent its response slower than the route's min_rate";
  } else {
    bump(call->cluster_->counters.timeouts);
  }
  UpstreamConn* u = call->up_;
  if (u) {
    u->close();  // a late response must not land on the next request
  }
  call->on_upstream_failure(error);
}

}  // namespace ringgate
