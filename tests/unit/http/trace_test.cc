// traceparent parsing and writing (W3C trace context, level 1).

#include "ringgate/http/trace.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace ringgate {
namespace {

TEST(Traceparent, ValidOnesGiveTheirTraceIdAndFlags) {
  char id[32];
  char flags[2];
  ASSERT_TRUE(
      parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", id, flags));
  EXPECT_EQ(std::string(id, 32), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(std::string(flags, 2), "01");
  // A later version: the first 55 characters, when a '-' follows them.
  EXPECT_TRUE(
      parse_traceparent("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-09-xyz", id, flags));
  EXPECT_EQ(std::string(flags, 2), "09");
}

TEST(Traceparent, InvalidOnesAreRefused) {
  char id[32];
  char flags[2];
  for (const char* bad : {
           "",
           "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0",    // short
           "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-",  // 00 has no more
           "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",  // no '-' after 55
           "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",   // version ff
           "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",   // upper case
           "00-00000000000000000000000000000000-00f067aa0ba902b7-01",   // zero trace
           "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",   // zero parent
           "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",   // separator
           "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",   // not hex
       }) {
    EXPECT_FALSE(parse_traceparent(bad, id, flags)) << bad;
  }
}

TEST(Traceparent, EachCallGetsASpanOfItsOwnInTheSameTrace) {
  RequestIdGenerator ids(42, 0);
  TraceContext t;
  t.on = true;
  std::memcpy(t.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736", 32);
  std::memcpy(t.flags, "01", 2);
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    char out[kTraceparentLength];
    write_traceparent(out, t, ids);
    const std::string tp(out, sizeof out);
    char id[32];
    char flags[2];
    ASSERT_TRUE(parse_traceparent(tp, id, flags)) << tp;
    EXPECT_EQ(std::string(id, 32), "4bf92f3577b34da6a3ce929d0e0e4736");
    seen.insert(tp.substr(36, 16));
  }
  EXPECT_EQ(seen.size(), 100u);
}

}  // namespace
}  // namespace ringgate
