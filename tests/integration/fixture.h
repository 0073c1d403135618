#pragma once
// Shared gtest fixture: one gateway per test, its log printed when the test fails.

#include <gtest/gtest.h>

#include <iostream>
#include <memory>
#include <regex>

#include "harness.h"

namespace ringgate::it {

class GatewayTest : public ::testing::Test {
 protected:
  // Starts a gateway; check ok() with ASSERT_TRUE(gw.ok()) << gw.error().
  GatewayProcess& start(const ConfigSpec& spec = {}) {
    gateways_.push_back(std::make_unique<GatewayProcess>(make_config(spec)));
    return *gateways_.back();
  }

  void TearDown() override {
    if (HasFailure()) {
      for (const auto& gw : gateways_) {
        std::cerr << "--- gateway log (" << gw->config_path() << ") ---\n" << gw->log();
      }
    }
  }

  std::vector<std::unique_ptr<GatewayProcess>> gateways_;
};

// IMF-fixdate, RFC 9110 §5.6.7: "Sun, 06 Nov 1994 08:49:37 GMT".
inline bool is_imf_fixdate(const std::string& s) {
  static const std::regex re(
      "(Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-9]{2} "
      "(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2} GMT");
  return std::regex_match(s, re);
}

// Every response carries exactly one valid Date and the configured Server header.
inline void expect_common_headers(const Response& r, const std::string& server = "ringgate") {
  EXPECT_EQ(r.header_count("date"), 1u) << r.raw;
  EXPECT_TRUE(is_imf_fixdate(r.header("date").value_or(""))) << r.raw;
  EXPECT_EQ(r.header_count("server"), 1u) << r.raw;
  EXPECT_EQ(r.header("server").value_or(""), server) << r.raw;
}

// Shows bytes with CR/LF visible, for failure messages.
inline std::string visible(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '\r') {
      out += "\\r";
    } else if (c == '\n') {
      out += "\\n\n";
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace ringgate::it
