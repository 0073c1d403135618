#include "ringgate/http/pipeline.h"

#include <algorithm>
#include <cstring>

#include "ringgate/core/assert.h"
#include "ringgate/core/method.h"
#include "ringgate/http/forward.h"

namespace ringgate {

namespace {

// "Allow: GET, HEAD\r\n" for a 405, in the exchange's arena.
std::string_view allow_header(Exchange& x, uint64_t methods) {
  char line[512];
  size_t n = 0;
  auto put = [&](std::string_view text) {
    const size_t k = std::min(text.size(), sizeof line - n);
    std::memcpy(line + n, text.data(), k);
    n += k;
  };
  put("Allow: ");
  bool first = true;
  for (int m = 0; m < kMaxMethods; ++m) {
    if (methods & method_bit(m)) {
      put(first ? "" : ", ");
      put(method_name(m));
      first = false;
    }
  }
  put("\r\n");
  return x.arena().copy(std::string_view(line, n));
}

}  // namespace

bool ResponseHead::add(std::string_view name, std::string_view value) {
  const size_t n = name.size() + 2 + value.size() + 2;
  if (used_ + n > capacity_) {
    return false;
  }
  char* p = buffer_ + used_;
  std::memcpy(p, name.data(), name.size());
  p += name.size();
  std::memcpy(p, ": ", 2);
  p += 2;
  if (!value.empty()) {
    std::memcpy(p, value.data(), value.size());
    p += value.size();
  }
  std::memcpy(p, "\r\n", 2);
  used_ += n;
  return true;
}

bool ResponseHead::drop(std::string_view lower_name) {
  if (drop_count_ == kMaxDrops) {
    return false;
  }
  drops_[drop_count_++] = lower_name;
  return true;
}

std::string_view Exchange::client_address() const {
  return ringgate::client_address(request_, owner_.peer_ip(), trusted_hops);
}

bool Exchange::set_filter_state(size_t position, void* state) {
  if (!filter_state_) {
    filter_state_ = static_cast<void**>(arena_.allocate(sizeof(void*) * kMaxFilters));
    if (!filter_state_) {
      return false;
    }
    std::fill(filter_state_, filter_state_ + kMaxFilters, nullptr);
  }
  filter_state_[position] = state;
  return true;
}

bool Exchange::add_upstream_header(std::string_view name, std::string_view value) {
  const std::string_view& old = identity.add_headers;
  const size_t n = old.size() + name.size() + 2 + value.size() + 2;
  char* p = static_cast<char*>(arena_.allocate(n, 1));
  if (!p) {
    return false;
  }
  char* out = p;
  auto put = [&out](std::string_view piece) {
    if (!piece.empty()) {
      std::memcpy(out, piece.data(), piece.size());
      out += piece.size();
    }
  };
  put(old);
  put(name);
  put(": ");
  put(value);
  put("\r\n");
  identity.add_headers = std::string_view(p, n);
  return true;
}

RoutePlan::RoutePlan(const RouteConfig* route_config, std::vector<Filter*> route_filters,
                     Action* route_action)
    : route(route_config), filters(std::move(route_filters)), action(route_action) {
  RG_RELEASE_ASSERT(filters.size() <= Exchange::kMaxFilters);
  for (size_t i = 0; i < filters.size(); ++i) {
    const uint8_t phases = filters[i]->phases();
    response_mask |= (phases & kOnResponse) ? 1u << i : 0;
    log_mask |= (phases & kOnLog) ? 1u << i : 0;
  }
}

Pipeline::Pipeline(const Router& router, std::vector<RoutePlan> plans)
    : router_(router), plans_(std::move(plans)) {}

FilterStatus Pipeline::start(Exchange& x, const RoutePlan* fixed) {
  if (fixed) {
    x.plan = fixed;
    return run_filters(x);
  }
  const RequestParser& r = x.request();
  router_.match(router_.uses_hosts() ? r.host() : std::string_view(), r.method(), r.path(),
                x.match);
  if (x.match.status == RouteMatchResult::Status::kMatched) {
    x.plan = &plans_[x.match.route_index];
    return run_filters(x);
  }
  if (x.path_flags != 0) {
    // Without a route nothing allows what the normaliser flagged: the path is refused as such,
    // the same answer a route would give, before a 404 or 405 says anything about routes.
    bump(x.counters().parse_bad_path);
    x.error = Error::client(ErrorKind::kPathNotAllowed);
    return FilterStatus::kReply;
  }
  if (x.match.status == RouteMatchResult::Status::kMethodNotAllowed) {
    x.error = Error::client(ErrorKind::kMethodNotAllowed);
    x.error_headers = allow_header(x, x.match.allowed_methods);
  } else {
    x.error = Error::client(ErrorKind::kNoRoute);
  }
  return FilterStatus::kReply;
}

FilterStatus Pipeline::run_filters(Exchange& x) {
  const std::vector<Filter*>& filters = x.plan->filters;
  while (x.next_ < filters.size()) {
    Filter& f = *filters[x.next_];
    ++x.next_;
    x.entered_ = x.next_;
    const FilterStatus s = f.on_request(x);
    if (s == FilterStatus::kWait) {
      x.waiting_ = true;
      return s;
    }
    if (s == FilterStatus::kReply) {
      return s;
    }
  }
  return FilterStatus::kContinue;
}

Responder* Pipeline::act(Exchange& x, Downstream& client) {
  return x.plan->action->start(x, client);
}

void Pipeline::respond(Exchange& x, ResponseHead& head) {
  if (!edits_response(x)) {
    return;
  }
  for (size_t i = x.entered_; i-- > 0;) {
    if (x.plan->response_mask & (1u << i)) {
      x.plan->filters[i]->on_response(x, head);
    }
  }
}

void Pipeline::time_out(Exchange& x) {
  if (!x.waiting_) {
    return;
  }
  x.waiting_ = false;
  Filter& f = *x.plan->filters[x.next_ - 1];
  f.on_cancel(x);
  x.error = Error::gateway(ErrorKind::kDependencyTimeout, f.wait_timeout_detail());
}

void Pipeline::finish(Exchange& x) {
  if (x.logged_) {
    return;
  }
  x.logged_ = true;
  if (!x.plan) {
    return;
  }
  if (x.waiting_) {
    x.waiting_ = false;
    x.plan->filters[x.next_ - 1]->on_cancel(x);
  }
  const uint32_t log = x.plan->log_mask & Pipeline::entered_mask(x.entered_);
  for (size_t i = 0; log >> i; ++i) {
    if (log & (1u << i)) {
      x.plan->filters[i]->on_log(x);
    }
  }
}

}  // namespace ringgate
