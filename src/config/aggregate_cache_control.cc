// `cache_control:` of an aggregate route: most_restrictive (the default), none, or a
// Cache-Control value sent as written. A value is checked directive by directive (RFC 9111
// §5.2.2), so that a misspelt mode or directive is refused at load instead of reaching clients.

#include <algorithm>

#include "config/aggregate_loader.h"
#include "ringgate/core/header_list.h"

namespace ringgate::config_detail {
namespace {

enum class Argument : uint8_t { kNone, kSeconds, kOptional };

struct Directive {
  std::string_view name;
  Argument argument;
};

// The response directives of RFC 9111 §5.2.2 and RFC 5861 / 8246.
constexpr Directive kDirectives[] = {
    {"max-age", Argument::kSeconds},
    {"s-maxage", Argument::kSeconds},
    {"stale-while-revalidate", Argument::kSeconds},
    {"stale-if-error", Argument::kSeconds},
    {"no-cache", Argument::kOptional},
    {"private", Argument::kOptional},
    {"no-store", Argument::kNone},
    {"no-transform", Argument::kNone},
    {"must-revalidate", Argument::kNone},
    {"proxy-revalidate", Argument::kNone},
    {"must-understand", Argument::kNone},
    {"public", Argument::kNone},
    {"immutable", Argument::kNone},
};

// What is wrong with one directive of a value, if anything.
std::optional<std::string> directive_problem(std::string_view d) {
  const size_t eq = d.find('=');
  const std::string name = ascii_lower(d.substr(0, std::min(eq, d.size())));
  const auto known = std::find_if(std::begin(kDirectives), std::end(kDirectives),
                                  [&](const Directive& k) { return k.name == name; });
  if (known == std::end(kDirectives)) {
    std::vector<std::string_view> names;
    for (const Directive& k : kDirectives) {
      names.push_back(k.name);
    }
    return "unknown directive " + quote(name) + " (known: " + join(names) + ")";
  }
  if (eq == std::string_view::npos) {
    if (known->argument == Argument::kSeconds) {
      return quote(name) + " needs a number of seconds, e.g. " + name + "=60";
    }
    return std::nullopt;
  }
  const std::string_view arg = d.substr(eq + 1);
  switch (known->argument) {
    case Argument::kNone:
      return quote(name) + " takes no argument";
    case Argument::kSeconds:
      if (arg.empty() || arg.size() > 10 ||
          !std::all_of(arg.begin(), arg.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        return quote(name) + " needs a number of seconds (digits only), got " + quote(arg);
      }
      return std::nullopt;
    case Argument::kOptional:
      // A list of header names: a token, or a quoted string of them.
      if (arg.size() >= 2 && arg.front() == '"' && arg.back() == '"') {
        return std::nullopt;
      }
      if (!is_token(arg)) {
        return quote(name) + " takes header names, as a token or a quoted string, got " +
               quote(arg);
      }
      return std::nullopt;
  }
  return std::nullopt;
}

// What is wrong with a Cache-Control value, if anything: its directives are split at commas
// outside quoted strings.
std::optional<std::string> cache_control_problem(std::string_view value) {
  if (auto problem = field_value_problem(value)) {
    return problem;
  }
  std::optional<std::string> problem;
  for_each_list_element(value, [&](std::string_view d, bool open_quote) {
    if (open_quote) {
      problem = "it has an unterminated quoted string";
    } else if (d.empty()) {
      problem = "it has an empty directive (two commas, or one at an end)";
    } else {
      problem = directive_problem(d);
    }
    return !problem;
  });
  return problem;
}

}  // namespace

void AggregateLoader::load_cache_control(const Field& f, AggregateAction& action) const {
  const std::string text = scalar(f, "most_restrictive, none or a Cache-Control value");
  if (text == "most_restrictive") {
    action.cache_control = AggregateAction::CacheControl::kMostRestrictive;
    return;
  }
  if (text == "none") {
    action.cache_control = AggregateAction::CacheControl::kNone;
    return;
  }
  if (text.empty()) {
    fail(f,
         "empty; write none for no Cache-Control, or leave 'cache_control' out for "
         "most_restrictive");
  }
  if (auto problem = cache_control_problem(text)) {
    const std::string lower = ascii_lower(text);
    const bool mode_like = lower.find("restrict") != std::string::npos || lower == "no" ||
                           lower == "off" || lower == "false";
    fail(f,
         "expected most_restrictive, none or a Cache-Control value like \"public, "
         "max-age=60\", but " +
             quote(text) + " is not one: " + *problem +
             (mode_like ? "; the modes are spelt most_restrictive and none" : ""));
  }
  action.cache_control = AggregateAction::CacheControl::kFixed;
  action.cache_control_value = text;
}

}  // namespace ringgate::config_detail
