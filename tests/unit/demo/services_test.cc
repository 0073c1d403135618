// The demo's services: every document they generate is valid JSON, ids relate across services,
// unknown ids are 404s, and conf/demo.yaml (compiled in) loads and names them.

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <string_view>

#include "ringgate/aggregate/json.h"
#include "ringgate/config/config.h"
#include "ringgate/demo/demo.h"

namespace ringgate::demo {
namespace {

struct Answer {
  int status;
  std::string body;
  std::string headers;
};

Answer get(std::string_view service, const std::string& path) {
  AdminResponse r;
  answer(service, "GET", path, r);
  return Answer{r.status, r.body, r.headers};
}

// Raw JSON at `path` in `body`; "<invalid>" or "<absent>" otherwise.
std::string at(const std::string& body, const std::string& path) {
  std::string padded = body;
  padded.append(json::kPadding, '\0');
  json::Reader reader;
  std::string_view why;
  if (!reader.validate(padded.data(), body.size(), {}, &why)) {
    return "<invalid>";
  }
  if (path.empty()) {
    return "<valid>";
  }
  json::Path p;
  std::string error;
  std::string_view raw;
  if (!json::Path::parse(path, &p, &error) || reader.find(p, &raw) != json::Status::kOk) {
    return "<absent>";
  }
  return std::string(raw);
}

TEST(DemoServices, EveryDocumentOfEveryIdIsValidJson) {
  for (int id = 1; id <= 500; ++id) {
    const std::string n = std::to_string(id);
    for (auto [service, path] :
         {std::pair{"catalog", "/products/"}, std::pair{"inventory", "/inventory/"},
          std::pair{"reviews", "/reviews/"}}) {
      Answer a = get(service, path + n);
      ASSERT_EQ(a.status, 200) << service << " " << id;
      ASSERT_EQ(at(a.body, ""), "<valid>") << a.body;
    }
  }
  for (int id = 1001; id <= 1999; ++id) {
    Answer a = get("orders", "/orders/" + std::to_string(id));
    ASSERT_EQ(a.status, 200);
    ASSERT_EQ(at(a.body, ""), "<valid>") << a.body;
  }
  for (int id = 1; id <= 50; ++id) {
    const std::string n = std::to_string(id);
    for (auto [service, path] :
         {std::pair{"customers", "/customers/" + n}, std::pair{"users", "/users/" + n},
          std::pair{"orders", "/users/" + n + "/orders"}}) {
      Answer a = get(service, path);
      ASSERT_EQ(a.status, 200) << service << " " << path;
      ASSERT_EQ(at(a.body, ""), "<valid>") << a.body;
    }
  }
}

TEST(DemoServices, IdsRelateAcrossServices) {
  std::set<std::string> customers_with_orders;
  for (int id = 1001; id <= 1999; id += 97) {
    Answer order = get("orders", "/orders/" + std::to_string(id));
    const std::string customer = at(order.body, "customerId");
    EXPECT_EQ(get("customers", "/customers/" + customer).status, 200) << customer;
    EXPECT_EQ(get("users", "/users/" + customer).status, 200) << customer;
    customers_with_orders.insert(customer);
    for (int line = 0; line < 3; ++line) {
      const std::string product = at(order.body, "lines[" + std::to_string(line) + "].productId");
      if (product == "<absent>") {
        EXPECT_GT(line, 0) << "an order has at least one line";
        break;
      }
      EXPECT_EQ(get("catalog", "/products/" + product).status, 200) << product;
    }
    // The order is among its customer's orders when it is one of the newest five.
    Answer list = get("orders", "/users/" + customer + "/orders");
    EXPECT_EQ(at(list.body, "userId"), customer);
    EXPECT_NE(at(list.body, "orders[0].id"), "<absent>") << list.body;
  }
  EXPECT_GT(customers_with_orders.size(), 3u);
  // Same request, same bytes.
  EXPECT_EQ(get("catalog", "/products/42").body, get("catalog", "/products/42").body);
  EXPECT_EQ(at(get("catalog", "/products/42").body, "id"), "42");
  EXPECT_EQ(at(get("inventory", "/inventory/42").body, "productId"), "42");
}

TEST(DemoServices, CacheControlDiffersPerService) {
  EXPECT_EQ(get("catalog", "/products/1").headers, "Cache-Control: public, max-age=300\r\n");
  EXPECT_EQ(get("inventory", "/inventory/1").headers, "Cache-Control: max-age=5\r\n");
  EXPECT_EQ(get("orders", "/orders/1001").headers, "Cache-Control: private, max-age=10\r\n");
}

TEST(DemoServices, UnknownIdsPathsAndMethodsAreRefused) {
  for (auto [service, path] :
       {std::pair{"catalog", "/products/0"}, std::pair{"catalog", "/products/501"},
        std::pair{"catalog", "/products/042"}, std::pair{"catalog", "/products/4x"},
        std::pair{"catalog", "/products/42/more"}, std::pair{"catalog", "/inventory/42"},
        std::pair{"orders", "/orders/1000"}, std::pair{"users", "/users/51"},
        std::pair{"customers", "/"}}) {
    Answer a = get(service, path);
    EXPECT_EQ(a.status, 404) << service << " " << path;
    EXPECT_NE(at(a.body, "error"), "<invalid>") << a.body;
  }
  // A path that cannot go into JSON unescaped is not echoed; the body stays valid.
  Answer odd = get("catalog", "/products/\"\\x");
  EXPECT_EQ(odd.status, 404);
  EXPECT_EQ(at(odd.body, "path"), "<absent>") << odd.body;
  EXPECT_EQ(at(get("catalog", "/nope").body, "path"), "\"/nope\"");

  AdminResponse post;
  answer("catalog", "POST", "/products/1", post);
  EXPECT_EQ(post.status, 405);
  EXPECT_EQ(get("reviews", "/healthz").status, 200);
}

TEST(DemoConfig, LoadsAndNamesTheServices) {
  Config c = load_config_string(kEmbeddedDemoConfig, "<embedded demo.yaml>");
  std::set<std::string> upstreams;
  for (const UpstreamConfig& u : c.upstreams) {
    upstreams.insert(u.name);
  }
  for (const ServiceInfo& s : services()) {
    EXPECT_EQ(upstreams.count(std::string(s.name)), 1u) << s.name;
  }
  std::set<std::string> routes;
  for (const RouteConfig& r : c.routes) {
    routes.insert(r.name);
  }
  for (const char* name : {"product-details", "product-page", "order-full", "user-profile",
                           "catalog-proxy", "hello"}) {
    EXPECT_EQ(routes.count(name), 1u) << name;
  }
}

}  // namespace
}  // namespace ringgate::demo
