#include <gtest/gtest.h>

#include <string>

#include "json_fixture.h"

namespace ringgate::json {
namespace {

using testing::Body;

class ValidateTest : public ::testing::Test {
 protected:
  // Validates with every padding byte that could fool a parser that reads past the end. The
  // verdict and the reason must not depend on it: after a NUL (a std::string's, as the gateway
  // passes its bodies) the walk reads past the last token unbounded, after the others bounded.
  bool valid(std::string_view text, const Limits& limits = Limits{}) {
    bool result = false;
    bool first = true;
    for (const char pad : {'\0', ']', '}', ',', '"', ' ', '1'}) {
      const Body body(text, pad);
      std::string_view why;
      const bool ok = reader_.validate(body.data(), body.size(), limits, &why);
      EXPECT_EQ(ok, reader_.is_open());
      if (first) {
        result = ok;
        why_ = std::string(why);
        first = false;
      } else {
        EXPECT_EQ(ok, result) << "[" << text << "] depends on the padding byte " << pad;
        EXPECT_EQ(why, why_) << "[" << text << "] depends on the padding byte " << pad;
      }
    }
    return result;
  }

  Reader reader_;
  std::string why_;
};

TEST_F(ValidateTest, AcceptsEveryKindOfValueAtTheRoot) {
  for (const char* text : {"{}", "[]", "0", "-1.5e+10", "\"x\"", "\"\"", "true", "false", "null",
                           "{\"a\":1}", "[1,\"a\",null,true,false,{},[]]"}) {
    EXPECT_TRUE(valid(text)) << text << ": " << why_;
  }
}

TEST_F(ValidateTest, WhitespaceEverywhere) {
  EXPECT_TRUE(valid(" \t\r\n{ \"a\" :\n[ 1 ,\t2 , { } , [ ] ] ,\r\n\"b\" : \"x y\" }\n\n "))
      << why_;
  EXPECT_TRUE(valid("  1  ")) << why_;
  EXPECT_TRUE(valid("\n\"s\"\n")) << why_;
  EXPECT_TRUE(valid(" [ ] ")) << why_;
}

TEST_F(ValidateTest, RejectsEmptyBodies) {
  EXPECT_FALSE(valid(""));
  EXPECT_EQ(why_, "empty body");
  EXPECT_FALSE(valid(" \r\n\t "));
  EXPECT_EQ(why_, "empty body");
}

TEST_F(ValidateTest, ReasonsNameTheProblemAndWhere) {
  EXPECT_FALSE(valid("{\"a\":1,}"));
  EXPECT_EQ(why_, "invalid JSON (expected a member name) near byte 7");
  EXPECT_FALSE(valid("[1 2]"));
  EXPECT_EQ(why_, "invalid JSON (expected ',' or ']') near byte 3");
  EXPECT_FALSE(valid("{\"a\":[1,2,]}"));
  EXPECT_EQ(why_, "invalid JSON (expected a value) near byte 10");
  EXPECT_FALSE(valid("{\"a\":01}"));
  EXPECT_EQ(why_, "invalid JSON (bad number) near byte 5");
  EXPECT_FALSE(valid("[tru]"));
  EXPECT_EQ(why_, "invalid JSON (expected a value) near byte 1");
  EXPECT_FALSE(valid("[\"ok\", \"bad \\x\"]"));
  EXPECT_EQ(why_, "invalid JSON (bad string escape) near byte 12");
  EXPECT_FALSE(valid("{\"a\":1} {}"));
  EXPECT_EQ(why_, "invalid JSON (content after the value) near byte 8");
  EXPECT_FALSE(valid("\"abc"));
  EXPECT_EQ(why_, "invalid JSON (UNCLOSED_STRING)");
  EXPECT_FALSE(valid("[\"\xff\"]"));
  EXPECT_EQ(why_, "invalid JSON (UTF8_ERROR)");
  EXPECT_FALSE(valid("[\"a\tb\"]"));
  EXPECT_EQ(why_, "invalid JSON (UNESCAPED_CHARS)");
  EXPECT_FALSE(valid("{\"a\" 1}"));
  EXPECT_EQ(why_, "invalid JSON (expected ':') near byte 5");
  EXPECT_FALSE(valid("{\"a\":1 \"b\":2}"));
  EXPECT_EQ(why_, "invalid JSON (expected ',' or '}') near byte 7");
  EXPECT_FALSE(valid("[[1]"));
  EXPECT_EQ(why_, "invalid JSON (body ends early) near byte 4");
}

TEST_F(ValidateTest, RejectsTrailingGarbage) {
  for (const char* text : {"{} x", "[1]]", "{}}", "[][]", "1 2", "\"a\" \"b\"", "null,",
                           "true false", "{\"a\":1}0", "[1] // comment", "0 ]", "{} /"}) {
    EXPECT_FALSE(valid(text)) << text;
  }
}

TEST_F(ValidateTest, RejectsUnbalancedStructureWhateverThePaddingHolds) {
  // The padding is readable memory the body does not own: a closing bracket there must not
  // close the body's last container.
  for (const char* text :
       {"[[1]", "{\"a\":{\"b\":1}", "[1,[2,[3]]", "[{}", "{\"a\":[]", "[", "{", "[[[]]", "[1,",
        "{\"a\":", "{\"a\"", "[\"a\",", "]", "}", "[}", "{]", "{\"a\":1]", "[1}"}) {
    EXPECT_FALSE(valid(text)) << text;
  }
}

TEST_F(ValidateTest, NumbersInAllForms) {
  for (const char* n : {"0",
                        "-0",
                        "7",
                        "-7",
                        "10",
                        "1.5",
                        "-0.0",
                        "0.001",
                        "1e5",
                        "1E5",
                        "1e+5",
                        "1e-5",
                        "1.5E-300",
                        "-1.25e+02",
                        "123456789012345678901234567890",
                        "-1e400",
                        "1e-400",
                        "0e0",
                        "9007199254740993",
                        "18446744073709551616"}) {
    EXPECT_TRUE(valid(n)) << n << ": " << why_;
    EXPECT_TRUE(valid("[" + std::string(n) + "]")) << n << ": " << why_;
    EXPECT_TRUE(valid("{\"n\":" + std::string(n) + "}")) << n << ": " << why_;
  }
  for (const char* n :
       {"+1",    "01",   "-01",   "1.",   ".5",    "-.5",         "1e",       "1e+",
        "1E-",   "-",    "--1",   "0x10", "1_000", "NaN",         "Infinity", "-Infinity",
        "1.5.2", "1ee2", "1e2.5", "0.e1", "2.e3",  "\xef\xbc\x91"}) {
    EXPECT_FALSE(valid("[" + std::string(n) + "]")) << n;
    EXPECT_FALSE(valid(n)) << n;
  }
}

TEST_F(ValidateTest, LiteralsAreExact) {
  for (const char* bad : {"tru", "truee", "True", "nul", "nulll", "NULL", "fals", "falsey", "t",
                          "undefined", "'a'"}) {
    EXPECT_FALSE(valid("[" + std::string(bad) + "]")) << bad;
  }
}

TEST_F(ValidateTest, StringsAndUnicode) {
  EXPECT_TRUE(valid(R"(["\" \\ \/ \b \f \n \r \t"])")) << why_;
  EXPECT_TRUE(valid(R"(["\u0000\u001f\u00e9\u20AC\uffff"])")) << why_;
  EXPECT_TRUE(valid(R"(["\ud83d\ude00 \uD834\uDD1E"])")) << why_;  // surrogate pairs
  EXPECT_TRUE(valid("[\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"]")) << why_;
  EXPECT_TRUE(valid("[\"\x7f\"]")) << why_;  // DEL needs no escape
  EXPECT_TRUE(valid(R"({"\u0061\"b\\":"k"})")) << why_;
  for (const char* bad :
       {R"(["\x"])", R"(["\u12"])", R"(["\u12G4"])", R"(["\U0041"])", R"(["\'"])", R"(["\ud800"])",
        R"(["\udc00"])", R"(["\ud800\u0041"])", R"(["\ud800\ud800"])", R"(["\ud800x"])",
        R"({"\q":1})", R"({"\ud800":1})"}) {
    EXPECT_FALSE(valid(bad)) << bad;
  }
  EXPECT_FALSE(valid("[\"a\nb\"]"));          // raw control characters must be escaped
  EXPECT_FALSE(valid("[\"\xc3\"]"));          // truncated UTF-8
  EXPECT_FALSE(valid("[\"\xed\xa0\x80\"]"));  // an encoded surrogate
  EXPECT_FALSE(valid("\xef\xbb\xbf{}"));      // a byte-order mark
}

TEST_F(ValidateTest, ObjectsNeedStringKeysColonsAndCommas) {
  for (const char* bad :
       {R"({a:1})", R"({1:1})", R"({"a" 1})", R"({"a"::1})", R"({"a":1 "b":2})", R"({,"a":1})",
        R"({"a":1,,"b":2})", R"({"a"})", R"({'a':1})", R"({"a":1,})", R"({null:1})"}) {
    EXPECT_FALSE(valid(bad)) << bad;
  }
  EXPECT_TRUE(valid(R"({"":0,"a":{"":{}}})")) << why_;  // empty keys are keys
}

TEST_F(ValidateTest, DuplicateKeysAreValid) {
  // RFC 8259 only says names SHOULD be unique; find() takes the first, projections keep both.
  EXPECT_TRUE(valid(R"({"a":1,"a":2})")) << why_;
}

TEST_F(ValidateTest, DepthRightAtAndPastTheLimit) {
  auto nested = [](int depth, bool objects) {
    std::string s;
    for (int i = 0; i < depth; ++i) {
      s += objects ? "{\"k\":" : "[";
    }
    s += "1";
    for (int i = 0; i < depth; ++i) {
      s += objects ? "}" : "]";
    }
    return s;
  };
  EXPECT_TRUE(valid(nested(64, false))) << why_;
  EXPECT_TRUE(valid(nested(64, true))) << why_;
  EXPECT_FALSE(valid(nested(65, false)));
  EXPECT_EQ(why_, "nesting deeper than 64 levels");
  EXPECT_FALSE(valid(nested(65, true)));
  EXPECT_EQ(why_, "nesting deeper than 64 levels");

  Limits three;
  three.max_depth = 3;
  EXPECT_TRUE(valid(R"({"a":[{"b":1}],"c":[[2]]})", three)) << why_;
  EXPECT_FALSE(valid(R"({"a":[{"b":[]}]})", three));
  EXPECT_EQ(why_, "nesting deeper than 3 levels");
  EXPECT_TRUE(valid("[[],[[]],{}]", three)) << why_;

  Limits flat;
  flat.max_depth = 0;
  EXPECT_TRUE(valid("\"scalar\"", flat)) << why_;
  EXPECT_FALSE(valid("{}", flat));

  // Beyond kMaxDepthCap the limit is the cap (validation recurses per level).
  Limits huge;
  huge.max_depth = 1'000'000;
  EXPECT_TRUE(valid(nested(static_cast<int>(kMaxDepthCap), false), huge)) << why_;
  EXPECT_FALSE(valid(nested(static_cast<int>(kMaxDepthCap) + 1, false), huge));
}

TEST_F(ValidateTest, ArrayElementsRightAtAndPastTheLimit) {
  auto array = [](int n) {
    std::string s = "[";
    for (int i = 0; i < n; ++i) {
      s += i == 0 ? "0" : ",0";
    }
    return s + "]";
  };
  EXPECT_TRUE(valid(array(10000))) << why_;
  EXPECT_FALSE(valid(array(10001)));
  EXPECT_EQ(why_, "array longer than 10000 elements");
  EXPECT_FALSE(valid("{\"deep\":{\"list\":" + array(10001) + "}}"));
  EXPECT_EQ(why_, "array longer than 10000 elements");

  Limits small;
  small.max_array_elements = 3;
  EXPECT_TRUE(valid("[[1,2],[3,4],{\"a\":[5,6]}]", small)) << why_;
  small.max_array_elements = 2;
  EXPECT_FALSE(valid("[1,2,3]", small));
  EXPECT_EQ(why_, "array longer than 2 elements");
  // Objects are not arrays: many members are fine.
  EXPECT_TRUE(valid(R"({"a":1,"b":2,"c":3,"d":4})", small)) << why_;
}

TEST_F(ValidateTest, AFailedValidationClosesThePreviousBody) {
  const Body good(R"({"a":1})");
  ASSERT_TRUE(reader_.validate(good.data(), good.size(), Limits{}, nullptr));
  std::string_view raw;
  EXPECT_EQ(reader_.find(testing::path("a"), &raw), Status::kOk);
  const Body bad("{");
  EXPECT_FALSE(reader_.validate(bad.data(), bad.size(), Limits{}, nullptr));
  EXPECT_FALSE(reader_.is_open());
  EXPECT_EQ(reader_.find(testing::path("a"), &raw), Status::kInvalid);
  reader_.close();
  EXPECT_FALSE(reader_.is_open());
}

TEST_F(ValidateTest, ParserCapacityGrowsToTheLargestBodyAndStays) {
  std::string big = "[";
  for (int i = 0; i < 5000; ++i) {
    big += i == 0 ? "\"xxxxxxxx\"" : ",\"xxxxxxxx\"";
  }
  big += "]";
  const Body large(big);
  ASSERT_TRUE(reader_.validate(large.data(), large.size(), Limits{}, nullptr));
  const size_t cap = reader_.capacity();
  EXPECT_GE(cap, big.size());
  const Body small("[1]");
  ASSERT_TRUE(reader_.validate(small.data(), small.size(), Limits{}, nullptr));
  EXPECT_EQ(reader_.capacity(), cap);
}

TEST_F(ValidateTest, ValidatingAgainReopensABody) {
  const Body a(R"({"id":"a","n":1})");
  const Body b(R"({"id":"b"})");
  ASSERT_TRUE(reader_.validate(a.data(), a.size(), Limits{}, nullptr));
  ASSERT_TRUE(reader_.validate(b.data(), b.size(), Limits{}, nullptr));
  std::string_view raw;
  ASSERT_EQ(reader_.find(testing::path("id"), &raw), Status::kOk);
  EXPECT_EQ(raw, "\"b\"");
  ASSERT_TRUE(reader_.validate(a.data(), a.size(), Limits{}, nullptr));
  ASSERT_EQ(reader_.find(testing::path("id"), &raw), Status::kOk);
  EXPECT_EQ(raw, "\"a\"");
}

TEST_F(ValidateTest, TwoReadersKeepTwoBodiesOpen) {
  const Body a(R"({"id":"a"})");
  const Body b(R"([{"id":"b"}])");
  Reader other;
  ASSERT_TRUE(reader_.validate(a.data(), a.size(), Limits{}, nullptr));
  ASSERT_TRUE(other.validate(b.data(), b.size(), Limits{}, nullptr));
  std::string_view raw;
  ASSERT_EQ(reader_.find(testing::path("id"), &raw), Status::kOk);
  EXPECT_EQ(raw, "\"a\"");
  ASSERT_EQ(other.find(testing::path("[0].id"), &raw), Status::kOk);
  EXPECT_EQ(raw, "\"b\"");
}

}  // namespace
}  // namespace ringgate::json
