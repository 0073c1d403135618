// Aggregation against real upstream servers (test_upstream) on 127.0.0.1: parallel and chained
// backends spliced into one JSON object, projections and merge, failure policies, the deadline,
// body limits, and JSONTestSuite bodies served by an upstream.

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "aggregate_fixture.h"
#include "json_body.h"

namespace ringgate::it {
namespace {

TEST_F(AggregateTest, ParallelBackendsAreSplicedUnderTheirKeysInConfigOrder) {
  Upstream a({"--name", "catalog", "--record", record_file("a")});
  Upstream b({"--name", "inventory"});
  Upstream c({"--name", "reviews"});
  auto& gw = start_agg(
      "      backends:\n"
      "        - {key: product, upstream: a, path: \"/catalog/{id}\"}\n"
      "        - {key: stock, upstream: b, path: \"/stock/{id}\", query: {json: '{{\"n\": 3}}'}}\n"
      "        - {key: reviews, upstream: c, path: \"/reviews/{id}\"}\n",
      a.port(), b.port(), c.port());
  ASSERT_TRUE(gw.ok()) << gw.error();
  auto r = fetch(gw.port(), request("GET", "/agg/42", "X-Request-Id: trace-1\r\n"));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->raw;
  EXPECT_EQ(r->header("content-type").value_or(""), "application/json");
  EXPECT_FALSE(r->has("ringgate-partial"));
  JsonBody body(r->body);
  ASSERT_TRUE(body.valid()) << body.why() << "\n" << r->body;
  EXPECT_EQ(r->body.rfind("{\"product\":", 0), 0u) << r->body;
  EXPECT_EQ(body.at("product.server"), "\"catalog\"");
  EXPECT_EQ(body.at("product.path"), "\"/catalog/42\"");
  EXPECT_EQ(body.at("stock"), "{\"n\": 3}");  // the upstream's bytes, spliced as sent
  EXPECT_EQ(body.at("reviews.server"), "\"reviews\"");
  Recorded rec = read_record(record_file("a"));
  ASSERT_EQ(rec.requests.size(), 1u);
  EXPECT_EQ(values(rec.requests[0], "x-request-id"), std::vector<std::string>{"trace-1"});
  EXPECT_EQ(values(rec.requests[0], "x-forwarded-for"), std::vector<std::string>{"127.0.0.1"});
}

TEST_F(AggregateTest, ChainedBackendReadsAnEarlierResponse) {
  Upstream orders({"--name", "orders"});
  Upstream customers({"--name", "customers", "--record", record_file("c")});
  auto& gw = start_agg(
      "      backends:\n"
      "        - {key: order, upstream: a, path: \"/orders/{id}\","
      " query: {json: '{{\"id\": 9, \"customer\": {{\"id\": \"c/7\"}}}}'}}\n"
      "        - {key: customer, upstream: b, path: \"/customers/{order.customer.id}\","
      " headers: {x-order: \"{order.id}\"}}\n",
      orders.port(), customers.port());
  ASSERT_TRUE(gw.ok()) << gw.error();
  auto r = fetch(gw.port(), request("GET", "/agg/9"));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->raw;
  JsonBody body(r->body);
  ASSERT_TRUE(body.valid()) << r->body;
  EXPECT_EQ(body.at("order.customer.id"), "\"c/7\"");
  EXPECT_EQ(body.at("customer.server"), "\"customers\"");
  Recorded rec = read_record(record_file("c"));
  ASSERT_EQ(rec.requests.size(), 1u);
  // The value went in percent-encoded: one path segment, whatever it holds.
  EXPECT_EQ(rec.requests[0].rfind("GET /customers/c%2F7 HTTP/1.1\r\n", 0), 0u)
      << visible(rec.requests[0]);
  EXPECT_EQ(values(rec.requests[0], "x-order"), std::vector<std::string>{"9"});
}

// A value that would stand as a "." or ".." segment (from the client's query, decoded, or from a
// backend's body) fails its backend: "/customers/../card" is not a path the template allows.
TEST_F(AggregateTest, AValueThatWouldClimbOutOfItsSegmentFailsTheBackend) {
  Upstream orders({"--name", "orders"});
  Upstream customers({"--name", "customers", "--record", record_file("c")});
  auto& gw = start_agg(
      "      backends:\n"
      "        - {key: order, upstream: a, path: \"/orders/{id}\","
      " query: {json: '{{\"customer\": \"..\"}}'}}\n"
      "        - {key: customer, upstream: b, path: \"/customers/{order.customer}/card\"}\n"
      "        - {key: direct, upstream: b, path: \"/d/{query.c}/x\"}\n",
      orders.port(), customers.port());
  ASSERT_TRUE(gw.ok()) << gw.error();
  auto r = fetch(gw.port(), request("GET", "/agg/1"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 502) << r->raw;
  EXPECT_NE(r->body.find("backend \\\"customer\\\""), std::string::npos) << r->body;
  EXPECT_NE(r->body.find("segment"), std::string::npos) << r->body;
  r = fetch(gw.port(), request("GET", "/agg/1?c=%2E%2E"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 502) << r->raw;
  EXPECT_NE(r->body.find("backend \\\"direct\\\""), std::string::npos) << r->body;
  for (const std::string& sent : read_record(record_file("c")).requests) {
    EXPECT_EQ(sent.find("/.."), std::string::npos) << visible(sent);
  }
}

// A backend is asked for its body without a coding (Accept-Encoding: identity, unless the config
// sets that header itself), and one that sends a coded body anyway fails, saying so, not as
// "invalid JSON".
TEST_F(AggregateTest, BackendsAreAskedForBodiesWithoutACodingAndACodedOneFails) {
  Upstream a({"--record", record_file("a")});
  auto& gw = start_agg(
      "      backends:\n"
      "        - {key: plain, upstream: a, path: /p}\n"
      "        - {key: asks, upstream: a, path: /q, headers: {accept-encoding: br}}\n",
      a.port());
  ASSERT_TRUE(gw.ok()) << gw.error();
  auto r = fetch(gw.port(), request("GET", "/agg/1", "Accept-Encoding: gzip\r\n"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->raw;
  const Recorded rec = read_record(record_file("a"));
  ASSERT_EQ(rec.requests.size(), 2u);
  for (const std::string& sent : rec.requests) {
    const bool asks = sent.rfind("GET /q", 0) == 0;
    EXPECT_EQ(values(sent, "accept-encoding"), std::vector<std::string>{asks ? "br" : "identity"})
        << visible(sent);
  }
  auto& coded = start_agg(
      "      backends:\n"
      "        - {key: zipped, upstream: a, path: /z,"
      " query: {header: \"Content-Encoding:gzip\", json: '{{\"a\": 1}}'}}\n",
      a.port());
  ASSERT_TRUE(coded.ok()) << coded.error();
  r = fetch(coded.port(), request("GET", "/agg/1"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 502) << r->raw;
  EXPECT_NE(r->body.find("Content-Encoding"), std::string::npos) << r->body;
}

// A POST backend whose body, query and headers are templates over the client's path, query and
// headers: each value encoded for where it goes, the body framed and typed.
TEST_F(AggregateTest, TemplatedPostBodyQueryAndHeadersReachTheBackend) {
  Upstream a({"--record", record_file("a")});
  auto& gw = start_agg(
      "      backends:\n"
      "        - key: created\n"
      "          upstream: a\n"
      "          method: POST\n"
      "          path: /items\n"
      "          query: {q: \"{query.lang} & more\"}\n"
      "          headers: {x-who: \"{header.x-user}\"}\n"
      "          body: '{{\"id\": \"{id}\", \"lang\": \"{query.lang}\", \"user\": "
      "\"{header.x-user}\"}}'\n",
      a.port());
  ASSERT_TRUE(gw.ok()) << gw.error();
  auto r = fetch(gw.port(), request("GET", "/agg/5?lang=de", "X-User: ann \"q\"\r\n"));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->raw;
  JsonBody body(r->body);
  ASSERT_TRUE(body.valid()) << r->body;
  EXPECT_EQ(body.at("created.method"), "\"POST\"");
  Recorded rec = read_record(record_file("a"));
  ASSERT_EQ(rec.requests.size(), 1u);
  const std::string& sent = rec.requests[0];
  EXPECT_EQ(sent.rfind("POST /items?q=de%20%26%20more HTTP/1.1\r\n", 0), 0u) << visible(sent);
  EXPECT_EQ(values(sent, "x-who"), std::vector<std::string>{"ann \"q\""});
  EXPECT_EQ(values(sent, "content-type"), std::vector<std::string>{"application/json"});
  const std::string expected = R"({"id": "5", "lang": "de", "user": "ann \"q\""})";
  EXPECT_EQ(values(sent, "content-length"),
            std::vector<std::string>{std::to_string(expected.size())});
  const size_t head_end = sent.find("\r\n\r\n");
  ASSERT_NE(head_end, std::string::npos);
  EXPECT_EQ(sent.substr(head_end + 4), expected);
}

// for_each elements that are too slow for the backend's timeout or too large for the body limit
// fail their backend (an optional one gives its default), without holding up the response.
TEST_F(AggregateTest, ForEachElementsThatAreSlowOrHugeFailTheirBackend) {
  Upstream a;
  auto& gw = start_agg(
      "      errors: true\n"
      "      timeout: 5s\n"
      "      limits: {body_bytes: 1KiB}\n"
      "      backends:\n"
      "        - {key: list, upstream: a, path: /l, query: {json: \"[10, 3000]\"}}\n"
      "        - {key: slow, upstream: a, path: \"/s/{item}\", for_each: \"list[*]\","
      " query: {delay: \"{item}ms\"}, timeout: 300ms, optional: true, default: []}\n"
      "        - {key: huge, upstream: a, path: \"/h/{item}\", for_each: \"list[*]\","
      " query: {body_size: \"{item}\"}, optional: true, default: []}\n"
      "        - {key: fine, upstream: a, path: \"/f/{item}\", for_each: \"list[*]\","
      " pick: \"[1].path\"}\n",
      a.port());
  ASSERT_TRUE(gw.ok()) << gw.error();
  const auto t0 = std::chrono::steady_clock::now();
  auto r = fetch(gw.port(), request("GET", "/agg/1"));
  const auto took = std::chrono::steady_clock::now() - t0;
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->raw;
  EXPECT_LT(took, 2s);
  EXPECT_EQ(r->header("ringgate-partial").value_or(""), "slow,huge");
  JsonBody body(r->body);
  ASSERT_TRUE(body.valid()) << r->body;
  EXPECT_EQ(body.at("slow"), "[]");
  EXPECT_EQ(body.at("huge"), "[]");
  EXPECT_EQ(body.at("fine"), "\"/f/3000\"");
  EXPECT_EQ(body.at("errors[0].status"), "504") << r->body;
  EXPECT_NE(body.at("errors[0].reason").find("element 1"), std::string::npos) << r->body;
  EXPECT_NE(body.at("errors[1].reason").find("larger than 1024 bytes"), std::string::npos)
      << r->body;
}

TEST_F(AggregateTest, ProjectionsAndMergeSpliceOnlyWhatIsAskedFor) {
  Upstream a;
  const std::string user =
      "query: {json: '{{\"id\": 7, \"name\": \"Ann\", \"secret\": \"x\", "
      "\"address\": {{\"city\": \"Oslo\", \"zip\": \"0150\"}}}}'}";
  auto& gw = start_agg(
      "      backends:\n"
      "        - {key: picked, upstream: a, path: /u, " +
          user +
          ", pick: address.city}\n"
          "        - {key: missing, upstream: a, path: /u, " +
          user +
          ", pick: address.country}\n"
          "        - {key: allowed, upstream: a, path: /u, " +
          user +
          ", allow: [id, address.city]}\n"
          "        - {key: denied, upstream: a, path: /u, " +
          user +
          ", deny: [secret, address],"
          " rename: {name: fullName}}\n"
          "        - {key: merged, upstream: a, path: /m, query: {json: '{{\"total\": 2, \"page\": "
          "1}}'},"
          " merge: true}\n",
      a.port());
  ASSERT_TRUE(gw.ok()) << gw.error();
  auto r = fetch(gw.port(), request("GET", "/agg/1"));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->raw;
  JsonBody body(r->body);
  ASSERT_TRUE(body.valid()) << r->body;
  EXPECT_EQ(body.at("picked"), "\"Oslo\"");
  EXPECT_EQ(body.at("missing"), "null");  // a pick that selects nothing
  EXPECT_EQ(body.at("allowed"), "{\"id\": 7,\"address\":{\"city\": \"Oslo\"}}") << r->body;
  EXPECT_EQ(body.at("denied.fullName"), "\"Ann\"");
  EXPECT_EQ(body.at("denied.secret"), "<absent>");
  EXPECT_EQ(body.at("denied.address"), "<absent>");
  EXPECT_EQ(body.at("total"), "2");  // merged into the top level
  EXPECT_EQ(body.at("page"), "1");
  EXPECT_EQ(body.at("merged"), "<absent>");
}

TEST_F(AggregateTest, RequiredBackendFailureIs502NamingIt) {
  Upstream a;
  auto& gw = start_agg(
      "      backends:\n"
      "        - {key: product, upstream: a, path: /p}\n"
      "        - {key: price, upstream: a, path: /price, query: {status: \"500\"}}\n",
      a.port());
  ASSERT_TRUE(gw.ok()) << gw.error();
  auto r = fetch(gw.port(), request("GET", "/agg/1"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 502) << r->raw;
  EXPECT_EQ(r->header("content-type").value_or(""), "application/problem+json");
  EXPECT_NE(r->body.find("backend \\\"price\\\" answered 500"), std::string::npos) << r->raw;
}

TEST_F(AggregateTest, OptionalFailuresGiveDefaultsPartialHeaderAndErrors) {
  Upstream a;
  auto& gw = start_agg(
      "      errors: true\n"
      "      backends:\n"
      "        - {key: product, upstream: a, path: /p}\n"
      "        - {key: reviews, upstream: down, path: /r, optional: true, default: []}\n"
      "        - {key: stock, upstream: a, path: /s, query: {json: '{{bad'}, optional: true,"
      " default: {count: 0}}\n",
      a.port());
  ASSERT_TRUE(gw.ok()) << gw.error();
  auto r = fetch(gw.port(), request("GET", "/agg/1"));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->raw;
  EXPECT_EQ(r->header("ringgate-partial").value_or(""), "reviews,stock");
  JsonBody body(r->body);
  ASSERT_TRUE(body.valid()) << r->body;
  EXPECT_EQ(body.at("reviews"), "[]");
  EXPECT_EQ(body.at("stock"), "{\"count\":0}");
  EXPECT_EQ(body.at("errors[0].backend"), "\"reviews\"");
  EXPECT_EQ(body.at("errors[0].status"), "502");
  EXPECT_EQ(body.at("errors[1].backend"), "\"stock\"");
  EXPECT_NE(body.at("errors[1].reason").find("invalid JSON"), std::string::npos) << r->body;
}

TEST_F(AggregateTest, DeadlineCancelsWhatIsStillOut) {
  Upstream a;
  auto& gw = start_agg(
      "      timeout: 300ms\n"
      "      backends:\n"
      "        - {key: fast, upstream: a, path: /f}\n"
      "        - {key: slow, upstream: a, path: /s, query: {delay: 3s}, optional: true}\n",
      a.port());
  ASSERT_TRUE(gw.ok()) << gw.error();
  const auto t0 = std::chrono::steady_clock::now();
  auto r = fetch(gw.port(), request("GET", "/agg/1"));
  const auto took = std::chrono::steady_clock::now() - t0;
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->raw;
  EXPECT_EQ(r->header("ringgate-partial").value_or(""), "slow");
  EXPECT_GE(took, 250ms);
  EXPECT_LT(took, 2s);
  // A required backend that misses the deadline: 504.
  auto& gw2 = start_agg(
      "      timeout: 200ms\n"
      "      backends:\n"
      "        - {key: slow, upstream: a, path: /s, query: {delay: 3s}}\n",
      a.port());
  ASSERT_TRUE(gw2.ok()) << gw2.error();
  auto r2 = fetch(gw2.port(), request("GET", "/agg/1"));
  ASSERT_TRUE(r2);
  EXPECT_EQ(r2->status, 504) << r2->raw;
}

TEST_F(AggregateTest, BodyLimitsAreBackendFailures) {
  Upstream a;
  auto& gw = start_agg(
      "      errors: true\n"
      "      limits: {body_bytes: 1KiB, depth: 3}\n"
      "      backends:\n"
      "        - {key: big, upstream: a, path: /b, query: {body_size: \"5000\"}, optional: true}\n"
      "        - {key: deep, upstream: a, path: /d, query: {json: \"[[[[1]]]]\"}, optional: true}\n"
      "        - {key: ok, upstream: a, path: /o, query: {json: \"[[[1]]]\"}}\n",
      a.port());
  ASSERT_TRUE(gw.ok()) << gw.error();
  auto r = fetch(gw.port(), request("GET", "/agg/1"));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->raw;
  JsonBody body(r->body);
  ASSERT_TRUE(body.valid()) << r->body;
  EXPECT_EQ(body.at("big"), "null");
  EXPECT_EQ(body.at("deep"), "null");
  EXPECT_EQ(body.at("ok"), "[[[1]]]");
  EXPECT_NE(body.at("errors[0].reason").find("larger than 1024 bytes"), std::string::npos)
      << r->body;
  EXPECT_NE(body.at("errors[1].reason").find("nesting deeper than 3"), std::string::npos)
      << r->body;
}

TEST_F(AggregateTest, MergeCollisionsFollowOnCollision) {
  Upstream a;
  const std::string backends =
      "      backends:\n"
      "        - {key: one, upstream: a, path: /1, query: {json: '{{\"x\": 1}}'}, merge: true}\n"
      "        - {key: two, upstream: a, path: /2, query: {json: '{{\"x\": 2}}'}, merge: true}\n";
  for (const auto& [policy, want] : std::vector<std::pair<std::string, std::string>>{
           {"first", "1"}, {"last", "2"}, {"error", ""}}) {
    auto& gw = start_agg("      on_collision: " + policy + "\n" + backends, a.port());
    ASSERT_TRUE(gw.ok()) << gw.error();
    auto r = fetch(gw.port(), request("GET", "/agg/1"));
    ASSERT_TRUE(r);
    if (want.empty()) {
      EXPECT_EQ(r->status, 502) << r->raw;
      EXPECT_NE(r->body.find("two members named \\\"x\\\""), std::string::npos) << r->body;
      continue;
    }
    ASSERT_EQ(r->status, 200) << policy << "\n" << r->raw;
    JsonBody body(r->body);
    ASSERT_TRUE(body.valid()) << r->body;
    EXPECT_EQ(body.at("x"), want) << policy << ": " << r->body;
    EXPECT_EQ(r->body.find("\"x\"", r->body.find("\"x\"") + 1), std::string::npos) << r->body;
  }
}

TEST_F(AggregateTest, MergedMembersKeepTheirKeysAsSentAndANonObjectFails) {
  // Merged members are gathered when each body arrives; a key with an escape is written as sent.
  Upstream a;
  auto& gw = start_agg(
      "      backends:\n"
      "        - {key: one, upstream: a, path: /1, query: {json: '{{\"a\\u0062\": 1, \"c\": "
      "[2]}}'}, merge: true}\n"
      "        - {key: two, upstream: a, path: /2, query: {json: '{{\"d\": \"x\"}}'}, merge: "
      "true}\n",
      a.port());
  ASSERT_TRUE(gw.ok()) << gw.error();
  auto r = fetch(gw.port(), request("GET", "/agg/1"));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->raw;
  JsonBody body(r->body);
  ASSERT_TRUE(body.valid()) << r->body;
  EXPECT_NE(r->body.find("\"a\\u0062\":1"), std::string::npos) << r->body;
  EXPECT_EQ(body.at("c"), "[2]") << r->body;
  EXPECT_EQ(body.at("d"), "\"x\"") << r->body;

  auto& bad = start_agg(
      "      backends:\n"
      "        - {key: one, upstream: a, path: /1, query: {json: '[1, 2]'}, merge: true}\n",
      a.port());
  ASSERT_TRUE(bad.ok()) << bad.error();
  r = fetch(bad.port(), request("GET", "/agg/1"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 502) << r->raw;
  EXPECT_NE(r->body.find("sent no object to merge"), std::string::npos) << r->body;
}

// Every JSONTestSuite file served by an upstream: valid ones are spliced as sent, invalid ones
// are failures of their backend, and the gateway's answer is always valid JSON.
TEST_F(AggregateTest, JsonTestSuiteBodies) {
  const std::filesystem::path dir =
      std::filesystem::path(RINGGATE_SOURCE_DIR) / "../shared/testdata/JSONTestSuite/test_parsing";
  if (!std::filesystem::is_directory(dir)) {
    GTEST_SKIP() << "JSONTestSuite not found at " << dir;
  }
  Upstream a({"--files", dir.string()});
  auto& gw = start_agg(
      "      backends:\n"
      "        - {key: v, upstream: a, path: \"/files/{id}\", optional: true, default: \"bad\"}\n",
      a.port());
  ASSERT_TRUE(gw.ok()) << gw.error();
  int valid = 0;
  int invalid = 0;
  Conn c = connect_to(gw.port());
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (name.size() < 2 || (name[0] != 'y' && name[0] != 'n') || name[1] != '_') {
      continue;  // i_ files may go either way
    }
    std::string encoded;
    for (char ch : name) {
      const auto u = static_cast<unsigned char>(ch);
      if (std::isalnum(u) || ch == '_' || ch == '-' || ch == '.') {
        encoded.push_back(ch);
      } else {
        char hex[4];
        std::snprintf(hex, sizeof hex, "%%%02X", u);
        encoded += hex;
      }
    }
    if (!c.valid()) {
      c = connect_to(gw.port());
    }
    ASSERT_TRUE(send_all(c, request("GET", "/agg/" + encoded))) << name;
    auto r = read_response(c);
    ASSERT_TRUE(r) << name;
    ASSERT_EQ(r->status, 200) << name << "\n" << r->raw;
    JsonBody body(r->body);
    ASSERT_TRUE(body.valid()) << name << ": " << body.why() << "\n" << r->body;
    const bool failed = r->has("ringgate-partial");
    if (name[0] == 'y') {
      EXPECT_FALSE(failed) << name << " is valid JSON\n" << r->body;
      // Spliced as sent, without the whitespace around it.
      std::ifstream in(entry.path(), std::ios::binary);
      std::string sent((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      const size_t first = sent.find_first_not_of(" \t\r\n");
      const size_t last = sent.find_last_not_of(" \t\r\n");
      ASSERT_NE(first, std::string::npos) << name;
      EXPECT_EQ(r->body, "{\"v\":" + sent.substr(first, last + 1 - first) + "}") << name;
      ++valid;
    } else {
      EXPECT_TRUE(failed) << name << " is not valid JSON\n" << r->body;
      EXPECT_EQ(body.at("v"), "\"bad\"") << name;
      ++invalid;
    }
  }
  EXPECT_GT(valid, 50);
  EXPECT_GT(invalid, 100);
}

TEST_F(AggregateTest, CacheControlIsTheMostRestrictiveAndListedHeadersPass) {
  Upstream a;
  auto backends = [](const std::string& second_cc) {
    return "      headers: [etag]\n"
           "      backends:\n"
           "        - {key: one, upstream: a, path: /1,"
           " query: {header: \"Cache-Control:public, max-age=60\"}}\n"
           "        - {key: two, upstream: a, path: /2, query: {header: \"" +
           second_cc +
           "\"}}\n"
           "        - {key: three, upstream: a, path: /3, query: {header: \"ETag:\\\"v3\\\"\"},"
           " optional: true}\n";
  };
  auto& gw = start_agg(backends("Cache-Control:max-age=30, private"), a.port());
  ASSERT_TRUE(gw.ok()) << gw.error();
  auto r = fetch(gw.port(), request("GET", "/agg/1"));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->raw;
  // `three` sent no Cache-Control, so no lifetime is stated (no max-age), but storing is not
  // forbidden either: `two`'s private is what remains. `one`'s public is not every backend's.
  EXPECT_EQ(r->header("cache-control").value_or(""), "private") << r->raw;
  EXPECT_EQ(r->header("etag").value_or(""), "\"v3\"");
  EXPECT_FALSE(r->has("x-upstream"));  // other upstream headers are dropped

  auto all_cacheable = [](const std::string& cc) {
    return "      backends:\n"
           "        - {key: one, upstream: a, path: /1,"
           " query: {header: \"Cache-Control:public, max-age=60\"}}\n"
           "        - {key: two, upstream: a, path: /2, query: {header: \"" +
           cc + "\"}}\n";
  };
  auto& gw2 = start_agg(all_cacheable("Cache-Control:max-age=30, private"), a.port());
  ASSERT_TRUE(gw2.ok()) << gw2.error();
  auto r2 = fetch(gw2.port(), request("GET", "/agg/1"));
  ASSERT_TRUE(r2);
  EXPECT_EQ(r2->header("cache-control").value_or(""), "private, max-age=30") << r2->raw;
  auto& gw3 = start_agg(all_cacheable("Cache-Control:no-store"), a.port());
  ASSERT_TRUE(gw3.ok()) << gw3.error();
  auto r3 = fetch(gw3.port(), request("GET", "/agg/1"));
  ASSERT_TRUE(r3);
  EXPECT_EQ(r3->header("cache-control").value_or(""), "no-store") << r3->raw;
}

// Every call of a for_each backend counts toward Cache-Control, an empty for_each and a skipped
// backend do not.
TEST_F(AggregateTest, CacheControlCountsEachForEachCallAndNotSkippedBackends) {
  Upstream a;
  // Element 2's response is the only one with a shorter max-age; element 3's has none.
  auto action = [](const std::string& list) {
    return "      profiles:\n"
           "        select: \"header:X-Client\"\n"
           "        mobile: {extra: {skip: true}}\n"
           "      backends:\n"
           "        - {key: list, upstream: a, path: /l, query: {json: \"" +
           list +
           "\", header: \"Cache-Control:max-age=60\"}}\n"
           "        - {key: each, upstream: a, path: \"/x/{item}\", for_each: \"list[*]\","
           " query: {header: \"Cache-Control:max-age={item}\"}}\n"
           "        - {key: extra, upstream: a, path: /e}\n";
  };
  auto& gw = start_agg(action("[50,20,40]"), a.port());
  ASSERT_TRUE(gw.ok()) << gw.error();
  // `extra` sends no Cache-Control: the response states no lifetime (no header at all, as
  // `extra` itself); only skipping it gives the smallest max-age of the rest.
  auto web = fetch(gw.port(), request("GET", "/agg/1"));
  ASSERT_TRUE(web);
  ASSERT_EQ(web->status, 200) << web->raw;
  EXPECT_FALSE(web->has("cache-control")) << web->raw;
  auto mobile = fetch(gw.port(), request("GET", "/agg/1", "X-Client: mobile\r\n"));
  ASSERT_TRUE(mobile);
  ASSERT_EQ(mobile->status, 200) << mobile->raw;
  EXPECT_EQ(mobile->header("cache-control").value_or(""), "max-age=20") << mobile->raw;

  auto& empty = start_agg(action("[]"), a.port());
  ASSERT_TRUE(empty.ok()) << empty.error();
  auto r = fetch(empty.port(), request("GET", "/agg/1", "X-Client: mobile\r\n"));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->raw;
  EXPECT_EQ(r->body, "{\"list\":[],\"each\":[]}");
  EXPECT_EQ(r->header("cache-control").value_or(""), "max-age=60") << r->raw;
}

// One call per element of an earlier backend's array, at most `concurrency` at once, joined in
// element order.
TEST_F(AggregateTest, ForEachCallsOncePerElementAndJoinsInOrder) {
  Upstream orders;
  Upstream products({"--name", "products", "--record", record_file("p")});
  const std::string order =
      "query: {json: '{{\"lines\": [{{\"sku\": \"a1\"}}, {{\"sku\": \"b/2\"}}, "
      "{{\"sku\": \"c3\"}}]}}'}";
  auto& gw = start_agg(
      "      backends:\n"
      "        - {key: order, upstream: a, path: /o, " +
          order +
          "}\n"
          "        - {key: items, upstream: b, path: \"/products/{item}\","
          " for_each: \"order.lines[*].sku\", concurrency: 2}\n",
      orders.port(), products.port());
  ASSERT_TRUE(gw.ok()) << gw.error();
  auto r = fetch(gw.port(), request("GET", "/agg/1"));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->raw;
  JsonBody body(r->body);
  ASSERT_TRUE(body.valid()) << r->body;
  EXPECT_EQ(body.at("items[0].path"), "\"/products/a1\"") << r->body;
  EXPECT_EQ(body.at("items[1].path"), "\"/products/b%2F2\"") << r->body;
  EXPECT_EQ(body.at("items[2].path"), "\"/products/c3\"") << r->body;
  EXPECT_EQ(read_record(record_file("p")).requests.size(), 3u);
}

TEST_F(AggregateTest, ForEachLimitsAndFailures) {
  Upstream a;
  const std::string many = "query: {json: \"[1,2,3,4,5]\"}";
  auto& gw = start_agg(
      "      errors: true\n"
      "      backends:\n"
      "        - {key: list, upstream: a, path: /l, " +
          many +
          "}\n"
          "        - {key: capped, upstream: a, path: \"/x/{item}\", for_each: \"list[*]\","
          " max_items: 4, optional: true}\n"
          "        - {key: failing, upstream: a, path: \"/x/{item}\","
          " query: {status: \"503\"}, for_each: \"list[*]\", optional: true}\n"
          "        - {key: empty, upstream: a, path: \"/x/{item}\", for_each: \"list[9][*]\","
          " optional: true}\n",
      a.port());
  ASSERT_TRUE(gw.ok()) << gw.error();
  auto r = fetch(gw.port(), request("GET", "/agg/1"));
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->raw;
  EXPECT_EQ(r->header("ringgate-partial").value_or(""), "capped,failing,empty");
  JsonBody body(r->body);
  ASSERT_TRUE(body.valid()) << r->body;
  EXPECT_NE(body.at("errors[0].reason").find("more than 4 elements"), std::string::npos) << r->body;
  EXPECT_NE(body.at("errors[1].reason").find("answered 503"), std::string::npos) << r->body;
  EXPECT_NE(body.at("errors[2].reason").find("is not an array"), std::string::npos) << r->body;
}

// BFF profiles: one route, a small payload for mobile clients and the full one for the web.
TEST_F(AggregateTest, ProfilesProjectPerKindOfClient) {
  Upstream a({"--record", record_file("a")});
  auto& gw = start_agg(
      "      profiles:\n"
      "        select: \"header:X-Client\"\n"
      "        default: web\n"
      "        mobile:\n"
      "          product: {allow: [id]}\n"
      "          reviews: {skip: true}\n"
      "        web: {}\n"
      "      backends:\n"
      "        - {key: product, upstream: a, path: /p,"
      " query: {json: '{{\"id\": 1, \"name\": \"n\", \"long\": \"text\"}}'}}\n"
      "        - {key: reviews, upstream: a, path: /r, query: {json: \"[5, 4]\"}}\n",
      a.port());
  ASSERT_TRUE(gw.ok()) << gw.error();
  auto mobile = fetch(gw.port(), request("GET", "/agg/1", "X-Client: mobile\r\n"));
  ASSERT_TRUE(mobile);
  ASSERT_EQ(mobile->status, 200) << mobile->raw;
  EXPECT_EQ(mobile->body, "{\"product\":{\"id\": 1}}");
  EXPECT_EQ(read_record(record_file("a")).requests.size(), 1u);  // reviews was not called
  for (const char* client : {"X-Client: web\r\n", "X-Client: fridge\r\n", ""}) {
    auto web = fetch(gw.port(), request("GET", "/agg/1", client));
    ASSERT_TRUE(web);
    ASSERT_EQ(web->status, 200) << web->raw;
    JsonBody body(web->body);
    ASSERT_TRUE(body.valid()) << web->body;
    EXPECT_EQ(body.at("product.long"), "\"text\"") << client;
    EXPECT_EQ(body.at("reviews"), "[5, 4]") << client;
  }
}

// A client that resets mid-aggregation: the calls still out are cancelled (their upstream
// connections closed), the request is counted as aborted, and the gateway serves on.
TEST_F(AggregateTest, ClientGoneCancelsTheCallsStillOut) {
  Upstream fast;
  Upstream hung;
  auto& gw = start_agg(
      "      backends:\n"
      "        - {key: fast, upstream: a, path: /f}\n"
      "        - {key: hung, upstream: b, path: /h, query: {hang: \"1\"}}\n",
      fast.port(), hung.port());
  ASSERT_TRUE(gw.ok()) << gw.error();
  const std::string hung_active = "ringgate_upstream_connections_active{upstream=\"b\"}";
  {
    Conn c = connect_to(gw.port());
    ASSERT_TRUE(send_all(c, request("GET", "/agg/1")));
    EXPECT_EQ(wait_metric(gw.admin_port(), hung_active, [](double v) { return v == 1; }), 1);
    // Reset, not a half-close: a half-closed client still gets its answer.
    const linger reset{1, 0};
    setsockopt(c.fd(), SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
  }  // closed here
  EXPECT_EQ(wait_metric(gw.admin_port(), "ringgate_requests_aborted_total",
                        [](double v) { return v == 1; }),
            1);
  EXPECT_EQ(wait_metric(gw.admin_port(), hung_active, [](double v) { return v == 0; }), 0);
  auto r = fetch(gw.port(), request("GET", "/hello"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

}  // namespace
}  // namespace ringgate::it
