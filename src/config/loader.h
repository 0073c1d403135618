#pragma once
// The YAML walking core that every section parser shares: fields with their dotted paths and
// positions, maps checked against the keys a section allows, and scalar readers that refuse a
// bad value with "FILE:LINE:COLUMN: path.to.key: reason". Keeping these in one place is what
// keeps the messages of all sections alike.

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ringgate/config/config.h"
#include "ringgate/core/ascii.h"

namespace ringgate::config_detail {

constexpr uint64_t kKiB = 1024;
constexpr uint64_t kMiB = 1024 * kKiB;
constexpr uint64_t kGiB = 1024 * kMiB;
constexpr uint64_t kTiB = 1024 * kGiB;

// Bounds shared by several sections. Each one is documented next to its option in
// conf/ringgate.yaml.
constexpr Duration kMinTimeout{1};
constexpr Duration kMaxTimeout{24 * 60 * 60 * 1000};
constexpr Duration kOneSecond{1000};
constexpr Duration kOneMinute{60 * 1000};
constexpr Duration kOneHour{60 * 60 * 1000};
// Cluster, issuer, key-set and rate-limit policy names.
constexpr size_t kMaxClusterName = 64;

// ---------------------------------------------------------------------------------------------
// Formatting for messages.

// `text` in single quotes, cut after a few dozen characters, control bytes as \xNN.
std::string quote(std::string_view text);
// 16384 → "16KiB"; 1000 → "1000 bytes".
std::string format_size(uint64_t bytes);
// 60000ms → "1m"; 1500ms → "1500ms".
std::string format_duration(Duration d);
// "a, b, c".
std::string join(const std::vector<std::string_view>& items);

// ---------------------------------------------------------------------------------------------
// Small checks shared by several options.

// An RFC 9110 token: a header name, a cookie name.
bool is_token(std::string_view text);
// A field value (RFC 9110 §5.5) may hold HTAB but no other control byte; CR, LF and NUL in
// particular would let a config value split or truncate the response head.
std::optional<std::string> field_value_problem(std::string_view value);
// "host:port" as an endpoint or a Host header value: host is an IPv4 address, a bracketed IPv6
// address or a DNS name. Syntax only; names are resolved later, off the loader. `canonical`
// (when given) gets a spelling in which two ways of writing one address compare equal.
std::optional<std::string> host_port_problem(std::string_view text, bool port_required,
                                             std::string* canonical);
// A path the gateway itself puts in a request line (health checks, rewrites): no byte that
// would end the target or be read as a fragment.
std::optional<std::string> request_path_problem(std::string_view path, bool query_allowed);
// Cluster, issuer, key-set and policy names: 1 to kMaxClusterName of [A-Za-z0-9_.-].
bool is_cluster_name(std::string_view name);

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

// The problems one load has found. A part of the config that fails (a section, one cluster, one
// route, one check of validate()) is recorded here and the load goes on with the next part, so
// that one `ringgate -t` reports every problem it can; the load then throws them together.
class Problems {
 public:
  void add(const ConfigError& e) {
    for (const std::string& problem : e.problems()) {
      if (messages_.size() < kMaxConfigProblems) {
        messages_.push_back(problem);
      } else {
        ++more_;
      }
    }
    more_ += e.more();
  }
  bool empty() const { return messages_.empty(); }
  [[noreturn]] void raise() const { throw ConfigError(messages_, more_); }

 private:
  std::vector<std::string> messages_;
  size_t more_ = 0;
};

// Thrown to abandon a part that depends on another whose problem is already recorded (a route
// naming a cluster that failed to load): reporting it too would only repeat that problem.
struct AlreadyReported {};

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

// Reads values and reports problems at their position in the source. A section parser is a
// Loader (it derives from one, or takes one), so that reading a value and failing on it read
// the same in every section.
class Loader {
 public:
  // `base_dir`: the directory relative paths in the config are joined to (the config file's);
  // empty for a config with no file, whose relative paths stay relative to the working
  // directory.
  // `problems` (when given) records what recover() catches.
  explicit Loader(std::string source, std::string base_dir = "", Problems* problems = nullptr)
      : source_(std::move(source)), base_dir_(std::move(base_dir)), problems_(problems) {}

  const std::string& source() const { return source_; }

  // A path-valued option as the gateway opens it: absolute as given; relative, joined to the
  // config file's directory, so `ringgate -t` from any directory and a service manager starting
  // the gateway in `/` open the same file (the way NGINX joins paths to its prefix).
  std::string resolve_path(const std::string& given) const {
    if (given.empty() || given.front() == '/' || base_dir_.empty()) {
      return given;
    }
    return base_dir_ + "/" + given;
  }
  // `"given"` for messages, with the path opened in parentheses when it differs.
  static std::string describe_path(const std::string& given, const std::string& resolved) {
    return "\"" + given + "\"" + (resolved == given ? "" : " (" + resolved + ")");
  }

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

  // Runs `part`; the problem it throws is recorded and false returned, so the caller goes on
  // with the next part. A part abandoned for a problem already recorded (AlreadyReported)
  // returns false too. yaml-cpp's own exceptions (node access on input the loader did not
  // foresee) are problems with a position as well.
  template <typename Part>
  bool recover(Part&& part) const {
    try {
      part();
      return true;
    } catch (const ConfigError& e) {
      record(e);
    } catch (const YAML::Exception& e) {
      record(ConfigError(source_mark(e.mark), e.msg));
    } catch (const AlreadyReported&) {
    }
    return false;
  }
  [[noreturn]] static void skip() { throw AlreadyReported{}; }

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

  // "a map", "a list", the quoted scalar or "an empty value": what was found instead.
  static std::string describe(const YAML::Node& node);
  std::string scalar(const Field& f, std::string_view expected) const;
  std::string read_string(const Field& f) const { return scalar(f, "a string"); }
  bool read_bool(const Field& f) const;
  uint64_t read_number(const Field& f, uint64_t min, uint64_t max) const;
  // The value is the word `auto`.
  static bool is_auto(const Field& f) { return f.node.IsScalar() && f.node.Scalar() == "auto"; }
  // `auto` (0), or a number in min..max (min > 0).
  uint64_t read_number_or_auto(const Field& f, uint64_t min, uint64_t max) const;
  uint32_t read_power_of_two(const Field& f, uint32_t min, uint32_t max) const;
  uint64_t read_size(const Field& f, uint64_t min, uint64_t max) const;
  // `auto` (0), or a size in min..max (min > 0).
  uint64_t read_size_or_auto(const Field& f, uint64_t min, uint64_t max) const;
  Duration read_duration(const Field& f, Duration min, Duration max) const;
  // 0 (with or without a unit) turns the option off; anything else must lie in min..max.
  Duration read_duration_or_off(const Field& f, Duration min, Duration max) const;
  // A listening address, "host:port" with a literal host.
  std::string read_address(const Field& f) const;
  // One upper-case method name, as `methods` and aggregate backends spell it.
  std::string read_method(const Field& f) const;
  // `host:` of a proxied route, a cluster or an aggregate backend: preserve | endpoint |
  // host[:port] (kFixed, the text going to `value`).
  HostPolicy read_host(const Field& f, std::string* value) const;
  // The items of a list, or the one scalar given in its place; an empty list fails with
  // `when_empty`.
  std::vector<Field> list_or_one(const Field& f, const char* when_empty) const;

  // `smaller` must not exceed `larger`. The message points at the smaller option when it was
  // given, else at the larger one, else at the section holding both defaults.
  void check_not_above(const Field* smaller, const Field* larger, const Field& section,
                       std::string_view smaller_key, Duration smaller_value,
                       std::string_view larger_key, Duration larger_value) const;

 private:
  void record(const ConfigError& e) const {
    if (!problems_) {
      throw e;  // a loader without a record: the first problem ends the load
    }
    problems_->add(e);
  }

  std::string source_;
  std::string base_dir_;
  Problems* problems_;
};

}  // namespace ringgate::config_detail
