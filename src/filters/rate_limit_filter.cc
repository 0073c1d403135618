// rate_limit: the route's policies (the global ones first, then its own `rate_limit:`), checked
// in order against the shard's limiter, each under its key (client address, a header, the
// route, the API-key consumer or a verified claim). Over a limit: 429 with Retry-After,
// RateLimit-Policy and RateLimit. A backend: redis policy may keep the request waiting for the
// lease call in flight (kWait); the request's head is pinned meanwhile.

#include <algorithm>
#include <cstdio>

#include "ringgate/filters/rate_limit.h"
#include "ringgate/filters/registry.h"

namespace ringgate {

namespace {

class RateLimitFilter;

// The per-request part, made in the exchange's arena when a policy may have to wait.
struct RateWait final : RateWaiter {
  RateLimitFilter* filter = nullptr;
  Exchange* x = nullptr;
  size_t position = 0;  // the policy waited for, in the route's list
  void rate_decided(bool allowed, uint32_t retry_after_s) override;
};

class RateLimitFilter final : public Filter {
 public:
  RateLimitFilter(const RouteConfig& route, size_t position_in_chain, FilterServices& shard)
      : route_(route),
        config_(*shard.config),
        limiter_(*shard.rate_limiter),
        now_us_(*shard.now_us),
        slot_(position_in_chain) {
    for (uint32_t policy : route.rate_limits) {
      remote_ |= config_.rate_limits[policy].backend == RateLimitPolicy::Backend::kRedis;
    }
  }

  std::string_view name() const override { return "rate_limit"; }

  FilterStatus on_request(Exchange& x) override { return check_from(x, 0); }

  void on_cancel(Exchange& x) override {
    if (auto* wait = static_cast<RateWait*>(x.filter_state(slot_))) {
      limiter_.cancel(wait);
    }
  }

  std::string_view wait_timeout_detail() const override {
    return "the rate limit's backend did not answer in time";
  }

  void decided(RateWait& wait, bool allowed, uint32_t retry_after_s) {
    Exchange& x = *wait.x;
    if (!allowed) {
      refuse(x, route_.rate_limits[wait.position], retry_after_s);
      x.resume(FilterStatus::kReply);
      return;
    }
    const FilterStatus s = check_from(x, wait.position + 1);
    if (s != FilterStatus::kWait) {
      x.resume(s);
    }
  }

 private:
  FilterStatus check_from(Exchange& x, size_t k) {
    RateWait* wait = nullptr;
    if (remote_) {
      wait = static_cast<RateWait*>(x.filter_state(slot_));
      if (!wait) {
        wait = x.arena().make<RateWait>();
        if (wait && !x.set_filter_state(slot_, wait)) {
          wait = nullptr;
        }
      }
      if (wait) {
        wait->filter = this;
        wait->x = &x;
      }
    }
    for (; k < route_.rate_limits.size(); ++k) {
      const uint32_t policy = route_.rate_limits[k];
      uint32_t retry_after_s = 0;
      switch (limiter_.admit(policy, key(x, k), now_us_, &retry_after_s, wait)) {
        case RateVerdict::kAllowed:
          break;
        case RateVerdict::kLimited:
          refuse(x, policy, retry_after_s);
          return FilterStatus::kReply;
        case RateVerdict::kWait:
          wait->position = k;
          return FilterStatus::kWait;
      }
    }
    return FilterStatus::kContinue;
  }

  std::string_view key(const Exchange& x, size_t k) const {
    const RateLimitPolicy& p = config_.rate_limits[route_.rate_limits[k]];
    switch (p.key) {
      case RateLimitPolicy::Key::kConsumer:
        return x.identity.consumer;
      case RateLimitPolicy::Key::kClaim: {
        const int32_t claim = route_.rate_limit_claims[k];
        return claim >= 0 && static_cast<uint32_t>(claim) < x.identity.claim_count
                   ? x.identity.claims[claim]
                   : std::string_view();
      }
      case RateLimitPolicy::Key::kClientIp:
        return x.client_address();
      case RateLimitPolicy::Key::kHeader:
        return x.request().header(p.header);
      case RateLimitPolicy::Key::kRoute:
        return route_.name;
      case RateLimitPolicy::Key::kClientCert:
        return x.client_certificate();
    }
    return {};
  }

  void refuse(Exchange& x, uint32_t policy, uint32_t retry_after_s) const {
    const RateLimitPolicy& p = config_.rate_limits[policy];
    // The window in which the whole burst refills, whole seconds.
    const uint64_t period_ms = static_cast<uint64_t>(p.period.count());
    const uint64_t window_s =
        std::max<uint64_t>(1, (p.burst * period_ms + p.tokens * 1000 - 1) / (p.tokens * 1000));
    // Built on the stack, then into the arena: a client over its limit can send at full rate.
    char headers[256];
    const int n =
        snprintf(headers, sizeof headers,
                 "Retry-After: %u\r\nRateLimit-Policy: \"%s\";q=%llu;w=%llu\r\n"
                 "RateLimit: \"%s\";r=0;t=%u\r\n",
                 retry_after_s, p.name.c_str(), static_cast<unsigned long long>(p.burst),
                 static_cast<unsigned long long>(window_s), p.name.c_str(), retry_after_s);
    if (n > 0 && static_cast<size_t>(n) < sizeof headers) {
      x.error_headers = x.arena().copy(std::string_view(headers, static_cast<size_t>(n)));
    }
    x.error = Error::client(ErrorKind::kLimited);
    x.error.name = p.name;
  }

  const RouteConfig& route_;
  const Config& config_;
  ShardRateLimiter& limiter_;
  const uint64_t& now_us_;
  size_t slot_;          // this filter's position in the route's chain: its per-request slot
  bool remote_ = false;  // a policy of the route may wait for Redis
};

void RateWait::rate_decided(bool allowed, uint32_t retry_after_s) {
  filter->decided(*this, allowed, retry_after_s);
}

}  // namespace

std::unique_ptr<Filter> make_rate_limit_filter(const RouteConfig& route, FilterServices& shard) {
  if (route.rate_limits.empty()) {
    return nullptr;
  }
  return std::make_unique<RateLimitFilter>(route, shard.position, shard);
}

}  // namespace ringgate
