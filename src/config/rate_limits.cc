// The `rate_limits:` section (named token-bucket policies) and a route's `rate_limit:` that names
// them. A policy stands alone; whether the routes that name it give it what it keys on (an
// API-key consumer, a JWT claim), and whether a `backend: redis` has its redis section, is for
// validate() to check.

#include <charconv>

#include "config/sections.h"

namespace ringgate::config_detail {
namespace {

constexpr uint64_t kMaxRateTokens = 1000000000;  // per period; also the largest burst

class RateLimitsLoader : public Loader {
 public:
  explicit RateLimitsLoader(const Loader& loader) : Loader(loader) {}

  void load(const Field& f, std::vector<RateLimitPolicy>& policies, References& refs) const;

 private:
  RateLimitPolicy load_rate_limit(const Field& f, std::string name, const YAML::Mark& key,
                                  References& refs) const;
};

void RateLimitsLoader::load(const Field& f, std::vector<RateLimitPolicy>& policies,
                            References& refs) const {
  if (f.node.IsNull()) {
    return;
  }
  if (!f.node.IsMap()) {
    refs.policies.all = true;
    fail(f, "expected a map of policy names to policies, got " + describe(f.node));
  }
  // A policy with a problem is left out and the next one read.
  for (auto it = f.node.begin(); it != f.node.end(); ++it) {
    const YAML::Node key = it->first;  // a copy: it-> yields a temporary proxy
    const std::string name = key.IsScalar() ? key.Scalar() : "";
    const bool loaded = recover([&] {
      if (!key.IsScalar()) {
        fail_at(key.Mark(), f.path + ": policy names must be plain names, got " + describe(key));
      }
      if (!is_cluster_name(name)) {
        fail_at(key.Mark(), f.path + ": policy name " + quote(name) + " must be 1 to " +
                                std::to_string(kMaxClusterName) +
                                " characters: letters, digits, '_', '.' and '-'");
      }
      for (const RateLimitPolicy& earlier : policies) {
        if (earlier.name == name) {
          fail_at(key.Mark(), f.path + ": duplicate rate limit " + quote(name) +
                                  " (first at line " + std::to_string(earlier.mark.line) + ")");
        }
      }
      policies.push_back(load_rate_limit(child(f, name, key, it->second), name, key.Mark(), refs));
    });
    if (!loaded) {
      refs.policies.names.push_back(name);
    }
  }
}

RateLimitPolicy RateLimitsLoader::load_rate_limit(const Field& f, std::string name,
                                                  const YAML::Mark& key, References& refs) const {
  const Section s(*this, f,
                  {"key", "rate", "burst", "max_keys", "global", "backend", "on_error", "batch"});
  RateLimitPolicy p;
  p.name = std::move(name);
  p.mark = source_mark(key);
  const Field* rate = s.find("rate");
  if (!rate) {
    fail(f, "missing 'rate' (e.g. rate: 100/s)");
  }
  {
    // "N/s", "N/m" or "N/h".
    const std::string text = scalar(*rate, "a rate like 100/s");
    const size_t slash = text.find('/');
    uint64_t n = 0;
    const char* digits_end = text.data() + (slash == std::string::npos ? text.size() : slash);
    auto [end, ec] = std::from_chars(text.data(), digits_end, n);
    const std::string unit = slash == std::string::npos ? "" : text.substr(slash + 1);
    const int64_t period_ms = unit == "s" ? 1000 : unit == "m" ? 60000 : unit == "h" ? 3600000 : 0;
    if (ec != std::errc() || end != digits_end || period_ms == 0 || text.empty()) {
      fail(*rate, "expected a rate like 100/s, 600/m or 5000/h, got " + quote(text));
    }
    if (n < 1 || n > kMaxRateTokens) {
      fail(*rate, "the count must be between 1 and " + std::to_string(kMaxRateTokens) + ", got " +
                      std::to_string(n));
    }
    p.tokens = n;
    p.period = Duration(period_ms);
    p.burst = n;
  }
  if (const Field* v = s.find("burst")) {
    p.burst = read_number(*v, 1, kMaxRateTokens);
  }
  if (const Field* v = s.find("max_keys")) {
    p.max_keys = read_power_of_two(*v, 16, 1u << 24);
  }

  if (const Field* v = s.find("key")) {
    const std::string k = read_string(*v);
    if (k == "client_ip") {
      p.key = RateLimitPolicy::Key::kClientIp;
    } else if (k == "route") {
      p.key = RateLimitPolicy::Key::kRoute;
    } else if (k.rfind("header:", 0) == 0 && is_token(k.substr(7))) {
      p.key = RateLimitPolicy::Key::kHeader;
      p.header = ascii_lower(k.substr(7));
    } else if (k == "client_cert") {
      p.key = RateLimitPolicy::Key::kClientCert;
    } else if (k == "consumer") {
      p.key = RateLimitPolicy::Key::kConsumer;
    } else if (k.rfind("claim:", 0) == 0 && k.size() > 6) {
      p.key = RateLimitPolicy::Key::kClaim;
      p.claim = k.substr(6);
    } else {
      fail(*v, "expected client_ip, header:NAME, route, consumer, claim:NAME or client_cert, got " +
                   quote(k));
    }
  }
  if (const Field* v = s.find("global")) {
    p.global = read_bool(*v);
    if (p.global &&
        (p.key == RateLimitPolicy::Key::kConsumer || p.key == RateLimitPolicy::Key::kClaim)) {
      fail(*v, "a global policy applies to every route, so it cannot be per consumer or claim");
    }
  }
  const Field* backend = s.find("backend");
  if (backend) {
    const std::string b = read_string(*backend);
    if (b == "local") {
      p.backend = RateLimitPolicy::Backend::kLocal;
    } else if (b == "redis") {
      p.backend = RateLimitPolicy::Backend::kRedis;
      refs.redis_backends.push_back(*backend);  // needs the redis section
    } else {
      fail(*backend, "expected local or redis, got " + quote(b));
    }
  }
  if (const Field* v = s.find("on_error")) {
    const std::string e = read_string(*v);
    if (e != "allow" && e != "deny") {
      fail(*v, "expected allow or deny, got " + quote(e));
    }
    if (p.backend != RateLimitPolicy::Backend::kRedis) {
      fail(*v, "on_error applies to backend: redis only (a local budget cannot fail)");
    }
    p.deny_on_error = e == "deny";
  }
  if (const Field* v = s.find("batch")) {
    p.batch = static_cast<uint32_t>(read_number(*v, 1, 1024));
  }
  return p;
}

}  // namespace

// The policies a route names; validate() finds them and adds the global ones.
void load_route_rate_limit(const Loader& loader, const Field& f, RouteConfig& /*route*/,
                           RouteRefs& refs) {
  for (const Field& item : loader.list_or_one(f, "empty list; leave 'rate_limit' out for none")) {
    refs.rate_limits.push_back({item, loader.read_string(item)});
  }
}

void load_rate_limits(const Loader& loader, const Field& f, std::vector<RateLimitPolicy>& policies,
                      References& refs) {
  loader.recover([&] { RateLimitsLoader(loader).load(f, policies, refs); });
}

}  // namespace ringgate::config_detail
