// The `logging:` section: every key read back, the defaults (access log off, every field, all
// of it sampled, level info), and one case per error with its exact file:line:column.

#include <gtest/gtest.h>

#include <string>

#include "config_test_util.h"
#include "ringgate/config/config.h"

namespace ringgate {
namespace {

using config_test::ErrorCase;
using config_test::expect_errors;

#define SERVER "server: {listen: \"127.0.0.1:0\"}\n"

TEST(LoggingConfig, DefaultsLeaveTheAccessLogOff) {
  const Config c = load_config_string(SERVER, "t.yaml");
  EXPECT_FALSE(c.logging.access.enabled);
  EXPECT_EQ(c.logging.level, LogLevel::kInfo);
}

TEST(LoggingConfig, EveryKeyIsReadBack) {
  const Config c = load_config_string(SERVER
                                      "logging:\n"
                                      "  level: error\n"
                                      "  access: {path: logs/access.log, fields: [status, path], "
                                      "sample: 0.25}\n",
                                      "t.yaml");
  EXPECT_EQ(c.logging.level, LogLevel::kError);
  const AccessLogConfig& a = c.logging.access;
  EXPECT_TRUE(a.enabled);
  EXPECT_EQ(a.path, "logs/access.log");  // a string's config: relative to the working directory
  EXPECT_EQ(a.format, AccessLogConfig::Format::kJson);
  ASSERT_EQ(a.fields.size(), 2u);
  EXPECT_EQ(a.fields[0], AccessField::kStatus);
  EXPECT_EQ(a.fields[1], AccessField::kPath);
  EXPECT_EQ(a.sample_ppm, 250000u);

  const Config d = load_config_string(SERVER "logging: {access: {}}\n", "t.yaml");
  EXPECT_TRUE(d.logging.access.enabled);
  EXPECT_EQ(d.logging.access.path, "stdout");
  EXPECT_EQ(d.logging.access.fields.size(), static_cast<size_t>(AccessField::kCount));
  EXPECT_EQ(d.logging.access.sample_ppm, 1000000u);
  const Config e =
      load_config_string(SERVER "logging: {access: {format: combined, path: stderr}}\n", "t.yaml");
  EXPECT_EQ(e.logging.access.format, AccessLogConfig::Format::kCombined);
  EXPECT_EQ(e.logging.access.path, "stderr");
}

TEST(LoggingConfig, Problems) {
  const ErrorCase cases[] = {
      {SERVER "logging: {level: loud}\n", "t.yaml:2:18", "expected error, warn, info or debug"},
      {SERVER "logging: {access: {fields: [status, colour]}}\n", "t.yaml:2:37",
       "unknown field 'colour'"},
      {SERVER "logging: {access: {fields: [status, status]}}\n", "t.yaml:2:37", "listed twice"},
      {SERVER "logging: {access: {format: combined, fields: [status]}}\n", "t.yaml:2:46",
       "the combined format is fixed"},
      {SERVER "logging: {access: {format: csv}}\n", "t.yaml:2:28", "expected json or combined"},
      {SERVER "logging: {access: {sample: 1.5}}\n", "t.yaml:2:28", "a fraction from 0 to 1"},
      {SERVER "logging: {access: {sample: half}}\n", "t.yaml:2:28", "a fraction from 0 to 1"},
      {SERVER "logging: {access: stdout}\n", "t.yaml:2:19", "expected a map"},
      {SERVER "logging: {acces: {}}\n", "t.yaml:2:11", "acces"},
  };
  expect_errors(cases);
}

}  // namespace
}  // namespace ringgate

#undef SERVER
