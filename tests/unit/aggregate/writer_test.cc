#include <gtest/gtest.h>

#include <climits>
#include <string>

#include "json_fixture.h"

namespace ringgate::json {
namespace {

using testing::Body;

bool validates(const std::string& text) {
  Reader reader;
  const Body body(text);
  std::string_view why;
  const bool ok = reader.validate(body.data(), body.size(), Limits{}, &why);
  EXPECT_TRUE(ok) << "[" << text << "] " << why;
  return ok;
}

TEST(WriterTest, BuildsAnAggregatedResponse) {
  std::string out;
  Writer w(out);
  w.begin_object();
  w.key("product");
  w.raw(R"({"id":"p1", "name":"Lamp"})");
  w.key("stock");
  w.number(3);
  w.key("errors");
  w.begin_array();
  w.begin_object();
  w.key("backend");
  w.string("reviews");
  w.key("status");
  w.number(504);
  w.key("partial");
  w.boolean(true);
  w.key("detail");
  w.null();
  w.end_object();
  w.end_array();
  w.end_object();
  EXPECT_TRUE(w.complete());
  EXPECT_EQ(out,
            R"({"product":{"id":"p1", "name":"Lamp"},"stock":3,"errors":[{"backend":"reviews",)"
            R"("status":504,"partial":true,"detail":null}]})");
  validates(out);
}

TEST(WriterTest, ScalarsEmptyContainersAndNesting) {
  std::string out;
  {
    Writer w(out);
    w.number(INT64_MIN);
    EXPECT_TRUE(w.complete());
  }
  EXPECT_EQ(out, "-9223372036854775808");
  out.clear();
  {
    Writer w(out);
    w.begin_array();
    w.number(INT64_MAX);
    w.begin_array();
    w.end_array();
    w.begin_object();
    w.end_object();
    w.boolean(false);
    w.raw("[1, 2]");
    w.end_array();
    EXPECT_TRUE(w.complete());
    EXPECT_EQ(w.depth(), 0);
  }
  EXPECT_EQ(out, "[9223372036854775807,[],{},false,[1, 2]]");
}

TEST(WriterTest, EscapesKeysAndStrings) {
  std::string out;
  Writer w(out);
  w.begin_object();
  w.key("q\"uote\\back\n\t\x01\x1f\x7f");
  w.string("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 </script>");
  w.key("");
  w.string("");
  w.end_object();
  EXPECT_EQ(out,
            "{\"q\\\"uote\\\\back\\n\\t\\u0001\\u001f\x7f\":\"caf\xc3\xa9 \xe2\x82\xac "
            "\xf0\x9f\x98\x80 </script>\",\"\":\"\"}");
  validates(out);
}

TEST(WriterTest, InvalidUtf8BecomesReplacementCharacters) {
  std::string out;
  Writer w(out);
  w.begin_array();
  w.string(
      "a\xff"
      "b\xc3");                            // a stray byte and a truncated sequence
  w.string("\xed\xa0\x80");                // an encoded surrogate: three bad bytes
  w.string("\xc0\xaf");                    // an overlong slash
  w.string("ok\xc3\xa9\xf4\x90\x80\x80");  // beyond U+10FFFF
  w.end_array();
  EXPECT_EQ(out,
            "[\"a\xEF\xBF\xBD"
            "b\xEF\xBF\xBD\",\"\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\",\"\xEF\xBF\xBD\xEF\xBF\xBD\","
            "\"ok\xc3\xa9\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\"]");
  validates(out);
}

TEST(WriterTest, RawKeysAndRawMembersAreSplicedAsIs) {
  std::string out;
  Writer w(out);
  w.begin_object();
  w.raw_member(R"("a" : [1, 2])");
  w.raw_key("caf\\u00e9");
  w.raw("1");
  w.raw_member(R"("z":null)");
  w.end_object();
  EXPECT_EQ(out, R"({"a" : [1, 2],"caf\u00e9":1,"z":null})");
  validates(out);
}

TEST(WriterTest, AppendsToWhatIsThereAndKeepsCapacity) {
  std::string out = "prefix:";
  out.reserve(256);
  const char* buffer = out.data();
  Writer w(out);
  w.begin_array();
  w.string("x");
  w.end_array();
  EXPECT_EQ(out, "prefix:[\"x\"]");
  out.clear();
  Writer again(out);
  again.null();
  EXPECT_EQ(out, "null");
  EXPECT_EQ(out.data(), buffer);  // no reallocation: the capacity is reused
}

TEST(WriterTest, MarkAndRollback) {
  std::string out;
  Writer w(out);
  w.begin_object();
  w.key("a");
  w.number(1);
  const Writer::Mark m = w.mark();
  w.key("b");
  w.begin_array();
  w.number(2);
  w.rollback(m);
  EXPECT_EQ(out, "{\"a\":1");
  w.key("b");
  w.null();
  w.end_object();
  EXPECT_TRUE(w.complete());
  EXPECT_EQ(out, "{\"a\":1,\"b\":null}");

  // Rolling back to after a key: the value is replaced, not the key.
  out.clear();
  Writer v(out);
  v.begin_object();
  v.key("k");
  const Writer::Mark after_key = v.mark();
  v.raw("{\"partial\":");
  v.rollback(after_key);
  v.string("default");
  v.end_object();
  EXPECT_EQ(out, "{\"k\":\"default\"}");
  EXPECT_TRUE(v.complete());
}

// Out-of-order calls are refused (and abort in debug builds).
#ifdef NDEBUG
struct Misuse {
  const char* what;
  void (*run)(Writer&);
};

TEST(WriterTest, CallsOutOfOrderAreRefusedAndReported) {
  const Misuse cases[] = {
      {"value where a key is due",
       [](Writer& w) {
         w.begin_object();
         w.number(1);
       }},
      {"key in an array",
       [](Writer& w) {
         w.begin_array();
         w.key("k");
       }},
      {"key at the top level", [](Writer& w) { w.key("k"); }},
      {"two keys in a row",
       [](Writer& w) {
         w.begin_object();
         w.key("a");
         w.key("b");
       }},
      {"end_object after a dangling key",
       [](Writer& w) {
         w.begin_object();
         w.key("a");
         w.end_object();
       }},
      {"end_array in an object",
       [](Writer& w) {
         w.begin_object();
         w.end_array();
       }},
      {"end_object in an array",
       [](Writer& w) {
         w.begin_array();
         w.end_object();
       }},
      {"end at the top level", [](Writer& w) { w.end_array(); }},
      {"second top-level value",
       [](Writer& w) {
         w.number(1);
         w.number(2);
       }},
      {"empty raw", [](Writer& w) { w.raw(""); }},
      {"raw_member in an array",
       [](Writer& w) {
         w.begin_array();
         w.raw_member("\"a\":1");
       }},
      {"raw_member after a key",
       [](Writer& w) {
         w.begin_object();
         w.key("a");
         w.raw_member("\"b\":1");
       }},
      {"nesting too deep",
       [](Writer& w) {
         for (int i = 0; i <= Writer::kMaxNesting; ++i) {
           w.begin_array();
         }
       }},
  };
  for (const Misuse& m : cases) {
    std::string out;
    Writer w(out);
    m.run(w);
    EXPECT_TRUE(w.failed()) << m.what;
    EXPECT_FALSE(w.complete()) << m.what;
  }
  // The refused call wrote nothing: what is there is still a valid prefix.
  std::string out;
  Writer w(out);
  w.begin_object();
  w.number(1);
  EXPECT_EQ(out, "{");
  // Exactly kMaxNesting levels are fine.
  std::string deep;
  Writer d(deep);
  for (int i = 0; i < Writer::kMaxNesting; ++i) {
    d.begin_array();
  }
  for (int i = 0; i < Writer::kMaxNesting; ++i) {
    d.end_array();
  }
  EXPECT_TRUE(d.complete());
  validates(deep);
}
#else
TEST(WriterDeathTest, CallsOutOfOrderAbortInDebugBuilds) {
  EXPECT_DEATH(
      {
        std::string out;
        Writer w(out);
        w.begin_object();
        w.number(1);
      },
      "out of order");
}
#endif

TEST(WriterTest, IncompleteUntilEveryContainerIsClosed) {
  std::string out;
  Writer w(out);
  EXPECT_FALSE(w.complete());
  w.begin_object();
  EXPECT_FALSE(w.complete());
  w.key("a");
  w.begin_array();
  EXPECT_EQ(w.depth(), 2);
  w.end_array();
  EXPECT_FALSE(w.complete());
  w.end_object();
  EXPECT_TRUE(w.complete());
  EXPECT_FALSE(w.failed());
}

}  // namespace
}  // namespace ringgate::json
