#include "ringgate/upstream/call.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "pool.h"
#include "ringgate/http/error_reply.h"
#include "ringgate/net/socket.h"
#include "ringgate/upstream/upstream_shard.h"

namespace ringgate {

namespace {

// Room kept for chunk framing around the pieces of one feed: a chunk-size line and CRLF at each
// end of what was fed, beyond what the input itself carried.
constexpr size_t kFramingSlack = 64;
// Less room than this is treated as none: wait for the output to drain.
constexpr size_t kMinRoom = 256;
constexpr uint8_t kMaxTries = 8;
constexpr std::string_view kHeadOutgrown =
    "could not be called: the rewritten request head does not fit a request buffer";

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

// "<hex>\r\n" into out; returns its length.
size_t chunk_header(char* out, size_t n) {
  static const char kHex[] = "0123456789abcdef";
  char tmp[16];
  size_t k = 0;
  do {
    tmp[k++] = kHex[n & 15];
    n >>= 4;
  } while (n);
  for (size_t i = 0; i < k; ++i) {
    out[i] = tmp[k - 1 - i];
  }
  out[k] = '\r';
  out[k + 1] = '\n';
  return k + 2;
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
    : Timer(&ProxyCall::on_timer), shard_(shard), response_sink_(*this) {}

ProxyCall::~ProxyCall() {
  if (req_) {
    shard_.release_request_block(req_);
  }
}

Error ProxyCall::start(Exchange& x, Downstream& client, const RouteConfig& route,
                       const UpstreamAction& action, UpstreamCluster& cluster) {
  x_ = &x;
  client_ = &client;
  route_ = &route;
  action_ = &action;
  cluster_ = &cluster;
  start_us_ = shard_.now_us();
  const RequestParser& p = x.request();
  head_request_ = p.method() == HTTP_HEAD;
  idempotent_ = idempotent(p.method());
  client_minor_ = p.http_minor();
  client_keep_alive_ = p.keep_alive();
  upgrade_ = p.upgrade() && p.method() != HTTP_CONNECT && p.http_minor() >= 1 && !p.has_body();
  request_framing_ = p.chunked()                                        ? BodyFraming::kChunked
                     : p.has_content_length() && p.content_length() > 0 ? BodyFraming::kLength
                                                                        : BodyFraming::kNone;
  bump(cluster.counters.requests);
  if (!circuit_admits()) {
    return refuse(ErrorKind::kCircuitOpen);
  }
  if (cluster.requests >= cluster.max_requests) {
    return refuse(ErrorKind::kAtLimit);
  }
  const uint64_t now = shard_.now_ms();
  deadline_ms_ = now + static_cast<uint64_t>(action.timeout.count());
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
    req_ = shard_.acquire_request_block();  // kept with the pooled call afterwards
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

Error ProxyCall::start_backend(BackendSink& sink, const UpstreamAction& action,
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
  if (!circuit_admits()) {
    return refuse(ErrorKind::kCircuitOpen);
  }
  if (cluster.requests >= cluster.max_requests) {
    return refuse(ErrorKind::kAtLimit);
  }
  std::memcpy(req_, request.data(), request.size());
  req_len_ = static_cast<uint32_t>(request.size());
  request_complete_ = true;
  deadline_ms_ = shard_.now_ms() + static_cast<uint64_t>(action.timeout.count());
  ++cluster.requests;
  const Error error = try_once();
  if (error) {
    --cluster.requests;
    clear();
    return error;
  }
  flush_request();  // a pooled connection sends at once; a new one when it connects
  return {};
}

bool ProxyCall::build_head() {
  const RequestParser& p = x_->request();
  const size_t cap = shard_.request_block_size();
  // The target is composed at the end of the block, the head written from its start.
  std::string_view path = p.path();
  const std::string_view query = p.query();
  std::string_view prefix;  // what replaces the matched part
  std::string_view rest = path;
  if (!action_->strip_prefix.empty()) {
    const std::string& sp = action_->strip_prefix;
    if (path.substr(0, sp.size()) == sp &&
        (path.size() == sp.size() || path[sp.size()] == '/' || sp.back() == '/')) {
      rest = path.substr(sp.size());
    }
  } else if (!action_->rewrite.empty()) {
    prefix = action_->rewrite;
    if (route_->match.kind == RouteMatch::Kind::kPrefix) {
      std::string_view matched = route_->match.path;
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
  const size_t target_len =
      prefix.size() + rest.size() + (query.empty() ? 0 : query.size() + 1) + 1;
  if (target_len + 1024 > cap) {
    return false;
  }
  char* target = req_ + cap - target_len;
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
  ForwardRequest f;
  f.target = std::string_view(target, t);
  switch (action_->host) {
    case UpstreamAction::HostPolicy::kPreserve:
      break;
    case UpstreamAction::HostPolicy::kEndpoint:
      f.host = endpoint_->authority;  // a retry to another endpoint rewrites it (retarget_host)
      break;
    case UpstreamAction::HostPolicy::kFixed:
      f.host = action_->host_value;
      break;
  }
  f.client_ip = x_->peer_ip();
  f.trusted_hops = shard_.config().server.trusted_hops;
  char id[RequestIdGenerator::kLength];
  shard_.request_ids().next(id);
  f.request_id = std::string_view(id, sizeof id);
  f.framing = request_framing_;
  f.upgrade = upgrade_;
  // What the request's authentication found.
  f.drop = x_->identity.drop_headers;
  f.extra = x_->identity.add_headers;
  const size_t n = write_forward_request_head(p, f, req_, cap - target_len);
  if (n == 0) {
    return false;
  }
  req_len_ = static_cast<uint32_t>(n);
  req_sent_ = 0;
  host_off_ = host_len_ = 0;
  if (action_->host == UpstreamAction::HostPolicy::kEndpoint) {
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
  if (conn) {
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
    conn = new UpstreamConn(shard_, c, ep, fd);
    conn->attach(this);
    ++c.pending;
    pending_counted_ = true;
    conn->connect();
  }
  if (tries_ < kMaxTries) {
    tried_[tries_] = static_cast<uint16_t>(index);
  }
  ++tries_;
  up_ = conn;
  endpoint_ = &ep;
  ++ep.in_flight;
  try_sent_ = false;
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
  if (pending_counted_) {
    --cluster_->pending;
    pending_counted_ = false;
  }
}

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
    put_request(line, chunk_header(line, data.size()));
    put_request(data.data(), data.size());
    put_request("\r\n", 2);
  } else {
    put_request(data.data(), data.size());
  }
}

void ProxyCall::on_request_complete(bool keep_alive) {
  request_complete_ = true;
  client_keep_alive_ = keep_alive;
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
  try_sent_ = true;
  req_sent_ += static_cast<uint32_t>(n);
  if (req_sent_ < req_len_) {
    up_->flush();
    return;
  }
  if (tunnel_) {
    req_len_ = req_sent_ = 0;
    arm_tunnel_timer();
    if (client_eof_) {
      end_tunnel();  // everything the client sent before closing has reached the upstream
      return;
    }
    client_->request_room();
  } else if (!request_complete_) {
    // Everything buffered is upstream: reuse the buffer for the rest of the body. From here a
    // retry cannot replay the request.
    replayable_ = false;
    req_len_ = req_sent_ = 0;
    client_->request_room();
  }
}

size_t ProxyCall::response_room() const {
  if (sink_) {
    return SIZE_MAX;  // the sink bounds what it keeps
  }
  if (!head_sent_) {
    // The head is written into an empty output, so it always fits the block.
    return client_->out_pending() ? 0 : SIZE_MAX;
  }
  size_t avail = 0;
  client_->out_space(avail);
  return avail < kFramingSlack + kMinRoom ? 0 : avail - kFramingSlack;
}

bool ProxyCall::on_response_head() {
  ResponseParser& p = up_->parser();
  const int status = p.status();
  if (status >= 100 && status < 200) {
    if (status == 101) {
      return start_tunnel();
    }
    informational_ = true;  // 100 Continue and friends: the client got ours already
    return true;
  }
  last_status_ = status;
  if (x_) {
    x_->timings.upstream_head_us = shard_.now_us();
  }
  if ((status == 502 || status == 503 || status == 504) && can_retry(false)) {
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
  if (sink_) {
    if (!sink_->backend_head(p)) {
      return reject_response();
    }
    head_sent_ = head_flushed_ = true;
    count_response(status);
    if (p.has_body()) {
      p.set_body_sink(&response_sink_);
    }
    shard_.timers().arm(*this, shard_.now_ms() + static_cast<uint64_t>(action_->timeout.count()));
    return true;
  }
  if (!p.has_body()) {
    response_framing_ = BodyFraming::kNone;
  } else if (p.has_content_length()) {
    response_framing_ = BodyFraming::kLength;
  } else if (client_minor_ >= 1) {
    response_framing_ = BodyFraming::kChunked;
  } else {
    response_framing_ = BodyFraming::kUntilClose;
  }
  const bool keep_alive = client_keep_alive_ && request_complete_ && !shard_.draining() &&
                          !client_->closing() && response_framing_ != BodyFraming::kUntilClose;
  client_keep_alive_ = keep_alive;
  ForwardResponse f;
  f.keep_alive = keep_alive;
  f.client_minor = client_minor_;
  f.framing = response_framing_;
  if (!write_client_head(p, f)) {
    return reject_response();
  }
  head_sent_ = true;
  count_response(status);
  if (p.has_body()) {
    p.set_body_sink(&response_sink_);
  }
  // From here the timeout bounds a stalled transfer, re-armed on progress.
  shard_.timers().arm(*this, shard_.now_ms() + static_cast<uint64_t>(action_->timeout.count()));
  return true;
}

void ProxyCall::on_response_body(std::string_view data) {
  if (sink_) {
    sink_->backend_body(data);
    return;
  }
  size_t avail = 0;
  char* out = client_->out_space(avail);
  if (response_framing_ == BodyFraming::kChunked) {
    if (data.empty()) {
      return;
    }
    size_t n = chunk_header(out, data.size());
    std::memcpy(out + n, data.data(), data.size());
    n += data.size();
    out[n++] = '\r';
    out[n++] = '\n';
    client_->out_commit(n);
  } else {
    std::memcpy(out, data.data(), data.size());
    client_->out_commit(data.size());
  }
}

void ProxyCall::on_response_complete() {
  if (informational_) {
    informational_ = false;
    return;
  }
  if (response_framing_ == BodyFraming::kChunked && !sink_) {
    size_t avail = 0;
    char* out = client_->out_space(avail);
    std::memcpy(out, "0\r\n\r\n", 5);
    client_->out_commit(5);
  }
  response_complete_ = true;
  flush_response();
  finish();
}

bool ProxyCall::reject_response() {
  bump(cluster_->counters.bad_responses);
  UpstreamConn* u = up_;
  u->close();
  on_upstream_failure(cluster_->error(ErrorKind::kBadResponse));
  return false;
}

bool ProxyCall::write_client_head(const ResponseParser& p, ForwardResponse& f) {
  // The response phase: what the route's filters add to the head and drop from it.
  const ResponseHead& edits = client_->response_head(p.status());
  f.extra = edits.added();
  f.drop = edits.drops();
  f.drop_count = edits.drop_count();
  size_t avail = 0;
  char* out = client_->out_space(avail);
  const size_t n = out ? write_forward_response_head(p, f, out, avail) : 0;
  if (n == 0) {
    return false;
  }
  client_->out_commit(n);
  return true;
}

bool ProxyCall::start_tunnel() {
  ResponseParser& p = up_->parser();
  if (!upgrade_ || !request_complete_) {
    // A switch nobody asked for: the upstream is out of step.
    return reject_response();
  }
  last_status_ = 101;
  response_framing_ = BodyFraming::kUntilClose;  // raw bytes from here, both ways
  ForwardResponse f;
  f.keep_alive = false;
  f.upgrade = true;
  f.client_minor = client_minor_;
  f.framing = BodyFraming::kNone;
  if (!write_client_head(p, f)) {
    return reject_response();
  }
  head_sent_ = true;
  tunnel_ = true;
  client_keep_alive_ = false;
  count_response(101);
  record_latency();  // the time to the switch; the tunnel's life is not a latency
  record_outcome(true);
  note_endpoint(false, false);
  req_len_ = req_sent_ = 0;
  replayable_ = false;
  arm_tunnel_timer();
  client_->tunnel();
  return true;
}

void ProxyCall::arm_tunnel_timer() {
  // An idle tunnel is closed after the server's idle timeout; traffic either way re-arms it.
  shard_.timers().arm(
      *this,
      shard_.now_ms() + static_cast<uint64_t>(shard_.config().server.limits.idle_timeout.count()));
}

void ProxyCall::on_tunnel_input(const char* data, size_t n) {
  put_request(data, n);
}

void ProxyCall::on_client_eof() {
  client_eof_ = true;
  if (request_pending() == 0) {
    end_tunnel();
  }
}

void ProxyCall::on_upstream_eof() {
  // What the upstream sent is in the client's output: it goes out, then the client is closed.
  end_tunnel();
}

void ProxyCall::end_tunnel() {
  flush_response();
  detach_upstream(false);
  Downstream* client = client_;
  end_call(false);
  client->response_done(false);
}

void ProxyCall::flush_response() {
  if (head_sent_ && !sink_) {
    if (!head_flushed_) {
      // Until now a failure could still take the head back and answer 502 instead.
      head_flushed_ = true;
      client_->count_status(last_status_);
    }
    client_->out_flush();
  }
}

bool ProxyCall::on_client_drained() {
  if (!up_) {
    return true;
  }
  if (tunnel_) {
    arm_tunnel_timer();
  } else if (head_sent_) {
    shard_.timers().arm(*this, shard_.now_ms() + static_cast<uint64_t>(action_->timeout.count()));
  }
  up_->resume();
  return true;
}

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
  if (pending_counted_) {
    --cluster_->pending;
    pending_counted_ = false;
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

bool ProxyCall::circuit_admits() {
  const CircuitConfig& cfg = cluster_->config->circuit;
  if (cfg.consecutive_failures == 0) {
    return true;
  }
  SharedCluster& shared = *cluster_->shared;
  const uint64_t open_until = shared.open_until_ms.load(std::memory_order_relaxed);
  if (open_until == 0) {
    return true;
  }
  if (shard_.now_ms() < open_until) {
    return false;
  }
  // Half-open: one request (from any shard) probes; the others are refused until it is done.
  bool expected = false;
  if (!shared.half_open_probe.compare_exchange_strong(expected, true, std::memory_order_acq_rel)) {
    return false;
  }
  probe_ = true;
  return true;
}

void ProxyCall::record_outcome(bool success) {
  const CircuitConfig& cfg = cluster_->config->circuit;
  if (cfg.consecutive_failures == 0) {
    return;
  }
  SharedCluster& shared = *cluster_->shared;
  if (success) {
    if (shared.consecutive_failures.load(std::memory_order_relaxed) != 0) {
      shared.consecutive_failures.store(0, std::memory_order_relaxed);
    }
    if (probe_) {
      shared.open_until_ms.store(0, std::memory_order_relaxed);
      shared.half_open_probe.store(false, std::memory_order_release);
      probe_ = false;
    }
    return;
  }
  const uint32_t n = shared.consecutive_failures.fetch_add(1, std::memory_order_relaxed) + 1;
  const uint64_t reopen = shard_.now_ms() + static_cast<uint64_t>(cfg.open_for.count());
  if (probe_) {
    shared.open_until_ms.store(reopen, std::memory_order_relaxed);
    shared.half_open_probe.store(false, std::memory_order_release);
    shared.circuit_opened.fetch_add(1, std::memory_order_relaxed);
    probe_ = false;
  } else if (n >= cfg.consecutive_failures) {
    uint64_t closed = 0;
    if (shared.open_until_ms.compare_exchange_strong(closed, reopen, std::memory_order_relaxed)) {
      shared.circuit_opened.fetch_add(1, std::memory_order_relaxed);
    }
  }
}

void ProxyCall::note_endpoint(bool connect_failed, bool server_error) {
  if (!endpoint_) {
    return;
  }
  UpstreamEndpoint& ep = *endpoint_;
  const OutlierConfig& cfg = cluster_->config->outlier;
  bool eject = false;
  if (connect_failed) {
    eject = cfg.consecutive_connect_failures > 0 &&
            ++ep.consecutive_connect_failures >= cfg.consecutive_connect_failures;
  } else {
    ep.consecutive_connect_failures = 0;
    if (server_error) {
      eject = cfg.consecutive_5xx > 0 && ++ep.consecutive_5xx >= cfg.consecutive_5xx;
    } else {
      ep.consecutive_5xx = 0;
    }
  }
  if (!eject) {
    return;
  }
  ep.consecutive_5xx = ep.consecutive_connect_failures = 0;
  // Never take out more than max_ejection_percent of the endpoints.
  const uint64_t now = shard_.now_ms();
  size_t ejected = 0;
  for (const UpstreamEndpoint& e : cluster_->endpoints) {
    ejected += e.shared->ejected_until_ms.load(std::memory_order_relaxed) > now;
  }
  if ((ejected + 1) * 100 > size_t{cfg.max_ejection_percent} * cluster_->endpoints.size()) {
    return;
  }
  SharedEndpoint& shared = *ep.shared;
  const uint32_t times = shared.ejections.fetch_add(1, std::memory_order_relaxed) + 1;
  const uint64_t base = static_cast<uint64_t>(cfg.base_ejection.count());
  const uint64_t duration = std::min(base * times, static_cast<uint64_t>(cfg.max_ejection.count()));
  shared.ejected_until_ms.store(now + duration, std::memory_order_relaxed);
  bump(cluster_->counters.ejections);
}

void ProxyCall::finish() {
  const bool reusable = request_complete_ && req_sent_ == req_len_;
  note_endpoint(false, last_status_ >= 500);
  record_outcome(last_status_ < 500);
  detach_upstream(reusable);
  Downstream* client = client_;
  BackendSink* sink = sink_;
  const int status = last_status_;
  const bool keep_alive = client_keep_alive_;
  end_call(true);
  if (sink) {
    sink->backend_done(status);
  } else {
    client->response_done(keep_alive);
  }
}

bool ProxyCall::can_retry(bool connect_failed) const {
  if (tries_ > action_->retries || !replayable_ || head_sent_) {
    return false;
  }
  if (!idempotent_ && try_sent_ && !connect_failed) {
    return false;  // the upstream may have acted on it
  }
  if (shard_.now_ms() >= deadline_ms_) {
    return false;
  }
  const UpstreamCluster& c = *cluster_;
  const RetryBudgetConfig& b = c.config->retry_budget;
  const uint32_t allowed = std::max(b.min_concurrent, c.requests * b.percent / 100);
  return c.retries < allowed;
}

void ProxyCall::on_upstream_failure(const Error& error) {
  // The connection has closed itself (or is being closed by our caller).
  up_ = nullptr;
  const bool connect_failed = error.before_connection();
  if (endpoint_ && !connect_failed) {
    bump(endpoint_->counters->failures);
  }
  note_endpoint(connect_failed, !connect_failed);
  detach_upstream(false);
  if (head_sent_ && !head_flushed_) {
    // The head (and perhaps some body) is still in the output: take it back, so the client gets
    // a clean 502 or a retried response instead of a cut one.
    client_->out_discard();
    head_sent_ = false;
    response_framing_ = BodyFraming::kLength;
  }
  if (head_sent_) {
    record_outcome(false);
    Downstream* client = client_;
    BackendSink* sink = sink_;
    end_call(false);
    if (sink) {
      sink->backend_failed(error);  // cut or stalled after its head
    } else {
      client->response_cut();
    }
    return;
  }
  if (!can_retry(connect_failed)) {
    record_outcome(false);
    count_failure(error);
    fail_request(error);
    return;
  }
  bump(cluster_->counters.retries);
  if (!counted_retry_) {
    counted_retry_ = true;
    ++cluster_->retries;
  }
  const Error again = try_once();
  if (again) {
    record_outcome(false);
    fail_request(again);
    return;
  }
  if (!retarget_host()) {
    detach_upstream(false);
    record_outcome(false);
    Error too_long = cluster_->error(ErrorKind::kInternal);
    too_long.detail = kHeadOutgrown;
    count_failure(too_long);
    fail_request(too_long);
    return;
  }
  flush_request();
}

void ProxyCall::fail_request(const Error& error) {
  Downstream* client = client_;
  BackendSink* sink = sink_;
  const bool keep_alive = client_keep_alive_;
  end_call(true);
  if (sink) {
    sink->backend_failed(error);
  } else {
    client->response_failed(error, keep_alive);
  }
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

void ProxyCall::clear() {
  shard_.timers().disarm(*this);
  if (probe_) {
    // Ended without an outcome (refused by a limit, client gone): let another request probe.
    cluster_->shared->half_open_probe.store(false, std::memory_order_release);
    probe_ = false;
  }
  if (counted_retry_) {
    --cluster_->retries;
    counted_retry_ = false;
  }
  x_ = nullptr;
  client_ = nullptr;
  sink_ = nullptr;
  up_ = nullptr;
  endpoint_ = nullptr;
  req_len_ = req_sent_ = 0;
  tries_ = 0;
  replayable_ = true;
  request_complete_ = false;
  head_sent_ = false;
  head_flushed_ = false;
  upgrade_ = tunnel_ = client_eof_ = false;
  informational_ = false;
  response_complete_ = false;
  try_sent_ = false;
  key_hash_ = 0;
  host_off_ = host_len_ = 0;
  last_status_ = 0;
}

void ProxyCall::on_timer(Timer* t) {
  auto* call = static_cast<ProxyCall*>(t);
  if (call->tunnel_) {
    call->end_tunnel();  // idle
    return;
  }
  bump(call->cluster_->counters.timeouts);
  UpstreamConn* u = call->up_;
  if (u) {
    u->close();  // a late response must not land on the next request
  }
  call->on_upstream_failure(call->cluster_->error(ErrorKind::kTimeout));
}

}  // namespace ringgate
