#pragma once
// Helpers shared by the config unit tests.

#include <gtest/gtest.h>

#include <string>
#include <variant>

#include "ringgate/config/config.h"

namespace ringgate::config_test {

// Loads `yaml` as "t.yaml" and returns the ConfigError's message, or "" when it loaded.
inline std::string error_of(const std::string& yaml) {
  try {
    load_config_string(yaml, "t.yaml");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

struct ErrorCase {
  const char* yaml;
  const char* where;   // exact "file:line:column"
  const char* reason;  // substring of what follows
};

// Each case must fail to load, at exactly its position, with its reason in the message.
template <typename Cases>
void expect_errors(const Cases& cases) {
  for (const ErrorCase& c : cases) {
    const std::string message = error_of(c.yaml);
    SCOPED_TRACE("yaml:\n" + std::string(c.yaml));
    ASSERT_FALSE(message.empty()) << "loaded, but should have failed";
    const std::string where = std::string(c.where) + ": ";
    EXPECT_EQ(message.substr(0, where.size()), where) << message;
    EXPECT_NE(message.find(c.reason), std::string::npos) << message;
  }
}

template <typename Action>
const Action& action_of(const RouteConfig& route) {
  const auto* action = std::get_if<Action>(&route.action);
  EXPECT_NE(action, nullptr) << route.name;
  static const Action kNone;
  return action ? *action : kNone;
}

inline const AggregateAction& aggregate_of(const RouteConfig& route) {
  return action_of<AggregateAction>(route);
}

// Lines 1-5 of an aggregation config: a server, clusters a and b, `routes:`.
// AGGREGATE_ROUTE adds a route whose aggregate action starts on line 8.
#define AGGREGATE_UPSTREAMS                                                              \
  "server: {listen: \"127.0.0.1:0\"}\nupstreams:\n  a: {endpoints: [\"127.0.0.1:1\"]}\n" \
  "  b: {endpoints: [\"127.0.0.1:2\"]}\nroutes:\n"
#define AGGREGATE_ROUTE AGGREGATE_UPSTREAMS "  - match: {path: \"/p/{id}\"}\n    aggregate:\n"

}  // namespace ringgate::config_test
