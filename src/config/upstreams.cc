// The `upstreams:` section: the clusters routes send requests to, with how each is balanced,
// pooled, health-checked and protected. A cluster is complete on its own; routes and aggregate
// backends find it by name in validate(), after the `jwks.NAME` clusters of auth.jwt issuers
// are added to it.

#include <cctype>

#include "config/sections.h"

namespace ringgate::config_detail {
namespace {

// Bounds. Each one is documented next to its option in conf/ringgate.yaml.
constexpr uint32_t kMaxEndpointWeight = 1000;
constexpr uint32_t kMaxKeepalive = 100000;
constexpr uint32_t kMaxRequestsPerConnection = 10000000;
constexpr uint32_t kMaxCircuitLimit = 10000000;
constexpr uint32_t kMaxConsecutive = 1000;  // outlier and circuit failure counts
constexpr uint32_t kMaxThreshold = 100;     // health check pass/fail streaks
constexpr uint32_t kMaxRetryConcurrency = 100000;
constexpr Duration kMaxConnectTimeout{5 * 60 * 1000};
constexpr Duration kMinHealthInterval{100};

struct BalanceName {
  std::string_view name;
  BalanceKind kind;
};

constexpr BalanceName kBalanceNames[] = {
    {"round_robin", BalanceKind::kRoundRobin},
    {"least_request", BalanceKind::kLeastRequest},
    {"p2c", BalanceKind::kP2C},
    {"ring_hash", BalanceKind::kRingHash},
    {"maglev", BalanceKind::kMaglev},
};

std::string_view balance_name(BalanceKind kind) {
  for (const BalanceName& b : kBalanceNames) {
    if (b.kind == kind) {
      return b.name;
    }
  }
  return "?";
}

class UpstreamsLoader : public Loader {
 public:
  explicit UpstreamsLoader(const Loader& loader) : Loader(loader) {}

  void load(const Field& f, std::vector<UpstreamConfig>& upstreams, References& refs) const;

 private:
  UpstreamConfig load_upstream(const Field& f, std::string name, const YAML::Mark& key) const;
  void load_endpoints(const Field& f, std::vector<EndpointConfig>& endpoints) const;
  // `canonical` gets the address spelled so that duplicates compare equal.
  EndpointConfig load_endpoint(const Field& f, std::string& canonical) const;
  BalanceKind load_balance(const Field& f) const;
  HashKeyConfig load_hash_key(const Field& f) const;
  void load_health(const Field& f, HealthCheckConfig& health) const;
  void load_outlier(const Field& f, OutlierConfig& outlier) const;
  void load_circuit(const Field& f, CircuitConfig& circuit) const;
  void load_retry_budget(const Field& f, RetryBudgetConfig& budget) const;
};

// Cluster names are a map's keys, so duplicates and bad names are reported at the key. A cluster
// with a problem is left out and the next one read.
void UpstreamsLoader::load(const Field& f, std::vector<UpstreamConfig>& upstreams,
                           References& refs) const {
  if (f.node.IsNull()) {
    return;
  }
  if (!f.node.IsMap()) {
    refs.clusters.all = true;
    fail(f, "expected a map of cluster names to clusters, got " + describe(f.node));
  }
  for (auto it = f.node.begin(); it != f.node.end(); ++it) {
    const YAML::Node key = it->first;  // a copy: it-> yields a temporary proxy
    const std::string name = key.IsScalar() ? key.Scalar() : "";
    const bool loaded = recover([&] {
      if (!key.IsScalar()) {
        fail_at(key.Mark(), f.path + ": cluster names must be plain names, got " + describe(key));
      }
      if (!is_cluster_name(name)) {
        fail_at(key.Mark(), f.path + ": cluster name " + quote(name) + " must be 1 to " +
                                std::to_string(kMaxClusterName) +
                                " characters: letters, digits, '_', '.' and '-'");
      }
      for (const UpstreamConfig& earlier : upstreams) {
        if (earlier.name == name) {
          fail_at(key.Mark(), f.path + ": duplicate upstream " + quote(name) + " (first at line " +
                                  std::to_string(earlier.mark.line) + ")");
        }
      }
      upstreams.push_back(load_upstream(child(f, name, key, it->second), name, key.Mark()));
    });
    if (!loaded) {
      refs.clusters.names.push_back(name);
    }
  }
}

UpstreamConfig UpstreamsLoader::load_upstream(const Field& f, std::string name,
                                              const YAML::Mark& key) const {
  const Section s(*this, f,
                  {"endpoints", "balance", "hash_key", "keepalive", "keepalive_timeout",
                   "max_requests_per_connection", "connect_timeout", "dns_refresh", "health",
                   "outlier", "circuit", "retry_budget", "host", "tls", "protocol"});
  UpstreamConfig up;
  up.name = std::move(name);
  up.mark = source_mark(key);
  const Field* endpoints = s.find("endpoints");
  if (!endpoints) {
    fail(f, "missing 'endpoints' (e.g. endpoints: [\"10.0.0.1:8080\"])");
  }
  load_endpoints(*endpoints, up.endpoints);
  const Field* balance = s.find("balance");
  if (balance) {
    up.balance = load_balance(*balance);
  }
  if (const Field* v = s.find("hash_key")) {
    // A key given to a policy that never hashes would be silently ignored.
    if (up.balance != BalanceKind::kRingHash && up.balance != BalanceKind::kMaglev) {
      fail(*v, "only balance ring_hash or maglev hashes requests, but balance is " +
                   std::string(balance_name(up.balance)) + (balance ? "" : " (the default)"));
    }
    up.hash_key = load_hash_key(*v);
  }
  if (const Field* v = s.find("keepalive")) {
    const bool digits = v->node.IsScalar() && !v->node.Scalar().empty() &&
                        std::isdigit(static_cast<unsigned char>(v->node.Scalar()[0]));
    if (v->node.IsScalar() && v->node.Scalar() == "unlimited") {
      up.keepalive = kKeepaliveUnlimited;
    } else if (!digits) {
      fail(*v, "expected a whole number or unlimited, got '" + v->node.Scalar() + "'");
    } else {
      up.keepalive = static_cast<uint32_t>(read_number(*v, 0, kMaxKeepalive));
    }
  }
  if (const Field* v = s.find("keepalive_timeout")) {
    up.keepalive_timeout = read_duration(*v, kOneSecond, kOneHour);
  }
  if (const Field* v = s.find("max_requests_per_connection")) {
    up.max_requests_per_connection =
        static_cast<uint32_t>(read_number(*v, 0, kMaxRequestsPerConnection));
  }
  if (const Field* v = s.find("host")) {
    up.host = read_host(*v, &up.host_value);
  }
  if (const Field* v = s.find("connect_timeout")) {
    up.connect_timeout = read_duration(*v, kMinTimeout, kMaxConnectTimeout);
  }
  if (const Field* v = s.find("dns_refresh")) {
    up.dns_refresh = read_duration_or_off(*v, kOneSecond, kMaxTimeout);
  }
  if (const Field* v = s.find("health")) {
    up.health.enabled = true;  // even `health: {}`: checks with every default
    load_health(*v, up.health);
  }
  if (const Field* v = s.find("outlier")) {
    load_outlier(*v, up.outlier);
  }
  if (const Field* v = s.find("circuit")) {
    load_circuit(*v, up.circuit);
  }
  if (const Field* v = s.find("retry_budget")) {
    load_retry_budget(*v, up.retry_budget);
  }
  if (const Field* v = s.find("protocol")) {
    const std::string p = read_string(*v);
    if (p == "h2") {
      up.protocol = UpstreamProtocol::kH2;
    } else if (p != "http1") {
      fail(*v, "unknown protocol \"" + p + "\": expected http1 or h2");
    }
  }
  if (const Field* v = s.find("tls")) {
    up.tls = load_upstream_tls(*this, *v, up.protocol == UpstreamProtocol::kH2);
  }
  if (const Field* v = s.find("health"); v && up.protocol == UpstreamProtocol::kH2) {
    // An HTTP/2-only endpoint would fail every HTTP/1.1 check and be taken out for good.
    fail(*v,
         "active health checks speak HTTP/1.1 and cannot check a protocol: h2 cluster; "
         "outlier detection (outlier:) still takes failing endpoints out");
  }
  return up;
}

void UpstreamsLoader::load_endpoints(const Field& f, std::vector<EndpointConfig>& endpoints) const {
  if (!f.node.IsSequence()) {
    fail(f, "expected a list of endpoints like [\"10.0.0.1:8080\"], got " + describe(f.node));
  }
  if (f.node.size() == 0) {
    fail(f, "at least one endpoint is required");
  }
  std::vector<std::string> canonical;  // parallel to `endpoints`
  size_t i = 0;
  for (auto it = f.node.begin(); it != f.node.end(); ++it, ++i) {
    const Field v = item(f, i, *it);
    std::string same;
    EndpointConfig endpoint = load_endpoint(v, same);
    for (size_t j = 0; j < endpoints.size(); ++j) {
      if (canonical[j] == same) {
        const std::string spelled =
            endpoints[j].address == endpoint.address ? "" : " as " + quote(endpoints[j].address);
        throw ConfigError(endpoint.mark, v.path + ": duplicate endpoint " +
                                             quote(endpoint.address) + " (first at line " +
                                             std::to_string(endpoints[j].mark.line) + spelled +
                                             ")");
      }
    }
    canonical.push_back(std::move(same));
    endpoints.push_back(std::move(endpoint));
  }
}

// An endpoint is "host:port", or an {address, weight} map when its weight is not 1.
EndpointConfig UpstreamsLoader::load_endpoint(const Field& f, std::string& canonical) const {
  const auto read_address = [&](const Field& v) {
    const std::string text = scalar(v, "an address like \"10.0.0.1:8080\"");
    if (auto problem = host_port_problem(text, true, &canonical)) {
      fail(v, quote(text) + " is not a valid endpoint: " + *problem);
    }
    return text;
  };
  EndpointConfig endpoint;
  if (f.node.IsScalar()) {
    endpoint.address = read_address(f);
    endpoint.mark = source_mark(f.mark);
    return endpoint;
  }
  if (!f.node.IsMap()) {
    fail(f,
         "expected \"host:port\" or an {address: ..., weight: ...} map, got " + describe(f.node));
  }
  const Section s(*this, f, {"address", "weight"});
  const Field* address = s.find("address");
  if (!address) {
    fail(f, "missing 'address'");
  }
  endpoint.address = read_address(*address);
  endpoint.mark = source_mark(address->mark);
  if (const Field* v = s.find("weight")) {
    endpoint.weight = static_cast<uint32_t>(read_number(*v, 1, kMaxEndpointWeight));
  }
  return endpoint;
}

BalanceKind UpstreamsLoader::load_balance(const Field& f) const {
  const std::string text = scalar(f, "a balance policy");
  std::vector<std::string_view> names;
  for (const BalanceName& b : kBalanceNames) {
    if (b.name == text) {
      return b.kind;
    }
    names.push_back(b.name);
  }
  fail(f, "expected one of " + join(names) + ", got " + quote(text));
}

HashKeyConfig UpstreamsLoader::load_hash_key(const Field& f) const {
  const std::string text = scalar(f, "client_ip, header:NAME or cookie:NAME");
  HashKeyConfig key;
  if (text == "client_ip") {
    return key;
  }
  const size_t colon = text.find(':');
  const std::string kind = colon == std::string::npos ? text : text.substr(0, colon);
  const std::string name = colon == std::string::npos ? "" : text.substr(colon + 1);
  if (colon == std::string::npos || (kind != "header" && kind != "cookie")) {
    fail(f, "expected client_ip, header:NAME or cookie:NAME, got " + quote(text));
  }
  if (name.empty()) {
    fail(f, "missing the " + kind + " name after '" + kind + ":'");
  }
  // Cookie names are tokens too (RFC 6265 §4.1.1).
  if (!is_token(name)) {
    fail(f,
         quote(name) + " is not a valid " + kind + " name (letters, digits and !#$%&'*+-.^_`|~)");
  }
  if (kind == "header") {
    key.kind = HashKeyConfig::Kind::kHeader;
    key.name = ascii_lower(name);  // header names are case-insensitive; cookie names are not
  } else {
    key.kind = HashKeyConfig::Kind::kCookie;
    key.name = name;
  }
  return key;
}

void UpstreamsLoader::load_health(const Field& f, HealthCheckConfig& health) const {
  const Section s(*this, f,
                  {"path", "interval", "timeout", "healthy_threshold", "unhealthy_threshold"});
  if (const Field* v = s.find("path")) {
    health.path = scalar(*v, "a path starting with '/'");
    if (auto problem = request_path_problem(health.path, true)) {
      fail(*v, *problem);
    }
  }
  const Field* interval = s.find("interval");
  if (interval) {
    health.interval = read_duration(*interval, kMinHealthInterval, kOneHour);
  }
  const Field* timeout = s.find("timeout");
  if (timeout) {
    health.timeout = read_duration(*timeout, kMinTimeout, kOneMinute);
  }
  if (const Field* v = s.find("healthy_threshold")) {
    health.healthy_threshold = static_cast<uint32_t>(read_number(*v, 1, kMaxThreshold));
  }
  if (const Field* v = s.find("unhealthy_threshold")) {
    health.unhealthy_threshold = static_cast<uint32_t>(read_number(*v, 1, kMaxThreshold));
  }
  // A check still running when the next is due would overlap it.
  check_not_above(timeout, interval, s.self(), "timeout", health.timeout, "interval",
                  health.interval);
}

void UpstreamsLoader::load_outlier(const Field& f, OutlierConfig& outlier) const {
  const Section s(*this, f,
                  {"consecutive_5xx", "consecutive_connect_failures", "base_ejection",
                   "max_ejection", "max_ejection_percent"});
  if (const Field* v = s.find("consecutive_5xx")) {
    outlier.consecutive_5xx = static_cast<uint32_t>(read_number(*v, 0, kMaxConsecutive));
  }
  if (const Field* v = s.find("consecutive_connect_failures")) {
    outlier.consecutive_connect_failures =
        static_cast<uint32_t>(read_number(*v, 0, kMaxConsecutive));
  }
  const Field* base = s.find("base_ejection");
  if (base) {
    outlier.base_ejection = read_duration(*base, kMinTimeout, kOneHour);
  }
  const Field* max = s.find("max_ejection");
  if (max) {
    outlier.max_ejection = read_duration(*max, kMinTimeout, kMaxTimeout);
  }
  if (const Field* v = s.find("max_ejection_percent")) {
    outlier.max_ejection_percent = static_cast<uint32_t>(read_number(*v, 0, 100));
  }
  check_not_above(base, max, s.self(), "base_ejection", outlier.base_ejection, "max_ejection",
                  outlier.max_ejection);
}

void UpstreamsLoader::load_circuit(const Field& f, CircuitConfig& circuit) const {
  const Section s(
      *this, f,
      {"max_connections", "max_pending", "max_requests", "consecutive_failures", "open_for"});
  if (const Field* v = s.find("max_connections")) {
    circuit.max_connections = static_cast<uint32_t>(read_number(*v, 1, kMaxCircuitLimit));
  }
  if (const Field* v = s.find("max_pending")) {
    circuit.max_pending = static_cast<uint32_t>(read_number(*v, 1, kMaxCircuitLimit));
  }
  if (const Field* v = s.find("max_requests")) {
    circuit.max_requests = static_cast<uint32_t>(read_number(*v, 1, kMaxCircuitLimit));
  }
  if (const Field* v = s.find("consecutive_failures")) {
    circuit.consecutive_failures = static_cast<uint32_t>(read_number(*v, 0, kMaxConsecutive));
  }
  if (const Field* v = s.find("open_for")) {
    circuit.open_for = read_duration(*v, kMinTimeout, kOneHour);
  }
}

void UpstreamsLoader::load_retry_budget(const Field& f, RetryBudgetConfig& budget) const {
  const Section s(*this, f, {"percent", "min_concurrent"});
  if (const Field* v = s.find("percent")) {
    budget.percent = static_cast<uint32_t>(read_number(*v, 0, 100));
  }
  if (const Field* v = s.find("min_concurrent")) {
    budget.min_concurrent = static_cast<uint32_t>(read_number(*v, 0, kMaxRetryConcurrency));
  }
}

}  // namespace

void load_upstreams(const Loader& loader, const Field& f, std::vector<UpstreamConfig>& upstreams,
                    References& refs) {
  loader.recover([&] { UpstreamsLoader(loader).load(f, upstreams, refs); });
}

}  // namespace ringgate::config_detail
