#include "ringgate/aggregate/render.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

#include "ringgate/config/config.h"

namespace ringgate::aggregate {
namespace {

// The templates of a real config, loaded and compiled as the engine will.
class RenderTest : public ::testing::Test, public TemplateValues {
 protected:
  RenderTest()
      : config_(load_config_string(R"(server: {listen: "127.0.0.1:0"}
upstreams: {u: {endpoints: ["127.0.0.1:1"]}}
routes:
  - match: {path: "/p/{id}"}
    aggregate:
      backends:
        - key: order
          upstream: u
          path: "/orders/{id}"
        - key: customer
          upstream: u
          method: POST
          path: "/c/{order.customer.id}/x"
          query: {lang: "{query.lang}", q: "{header.x-q}"}
          headers: {x-name: "{order.customer.name}"}
          body: '{{"id": {order.customer.id}, "name": "{order.customer.name}", "lines": {order.lines}}}'
)",
                                   "t.yaml")),
        action_(std::get<AggregateAction>(config_.routes[0].action)) {}

  std::string render_ok(const AggregateTemplate& source, Target target) {
    CompiledTemplate t;
    std::string why;
    EXPECT_TRUE(CompiledTemplate::compile(source, action_, &t, &why)) << why;
    std::string out;
    EXPECT_TRUE(render(t, target, *this, out, &why)) << why;
    return out;
  }

  std::string render_error(const AggregateTemplate& source, Target target) {
    CompiledTemplate t;
    std::string why;
    EXPECT_TRUE(CompiledTemplate::compile(source, action_, &t, &why)) << why;
    std::string out;
    EXPECT_FALSE(render(t, target, *this, out, &why)) << out;
    return why;
  }

  void set_order(std::string json) {
    order_ = std::move(json);
    order_.append(json::kPadding, '\0');
    std::string_view why;
    ASSERT_TRUE(reader_.validate(order_.data(), order_.size() - json::kPadding, {}, &why)) << why;
  }

  // TemplateValues
  std::string_view path_param(uint32_t index) override {
    EXPECT_EQ(index, 0u);
    return id_;
  }
  std::optional<std::string_view> query(std::string_view name) override {
    auto it = query_.find(std::string(name));
    return it == query_.end() ? std::nullopt : std::optional<std::string_view>(it->second);
  }
  std::optional<std::string_view> header(std::string_view name) override {
    auto it = headers_.find(std::string(name));
    return it == headers_.end() ? std::nullopt : std::optional<std::string_view>(it->second);
  }
  std::optional<std::string_view> item(const json::Path&) override { return std::nullopt; }
  std::string_view claim(uint32_t index) override { return index == 0 ? "ann" : ""; }
  std::optional<std::string_view> backend(uint32_t index, const json::Path& path) override {
    EXPECT_EQ(index, 0u);
    std::string_view raw;
    if (reader_.find(path, &raw) != json::Status::kOk) {
      return std::nullopt;
    }
    return raw;
  }

  const AggregateBackend& customer() const { return action_.backends[1]; }

  Config config_;
  const AggregateAction& action_;
  json::Reader reader_;
  std::string order_;
  std::string id_ = "caf%C3%A9";
  std::map<std::string, std::string> query_;
  std::map<std::string, std::string> headers_;
};

TEST_F(RenderTest, PathParamsAreDecodedThenEncodedForTheUrl) {
  EXPECT_EQ(render_ok(action_.backends[0].path, Target::kPath), "/orders/caf%C3%A9");
  id_ = "a%2Fb c";  // an encoded slash stays one segment
  EXPECT_EQ(render_ok(action_.backends[0].path, Target::kPath), "/orders/a%2Fb%20c");
}

TEST_F(RenderTest, BackendValuesGoInByTheirTextEncodedForWhereTheyGo) {
  set_order(R"({"customer": {"id": 7, "name": "Zo\u00eb \"Q\""}, "lines": [1, 2]})");
  EXPECT_EQ(render_ok(customer().path, Target::kPath), "/c/7/x");
  EXPECT_EQ(render_ok(customer().headers[0].value, Target::kHeader), "Zo\xc3\xab \"Q\"");
  EXPECT_EQ(render_ok(*customer().body, Target::kBody),
            "{\"id\": 7, \"name\": \"Zo\xc3\xab \\\"Q\\\"\", \"lines\": [1, 2]}");
  set_order(R"({"customer": {"id": "A/B?", "name": "n"}, "lines": []})");
  EXPECT_EQ(render_ok(customer().path, Target::kPath), "/c/A%2FB%3F/x");
}

TEST_F(RenderTest, QueryAndHeaderValuesAreEncodedAndMissingOnesAreEmpty) {
  EXPECT_EQ(render_ok(customer().query[0].value, Target::kQuery), "");
  query_["lang"] = "en%2Dgb";
  EXPECT_EQ(render_ok(customer().query[0].value, Target::kQuery), "en-gb");
  headers_["x-q"] = "a&b=c d";
  EXPECT_EQ(render_ok(customer().query[1].value, Target::kQuery), "a%26b%3Dc%20d");
}

TEST_F(RenderTest, ValuesThatCannotGoWhereTheyAreAskedForFailTheRendering) {
  set_order(R"({"lines": []})");
  EXPECT_EQ(render_error(customer().path, Target::kPath), "order.customer.id is absent");
  set_order(R"({"customer": {"id": {"n": 1}, "name": "a\nb"}})");
  EXPECT_EQ(render_error(customer().path, Target::kPath),
            "order.customer.id is an object or an array, not a value for a URL");
  EXPECT_EQ(render_error(customer().headers[0].value, Target::kHeader),
            "order.customer.name holds CR, LF or NUL, which a header cannot carry");
}

// '.' is unreserved, so encoding alone would let a value of "." or ".." (decoded from "%2E%2E"
// too) become a segment the backend resolves: "/orders/.." is "/". Such a path is refused;
// dots within a segment, and in a query, are only text.
TEST_F(RenderTest, AValueThatWouldBeADotSegmentFailsThePath) {
  for (const char* id : {"..", ".", "%2E%2E", "%2e", ".%2E"}) {
    id_ = id;
    EXPECT_EQ(render_error(action_.backends[0].path, Target::kPath),
              "its path would have a \".\" or \"..\" segment, which the backend would resolve to "
              "another path")
        << id;
  }
  for (const char* id : {"...", "..x", "a..", ".a"}) {
    id_ = id;
    EXPECT_EQ(render_ok(action_.backends[0].path, Target::kPath), std::string("/orders/") + id);
  }
  id_ = "%2E%2E%2F";  // an encoded slash stays in its segment: "..%2F" is no dot segment
  EXPECT_EQ(render_ok(action_.backends[0].path, Target::kPath), "/orders/..%2F");
  set_order(R"({"customer": {"id": "..", "name": "n"}, "lines": []})");
  EXPECT_NE(render_error(customer().path, Target::kPath).find("segment"), std::string::npos);
  query_["lang"] = "..";
  EXPECT_EQ(render_ok(customer().query[0].value, Target::kQuery), "..");
}

TEST(PercentCoding, RoundTripsEveryByte) {
  std::string all;
  for (int c = 0; c < 256; ++c) {
    all.push_back(static_cast<char>(c));
  }
  std::string encoded;
  percent_encode(all, encoded);
  EXPECT_EQ(encoded.find_first_not_of(
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~%"),
            std::string::npos);
  std::string decoded;
  percent_decode(encoded, decoded);
  EXPECT_EQ(decoded, all);
  decoded.clear();
  percent_decode("100%+%zz%4", decoded);  // bad escapes are kept as they are
  EXPECT_EQ(decoded, "100%+%zz%4");
  // Runs of plain bytes between escapes, at either end and back to back.
  encoded.clear();
  percent_encode("a b/\xc3\xbc~x", encoded);
  EXPECT_EQ(encoded, "a%20b%2F%C3%BC~x");
  encoded.clear();
  percent_encode(" plain-run_1.2 ", encoded);
  EXPECT_EQ(encoded, "%20plain-run_1.2%20");
  decoded.clear();
  percent_decode("%41b%2fc%%41%4", decoded);
  EXPECT_EQ(decoded, "Ab/c%A%4");
}

}  // namespace
}  // namespace ringgate::aggregate
