#include "ringgate/core/histogram.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace ringgate {
namespace {

TEST(LatencyHistogram, BucketsAreUpperBoundsInclusive) {
  LatencyHistogram h;
  h.record(0);
  h.record(25);  // on the first bound: that bucket
  h.record(26);
  h.record(20'000'000);  // past the last bound: +Inf
  EXPECT_EQ(LatencyHistogram::kBoundsUs[0], 25u);
  EXPECT_EQ(LatencyHistogram::kBoundsUs[1], 50u);
  EXPECT_EQ(h.bucket(0), 2u);
  EXPECT_EQ(h.bucket(1), 1u);
  EXPECT_EQ(h.bucket(LatencyHistogram::kBuckets - 1), 1u);
  EXPECT_EQ(h.sum_us(), 20'000'051u);
}

TEST(LatencyHistogram, RendersCumulativeSumOfShards) {
  LatencyHistogram a;
  LatencyHistogram b;
  a.record(400);        // le 0.0005
  b.record(3000);       // le 0.005
  b.record(1'500'000);  // le 2.5
  std::string out;
  render_histogram(out, "x_seconds", "upstream=\"u\"",
                   std::vector<const LatencyHistogram*>{&a, &b});
  EXPECT_NE(out.find("x_seconds_bucket{upstream=\"u\",le=\"0.00025\"} 0\n"), std::string::npos)
      << out;
  EXPECT_NE(out.find("x_seconds_bucket{upstream=\"u\",le=\"0.0005\"} 1\n"), std::string::npos);
  EXPECT_NE(out.find("x_seconds_bucket{upstream=\"u\",le=\"0.005\"} 2\n"), std::string::npos);
  EXPECT_NE(out.find("x_seconds_bucket{upstream=\"u\",le=\"1\"} 2\n"), std::string::npos);
  EXPECT_NE(out.find("x_seconds_bucket{upstream=\"u\",le=\"2.5\"} 3\n"), std::string::npos);
  EXPECT_NE(out.find("x_seconds_bucket{upstream=\"u\",le=\"+Inf\"} 3\n"), std::string::npos);
  EXPECT_NE(out.find("x_seconds_sum{upstream=\"u\"} 1.503400\n"), std::string::npos) << out;
  EXPECT_NE(out.find("x_seconds_count{upstream=\"u\"} 3\n"), std::string::npos);
}

}  // namespace
}  // namespace ringgate
