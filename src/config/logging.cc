// The `logging:` section: the error log's level and the access log (where, in which format,
// which fields, what fraction of successful requests).

#include <cmath>
#include <cstdlib>

#include "config/sections.h"

namespace ringgate::config_detail {
namespace {

class LoggingLoader : public Loader {
 public:
  explicit LoggingLoader(const Loader& loader) : Loader(loader) {}

  void load(const Field& f, LoggingConfig& logging) const;

 private:
  void load_access(const Field& f, AccessLogConfig& access) const;
  void load_fields(const Field& f, AccessLogConfig& access) const;
  uint32_t load_sample(const Field& f) const;
};

void LoggingLoader::load(const Field& f, LoggingConfig& logging) const {
  const Section s(*this, f, {"level", "access"});
  if (const Field* v = s.find("level")) {
    const std::string level = scalar(*v, "error, warn, info or debug");
    if (level == "error") {
      logging.level = LogLevel::kError;
    } else if (level == "warn") {
      logging.level = LogLevel::kWarn;
    } else if (level == "info") {
      logging.level = LogLevel::kInfo;
    } else if (level == "debug") {
      logging.level = LogLevel::kDebug;
    } else {
      fail(*v, "expected error, warn, info or debug, got " + quote(level));
    }
  }
  if (const Field* v = s.find("access")) {
    load_access(*v, logging.access);
  }
}

void LoggingLoader::load_access(const Field& f, AccessLogConfig& access) const {
  if (!f.node.IsMap()) {
    fail(f, "expected a map such as {path: stdout, format: json}, got " + describe(f.node));
  }
  const Section s(*this, f, {"path", "format", "fields", "sample", "enabled"});
  access.enabled = true;
  if (const Field* v = s.find("enabled")) {
    access.enabled = read_bool(*v);
  }
  if (const Field* v = s.find("path")) {
    const std::string given = read_string(*v);
    if (given.empty()) {
      fail(*v, "expected stdout, stderr or a file path");
    }
    access.path = given == "stdout" || given == "stderr" ? given : resolve_path(given);
  }
  const Field* format = s.find("format");
  if (format) {
    const std::string text = scalar(*format, "json or combined");
    if (text == "json") {
      access.format = AccessLogConfig::Format::kJson;
    } else if (text == "combined") {
      access.format = AccessLogConfig::Format::kCombined;
    } else {
      fail(*format, "expected json or combined, got " + quote(text));
    }
  }
  if (const Field* v = s.find("fields")) {
    if (access.format != AccessLogConfig::Format::kJson) {
      fail(*v, "fields choose what a json line holds; the combined format is fixed");
    }
    load_fields(*v, access);
  } else {
    for (size_t i = 0; i < static_cast<size_t>(AccessField::kCount); ++i) {
      access.fields.push_back(static_cast<AccessField>(i));
    }
  }
  if (const Field* v = s.find("sample")) {
    access.sample_ppm = load_sample(*v);
  }
}

void LoggingLoader::load_fields(const Field& f, AccessLogConfig& access) const {
  for (const Field& item : list_or_one(f, "at least one field")) {
    const std::string name = read_string(item);
    size_t i = 0;
    while (i < std::size(kAccessFieldNames) && name != kAccessFieldNames[i]) {
      ++i;
    }
    if (i == std::size(kAccessFieldNames)) {
      std::vector<std::string_view> names(std::begin(kAccessFieldNames),
                                          std::end(kAccessFieldNames));
      fail(item, "unknown field " + quote(name) + " (one of " + join(names) + ")");
    }
    for (AccessField earlier : access.fields) {
      if (earlier == static_cast<AccessField>(i)) {
        fail(item, "field " + quote(name) + " is listed twice");
      }
    }
    access.fields.push_back(static_cast<AccessField>(i));
  }
}

uint32_t LoggingLoader::load_sample(const Field& f) const {
  const std::string text = scalar(f, "a fraction from 0 to 1");
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (text.empty() || end != text.c_str() + text.size() || !std::isfinite(v) || v < 0 || v > 1) {
    fail(f, "expected a fraction from 0 to 1 (0.01 logs one 2xx/3xx response in 100), got " +
                quote(text));
  }
  return static_cast<uint32_t>(std::lround(v * 1e6));
}

}  // namespace

void load_logging(const Loader& loader, const Field& f, LoggingConfig& logging) {
  LoggingLoader(loader).load(f, logging);
}

}  // namespace ringgate::config_detail
