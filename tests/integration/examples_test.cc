// The starter configs in conf/examples/: every *.yaml there (a new one is covered as soon as it
// is added) passes `ringgate -t` without a warning and starts a gateway once its listeners are
// moved to free loopback ports; the aggregation and proxy examples answer through the demo's
// services (`ringgate demo -c FILE`, as their comments suggest), the JWT edge refuses a call
// without a token.

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "fixture.h"
#include "json_body.h"

namespace ringgate::it {
namespace {

namespace fs = std::filesystem;

fs::path examples_dir() {
  return fs::path(source_dir()) / "conf" / "examples";
}

std::vector<fs::path> example_files() {
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(examples_dir())) {
    if (entry.path().extension() == ".yaml") {
      files.push_back(entry.path());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

// `example` with one listener and the admin server on free loopback ports, one unpinned worker,
// written into `dir` next to copies of the files the examples name (relative to their own
// directory, so relative to `dir` now).
std::string on_free_ports(const fs::path& example, const TempDir& dir) {
  for (const auto& entry : fs::directory_iterator(examples_dir())) {
    if (entry.path().extension() != ".yaml") {
      fs::copy_file(entry.path(), fs::path(dir.path()) / entry.path().filename());
    }
  }
  YAML::Node root = YAML::LoadFile(example.string());
  root["server"]["listen"] = "127.0.0.1:0";
  root["server"]["workers"] = 1;
  root["server"]["pin_cpus"] = false;
  root["admin"]["listen"] = "127.0.0.1:0";
  YAML::Emitter out;
  out << root;
  return dir.write(example.filename().string(), out.c_str());
}

TEST(Examples, EveryExampleIsValidWithoutWarnings) {
  const std::vector<fs::path> files = example_files();
  EXPECT_GE(files.size(), 4u);  // minimal, proxy, aggregate, jwt-edge
  for (const fs::path& file : files) {
    SCOPED_TRACE(file.string());
    const CommandResult r = run_binary({"-t", "-c", file.string()}, 10s, "/");
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.err, "");
    EXPECT_NE(r.out.find("is valid"), std::string::npos) << r.out;
  }
}

TEST(Examples, EveryExampleStarts) {
  for (const fs::path& file : example_files()) {
    SCOPED_TRACE(file.string());
    TempDir dir;
    GatewayProcess gw({"-c", on_free_ports(file, dir)}, 10s);
    ASSERT_TRUE(gw.ok()) << gw.error();
    auto r = fetch(gw.admin_port(), request("GET", "/healthz"));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << r->raw;
    EXPECT_EQ(gw.stop(), 0) << gw.log();
  }
}

// `ringgate demo --ephemeral -c FILE`: the demo's services for the clusters named like them,
// everything on free loopback ports.
class ExampleWithDemoServices : public ::testing::Test {
 protected:
  void start(const std::string& name) {
    gw_ = std::make_unique<GatewayProcess>(
        std::vector<std::string>{"demo", "--ephemeral", "-c", (examples_dir() / name).string()},
        10s);
    ASSERT_TRUE(gw_->ok()) << gw_->error();
  }
  std::optional<Response> get(const std::string& path) {
    return fetch(gw_->port(), request("GET", path));
  }

  std::unique_ptr<GatewayProcess> gw_;
};

TEST_F(ExampleWithDemoServices, AggregateAnswersProductDetailsAndOrderWithCustomer) {
  start("aggregate.yaml");
  auto r = get("/products/42");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->raw;
  JsonBody product(r->body);
  ASSERT_TRUE(product.valid()) << product.why();
  EXPECT_EQ(product.at("product.id"), "42") << r->body;
  EXPECT_NE(product.at("stock"), "<absent>") << r->body;
  EXPECT_NE(product.at("reviews.count"), "<absent>") << r->body;

  r = get("/products/100000");  // the catalog's own 404
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404) << r->raw;

  r = get("/orders/1001/with-customer");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->raw;
  JsonBody order(r->body);
  ASSERT_TRUE(order.valid()) << order.why();
  EXPECT_EQ(order.at("order.id"), "1001") << r->body;
  EXPECT_EQ(order.at("customer.id"), order.at("order.customerId")) << r->body;
  EXPECT_NE(order.at("customer.name"), "<absent>") << r->body;
}

TEST_F(ExampleWithDemoServices, ProxyReachesTheServicesItChecks) {
  start("proxy.yaml");
  auto r = get("/api/catalog/products/3");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->raw;
  EXPECT_NE(r->body.find("\"id\":3"), std::string::npos) << r->body;
  r = get("/api/inventory/inventory/3");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->raw;
}

TEST(Examples, JwtEdgeRefusesACallWithoutAToken) {
  TempDir dir;
  GatewayProcess gw({"-c", on_free_ports(examples_dir() / "jwt-edge.yaml", dir)}, 10s);
  ASSERT_TRUE(gw.ok()) << gw.error();
  auto r = fetch(gw.port(), request("GET", "/orders/1001"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401) << r->raw;
  EXPECT_EQ(r->header("www-authenticate").value_or(""), "Bearer realm=\"idp\"");
  r = fetch(gw.port(), request("GET", "/health"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->raw;
}

}  // namespace
}  // namespace ringgate::it
