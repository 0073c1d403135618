// parse_size / parse_duration: accepted spellings, refused spellings, overflow.

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "ringgate/config/config.h"

namespace ringgate {
namespace {

struct SizeCase {
  const char* text;
  bool ok;
  uint64_t bytes;
};

TEST(ParseSize, Table) {
  const SizeCase cases[] = {
      {"0", true, 0},
      {"512", true, 512},
      {"512B", true, 512},
      {"16KiB", true, 16384},
      {"8MiB", true, 8ull << 20},
      {"1GiB", true, 1ull << 30},
      {"2TiB", true, 2ull << 40},
      {"4KB", true, 4000},
      {"3MB", true, 3000000},
      {"1GB", true, 1000000000},
      {"1TB", true, 1000000000000ull},
      {"0016KiB", true, 16384},
      {"18446744073709551615", true, UINT64_MAX},
      {"18446744073709551616", false, 0},  // one past UINT64_MAX
      {"99999999999999999999999", false, 0},
      {"16777216TiB", false, 0},  // 2^24 * 2^40 = 2^64
      {"16777215TiB", true, 16777215ull << 40},
      {"", false, 0},
      {"KiB", false, 0},
      {"lots", false, 0},
      {"16 KiB", false, 0},
      {" 16KiB", false, 0},
      {"16KiB ", false, 0},
      {"16kib", false, 0},
      {"16K", false, 0},
      {"16k", false, 0},
      {"16KiBB", false, 0},
      {"1.5MiB", false, 0},
      {"-1", false, 0},
      {"+1", false, 0},
      {"0x10", false, 0},
      {"1e3", false, 0},
  };
  for (const SizeCase& c : cases) {
    uint64_t out = 12345;
    EXPECT_EQ(parse_size(c.text, out), c.ok) << "'" << c.text << "'";
    if (c.ok) {
      EXPECT_EQ(out, c.bytes) << "'" << c.text << "'";
    }
  }
}

struct DurationCase {
  const char* text;
  bool ok;
  int64_t ms;
};

TEST(ParseDuration, Table) {
  const DurationCase cases[] = {
      {"0ms", true, 0},
      {"0s", true, 0},
      {"300ms", true, 300},
      {"1500ms", true, 1500},
      {"60s", true, 60000},
      {"2m", true, 120000},
      {"1h", true, 3600000},
      {"24h", true, 86400000},
      {"9223372036854775807ms", true, INT64_MAX},
      {"9223372036854775808ms", false, 0},  // INT64_MAX + 1
      {"9223372036854775s", true, 9223372036854775000},
      {"9223372036854776s", false, 0},
      {"2562047788015h", true, 2562047788015ll * 3600000},
      {"2562047788016h", false, 0},
      {"99999999999999999999999h", false, 0},
      {"60", false, 0},  // a unit is required
      {"0", false, 0},
      {"", false, 0},
      {"s", false, 0},
      {"1500us", false, 0},  // below the timers' resolution
      {"1ns", false, 0},
      {"1d", false, 0},
      {"1.5s", false, 0},
      {"1m30s", false, 0},
      {"60 s", false, 0},
      {"60S", false, 0},
      {"-5s", false, 0},
      {"soon", false, 0},
  };
  for (const DurationCase& c : cases) {
    Duration out{12345};
    EXPECT_EQ(parse_duration(c.text, out), c.ok) << "'" << c.text << "'";
    if (c.ok) {
      EXPECT_EQ(out.count(), c.ms) << "'" << c.text << "'";
    }
  }
}

TEST(ConfigErrorFormat, FileLineColumn) {
  EXPECT_STREQ(ConfigError(SourceMark{"a.yaml", 3, 7}, "bad").what(), "a.yaml:3:7: bad");
  // No position (e.g. a file that could not be read): the file alone.
  EXPECT_STREQ(ConfigError(SourceMark{"a.yaml", 0, 0}, "bad").what(), "a.yaml: bad");
}

}  // namespace
}  // namespace ringgate

namespace ringgate {
namespace {

TEST(ParseMicroseconds, Table) {
  uint64_t us = 0;
  ASSERT_TRUE(parse_microseconds("50us", us));
  EXPECT_EQ(us, 50u);
  ASSERT_TRUE(parse_microseconds("2ms", us));
  EXPECT_EQ(us, 2000u);
  ASSERT_TRUE(parse_microseconds("0us", us));
  EXPECT_EQ(us, 0u);
  for (const char* bad : {"50", "", "us", "5 us", "1m", "-1us", "99999999999s"}) {
    EXPECT_FALSE(parse_microseconds(bad, us)) << bad;
  }
}

TEST(BatchWait, DefaultRangeAndErrors) {
  const auto server = [](const std::string& batch_wait) {
    return load_config_string("server: {listen: \"127.0.0.1:0\"" + batch_wait + "}\n", "t.yaml")
        .server;
  };
  EXPECT_TRUE(server("").batch_wait_auto);
  EXPECT_TRUE(server(", batch_wait: auto").batch_wait_auto);
  EXPECT_FALSE(server(", batch_wait: 50us").batch_wait_auto);
  EXPECT_EQ(server(", batch_wait: 50us").batch_wait_us, 50u);
  EXPECT_FALSE(server(", batch_wait: 0us").batch_wait_auto);
  EXPECT_EQ(server(", batch_wait: 0us").batch_wait_us, 0u);
  try {
    server(", batch_wait: Auto");
    FAIL() << "Auto accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("expected auto or a duration like 50us or 1ms"),
              std::string::npos)
        << e.what();
  }
  try {
    load_config_string("server:\n  listen: \"127.0.0.1:0\"\n  batch_wait: 20ms\n", "t.yaml");
    FAIL() << "20ms accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("t.yaml:3:15: server.batch_wait: must be between"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace ringgate
