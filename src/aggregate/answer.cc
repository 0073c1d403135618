// The answer of an aggregate call: the response object written from the backends' bodies with
// its headers (Cache-Control by the route's cache_control, the listed headers, Ringgate-Partial),
// or the failure of a required backend.

#include <strings.h>

#include "aggregate/cache_control.h"
#include "aggregate/text.h"
#include "call.h"
#include "ringgate/aggregate/aggregate_shard.h"
#include "ringgate/http/access_log.h"
#include "ringgate/http/error_reply.h"
#include "ringgate/http/http_shard.h"
#include "ringgate/upstream/upstream_shard.h"

namespace ringgate {

void AggregateCall::answer() {
  answered_ = true;
  shard_.upstream().timers().disarm(*this);
  shard_.forget(*this);  // no more slots needed
  // The cause is found before anything still out is cancelled (and so marked failed too).
  Backend* cause = nullptr;
  for (Backend& b : backends_) {
    if (b.state == Backend::State::kFailed && !route_->backends[b.index].config->optional) {
      cause = &b;
      break;
    }
  }
  for (Backend& b : backends_) {
    if (b.state == Backend::State::kRunning) {
      cancel(b);
      fail(b, ErrorKind::kTimeout, "was cancelled: the response was decided without it");
    }
  }
  running_ = 0;
  partial_.clear();
  passed_headers_.clear();
  if (cause) {
    answer_failure(*cause);
  } else {
    answer_status_ = 200;
    content_type_ = "application/json";
    std::string why;
    if (!write_response(&why)) {
      const Error error = Error::gateway(ErrorKind::kInternal, why);
      answer_status_ = error_status(error);
      content_type_ = kProblemContentType;
      error_body(error, out_, trace_.id());
    }
  }
  if (request_complete_) {
    deliver();
  }
}

void AggregateCall::answer_failure(Backend& cause) {
  const AggregateAction& action = *route_->action;
  Error error = cause.error;
  error.pass_status = action.status_from == cause.index;
  answer_status_ = error_status(error);
  if (error.kind == ErrorKind::kUpstreamStatus && answer_status_ == error.status) {
    // Its status passes, and with it the listed headers that go with that status (a 401 must
    // say WWW-Authenticate, RFC 9110 15.5.2), whichever body is the answer.
    for (size_t i = 0; i < action.headers.size() && i < cause.listed.size(); ++i) {
      if (!cause.listed[i].empty()) {
        passed_headers_.append(action.headers[i])
            .append(": ")
            .append(cause.listed[i])
            .append("\r\n");
      }
    }
  }
  // The backend's own answer, when its status is the one passed: its body as sent (a body over
  // the limit was not kept, an encoded one cannot be passed without its encoding), typed as it
  // said. Without one, the gateway's problem document says what happened.
  if (error.pass_status && error.kind == ErrorKind::kUpstreamStatus &&
      answer_status_ == error.status && !cause.body.empty() && !cause.too_big &&
      !cause.described.encoded) {
    out_.swap(cause.body);  // no copy; each string keeps its capacity for later requests
    passed_type_.swap(cause.described.content_type);
    content_type_ = passed_type_;
    return;
  }
  error_body(error, out_, trace_.id());
  content_type_ = kProblemContentType;
}

bool AggregateCall::write_response(std::string* why) {
  const AggregateAction& action = *route_->action;
  // Top-level names in the order they would be written, and whether each is written: merged
  // members can collide with each other and with backends' keys. names_ keeps its strings'
  // capacity from one request to the next.
  size_t count = 0;
  auto add = [&](std::string_view key) {
    if (count == names_.size()) {
      names_.emplace_back();
    }
    names_[count].key.assign(key);
    names_[count].keep = true;
    ++count;
  };
  for (Backend& b : backends_) {
    const AggregateRoute::Backend& rb = route_->backends[b.index];
    if (b.state == Backend::State::kSkipped) {
      continue;  // this profile leaves it out
    }
    if (!rb.config->merge) {
      add(rb.config->key);
    } else if (projected(b)) {
      for (const Backend::MemberAt& m : b.members) {
        add(std::string_view(b.projected).substr(m.key_at, m.key_len));
      }
    }
  }
  if (action.errors) {
    add("errors");
  }
  Name* names = names_.data();
  for (size_t i = 0; i < count; ++i) {
    for (size_t k = i + 1; k < count; ++k) {
      if (names[k].key != names[i].key || !names[i].keep || !names[k].keep) {
        continue;
      }
      switch (action.on_collision) {
        case AggregateAction::Collision::kError:
          *why = "two members named \"" + names[i].key + "\" in the response";
          return false;
        case AggregateAction::Collision::kFirst:
          names[k].keep = false;
          break;
        case AggregateAction::Collision::kLast:
          names[i].keep = false;
          break;
      }
    }
  }
  out_.clear();
  json::Writer w(out_);
  w.begin_object();
  size_t n = 0;
  for (Backend& b : backends_) {
    const AggregateRoute::Backend& rb = route_->backends[b.index];
    if (b.state == Backend::State::kSkipped) {
      continue;
    }
    if (b.state == Backend::State::kFailed) {
      partial_.append(partial_.empty() ? "" : ",").append(rb.config->key);
    }
    if (rb.config->merge) {
      if (!projected(b)) {
        *why = "backend \"" + rb.config->key + "\" changed while the response was written";
        return false;
      }
      const std::string_view text = b.projected;
      for (const Backend::MemberAt& m : b.members) {
        if (names[n++].keep) {
          w.raw_key(text.substr(m.raw_key_at, m.raw_key_len));
          w.raw(text.substr(m.value_at, m.value_len));
        }
      }
      if (b.merged_status != json::Status::kOk) {
        *why = "backend \"" + rb.config->key + "\" sent no object to merge";
        return false;
      }
      continue;
    }
    if (!names[n++].keep) {
      continue;
    }
    w.raw_key(rb.escaped_key);
    if (b.accepted && projection(b.index).is_identity()) {
      w.raw(
          json::detail::trim(b.body.data(), b.body.data() + b.body.size()));  // as project() would
    } else if (projected(b) && !b.projected.empty()) {
      w.raw(b.projected);
    } else {
      w.null();  // a pick or allow that selected nothing
    }
  }
  if (action.errors) {
    if (names[n++].keep) {
      w.key("errors");
      w.begin_array();
      for (const Backend& b : backends_) {
        if (b.state != Backend::State::kFailed) {
          continue;
        }
        w.begin_object();
        w.key("backend");
        w.string(route_->backends[b.index].config->key);
        w.key("status");
        w.number(error_reported_status(b.error));
        w.key("reason");
        reason_.clear();
        append_error_reason(b.error, reason_);
        w.string(reason_);
        w.end_object();
      }
      w.end_array();
    }
  }
  w.end_object();
  if (!w.complete()) {
    *why = "the response could not be written";
    return false;
  }
  return true;
}

void AggregateCall::response_headers(std::string& out) const {
  const AggregateAction& action = *route_->action;
  if (!partial_.empty()) {
    // A cache would go on serving the defaults after the failed backend is back.
    out.append("Cache-Control: no-store\r\n");
  } else if (action.cache_control == AggregateAction::CacheControl::kFixed) {
    out.append("Cache-Control: ").append(action.cache_control_value).append("\r\n");
  } else if (action.cache_control == AggregateAction::CacheControl::kMostRestrictive) {
    // Every response the body was built from counts (each call of a for_each backend); a
    // skipped backend does not.
    aggregate::CacheControlMerge merge;
    for (const Backend& b : backends_) {
      if (b.state != Backend::State::kDone) {
        continue;  // skipped; a failed one made the response partial
      }
      if (!route_->backends[b.index].config->for_each) {
        merge.add(b.described.has_cache_control, b.described.cache_control);
        continue;
      }
      for (const Item& item : b.items) {
        merge.add(item.described.has_cache_control, item.described.cache_control);
      }
    }
    merge.write(out);
  }
  // Listed headers: the first backend (in config order) that sent one wins.
  for (size_t i = 0; i < action.headers.size(); ++i) {
    for (const Backend& b : backends_) {
      if (b.state == Backend::State::kDone && i < b.listed.size() && !b.listed[i].empty()) {
        out.append(action.headers[i]).append(": ").append(b.listed[i]).append("\r\n");
        break;
      }
    }
  }
}

// A partial answer is one the gateway decided: an error-log line (warn) says which backends
// failed and why.
void AggregateCall::log_partial() const {
  RequestLog* log = RequestLog::current();
  if (!log || !log->wants(LogLevel::kWarn)) {
    return;
  }
  std::string text = "aggregate route=" + route_->route->name + " answered partial:";
  for (const Backend& b : backends_) {
    if (b.state == Backend::State::kFailed) {
      text.append(" backend ").append(route_->backends[b.index].config->key).append(" ");
      append_error_reason(b.error, text);
      text.append(";");
    }
  }
  text.append(" request_id=").append(request_id_);
  if (trace_.on) {
    text.append(" trace_id=").append(trace_.id());
  }
  log->event(LogLevel::kWarn, text);
}

void AggregateCall::deliver() {
  Downstream* client = client_;
  ResponseRecorder* recorder = x_ ? x_->recorder : nullptr;
  if (x_) {
    x_->log.partial = answer_status_ == 200 && !partial_.empty();
    x_ = nullptr;  // the exchange ends with the answer
  }
  response_head_.clear();
  if (refused_) {
    response_head_.append("Retry-After: 1\r\n");
  }
  if (answer_status_ == 200) {
    if (!partial_.empty()) {
      response_head_.append("Ringgate-Partial: ").append(partial_).append("\r\n");
      log_partial();
    }
    response_headers(response_head_);
  } else {
    response_head_.append(passed_headers_);
  }
  const int status = answer_status_;
  const std::string_view content_type = content_type_;
  const bool keep_alive = keep_alive_;
  // The body goes out in a pooled string; out_ keeps that one's capacity for the next answer.
  std::string* body = shard_.http().acquire_body();
  body->swap(out_);
  // Released first, so the client's next pipelined request may reuse this call. The head (and
  // passed_type_) is read before aggregate_answer() parses anything more, and only deliver()
  // and answer() write them.
  release();
  if (recorder) {
    recorder->on_built(status, response_head_, content_type, *body);  // a route's cache
  }
  client->respond(status, response_head_, content_type, body, keep_alive);
}

}  // namespace ringgate
