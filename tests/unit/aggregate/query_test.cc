// Path parsing, find, for_each and scalar_text.

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "json_fixture.h"

namespace ringgate::json {
namespace {

using testing::Body;
using testing::path;

// --- Path ----------------------------------------------------------------------------------------

TEST(PathTest, ParsesMembersIndexesAndOneWildcard) {
  Path p = path("order.lines[12].sku");
  ASSERT_EQ(p.segments().size(), 4u);
  EXPECT_EQ(p.segments()[0].kind, Path::Kind::kMember);
  EXPECT_EQ(p.segments()[0].name, "order");
  EXPECT_EQ(p.segments()[1].name, "lines");
  EXPECT_EQ(p.segments()[2].kind, Path::Kind::kIndex);
  EXPECT_EQ(p.segments()[2].index, 12u);
  EXPECT_EQ(p.segments()[3].name, "sku");
  EXPECT_EQ(p.each_index(), -1);
  EXPECT_EQ(p.text(), "order.lines[12].sku");

  p = path("order.lines[*].productId");
  EXPECT_EQ(p.each_index(), 2);
  EXPECT_EQ(p.segments()[2].kind, Path::Kind::kEach);

  EXPECT_TRUE(path("").is_document());
  EXPECT_EQ(path("[0]").segments()[0].kind, Path::Kind::kIndex);
  EXPECT_EQ(path("[*]").each_index(), 0);
  EXPECT_EQ(path("a[0][1]").segments().size(), 3u);
  EXPECT_EQ(path("[*][0].x").segments().size(), 3u);
  EXPECT_EQ(path("customer id").segments()[0].name, "customer id");  // any byte but . [ ]
  EXPECT_EQ(path("caf\xc3\xa9.\xe2\x82\xac").segments()[1].name, "\xe2\x82\xac");
  EXPECT_EQ(path("[4294967295]").segments()[0].index, 4294967295u);
}

TEST(PathTest, RejectsMalformedPathsWithAReason) {
  struct Bad {
    const char* text;
    const char* why;
  };
  for (const Bad& b : {
           Bad{".a", "empty member name at offset 0"},
           Bad{"a.", "empty member name at offset 2"},
           Bad{"a..b", "empty member name at offset 2"},
           Bad{"a.[0]", "empty member name at offset 2"},
           Bad{"a[0", "unclosed [ at offset 1"},
           Bad{"a[", "unclosed [ at offset 1"},
           Bad{"a]", "unexpected ] at offset 1"},
           Bad{"a[]", "empty [] (expected an index or *) at offset 1"},
           Bad{"a[x]", "array index must be decimal digits or * at offset 1"},
           Bad{"a[-1]", "array index must be decimal digits or * at offset 1"},
           Bad{"a[ 1]", "array index must be decimal digits or * at offset 1"},
           Bad{"a[01]", "array index with a leading zero at offset 1"},
           Bad{"a[4294967296]", "array index too large at offset 1"},
           Bad{"a[0]b", "expected . or [ after ] at offset 4"},
           Bad{"a[*].b[*]",
               "more than one [*] (fan-out over nested arrays is not supported) at "
               "offset 6"},
           Bad{"[*][*]",
               "more than one [*] (fan-out over nested arrays is not supported) at "
               "offset 3"},
       }) {
    Path p = path("unchanged");
    std::string why;
    EXPECT_FALSE(Path::parse(b.text, &p, &why)) << b.text;
    EXPECT_EQ(why, b.why) << b.text;
    EXPECT_EQ(p.text(), "unchanged");
  }
}

// --- find ----------------------------------------------------------------------------------------

class FindTest : public ::testing::Test {
 protected:
  void open(std::string_view text) {
    body_ = std::make_unique<Body>(text);
    std::string_view why;
    ASSERT_TRUE(reader_.validate(body_->data(), body_->size(), Limits{}, &why)) << why;
  }
  // The raw text at `p`, or "<absent>" / "<invalid>".
  std::string find(std::string_view p) {
    std::string_view raw;
    const Status st = reader_.find(path(p), &raw);
    if (st != Status::kOk) {
      EXPECT_TRUE(raw.empty());
      return std::string("<") + status_name(st) + ">";
    }
    // Views point into the body itself.
    EXPECT_GE(raw.data(), body_->data());
    EXPECT_LE(raw.data() + raw.size(), body_->data() + body_->size());
    return std::string(raw);
  }

  Reader reader_;
  std::unique_ptr<Body> body_;
};

TEST_F(FindTest, MembersIndexesAndTheDocument) {
  open(R"( {"customerId":"c-17","order":{"customerId":42,"lines":[{"sku":"A","qty":1},
           {"sku":"B","qty":2}]},"ok":true,"none":null} )");
  EXPECT_EQ(find("customerId"), "\"c-17\"");
  EXPECT_EQ(find("order.customerId"), "42");
  EXPECT_EQ(find("order.lines[0].sku"), "\"A\"");
  EXPECT_EQ(find("order.lines[1].qty"), "2");
  EXPECT_EQ(find("order.lines[1]"), "{\"sku\":\"B\",\"qty\":2}");
  EXPECT_EQ(find("ok"), "true");
  EXPECT_EQ(find("none"), "null");
  EXPECT_EQ(find(""), body_->text().substr(1, body_->size() - 2));  // no surrounding whitespace
}

TEST_F(FindTest, AbsentForMissingOutOfRangeAndWrongTypes) {
  open(R"({"a":{"b":[10,20]},"s":"text","n":5,"e":{},"l":[]})");
  EXPECT_EQ(find("x"), "<absent>");
  EXPECT_EQ(find("a.x"), "<absent>");
  EXPECT_EQ(find("a.b[2]"), "<absent>");
  EXPECT_EQ(find("l[0]"), "<absent>");
  EXPECT_EQ(find("e.x"), "<absent>");
  EXPECT_EQ(find("a[0]"), "<absent>");      // index into an object
  EXPECT_EQ(find("a.b.c"), "<absent>");     // member of an array
  EXPECT_EQ(find("s.length"), "<absent>");  // member of a string
  EXPECT_EQ(find("n[0]"), "<absent>");
  EXPECT_EQ(find("[0]"), "<absent>");     // the root is an object
  EXPECT_EQ(find("a.b[*]"), "<absent>");  // fan-out paths are for for_each
  EXPECT_EQ(find("a.b[1]"), "20");        // and the body is still usable afterwards
}

TEST_F(FindTest, RawTextIsExactInsideAndTrimmedOutside) {
  open("{ \"a\" :  { \"b\" : [ 1 , 2 ] }  ,\n \"s\" : \"x\\\"y\\u00e9\" , \"n\" : -1.50E+3 \n}");
  EXPECT_EQ(find("a"), "{ \"b\" : [ 1 , 2 ] }");
  EXPECT_EQ(find("a.b"), "[ 1 , 2 ]");
  EXPECT_EQ(find("a.b[1]"), "2");
  EXPECT_EQ(find("s"), "\"x\\\"y\\u00e9\"");  // escapes kept: raw text
  EXPECT_EQ(find("n"), "-1.50E+3");           // numbers as written
}

TEST_F(FindTest, KeysAreMatchedAfterUnescaping) {
  open(R"({"a\u0062":1,"q\"uote":2,"sl\/ash":3,"caf\u00e9":4,"":5,"a.b":6,"tab\t":7})");
  EXPECT_EQ(find("ab"), "1");
  EXPECT_EQ(find("q\"uote"), "2");
  EXPECT_EQ(find("sl/ash"), "3");
  EXPECT_EQ(find("caf\xc3\xa9"), "4");
  EXPECT_EQ(find("tab\t"), "7");
  EXPECT_EQ(find("a\\u0062"), "<absent>");  // the name is text, not JSON
  EXPECT_EQ(find("a"), "<absent>");         // a key that is only a prefix of the name
  EXPECT_EQ(find("abc"), "<absent>");
}

TEST_F(FindTest, DuplicateKeysFirstWins) {
  open(R"({"a":1,"b":{"c":1},"a":2,"b":{"c":2,"d":3}})");
  EXPECT_EQ(find("a"), "1");
  EXPECT_EQ(find("b.c"), "1");
  EXPECT_EQ(find("b.d"), "<absent>");  // the first b has no d; the second one is not searched
}

TEST_F(FindTest, RootArraysAndScalars) {
  open(R"([[1,[2,3]],{"k":"v"}])");
  EXPECT_EQ(find("[0][1][0]"), "2");
  EXPECT_EQ(find("[1].k"), "\"v\"");
  EXPECT_EQ(find("k"), "<absent>");
  open("  \"just a string\"  ");
  EXPECT_EQ(find(""), "\"just a string\"");
  EXPECT_EQ(find("a"), "<absent>");
  EXPECT_EQ(find("[0]"), "<absent>");
  open("-0.5");
  EXPECT_EQ(find(""), "-0.5");
}

TEST_F(FindTest, EmptyContainers) {
  open(R"({"o":{},"a":[],"oo":{ },"aa":[ ]})");
  EXPECT_EQ(find("o"), "{}");
  EXPECT_EQ(find("a"), "[]");
  EXPECT_EQ(find("oo"), "{ }");
  EXPECT_EQ(find("aa"), "[ ]");
}

TEST_F(FindTest, NothingIsOpenYet) {
  std::string_view raw;
  EXPECT_EQ(reader_.find(path("a"), &raw), Status::kInvalid);
  EXPECT_EQ(reader_.for_each(path("[*]"), [](std::string_view) {}), Status::kInvalid);
}

// --- for_each ------------------------------------------------------------------------------------

class ForEachTest : public FindTest {
 protected:
  // The raw values for_each reports, and its status.
  std::pair<Status, std::vector<std::string>> each(std::string_view p) {
    std::vector<std::string> out;
    const Status st =
        reader_.for_each(path(p), [&](std::string_view raw) { out.emplace_back(raw); });
    return {st, out};
  }
  using Result = std::pair<Status, std::vector<std::string>>;
};

TEST_F(ForEachTest, FansOutOverTheArrayApplyingTheRestOfThePath) {
  open(R"({"order":{"lines":[{"productId":"p1","qty":1},{"productId":"p2"},{"qty":3},
          7,{"productId":{"nested":true}},{"productId":null}]}})");
  EXPECT_EQ(each("order.lines[*].productId"),
            (Result{Status::kOk, {"\"p1\"", "\"p2\"", "{\"nested\":true}", "null"}}));
  EXPECT_EQ(each("order.lines[*].qty"), (Result{Status::kOk, {"1", "3"}}));
  EXPECT_EQ(each("order.lines[*]").second.size(), 6u);
  EXPECT_EQ(each("order.lines[*].missing"), (Result{Status::kOk, {}}));  // array exists
}

TEST_F(ForEachTest, ArrayMissingOrNotAnArray) {
  open(R"({"a":{"b":1},"e":[],"s":"x"})");
  EXPECT_EQ(each("x[*]"), (Result{Status::kAbsent, {}}));
  EXPECT_EQ(each("a[*]"), (Result{Status::kAbsent, {}}));    // an object
  EXPECT_EQ(each("a.b[*]"), (Result{Status::kAbsent, {}}));  // a number
  EXPECT_EQ(each("s[*]"), (Result{Status::kAbsent, {}}));
  EXPECT_EQ(each("[*]"), (Result{Status::kAbsent, {}}));  // the root is an object
  EXPECT_EQ(each("e[*]"), (Result{Status::kOk, {}}));
  EXPECT_EQ(each("e[*].id"), (Result{Status::kOk, {}}));
  EXPECT_EQ(each("a.b"), (Result{Status::kAbsent, {}}));  // no [*] at all
}

TEST_F(ForEachTest, RootArraysIndexesAndNestedArrays) {
  open(R"([{"id":1,"tags":["a","b"]},{"id":2,"tags":[]},{"id":3,"tags":["c"]}])");
  EXPECT_EQ(each("[*].id"), (Result{Status::kOk, {"1", "2", "3"}}));
  EXPECT_EQ(each("[*].tags[0]"), (Result{Status::kOk, {"\"a\"", "\"c\""}}));
  EXPECT_EQ(each("[1].tags[*]"), (Result{Status::kOk, {}}));
  EXPECT_EQ(each("[0].tags[*]"), (Result{Status::kOk, {"\"a\"", "\"b\""}}));
  EXPECT_EQ(each("[*]").second.front(), R"({"id":1,"tags":["a","b"]})");
}

TEST_F(ForEachTest, TheCallbackCanStopTheWalk) {
  open("[1,2,3,4,5]");
  std::vector<std::string> seen;
  const Status st = reader_.for_each(path("[*]"), [&](std::string_view raw) {
    seen.emplace_back(raw);
    return seen.size() < 2;  // an element cap of 2
  });
  EXPECT_EQ(st, Status::kOk);
  EXPECT_EQ(seen, (std::vector<std::string>{"1", "2"}));
  // The body is still open and whole.
  EXPECT_EQ(each("[*]").second.size(), 5u);
}

TEST_F(ForEachTest, QueriesCanBeInterleavedOnOneBody) {
  open(R"({"a":[{"x":1},{"x":2}],"b":"t"})");
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(find("b"), "\"t\"");
    EXPECT_EQ(each("a[*].x"), (Result{Status::kOk, {"1", "2"}}));
    EXPECT_EQ(find("a[1].x"), "2");
  }
}

// --- scalar_text ---------------------------------------------------------------------------------

struct ScalarCase {
  const char* raw;
  ScalarKind kind;
  std::string text;
};

TEST(ScalarTextTest, StringsUnescapedOthersAsWritten) {
  std::string scratch;
  for (const ScalarCase& c : {
           ScalarCase{R"("plain")", ScalarKind::kString, "plain"},
           ScalarCase{R"("")", ScalarKind::kString, ""},
           ScalarCase{R"("a\"b\\c\/d")", ScalarKind::kString, "a\"b\\c/d"},
           ScalarCase{R"("\b\f\n\r\t")", ScalarKind::kString, "\b\f\n\r\t"},
           ScalarCase{R"("caf\u00e9 \u20ac")", ScalarKind::kString, "caf\xc3\xa9 \xe2\x82\xac"},
           ScalarCase{R"("\u0041\u00410")", ScalarKind::kString, "AA0"},
           ScalarCase{R"("\ud83d\ude00")", ScalarKind::kString, "\xf0\x9f\x98\x80"},
           ScalarCase{R"("\uD834\uDD1E!")", ScalarKind::kString, "\xf0\x9d\x84\x9e!"},
           ScalarCase{R"("\uffff")", ScalarKind::kString, "\xef\xbf\xbf"},
           ScalarCase{"\"caf\xc3\xa9\"", ScalarKind::kString, "caf\xc3\xa9"},
           ScalarCase{"42", ScalarKind::kNumber, "42"},
           ScalarCase{"-0.5e+10", ScalarKind::kNumber, "-0.5e+10"},
           ScalarCase{"123456789012345678901234567890", ScalarKind::kNumber,
                      "123456789012345678901234567890"},
           ScalarCase{"true", ScalarKind::kTrue, "true"},
           ScalarCase{"false", ScalarKind::kFalse, "false"},
           ScalarCase{"null", ScalarKind::kNull, "null"},
       }) {
    std::string_view text;
    EXPECT_EQ(scalar_text(c.raw, &scratch, &text), c.kind) << c.raw;
    EXPECT_EQ(text, c.text) << c.raw;
  }
  std::string_view text;
  EXPECT_EQ(scalar_text(std::string_view("\"a\\u0000b\"", 10), &scratch, &text),
            ScalarKind::kString);
  EXPECT_EQ(text, std::string_view("a\0b", 3));
}

TEST(ScalarTextTest, PlainStringsAreViewsIntoTheRawText) {
  std::string scratch;
  const std::string raw = "\"no escapes\"";
  std::string_view text;
  ASSERT_EQ(scalar_text(raw, &scratch, &text), ScalarKind::kString);
  EXPECT_EQ(text.data(), raw.data() + 1);
  EXPECT_TRUE(scratch.empty());
}

TEST(ScalarTextTest, NotScalars) {
  std::string scratch;
  for (const char* raw :
       {"{}",          "{\"a\":1}", "[]",       "[1]",      "",        " 1",      "1 ",
        "\"abc",       "abc\"",     "\"",       "\"a\"b\"", "\"a\\\"", "\"\\x\"", "\"\\ud800\"",
        "\"\\udc00\"", "\"\\u12\"", "\"a\nb\"", "01",       "+1",      "1.",      "tru",
        "nulls",       "True",      "\"\xff\"", "\"\xc3\""}) {
    std::string_view text = "sentinel";
    EXPECT_EQ(scalar_text(raw, &scratch, &text), ScalarKind::kNotScalar) << raw;
    EXPECT_TRUE(text.empty()) << raw;
  }
}

TEST(ScalarTextTest, ValuesFoundInABody) {
  Reader reader;
  const Body body(R"({"id":"a\/b c","n":7,"o":{"x":1}})");
  ASSERT_TRUE(reader.validate(body.data(), body.size(), Limits{}, nullptr));
  std::string scratch;
  std::string_view raw;
  std::string_view text;
  ASSERT_EQ(reader.find(path("id"), &raw), Status::kOk);
  EXPECT_EQ(scalar_text(raw, &scratch, &text), ScalarKind::kString);
  EXPECT_EQ(text, "a/b c");
  ASSERT_EQ(reader.find(path("n"), &raw), Status::kOk);
  EXPECT_EQ(scalar_text(raw, &scratch, &text), ScalarKind::kNumber);
  EXPECT_EQ(text, "7");
  ASSERT_EQ(reader.find(path("o"), &raw), Status::kOk);
  EXPECT_EQ(scalar_text(raw, &scratch, &text), ScalarKind::kNotScalar);
}

}  // namespace
}  // namespace ringgate::json
