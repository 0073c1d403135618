#include "call.h"

#include <strings.h>

#include <algorithm>
#include <charconv>
#include <cstring>

#include "aggregate/text.h"
#include "ringgate/aggregate/aggregate_shard.h"
#include "ringgate/core/append.h"
#include "ringgate/core/method.h"
#include "ringgate/http/access_log.h"
#include "ringgate/http/error_reply.h"
#include "ringgate/http/forward.h"
#include "ringgate/http/http_shard.h"
#include "ringgate/http/response.h"
#include "ringgate/http/trace.h"
#include "ringgate/upstream/upstream_shard.h"

namespace ringgate {

using namespace std::string_view_literals;

namespace {

bool idempotent_method(std::string_view m) {
  return m == "GET" || m == "PUT" || m == "DELETE" || m == "OPTIONS";
}

bool compile_all(const std::vector<AggregateParam>& params, const AggregateAction& action,
                 std::vector<aggregate::CompiledTemplate>& out, std::string* why) {
  out.resize(params.size());
  for (size_t i = 0; i < params.size(); ++i) {
    if (!aggregate::CompiledTemplate::compile(params[i].value, action, &out[i], why)) {
      return false;
    }
  }
  return true;
}

json::ProjectionSpec spec_of(const AggregateProjection& p) {
  json::ProjectionSpec spec;
  if (p.pick) {
    spec.pick = p.pick->text;
  }
  for (const JsonPath& a : p.allow) {
    spec.allow.push_back(a.text);
  }
  for (const JsonPath& d : p.deny) {
    spec.deny.push_back(d.text);
  }
  for (const MemberRename& r : p.rename) {
    spec.rename.emplace_back(r.from, r.to);
  }
  return spec;
}

}  // namespace

bool build_aggregate_route(const RouteConfig& route, const AggregateAction& action,
                           const std::vector<std::unique_ptr<UpstreamCluster>>& clusters,
                           AggregateRoute* out, std::string* why) {
  out->route = &route;
  out->action = &action;
  out->limits.max_depth = action.limits.depth;
  out->limits.max_array_elements = action.limits.elements;
  out->backends.resize(action.backends.size());
  for (size_t i = 0; i < action.backends.size(); ++i) {
    const AggregateBackend& cfg = action.backends[i];
    AggregateRoute::Backend& b = out->backends[i];
    b.config = &cfg;
    json::detail::append_escaped(&b.escaped_key, cfg.key);
    b.cluster = clusters[cfg.cluster_index].get();
    b.upstream.cluster = cfg.cluster;
    b.upstream.cluster_index = cfg.cluster_index;
    b.upstream.timeout = cfg.timeout;
    // The backend's own host:, else its cluster's, else the endpoint's host:port.
    const UpstreamConfig& cluster = *b.cluster->config;
    b.upstream.host_set = true;
    if (cfg.host) {
      b.upstream.host = *cfg.host;
      b.upstream.host_value = cfg.host_value;
    } else if (cluster.host) {
      b.upstream.host = *cluster.host;
      b.upstream.host_value = cluster.host_value;
    } else {
      b.upstream.host = HostPolicy::kEndpoint;
    }
    b.idempotent = idempotent_method(cfg.method);
    b.upstream.retries = b.idempotent ? 1 : 0;
    if (!aggregate::CompiledTemplate::compile(cfg.path, action, &b.path, why) ||
        !compile_all(cfg.query, action, b.query, why) ||
        !compile_all(cfg.headers, action, b.headers, why)) {
      return false;
    }
    if (cfg.body) {
      b.body.emplace();
      if (!aggregate::CompiledTemplate::compile(*cfg.body, action, &*b.body, why)) {
        return false;
      }
    }
    if (!json::Projection::build(spec_of(cfg.projection), &b.projection, why)) {
      return false;
    }
    if (cfg.for_each) {
      std::string text = cfg.for_each->array.text + "[*]";
      if (!cfg.for_each->element.text.empty()) {
        text += "." + cfg.for_each->element.text;
      }
      if (!json::Path::parse(text, &b.for_each, why)) {
        return false;
      }
    }
    // Request headers the templates read, copied at the request head.
    auto note_headers = [out](const AggregateTemplate& t) {
      for (const TemplatePiece& p : t.pieces) {
        if (p.kind == TemplatePiece::Kind::kHeader &&
            std::find(out->header_names.begin(), out->header_names.end(), p.text) ==
                out->header_names.end()) {
          out->header_names.push_back(p.text);
        }
      }
    };
    note_headers(cfg.path);
    for (const AggregateParam& q : cfg.query) {
      note_headers(q.value);
    }
    for (const AggregateParam& h : cfg.headers) {
      note_headers(h.value);
    }
    if (cfg.body) {
      note_headers(*cfg.body);
    }
  }
  if (action.profiles) {
    for (const AggregateProfile& profile : action.profiles->profiles) {
      std::vector<AggregateRoute::ProfileBackend> backends(profile.backends.size());
      for (size_t i = 0; i < profile.backends.size(); ++i) {
        backends[i].skip = profile.backends[i].skip;
        if (!json::Projection::build(spec_of(profile.backends[i].projection),
                                     &backends[i].projection, why)) {
          return false;
        }
      }
      out->profiles.push_back(std::move(backends));
    }
  }
  return true;
}

AggregateCall::AggregateCall(AggregateShard& shard)
    : Timer(&AggregateCall::on_timer), shard_(shard) {}

AggregateCall::~AggregateCall() = default;

void AggregateCall::start(Exchange& x, Downstream& client, const AggregateRoute& route) {
  client_ = &client;
  const RouteMatchResult& match = x.match;
  route_ = &route;
  answered_ = request_complete_ = false;
  keep_alive_ = true;
  running_ = 0;
  const RequestParser& p = x.request();
  params_.resize(static_cast<size_t>(match.param_count));
  for (int i = 0; i < match.param_count; ++i) {
    params_[static_cast<size_t>(i)].assign(match.params[i].value);
  }
  query_.assign(p.query());
  headers_.clear();
  for (const std::string& name : route.header_names) {
    const std::string_view v = p.header(name);
    if (!v.empty()) {
      headers_.emplace_back(name, std::string(v));
    }
  }
  host_.assign(p.header("host"));
  peer_.assign(x.peer_ip());
  x.trace.id();  // drawn before the copy, so that the copy and the request quote one id
  trace_ = x.trace;
  if (trace_.continued) {
    tracestate_.assign(p.header("tracestate"));
  } else {
    tracestate_.clear();
  }
  // What authentication found for this request, kept for the later stages.
  auth_forward_.assign(x.identity.add_headers);
  claims_.resize(x.identity.claim_count);
  for (size_t i = 0; i < x.identity.claim_count; ++i) {
    claims_[i].assign(x.identity.claims[i]);
  }
  const std::string_view id = p.header("x-request-id");
  if (!id.empty() && id.size() <= 200 &&
      std::all_of(id.begin(), id.end(), [](char c) { return c > 0x20 && c < 0x7f; })) {
    request_id_.assign(id);  // one id for the client's request and every backend call
  } else if (trace_is_unique(x.trace)) {
    request_id_.assign(x.trace.id());  // one id for the request and its trace
  } else {
    char generated[RequestIdGenerator::kLength];
    shard_.upstream().request_ids().next(generated);
    request_id_.assign(generated, sizeof generated);
  }
  if (char* kept = static_cast<char*>(x.arena().allocate(request_id_.size(), 1))) {
    std::memcpy(kept, request_id_.data(), request_id_.size());
    x.log.request_id = std::string_view(kept, request_id_.size());  // for the logs
  }
  x_ = &x;
  profile_ = -1;
  if (const auto& profiles = route.action->profiles) {
    const std::string_view chosen = profiles->select == AggregateProfiles::Select::kHeader
                                        ? p.header(profiles->select_name)
                                        : query(profiles->select_name).value_or("");
    for (size_t i = 0; i < profiles->profiles.size(); ++i) {
      if (!chosen.empty() && profiles->profiles[i].name == chosen) {
        profile_ = static_cast<int>(i);
      }
    }
    if (profile_ < 0 && profiles->default_profile) {
      profile_ = static_cast<int>(*profiles->default_profile);
    }
  }
  backends_.resize(route.backends.size());
  for (size_t i = 0; i < backends_.size(); ++i) {
    Backend& b = backends_[i];
    b.call = this;
    b.index = static_cast<uint32_t>(i);
    b.state = profile_ >= 0 && route.profiles[static_cast<size_t>(profile_)][i].skip
                  ? Backend::State::kSkipped
                  : Backend::State::kWaiting;
    b.proxy = nullptr;
    b.error = Error{};
    b.too_big = false;
    b.listed.clear();
    b.elements.clear();
    b.items.clear();
    b.next_item = b.items_done = b.items_out = 0;
    b.body.clear();
    b.accepted = false;
    b.reason.clear();
  }
  refused_ = false;
  const uint64_t now = shard_.upstream().now_ms();
  deadline_ms_ = now + static_cast<uint64_t>(route.action->timeout.count());
  admitted_ = shard_.admit(*this);
  if (!admitted_) {
    // Over the fan-out budget: wait for it, but not past the route's own deadline.
    shard_.upstream().timers().arm(*this, std::min(deadline_ms_, now + shard_.queue_timeout_ms()));
    return;
  }
  shard_.upstream().timers().arm(*this, deadline_ms_);
  settle();
}

void AggregateCall::admitted() {
  admitted_ = true;
  shard_.upstream().timers().arm(*this, deadline_ms_);
  settle();
}

void AggregateCall::refuse() {
  bump(shard_.http().counters().aggregate_shed);
  answered_ = refused_ = true;
  const Error error = Error::gateway(
      ErrorKind::kOverloaded,
      "aggregation is at its budget of backend calls in flight (aggregate.max_calls_in_flight); "
      "try again shortly");
  answer_status_ = error_status(error);
  content_type_ = kProblemContentType;
  error_body(error, out_, trace_.id());
  if (request_complete_) {
    deliver();
  }
}

void AggregateCall::on_request_complete(bool keep_alive) {
  request_complete_ = true;
  keep_alive_ = keep_alive;
  if (answered_) {
    deliver();
  }
}

void AggregateCall::on_client_gone() {
  x_ = nullptr;
  AggregateShard& shard = shard_;
  for (Backend& b : backends_) {
    cancel(b);
  }
  release();
  shard.wake();  // the slots of what was cancelled
}

void AggregateCall::cancel(Backend& b) {
  if (b.proxy) {
    ProxyCall* p = b.proxy;
    b.proxy = nullptr;
    p->cancel();
    shard_.give_slot();
  }
  for (Item& item : b.items) {
    if (item.proxy) {
      ProxyCall* p = item.proxy;
      item.proxy = nullptr;
      p->cancel();
      shard_.give_slot();
      --b.items_out;
    }
  }
}

void AggregateCall::settle() {
  if (answered_) {
    return;
  }
  bool blocked = false;  // out of slots: the rest waits for the budget
  for (bool again = true; again && !blocked;) {
    for (const Backend& b : backends_) {
      if (b.state == Backend::State::kFailed && !route_->backends[b.index].config->optional) {
        answer();  // a required backend failed: nothing can save the response
        return;
      }
    }
    // Launch what is ready, and more elements of running for_each backends. A launch that ends
    // at once (failed, or a for_each over no elements) may make more ready: look again.
    again = false;
    for (Backend& b : backends_) {
      if (b.state == Backend::State::kRunning && route_->backends[b.index].config->for_each) {
        blocked = !fill_items(b);
        again |= b.state != Backend::State::kRunning;
      } else if (b.state == Backend::State::kWaiting) {
        const AggregateBackend& cfg = *route_->backends[b.index].config;
        const bool ready =
            std::all_of(cfg.depends_on.begin(), cfg.depends_on.end(), [&](uint32_t d) {
              return backends_[d].state == Backend::State::kDone ||
                     backends_[d].state == Backend::State::kFailed;
            });
        if (ready) {
          blocked = !launch(b);
          again |= b.state != Backend::State::kRunning;
        }
      }
      if (blocked) {
        break;
      }
    }
  }
  if (blocked) {
    shard_.wait_slot(*this);  // resume() once a slot is free; the deadline still holds
  } else if (running_ == 0) {
    answer();
  }
}

bool AggregateCall::render_request(const AggregateRoute::Backend& rb, std::string* why) {
  const AggregateBackend& cfg = *rb.config;
  request_.clear();
  request_.append(cfg.method).push_back(' ');
  if (!aggregate::render(rb.path, aggregate::Target::kPath, *this, request_, why)) {
    return false;
  }
  for (size_t i = 0; i < cfg.query.size(); ++i) {
    request_.push_back(i == 0 ? '?' : '&');
    aggregate::percent_encode(cfg.query[i].name, request_);
    request_.push_back('=');
    if (!aggregate::render(rb.query[i], aggregate::Target::kQuery, *this, request_, why)) {
      return false;
    }
  }
  // Host comes right after the request line: with `host: endpoint` the ProxyCall writes the
  // endpoint of each try there (start_backend), so it is left empty here.
  std::string_view host;
  switch (rb.upstream.host) {
    case HostPolicy::kPreserve:
      host = host_;
      break;
    case HostPolicy::kEndpoint:
      break;
    case HostPolicy::kFixed:
      host = rb.upstream.host_value;
      break;
  }
  append_all(request_, {" HTTP/1.1\r\nHost: "sv, host, "\r\n"sv});
  for (size_t i = 0; i < cfg.headers.size(); ++i) {
    request_.append(cfg.headers[i].name).append(": "sv);
    if (!aggregate::render(rb.headers[i], aggregate::Target::kHeader, *this, request_, why)) {
      return false;
    }
    request_.append("\r\n"sv);
  }
  // The body is read as JSON as sent: no coding (a config that sets Accept-Encoding says so).
  if (!cfg.sets_accept_encoding) {
    request_.append("Accept-Encoding: identity\r\n"sv);
  }
  // The request's trace: each call is a span of its own in it.
  char traceparent[kTraceparentLength];
  const bool traced = trace_.on;
  if (traced) {
    write_traceparent(traceparent, trace_, shard_.upstream().request_ids());
  }
  const bool forwarded_host = !host_.empty();
  const bool traced_state = traced && !tracestate_.empty();
  constexpr std::string_view none;
  append_all(
      request_,
      {"X-Forwarded-For: "sv, peer_, "\r\nX-Forwarded-Proto: http\r\n"sv,
       forwarded_host ? "X-Forwarded-Host: "sv : none, host_, forwarded_host ? "\r\n"sv : none,
       "X-Request-Id: "sv, request_id_, "\r\n"sv, traced ? "traceparent: "sv : none,
       traced ? std::string_view(traceparent, sizeof traceparent) : none, traced ? "\r\n"sv : none,
       traced_state ? "tracestate: "sv : none, traced_state ? std::string_view(tracestate_) : none,
       traced_state ? "\r\n"sv : none, auth_forward_});
  if (rb.body) {
    body_.clear();
    if (!aggregate::render(*rb.body, aggregate::Target::kBody, *this, body_, why)) {
      return false;
    }
    char length[24];
    const char* end = std::to_chars(length, length + sizeof length, body_.size()).ptr;
    append_all(request_,
               {"Content-Type: "sv, cfg.content_type, "\r\nContent-Length: "sv,
                std::string_view(length, static_cast<size_t>(end - length)), "\r\n\r\n"sv, body_});
  } else {
    request_.append("\r\n"sv);
  }
  return true;
}

bool AggregateCall::launch(Backend& b) {
  const AggregateRoute::Backend& rb = route_->backends[b.index];
  if (rb.config->for_each) {
    launch_for_each(b);
    return b.state != Backend::State::kRunning || fill_items(b);
  }
  if (!shard_.take_slot()) {
    return false;
  }
  std::string why;
  element_ = nullptr;
  if (!render_request(rb, &why)) {
    shard_.give_slot();
    fail(b, ErrorKind::kInternal, "could not be called: " + why);
    return true;
  }
  if (rb.cache && answer_from_cache(b, rb)) {
    shard_.give_slot();
    return true;
  }
  b.state = Backend::State::kRunning;
  ProxyCall* call = shard_.upstream().acquire_call();
  bump(rb.counters->calls);
  b.started_us = shard_.upstream().now_us();
  const Error error = call->start_backend(b, rb.upstream, *rb.cluster, request_, rb.idempotent);
  if (error) {
    shard_.upstream().release_call(call);
    shard_.give_slot();
    fail(b, error);
    return true;
  }
  b.proxy = call;
  ++running_;
  return true;
}

void AggregateCall::launch_for_each(Backend& b) {
  const AggregateRoute::Backend& rb = route_->backends[b.index];
  const AggregateForEach& fe = *rb.config->for_each;
  b.elements.clear();
  bool too_many = false;
  const json::Status st =
      open(backends_[fe.backend])
          ? shard_.json_reader().for_each(rb.for_each,
                                          [&](std::string_view raw) {
                                            if (b.elements.size() == fe.max_items) {
                                              too_many = true;
                                              return false;
                                            }
                                            b.elements.emplace_back(raw);
                                            return true;
                                          })
          : json::Status::kAbsent;
  if (st != json::Status::kOk) {
    fail(b, ErrorKind::kInternal,
         "could not be called: " + rb.for_each.text() + " is not an array");
    return;
  }
  if (too_many) {
    fail(b, ErrorKind::kInternal,
         "could not be called: more than " + std::to_string(fe.max_items) + " elements");
    return;
  }
  b.items.resize(b.elements.size());
  b.next_item = b.items_done = 0;
  if (b.elements.empty()) {
    b.body.assign("[]");
    b.state = Backend::State::kDone;
    return;
  }
  b.state = Backend::State::kRunning;
  ++running_;
  for (uint32_t i = 0; i < b.items.size(); ++i) {
    b.items[i].backend = &b;
    b.items[i].index = i;
    b.items[i].proxy = nullptr;
  }
}

bool AggregateCall::fill_items(Backend& b) {
  const uint32_t concurrency = route_->backends[b.index].config->for_each->concurrency;
  while (b.state == Backend::State::kRunning && b.next_item < b.items.size() &&
         b.items_out < concurrency) {
    if (!shard_.take_slot()) {
      return false;
    }
    launch_item(b, b.next_item++);
  }
  return true;
}

bool AggregateCall::launch_item(Backend& b, uint32_t i) {
  const AggregateRoute::Backend& rb = route_->backends[b.index];
  std::string why;
  element_ = &b.elements[i];
  const bool rendered = render_request(rb, &why);
  element_ = nullptr;
  Error error = Error::of(ErrorKind::kInternal);
  if (rendered) {
    ProxyCall* call = shard_.upstream().acquire_call();
    bump(rb.counters->calls);
    b.items[i].started_us = shard_.upstream().now_us();
    error = call->start_backend(b.items[i], rb.upstream, *rb.cluster, request_, rb.idempotent);
    if (!error) {
      b.items[i].proxy = call;
      b.items[i].body.clear();
      b.items[i].too_big = false;
      ++b.items_out;
      return true;
    }
    shard_.upstream().release_call(call);
    why.clear();
    append_error_reason(error, why);
  } else {
    why = "could not be called: " + why;
  }
  shard_.give_slot();
  cancel(b);
  --running_;
  fail(b, error, "element " + std::to_string(i) + " " + why);
  return false;
}

void AggregateCall::read_listed(const ResponseParser& p, const AggregateAction& action,
                                std::vector<std::string>& listed) {
  listed.resize(action.headers.size());
  for (size_t i = 0; i < action.headers.size(); ++i) {
    listed[i].assign(p.header(action.headers[i]));
  }
}

void AggregateCall::Described::read(const ResponseParser& p, bool keep_type) {
  has_cache_control = encoded = false;
  cache_control.clear();
  content_type.clear();
  for (int i = 0; i < p.header_count(); ++i) {
    const std::string_view name = p.header_name(i);
    if (name.size() == 13 && strncasecmp(name.data(), "cache-control", 13) == 0) {
      cache_control.append(has_cache_control ? ", " : "").append(p.header_value(i));
      has_cache_control = true;
    } else if (name.size() == 16 && strncasecmp(name.data(), "content-encoding", 16) == 0) {
      const std::string_view v = p.header_value(i);
      encoded = encoded || !(v.size() == 8 && strncasecmp(v.data(), "identity", 8) == 0);
    } else if (keep_type && name.size() == 12 &&
               strncasecmp(name.data(), "content-type", 12) == 0) {
      content_type.assign(p.header_value(i));
    }
  }
}

// A body over the limit fails a 2xx response, refused at its head when Content-Length says so.
// Another status fails the backend whatever its body, and that status is what the answer says
// (status_from): such a body is read, but no byte past the limit is kept.
bool AggregateCall::Item::on_head(const ResponseParser& p) {
  const AggregateCall& call = *backend->call;
  const uint64_t limit = call.route_->action->limits.body_bytes;
  body.clear();
  const AggregateAction& action = *call.route_->action;
  described.read(p, action.status_from == backend->index);
  if (action.status_from == backend->index) {
    read_listed(p, action, listed);
  }
  too_big = p.has_content_length() && p.content_length() > limit;
  return !too_big || p.status() < 200 || p.status() > 299;
}

void AggregateCall::Item::on_body(std::string_view data) {
  if (too_big || body.size() + data.size() > backend->call->route_->action->limits.body_bytes) {
    too_big = true;
    return;
  }
  body.append(data);
  backend->call->hold(data.size());
}

void AggregateCall::Item::on_complete(int upstream_status) {
  AggregateShard& shard = backend->call->shard_;
  backend->call->record_latency(*backend, started_us);
  Error error;
  std::string reason;
  backend->call->accept_body(body, too_big, described.encoded, upstream_status, &error, &reason);
  backend->call->item_finished(*this, error, std::move(reason));
  shard.wake();
}

void AggregateCall::Item::on_failed(const Error& error) {
  AggregateShard& shard = backend->call->shard_;
  backend->call->record_latency(*backend, started_us);
  backend->call->item_finished(*this, error, backend->call->failure_reason(too_big, error));
  shard.wake();
}

void AggregateCall::item_finished(Item& item, const Error& error, std::string reason) {
  Backend& b = *item.backend;
  // Its slot is free again: this request's own next call may take it before the waiters.
  item.proxy = nullptr;
  --b.items_out;
  shard_.give_slot();
  if (error) {
    if (reason.empty()) {
      append_error_reason(error, reason);
    }
    cancel(b);
    --running_;
    fail(b, error, "element " + std::to_string(item.index) + " " + reason);
    if (route_->action->status_from == b.index) {
      // The element's response stands for its backend's (its body may be the answer).
      b.body.swap(item.body);
      b.accepted = false;
      std::swap(b.described, item.described);
      b.listed.swap(item.listed);
      b.too_big = item.too_big;
    }
    settle();
    return;
  }
  ++b.items_done;
  if (b.items_done == b.items.size()) {
    // Joined in element order: each item body is valid JSON, so the array is too.
    b.body.assign("[");
    b.accepted = false;
    for (size_t i = 0; i < b.items.size(); ++i) {
      b.body.append(i ? "," : "").append(b.items[i].body);
    }
    b.body.push_back(']');
    b.body.reserve(b.body.size() + json::kPadding);
    b.state = Backend::State::kDone;
    --running_;
  }
  settle();
}

void AggregateCall::fail(Backend& b, const Error& error, std::string reason) {
  const AggregateRoute::Backend& rb = route_->backends[b.index];
  if (b.stale) {
    // A stored response within its stale_if_error window stands in for the failed call.
    const CacheEntry& e = *b.stale;
    const uint64_t age = e.age_s(shard_.upstream().now_us());
    if (!e.must_revalidate() && age < e.fresh_s() + e.stale_if_error_s() && use_stored(b, e, 0)) {
      rb.cache->count(shard_.shard_index(), CacheEvent::kStale);
      drop_stale(b);
      return;
    }
    drop_stale(b);
  }
  const AggregateBackend& cfg = *rb.config;
  bump(rb.counters->failures[static_cast<size_t>(error.kind) % kErrorKindCount]);
  if (cfg.optional) {
    bump(rb.counters->defaults);
  }
  b.state = Backend::State::kFailed;
  b.reason = std::move(reason);
  b.error = error;
  b.error.source = ErrorSource::kBackend;
  b.error.name = cfg.key;
  b.error.detail = b.reason;  // empty: the kind's own words
  b.accepted = false;
  if (cfg.optional) {
    b.body.assign(cfg.default_json);  // what templates and the response read in its place
    b.body.reserve(b.body.size() + json::kPadding);
  }
}

bool AggregateCall::Backend::on_head(const ResponseParser& p) {
  const AggregateAction& action = *call->route_->action;
  if (caching) {
    cache_facts.clear();
    for (int i = 0; i < p.header_count(); ++i) {
      const std::string_view name = p.header_name(i);
      if (iequals(name, "cache-control") || iequals(name, "expires") || iequals(name, "date") ||
          iequals(name, "age") || iequals(name, "set-cookie") || iequals(name, "vary") ||
          iequals(name, "etag") || iequals(name, "last-modified") ||
          iequals(name, "content-type") || iequals(name, "cache-tag") ||
          iequals(name, "surrogate-key")) {
        cache_facts.append(name).append(": ").append(p.header_value(i)).append("\r\n");
      }
    }
  }
  const uint64_t limit = action.limits.body_bytes;
  body.clear();
  described.read(p, action.status_from == index);
  read_listed(p, action, listed);
  // As for an Item: a 2xx body over the limit is refused at once (no need to read what will not
  // be kept); another status fails the backend anyway, and its body may be the answer.
  too_big = p.has_content_length() && p.content_length() > limit;
  return !too_big || p.status() < 200 || p.status() > 299;
}

void AggregateCall::Backend::on_body(std::string_view data) {
  if (too_big || body.size() + data.size() > call->route_->action->limits.body_bytes) {
    too_big = true;
    return;
  }
  body.append(data);
  call->hold(data.size());
}

void AggregateCall::Backend::on_complete(int upstream_status) {
  AggregateShard& shard = call->shard_;
  call->record_latency(*this, started_us);
  proxy = nullptr;
  shard.give_slot();
  --call->running_;
  Error error;
  std::string why;
  if (call->accept_body(body, too_big, described.encoded, upstream_status, &error, &why)) {
    state = State::kDone;
    call->mark_accepted(*this);
    if (caching) {
      call->store_response(*this, call->route_->backends[index], upstream_status);
    }
    call->drop_stale(*this);
  } else {
    call->fail(*this, error, std::move(why));
  }
  call->settle();
  shard.wake();
}

void AggregateCall::mark_accepted(Backend& b) {
  b.accepted = true;
  b.projected_ready = false;
  if (!projection(b.index).is_identity() || route_->backends[b.index].config->merge) {
    project_open(b);  // (the whole body is written without a second look)
  }
}

bool AggregateCall::projected(Backend& b) {
  if (b.accepted && b.projected_ready) {
    return true;
  }
  if (!open(b)) {
    return false;
  }
  project_open(b);
  return true;
}

void AggregateCall::project_open(Backend& b) {
  const json::Projection& p = projection(b.index);
  const bool merge = route_->backends[b.index].config->merge;
  b.projected.clear();
  if (merge) {
    // Copied: a member's key or value may point into the reader's scratch.
    b.members.clear();
    std::string& text = b.projected;
    auto put = [&text](std::string_view s, uint32_t& at, uint32_t& len) {
      at = static_cast<uint32_t>(text.size());
      len = static_cast<uint32_t>(s.size());
      text.append(s);
    };
    b.merged_status = shard_.json_reader().members(p, [&](const json::Member& m) {
      Backend::MemberAt at{};
      put(m.key, at.key_at, at.key_len);
      put(m.raw_key, at.raw_key_at, at.raw_key_len);
      put(m.value, at.value_at, at.value_len);
      b.members.push_back(at);
    });
  } else {
    json::Writer w(b.projected);
    if (shard_.json_reader().project(p, w) != json::Status::kOk || !w.complete()) {
      b.projected.clear();  // selected nothing: written as null
    }
  }
  b.projected_ready = true;
}

bool AggregateCall::accept_body(std::string& body, bool too_big, bool encoded, int upstream_status,
                                Error* error, std::string* reason) {
  if (upstream_status < 200 || upstream_status > 299) {
    *error = Error::of(ErrorKind::kUpstreamStatus);
    error->status = static_cast<uint16_t>(upstream_status);
    return false;
  }
  if (too_big) {
    *error = Error::of(ErrorKind::kBadResponse);
    *reason = failure_reason(true, *error);
    return false;
  }
  if (encoded) {
    // Asked for identity (Accept-Encoding), it sent a coded body anyway: not JSON as it stands.
    *error = Error::of(ErrorKind::kBadResponse);
    *reason = "sent a body with a Content-Encoding, which the gateway does not decode";
    return false;
  }
  // Room for the padding is kept, so padding the body for the reader never moves it.
  body.reserve(body.size() + json::kPadding);
  std::string_view why;
  const bool valid = open_text(body, &why);
  if (!valid) {
    *error = Error::of(ErrorKind::kBadResponse);
    *reason = "sent " + std::string(why);
  }
  return valid;
}

std::string AggregateCall::failure_reason(bool too_big, const Error& error) const {
  std::string reason;
  if (too_big) {
    reason =
        "sent a body larger than " + std::to_string(route_->action->limits.body_bytes) + " bytes";
  } else {
    append_error_reason(error, reason);
  }
  return reason;
}

void AggregateCall::Backend::on_failed(const Error& error) {
  AggregateShard& shard = call->shard_;
  call->record_latency(*this, started_us);
  proxy = nullptr;
  shard.give_slot();
  --call->running_;
  call->fail(*this, error, too_big ? call->failure_reason(true, error) : std::string());
  call->settle();
  shard.wake();
}

void AggregateCall::record_latency(const Backend& b, uint64_t started_us) {
  const uint64_t now = shard_.upstream().now_us();
  const uint64_t took = now > started_us ? now - started_us : 0;
  const AggregateRoute::Backend& rb = route_->backends[b.index];
  rb.counters->latency.record(took);
  // logging.level debug: one line per backend call.
  if (RequestLog* log = RequestLog::current(); log && log->wants(LogLevel::kDebug)) {
    char text[512];
    const int n = snprintf(text, sizeof text,
                           "aggregate route=%s backend=%s upstream=%s call ended after %llu us "
                           "request_id=%s",
                           route_->route->name.c_str(), rb.config->key.c_str(),
                           rb.cluster->config->name.c_str(), static_cast<unsigned long long>(took),
                           request_id_.c_str());
    log->event(LogLevel::kDebug,
               std::string_view(text, std::min(static_cast<size_t>(n), sizeof text - 1)));
  }
}

std::string_view AggregateCall::claim(uint32_t index) {
  return index < claims_.size() ? std::string_view(claims_[index]) : std::string_view();
}

std::string_view AggregateCall::path_param(uint32_t index) {
  return index < params_.size() ? std::string_view(params_[index]) : std::string_view();
}

std::optional<std::string_view> AggregateCall::query(std::string_view name) {
  std::string_view q = query_;
  while (!q.empty()) {
    const size_t amp = q.find('&');
    const std::string_view pair = q.substr(0, amp);
    const size_t eq = pair.find('=');
    if (pair.substr(0, eq) == name) {
      return eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
    }
    q = amp == std::string_view::npos ? std::string_view() : q.substr(amp + 1);
  }
  return std::nullopt;
}

std::optional<std::string_view> AggregateCall::header(std::string_view lower_name) {
  for (const auto& [name, value] : headers_) {
    if (name == lower_name) {
      return value;
    }
  }
  return std::nullopt;
}

const json::Projection& AggregateCall::projection(uint32_t backend) const {
  return profile_ >= 0 ? route_->profiles[static_cast<size_t>(profile_)][backend].projection
                       : route_->backends[backend].projection;
}

std::optional<std::string_view> AggregateCall::item(const json::Path& path) {
  if (!element_) {
    return std::nullopt;
  }
  if (path.is_document()) {
    return std::string_view(*element_);
  }
  scratch_.assign(*element_);
  std::string_view raw;
  if (!open_text(scratch_, nullptr) || shard_.json_reader().find(path, &raw) != json::Status::kOk) {
    return std::nullopt;
  }
  return raw;
}

std::optional<std::string_view> AggregateCall::backend(uint32_t index, const json::Path& path) {
  // A done backend's body, or a failed optional one's default. The reader holds one body at a
  // time: this one is opened (again) for the lookup.
  if (!open(backends_[index])) {
    return std::nullopt;
  }
  std::string_view raw;
  if (shard_.json_reader().find(path, &raw) != json::Status::kOk) {
    return std::nullopt;
  }
  return raw;
}

bool AggregateCall::open(Backend& b) {
  return open_text(b.body, nullptr);
}

bool AggregateCall::open_text(std::string& text, std::string_view* why) {
  // The padding the reader may read is the string's own spare capacity (its NUL first): kept
  // by the bodies' owners, so this moves nothing and views into the text remain valid.
  text.reserve(text.size() + json::kPadding);
  std::string_view reason;
  const bool ok = shard_.json_reader().validate(text.data(), text.size(), route_->limits, &reason);
  if (why) {
    *why = reason;
  }
  return ok;
}

void AggregateCall::release() {
  shard_.upstream().timers().disarm(*this);
  for (Backend& b : backends_) {
    drop_stale(b);
    b.caching = false;
  }
  client_ = nullptr;
  route_ = nullptr;
  shard_.release_bytes(held_);
  held_ = 0;
  trim();
  shard_.release(this);
}

void AggregateCall::trim() {
  // Kept: what an ordinary request uses, so that steady traffic allocates nothing.
  constexpr size_t kKeepItems = 256;
  constexpr size_t kKeepBytes = 256 * 1024;
  for (Backend& b : backends_) {
    if (b.items.capacity() > kKeepItems) {
      std::vector<Item>().swap(b.items);
      std::vector<std::string>().swap(b.elements);
    }
    if (b.body.capacity() > kKeepBytes) {
      std::string().swap(b.body);
    }
  }
  if (out_.capacity() > kKeepBytes) {
    std::string().swap(out_);
  }
}

void AggregateCall::on_timer(Timer* t) {
  auto* call = static_cast<AggregateCall*>(t);
  AggregateShard& shard = call->shard_;
  if (!call->admitted_) {
    shard.forget(*call);
    call->refuse();
    return;
  }
  for (Backend& b : call->backends_) {
    if (b.state == Backend::State::kRunning) {
      call->cancel(b);
      call->fail(b, ErrorKind::kTimeout, "did not answer within the aggregate timeout");
    } else if (b.state == Backend::State::kWaiting) {
      call->fail(b, ErrorKind::kTimeout, "was not called within the aggregate timeout");
    }
  }
  call->running_ = 0;
  call->answer();
  shard.wake();
}

}  // namespace ringgate
