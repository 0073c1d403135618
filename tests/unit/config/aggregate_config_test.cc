// The `aggregate` route action: every field read back (templates compiled into pieces, references
// into depends_on and stages, profiles into complete projections, defaults into JSON), the
// defaults, the documented example in the embedded config, the build gate, and one case per error
// with its exact file:line:column.

#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "config_test_util.h"
#include "ringgate/config/config.h"

namespace ringgate {
namespace {

using config_test::ErrorCase;

// The engine has not landed, so the loader refuses aggregate routes unless asked not to.

Config load(const std::string& yaml) {
  return load_config_string(yaml, "a.yaml");
}

using config_test::aggregate_of;

// A piece's kind and contents in one line, so a whole template compares at once.
std::string describe(const TemplatePiece& p) {
  switch (p.kind) {
    case TemplatePiece::Kind::kLiteral:
      return "lit(" + p.text + ")";
    case TemplatePiece::Kind::kPathParam:
      return "param(" + p.text + "#" + std::to_string(p.index) + ")";
    case TemplatePiece::Kind::kQuery:
      return "query(" + p.text + ")";
    case TemplatePiece::Kind::kHeader:
      return "header(" + p.text + ")";
    case TemplatePiece::Kind::kItem:
      return "item(" + p.path.text + ")";
    case TemplatePiece::Kind::kBackend:
      return "backend(" + std::to_string(p.index) + ":" + p.path.text + ")";
    case TemplatePiece::Kind::kClaim:
      return "claim(" + p.text + "#" + std::to_string(p.index) + ")";
  }
  return "?";
}

std::vector<std::string> pieces(const AggregateTemplate& t) {
  std::vector<std::string> out;
  for (const TemplatePiece& p : t.pieces) {
    out.push_back(describe(p));
  }
  return out;
}

// "a.b[2]" as its steps: "a", "b", "[2]".
std::vector<std::string> steps(const JsonPath& path) {
  std::vector<std::string> out;
  for (const JsonPathStep& s : path.steps) {
    out.push_back(s.kind == JsonPathStep::Kind::kMember ? s.member
                  : s.kind == JsonPathStep::Kind::kEach ? "[*]"
                                                        : "[" + std::to_string(s.index) + "]");
  }
  return out;
}

std::vector<std::string> texts(const std::vector<JsonPath>& paths) {
  std::vector<std::string> out;
  for (const JsonPath& p : paths) {
    out.push_back(p.text);
  }
  return out;
}

using Strings = std::vector<std::string>;
using Indexes = std::vector<uint32_t>;

constexpr const char* kFull = R"(server: {listen: "127.0.0.1:0"}
upstreams:
  catalog: {endpoints: ["127.0.0.1:9101"]}
  inventory: {endpoints: ["127.0.0.1:9102"]}
  reviews: {endpoints: ["127.0.0.1:9103"]}
routes:
  - name: product
    match: {path: "/shops/{shop}/products/{id}", methods: [GET]}
    aggregate:
      timeout: 2s
      errors: true
      on_collision: last
      status_from: product
      headers: [ETag, x-version]
      limits: {body_bytes: 2MiB, depth: 32, elements: 500}
      profiles:
        select: "header:X-Client"
        default: web
        mobile:
          product: {allow: [id, name, price]}
          reviews: {skip: true}
        web: {}
        lean:
          product: {rename: {price: cost}}
          stock: {pick: total}
      backends:
        - key: product
          upstream: catalog
          method: GET
          path: "/internal/{shop}/catalog/{id}"
          query: {lang: "{query.lang}", fixed: "a b"}
          headers: {X-User: "{header.X-User}", x-trace: "t-{header.x-trace}"}
          timeout: 500ms
          optional: false
          merge: false
          allow: [id, name, price, variants]
          deny: ["variants[*].cost"]
          rename: {name: title}
        - key: stock
          upstream: inventory
          path: "/internal/inventory/{product.sku}/{{raw}}"
          optional: true
          default: 0
          pick: levels[0].count
        - key: reviews
          upstream: reviews
          method: POST
          path: /search
          body: '{{"product": {product.id}, "first": "{product.variants[0].sku}"}}'
          content_type: "application/json; charset=utf-8"
          optional: true
          default: {items: [], note: "n/a"}
          merge: true
          rename: {items: review_items}
        - key: prices
          upstream: catalog
          for_each: "product.variants[*].sku"
          concurrency: 4
          max_items: 50
          method: PUT
          path: "/prices/{item}"
          body: "{item}"
)";

TEST(AggregateConfig, EveryFieldRoundTrips) {
  const Config c = load(kFull);
  ASSERT_EQ(c.routes.size(), 1u);
  const AggregateAction& a = aggregate_of(c.routes[0]);
  EXPECT_EQ(a.timeout, Duration(2000));
  EXPECT_TRUE(a.errors);
  EXPECT_EQ(a.on_collision, AggregateAction::Collision::kLast);
  ASSERT_TRUE(a.status_from);
  EXPECT_EQ(*a.status_from, 0u);
  EXPECT_EQ(a.headers, (Strings{"etag", "x-version"}));
  EXPECT_EQ(a.limits.body_bytes, 2u << 20);
  EXPECT_EQ(a.limits.depth, 32u);
  EXPECT_EQ(a.limits.elements, 500u);
  ASSERT_EQ(a.backends.size(), 4u);
  EXPECT_EQ(a.stage_count, 2u);

  const AggregateBackend& product = a.backends[0];
  EXPECT_EQ(product.key, "product");
  EXPECT_EQ(product.cluster, "catalog");
  EXPECT_EQ(product.cluster_index, 0u);
  EXPECT_EQ(product.method, "GET");
  EXPECT_EQ(product.path.text, "/internal/{shop}/catalog/{id}");
  EXPECT_EQ(pieces(product.path),
            (Strings{"lit(/internal/)", "param(shop#0)", "lit(/catalog/)", "param(id#1)"}));
  ASSERT_EQ(product.query.size(), 2u);
  EXPECT_EQ(product.query[0].name, "lang");
  EXPECT_EQ(pieces(product.query[0].value), (Strings{"query(lang)"}));
  EXPECT_EQ(product.query[1].name, "fixed");
  EXPECT_EQ(pieces(product.query[1].value), (Strings{"lit(a b)"}));
  ASSERT_EQ(product.headers.size(), 2u);
  EXPECT_EQ(product.headers[0].name, "x-user");  // lower-cased, as are header placeholders
  EXPECT_EQ(pieces(product.headers[0].value), (Strings{"header(x-user)"}));
  EXPECT_EQ(product.headers[1].name, "x-trace");
  EXPECT_EQ(pieces(product.headers[1].value), (Strings{"lit(t-)", "header(x-trace)"}));
  EXPECT_FALSE(product.body);
  EXPECT_TRUE(product.content_type.empty());
  EXPECT_EQ(product.timeout, Duration(500));
  EXPECT_FALSE(product.optional);
  EXPECT_EQ(product.default_json, "null");
  EXPECT_FALSE(product.merge);
  EXPECT_FALSE(product.projection.pick);
  EXPECT_EQ(texts(product.projection.allow), (Strings{"id", "name", "price", "variants"}));
  EXPECT_EQ(texts(product.projection.deny), (Strings{"variants[*].cost"}));
  EXPECT_EQ(steps(product.projection.deny[0]), (Strings{"variants", "[*]", "cost"}));
  ASSERT_EQ(product.projection.rename.size(), 1u);
  EXPECT_EQ(product.projection.rename[0].from, "name");
  EXPECT_EQ(product.projection.rename[0].to, "title");
  EXPECT_FALSE(product.for_each);
  EXPECT_TRUE(product.depends_on.empty());
  EXPECT_EQ(product.stage, 0u);

  const AggregateBackend& stock = a.backends[1];
  EXPECT_EQ(stock.key, "stock");
  EXPECT_EQ(stock.cluster_index, 1u);
  EXPECT_EQ(stock.method, "GET");
  EXPECT_EQ(pieces(stock.path),
            (Strings{"lit(/internal/inventory/)", "backend(0:sku)", "lit(/{raw})"}));
  EXPECT_EQ(steps(stock.path.pieces[1].path), (Strings{"sku"}));
  EXPECT_EQ(stock.timeout, Duration(2000));  // the aggregate's
  EXPECT_TRUE(stock.optional);
  EXPECT_EQ(stock.default_json, "0");
  ASSERT_TRUE(stock.projection.pick);
  EXPECT_EQ(stock.projection.pick->text, "levels[0].count");
  EXPECT_EQ(steps(*stock.projection.pick), (Strings{"levels", "[0]", "count"}));
  EXPECT_EQ(stock.depends_on, (Indexes{0}));
  EXPECT_EQ(stock.stage, 1u);

  const AggregateBackend& reviews = a.backends[2];
  EXPECT_EQ(reviews.method, "POST");
  EXPECT_EQ(pieces(reviews.path), (Strings{"lit(/search)"}));
  ASSERT_TRUE(reviews.body);
  EXPECT_EQ(pieces(*reviews.body),
            (Strings{"lit({\"product\": )", "backend(0:id)", "lit(, \"first\": \")",
                     "backend(0:variants[0].sku)", "lit(\"})"}));
  EXPECT_EQ(steps(reviews.body->pieces[3].path), (Strings{"variants", "[0]", "sku"}));
  EXPECT_EQ(reviews.content_type, "application/json; charset=utf-8");
  EXPECT_TRUE(reviews.merge);
  EXPECT_EQ(reviews.default_json, R"({"items":[],"note":"n/a"})");
  ASSERT_EQ(reviews.projection.rename.size(), 1u);
  EXPECT_EQ(reviews.projection.rename[0].to, "review_items");
  EXPECT_EQ(reviews.depends_on, (Indexes{0}));
  EXPECT_EQ(reviews.stage, 1u);

  const AggregateBackend& prices = a.backends[3];
  EXPECT_EQ(prices.method, "PUT");
  EXPECT_EQ(pieces(prices.path), (Strings{"lit(/prices/)", "item()"}));
  ASSERT_TRUE(prices.body);
  EXPECT_EQ(pieces(*prices.body), (Strings{"item()"}));
  EXPECT_EQ(prices.content_type, "application/json");  // the default with a body
  ASSERT_TRUE(prices.for_each);
  EXPECT_EQ(prices.for_each->backend, 0u);
  EXPECT_EQ(prices.for_each->array.text, "variants");
  EXPECT_EQ(steps(prices.for_each->array), (Strings{"variants"}));
  EXPECT_EQ(prices.for_each->element.text, "sku");
  EXPECT_EQ(steps(prices.for_each->element), (Strings{"sku"}));
  EXPECT_EQ(prices.for_each->concurrency, 4u);
  EXPECT_EQ(prices.for_each->max_items, 50u);
  EXPECT_EQ(prices.depends_on, (Indexes{0}));
  EXPECT_EQ(prices.stage, 1u);

  ASSERT_TRUE(a.profiles);
  const AggregateProfiles& profiles = *a.profiles;
  EXPECT_EQ(profiles.select, AggregateProfiles::Select::kHeader);
  EXPECT_EQ(profiles.select_name, "x-client");
  ASSERT_EQ(profiles.profiles.size(), 3u);
  ASSERT_TRUE(profiles.default_profile);
  EXPECT_EQ(*profiles.default_profile, 1u);

  const AggregateProfile& mobile = profiles.profiles[0];
  EXPECT_EQ(mobile.name, "mobile");
  ASSERT_EQ(mobile.backends.size(), 4u);
  // An override of allow replaces the backend's allow and deny; its rename stays.
  EXPECT_FALSE(mobile.backends[0].skip);
  EXPECT_EQ(texts(mobile.backends[0].projection.allow), (Strings{"id", "name", "price"}));
  EXPECT_TRUE(mobile.backends[0].projection.deny.empty());
  ASSERT_EQ(mobile.backends[0].projection.rename.size(), 1u);
  EXPECT_EQ(mobile.backends[0].projection.rename[0].to, "title");
  EXPECT_FALSE(mobile.backends[1].skip);
  ASSERT_TRUE(mobile.backends[1].projection.pick);
  EXPECT_EQ(mobile.backends[1].projection.pick->text, "levels[0].count");
  EXPECT_TRUE(mobile.backends[2].skip);
  EXPECT_FALSE(mobile.backends[3].skip);

  const AggregateProfile& web = profiles.profiles[1];
  EXPECT_EQ(web.name, "web");
  for (size_t i = 0; i < web.backends.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_FALSE(web.backends[i].skip);
    EXPECT_EQ(texts(web.backends[i].projection.allow), texts(a.backends[i].projection.allow));
    EXPECT_EQ(texts(web.backends[i].projection.deny), texts(a.backends[i].projection.deny));
    EXPECT_EQ(web.backends[i].projection.pick.has_value(),
              a.backends[i].projection.pick.has_value());
    EXPECT_EQ(web.backends[i].projection.rename.size(), a.backends[i].projection.rename.size());
  }

  const AggregateProfile& lean = profiles.profiles[2];
  // A rename alone keeps the backend's allow and deny.
  EXPECT_EQ(texts(lean.backends[0].projection.allow), (Strings{"id", "name", "price", "variants"}));
  EXPECT_EQ(texts(lean.backends[0].projection.deny), (Strings{"variants[*].cost"}));
  ASSERT_EQ(lean.backends[0].projection.rename.size(), 1u);
  EXPECT_EQ(lean.backends[0].projection.rename[0].from, "price");
  EXPECT_EQ(lean.backends[0].projection.rename[0].to, "cost");
  ASSERT_TRUE(lean.backends[1].projection.pick);
  EXPECT_EQ(lean.backends[1].projection.pick->text, "total");
}

TEST(AggregateConfig, OmittedOptionsTakeTheStructDefaults) {
  const Config c = load(R"(server: {listen: "127.0.0.1:0"}
upstreams:
  a: {endpoints: ["127.0.0.1:1"]}
routes:
  - match: {prefix: /p}
    aggregate:
      backends:
        - {key: one, upstream: a, path: /one}
        - {key: two, upstream: a, path: /two, optional: true}
        - {key: three, upstream: a, path: /three, optional: true, merge: true}
        - {key: four, upstream: a, path: "/{two}", for_each: "one[*]", method: POST,
           body: "{item}"}
)");
  const AggregateAction& a = aggregate_of(c.routes.at(0));
  const AggregateAction d;
  EXPECT_EQ(a.timeout, d.timeout);
  EXPECT_EQ(a.timeout, Duration(5000));
  EXPECT_EQ(a.errors, d.errors);
  EXPECT_EQ(a.on_collision, AggregateAction::Collision::kError);
  EXPECT_FALSE(a.status_from);
  EXPECT_TRUE(a.headers.empty());
  EXPECT_EQ(a.limits.body_bytes, d.limits.body_bytes);
  EXPECT_EQ(a.limits.body_bytes, 1u << 20);
  EXPECT_EQ(a.limits.depth, 64u);
  EXPECT_EQ(a.limits.elements, 10000u);
  EXPECT_FALSE(a.profiles);
  ASSERT_EQ(a.backends.size(), 4u);

  const AggregateBackend db;
  const AggregateBackend& one = a.backends[0];
  EXPECT_EQ(one.method, db.method);
  EXPECT_EQ(one.method, "GET");
  EXPECT_TRUE(one.query.empty());
  EXPECT_TRUE(one.headers.empty());
  EXPECT_FALSE(one.body);
  EXPECT_TRUE(one.content_type.empty());
  EXPECT_EQ(one.timeout, a.timeout);
  EXPECT_FALSE(one.optional);
  EXPECT_EQ(one.default_json, "null");
  EXPECT_FALSE(one.merge);
  EXPECT_FALSE(one.projection.pick);
  EXPECT_TRUE(one.projection.allow.empty());
  EXPECT_TRUE(one.projection.deny.empty());
  EXPECT_TRUE(one.projection.rename.empty());
  EXPECT_FALSE(one.for_each);
  EXPECT_EQ(a.backends[1].default_json, "null");  // optional without a default
  EXPECT_EQ(a.backends[2].default_json, "{}");    // ... and merged: no members
  const AggregateBackend& four = a.backends[3];
  ASSERT_TRUE(four.for_each);
  const AggregateForEach de;
  EXPECT_EQ(four.for_each->concurrency, de.concurrency);
  EXPECT_EQ(four.for_each->concurrency, 8u);
  EXPECT_EQ(four.for_each->max_items, 100u);
  EXPECT_TRUE(four.for_each->array.steps.empty());  // the body itself is the array
  EXPECT_TRUE(four.for_each->element.steps.empty());
  EXPECT_EQ(four.content_type, "application/json");
  EXPECT_EQ(four.depends_on, (Indexes{0, 1}));
  EXPECT_EQ(four.stage, 1u);
  EXPECT_EQ(a.stage_count, 2u);
}

// Stages follow the longest chain of references; independent backends share stage 0.
TEST(AggregateConfig, DependenciesAndStages) {
  const Config c = load(R"(server: {listen: "127.0.0.1:0"}
upstreams:
  a: {endpoints: ["127.0.0.1:1"]}
routes:
  - match: {path: "/chain/{id}"}
    aggregate:
      backends:
        - {key: c, upstream: a, path: "/c/{b.id}", query: {again: "{b.x}", also: "{a.y}"}}
        - {key: b, upstream: a, path: "/b/{a.id}"}
        - {key: a, upstream: a, path: "/a/{id}"}
  - match: {path: "/fan/{id}"}
    aggregate:
      backends:
        - {key: x, upstream: a, path: "/x/{id}"}
        - {key: y, upstream: a, path: "/y/{id}"}
        - {key: z, upstream: a, path: "/z", headers: {h: "{header.h}"}, query: {q: "{query.q}"}}
        - {key: w, upstream: a, path: "/w/{z.n}/{x.n}/{y.n}/{x.m}"}
        - {key: v, upstream: a, path: "/v", headers: {h: "{w}"}}
)");
  const AggregateAction& chain = aggregate_of(c.routes.at(0));
  EXPECT_EQ(chain.backends[0].depends_on, (Indexes{0 + 1, 2}));  // b and a, deduplicated
  EXPECT_EQ(chain.backends[1].depends_on, (Indexes{2}));
  EXPECT_TRUE(chain.backends[2].depends_on.empty());
  EXPECT_EQ(chain.backends[0].stage, 2u);  // c after b after a, whatever the listed order
  EXPECT_EQ(chain.backends[1].stage, 1u);
  EXPECT_EQ(chain.backends[2].stage, 0u);
  EXPECT_EQ(chain.stage_count, 3u);

  const AggregateAction& fan = aggregate_of(c.routes.at(1));
  EXPECT_EQ(fan.backends[0].stage, 0u);
  EXPECT_EQ(fan.backends[1].stage, 0u);
  EXPECT_EQ(fan.backends[2].stage, 0u);  // the client's headers and query are no dependency
  EXPECT_EQ(fan.backends[3].depends_on, (Indexes{0, 1, 2}));
  EXPECT_EQ(fan.backends[3].stage, 1u);
  EXPECT_EQ(fan.backends[4].depends_on, (Indexes{3}));
  EXPECT_EQ(fan.backends[4].stage, 2u);
  EXPECT_EQ(pieces(fan.backends[4].headers[0].value), (Strings{"backend(3:)"}));
  EXPECT_EQ(fan.stage_count, 3u);
}

TEST(AggregateConfig, TemplatePieces) {
  const Config c = load(R"(server: {listen: "127.0.0.1:0"}
upstreams:
  a: {endpoints: ["127.0.0.1:1"]}
routes:
  - match: {path: "/o/{order-id}/{v}"}
    aggregate:
      backends:
        - key: order
          upstream: a
          path: "/orders/{order-id}"
        - key: lines
          upstream: a
          for_each: "order.lines[*]"
          method: PATCH
          path: "/{{x}}/{v}-{order-id}/{item.sku}/{item[0].a-b_c}"
          query: {"ids[]": "{{", "a": "{query.a.b}", empty: ""}
          headers: {x-h: "{header.X_Y}{item}"}
          body: "{{{item}}}{order}{{}}"
)");
  const AggregateAction& a = aggregate_of(c.routes.at(0));
  const AggregateBackend& lines = a.backends[1];
  EXPECT_EQ(pieces(lines.path), (Strings{"lit(/{x}/)", "param(v#1)", "lit(-)", "param(order-id#0)",
                                         "lit(/)", "item(sku)", "lit(/)", "item([0].a-b_c)"}));
  EXPECT_EQ(steps(lines.path.pieces[7].path), (Strings{"[0]", "a-b_c"}));
  ASSERT_EQ(lines.query.size(), 3u);
  EXPECT_EQ(lines.query[0].name, "ids[]");
  EXPECT_EQ(pieces(lines.query[0].value), (Strings{"lit({)"}));
  EXPECT_EQ(pieces(lines.query[1].value), (Strings{"query(a.b)"}));  // names may hold dots
  EXPECT_TRUE(lines.query[2].value.pieces.empty());
  EXPECT_EQ(pieces(lines.headers[0].value), (Strings{"header(x_y)", "item()"}));
  EXPECT_EQ(pieces(*lines.body), (Strings{"lit({)", "item()", "lit(})", "backend(0:)", "lit({})"}));
  EXPECT_EQ(lines.for_each->array.text, "lines");
  EXPECT_TRUE(lines.for_each->element.steps.empty());
  EXPECT_EQ(lines.depends_on, (Indexes{0}));
}

// `default:` becomes JSON text once, at load.
TEST(AggregateConfig, DefaultValuesAsJson) {
  struct Case {
    const char* yaml;  // the value after `default: `
    const char* json;
  };
  const Case cases[] = {
      {"0", "0"},
      {"-12", "-12"},
      {"+7", "7"},
      {"007", "7"},
      {"-000", "-0"},
      {"123456789012345678901234567890", "123456789012345678901234567890"},
      {"1.5", "1.5"},
      {"-1.50", "-1.50"},
      {".5", "0.5"},
      {"-.5", "-0.5"},
      {"5.", "5.0"},
      {"1e3", "1e3"},
      {"2.5E-3", "2.5E-3"},
      {"+1.0e+10", "1.0e+10"},
      {"0x1F", "31"},
      {"0xffffffffffffffff", "18446744073709551615"},
      {"0o17", "15"},
      {"true", "true"},
      {"False", "false"},
      {"TRUE", "true"},
      {"null", "null"},
      {"~", "null"},
      {"", "null"},
      {"NULL", "null"},
      // Not numbers, booleans or null in YAML 1.2: strings.
      {"yes", "\"yes\""},
      {"off", "\"off\""},
      {"1_000", "\"1_000\""},
      {"0x", "\"0x\""},
      {"0o8", "\"0o8\""},
      {"1e", "\"1e\""},
      {"1.2.3", "\"1.2.3\""},
      {"inf", "\"inf\""},
      {"-x", "\"-x\""},
      {"n/a", "\"n/a\""},
      // Quoted or tagged: always strings.
      {"\"0\"", "\"0\""},
      {"'true'", "\"true\""},
      {"\"null\"", "\"null\""},
      {"!!str 12", "\"12\""},
      {"''", "\"\""},
      // Escapes: quotes, backslashes, control characters; UTF-8 as is.
      {R"("say \"hi\"")", R"("say \"hi\"")"},
      {R"('back\slash')", R"("back\\slash")"},
      {R"("tab\there\nnew\rline\b\f")", R"("tab\there\nnew\rline\b\f")"},
      {R"("\x01\x1f\x7f")", "\"\\u0001\\u001f\x7f\""},
      {"\"h\\u00e9llo \\u2713 \\U0001F600\"", "\"h\xc3\xa9llo \xe2\x9c\x93 \xf0\x9f\x98\x80\""},
      {"héllo ✓", "\"héllo ✓\""},
      {"\"\\u2028\"", "\"\xe2\x80\xa8\""},
      // Lists and maps, nested; map keys are always strings.
      {"[]", "[]"},
      {"{}", "{}"},
      {"[1, \"two\", 3.0, true, ~, [], {}]", "[1,\"two\",3.0,true,null,[],{}]"},
      {"{a: 1, 2: b, \"c d\": [x, {e: null}], f: {g: {h: [-.5]}}}",
       "{\"a\":1,\"2\":\"b\",\"c d\":[\"x\",{\"e\":null}],\"f\":{\"g\":{\"h\":[-0.5]}}}"},
      {"{\"q\\\"k\": 'v'}", "{\"q\\\"k\":\"v\"}"},
      {"[a, , b]", "[\"a\",null,\"b\"]"},
      {"{k: }", "{\"k\":null}"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.yaml);
    const std::string yaml = std::string(R"(server: {listen: "127.0.0.1:0"}
upstreams: {a: {endpoints: ["127.0.0.1:1"]}}
routes:
  - match: {path: /p}
    aggregate:
      backends:
        - key: p
          upstream: a
          path: /p
          optional: true
          default: )") + c.yaml +
                             "\n";
    try {
      EXPECT_EQ(aggregate_of(load(yaml).routes.at(0)).backends.at(0).default_json, c.json);
    } catch (const ConfigError& e) {
      ADD_FAILURE() << e.what();
    }
  }
  // A block of text, a multi-line map: as a user would write them.
  const Config c = load(R"(server: {listen: "127.0.0.1:0"}
upstreams: {a: {endpoints: ["127.0.0.1:1"]}}
routes:
  - match: {path: /p}
    aggregate:
      backends:
        - key: p
          upstream: a
          path: /p
          optional: true
          default: |
            line one
            "two"
        - key: q
          upstream: a
          path: /q
          optional: true
          merge: true
          default:
            reviews: []
            rating:
              average: 0
              count: 0
)");
  const AggregateAction& a = aggregate_of(c.routes.at(0));
  EXPECT_EQ(a.backends[0].default_json, R"("line one\n\"two\"\n")");
  EXPECT_EQ(a.backends[1].default_json, R"({"reviews":[],"rating":{"average":0,"count":0}})");
}

// The whole action is checked, so `ringgate -t` reports its mistakes.
TEST(AggregateConfig, TheWholeActionIsChecked) {
  EXPECT_EQ(config_test::error_of(
                "server: {listen: \"127.0.0.1:0\"}\nroutes:\n  - match: {path: /p}\n"
                "    aggregate:\n      backends: [{key: p, upstream: nope, path: /p}]\n"),
            "t.yaml:5:37: routes[0].aggregate.backends[0].upstream: unknown upstream \"nope\" (no "
            "upstreams are defined)");
}

// The aggregate block of the routes comment in conf/ringgate.yaml, uncommented: every line from
// `#     aggregate:` on that is indented deeper, with its leading '#' removed.
std::string documented_aggregate_block() {
  std::istringstream in(kEmbeddedDefaultConfig);
  std::string block;
  bool inside = false;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("#     aggregate:", 0) == 0) {
      inside = true;
    } else if (inside && line.rfind("#       ", 0) != 0) {
      break;
    }
    if (inside) {
      block += line.substr(1) + "\n";
    }
  }
  return block;
}

TEST(AggregateConfig, DocumentedExampleLoads) {
  const std::string block = documented_aggregate_block();
  ASSERT_FALSE(block.empty());
  const Config c = load(std::string(R"(server: {listen: "127.0.0.1:0"}
upstreams:
  catalog: {endpoints: ["127.0.0.1:1"]}
  inventory: {endpoints: ["127.0.0.1:2"]}
  pricing: {endpoints: ["127.0.0.1:3"]}
caches:
  default: {}
routes:
   - match: {path: "/products/{id}"}
)") + block);
  const AggregateAction& a = aggregate_of(c.routes.at(0));
  ASSERT_EQ(a.backends.size(), 3u);
  EXPECT_TRUE(a.profiles);
  EXPECT_TRUE(a.backends[2].for_each);
  EXPECT_TRUE(a.backends[2].body);

  // The values shown as defaults are the defaults.
  const AggregateAction d;
  EXPECT_EQ(a.timeout, d.timeout);
  EXPECT_EQ(a.errors, d.errors);
  EXPECT_EQ(a.on_collision, d.on_collision);
  EXPECT_EQ(a.limits.body_bytes, d.limits.body_bytes);
  EXPECT_EQ(a.limits.depth, d.limits.depth);
  EXPECT_EQ(a.limits.elements, d.limits.elements);
  EXPECT_EQ(a.cache_control, d.cache_control);
  const AggregateBackend db;
  EXPECT_EQ(a.backends[0].method, db.method);
  EXPECT_EQ(a.backends[0].optional, db.optional);
  EXPECT_EQ(a.backends[0].merge, db.merge);
  const AggregateForEach de;
  EXPECT_EQ(a.backends[2].for_each->concurrency, de.concurrency);
  EXPECT_EQ(a.backends[2].for_each->max_items, de.max_items);
  EXPECT_EQ(a.backends[2].content_type, "application/json");

  // Every option appears in the block.
  for (const char* key :
       {"timeout:",       "errors:",     "on_collision:", "status_from:", "headers:",
        "limits:",        "body_bytes:", "depth:",        "elements:",    "profiles:",
        "select:",        "default:",    "skip:",         "backends:",    "key:",
        "upstream:",      "method:",     "path:",         "query:",       "body:",
        "content_type:",  "optional:",   "merge:",        "pick:",        "allow:",
        "deny:",          "rename:",     "for_each:",     "concurrency:", "max_items:",
        "cache_control:", "host:"}) {
    EXPECT_NE(block.find(key), std::string::npos) << key;
  }
}

// The first lines of every case: a server, clusters a and b (lines 2-4) and `routes:` (line 5).
// ROUTE adds a template route /p/{id} whose aggregate action starts on line 8; BACKENDS opens
// its backend list, whose first entry is on line 9. BACKEND(...) is one backend on one line,
// FIRST a valid one (key p), TAIL the backend list with only FIRST.
#define UPSTREAMS AGGREGATE_UPSTREAMS
#define ROUTE AGGREGATE_ROUTE
#define BACKENDS ROUTE "      backends:\n"
#define BACKEND(fields) "        - {" fields "}\n"
#define FIRST BACKEND("key: p, upstream: a, path: \"/p/{id}\"")
#define TAIL "      backends:\n" FIRST

const ErrorCase kAggregateErrors[] = {
    {UPSTREAMS "  - match: {path: /p}\n"
               "    aggregate: x\n",
     "t.yaml:7:16", "routes[0].aggregate: expected a map, got 'x'"},
    {ROUTE "", "t.yaml:7:5", "routes[0].aggregate: missing 'backends'"},
    {BACKENDS BACKEND("key: p, upstream: a, path: \"/u/{claim.sub}\""), "t.yaml:9:39",
     "placeholder '{claim.sub}' reads the verified JWT: the route needs auth.jwt"},
    {ROUTE "      timeout: 1s\n", "t.yaml:8:7",
     "routes[0].aggregate: missing 'backends' (the calls to make"},
    {ROUTE "      backend:\n", "t.yaml:8:7",
     "unknown key 'backend' in 'routes[0].aggregate' (expected one of: timeout, errors, "
     "on_collision, status_from, headers, cache_control, limits, profiles, backends)"},
    {UPSTREAMS "  - match: {path: /p}\n"
               "    upstream: a\n"
               "    aggregate: {}\n",
     "t.yaml:8:16",
     "routes[0].aggregate: a route has exactly one action, but this one also has 'upstream'"},
    {ROUTE "      timeout: 2h\n" TAIL, "t.yaml:8:16",
     "routes[0].aggregate.timeout: must be between 1ms and 1h, got 2h"},
    {ROUTE "      timeout: 0ms\n" TAIL, "t.yaml:8:16", "must be between 1ms and 1h, got 0ms"},
    {ROUTE "      timeout: 5\n" TAIL, "t.yaml:8:16", "a unit is required"},
    {ROUTE "      errors: yes\n" TAIL, "t.yaml:8:15",
     "routes[0].aggregate.errors: expected true or false, got 'yes'"},
    {ROUTE "      on_collision: merge\n" TAIL, "t.yaml:8:21",
     "routes[0].aggregate.on_collision: expected error, first or last, got 'merge'"},
    {ROUTE "      limits: {body_bytes: 65MiB}\n" TAIL, "t.yaml:8:28",
     "routes[0].aggregate.limits.body_bytes: must be between 1 byte and 64MiB, got 65MiB"},
    {ROUTE "      limits: {body_bytes: 0}\n" TAIL, "t.yaml:8:28",
     "must be between 1 byte and 64MiB, got 0"},
    {ROUTE "      limits: {depth: 0}\n" TAIL, "t.yaml:8:23",
     "routes[0].aggregate.limits.depth: must be between 1 and 1024, got 0"},
    {ROUTE "      limits: {depth: 1025}\n" TAIL, "t.yaml:8:23",
     "must be between 1 and 1024, got 1025"},
    {ROUTE "      limits: {elements: 10000001}\n" TAIL, "t.yaml:8:26",
     "routes[0].aggregate.limits.elements: must be between 1 and 10000000, got 10000001"},
    {ROUTE "      limits: {bytes: 1}\n" TAIL, "t.yaml:8:16",
     "unknown key 'bytes' in 'routes[0].aggregate.limits' (expected one of: body_bytes, depth, "
     "elements)"},
    {ROUTE "      headers: [Cache-Control]\n" TAIL, "t.yaml:8:17",
     "routes[0].aggregate.headers[0]: 'Cache-Control' is set by cache_control (most_restrictive "
     "of the backends' by default, none, or a value), so it cannot be passed on"},
    {ROUTE "      headers: [etag, content-type]\n" TAIL, "t.yaml:8:23",
     "routes[0].aggregate.headers[1]: 'content-type' describes one backend's body, not the "
     "aggregated one"},
    {ROUTE "      headers: [Transfer-Encoding]\n" TAIL, "t.yaml:8:17",
     "describes one backend's body"},
    {ROUTE "      headers: [connection]\n" TAIL, "t.yaml:8:17", "'connection' is hop-by-hop"},
    {ROUTE "      headers: [Ringgate-Partial]\n" TAIL, "t.yaml:8:17",
     "'Ringgate-Partial' is set by the gateway"},
    {ROUTE "      headers: [ETag, etag]\n" TAIL, "t.yaml:8:23",
     "routes[0].aggregate.headers[1]: header 'etag' is listed twice"},
    {ROUTE "      headers: [\"x y\"]\n" TAIL, "t.yaml:8:17", "'x y' is not a valid header name"},
    {ROUTE "      headers: []\n" TAIL, "t.yaml:8:16", "routes[0].aggregate.headers: empty list"},
    {ROUTE "      backends: {key: p}\n", "t.yaml:8:17",
     "routes[0].aggregate.backends: expected a list of backends, got a map"},
    {ROUTE "      backends: []\n", "t.yaml:8:17",
     "routes[0].aggregate.backends: at least one backend is required"},
    {BACKENDS "        - [p]\n", "t.yaml:9:11",
     "routes[0].aggregate.backends[0]: expected a backend map with key, upstream and path, got a "
     "list"},
    {BACKENDS BACKEND("upstream: a, path: /x"), "t.yaml:9:11",
     "routes[0].aggregate.backends[0]: missing 'key' (the member of the response this backend "
     "fills)"},
    {BACKENDS BACKEND("key: p, upstream: a, path: /x, paht: /y"), "t.yaml:9:43",
     "unknown key 'paht' in 'routes[0].aggregate.backends[0]' (expected one of: key, upstream, "
     "method, path, query, headers, body, content_type, timeout, optional, default, merge, pick, "
     "allow, deny, rename, for_each, concurrency, max_items, host, cache)"},
    {BACKENDS BACKEND("key: \"a.b\", upstream: a, path: /x"), "t.yaml:9:17",
     "routes[0].aggregate.backends[0].key: must be 1 to 64 characters: letters, digits, '_' and "
     "'-' (it names a response member and {placeholders}), got 'a.b'"},
    {BACKENDS BACKEND("key: \"\", upstream: a, path: /x"), "t.yaml:9:17",
     "must be 1 to 64 characters"},
    {BACKENDS BACKEND("key: kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk, "
                      "upstream: a, path: /x"),
     "t.yaml:9:17", "must be 1 to 64 characters"},
    {BACKENDS BACKEND("key: [p], upstream: a, path: /x"), "t.yaml:9:17",
     "routes[0].aggregate.backends[0].key: expected a key name, got a list"},
    {BACKENDS BACKEND("key: item, upstream: a, path: /x"), "t.yaml:9:17",
     "routes[0].aggregate.backends[0].key: 'item' is reserved for {item} in for_each templates; "
     "choose another key"},
    {BACKENDS BACKEND("key: query, upstream: a, path: /x"), "t.yaml:9:17",
     "'query' is reserved for {query.NAME} placeholders"},
    {BACKENDS BACKEND("key: header, upstream: a, path: /x"), "t.yaml:9:17",
     "'header' is reserved for {header.NAME} placeholders"},
    {ROUTE "      errors: true\n"
           "      backends:\n" BACKEND("key: errors, upstream: a, path: /x"),
     "t.yaml:10:17",
     "routes[0].aggregate.backends[0].key: 'errors' is the member that lists failed backends when "
     "errors: true"},
    {BACKENDS BACKEND("key: id, upstream: a, path: /x"), "t.yaml:9:17",
     "routes[0].aggregate.backends[0].key: 'id' is also a path parameter of this route, so {id} "
     "would be ambiguous; rename one"},
    {BACKENDS FIRST BACKEND("key: p, upstream: b, path: /y"), "t.yaml:10:17",
     "routes[0].aggregate.backends[1].key: duplicate backend key 'p' (first at line 9)"},
    {BACKENDS BACKEND("key: p, path: /x"), "t.yaml:9:11",
     "routes[0].aggregate.backends[0]: missing 'upstream' (the name of one of the upstreams)"},
    {BACKENDS BACKEND("key: p, upstream: c, path: /x"), "t.yaml:9:30",
     "routes[0].aggregate.backends[0].upstream: unknown upstream \"c\" (defined: a, b)"},
    {UPSTREAMS "  - match: {path: /p}\n"
               "    aggregate:\n"
               "      backends:\n" BACKEND("key: p, upstream: {cluster: a}, path: /x"),
     "t.yaml:9:30", "routes[0].aggregate.backends[0].upstream: expected a cluster name, got a map"},
    {BACKENDS BACKEND("key: p, upstream: a, method: get, path: /x"), "t.yaml:9:41",
     "routes[0].aggregate.backends[0].method: unknown method 'get'; methods are case-sensitive, "
     "write 'GET'"},
    {BACKENDS BACKEND("key: p, upstream: a, method: FETCH, path: /x"), "t.yaml:9:41",
     "unknown method 'FETCH'"},
    {BACKENDS BACKEND("key: p, upstream: a, method: HEAD, path: /x"), "t.yaml:9:41",
     "routes[0].aggregate.backends[0].method: a HEAD response has no body to aggregate"},
    {BACKENDS BACKEND("key: p, upstream: a, method: CONNECT, path: /x"), "t.yaml:9:41",
     "CONNECT opens a tunnel"},
    {BACKENDS BACKEND("key: p, upstream: a"), "t.yaml:9:11",
     "routes[0].aggregate.backends[0]: missing 'path' (the path to call"},
    {BACKENDS BACKEND("key: p, upstream: a, path: x"), "t.yaml:9:39",
     "routes[0].aggregate.backends[0].path: must start with '/', got 'x'"},
    {BACKENDS BACKEND("key: p, upstream: a, path: \"{id}\""), "t.yaml:9:39",
     "path: must start with '/', got '{id}'"},
    {BACKENDS BACKEND("key: p, upstream: a, path: \"\""), "t.yaml:9:39",
     "path: must start with '/', got ''"},
    {BACKENDS BACKEND("key: p, upstream: a, path: [/x]"), "t.yaml:9:39",
     "path: expected a path template like \"/items/{id}\", got a list"},
    {BACKENDS BACKEND("key: p, upstream: a, path: \"/x?a=1\""), "t.yaml:9:39",
     "path: must not contain '?'; give query parameters in 'query'"},
    {BACKENDS BACKEND("key: p, upstream: a, path: \"/a b\""), "t.yaml:9:39",
     "path: must not contain spaces or control characters"},
    {BACKENDS BACKEND("key: p, upstream: a, path: \"/a#b\""), "t.yaml:9:39",
     "path: must not contain '#'"},
    {BACKENDS BACKEND("key: p, upstream: a, path: \"/x}\""), "t.yaml:9:39",
     "path: unmatched '}' at character 3 of '/x}'; write '}}' for a literal brace"},
    {BACKENDS BACKEND("key: p, upstream: a, path: \"/x/{id\""), "t.yaml:9:39",
     "path: '{' at character 4 of '/x/{id' is never closed; write '{{' for a literal brace"},
    {BACKENDS BACKEND("key: p, upstream: a, path: \"/x/{}\""), "t.yaml:9:39",
     "path: empty placeholder '{}'; write '{{}}' for literal braces"},
    {BACKENDS BACKEND("key: p, upstream: a, path: \"/x/{ id }\""), "t.yaml:9:39",
     "path: '{ id }' is not a placeholder (a name of letters, digits, '_' and '-', then .member or "
     "[N] steps); write '{{' and '}}' for literal braces"},
    {BACKENDS BACKEND("key: p, upstream: a, path: \"/x/{nope}\""), "t.yaml:9:39",
     "path: unknown placeholder '{nope}' (path parameters: id; other backends: none; or "
     "query.NAME, header.NAME)"},
    {BACKENDS FIRST BACKEND("key: q, upstream: a, path: \"/x/{pp.id}\""), "t.yaml:10:39",
     "routes[0].aggregate.backends[1].path: placeholder '{pp.id}' reads backend 'pp', but no "
     "backend has that key (other backends: p)"},
    {BACKENDS FIRST BACKEND("key: q, upstream: a, path: \"/x/{P}\""), "t.yaml:10:39",
     "routes[0].aggregate.backends[1].path: unknown placeholder '{P}' (path parameters: id; other "
     "backends: p; or query.NAME, header.NAME)"},
    {UPSTREAMS "  - match: {prefix: /p}\n"
               "    aggregate:\n"
               "      backends:\n" BACKEND("key: p, upstream: a, path: \"/x/{id}\""),
     "t.yaml:9:39", "unknown placeholder '{id}' (path parameters: none: a prefix route has none;"},
    {UPSTREAMS "  - match: {path: /p}\n"
               "    aggregate:\n"
               "      backends:\n" BACKEND("key: p, upstream: a, path: \"/x/{id}\""),
     "t.yaml:9:39",
     "unknown placeholder '{id}' (path parameters: none: match.path has no {parameters};"},
    {UPSTREAMS "  - match: {path: \"/p/{ID}\"}\n"
               "    aggregate:\n"
               "      backends:\n" BACKEND("key: p, upstream: a, path: \"/x/{id}\""),
     "t.yaml:9:39", "unknown placeholder '{id}' (path parameters: ID;"},
    {BACKENDS BACKEND("key: p, upstream: a, path: \"/x/{p.id}\""), "t.yaml:9:39",
     "routes[0].aggregate.backends[0].path: backend 'p' cannot read its own response ('{p.id}')"},
    {BACKENDS BACKEND("key: p, upstream: a, path: \"/x/{id.a}\""), "t.yaml:9:39",
     "path: path parameter 'id' is text; '{id.a}' cannot read a member or element of it"},
    {BACKENDS BACKEND("key: p, upstream: a, path: \"/x/{id[0]}\""), "t.yaml:9:39",
     "path parameter 'id' is text"},
    {BACKENDS BACKEND("key: p, upstream: a, path: \"/x/{item}\""), "t.yaml:9:39",
     "path: {item} is the for_each element, but this backend has no for_each"},
    {BACKENDS BACKEND("key: p, upstream: a, path: \"/x/{query}\""), "t.yaml:9:39",
     "path: placeholder '{query}' needs a name: {query.NAME}"},
    {BACKENDS BACKEND("key: p, upstream: a, path: \"/x/{query.}\""), "t.yaml:9:39",
     "placeholder '{query.}' needs a name: {query.NAME}"},
    {BACKENDS BACKEND("key: p, upstream: a, path: \"/x/{header[0]}\""), "t.yaml:9:39",
     "placeholder '{header[0]}' needs a name: {header.NAME}"},
    {BACKENDS BACKEND("key: p, upstream: a, path: \"/x/{header.a b}\""), "t.yaml:9:39",
     "path: in placeholder '{header.a b}', 'a b' is not a valid header name"},
    {BACKENDS BACKEND("key: p, upstream: a, path: \"/x/{query.a&b}\""), "t.yaml:9:39",
     "in placeholder '{query.a&b}', 'a&b' is not a query parameter name"},
    {BACKENDS FIRST BACKEND("key: q, upstream: a, path: \"/x/{p..id}\""), "t.yaml:10:39",
     "backends[1].path: in placeholder '{p..id}': expected a member name (letters, digits, '_' and "
     "'-') after '.'"},
    {BACKENDS FIRST BACKEND("key: q, upstream: a, path: \"/x/{p.a[x]}\""), "t.yaml:10:39",
     "in placeholder '{p.a[x]}': expected an element number [N] or [*], got '[x]'"},
    {BACKENDS FIRST BACKEND("key: q, upstream: a, path: \"/x/{p.a[-1]}\""), "t.yaml:10:39",
     "got '[-1]'"},
    {BACKENDS FIRST BACKEND("key: q, upstream: a, path: \"/x/{p.a[01]}\""), "t.yaml:10:39",
     "in placeholder '{p.a[01]}': element '[01]' has a leading zero; write [1]"},
    {BACKENDS FIRST BACKEND("key: q, upstream: a, path: \"/x/{p.a[1}\""), "t.yaml:10:39",
     "in placeholder '{p.a[1}': '[' without its ']'"},
    {BACKENDS FIRST BACKEND("key: q, upstream: a, path: \"/x/{p.a[10000000]}\""), "t.yaml:10:39",
     "element '[10000000]' is past the most 10000000 elements a body may hold"},
    {BACKENDS FIRST BACKEND("key: q, upstream: a, path: \"/x/{p.a[99999999999]}\""), "t.yaml:10:39",
     "is past the most 10000000 elements"},
    {BACKENDS FIRST BACKEND("key: q, upstream: a, path: \"/x/{p.a[*]}\""), "t.yaml:10:39",
     "in placeholder '{p.a[*]}': '[*]' belongs in for_each; a placeholder stands for one value"},
    {BACKENDS FIRST BACKEND("key: q, upstream: a, path: \"/x/{p.a b}\""), "t.yaml:10:39",
     "in placeholder '{p.a b}': unexpected ' '"},
    {BACKENDS BACKEND("key: p, upstream: a, path: /x, query: [a]"), "t.yaml:9:50",
     "routes[0].aggregate.backends[0].query: expected a map of query parameter names to templates, "
     "got a list"},
    {BACKENDS BACKEND("key: p, upstream: a, path: /x, query: {\"a b\": x}"), "t.yaml:9:51",
     "routes[0].aggregate.backends[0].query: 'a b' is not a query parameter name"},
    {BACKENDS BACKEND("key: p, upstream: a, path: /x, query: {a: [1]}"), "t.yaml:9:54",
     "routes[0].aggregate.backends[0].query.a: expected a template string, got a list"},
    {BACKENDS BACKEND("key: p, upstream: a, path: /x, query: {a: \"{nope}\"}"), "t.yaml:9:54",
     "query.a: unknown placeholder '{nope}'"},
    {BACKENDS BACKEND("key: p, upstream: a, path: /x, query: {a: \"x\\ty\"}"), "t.yaml:9:54",
     "query.a: must not contain control characters"},
    {BACKENDS BACKEND("key: p, upstream: a, path: /x, headers: x"), "t.yaml:9:52",
     "routes[0].aggregate.backends[0].headers: expected a map of header names to templates, got "
     "'x'"},
    {BACKENDS BACKEND("key: p, upstream: a, path: /x, headers: {\"a b\": x}"), "t.yaml:9:53",
     "routes[0].aggregate.backends[0].headers: 'a b' is not a valid header name"},
    {BACKENDS BACKEND("key: p, upstream: a, path: /x, headers: {Connection: close}"), "t.yaml:9:53",
     "headers: 'Connection' is hop-by-hop: the gateway manages its own connections to backends"},
    {BACKENDS BACKEND("key: p, upstream: a, path: /x, headers: {te: trailers}"), "t.yaml:9:53",
     "'te' is hop-by-hop"},
    {BACKENDS BACKEND("key: p, upstream: a, path: /x, headers: {Content-Length: \"1\"}"),
     "t.yaml:9:53", "headers: 'Content-Length' frames the body; the gateway sets it"},
    {BACKENDS BACKEND("key: p, upstream: a, path: /x, headers: {Host: x}"), "t.yaml:9:53",
     "headers: 'Host' is set with the backend's 'host:' (preserve, endpoint or a host[:port]; "
     "default the cluster's host:, else endpoint: the called endpoint's host:port)"},
    {BACKENDS BACKEND("key: p, upstream: a, path: /x, headers: {content-type: text/plain}"),
     "t.yaml:9:53", "headers: 'content-type' describes the body; set it with content_type"},
    {BACKENDS BACKEND("key: p, upstream: a, path: /x, headers: {X-A: \"1\", x-a: \"2\"}"),
     "t.yaml:9:63",
     "routes[0].aggregate.backends[0].headers: 'x-a' is given twice (first at line 9)"},
    {BACKENDS BACKEND("key: p, upstream: a, path: /x, headers: {x-a: \"a\\nb\"}"), "t.yaml:9:58",
     "routes[0].aggregate.backends[0].headers.x-a: must not contain CR or LF"},
    {BACKENDS BACKEND("key: p, upstream: a, path: /x, body: \"{}\""), "t.yaml:9:49",
     "routes[0].aggregate.backends[0].body: a GET request carries no body (GET is the default "
     "method); 'body' needs method POST, PUT, PATCH or DELETE"},
    {BACKENDS BACKEND("key: p, upstream: a, method: OPTIONS, path: /x, body: x"), "t.yaml:9:66",
     "body: an OPTIONS request carries no body; 'body' needs method POST, PUT, PATCH or DELETE"},
    {BACKENDS BACKEND("key: p, upstream: a, method: POST, path: /x, body: '{\"a\": {id}}'"),
     "t.yaml:9:63",
     "body: '{' at character 1 of '{\"a\": {id}}' opens a placeholder that holds another '{'; "
     "write '{{' and '}}' for literal braces"},
    {BACKENDS BACKEND("key: p, upstream: a, method: POST, path: /x, body: '{\"a\": 1}'"),
     "t.yaml:9:63", "body: '{\"a\": 1}' is not a placeholder"},
    {BACKENDS BACKEND("key: p, upstream: a, method: POST, path: /x, body: '{{\"a\": {id}}'"),
     "t.yaml:9:63", "body: unmatched '}' at character 12"},
    {BACKENDS BACKEND("key: p, upstream: a, path: /x, content_type: text/plain"), "t.yaml:9:57",
     "routes[0].aggregate.backends[0].content_type: 'content_type' is the type of 'body', which "
     "this backend does not send"},
    {BACKENDS BACKEND("key: p, upstream: a, method: PUT, path: /x, body: x, content_type: json"),
     "t.yaml:9:79", "content_type: expected a media type like application/json, got 'json'"},
    {BACKENDS BACKEND("key: p, upstream: a, method: PUT, path: /x, body: x, content_type: "
                      "\"text/plain; a=\\\"\\n\\\"\""),
     "t.yaml:9:79", "content_type: must not contain CR or LF"},
    {ROUTE "      timeout: 1s\n"
           "      backends:\n" BACKEND("key: p, upstream: a, path: /x, timeout: 2s"),
     "t.yaml:10:52",
     "routes[0].aggregate.backends[0].timeout (2s) must not exceed routes[0].aggregate.timeout "
     "(1s)"},
    {BACKENDS BACKEND("key: p, upstream: a, path: /x, timeout: 6s"), "t.yaml:9:52",
     "routes[0].aggregate.backends[0].timeout (6s) must not exceed routes[0].aggregate.timeout "
     "(5s, the default)"},
    {BACKENDS BACKEND("key: p, upstream: a, path: /x, timeout: 0ms"), "t.yaml:9:52",
     "routes[0].aggregate.backends[0].timeout: must be between 1ms and 1h, got 0ms"},
    {BACKENDS BACKEND("key: p, upstream: a, path: /x, optional: 1"), "t.yaml:9:53",
     "optional: expected true or false, got '1'"},
    {BACKENDS BACKEND("key: p, upstream: a, path: /x, default: 0"), "t.yaml:9:52",
     "routes[0].aggregate.backends[0].default: 'default' is used only when an optional backend "
     "fails; add optional: true"},
    {BACKENDS BACKEND("key: p, upstream: a, path: /x, optional: false, default: []"), "t.yaml:9:69",
     "add optional: true"},
    {BACKENDS BACKEND("key: p, upstream: a, path: /x, optional: true, merge: true, default: 0"),
     "t.yaml:9:81",
     "default: with merge: true the default must be a map: its members go to the top level"},
    {BACKENDS BACKEND("key: p, upstream: a, path: /x, optional: true, default: {a: 1, a: 2}"),
     "t.yaml:9:75", "routes[0].aggregate.backends[0].default: duplicate member 'a'"},
    {BACKENDS BACKEND("key: p, upstream: a, path: /x, optional: true, default: {[a]: 1}"),
     "t.yaml:9:69",
     "routes[0].aggregate.backends[0].default: JSON member names are strings, got a list"},
    {BACKENDS BACKEND("key: p, upstream: a, path: /x, optional: true, default: [1, .inf]"),
     "t.yaml:9:72",
     "routes[0].aggregate.backends[0].default[1]: '.inf' has no JSON form (JSON numbers are "
     "finite)"},
    {BACKENDS BACKEND("key: p, upstream: a, path: /x, optional: true, default: {a: -.Inf}"),
     "t.yaml:9:72", "default.a: '-.Inf' has no JSON form"},
    {BACKENDS BACKEND("key: p, upstream: a, path: /x, optional: true, default: .NaN"),
     "t.yaml:9:68", "'.NaN' has no JSON form"},
    {BACKENDS BACKEND(
         "key: p, upstream: a, path: /x, optional: true, default: 0x10000000000000000"),
     "t.yaml:9:68",
     "'0x10000000000000000' does not fit in 64 bits; write large numbers in decimal"},
    {BACKENDS BACKEND("key: p, upstream: a, path: /x, optional: true, default: !!binary aGk="),
     "t.yaml:9:68", "default: unsupported tag 'tag:yaml.org,2002:binary'"},
    {BACKENDS BACKEND("key: p, upstream: a, path: /x, merge: yes"), "t.yaml:9:50",
     "merge: expected true or false, got 'yes'"},
    {BACKENDS BACKEND("key: p, upstream: a, path: /x, pick: a, allow: [b]"), "t.yaml:9:59",
     "routes[0].aggregate.backends[0].allow: 'pick' and 'allow' are exclusive: pick replaces the "
     "body with one value, allow and deny filter its members"},
    {BACKENDS BACKEND("key: p, upstream: a, path: /x, deny: [b], pick: a"), "t.yaml:9:60",
     "routes[0].aggregate.backends[0].pick: 'pick' and 'deny' are exclusive"},
    {BACKENDS BACKEND("key: p, upstream: a, path: /x, merge: true, pick: a"), "t.yaml:9:62",
     "routes[0].aggregate.backends[0].pick: 'pick' and merge: true are exclusive: pick replaces "
     "the body with one value, merge needs the members of an object"},
    {BACKENDS BACKEND("key: p, upstream: a, path: /x, pick: \"\""), "t.yaml:9:49",
     "pick: empty path; expected a dotted path like items[0].id"},
    {BACKENDS BACKEND("key: p, upstream: a, path: /x, pick: .a"), "t.yaml:9:49",
     "pick: in '.a': a path starts with a member name or [N], not '.'"},
    {BACKENDS BACKEND("key: p, upstream: a, path: /x, pick: \"a..b\""), "t.yaml:9:49",
     "pick: in 'a..b': expected a member name"},
    {BACKENDS BACKEND("key: p, upstream: a, path: /x, pick: \"a[*]\""), "t.yaml:9:49",
     "pick: in 'a[*]': '[*]' selects many values; pick takes one"},
    {BACKENDS BACKEND("key: p, upstream: a, path: /x, pick: \"a.b c\""), "t.yaml:9:49",
     "pick: in 'a.b c': unexpected ' '"},
    {BACKENDS BACKEND("key: p, upstream: a, path: /x, pick: [a, b]"), "t.yaml:9:49",
     "pick: expected a dotted path like items[0].id, got a list"},
    {BACKENDS BACKEND("key: p, upstream: a, path: /x, allow: []"), "t.yaml:9:50",
     "routes[0].aggregate.backends[0].allow: empty list of paths"},
    {BACKENDS BACKEND("key: p, upstream: a, path: /x, allow: [a, b, a]"), "t.yaml:9:57",
     "routes[0].aggregate.backends[0].allow[2]: 'a' is listed twice"},
    {BACKENDS BACKEND("key: p, upstream: a, path: /x, allow: [a.b, a]"), "t.yaml:9:56",
     "allow[1]: 'a' overlaps 'a.b'; list the outer path only"},
    {BACKENDS BACKEND("key: p, upstream: a, path: /x, deny: [\"x[*].a\", \"x[*].a.b\"]"),
     "t.yaml:9:60", "deny[1]: 'x[*].a.b' overlaps 'x[*].a'"},
    {BACKENDS BACKEND("key: p, upstream: a, path: /x, allow: [\"a[0]\"]"), "t.yaml:9:51",
     "routes[0].aggregate.backends[0].allow[0]: in 'a[0]': allow and deny take no element numbers; "
     "use [*] for every element"},
    {BACKENDS BACKEND("key: p, upstream: a, path: /x, deny: [\"a[*].b[*].c\"]"), "t.yaml:9:50",
     "routes[0].aggregate.backends[0].deny[0]: in 'a[*].b[*].c': more than one '[*]' (nested "
     "arrays are not supported)"},
    {BACKENDS BACKEND("key: p, upstream: a, path: /x, allow: [\"a[*]\"]"), "t.yaml:9:51",
     "allow[0]: in 'a[*]': a path ends at a member; '[*]' goes before one, as in lines[*].sku"},
    {BACKENDS BACKEND("key: p, upstream: a, path: /x, allow: [\"a[*].b\"], deny: [\"a[*].c\"]"),
     "t.yaml:9:69", "deny[0]: 'a[*].c' lies outside every allow path"},
    {BACKENDS BACKEND("key: p, upstream: a, path: /x, allow: [\"\"]"), "t.yaml:9:51",
     "allow[0]: empty path; expected a member path like items[*].id"},
    {BACKENDS BACKEND("key: p, upstream: a, path: /x, allow: [a], deny: [b]"), "t.yaml:9:62",
     "routes[0].aggregate.backends[0].deny[0]: 'b' lies outside every allow path, so allow already "
     "drops it"},
    {BACKENDS BACKEND("key: p, upstream: a, path: /x, allow: [a, c], deny: [c]"), "t.yaml:9:65",
     "deny[0]: 'c' drops what allow keeps"},
    {BACKENDS BACKEND("key: p, upstream: a, path: /x, allow: [a], deny: [a.b, ab]"), "t.yaml:9:67",
     "deny[1]: 'ab' lies outside every allow path"},
    {BACKENDS BACKEND("key: p, upstream: a, path: /x, rename: [a]"), "t.yaml:9:51",
     "routes[0].aggregate.backends[0].rename: expected a map of member names to new names, got a "
     "list"},
    {BACKENDS BACKEND("key: p, upstream: a, path: /x, rename: {a: a}"), "t.yaml:9:55",
     "routes[0].aggregate.backends[0].rename.a: renames 'a' to itself"},
    {BACKENDS BACKEND("key: p, upstream: a, path: /x, rename: {a: c, b: c}"), "t.yaml:9:61",
     "routes[0].aggregate.backends[0].rename.b: 'a' and 'b' are both renamed to 'c'"},
    {BACKENDS BACKEND("key: p, upstream: a, path: /x, rename: {a: \"x\\\"y\"}"), "t.yaml:9:55",
     "routes[0].aggregate.backends[0].rename: 'x\"y' is not a member name this gateway writes"},
    {BACKENDS BACKEND("key: p, upstream: a, path: /x, rename: {\"\": b}"), "t.yaml:9:52",
     "rename: '' is not a member name"},
    {BACKENDS BACKEND("key: p, upstream: a, path: /x, rename: {a: [b]}"), "t.yaml:9:55",
     "rename.a: expected the new member name, got a list"},
    {BACKENDS FIRST BACKEND("key: q, upstream: a, path: \"/x/{item}\", for_each: \"query.ids[*]\""),
     "t.yaml:10:62",
     "routes[0].aggregate.backends[1].for_each: must start with the key of another backend (p), "
     "got 'query.ids[*]'"},
    {BACKENDS FIRST BACKEND("key: q, upstream: a, path: \"/x/{item}\", for_each: \"q.ids[*]\""),
     "t.yaml:10:62", "for_each: backend 'q' cannot iterate over its own response"},
    {BACKENDS FIRST BACKEND("key: q, upstream: a, path: \"/x/{item}\", for_each: \"p.ids\""),
     "t.yaml:10:62",
     "for_each: needs exactly one '[*]' to mark the array to iterate over, got none in 'p.ids'"},
    {BACKENDS FIRST BACKEND(
         "key: q, upstream: a, path: \"/x/{item}\", for_each: \"p.ids[*].x[*]\""),
     "t.yaml:10:62",
     "needs exactly one '[*]' to mark the array to iterate over, got 2 in 'p.ids[*].x[*]'"},
    {BACKENDS FIRST BACKEND("key: q, upstream: a, path: \"/x/{item}\", for_each: \"p.ids[*\""),
     "t.yaml:10:62", "for_each: in 'p.ids[*': '[' without its ']'"},
    {BACKENDS FIRST BACKEND("key: q, upstream: a, path: /x, for_each: \"p.ids[*]\""),
     "t.yaml:10:53",
     "routes[0].aggregate.backends[1].for_each: for_each makes one call per element, but no "
     "template of this backend uses {item}"},
    {BACKENDS FIRST BACKEND("key: q, upstream: a, path: /x, concurrency: 2"), "t.yaml:10:56",
     "routes[0].aggregate.backends[1].concurrency: 'concurrency' applies to for_each calls; this "
     "backend has no for_each"},
    {BACKENDS FIRST BACKEND("key: q, upstream: a, path: /x, max_items: 2"), "t.yaml:10:54",
     "'max_items' applies to for_each calls"},
    {BACKENDS FIRST BACKEND(
         "key: q, upstream: a, path: \"/{item}\", for_each: \"p[*]\", concurrency: 0"),
     "t.yaml:10:81",
     "routes[0].aggregate.backends[1].concurrency: must be between 1 and 256, got 0"},
    {BACKENDS FIRST BACKEND(
         "key: q, upstream: a, path: \"/{item}\", for_each: \"p[*]\", concurrency: 257"),
     "t.yaml:10:81", "must be between 1 and 256, got 257"},
    {BACKENDS FIRST BACKEND(
         "key: q, upstream: a, path: \"/{item}\", for_each: \"p[*]\", max_items: 10001"),
     "t.yaml:10:79",
     "routes[0].aggregate.backends[1].max_items: must be between 1 and 10000, got 10001"},
    {BACKENDS FIRST BACKEND(
         "key: q, upstream: a, path: \"/{item}\", for_each: \"p[*]\", merge: true"),
     "t.yaml:10:75",
     "routes[0].aggregate.backends[1].merge: a for_each backend answers an array, which has no "
     "members to merge"},
    {BACKENDS BACKEND("key: p, upstream: a, path: \"/p/{q.id}\"")
         BACKEND("key: q, upstream: b, path: \"/q/{p.id}\""),
     "t.yaml:9:39", "routes[0].aggregate.backends[0].path: backends p → q → p form a cycle"},
    {BACKENDS BACKEND("key: x, upstream: a, path: \"/{y.id}\"")
         BACKEND("key: y, upstream: a, path: /y, query: {a: \"{z}\"}")
             BACKEND("key: z, upstream: a, path: /z, headers: {h: \"{x.a}\"}"),
     "t.yaml:9:39", "routes[0].aggregate.backends[0].path: backends x → y → z → x form a cycle"},
    {BACKENDS FIRST BACKEND("key: q, upstream: a, path: \"/{p.id}/{r.id}\"") BACKEND(
         "key: r, upstream: a, path: \"/{p.id}\", for_each: \"q.a[*]\", query: {i: \"{item}\"}"),
     "t.yaml:10:39", "routes[0].aggregate.backends[1].path: backends q → r → q form a cycle"},
    {ROUTE "      status_from: nope\n" TAIL, "t.yaml:8:20",
     "routes[0].aggregate.status_from: names no backend: 'nope' (backends: p)"},
    {ROUTE "      status_from: q\n"
           "      backends:\n" FIRST BACKEND("key: q, upstream: a, path: /q, optional: true"),
     "t.yaml:8:20",
     "routes[0].aggregate.status_from: 'q' is optional: its failure never fails the request, so "
     "its status is never the answer; status_from names a required backend"},
    {ROUTE "      profiles: [a]\n" TAIL, "t.yaml:8:17",
     "routes[0].aggregate.profiles: expected a map with select, default and the profiles, got a "
     "list"},
    {ROUTE "      profiles:\n"
           "        web: {}\n" TAIL,
     "t.yaml:9:9", "routes[0].aggregate.profiles: missing 'select'"},
    {ROUTE "      profiles:\n"
           "        select: \"header:X-Client\"\n" TAIL,
     "t.yaml:9:9", "routes[0].aggregate.profiles: no profiles; add at least one, e.g. web: {}"},
    {ROUTE "      profiles:\n"
           "        select: \"cookie:c\"\n"
           "        web: {}\n" TAIL,
     "t.yaml:9:17",
     "routes[0].aggregate.profiles.select: expected \"header:NAME\" or \"query:NAME\", got "
     "'cookie:c'"},
    {ROUTE "      profiles:\n"
           "        select: X-Client\n"
           "        web: {}\n" TAIL,
     "t.yaml:9:17", "expected \"header:NAME\" or \"query:NAME\", got 'X-Client'"},
    {ROUTE "      profiles:\n"
           "        select: \"header:\"\n"
           "        web: {}\n" TAIL,
     "t.yaml:9:17", "profiles.select: missing the header name after 'header:'"},
    {ROUTE "      profiles:\n"
           "        select: \"header:a b\"\n"
           "        web: {}\n" TAIL,
     "t.yaml:9:17", "profiles.select: 'a b' is not a valid header name"},
    {ROUTE "      profiles:\n"
           "        select: \"query:a=b\"\n"
           "        web: {}\n" TAIL,
     "t.yaml:9:17", "profiles.select: 'a=b' is not a query parameter name"},
    {ROUTE "      profiles:\n"
           "        select: \"query:c\"\n"
           "        default: mobile\n"
           "        web: {}\n" TAIL,
     "t.yaml:10:18",
     "routes[0].aggregate.profiles.default: names no profile: 'mobile' (profiles: web)"},
    {ROUTE "      profiles:\n"
           "        select: \"query:c\"\n"
           "        \"web app\": {}\n" TAIL,
     "t.yaml:10:9",
     "routes[0].aggregate.profiles: profile name 'web app' must be 1 to 64 characters: letters, "
     "digits, '_' and '-'"},
    {ROUTE "      profiles:\n"
           "        select: \"query:c\"\n"
           "        web: {}\n"
           "        web: {}\n" TAIL,
     "t.yaml:11:9", "routes[0].aggregate.profiles: duplicate key 'web' (first at line 10)"},
    {ROUTE "      profiles:\n"
           "        select: \"query:c\"\n"
           "        web: [p]\n" TAIL,
     "t.yaml:10:14",
     "routes[0].aggregate.profiles.web: expected a map of backend keys to overrides like {allow: "
     "[id]} or {skip: true}, got a list"},
    {ROUTE "      profiles:\n"
           "        select: \"query:c\"\n"
           "        web: {q: {skip: true}}\n" TAIL,
     "t.yaml:10:15", "routes[0].aggregate.profiles.web: unknown backend 'q' (backends: p)"},
    {ROUTE "      profiles:\n"
           "        select: \"query:c\"\n"
           "        web: {p: {skip: true}, p: {}}\n" TAIL,
     "t.yaml:10:32", "routes[0].aggregate.profiles.web: duplicate key 'p' (first at line 10)"},
    {ROUTE "      profiles:\n"
           "        select: \"query:c\"\n"
           "        web: {p: {hide: true}}\n" TAIL,
     "t.yaml:10:19",
     "unknown key 'hide' in 'routes[0].aggregate.profiles.web.p' (expected one of: skip, pick, "
     "allow, deny, rename)"},
    {ROUTE "      profiles:\n"
           "        select: \"query:c\"\n"
           "        web: {p: {skip: true, allow: [a]}}\n" TAIL,
     "t.yaml:10:38",
     "routes[0].aggregate.profiles.web.p.allow: a skipped backend is not called, so 'allow' would "
     "never apply"},
    {ROUTE "      profiles:\n"
           "        select: \"query:c\"\n"
           "        web: {p: {pick: a, deny: [b]}}\n" TAIL,
     "t.yaml:10:34", "routes[0].aggregate.profiles.web.p.deny: 'pick' and 'deny' are exclusive"},
    {ROUTE "      profiles:\n"
           "        select: \"query:c\"\n"
           "        web: {p: {allow: [a], deny: [b]}}\n" TAIL,
     "t.yaml:10:38",
     "routes[0].aggregate.profiles.web.p.deny[0]: 'b' lies outside every allow path"},
    {ROUTE "      profiles:\n"
           "        select: \"query:c\"\n"
           "        web: {p: {pick: a}}\n"
           "      backends:\n" BACKEND("key: p, upstream: a, path: /x, merge: true"),
     "t.yaml:10:25",
     "routes[0].aggregate.profiles.web.p.pick: 'pick' and merge: true are exclusive"},
    {ROUTE "      profiles:\n"
           "        select: \"query:c\"\n"
           "        web: {p: {skip: maybe}}\n" TAIL,
     "t.yaml:10:25",
     "routes[0].aggregate.profiles.web.p.skip: expected true or false, got 'maybe'"},
    {ROUTE "      profiles:\n"
           "        select: \"query:c\"\n"
           "        mobile: {p: {skip: true}}\n"
           "      backends:\n" FIRST BACKEND("key: q, upstream: a, path: \"/q/{p.id}\""),
     "t.yaml:10:21",
     "routes[0].aggregate.profiles.mobile.p: profile 'mobile' skips 'p', but 'q' reads its "
     "response; skip 'q' too"},
};

#undef TAIL
#undef FIRST
#undef BACKEND
#undef BACKENDS
#undef ROUTE
#undef UPSTREAMS

TEST(AggregateConfigErrors, ExactPositionAndReason) {
  config_test::expect_errors(kAggregateErrors);
}

TEST(AggregateConfigErrors, AtMost64Backends) {
  std::string yaml =
      "server: {listen: \"127.0.0.1:0\"}\nupstreams: {a: {endpoints: [\"127.0.0.1:1\"]}}\n"
      "routes:\n  - match: {path: /p}\n    aggregate:\n      backends:\n";
  for (int i = 0; i < 64; ++i) {
    yaml += "        - {key: k" + std::to_string(i) + ", upstream: a, path: /x}\n";
  }
  EXPECT_EQ(config_test::error_of(yaml), "");
  yaml += "        - {key: k64, upstream: a, path: /x}\n";
  EXPECT_EQ(config_test::error_of(yaml),
            "t.yaml:71:11: routes[0].aggregate.backends[64]: more than 64 backends");
}

// Every prefix of a full aggregate config either loads or fails with a ConfigError.
TEST(AggregateConfigErrors, EveryTruncationIsHandled) {
  const std::string text = kFull;
  for (size_t n = 0; n <= text.size(); ++n) {
    try {
      load_config_string(text.substr(0, n), "cut");
    } catch (const ConfigError& e) {
      EXPECT_EQ(std::string(e.what()).rfind("cut", 0), 0u) << e.what();
    } catch (...) {
      ADD_FAILURE() << "non-ConfigError exception at length " << n;
    }
  }
}

}  // namespace
}  // namespace ringgate
