// Projections (pick / allow / deny / rename) written through a Writer, and members() for merges.

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "json_fixture.h"

namespace ringgate::json {
namespace {

using testing::Body;

Projection build(const ProjectionSpec& spec) {
  Projection p;
  std::string why;
  EXPECT_TRUE(Projection::build(spec, &p, &why)) << why;
  return p;
}

ProjectionSpec allow(std::vector<std::string> paths) {
  ProjectionSpec s;
  s.allow = std::move(paths);
  return s;
}

ProjectionSpec deny(std::vector<std::string> paths) {
  ProjectionSpec s;
  s.deny = std::move(paths);
  return s;
}

ProjectionSpec pick(std::string path) {
  ProjectionSpec s;
  s.pick = std::move(path);
  return s;
}

ProjectionSpec rename(std::vector<std::pair<std::string, std::string>> renames) {
  ProjectionSpec s;
  s.rename = std::move(renames);
  return s;
}

TEST(ProjectionBuildTest, RejectsContradictionsAndBadPaths) {
  struct Bad {
    ProjectionSpec spec;
    const char* why;
  };
  ProjectionSpec pick_allow = pick("a");
  pick_allow.allow = {"b"};
  ProjectionSpec pick_deny = pick("a");
  pick_deny.deny = {"b"};
  for (const Bad& b : {
           Bad{pick_allow, "pick cannot be combined with allow or deny"},
           Bad{pick_deny, "pick cannot be combined with allow or deny"},
           Bad{pick("a..b"), "pick \"a..b\": empty member name at offset 2"},
           Bad{pick("a[*]"), "pick \"a[*]\": [*] selects many values; pick takes one"},
           Bad{allow({"a", "b["}), "allow \"b[\": unclosed [ at offset 1"},
           Bad{allow({"lines[0].sku"}),
               "allow \"lines[0].sku\": array indexes are not supported, use [*]"},
           Bad{deny({""}), "deny: the empty path (the whole body) is not a member"},
           Bad{allow({""}), "allow: the empty path (the whole body) is not a member"},
           Bad{rename({{"a", "x"}, {"a", "y"}}), "rename: \"a\" is renamed twice"},
           Bad{rename({{"a", "x"}, {"b", "x"}}), "rename: two members renamed to \"x\""},
       }) {
    Projection p;
    std::string why;
    EXPECT_FALSE(Projection::build(b.spec, &p, &why)) << b.why;
    EXPECT_EQ(why, b.why);
  }
  EXPECT_TRUE(Projection().is_identity());
  EXPECT_TRUE(build(ProjectionSpec{}).is_identity());
  EXPECT_FALSE(build(pick("")).is_identity());
  EXPECT_FALSE(build(rename({{"a", "b"}})).is_identity());
}

class ProjectTest : public ::testing::Test {
 protected:
  void open(std::string_view text) {
    body_ = std::make_unique<Body>(text);
    std::string_view why;
    ASSERT_TRUE(reader_.validate(body_->data(), body_->size(), Limits{}, &why)) << why;
  }
  // The projection's output, or "<absent>" etc. Checks the output validates.
  std::string project(const ProjectionSpec& spec) {
    const Projection p = build(spec);
    std::string out;
    Writer w(out);
    const Status st = reader_.project(p, w);
    if (st != Status::kOk) {
      EXPECT_TRUE(out.empty());
      EXPECT_FALSE(w.complete());
      return std::string("<") + status_name(st) + ">";
    }
    EXPECT_TRUE(w.complete()) << out;
    Reader check;
    const Body copy(out);
    std::string_view why;
    EXPECT_TRUE(check.validate(copy.data(), copy.size(), Limits{}, &why)) << out << ": " << why;
    return out;
  }

  Reader reader_;
  std::unique_ptr<Body> body_;
};

TEST_F(ProjectTest, IdentitySplicesTheWholeBody) {
  open("  {\"a\" : 1,\n \"b\":[2]}\n");
  EXPECT_EQ(project(ProjectionSpec{}), "{\"a\" : 1,\n \"b\":[2]}");
}

TEST_F(ProjectTest, AllowKeepsPathsAndTheStructureLeadingToThem) {
  open(R"({"a":{"b":1,"x":2},"c":3,"d":4})");
  EXPECT_EQ(project(allow({"a.b", "c"})), R"({"a":{"b":1},"c":3})");
  EXPECT_EQ(project(allow({"a"})), R"({"a":{"b":1,"x":2}})");
  EXPECT_EQ(project(allow({"a", "a.b"})), R"({"a":{"b":1,"x":2}})");  // the shorter path wins
  EXPECT_EQ(project(allow({"d", "a.x"})), R"({"a":{"x":2},"d":4})");  // body order, not list order
  EXPECT_EQ(project(allow({"nothing"})), "{}");
  EXPECT_EQ(project(allow({"a.nothing"})), R"({"a":{}})");  // the container is on the path
  EXPECT_EQ(project(allow({"c.b"})), "{}");          // c is a number: the path needs an object
  EXPECT_EQ(project(allow({"a[*]"})), "{}");         // a is an object: the path needs an array
  EXPECT_EQ(project(allow({"[*].a"})), "<absent>");  // the root is not an array
}

TEST_F(ProjectTest, AllowThroughArrays) {
  open(R"({"id":7,"lines":[{"sku":"A","qty":1,"meta":{"w":1}},{"qty":2},5,{"sku":"C"}],
          "tags":["x","y"]})");
  EXPECT_EQ(project(allow({"id", "lines[*].sku"})),
            R"({"id":7,"lines":[{"sku":"A"},{},{"sku":"C"}]})");  // 5 is no object: dropped
  EXPECT_EQ(project(allow({"lines[*].meta.w", "tags[*]"})),
            R"({"lines":[{"meta":{"w":1}},{},{}],"tags":["x","y"]})");
  EXPECT_EQ(project(allow({"lines[*]"})),
            R"({"lines":[{"sku":"A","qty":1,"meta":{"w":1}},{"qty":2},5,{"sku":"C"}]})");
  open(R"([{"id":1,"x":0},{"id":2},[3]])");
  EXPECT_EQ(project(allow({"[*].id"})), R"([{"id":1},{"id":2}])");
  EXPECT_EQ(project(allow({"id"})), "<absent>");  // the root is not an object
}

TEST_F(ProjectTest, DenyRemovesPaths) {
  open(R"({"a":{"b":1,"secret":2},"token":"t","list":[{"k":1,"pw":"x"},{"k":2}],"n":null})");
  EXPECT_EQ(project(deny({"token"})),
            R"({"a":{"b":1,"secret":2},"list":[{"k":1,"pw":"x"},{"k":2}],"n":null})");
  EXPECT_EQ(project(deny({"a.secret", "list[*].pw"})),
            R"({"a":{"b":1},"token":"t","list":[{"k":1},{"k":2}],"n":null})");
  EXPECT_EQ(project(deny({"list[*]"})),
            R"({"a":{"b":1,"secret":2},"token":"t","list":[],"n":null})");
  EXPECT_EQ(project(deny({"a", "token", "list", "n"})), "{}");
  EXPECT_EQ(project(deny({"missing", "a.missing", "token.x", "n[*]"})),
            R"({"a":{"b":1,"secret":2},"token":"t","list":[{"k":1,"pw":"x"},{"k":2}],"n":null})");
  open("[1,2]");
  EXPECT_EQ(project(deny({"a"})), "[1,2]");  // nothing to deny in an array root
  EXPECT_EQ(project(deny({"[*]"})), "[]");
  open("\"scalar\"");
  EXPECT_EQ(project(deny({"a"})), "\"scalar\"");
}

TEST_F(ProjectTest, AllowAndDenyTogether) {
  open(R"({"user":{"name":"n","email":"e","pw":"x"},"debug":true})");
  ProjectionSpec s = allow({"user"});
  s.deny = {"user.pw"};
  EXPECT_EQ(project(s), R"({"user":{"name":"n","email":"e"}})");
  s = allow({"user.name", "user.pw"});
  s.deny = {"user.pw"};  // deny wins over allow
  EXPECT_EQ(project(s), R"({"user":{"name":"n"}})");
}

TEST_F(ProjectTest, PickReplacesTheBody) {
  open(R"({"data":{"item":{"id":1,"name":"x"},"count":3},"list":[10,20]})");
  EXPECT_EQ(project(pick("data.count")), "3");
  EXPECT_EQ(project(pick("data.item")), R"({"id":1,"name":"x"})");
  EXPECT_EQ(project(pick("list[1]")), "20");
  EXPECT_EQ(project(pick("data.missing")), "<absent>");
  EXPECT_EQ(project(pick("")), R"({"data":{"item":{"id":1,"name":"x"},"count":3},"list":[10,20]})");
  ProjectionSpec s = pick("data.item");
  s.rename = {{"name", "title"}};
  EXPECT_EQ(project(s), R"({"id":1,"title":"x"})");
  s.pick = "data.count";
  EXPECT_EQ(project(s), "3");  // rename does nothing to a scalar
}

TEST_F(ProjectTest, RenameTopLevelMembersLast) {
  open(R"({"id":1,"nested":{"id":2},"caf\u00e9":3})");
  EXPECT_EQ(project(rename({{"id", "productId"}})),
            R"({"productId":1,"nested":{"id":2},"caf\u00e9":3})");
  EXPECT_EQ(project(rename({{"caf\xc3\xa9", "cafe"}, {"nested", "q\"uote"}})),
            R"({"id":1,"q\"uote":{"id":2},"cafe":3})");
  ProjectionSpec s = allow({"id", "nested.id"});
  s.rename = {{"id", "key"}, {"nested", "inner"}};
  EXPECT_EQ(project(s), R"({"key":1,"inner":{"id":2}})");  // allow used the old names
  EXPECT_EQ(project(rename({{"id", "id"}})), R"({"id":1,"nested":{"id":2},"caf\u00e9":3})");
  // Onto an existing name: the renamed member takes its place (no name twice), wherever each
  // stands; a rename whose source is absent displaces nothing.
  EXPECT_EQ(project(rename({{"id", "nested"}})), R"({"nested":1,"caf\u00e9":3})");
  EXPECT_EQ(project(rename({{"nested", "id"}})), R"({"id":{"id":2},"caf\u00e9":3})");
  EXPECT_EQ(project(rename({{"missing", "id"}})), R"({"id":1,"nested":{"id":2},"caf\u00e9":3})");
  EXPECT_EQ(project(rename({{"id", "x"}, {"nested", "id"}})),  // a swap of names works
            R"({"x":1,"id":{"id":2},"caf\u00e9":3})");
}

TEST_F(ProjectTest, DuplicateKeysAreTreatedAlike) {
  open(R"({"a":{"x":1,"y":2},"b":0,"a":{"x":3}})");
  EXPECT_EQ(project(allow({"a.x"})), R"({"a":{"x":1},"a":{"x":3}})");
  EXPECT_EQ(project(deny({"a"})), R"({"b":0})");
  EXPECT_EQ(project(rename({{"a", "z"}})), R"({"z":{"x":1,"y":2},"b":0,"z":{"x":3}})");
}

TEST_F(ProjectTest, KeptMembersAreCopiedWithTheirOwnWhitespace) {
  open("{ \"a\" : [ 1 ,2 ] , \"b\"\t:\t{\"c\" : 1, \"d\" : 2} }");
  EXPECT_EQ(project(deny({"b.d"})), "{\"a\" : [ 1 ,2 ],\"b\":{\"c\" : 1}}");
}

TEST_F(ProjectTest, EscapedKeysMatchByTheirText) {
  open(R"({"\u0061":1,"b\"q":{"c\/d":2,"e":3}})");
  EXPECT_EQ(project(allow({"a", "b\"q.c/d"})), R"({"\u0061":1,"b\"q":{"c\/d":2}})");
}

TEST_F(ProjectTest, AbsentLeavesTheWriterAsItWas) {
  open(R"({"x":1})");
  const Projection p = build(pick("missing"));
  std::string out;
  Writer w(out);
  w.begin_object();
  w.key("product");
  EXPECT_EQ(reader_.project(p, w), Status::kAbsent);
  w.null();  // the engine's default for an absent optional value
  w.end_object();
  EXPECT_TRUE(w.complete());
  EXPECT_EQ(out, R"({"product":null})");
}

TEST_F(ProjectTest, ProjectionsOfSeveralBodiesIntoOneResponse) {
  const Body a(R"({"id":"p1","name":"Lamp","internal":{"cost":3}})");
  const Body b(R"({"count":3,"warehouse":"W1"})");
  const Body c(R"([{"stars":5},{"stars":4}])");
  const Projection pa = build(deny({"internal"}));
  const Projection pb = build(pick("count"));
  const Projection pc;
  std::string out;
  Writer w(out);
  w.begin_object();
  for (auto [key, body, proj] : {std::tuple{"product", &a, &pa}, std::tuple{"stock", &b, &pb},
                                 std::tuple{"reviews", &c, &pc}}) {
    ASSERT_TRUE(reader_.validate(body->data(), body->size(), Limits{}, nullptr));
    w.key(key);
    ASSERT_EQ(reader_.project(*proj, w), Status::kOk);
  }
  w.end_object();
  EXPECT_TRUE(w.complete());
  EXPECT_EQ(out, R"({"product":{"id":"p1","name":"Lamp"},"stock":3,)"
                 R"("reviews":[{"stars":5},{"stars":4}]})");
}

// --- members -------------------------------------------------------------------------------------

struct Seen {
  std::string key;
  std::string raw_key;
  std::string value;
  bool operator==(const Seen&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Seen& s) {
  return os << "{" << s.key << " | " << s.raw_key << " | " << s.value << "}";
}

class MembersTest : public ProjectTest {
 protected:
  std::pair<Status, std::vector<Seen>> members(const ProjectionSpec& spec) {
    const Projection p = build(spec);
    std::vector<Seen> seen;
    const Status st = reader_.members(p, [&](const Member& m) {
      seen.push_back({std::string(m.key), std::string(m.raw_key), std::string(m.value)});
    });
    return {st, seen};
  }
  using Result = std::pair<Status, std::vector<Seen>>;
};

TEST_F(MembersTest, EveryTopLevelMemberInOrderWithDuplicates) {
  open(R"({ "a" : 1 , "b\u0021":{"x":[1, 2]}, "a":"again", "":null })");
  EXPECT_EQ(members({}), (Result{Status::kOk,
                                 {{"a", "a", "1"},
                                  {"b!", "b\\u0021", "{\"x\":[1, 2]}"},
                                  {"a", "a", "\"again\""},
                                  {"", "", "null"}}}));
}

TEST_F(MembersTest, ProjectedAndRenamed) {
  open(R"({"id":1,"user":{"name":"n","pw":"x"},"debug":true})");
  ProjectionSpec s = deny({"debug", "user.pw"});
  s.rename = {{"id", "userId"}, {"user", "pro\"file"}};
  EXPECT_EQ(
      members(s),
      (Result{Status::kOk,
              {{"userId", "userId", "1"}, {"pro\"file", "pro\\\"file", "{\"name\":\"n\"}"}}}));
  // A merge sees the renamed member in place of one it displaces, as a projection writes it.
  ProjectionSpec onto;
  onto.rename = {{"id", "debug"}};
  EXPECT_EQ(members(onto),
            (Result{Status::kOk,
                    {{"debug", "debug", "1"}, {"user", "user", "{\"name\":\"n\",\"pw\":\"x\"}"}}}));
  EXPECT_EQ(members(allow({"user.name"})),
            (Result{Status::kOk, {{"user", "user", "{\"name\":\"n\"}"}}}));
  EXPECT_EQ(members(pick("user")),
            (Result{Status::kOk, {{"name", "name", "\"n\""}, {"pw", "pw", "\"x\""}}}));
  EXPECT_EQ(members(pick("id")), (Result{Status::kNotObject, {}}));
  EXPECT_EQ(members(pick("nope")), (Result{Status::kAbsent, {}}));
}

TEST_F(MembersTest, NonObjectBodies) {
  open("[1,2]");
  EXPECT_EQ(members({}), (Result{Status::kNotObject, {}}));
  EXPECT_EQ(members(allow({"[*]"})), (Result{Status::kNotObject, {}}));
  EXPECT_EQ(members(allow({"a"})), (Result{Status::kAbsent, {}}));
  open("\"s\"");
  EXPECT_EQ(members({}), (Result{Status::kNotObject, {}}));
}

TEST_F(MembersTest, TheCallbackCanStop) {
  open(R"({"a":1,"b":2,"c":3})");
  int calls = 0;
  EXPECT_EQ(reader_.members(Projection(), [&](const Member&) { return ++calls < 2; }), Status::kOk);
  EXPECT_EQ(calls, 2);
}

// How the engine merges object bodies: first collect the (projected) keys of each body to apply
// the collision policy, then splice the winners (one Reader here, so each body is validated again
// for the second pass; an engine may keep one Reader per body instead).
TEST_F(MembersTest, MergeSeveralBodiesWithACollisionPolicy) {
  const Body a(R"({"id":1,"name":"from a","shared":"a"})");
  const Body b(R"({"shared":"b","extra":[1]})");
  const Body c(R"({"name":"from c","internal":0})");
  const Projection pa;
  const Projection pb = build(rename({{"extra", "more"}}));
  const Projection pc = build(deny({"internal"}));
  const std::vector<std::pair<const Body*, const Projection*>> bodies = {
      {&a, &pa}, {&b, &pb}, {&c, &pc}};

  // on_collision: last — a key is written by the last body that has it.
  std::map<std::string, size_t> last;
  for (size_t i = 0; i < bodies.size(); ++i) {
    ASSERT_TRUE(
        reader_.validate(bodies[i].first->data(), bodies[i].first->size(), Limits{}, nullptr));
    reader_.members(*bodies[i].second, [&](const Member& m) { last[std::string(m.key)] = i; });
  }
  std::string out;
  Writer w(out);
  w.begin_object();
  for (size_t i = 0; i < bodies.size(); ++i) {
    ASSERT_TRUE(
        reader_.validate(bodies[i].first->data(), bodies[i].first->size(), Limits{}, nullptr));
    reader_.members(*bodies[i].second, [&](const Member& m) {
      if (last[std::string(m.key)] == i) {
        w.raw_key(m.raw_key);
        w.raw(m.value);
      }
    });
  }
  w.end_object();
  EXPECT_TRUE(w.complete());
  EXPECT_EQ(out, R"({"id":1,"shared":"b","more":[1],"name":"from c"})");
}

}  // namespace
}  // namespace ringgate::json
