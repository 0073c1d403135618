// Steady state allocates nothing: once the Reader has seen its largest body and the output
// string has its capacity, validate / find / for_each / project / members and the Writer make
// no heap allocation. Counted by replacing the global operator new in this test binary.

#include <gtest/gtest.h>

#include <string>

#include "counting_new.h"
#include "json_fixture.h"

namespace ringgate::json {
namespace {

using testing::Body;

TEST(AllocationTest, SteadyStateAllocatesNothing) {
  Reader reader;
  std::string big = R"({"id":"p1","escaped\u0021key":1,"order":{"lines":[)";
  for (int i = 0; i < 200; ++i) {
    big += (i ? "," : "") + std::string(R"({"productId":"p)") + std::to_string(i) +
           R"(","qty":2,"secret":"s","note":"caf\u00e9"})";
  }
  big += R"(]},"internal":{"cost":1},"name":"Lamp"})";
  const Body body(big);
  const Body small(R"({"id":"p2","name":"Desk"})");
  const Path id = testing::path("id");
  const Path lines = testing::path("order.lines[*].productId");
  const Path escaped = testing::path("escaped!key");
  ProjectionSpec spec;
  spec.allow = {"id", "name", "order.lines[*].productId", "escaped!key"};
  spec.deny = {"order.lines[*].secret"};
  spec.rename = {{"name", "title"}};
  Projection proj;
  std::string why_build;
  ASSERT_TRUE(Projection::build(spec, &proj, &why_build)) << why_build;
  std::string out;
  std::string scratch;
  const Body bad("{\"a\":[1,2,}");

  auto request = [&](const Body& b) {
    std::string_view why;
    ASSERT_TRUE(reader.validate(b.data(), b.size(), Limits{}, &why)) << why;
    std::string_view raw;
    ASSERT_EQ(reader.find(id, &raw), Status::kOk);
    std::string_view text;
    ASSERT_EQ(scalar_text(raw, &scratch, &text), ScalarKind::kString);
    reader.find(escaped, &raw);
    size_t n = 0;
    reader.for_each(lines, [&](std::string_view) { ++n; });
    out.clear();
    Writer w(out);
    w.begin_object();
    w.key("product");
    ASSERT_EQ(reader.project(proj, w), Status::kOk);
    w.key("stock");
    w.number(3);
    w.key("merged");
    w.begin_object();
    reader.members(proj, [&](const Member& m) {
      w.raw_key(m.raw_key);
      w.raw(m.value);
    });
    w.end_object();
    w.key("note");
    w.string("caf\xc3\xa9 \"quoted\"");
    w.end_object();
    ASSERT_TRUE(w.complete());
    // A failed validation allocates nothing either.
    EXPECT_FALSE(reader.validate(bad.data(), bad.size(), Limits{}, &why));
  };

  request(body);  // warm-up: the parser, scratch buffers and `out` grow here
  request(small);
  EXPECT_EQ(counting_new::count([&] {
              for (int i = 0; i < 10; ++i) {
                request(body);
                request(small);
              }
            }),
            0u);
}

}  // namespace
}  // namespace ringgate::json
