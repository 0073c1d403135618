// YAML → validated Config. The schema and every default are documented in conf/ringgate.yaml.
//
// Every problem is reported as "FILE:LINE:COLUMN: path.to.key: reason", pointing at the offending
// key or value, and any problem ends the load: a gateway must not start on a config that says
// something other than what its author meant. The load goes on past a problem where the rest
// does not depend on what failed (the next section, cluster or route), so that one check
// reports every mistake it can.
//
// Here: the YAML walking core every section shares (message formatting, the small syntax checks
// several sections need, map sections and the scalar readers: how a value is read and how a
// problem is reported, never what an option means), and the load itself, which hands each
// top-level key to its section (sections.h) and then runs validate().

#include "config/loader.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <openssl/sha.h>
#include <unistd.h>
#include <yaml-cpp/depthguard.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>

#include "config/sections.h"
#include "ringgate/core/method.h"
#include "ringgate/net/address.h"

namespace ringgate {
namespace config_detail {
namespace {

constexpr size_t kMaxQuotedValue = 60;  // longer values are cut in error messages
constexpr size_t kMaxHostName = 253;    // RFC 1035 §2.3.4
constexpr size_t kMaxHostLabel = 63;

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

// Whether `text` failed to parse only because its number is too large: the same unit after a
// small number parses.
template <typename Parse>
bool overflowed(const std::string& text, Parse parse) {
  const size_t digits = text.find_first_not_of("0123456789");
  if (digits == 0) {
    return false;
  }
  return parse("1" + (digits == std::string::npos ? std::string() : text.substr(digits)));
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Formatting for messages.

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
  return std::to_string(bytes) + (bytes == 1 ? " byte" : " bytes");
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

// ---------------------------------------------------------------------------------------------
// Map sections.

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

// ---------------------------------------------------------------------------------------------
// Scalars.

std::string Loader::describe(const YAML::Node& node) {
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

std::string Loader::scalar(const Field& f, std::string_view expected) const {
  if (!f.node.IsScalar()) {
    fail(f, "expected " + std::string(expected) + ", got " + describe(f.node));
  }
  return f.node.Scalar();
}

// Only the YAML 1.2 spellings: `yes`/`on` are booleans in YAML 1.1 but strings in 1.2, and a
// config should not depend on which one a reader implements.
bool Loader::read_bool(const Field& f) const {
  const std::string s = scalar(f, "true or false");
  if (s == "true" || s == "True" || s == "TRUE") {
    return true;
  }
  if (s == "false" || s == "False" || s == "FALSE") {
    return false;
  }
  fail(f, "expected true or false, got " + quote(s));
}

uint64_t Loader::read_number(const Field& f, uint64_t min, uint64_t max) const {
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

uint32_t Loader::read_power_of_two(const Field& f, uint32_t min, uint32_t max) const {
  const uint64_t v = read_number(f, min, max);
  if (!is_power_of_two(v)) {
    fail(f, "must be a power of two (" + std::to_string(min) + ", " + std::to_string(min * 2) +
                ", ... " + std::to_string(max) + "), got " + std::to_string(v));
  }
  return static_cast<uint32_t>(v);
}

uint64_t Loader::read_number_or_auto(const Field& f, uint64_t min, uint64_t max) const {
  if (is_auto(f)) {
    return 0;
  }
  if (!f.node.IsScalar() || f.node.Scalar().empty() ||
      f.node.Scalar().find_first_not_of("0123456789") != std::string::npos) {
    fail(f, "expected a number or 'auto', got " + describe(f.node));
  }
  return read_number(f, min, max);
}

uint64_t Loader::read_size_or_auto(const Field& f, uint64_t min, uint64_t max) const {
  return is_auto(f) ? 0 : read_size(f, min, max);
}

uint64_t Loader::read_size(const Field& f, uint64_t min, uint64_t max) const {
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

Duration Loader::read_duration(const Field& f, Duration min, Duration max) const {
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
    fail(f,
         "must be between " + format_duration(min) + " and " + format_duration(max) + ", got " + s);
  }
  return v;
}

std::string Loader::read_address(const Field& f) const {
  const std::string s = scalar(f, "an address like \"0.0.0.0:8080\"");
  SocketAddress address;
  std::string error;
  if (!parse_socket_address(s, address, &error)) {
    fail(f, quote(s) + " is not a valid address: " + error);
  }
  return s;
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

// The items of a list, or the one scalar given in its place; an empty list fails with `when_empty`.
std::vector<Field> Loader::list_or_one(const Field& f, const char* when_empty) const {
  std::vector<Field> items;
  if (!f.node.IsSequence()) {
    items.push_back(f);
    return items;
  }
  size_t i = 0;
  for (auto it = f.node.begin(); it != f.node.end(); ++it, ++i) {
    items.push_back(item(f, i, *it));
  }
  if (items.empty()) {
    fail(f, when_empty);
  }
  return items;
}

std::string Loader::read_method(const Field& f) const {
  const std::string name = scalar(f, "a method name like GET");
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
      fail(f,
           "unknown method " + quote(name) + "; methods are case-sensitive, write " + quote(upper));
    }
    fail(f, "unknown method " + quote(name));
  }
  return name;
}

HostPolicy Loader::read_host(const Field& f, std::string* value) const {
  const std::string text = scalar(f, "preserve, endpoint or a host name");
  if (text == "preserve") {
    return HostPolicy::kPreserve;
  }
  if (text == "endpoint") {
    return HostPolicy::kEndpoint;
  }
  if (auto problem = host_port_problem(text, false, nullptr)) {
    fail(f, "expected preserve, endpoint or a host[:port] to send, but " + quote(text) +
                " is not one: " + *problem);
  }
  *value = text;
  return HostPolicy::kFixed;
}

// ---------------------------------------------------------------------------------------------
// The document.

namespace {

// The sections are parsed in this order whatever their order in the file; none reads another's
// output, so the order only decides the order problems are reported in. A section with a problem
// is recorded and the next one parsed all the same; what the failed part would have decided
// (the listeners a server section gives, a redis section's existence) is not checked.
Config load_document(const Loader& loader, const YAML::Node& root, const Problems& problems) {
  Config config;
  config.source = loader.source();
  Field top{root, "", root.Mark()};
  if (top.mark.is_null()) {
    top.mark = YAML::Mark();  // an empty document: point at its start
  }
  const Section section(loader, top,
                        {"server", "admin", "overload", "aggregate", "logging", "upstreams", "auth",
                         "redis", "rate_limits", "caches", "routes"});

  References refs;
  const Field* server = section.find("server");
  if (server) {
    refs.server_failed = !loader.recover([&] { load_server(loader, *server, config.server); });
  }
  if (config.server.listen.empty() && !refs.server_failed) {
    const Field& where = server ? *server : top;
    loader.recover([&] {
      loader.fail_at(where.mark,
                     "server.listen: at least one listener is required, e.g. "
                     "listen: \"0.0.0.0:8080\"");
    });
  }
  const Field* admin = section.find("admin");
  if (admin) {
    refs.admin_failed = !loader.recover(
        [&] { refs.admin_listen_given = load_admin(loader, *admin, config.admin); });
  } else {
    config.admin.mark = loader.source_mark(top.mark);
  }
  if (const Field* overload = section.find("overload")) {
    loader.recover([&] { load_overload(loader, *overload, config.overload); });
  }
  if (const Field* logging = section.find("logging")) {
    loader.recover([&] { load_logging(loader, *logging, config.logging); });
  }
  if (const Field* aggregate = section.find("aggregate")) {
    loader.recover([&] { load_aggregate_budget(loader, *aggregate, config.aggregate); });
  }
  if (const Field* upstreams = section.find("upstreams")) {
    load_upstreams(loader, *upstreams, config.upstreams, refs);
  }
  if (const Field* redis = section.find("redis")) {
    refs.redis_failed = !loader.recover([&] { load_redis(loader, *redis, config.redis, refs); });
  }
  if (const Field* rate_limits = section.find("rate_limits")) {
    load_rate_limits(loader, *rate_limits, config.rate_limits, refs);
  }
  if (const Field* auth = section.find("auth")) {
    load_auth(loader, *auth, config.jwt_issuers, config.api_keys, refs);
  }
  if (const Field* caches = section.find("caches")) {
    load_caches(loader, *caches, config.caches, refs);
  }
  if (const Field* routes = section.find("routes")) {
    load_routes(loader, *routes, config.routes, refs);
  }
  // Names given in one section for entries of another are resolved only now, so the sections
  // may come in any order in the file.
  validate(loader, config, refs);
  if (!problems.empty()) {
    problems.raise();
  }
  config.warnings = shadowed_routes(config.routes);
  return config;
}

Config load_from_text(const std::string& yaml, const std::string& source_name,
                      const std::string& base_dir) {
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
  Problems problems;
  return load_document(Loader(source_name, base_dir, &problems), root, problems);
}
}  // namespace
}  // namespace config_detail

namespace {

std::string format_mark(const SourceMark& mark) {
  if (mark.line <= 0) {
    return mark.file;
  }
  return mark.file + ":" + std::to_string(mark.line) + ":" + std::to_string(mark.column);
}

std::string join_problems(const std::vector<std::string>& problems, size_t more) {
  std::string out;
  for (const std::string& problem : problems) {
    out += (out.empty() ? "" : "\n") + problem;
  }
  if (more > 0) {
    out += "\n... and " + std::to_string(more) + " more";
  }
  return out;
}

// The directory of the config file at `path`, absolute: what its relative paths are joined to.
// Not canonicalised: a symlinked directory stays as written, the way the kernel would walk it.
std::string config_directory(const std::string& path) {
  std::string absolute = path;
  if (absolute.empty() || absolute.front() != '/') {
    char cwd[4096];
    if (getcwd(cwd, sizeof cwd) == nullptr) {
      throw ConfigError(path + ": cannot find the working directory: " + std::strerror(errno));
    }
    std::string_view rest = path;
    while (rest.starts_with("./")) {
      rest.remove_prefix(2);
      while (rest.starts_with('/')) {
        rest.remove_prefix(1);
      }
    }
    absolute = std::string(cwd) + (std::string_view(cwd) == "/" ? "" : "/") + std::string(rest);
  }
  const size_t slash = absolute.rfind('/');
  return slash == 0 ? "/" : absolute.substr(0, slash);
}

Config load_config_text(const std::string& yaml, const std::string& source_name,
                        const std::string& base_dir) {
  try {
    Config c = config_detail::load_from_text(yaml, source_name, base_dir);
    // What GET /config reports: the exact text this config was made from.
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256(reinterpret_cast<const unsigned char*>(yaml.data()), yaml.size(), digest);
    static constexpr char kHex[] = "0123456789abcdef";
    c.sha256.reserve(2 * sizeof digest);
    for (const unsigned char d : digest) {
      c.sha256.push_back(kHex[d >> 4]);
      c.sha256.push_back(kHex[d & 15]);
    }
    return c;
  } catch (const ConfigError&) {
    throw;
  } catch (const YAML::Exception& e) {
    // yaml-cpp may throw from node access on input the loader did not foresee; still a config
    // problem, and still reported with a position.
    throw ConfigError(config_detail::Loader(source_name).source_mark(e.mark), e.msg);
  } catch (const std::exception& e) {
    throw ConfigError(source_name + ": " + e.what());
  }
}

}  // namespace

ConfigError::ConfigError(const SourceMark& mark, const std::string& reason)
    : ConfigError(format_mark(mark) + ": " + reason) {}

ConfigError::ConfigError(const std::string& message)
    : std::runtime_error(message), problems_{message} {}

ConfigError::ConfigError(std::vector<std::string> problems, size_t more)
    : std::runtime_error(join_problems(problems, more)),
      problems_(std::move(problems)),
      more_(more) {}

Config load_config_string(const std::string& yaml, const std::string& source_name) {
  return load_config_text(yaml, source_name, "");
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
  return load_config_text(text, path, config_directory(path));
}

}  // namespace ringgate
