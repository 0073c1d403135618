#include "ringgate/router/router.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <initializer_list>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "ringgate/core/method.h"

// Defined in alloc_counter.cc, which replaces the global operator new for this binary.
long allocation_count();

namespace ringgate {
namespace {

using ::testing::HasSubstr;
using Status = RouteMatchResult::Status;

const int kGet = method_from_name("GET");
const int kHead = method_from_name("HEAD");
const int kPost = method_from_name("POST");
const int kPut = method_from_name("PUT");
const int kDelete = method_from_name("DELETE");

RouteConfig route(RouteMatch::Kind kind, std::string path, std::vector<std::string> methods = {},
                  std::string host = {}) {
  RouteConfig r;
  r.match.kind = kind;
  r.match.path = std::move(path);
  r.match.methods = std::move(methods);
  r.match.host = std::move(host);
  return r;
}

RouteConfig exact(std::string path, std::vector<std::string> methods = {}, std::string host = {}) {
  return route(RouteMatch::Kind::kExact, std::move(path), std::move(methods), std::move(host));
}
RouteConfig prefix(std::string path, std::vector<std::string> methods = {}, std::string host = {}) {
  return route(RouteMatch::Kind::kPrefix, std::move(path), std::move(methods), std::move(host));
}
RouteConfig tmpl(std::string path, std::vector<std::string> methods = {}, std::string host = {}) {
  return route(RouteMatch::Kind::kTemplate, std::move(path), std::move(methods), std::move(host));
}

Config make_config(std::vector<RouteConfig> routes) {
  Config config;
  config.source = "test.yaml";
  for (size_t i = 0; i < routes.size(); ++i) {
    routes[i].name = "route#" + std::to_string(i + 1);
    routes[i].mark = SourceMark{"test.yaml", static_cast<int>(i + 1), 3};
  }
  config.routes = std::move(routes);
  return config;
}

// Owns the config so the router's views stay valid for the test's lifetime.
class RouterTest : public ::testing::Test {
 protected:
  void build(std::vector<RouteConfig> routes) {
    router_.reset();
    config_ = make_config(std::move(routes));
    router_ = std::make_unique<Router>(config_);
  }

  RouteMatchResult match(std::string_view path, int method = kGet, std::string_view host = {}) {
    RouteMatchResult result;
    router_->match(host, method, path, result);
    return result;
  }

  // Index of the matched route, or -1 for 404 / -2 for 405.
  int index_of(std::string_view path, int method = kGet, std::string_view host = {}) {
    RouteMatchResult r = match(path, method, host);
    if (r.status == Status::kNotFound) {
      return -1;
    }
    if (r.status == Status::kMethodNotAllowed) {
      return -2;
    }
    EXPECT_EQ(r.route, &config_.routes[r.route_index]);
    return static_cast<int>(r.route_index);
  }

  std::map<std::string, std::string> params(std::string_view path, int method = kGet) {
    RouteMatchResult r = match(path, method);
    EXPECT_EQ(r.status, Status::kMatched) << path;
    std::map<std::string, std::string> out;
    for (int i = 0; i < r.param_count; ++i) {
      out.emplace(std::string(r.params[i].name), std::string(r.params[i].value));
    }
    return out;
  }

  Config config_;
  std::unique_ptr<Router> router_;
};

uint64_t bits(std::initializer_list<int> methods) {
  uint64_t b = 0;
  for (int m : methods) {
    b |= method_bit(m);
  }
  return b;
}

// The method bits a route matches, from router.h's rules (GET serves HEAD too); 0 = any.
uint64_t reference_method_bits(const RouteMatch& m) {
  uint64_t bits = 0;
  for (const std::string& name : m.methods) {
    bits |= method_bit(method_from_name(name));
  }
  if (bits & method_bit(kGet)) {
    bits |= method_bit(kHead);
  }
  return bits;
}

std::string compile_error(const std::string& path,
                          RouteMatch::Kind kind = RouteMatch::Kind::kTemplate) {
  Config config = make_config({route(kind, path)});
  try {
    Router router(config);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "<no error>";
}

// --- exact ---------------------------------------------------------------------------------------

TEST_F(RouterTest, ExactMatchesOnlyTheWholePath) {
  build({exact("/a/b")});
  EXPECT_EQ(index_of("/a/b"), 0);
  EXPECT_EQ(index_of("/a/b/"), -1);
  EXPECT_EQ(index_of("/a/bc"), -1);
  EXPECT_EQ(index_of("/a"), -1);
  EXPECT_EQ(index_of("/A/B"), -1);  // paths are case-sensitive
  EXPECT_EQ(index_of(""), -1);
}

TEST_F(RouterTest, ExactTrailingSlashIsDistinct) {
  build({exact("/a"), exact("/a/")});
  EXPECT_EQ(index_of("/a"), 0);
  EXPECT_EQ(index_of("/a/"), 1);
  EXPECT_EQ(index_of("/a//"), -1);
}

TEST_F(RouterTest, ExactRootAndEmptyPath) {
  build({exact("/")});
  EXPECT_EQ(index_of("/"), 0);
  EXPECT_EQ(index_of(""), -1);
  EXPECT_EQ(index_of("//"), -1);
}

TEST_F(RouterTest, PercentEncodedBytesAreLiteral) {
  build({exact("/a%2Fb"), tmpl("/t/{x}"), prefix("/p%20q")});
  EXPECT_EQ(index_of("/a%2Fb"), 0);
  EXPECT_EQ(index_of("/a/b"), -1);
  EXPECT_EQ(index_of("/a%2fb"), -1);  // no decoding, no case folding of escapes
  EXPECT_EQ(params("/t/x%2Fy"), (std::map<std::string, std::string>{{"x", "x%2Fy"}}));
  EXPECT_EQ(index_of("/t/x/y"), -1);
  EXPECT_EQ(index_of("/p%20q/r"), 2);
  EXPECT_EQ(index_of("/p q/r"), -1);
}

// --- prefix --------------------------------------------------------------------------------------

TEST_F(RouterTest, PrefixWithoutSlashStopsAtSegmentBoundary) {
  build({prefix("/api")});
  EXPECT_EQ(index_of("/api"), 0);
  EXPECT_EQ(index_of("/api/"), 0);
  EXPECT_EQ(index_of("/api/x/y"), 0);
  EXPECT_EQ(index_of("/api?x=1"), 0);
  EXPECT_EQ(index_of("/apix"), -1);
  EXPECT_EQ(index_of("/ap"), -1);
  EXPECT_EQ(index_of("/API"), -1);
  EXPECT_EQ(index_of(""), -1);
}

TEST_F(RouterTest, PrefixWithSlashIsPlainStartsWith) {
  build({prefix("/api/")});
  EXPECT_EQ(index_of("/api/"), 0);
  EXPECT_EQ(index_of("/api/x"), 0);
  EXPECT_EQ(index_of("/api"), -1);
  EXPECT_EQ(index_of("/apix"), -1);
}

TEST_F(RouterTest, RootPrefixMatchesEverythingWithASlash) {
  build({prefix("/")});
  EXPECT_EQ(index_of("/"), 0);
  EXPECT_EQ(index_of("/anything/at/all"), 0);
  EXPECT_EQ(index_of(""), -1);
}

// --- template ------------------------------------------------------------------------------------

TEST_F(RouterTest, TemplateCapturesSegments) {
  build({tmpl("/products/{id}/reviews/{rid}")});
  EXPECT_EQ(params("/products/42/reviews/abc"),
            (std::map<std::string, std::string>{{"id", "42"}, {"rid", "abc"}}));
  EXPECT_EQ(index_of("/products/42/reviews"), -1);
  EXPECT_EQ(index_of("/products/42/reviews/"), -1);  // empty segment is not a value
  EXPECT_EQ(index_of("/products//reviews/abc"), -1);
  EXPECT_EQ(index_of("/products/42/reviews/abc/"), -1);
  EXPECT_EQ(index_of("/products/42/reviews/abc/more"), -1);
  EXPECT_EQ(index_of("/products/42/comments/abc"), -1);
  EXPECT_EQ(index_of("/Products/42/reviews/abc"), -1);
  EXPECT_EQ(index_of(""), -1);
  EXPECT_EQ(index_of("/"), -1);
}

TEST_F(RouterTest, TemplateParamsAreViewsIntoPathAndConfig) {
  build({tmpl("/u/{user}/f/{file}")});
  std::string path = "/u/alice/f/notes.txt";
  RouteMatchResult r = match(path);
  ASSERT_EQ(r.status, Status::kMatched);
  ASSERT_EQ(r.param_count, 2);
  EXPECT_EQ(r.params[0].name, "user");
  EXPECT_EQ(r.params[0].value, "alice");
  EXPECT_EQ(r.params[1].name, "file");
  EXPECT_EQ(r.params[1].value, "notes.txt");
  EXPECT_EQ(r.params[0].value.data(), path.data() + 3);
  const std::string& tpl = config_.routes[0].match.path;
  EXPECT_GE(r.params[0].name.data(), tpl.data());
  EXPECT_LT(r.params[0].name.data(), tpl.data() + tpl.size());
}

TEST_F(RouterTest, TemplateTrailingSlashIsDistinct) {
  build({tmpl("/a/{x}"), tmpl("/a/{x}/")});
  EXPECT_EQ(index_of("/a/1"), 0);
  EXPECT_EQ(index_of("/a/1/"), 1);
  EXPECT_EQ(params("/a/1/"), (std::map<std::string, std::string>{{"x", "1"}}));
}

TEST_F(RouterTest, TemplateWithoutParamsActsLikeExact) {
  build({tmpl("/plain/path")});
  EXPECT_EQ(index_of("/plain/path"), 0);
  EXPECT_EQ(match("/plain/path").param_count, 0);
  EXPECT_EQ(index_of("/plain/path/"), -1);
}

TEST_F(RouterTest, TemplateWithMaxParams) {
  std::string tpl;
  std::string path;
  for (int i = 0; i < kMaxPathParams; ++i) {
    tpl += "/{p" + std::to_string(i) + "}";
    path += "/v" + std::to_string(i);
  }
  build({tmpl(tpl)});
  RouteMatchResult r = match(path);
  ASSERT_EQ(r.status, Status::kMatched);
  ASSERT_EQ(r.param_count, kMaxPathParams);
  EXPECT_EQ(r.params[kMaxPathParams - 1].name, "p15");
  EXPECT_EQ(r.params[kMaxPathParams - 1].value, "v15");
}

TEST_F(RouterTest, ParamsResetWhenAnotherKindWins) {
  build({tmpl("/a/{x}"), exact("/b/c")});
  RouteMatchResult r;
  router_->match("", kGet, "/a/1", r);
  ASSERT_EQ(r.param_count, 1);
  router_->match("", kGet, "/b/c", r);
  EXPECT_EQ(r.status, Status::kMatched);
  EXPECT_EQ(r.route_index, 1u);
  EXPECT_EQ(r.param_count, 0);
  router_->match("", kGet, "/nope", r);
  EXPECT_EQ(r.status, Status::kNotFound);
  EXPECT_EQ(r.route, nullptr);
  EXPECT_EQ(r.param_count, 0);
}

// --- template errors -----------------------------------------------------------------------------

// The pipeline finds the request's host only for a router that has a route naming one.
TEST(RouterCompileTest, UsesHostsOnlyWhenARouteNamesOne) {
  Config none = make_config({exact("/a"), prefix("/b"), tmpl("/c/{id}")});
  EXPECT_FALSE(Router(none).uses_hosts());
  for (auto named : {exact("/a", {}, "api.test"), prefix("/b", {}, "api.test"),
                     tmpl("/c/{id}", {}, "api.test")}) {
    Config some = make_config({exact("/x"), named});
    EXPECT_TRUE(Router(some).uses_hosts());
  }
}

TEST(RouterCompileTest, RejectsMalformedTemplates) {
  EXPECT_THAT(compile_error("/a/{id"), HasSubstr("unbalanced braces"));
  EXPECT_THAT(compile_error("/a/id}"), HasSubstr("unbalanced braces"));
  EXPECT_THAT(compile_error("/a/}id{"), HasSubstr("unbalanced braces"));
  EXPECT_THAT(compile_error("/a/{id/b}"), HasSubstr("unbalanced braces"));
  EXPECT_THAT(compile_error("/a/{}"), HasSubstr("empty parameter name"));
  EXPECT_THAT(compile_error("/a/{id}/b/{id}"), HasSubstr("duplicate parameter name \"id\""));
  EXPECT_THAT(compile_error("/a/x{id}"), HasSubstr("must span a whole path segment"));
  EXPECT_THAT(compile_error("/a/{id}.json"), HasSubstr("must span a whole path segment"));
  EXPECT_THAT(compile_error("/a/{x}{y}"), HasSubstr("must span a whole path segment"));
  EXPECT_THAT(compile_error("a/{x}"), HasSubstr("must start with '/'"));
  EXPECT_THAT(compile_error(""), HasSubstr("must start with '/'"));
}

TEST(RouterCompileTest, ErrorNamesRouteAndTemplate) {
  std::string message = compile_error("/a/{id");
  EXPECT_THAT(message, HasSubstr("route#1"));
  EXPECT_THAT(message, HasSubstr("\"/a/{id\""));
  EXPECT_THAT(message, HasSubstr("test.yaml"));  // the route's source mark
}

TEST(RouterCompileTest, RejectsTooManyParams) {
  std::string tpl;
  for (int i = 0; i <= kMaxPathParams; ++i) {
    tpl += "/{p" + std::to_string(i) + "}";
  }
  EXPECT_THAT(compile_error(tpl), HasSubstr("more than 16 parameters"));
}

TEST(RouterCompileTest, BracesAreLiteralOutsideTemplates) {
  EXPECT_EQ(compile_error("/a/{id", RouteMatch::Kind::kExact), "<no error>");
  EXPECT_EQ(compile_error("/a/{", RouteMatch::Kind::kPrefix), "<no error>");
}

TEST(RouterCompileTest, RejectsUnknownMethod) {
  Config config = make_config({exact("/a", {"FETCH"})});
  try {
    Router router(config);
    ADD_FAILURE() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("unknown method \"FETCH\""));
  }
}

// --- host ----------------------------------------------------------------------------------------

TEST_F(RouterTest, HostIsCaseInsensitiveAndOptional) {
  build({exact("/x", {}, "api.example.com"), exact("/x", {}, "Other.Example.com"), exact("/y")});
  EXPECT_EQ(index_of("/x", kGet, "api.example.com"), 0);
  EXPECT_EQ(index_of("/x", kGet, "API.Example.COM"), 0);
  EXPECT_EQ(index_of("/x", kGet, "other.example.com"), 1);
  EXPECT_EQ(index_of("/x", kGet, "example.com"), -1);
  EXPECT_EQ(index_of("/x", kGet, "api.example.co"), -1);
  EXPECT_EQ(index_of("/x", kGet, ""), -1);
  EXPECT_EQ(index_of("/y", kGet, ""), 2);
  EXPECT_EQ(index_of("/y", kGet, "whatever"), 2);
}

TEST_F(RouterTest, HostAppliesToPrefixAndTemplate) {
  build({prefix("/p", {}, "a.test"), tmpl("/t/{x}", {}, "a.test")});
  EXPECT_EQ(index_of("/p/1", kGet, "A.TEST"), 0);
  EXPECT_EQ(index_of("/p/1", kGet, "b.test"), -1);
  EXPECT_EQ(index_of("/t/1", kGet, "a.test"), 1);
  EXPECT_EQ(index_of("/t/1", kGet, "b.test"), -1);
}

TEST_F(RouterTest, HostMismatchNeverCauses405) {
  build({exact("/x", {"POST"}, "a.test")});
  EXPECT_EQ(index_of("/x", kGet, "b.test"), -1);
  EXPECT_EQ(index_of("/x", kGet, "a.test"), -2);
}

// --- methods, 404 vs 405 -------------------------------------------------------------------------

TEST_F(RouterTest, MethodListRestrictsAndEmptyAllowsAll) {
  build({exact("/m", {"POST", "PUT"}), exact("/any")});
  EXPECT_EQ(index_of("/m", kPost), 0);
  EXPECT_EQ(index_of("/m", kPut), 0);
  EXPECT_EQ(index_of("/any", kDelete), 1);
  EXPECT_EQ(index_of("/any", method_from_name("PATCH")), 1);
}

TEST_F(RouterTest, MethodNotAllowedReportsUnionOfAllowedMethods) {
  build({exact("/r", {"POST"}), prefix("/r", {"PUT"}), tmpl("/{x}", {"DELETE"}),
         exact("/other", {"GET"})});
  RouteMatchResult r = match("/r", kGet);
  EXPECT_EQ(r.status, Status::kMethodNotAllowed);
  EXPECT_EQ(r.route, nullptr);
  EXPECT_EQ(r.allowed_methods, bits({kPost, kPut, kDelete}));

  r = match("/r/sub", kGet);  // only the prefix route matches this path
  EXPECT_EQ(r.status, Status::kMethodNotAllowed);
  EXPECT_EQ(r.allowed_methods, bits({kPut}));

  r = match("/nowhere/at/all", kGet);
  EXPECT_EQ(r.status, Status::kNotFound);
  EXPECT_EQ(r.allowed_methods, 0u);
}

TEST_F(RouterTest, LaterFullMatchBeatsEarlierMethodMismatch) {
  build({exact("/r", {"POST"}), prefix("/", {})});
  RouteMatchResult r = match("/r", kGet);
  EXPECT_EQ(r.status, Status::kMatched);
  EXPECT_EQ(r.route_index, 1u);
  EXPECT_EQ(r.allowed_methods, 0u);
}

TEST_F(RouterTest, HeadMatchesGetRoutesAndIsInAllow) {
  build({exact("/g", {"GET"}), exact("/p", {"POST"}), exact("/h", {"HEAD"})});
  EXPECT_EQ(index_of("/g", kHead), 0);
  EXPECT_EQ(index_of("/p", kHead), -2);
  EXPECT_EQ(index_of("/h", kGet), -2);  // HEAD does not imply GET

  RouteMatchResult r = match("/g", kPost);
  EXPECT_EQ(r.status, Status::kMethodNotAllowed);
  EXPECT_EQ(r.allowed_methods, bits({kGet, kHead}));

  r = match("/p", kHead);
  EXPECT_EQ(r.allowed_methods, bits({kPost}));
  r = match("/h", kGet);
  EXPECT_EQ(r.allowed_methods, bits({kHead}));
}

TEST_F(RouterTest, OutOfRangeMethodMatchesOnlyAnyMethodRoutes) {
  build({exact("/m", {"GET"}), exact("/any")});
  EXPECT_EQ(index_of("/m", -1), -2);
  EXPECT_EQ(index_of("/m", kMaxMethods), -2);
  EXPECT_EQ(index_of("/any", -1), 1);
  EXPECT_EQ(index_of("/any", 1000), 1);
}

// --- first match in config order -----------------------------------------------------------------

TEST_F(RouterTest, FirstMatchWinsAcrossKinds) {
  build({prefix("/api"), exact("/api/users"), tmpl("/api/{x}")});
  EXPECT_EQ(index_of("/api/users"), 0);
  EXPECT_EQ(index_of("/api/1"), 0);

  build({tmpl("/api/{x}"), exact("/api/users"), prefix("/api")});
  EXPECT_EQ(index_of("/api/users"), 0);
  EXPECT_EQ(match("/api/users").params[0].value, "users");
  EXPECT_EQ(index_of("/api/users/1"), 2);

  build({exact("/api/users"), tmpl("/api/{x}"), prefix("/api")});
  EXPECT_EQ(index_of("/api/users"), 0);
  EXPECT_EQ(match("/api/users").param_count, 0);
  EXPECT_EQ(index_of("/api/7"), 1);
  EXPECT_EQ(index_of("/api"), 2);
}

TEST_F(RouterTest, FirstMatchWithinEachKind) {
  build({prefix("/a/"), prefix("/a/b/"), tmpl("/x/{a}"), tmpl("/x/{b}"), exact("/e"), exact("/e")});
  EXPECT_EQ(index_of("/a/b/c"), 0);
  EXPECT_EQ(params("/x/1"), (std::map<std::string, std::string>{{"a", "1"}}));
  EXPECT_EQ(index_of("/e"), 4);
}

TEST_F(RouterTest, SameExactPathDifferentMethodsAndHosts) {
  build({exact("/s", {"POST"}), exact("/s", {}, "h.test"), exact("/s", {"GET"}), exact("/s")});
  EXPECT_EQ(index_of("/s", kPost), 0);
  EXPECT_EQ(index_of("/s", kGet, "h.test"), 1);
  EXPECT_EQ(index_of("/s", kGet), 2);
  EXPECT_EQ(index_of("/s", kDelete), 3);
}

TEST_F(RouterTest, SkippedMethodMismatchDoesNotLeakParams) {
  build({tmpl("/a/{first}", {"POST"}), tmpl("/a/{second}")});
  RouteMatchResult r = match("/a/v", kGet);
  ASSERT_EQ(r.status, Status::kMatched);
  EXPECT_EQ(r.route_index, 1u);
  ASSERT_EQ(r.param_count, 1);
  EXPECT_EQ(r.params[0].name, "second");
}

TEST_F(RouterTest, EarlierExactRouteBeatsATemplateWithoutItsCaptures) {
  build({exact("/t/x"), tmpl("/t/{id}"), prefix("/t")});
  RouteMatchResult r = match("/t/x");
  ASSERT_EQ(r.status, Status::kMatched);
  EXPECT_EQ(r.route_index, 0u);
  EXPECT_EQ(r.param_count, 0);
  r = match("/t/y");
  ASSERT_EQ(r.status, Status::kMatched);
  EXPECT_EQ(r.route_index, 1u);
  ASSERT_EQ(r.param_count, 1);
  EXPECT_EQ(r.params[0].value, "y");
}

TEST_F(RouterTest, MatchDoesNotAllocate) {
  std::vector<RouteConfig> routes;
  for (int i = 0; i < 50; ++i) {
    std::string n = std::to_string(i);
    routes.push_back(exact("/exact/" + n, {"GET"}, i % 2 ? "h.test" : ""));
    routes.push_back(prefix("/prefix/" + n, {"POST"}));
    routes.push_back(tmpl("/tmpl/" + n + "/{a}/{b}", {"PUT"}));
  }
  build(std::move(routes));
  RouteMatchResult r;
  const long before = allocation_count();
  router_->match("H.TEST", kGet, "/exact/49", r);
  EXPECT_EQ(r.status, Status::kMatched);
  router_->match("", kGet, "/prefix/49/x", r);
  EXPECT_EQ(r.status, Status::kMethodNotAllowed);
  router_->match("", kPut, "/tmpl/49/x/y", r);
  EXPECT_EQ(r.status, Status::kMatched);
  router_->match("", kGet, "/nothing/here/at/all/with/a/long/path", r);
  EXPECT_EQ(r.status, Status::kNotFound);
  EXPECT_EQ(allocation_count(), before);
}

TEST_F(RouterTest, EmptyTable) {
  build({});
  EXPECT_EQ(index_of("/"), -1);
  EXPECT_EQ(index_of(""), -1);
}

// Cross-check the compiled matcher against a straightforward in-order scan over many routes.
TEST_F(RouterTest, AgreesWithLinearScan) {
  std::vector<RouteConfig> routes;
  const std::vector<std::string> methods[] = {{}, {"GET"}, {"POST"}, {"PUT", "DELETE"}};
  const std::string hosts[] = {"", "a.test"};
  int n = 0;
  for (const char* p : {"/", "/a", "/a/", "/a/b", "/a/b/c", "/b", "/b/1"}) {
    for (int k = 0; k < 3; ++k) {
      auto kind = static_cast<RouteMatch::Kind>(k);
      std::string path = p;
      if (kind == RouteMatch::Kind::kTemplate && path.size() > 2) {
        path = path.substr(0, 2) + "/{v}";
      }
      routes.push_back(route(kind, path, methods[n % 4], hosts[(n / 4) % 2]));
      ++n;
    }
  }
  build(routes);

  auto reference = [&](std::string_view host, int method, std::string_view path) {
    uint64_t allowed = 0;
    for (size_t i = 0; i < routes.size(); ++i) {
      const RouteMatch& m = routes[i].match;
      if (!m.host.empty() && m.host != host) {
        continue;
      }
      bool path_ok = false;
      if (m.kind == RouteMatch::Kind::kExact) {
        path_ok = path == m.path;
      } else if (m.kind == RouteMatch::Kind::kPrefix) {
        path_ok =
            path.starts_with(m.path) &&
            (m.path.back() == '/' || path.size() == m.path.size() || path[m.path.size()] == '/');
      } else {
        std::string_view base = std::string_view(m.path).substr(0, m.path.find('{'));
        path_ok = m.path.find('{') == std::string::npos
                      ? path == m.path
                      : path.starts_with(base) && path.size() > base.size() &&
                            path.substr(base.size()).find('/') == std::string_view::npos;
      }
      if (!path_ok) {
        continue;
      }
      const uint64_t mbits = reference_method_bits(m);
      if (mbits == 0 || (mbits & method_bit(method))) {
        return std::pair<int, uint64_t>(static_cast<int>(i), 0);
      }
      allowed |= mbits;
    }
    return std::pair<int, uint64_t>(allowed ? -2 : -1, allowed);
  };

  int checked = 0;
  for (const char* path : {"", "/", "/a", "/a/", "/a/b", "/a/b/", "/a/b/c", "/a/x", "/ab", "/b",
                           "/b/1", "/b/2", "/b/1/2", "/c"}) {
    for (const char* host : {"", "a.test", "b.test"}) {
      for (int method : {kGet, kHead, kPost, kPut, kDelete}) {
        auto [want_index, want_allowed] = reference(host, method, path);
        RouteMatchResult r = match(path, method, host);
        int got = r.status == Status::kMatched            ? static_cast<int>(r.route_index)
                  : r.status == Status::kMethodNotAllowed ? -2
                                                          : -1;
        EXPECT_EQ(got, want_index) << path << " " << host << " " << method;
        EXPECT_EQ(r.allowed_methods, want_allowed) << path << " " << host << " " << method;
        ++checked;
      }
    }
  }
  EXPECT_EQ(checked, 14 * 3 * 5);
}

// Random tables (deep templates with several parameters, prefixes with and without a trailing
// slash, exact paths, hosts and methods mixed, many routes sharing segments) against an in-order
// scan written from the rules in router.h: the first route that matches in full wins, captures
// included.
TEST_F(RouterTest, RandomTablesAgreeWithInOrderScan) {
  std::mt19937 rng(20261203);
  const std::vector<std::string> words = {"a", "b", "api", "v1", ""};
  const std::vector<std::string> methods[] = {{}, {"GET"}, {"POST"}, {"PUT", "DELETE"}};
  auto pick = [&](size_t n) { return static_cast<size_t>(rng() % n); };
  auto random_path = [&](bool params, int& param_count) {
    std::string path;
    const size_t depth = 1 + pick(4);
    for (size_t d = 0; d < depth; ++d) {
      path += '/';
      if (params && pick(3) == 0) {
        path += "{p" + std::to_string(param_count++) + "}";
      } else {
        path += words[pick(words.size())];
      }
    }
    return path;
  };
  for (int table = 0; table < 20; ++table) {
    std::vector<RouteConfig> routes;
    for (int i = 0; i < 200; ++i) {
      const auto kind = static_cast<RouteMatch::Kind>(pick(3));
      int param_count = 0;
      std::string path = random_path(kind == RouteMatch::Kind::kTemplate, param_count);
      if (kind == RouteMatch::Kind::kPrefix && pick(2) == 0 && path.back() != '/') {
        path += '/';
      }
      routes.push_back(route(kind, path, methods[pick(4)], pick(4) == 0 ? "a.test" : ""));
    }
    build(routes);

    // The first route in config order that matches in full, its captures, and the methods of
    // those that matched all but the method.
    auto reference = [&](std::string_view host, int method, std::string_view path,
                         std::map<std::string, std::string>& captures) {
      uint64_t allowed = 0;
      const auto segments = [](std::string_view text) {
        std::vector<std::string_view> out;
        size_t start = 0;
        for (size_t slash; (slash = text.find('/', start)) != std::string_view::npos;
             start = slash + 1) {
          out.push_back(text.substr(start, slash - start));
        }
        out.push_back(text.substr(start));
        return out;
      };
      for (size_t i = 0; i < routes.size(); ++i) {
        const RouteMatch& m = routes[i].match;
        if (!m.host.empty() && m.host != host) {
          continue;
        }
        std::map<std::string, std::string> got;
        bool path_ok = false;
        if (m.kind == RouteMatch::Kind::kExact) {
          path_ok = path == m.path;
        } else if (m.kind == RouteMatch::Kind::kPrefix) {
          path_ok = path.starts_with(m.path) &&
                    (m.path.back() == '/' || path.size() == m.path.size() ||
                     path[m.path.size()] == '/' || path[m.path.size()] == '?');
        } else {
          const auto want = segments(m.path);
          const auto have = segments(path);
          path_ok = want.size() == have.size();
          for (size_t k = 0; path_ok && k < want.size(); ++k) {
            if (want[k].starts_with('{')) {
              path_ok = !have[k].empty();
              got[std::string(want[k].substr(1, want[k].size() - 2))] = std::string(have[k]);
            } else {
              path_ok = want[k] == have[k];
            }
          }
        }
        if (!path_ok) {
          continue;
        }
        const uint64_t mbits = reference_method_bits(m);
        if (mbits == 0 || (mbits & method_bit(method))) {
          captures = std::move(got);
          return std::pair<int, uint64_t>(static_cast<int>(i), 0);
        }
        allowed |= mbits;
      }
      return std::pair<int, uint64_t>(allowed ? -2 : -1, allowed);
    };

    for (int q = 0; q < 400; ++q) {
      int unused = 0;
      std::string path = random_path(false, unused);
      if (pick(6) == 0) {
        path += "/x";
      }
      if (pick(8) == 0) {
        path += "?q=1";
      }
      const std::string host = pick(3) == 0 ? "a.test" : "";
      const int method = std::vector<int>{kGet, kHead, kPost, kPut, kDelete}[pick(5)];
      std::map<std::string, std::string> want_params;
      auto [want_index, want_allowed] = reference(host, method, path, want_params);
      RouteMatchResult r = match(path, method, host);
      const int got = r.status == Status::kMatched            ? static_cast<int>(r.route_index)
                      : r.status == Status::kMethodNotAllowed ? -2
                                                              : -1;
      ASSERT_EQ(got, want_index) << "table " << table << " " << path << " " << host << " "
                                 << method;
      EXPECT_EQ(r.allowed_methods, want_allowed) << path;
      std::map<std::string, std::string> got_params;
      for (int i = 0; i < r.param_count; ++i) {
        got_params.emplace(std::string(r.params[i].name), std::string(r.params[i].value));
      }
      EXPECT_EQ(got_params, want_params) << path;
    }
  }
}

// 2,000 prefix routes sharing their first segment's shape: each found, and nothing past them
// (the cost of the last against the first is measured by bench/run routes, not here).
TEST_F(RouterTest, LastOfManyPrefixRoutesMatches) {
  std::vector<RouteConfig> routes;
  for (int i = 0; i < 2000; ++i) {
    routes.push_back(prefix("/svc" + std::to_string(i)));
  }
  routes.push_back(exact("/health"));
  build(std::move(routes));
  EXPECT_EQ(index_of("/svc0/x"), 0);
  EXPECT_EQ(index_of("/svc1999/x/y"), 1999);
  EXPECT_EQ(index_of("/health"), 2000);
  EXPECT_EQ(index_of("/svc2000"), -1);
}

}  // namespace
}  // namespace ringgate
