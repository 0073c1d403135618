// YAML → validated Config. The schema and every default are documented in conf/ringgate.yaml.
//
// Every problem is reported as "FILE:LINE:COLUMN: path.to.key: reason", pointing at the offending
// key or value, and the first problem ends the load: a gateway must not start on a config that
// says something other than what its author meant.

#include "ringgate/config/config.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <unistd.h>
#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <optional>
#include <string_view>
#include <utility>

#include "ringgate/http/method.h"
#include "ringgate/net/address.h"

namespace ringgate {
namespace {

constexpr uint64_t kKiB = 1024;
constexpr uint64_t kMiB = 1024 * kKiB;
constexpr uint64_t kGiB = 1024 * kMiB;
constexpr uint64_t kTiB = 1024 * kGiB;

// Bounds. Each one is documented next to its option in conf/ringgate.yaml.
constexpr uint32_t kMaxWorkers = 1024;
constexpr uint64_t kMinBufferSize = 1 * kKiB;
constexpr uint64_t kMaxBufferSize = 64 * kKiB;  // buffer offsets are 16-bit
constexpr uint32_t kMaxBufferCount = 32768;     // kernel limit on a provided-buffer ring
constexpr uint64_t kMinRequestLine = 64;        // room for a method, a short target and the version
constexpr uint64_t kMinHeaderBytes = 1 * kKiB;
constexpr uint64_t kMaxHeaderBytes = 64 * kKiB;
constexpr uint32_t kMaxHeaders = 1000;
constexpr uint64_t kMaxBodyBytes = 1 * kTiB;
constexpr uint32_t kMaxConnections = 1 << 20;  // a typical hard RLIMIT_NOFILE
constexpr Duration kMinTimeout{1};
constexpr Duration kMaxTimeout{24 * 60 * 60 * 1000};
constexpr Duration kMaxDrainTimeout{60 * 60 * 1000};
// Waiting longer than this for a batch costs more latency than any batch saves.
constexpr uint64_t kMaxBatchWaitUs = 10000;
constexpr uint32_t kMinRingEntries = 64;
constexpr uint32_t kMaxRingEntries = 32768;  // IORING_MAX_ENTRIES
constexpr uint32_t kMaxBacklog = 65535;
constexpr size_t kMaxServerHeader = 256;
constexpr size_t kMaxRouteName = 128;
constexpr size_t kMaxQuotedValue = 60;  // longer values are cut in error messages
// Upstream clusters.
constexpr size_t kMaxClusterName = 64;
constexpr uint32_t kMaxTrustedHops = 16;
constexpr uint32_t kMaxEndpointWeight = 1000;
constexpr uint32_t kMaxKeepalive = 100000;
constexpr uint32_t kMaxRequestsPerConnection = 10000000;
constexpr uint32_t kMaxCircuitLimit = 10000000;
constexpr uint32_t kMaxConsecutive = 1000;  // outlier and circuit failure counts
constexpr uint32_t kMaxThreshold = 100;     // health check pass/fail streaks
constexpr uint32_t kMaxRetryConcurrency = 100000;
constexpr uint32_t kMaxRetries = 10;
constexpr Duration kOneSecond{1000};
constexpr Duration kOneMinute{60 * 1000};
constexpr Duration kOneHour{60 * 60 * 1000};
constexpr Duration kMaxConnectTimeout{5 * 60 * 1000};
constexpr Duration kMinHealthInterval{100};
constexpr size_t kMaxHostName = 253;  // RFC 1035 §2.3.4
constexpr size_t kMaxHostLabel = 63;

// ---------------------------------------------------------------------------------------------
// Formatting for messages.

std::string format_mark(const SourceMark& mark) {
  if (mark.line <= 0) {
    return mark.file;
  }
  return mark.file + ":" + std::to_string(mark.line) + ":" + std::to_string(mark.column);
}

std::string quote(std::string_view text) {
  std::string out = "'";
  const size_t n = text.size() > kMaxQuotedValue ? kMaxQuotedValue : text.size();
  for (size_t i = 0; i < n; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x20 || c == 0x7f) {
      // Control bytes would garble the terminal the message is printed on.
      static const char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  if (n < text.size()) {
    out += "...";
  }
  out += "'";
  return out;
}

std::string format_size(uint64_t bytes) {
  struct Unit {
    uint64_t factor;
    const char* suffix;
  };
  static constexpr Unit kUnits[] = {{kTiB, "TiB"}, {kGiB, "GiB"}, {kMiB, "MiB"}, {kKiB, "KiB"}};
  for (const Unit& unit : kUnits) {
    if (bytes != 0 && bytes % unit.factor == 0) {
      return std::to_string(bytes / unit.factor) + unit.suffix;
    }
  }
  return std::to_string(bytes) + " bytes";
}

std::string format_duration(Duration d) {
  const auto ms = d.count();
  if (ms != 0 && ms % 3600000 == 0) {
    return std::to_string(ms / 3600000) + "h";
  }
  if (ms != 0 && ms % 60000 == 0) {
    return std::to_string(ms / 60000) + "m";
  }
  if (ms != 0 && ms % 1000 == 0) {
    return std::to_string(ms / 1000) + "s";
  }
  return std::to_string(ms) + "ms";
}

std::string join(const std::vector<std::string_view>& items) {
  std::string out;
  for (std::string_view item : items) {
    if (!out.empty()) {
      out += ", ";
    }
    out += item;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Small checks shared by several options.

char ascii_lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

std::string ascii_lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    c = ascii_lower(c);
  }
  return out;
}

bool is_power_of_two(uint64_t v) {
  return v != 0 && (v & (v - 1)) == 0;
}

// RFC 9110 §5.6.2 tchar.
bool is_token_char(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
    return true;
  }
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool is_token(std::string_view text) {
  if (text.empty()) {
    return false;
  }
  for (char c : text) {
    if (!is_token_char(c)) {
      return false;
    }
  }
  return true;
}

// A field value (RFC 9110 §5.5) may hold HTAB but no other control byte; CR, LF and NUL in
// particular would let a config value split or truncate the response head.
std::optional<std::string> field_value_problem(std::string_view value) {
  for (char ch : value) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '\r' || c == '\n') {
      return "must not contain CR or LF";
    }
    if (c == 0) {
      return "must not contain NUL";
    }
    if ((c < 0x20 && c != '\t') || c == 0x7f) {
      return "must not contain control characters";
    }
  }
  return std::nullopt;
}

// "host:port" as an endpoint or a Host header value: host is an IPv4 address, a bracketed IPv6
// address or a DNS name. Syntax only; names are resolved later, off the loader. `canonical`
// (when given) gets a spelling in which two ways of writing one address compare equal.
std::optional<std::string> host_port_problem(std::string_view text, bool port_required,
                                             std::string* canonical) {
  if (text.empty()) {
    return "empty";
  }
  std::string_view host;
  std::string_view port;
  bool has_port = false;
  if (text.front() == '[') {
    const size_t close = text.find(']');
    if (close == std::string_view::npos) {
      return "unterminated IPv6 literal (expected [addr]:port)";
    }
    host = text.substr(1, close - 1);
    const std::string_view rest = text.substr(close + 1);
    if (!rest.empty() && rest.front() != ':') {
      return "expected ':' and a port after ']'";
    }
    has_port = !rest.empty();
    port = has_port ? rest.substr(1) : std::string_view();
    in6_addr ignored{};
    if (inet_pton(AF_INET6, std::string(host).c_str(), &ignored) != 1) {
      return "not a numeric IPv6 address inside [...]";
    }
  } else {
    const size_t colon = text.rfind(':');
    has_port = colon != std::string_view::npos;
    host = text.substr(0, has_port ? colon : text.size());
    port = has_port ? text.substr(colon + 1) : std::string_view();
    if (host.find(':') != std::string_view::npos) {
      return "IPv6 addresses must be written [addr]:port";
    }
    if (host.empty()) {
      return "missing the host before ':'";
    }
    if (host.find_first_not_of("0123456789.") == std::string_view::npos) {
      in_addr ignored{};
      if (inet_pton(AF_INET, std::string(host).c_str(), &ignored) != 1) {
        return "not a valid IPv4 address";
      }
    } else {
      if (host.size() > kMaxHostName) {
        return "host name longer than " + std::to_string(kMaxHostName) + " characters";
      }
      size_t start = 0;
      while (start <= host.size()) {
        const size_t dot = std::min(host.find('.', start), host.size());
        const std::string_view label = host.substr(start, dot - start);
        if (label.empty() || label.size() > kMaxHostLabel) {
          return "not a host name: each dot-separated part must be 1 to " +
                 std::to_string(kMaxHostLabel) + " characters";
        }
        for (char c : label) {
          const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                          (c >= '0' && c <= '9') || c == '-' || c == '_';
          if (!ok) {
            return "not a host name (letters, digits, '-', '.' and '_' only)";
          }
        }
        if (label.front() == '-' || label.back() == '-') {
          return "not a host name: a part may not begin or end with '-'";
        }
        start = dot + 1;
      }
    }
  }
  if (!has_port && port_required) {
    return "missing the port (expected host:port)";
  }
  if (has_port) {
    unsigned value = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (port.empty() || ec != std::errc() || end != port.data() + port.size() || value == 0 ||
        value > 65535) {
      return "the port must be a number 1..65535";
    }
  }
  if (canonical) {
    SocketAddress address;
    if (has_port && parse_socket_address(text, address)) {
      *canonical = address.to_string();
    } else {
      *canonical = ascii_lower(text);
    }
  }
  return std::nullopt;
}

// A path the gateway itself puts in a request line (health checks, rewrites): no byte that
// would end the target or be read as a fragment.
std::optional<std::string> request_path_problem(std::string_view path, bool query_allowed) {
  if (path.empty() || path.front() != '/') {
    return "must start with '/', got " + quote(path);
  }
  for (char ch : path) {
    const auto c = static_cast<unsigned char>(ch);
    if (c <= 0x20 || c == 0x7f) {
      return std::string("must not contain spaces or control characters (percent-encode them)");
    }
    if (c == '#') {
      return std::string("must not contain '#'");
    }
    if (c == '?' && !query_allowed) {
      return std::string("must not contain '?'; the query string is always kept");
    }
  }
  return std::nullopt;
}

// ---------------------------------------------------------------------------------------------
// The loader.

// A node of the document, its dotted path for messages, and where to point at it. A value left
// empty (`key:`) has no useful position of its own, so it points at its key.
struct Field {
  YAML::Node node;
  std::string path;
  YAML::Mark mark;
};

class Loader;

// The entries of one YAML map, checked on construction against the keys that section allows:
// unknown, duplicate and non-scalar keys are errors. An empty value (`limits:`) is an empty map.
class Section {
 public:
  Section(const Loader& loader, const Field& field, const std::vector<std::string_view>& keys);

  const Field& self() const { return self_; }
  const Field* find(std::string_view key) const {
    for (const auto& [name, field] : entries_) {
      if (name == key) {
        return &field;
      }
    }
    return nullptr;
  }

 private:
  Field self_;
  std::vector<std::pair<std::string, Field>> entries_;
};

class Loader {
 public:
  explicit Loader(std::string source) : source_(std::move(source)) {}

  Config load(const YAML::Node& root);

  SourceMark source_mark(const YAML::Mark& mark) const {
    SourceMark out;
    out.file = source_;
    if (!mark.is_null()) {
      out.line = mark.line + 1;
      out.column = mark.column + 1;
    }
    return out;
  }
  [[noreturn]] void fail_at(const YAML::Mark& mark, const std::string& reason) const {
    throw ConfigError(source_mark(mark), reason);
  }
  [[noreturn]] void fail(const Field& field, const std::string& reason) const {
    fail_at(field.mark, field.path + ": " + reason);
  }

  static Field child(const Field& parent, std::string_view key, const YAML::Node& key_node,
                     const YAML::Node& value) {
    Field f;
    f.node = value;
    f.path = parent.path.empty() ? std::string(key) : parent.path + "." + std::string(key);
    f.mark = value.IsNull() || value.Mark().is_null() ? key_node.Mark() : value.Mark();
    return f;
  }
  static Field item(const Field& parent, size_t index, const YAML::Node& value) {
    Field f;
    f.node = value;
    f.path = parent.path + "[" + std::to_string(index) + "]";
    f.mark = value.IsNull() || value.Mark().is_null() ? parent.mark : value.Mark();
    return f;
  }

  // Scalars --------------------------------------------------------------------------------

  static std::string describe(const YAML::Node& node) {
    switch (node.Type()) {
      case YAML::NodeType::Map:
        return "a map";
      case YAML::NodeType::Sequence:
        return "a list";
      case YAML::NodeType::Scalar:
        return quote(node.Scalar());
      default:
        return "an empty value";
    }
  }

  std::string scalar(const Field& f, std::string_view expected) const {
    if (!f.node.IsScalar()) {
      fail(f, "expected " + std::string(expected) + ", got " + describe(f.node));
    }
    return f.node.Scalar();
  }

  std::string read_string(const Field& f) const { return scalar(f, "a string"); }

  // Only the YAML 1.2 spellings: `yes`/`on` are booleans in YAML 1.1 but strings in 1.2, and a
  // config should not depend on which one a reader implements.
  bool read_bool(const Field& f) const {
    const std::string s = scalar(f, "true or false");
    if (s == "true" || s == "True" || s == "TRUE") {
      return true;
    }
    if (s == "false" || s == "False" || s == "FALSE") {
      return false;
    }
    fail(f, "expected true or false, got " + quote(s));
  }

  uint64_t read_number(const Field& f, uint64_t min, uint64_t max) const {
    const std::string s = scalar(f, "a whole number");
    uint64_t v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || ec != std::errc() || end != s.data() + s.size()) {
      fail(f, "expected a whole number, got " + quote(s));
    }
    if (v < min || v > max) {
      fail(f,
           "must be between " + std::to_string(min) + " and " + std::to_string(max) + ", got " + s);
    }
    return v;
  }

  uint32_t read_power_of_two(const Field& f, uint32_t min, uint32_t max) const {
    const uint64_t v = read_number(f, min, max);
    if (!is_power_of_two(v)) {
      fail(f, "must be a power of two (" + std::to_string(min) + ", " + std::to_string(min * 2) +
                  ", ... " + std::to_string(max) + "), got " + std::to_string(v));
    }
    return static_cast<uint32_t>(v);
  }

  // Whether `text` failed to parse only because its number is too large: the same unit after a
  // small number parses.
  template <typename Parse>
  static bool overflowed(const std::string& text, Parse parse) {
    const size_t digits = text.find_first_not_of("0123456789");
    if (digits == 0) {
      return false;
    }
    return parse("1" + (digits == std::string::npos ? std::string() : text.substr(digits)));
  }

  uint64_t read_size(const Field& f, uint64_t min, uint64_t max) const {
    const std::string s = scalar(f, "a size like 16KiB");
    uint64_t v = 0;
    if (!parse_size(s, v)) {
      if (overflowed(s, [](const std::string& t) {
            uint64_t ignored = 0;
            return parse_size(t, ignored);
          })) {
        fail(f, quote(s) + " is too large; the most is " + format_size(max));
      }
      fail(f, "expected a size like 16KiB, got " + quote(s) +
                  " (units: B, KiB, MiB, GiB, TiB = powers of 1024; KB, MB, GB, TB = powers of "
                  "1000; no space before the unit)");
    }
    if (v < min || v > max) {
      fail(f, "must be between " + format_size(min) + " and " + format_size(max) + ", got " + s);
    }
    return v;
  }

  Duration read_duration(const Field& f, Duration min, Duration max) const {
    const std::string s = scalar(f, "a duration like 300ms, 60s, 2m or 1h");
    Duration v{};
    if (!parse_duration(s, v)) {
      if (overflowed(s, [](const std::string& t) {
            Duration ignored{};
            return parse_duration(t, ignored);
          })) {
        fail(f, quote(s) + " is too long; the most is " + format_duration(max));
      }
      std::string reason = "expected a duration like 300ms, 60s, 2m or 1h, got " + quote(s);
      const bool bare_number = !s.empty() && s.find_first_not_of("0123456789") == s.npos;
      if (bare_number) {
        reason += " (a unit is required: ms, s, m or h)";
      }
      fail(f, reason);
    }
    if (v < min || v > max) {
      fail(f, "must be between " + format_duration(min) + " and " + format_duration(max) +
                  ", got " + s);
    }
    return v;
  }

  std::string read_address(const Field& f) const {
    const std::string s = scalar(f, "an address like \"0.0.0.0:8080\"");
    SocketAddress address;
    std::string error;
    if (!parse_socket_address(s, address, &error)) {
      fail(f, quote(s) + " is not a valid address: " + error);
    }
    return s;
  }

  // Sections ---------------------------------------------------------------------------------

  void load_server(const Field& f, ServerConfig& server) const;
  void load_listen(const Field& f, std::vector<ListenConfig>& out) const;
  ListenConfig load_listener(const Field& f) const;
  void load_limits(const Field& f, const BufferConfig& buffers, const Field* buffers_field,
                   Limits& limits) const;
  // Returns whether `listen` was given.
  bool load_admin(const Field& f, AdminConfig& admin) const;
  void check_listener_overlap(const Config& config, bool admin_listen_given) const;
  void load_routes(const Field& f, std::vector<RouteConfig>& routes) const;
  RouteConfig load_route(const Field& f, size_t index) const;
  void load_match(const Field& f, RouteMatch& match) const;
  std::string load_path(const Field& f, RouteMatch::Kind kind) const;
  std::string load_host(const Field& f) const;
  std::vector<std::string> load_methods(const Field& f) const;

  // Upstream clusters ---------------------------------------------------------------------------

  void load_upstreams(const Field& f, std::vector<UpstreamConfig>& upstreams) const;
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
  // 0 (with or without a unit) turns the option off; anything else must lie in min..max.
  Duration read_duration_or_off(const Field& f, Duration min, Duration max) const;
  // `smaller` must not exceed `larger`. The message points at the smaller option when it was
  // given, else at the larger one, else at the section holding both defaults.
  void check_not_above(const Field* smaller, const Field* larger, const Field& section,
                       std::string_view smaller_key, Duration smaller_value,
                       std::string_view larger_key, Duration larger_value) const;

  // Route actions -----------------------------------------------------------------------------
  //
  // A route has exactly one action, chosen by which of these keys it holds. A new action
  // (upstream, aggregate, ...) is an alternative in RouteAction (config.h), a parse function here
  // and one row in kActions below; nothing else in the loader changes.

  RouteAction load_direct(const Field& f) const;
  void load_direct_headers(const Field& f, DirectResponse& direct) const;
  RouteAction load_upstream_action(const Field& f) const;
  std::string load_action_path(const Field& f) const;

  struct ActionParser {
    std::string_view key;
    RouteAction (Loader::*parse)(const Field&) const;
  };
  static constexpr ActionParser kActions[] = {
      {"direct", &Loader::load_direct},
      {"upstream", &Loader::load_upstream_action},
  };

 private:
  std::string source_;
  // The clusters, loaded before the routes that name them.
  const std::vector<UpstreamConfig>* upstreams_ = nullptr;
};

Section::Section(const Loader& loader, const Field& field,
                 const std::vector<std::string_view>& keys)
    : self_(field) {
  if (field.node.IsNull()) {
    return;
  }
  if (!field.node.IsMap()) {
    if (field.path.empty()) {
      loader.fail_at(field.mark, "expected a map with keys " + join(keys) +
                                     " at the top level, got " + Loader::describe(field.node));
    }
    loader.fail(field, "expected a map, got " + Loader::describe(field.node));
  }
  const std::string where = field.path.empty() ? "at the top level" : "in '" + field.path + "'";
  for (auto it = field.node.begin(); it != field.node.end(); ++it) {
    const YAML::Node key = it->first;  // a copy: it-> yields a temporary proxy
    if (!key.IsScalar()) {
      loader.fail_at(key.Mark(),
                     "keys must be plain names, got " + Loader::describe(key) + " " + where);
    }
    const std::string& name = key.Scalar();
    bool known = false;
    for (std::string_view k : keys) {
      known = known || k == name;
    }
    if (!known) {
      loader.fail_at(key.Mark(), "unknown key " + quote(name) + " " + where +
                                     " (expected one of: " + join(keys) + ")");
    }
    if (const Field* first = find(name)) {
      loader.fail_at(key.Mark(), "duplicate key " + quote(name) + " " + where + " (first at line " +
                                     std::to_string(loader.source_mark(first->mark).line) + ")");
    }
    entries_.emplace_back(name, Loader::child(field, name, key, it->second));
  }
}

Config Loader::load(const YAML::Node& root) {
  Config config;
  config.source = source_;
  Field top{root, "", root.Mark()};
  if (top.mark.is_null()) {
    top.mark = YAML::Mark();  // an empty document: point at its start
  }
  const Section section(*this, top, {"server", "admin", "upstreams", "routes"});

  const Field* server = section.find("server");
  if (server) {
    load_server(*server, config.server);
  }
  if (config.server.listen.empty()) {
    const Field& where = server ? *server : top;
    fail_at(where.mark,
            "server.listen: at least one listener is required, e.g. "
            "listen: \"0.0.0.0:8080\"");
  }
  const Field* admin = section.find("admin");
  bool admin_listen_given = false;
  if (admin) {
    admin_listen_given = load_admin(*admin, config.admin);
  } else {
    config.admin.mark = source_mark(top.mark);
  }
  check_listener_overlap(config, admin_listen_given);
  // Routes refer to clusters by name, so the clusters come first whatever the order in the file.
  if (const Field* upstreams = section.find("upstreams")) {
    load_upstreams(*upstreams, config.upstreams);
  }
  upstreams_ = &config.upstreams;
  if (const Field* routes = section.find("routes")) {
    load_routes(*routes, config.routes);
  }
  return config;
}

void Loader::load_server(const Field& f, ServerConfig& server) const {
  const Section s(
      *this, f,
      {"workers", "pin_cpus", "listen", "buffers", "limits", "drain_timeout", "server_header",
       "ring_entries", "backlog", "batch_wait", "trusted_hops", "hosts_file"});
  if (const Field* v = s.find("workers")) {
    if (v->node.IsScalar() && v->node.Scalar() == "auto") {
      server.workers = 0;
    } else if (v->node.IsScalar() && !v->node.Scalar().empty() &&
               v->node.Scalar().find_first_not_of("0123456789") == std::string::npos) {
      server.workers = static_cast<uint32_t>(read_number(*v, 1, kMaxWorkers));
    } else {
      fail(*v, "expected a number or 'auto', got " + describe(v->node));
    }
  }
  if (const Field* v = s.find("pin_cpus")) {
    server.pin_cpus = read_bool(*v);
  }
  if (const Field* v = s.find("listen")) {
    load_listen(*v, server.listen);
  }
  const Field* buffers = s.find("buffers");
  if (buffers) {
    const Section b(*this, *buffers, {"size", "count"});
    if (const Field* v = b.find("size")) {
      server.buffers.size = static_cast<uint32_t>(read_size(*v, kMinBufferSize, kMaxBufferSize));
    }
    if (const Field* v = b.find("count")) {
      server.buffers.count = read_power_of_two(*v, 1, kMaxBufferCount);
    }
  }
  if (const Field* v = s.find("limits")) {
    load_limits(*v, server.buffers, buffers, server.limits);
  } else {
    load_limits(Field{YAML::Node(), f.path + ".limits", f.mark}, server.buffers, buffers,
                server.limits);
  }
  if (const Field* v = s.find("drain_timeout")) {
    server.drain_timeout = read_duration(*v, Duration{0}, kMaxDrainTimeout);
  }
  if (const Field* v = s.find("batch_wait")) {
    const std::string text = scalar(*v, "a duration like 50us or 1ms");
    uint64_t us = 0;
    if (!parse_microseconds(text, us)) {
      fail(*v, "expected a duration like 50us or 1ms (units: us, ms, s), got " + quote(text));
    }
    if (us > kMaxBatchWaitUs) {
      fail(*v, "must be between 0us and 10ms, got " + text);
    }
    server.batch_wait_us = static_cast<uint32_t>(us);
  }
  if (const Field* v = s.find("server_header")) {
    server.server_header = read_string(*v);
    if (server.server_header.size() > kMaxServerHeader) {
      fail(*v, "longer than " + std::to_string(kMaxServerHeader) + " characters");
    }
    if (auto problem = field_value_problem(server.server_header)) {
      fail(*v, *problem);
    }
  }
  if (const Field* v = s.find("ring_entries")) {
    server.ring_entries = read_power_of_two(*v, kMinRingEntries, kMaxRingEntries);
  }
  if (const Field* v = s.find("backlog")) {
    server.backlog = static_cast<uint32_t>(read_number(*v, 1, kMaxBacklog));
  }
  if (const Field* v = s.find("trusted_hops")) {
    server.trusted_hops = static_cast<uint32_t>(read_number(*v, 0, kMaxTrustedHops));
  }
  if (const Field* v = s.find("hosts_file")) {
    server.hosts_file = read_string(*v);
    if (server.hosts_file.empty() || access(server.hosts_file.c_str(), R_OK) != 0) {
      fail(*v, "hosts_file \"" + server.hosts_file + "\" cannot be read");
    }
  }
}

// `listen` is a list of {address: ...} maps; a bare string, or a list of strings, is shorthand.
void Loader::load_listen(const Field& f, std::vector<ListenConfig>& out) const {
  if (f.node.IsScalar() || f.node.IsMap()) {
    out.push_back(load_listener(f));
    return;
  }
  if (!f.node.IsSequence()) {
    fail(f, "expected an address, a list of addresses or a list of {address: ...} maps, got " +
                describe(f.node));
  }
  if (f.node.size() == 0) {
    fail(f, "at least one listener is required, e.g. listen: \"0.0.0.0:8080\"");
  }
  size_t i = 0;
  for (auto it = f.node.begin(); it != f.node.end(); ++it, ++i) {
    out.push_back(load_listener(item(f, i, *it)));
  }
}

ListenConfig Loader::load_listener(const Field& f) const {
  ListenConfig listener;
  if (f.node.IsScalar()) {
    listener.address = read_address(f);
    listener.mark = source_mark(f.mark);
    return listener;
  }
  if (!f.node.IsMap()) {
    fail(f, "expected an address or an {address: ...} map, got " + describe(f.node));
  }
  const Section s(*this, f, {"address"});
  const Field* address = s.find("address");
  if (!address) {
    fail(f, "missing 'address'");
  }
  listener.address = read_address(*address);
  listener.mark = source_mark(address->mark);
  return listener;
}

void Loader::load_limits(const Field& f, const BufferConfig& buffers, const Field* buffers_field,
                         Limits& limits) const {
  const Section s(*this, f,
                  {"request_line", "header_bytes", "headers", "body_bytes", "connections",
                   "header_timeout", "idle_timeout", "request_timeout"});
  const Field* header_bytes = s.find("header_bytes");
  if (header_bytes) {
    limits.header_bytes =
        static_cast<uint32_t>(read_size(*header_bytes, kMinHeaderBytes, kMaxHeaderBytes));
  }
  const Field* request_line = s.find("request_line");
  if (request_line) {
    limits.request_line =
        static_cast<uint32_t>(read_size(*request_line, kMinRequestLine, kMaxHeaderBytes));
  }
  if (const Field* v = s.find("headers")) {
    limits.headers = static_cast<uint32_t>(read_number(*v, 1, kMaxHeaders));
  }
  if (const Field* v = s.find("body_bytes")) {
    limits.body_bytes = read_size(*v, 0, kMaxBodyBytes);
  }
  if (const Field* v = s.find("connections")) {
    limits.connections = static_cast<uint32_t>(read_number(*v, 1, kMaxConnections));
  }
  if (const Field* v = s.find("header_timeout")) {
    limits.header_timeout = read_duration(*v, kMinTimeout, kMaxTimeout);
  }
  if (const Field* v = s.find("idle_timeout")) {
    limits.idle_timeout = read_duration(*v, kMinTimeout, kMaxTimeout);
  }
  if (const Field* v = s.find("request_timeout")) {
    limits.request_timeout = read_duration(*v, kMinTimeout, kMaxTimeout);
  }

  // The request line is part of the head, so a larger line limit could never be reached.
  if (limits.request_line > limits.header_bytes) {
    const Field& where = request_line ? *request_line : (header_bytes ? *header_bytes : s.self());
    fail_at(where.mark, f.path + ".request_line (" + format_size(limits.request_line) +
                            ") must not exceed " + f.path + ".header_bytes (" +
                            format_size(limits.header_bytes) + ")");
  }
  // A request head waits in ring buffers until it is complete; a ring smaller than one head
  // could never hold it.
  const uint64_t ring_bytes = uint64_t{buffers.size} * buffers.count;
  if (limits.header_bytes > ring_bytes) {
    const Field& where = header_bytes ? *header_bytes : (buffers_field ? *buffers_field : s.self());
    fail_at(where.mark, f.path + ".header_bytes (" + format_size(limits.header_bytes) +
                            ") must not exceed the receive ring, buffers.size x buffers.count (" +
                            format_size(ring_bytes) + ")");
  }
}

bool Loader::load_admin(const Field& f, AdminConfig& admin) const {
  const Section s(*this, f, {"listen", "enabled"});
  admin.mark = source_mark(f.mark);
  if (const Field* v = s.find("enabled")) {
    admin.enabled = read_bool(*v);
  }
  if (const Field* v = s.find("listen")) {
    admin.listen = read_address(*v);
    admin.mark = source_mark(v->mark);
    return true;
  }
  return false;
}

// Two sockets on one port where one address covers the other would either fail to bind or, with
// SO_REUSEPORT, silently split connections between the gateway and the admin server.
void Loader::check_listener_overlap(const Config& config, bool admin_listen_given) const {
  struct Bound {
    SocketAddress address;
    std::string name;
    SourceMark mark;
  };
  std::vector<Bound> bound;
  auto add = [&](const std::string& text, std::string name, const SourceMark& mark) {
    Bound b{{}, std::move(name), mark};
    parse_socket_address(text, b.address);  // already validated
    if (b.address.port() == 0) {
      return;  // each socket gets its own free port; no clash possible
    }
    const std::string here = b.address.to_string();
    const std::string any =
        (b.address.family() == AF_INET ? "0.0.0.0:" : "[::]:") + std::to_string(b.address.port());
    for (const Bound& earlier : bound) {
      const std::string there = earlier.address.to_string();
      if (earlier.address.family() == b.address.family() &&
          earlier.address.port() == b.address.port() &&
          (here == there || here == any || there == any)) {
        throw ConfigError(mark,
                          b.name + ": " + here + " overlaps " + earlier.name + " (" + there + ")");
      }
    }
    bound.push_back(std::move(b));
  };
  // The admin address goes first so that a clash with its default is reported at the server
  // listener, the line the user actually wrote.
  if (config.admin.enabled) {
    add(config.admin.listen,
        admin_listen_given ? "admin.listen" : "admin.listen (default " + config.admin.listen + ")",
        config.admin.mark);
  }
  for (size_t i = 0; i < config.server.listen.size(); ++i) {
    add(config.server.listen[i].address, "server.listen[" + std::to_string(i) + "]",
        config.server.listen[i].mark);
  }
}

void Loader::load_routes(const Field& f, std::vector<RouteConfig>& routes) const {
  if (f.node.IsNull()) {
    return;
  }
  if (!f.node.IsSequence()) {
    fail(f, "expected a list of routes, got " + describe(f.node));
  }
  size_t i = 0;
  for (auto it = f.node.begin(); it != f.node.end(); ++it, ++i) {
    const Field route_field = item(f, i, *it);
    RouteConfig route = load_route(route_field, i);
    for (const RouteConfig& earlier : routes) {
      if (earlier.name == route.name) {
        fail(route_field, "duplicate route name " + quote(route.name) + " (first at line " +
                              std::to_string(earlier.mark.line) + ")");
      }
    }
    routes.push_back(std::move(route));
  }
}

RouteConfig Loader::load_route(const Field& f, size_t index) const {
  if (!f.node.IsMap()) {
    fail(f, "expected a route map with 'match' and an action, got " + describe(f.node));
  }
  std::vector<std::string_view> keys = {"name", "match"};
  for (const ActionParser& action : kActions) {
    keys.push_back(action.key);
  }
  const Section s(*this, f, keys);

  RouteConfig route;
  route.mark = source_mark(f.mark);
  route.name = "route#" + std::to_string(index + 1);
  if (const Field* v = s.find("name")) {
    route.name = read_string(*v);
    if (route.name.empty() || route.name.size() > kMaxRouteName) {
      fail(*v, "must be 1 to " + std::to_string(kMaxRouteName) + " characters");
    }
    if (field_value_problem(route.name)) {
      fail(*v, "must not contain control characters");
    }
  }

  const Field* match = s.find("match");
  if (!match) {
    fail(f, "missing 'match' (e.g. match: {path: /hello})");
  }
  load_match(*match, route.match);

  const ActionParser* chosen = nullptr;
  const Field* chosen_field = nullptr;
  for (const ActionParser& action : kActions) {
    const Field* v = s.find(action.key);
    if (!v) {
      continue;
    }
    if (chosen) {
      fail(*v, "a route has exactly one action, but this one also has '" +
                   std::string(chosen->key) + "'");
    }
    chosen = &action;
    chosen_field = v;
  }
  if (!chosen) {
    keys.erase(keys.begin(), keys.begin() + 2);
    fail(f, "missing an action (expected one of: " + join(keys) + ")");
  }
  route.action = (this->*(chosen->parse))(*chosen_field);
  return route;
}

void Loader::load_match(const Field& f, RouteMatch& match) const {
  const Section s(*this, f, {"path", "prefix", "methods", "host"});
  const Field* path = s.find("path");
  const Field* prefix = s.find("prefix");
  if (path && prefix) {
    fail(*prefix, "'path' and 'prefix' are exclusive; a route matches one or the other");
  }
  if (!path && !prefix) {
    fail(f, "needs 'path' (exact or template) or 'prefix'");
  }
  if (path) {
    const bool is_template =
        path->node.IsScalar() && path->node.Scalar().find_first_of("{}") != std::string::npos;
    match.kind = is_template ? RouteMatch::Kind::kTemplate : RouteMatch::Kind::kExact;
    match.path = load_path(*path, match.kind);
  } else {
    match.kind = RouteMatch::Kind::kPrefix;
    match.path = load_path(*prefix, match.kind);
  }
  if (const Field* v = s.find("methods")) {
    match.methods = load_methods(*v);
  }
  if (const Field* v = s.find("host")) {
    match.host = load_host(*v);
  }
}

std::string Loader::load_path(const Field& f, RouteMatch::Kind kind) const {
  const std::string path = scalar(f, "a path starting with '/'");
  if (path.empty() || path.front() != '/') {
    fail(f, "must start with '/', got " + quote(path));
  }
  for (char ch : path) {
    const auto c = static_cast<unsigned char>(ch);
    if (c <= 0x20 || c == 0x7f) {
      fail(f, "must not contain spaces or control characters (percent-encode them)");
    }
    if (c == '?' || c == '#') {
      fail(f, "must not contain '?' or '#'; routes match the path, not the query string");
    }
  }
  if (kind == RouteMatch::Kind::kPrefix && path.find_first_of("{}") != std::string::npos) {
    fail(f, "a prefix cannot hold {parameters}; use 'path' for a template");
  }
  if (kind != RouteMatch::Kind::kTemplate) {
    return path;
  }
  // Template syntax is checked here so the message points at the path itself; the router
  // compiles it later.
  std::vector<std::string_view> names;
  std::string_view rest(path);
  while (!rest.empty()) {
    rest.remove_prefix(1);  // the '/'
    const size_t slash = rest.find('/');
    const std::string_view segment = rest.substr(0, slash);
    rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash);
    if (segment.find_first_of("{}") == std::string_view::npos) {
      continue;
    }
    if (segment.size() < 2 || segment.front() != '{' || segment.back() != '}' ||
        segment.substr(1, segment.size() - 2).find_first_of("{}") != std::string_view::npos) {
      fail(f, "in template " + quote(path) + ", a {parameter} must be a whole path segment, not " +
                  quote(segment));
    }
    const std::string_view name = segment.substr(1, segment.size() - 2);
    if (name.empty()) {
      fail(f, "in template " + quote(path) + ", empty parameter name '{}'");
    }
    for (std::string_view earlier : names) {
      if (earlier == name) {
        fail(f, "in template " + quote(path) + ", duplicate parameter " + quote(name));
      }
    }
    names.push_back(name);
  }
  return path;
}

// Hosts are compared case-insensitively and without the port (the gateway strips it from the
// request's Host), so the config holds them lower-case and a port here could never match.
std::string Loader::load_host(const Field& f) const {
  const std::string host = ascii_lower(scalar(f, "a host name like example.com"));
  if (host.empty()) {
    fail(f, "empty; leave 'host' out to match any host");
  }
  if (host.front() == '[') {
    const size_t close = host.find(']');
    if (close != host.size() - 1) {
      fail(f, close == std::string::npos ? "unterminated IPv6 literal " + quote(host)
                                         : "must not include a port, got " + quote(host));
    }
    if (host.find_first_not_of("0123456789abcdef:.", 1) != close) {
      fail(f, "not an IPv6 literal: " + quote(host));
    }
    return host;
  }
  if (host.find(':') != std::string::npos) {
    fail(f, "must not include a port, got " + quote(host) + " (the port is ignored when matching)");
  }
  for (char c : host) {
    const bool ok =
        (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
    if (!ok) {
      fail(f, "not a host name: " + quote(host) + " (letters, digits, '-', '.' and '_' only)");
    }
  }
  return host;
}

// A single method name is shorthand for a one-element list.
std::vector<std::string> Loader::load_methods(const Field& f) const {
  std::vector<Field> items;
  if (f.node.IsSequence()) {
    size_t i = 0;
    for (auto it = f.node.begin(); it != f.node.end(); ++it, ++i) {
      items.push_back(item(f, i, *it));
    }
    if (items.empty()) {
      fail(f, "empty list; leave 'methods' out to match any method");
    }
  } else {
    items.push_back(f);
  }
  std::vector<std::string> methods;
  for (const Field& v : items) {
    const std::string name = scalar(v, "a method name like GET");
    if (method_from_name(name) < 0) {
      const std::string upper = [&] {
        std::string u = name;
        for (char& c : u) {
          c = (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
        }
        return u;
      }();
      // Methods are case-sensitive (RFC 9110 §9.1): "get" is a different, unknown method.
      if (upper != name && method_from_name(upper) >= 0) {
        fail(v, "unknown method " + quote(name) + "; methods are case-sensitive, write " +
                    quote(upper));
      }
      fail(v, "unknown method " + quote(name));
    }
    bool seen = false;
    for (const std::string& m : methods) {
      seen = seen || m == name;
    }
    if (seen) {
      fail(v, "method " + quote(name) + " is listed twice");
    }
    methods.push_back(name);
  }
  return methods;
}

RouteAction Loader::load_direct(const Field& f) const {
  const Section s(*this, f, {"status", "headers", "body"});
  DirectResponse direct;
  const Field* status = s.find("status");
  if (status) {
    direct.status = static_cast<int>(read_number(*status, 100, 599));
    // An interim response cannot end an exchange: the client would wait for the real one.
    if (direct.status < 200) {
      fail(*status, "a 1xx status is an interim response and cannot answer a request");
    }
  }
  if (const Field* v = s.find("headers")) {
    load_direct_headers(*v, direct);
  }
  if (const Field* v = s.find("body")) {
    direct.body = read_string(*v);
    if (!direct.body.empty() && (direct.status == 204 || direct.status == 304)) {
      fail(*v, "a " + std::to_string(direct.status) + " response has no body (RFC 9110 §15)");
    }
  }
  return direct;
}

// `headers` maps a name to a value, or to a list of values for a field that repeats
// (Set-Cookie). Names are case-insensitive, so two spellings of one name are one field twice.
void Loader::load_direct_headers(const Field& f, DirectResponse& direct) const {
  if (f.node.IsNull()) {
    return;
  }
  if (!f.node.IsMap()) {
    fail(f, "expected a map of header names to values, got " + describe(f.node));
  }
  std::vector<std::pair<std::string, YAML::Mark>> seen;  // lower-case names
  for (auto it = f.node.begin(); it != f.node.end(); ++it) {
    const YAML::Node key = it->first;  // a copy: it-> yields a temporary proxy
    if (!key.IsScalar()) {
      fail_at(key.Mark(), f.path + ": header names must be plain strings, got " + describe(key));
    }
    const std::string name = key.Scalar();
    const Field value = child(f, name, key, it->second);
    if (!is_token(name)) {
      fail_at(key.Mark(), f.path + ": " + quote(name) +
                              " is not a valid header name (letters, digits and !#$%&'*+-.^_`|~)");
    }
    const std::string lower = ascii_lower(name);
    for (const auto& [earlier, mark] : seen) {
      if (earlier == lower) {
        fail_at(key.Mark(), f.path + ": header " + quote(name) + " is given twice (first at line " +
                                std::to_string(mark.line + 1) +
                                "); use a list of values to repeat a header");
      }
    }
    seen.emplace_back(lower, key.Mark());
    if (lower == "content-length" || lower == "transfer-encoding" || lower == "connection" ||
        lower == "date") {
      fail_at(key.Mark(),
              f.path + ": " + quote(name) + " is set by the server for every response; remove it");
    }
    if (lower == "server") {
      fail_at(key.Mark(), f.path + ": " + quote(name) +
                              " is set by the server; configure it with server.server_header");
    }
    if (lower == "keep-alive" || lower == "upgrade" || lower == "trailer" || lower == "te") {
      fail_at(key.Mark(), f.path + ": " + quote(name) +
                              " is a connection-level header and cannot be part of a direct "
                              "response");
    }
    std::vector<Field> values;
    if (value.node.IsSequence()) {
      size_t i = 0;
      for (auto v = value.node.begin(); v != value.node.end(); ++v, ++i) {
        values.push_back(item(value, i, *v));
      }
      if (values.empty()) {
        fail(value, "empty list of values");
      }
    } else {
      values.push_back(value);
    }
    for (const Field& v : values) {
      std::string text = scalar(v, "a header value");
      if (auto problem = field_value_problem(text)) {
        fail(v, *problem);
      }
      direct.headers.push_back({name, std::move(text)});
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Upstream clusters.

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

bool is_cluster_name(std::string_view name) {
  if (name.empty() || name.size() > kMaxClusterName) {
    return false;
  }
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '.' || c == '-';
    if (!ok) {
      return false;
    }
  }
  return true;
}

// Cluster names are a map's keys, so duplicates and bad names are reported at the key.
void Loader::load_upstreams(const Field& f, std::vector<UpstreamConfig>& upstreams) const {
  if (f.node.IsNull()) {
    return;
  }
  if (!f.node.IsMap()) {
    fail(f, "expected a map of cluster names to clusters, got " + describe(f.node));
  }
  for (auto it = f.node.begin(); it != f.node.end(); ++it) {
    const YAML::Node key = it->first;  // a copy: it-> yields a temporary proxy
    if (!key.IsScalar()) {
      fail_at(key.Mark(), f.path + ": cluster names must be plain names, got " + describe(key));
    }
    const std::string name = key.Scalar();
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
  }
}

UpstreamConfig Loader::load_upstream(const Field& f, std::string name,
                                     const YAML::Mark& key) const {
  const Section s(*this, f,
                  {"endpoints", "balance", "hash_key", "keepalive", "keepalive_timeout",
                   "max_requests_per_connection", "connect_timeout", "dns_refresh", "health",
                   "outlier", "circuit", "retry_budget"});
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
    up.keepalive = static_cast<uint32_t>(read_number(*v, 0, kMaxKeepalive));
  }
  if (const Field* v = s.find("keepalive_timeout")) {
    up.keepalive_timeout = read_duration(*v, kOneSecond, kOneHour);
  }
  if (const Field* v = s.find("max_requests_per_connection")) {
    up.max_requests_per_connection =
        static_cast<uint32_t>(read_number(*v, 0, kMaxRequestsPerConnection));
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
  return up;
}

void Loader::load_endpoints(const Field& f, std::vector<EndpointConfig>& endpoints) const {
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
EndpointConfig Loader::load_endpoint(const Field& f, std::string& canonical) const {
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

BalanceKind Loader::load_balance(const Field& f) const {
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

HashKeyConfig Loader::load_hash_key(const Field& f) const {
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

void Loader::load_health(const Field& f, HealthCheckConfig& health) const {
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

void Loader::load_outlier(const Field& f, OutlierConfig& outlier) const {
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

void Loader::load_circuit(const Field& f, CircuitConfig& circuit) const {
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

void Loader::load_retry_budget(const Field& f, RetryBudgetConfig& budget) const {
  const Section s(*this, f, {"percent", "min_concurrent"});
  if (const Field* v = s.find("percent")) {
    budget.percent = static_cast<uint32_t>(read_number(*v, 0, 100));
  }
  if (const Field* v = s.find("min_concurrent")) {
    budget.min_concurrent = static_cast<uint32_t>(read_number(*v, 0, kMaxRetryConcurrency));
  }
}

// A bare 0 needs no unit: it means off, whatever the unit.
Duration Loader::read_duration_or_off(const Field& f, Duration min, Duration max) const {
  if (f.node.IsScalar() && f.node.Scalar() == "0") {
    return Duration{0};
  }
  const Duration v = read_duration(f, Duration{0}, max);
  if (v.count() != 0 && v < min) {
    fail(f, "must be 0 (off) or between " + format_duration(min) + " and " + format_duration(max) +
                ", got " + f.node.Scalar());
  }
  return v;
}

void Loader::check_not_above(const Field* smaller, const Field* larger, const Field& section,
                             std::string_view smaller_key, Duration smaller_value,
                             std::string_view larger_key, Duration larger_value) const {
  if (smaller_value <= larger_value) {
    return;
  }
  const Field& where = smaller ? *smaller : (larger ? *larger : section);
  fail_at(where.mark, section.path + "." + std::string(smaller_key) + " (" +
                          format_duration(smaller_value) + ") must not exceed " + section.path +
                          "." + std::string(larger_key) + " (" + format_duration(larger_value) +
                          ")");
}

// `upstream: NAME` is shorthand for `upstream: {cluster: NAME}`.
RouteAction Loader::load_upstream_action(const Field& f) const {
  if (!f.node.IsScalar() && !f.node.IsMap()) {
    fail(f, "expected a cluster name or a map with 'cluster', got " + describe(f.node));
  }
  std::optional<Section> s;
  const Field* cluster = &f;
  if (f.node.IsMap()) {
    s.emplace(*this, f,
              std::vector<std::string_view>{"cluster", "strip_prefix", "rewrite", "host", "timeout",
                                            "try_timeout", "retries"});
    cluster = s->find("cluster");
    if (!cluster) {
      fail(f, "missing 'cluster' (the name of one of the upstreams)");
    }
  }
  UpstreamAction action;
  action.cluster = scalar(*cluster, "a cluster name");
  bool found = false;
  std::vector<std::string_view> defined;
  for (size_t i = 0; i < upstreams_->size(); ++i) {
    const UpstreamConfig& up = (*upstreams_)[i];
    if (up.name == action.cluster) {
      action.cluster_index = static_cast<uint32_t>(i);
      found = true;
    }
    defined.push_back(up.name);
  }
  if (!found) {
    std::string name = quote(action.cluster);
    name.front() = '"';
    name.back() = '"';
    fail(*cluster, "unknown upstream " + name +
                       (defined.empty() ? " (no upstreams are defined)"
                                        : " (defined: " + join(defined) + ")"));
  }
  if (!s) {
    return action;
  }

  const Field* strip = s->find("strip_prefix");
  const Field* rewrite = s->find("rewrite");
  if (strip && rewrite) {
    const bool rewrite_later =
        rewrite->mark.line > strip->mark.line ||
        (rewrite->mark.line == strip->mark.line && rewrite->mark.column > strip->mark.column);
    fail(rewrite_later ? *rewrite : *strip,
         "'strip_prefix' and 'rewrite' are exclusive; a route changes the path one way or the "
         "other");
  }
  if (strip) {
    action.strip_prefix = load_action_path(*strip);
    // Stripping happens on a segment boundary, so the prefix names whole segments: "/v1", not
    // "/v1/"; and stripping "/" would change nothing.
    if (action.strip_prefix == "/") {
      fail(*strip, "stripping '/' changes nothing; leave 'strip_prefix' out");
    }
    if (action.strip_prefix.back() == '/') {
      fail(*strip,
           "must not end with '/'; it removes whole segments (\"/v1\" turns /v1/x "
           "into /x)");
    }
  }
  if (rewrite) {
    action.rewrite = load_action_path(*rewrite);
  }
  if (const Field* v = s->find("host")) {
    const std::string text = scalar(*v, "preserve, endpoint or a host name");
    if (text == "preserve") {
      action.host = UpstreamAction::HostPolicy::kPreserve;
    } else if (text == "endpoint") {
      action.host = UpstreamAction::HostPolicy::kEndpoint;
    } else {
      if (auto problem = host_port_problem(text, false, nullptr)) {
        fail(*v, "expected preserve, endpoint or a host[:port] to send, but " + quote(text) +
                     " is not one: " + *problem);
      }
      action.host = UpstreamAction::HostPolicy::kFixed;
      action.host_value = text;
    }
  }
  const Field* timeout = s->find("timeout");
  if (timeout) {
    action.timeout = read_duration(*timeout, kMinTimeout, kOneHour);
  }
  const Field* try_timeout = s->find("try_timeout");
  if (try_timeout) {
    action.try_timeout = read_duration_or_off(*try_timeout, kMinTimeout, kOneHour);
  }
  if (const Field* v = s->find("retries")) {
    action.retries = static_cast<uint32_t>(read_number(*v, 0, kMaxRetries));
  }
  // A try that may outlast the whole request could never time out on its own.
  if (action.try_timeout.count() != 0) {
    check_not_above(try_timeout, timeout, s->self(), "try_timeout", action.try_timeout, "timeout",
                    action.timeout);
  }
  return action;
}

std::string Loader::load_action_path(const Field& f) const {
  std::string path = scalar(f, "a path starting with '/'");
  if (auto problem = request_path_problem(path, false)) {
    fail(f, *problem);
  }
  return path;
}

Config load_from_text(const std::string& yaml, const std::string& source_name) {
  std::vector<YAML::Node> documents;
  try {
    documents = YAML::LoadAll(yaml);
  } catch (const YAML::DeepRecursion& e) {
    throw ConfigError(Loader(source_name).source_mark(e.mark), "nested too deeply");
  } catch (const YAML::ParserException& e) {
    throw ConfigError(Loader(source_name).source_mark(e.mark), e.msg);
  }
  if (documents.size() > 1) {
    // A second document would be silently ignored; say so instead.
    throw ConfigError(Loader(source_name).source_mark(documents[1].Mark()),
                      "more than one YAML document; a config is a single document");
  }
  const YAML::Node root = documents.empty() ? YAML::Node() : documents.front();
  return Loader(source_name).load(root);
}

}  // namespace

ConfigError::ConfigError(const SourceMark& mark, const std::string& reason)
    : std::runtime_error(format_mark(mark) + ": " + reason) {}

Config load_config_string(const std::string& yaml, const std::string& source_name) {
  try {
    return load_from_text(yaml, source_name);
  } catch (const ConfigError&) {
    throw;
  } catch (const YAML::Exception& e) {
    // yaml-cpp may throw from node access on input the loader did not foresee; still a config
    // problem, and still reported with a position.
    throw ConfigError(Loader(source_name).source_mark(e.mark), e.msg);
  } catch (const std::exception& e) {
    throw ConfigError(source_name + ": " + e.what());
  }
}

Config load_config_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    throw ConfigError(path + ": cannot open: " + std::strerror(errno));
  }
  std::string text;
  char chunk[16384];
  while (true) {
    const ssize_t n = ::read(fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      const int saved = errno;
      ::close(fd);
      throw ConfigError(path + ": cannot read: " + std::strerror(saved));
    }
    if (n == 0) {
      break;
    }
    text.append(chunk, static_cast<size_t>(n));
  }
  ::close(fd);
  return load_config_string(text, path);
}

}  // namespace ringgate
