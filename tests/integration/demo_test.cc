// `ringgate demo`: the demo's own services and the gateway in front of them, driven by the curl
// lines it prints, run as printed with the real curl. Responses are checked against what the
// services themselves answer (fetched from them directly), so the splice is checked byte for
// byte.

#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <cstdio>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "json_body.h"
#include "proxy_fixture.h"

namespace ringgate::it {
namespace {

struct Example {
  std::string what;     // the comment line above it
  std::string command;  // the curl line, as printed
};

struct ShellResult {
  int exit_code = -1;
  std::string out;
};

ShellResult run_shell(const std::string& command) {
  ShellResult r;
  FILE* p = popen((command + " 2>&1").c_str(), "r");
  if (!p) {
    return r;
  }
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) {
    r.out.append(buf, n);
  }
  const int status = pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

// `curl -si` output: status, lower-case header lines, body.
struct CurlResponse {
  int status = 0;
  std::string head;  // lower-case
  std::string body;
  bool has_header(const std::string& line) const {
    return head.find("\r\n" + line + "\r\n") != std::string::npos;
  }
};

CurlResponse split_response(const std::string& out) {
  CurlResponse r;
  const size_t end = out.find("\r\n\r\n");
  const bool h2 = out.rfind("HTTP/2 ", 0) == 0;
  if ((!h2 && out.rfind("HTTP/1.1 ", 0) != 0) || end == std::string::npos) {
    return r;
  }
  r.status = std::atoi(out.c_str() + (h2 ? 7 : 9));
  r.head = out.substr(0, end + 2);
  for (char& c : r.head) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  r.body = out.substr(end + 4);
  return r;
}

class DemoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    demo_ = std::make_unique<GatewayProcess>(std::vector<std::string>{"demo", "--ephemeral"}, 10s);
    ASSERT_TRUE(demo_->ok()) << demo_->error();
    ASSERT_TRUE(demo_->wait_output("Ctrl-C drains and stops the gateway.", 5s)) << demo_->log();
    std::istringstream lines(demo_->log());
    std::string line;
    std::string what;
    const std::regex service(R"(^ringgate: demo service (\w+) 127\.0\.0\.1:(\d+)$)");
    while (std::getline(lines, line)) {
      std::smatch m;
      if (std::regex_match(line, m, service)) {
        service_ports_[m[1]] = static_cast<uint16_t>(std::stoi(m[2]));
      } else if (line.rfind("  # ", 0) == 0) {
        what = line.substr(4);
      } else if (line.rfind("  curl ", 0) == 0) {
        examples_.push_back(Example{what, line.substr(2)});
      }
    }
  }

  void TearDown() override {
    if (HasFailure() && demo_) {
      std::cerr << "---- demo output ----\n" << demo_->log() << "---------------------\n";
    }
  }

  // The example whose comment contains `what`; fails the test when there is none.
  std::string example(const std::string& what) {
    for (const Example& e : examples_) {
      if (e.what.find(what) != std::string::npos) {
        return e.command;
      }
    }
    ADD_FAILURE() << "no example for \"" << what << "\"";
    return "false";
  }

  // Runs the example as printed, with -i added when it has no -si, so the head is there too.
  CurlResponse run(const std::string& what) {
    std::string command = example(what);
    if (command.find(" -si ") == std::string::npos) {
      command.replace(0, 4, "curl -i");
    }
    ShellResult r = run_shell(command);
    EXPECT_EQ(r.exit_code, 0) << command << "\n" << r.out;
    return split_response(r.out);
  }

  // What a demo service answers itself, fetched straight from it.
  std::string direct(const std::string& service, const std::string& path) {
    auto it = service_ports_.find(service);
    if (it == service_ports_.end()) {
      ADD_FAILURE() << "no port for service " << service;
      return "";
    }
    auto r = fetch(it->second, request("GET", path));
    if (!r || r->status != 200) {
      ADD_FAILURE() << service << path << ": " << (r ? r->raw : "no response");
      return "";
    }
    // The splice keeps a body's JSON text, not the whitespace around it.
    std::string body = r->body;
    while (!body.empty() && (body.back() == '\n' || body.back() == ' ')) {
      body.pop_back();
    }
    return body;
  }

  std::unique_ptr<GatewayProcess> demo_;
  std::map<std::string, uint16_t> service_ports_;
  std::vector<Example> examples_;
};

TEST_F(DemoTest, StartsEveryServiceAndPrintsAnExampleForEveryScenario) {
  for (const char* s : {"catalog", "inventory", "reviews", "orders", "customers", "users"}) {
    EXPECT_EQ(service_ports_.count(s), 1u) << s;
  }
  EXPECT_EQ(service_ports_.count("recommendations"), 0u);  // the service that is down
  for (const char* what :
       {"product details", "mobile client", "does not exist", "are down", "order with its customer",
        "user profile", "reverse proxy", "direct response", "no route", "counters"}) {
    example(what);
  }
  // Every printed line runs as pasted and gets an answer.
  for (const Example& e : examples_) {
    ShellResult r = run_shell(e.command);
    EXPECT_EQ(r.exit_code, 0) << e.command << "\n" << r.out;
    EXPECT_FALSE(r.out.empty()) << e.command;
  }
}

TEST_F(DemoTest, EphemeralModeListensOnLoopbackOnly) {
  // conf/demo.yaml listens on 0.0.0.0:8080; --ephemeral is a throwaway run: loopback only.
  const std::regex listening(R"(^ringgate: (listening|admin) on (\S+)$)");
  std::istringstream lines(demo_->log());
  std::string line;
  int seen = 0;
  while (std::getline(lines, line)) {
    std::smatch m;
    if (std::regex_match(line, m, listening)) {
      ++seen;
      EXPECT_EQ(m[2].str().rfind("127.0.0.1:", 0), 0u) << line;
    }
  }
  EXPECT_EQ(seen, 2) << demo_->log();  // the gateway's listener and the admin listener
}

TEST_F(DemoTest, ProductDetailsSpliceThreeServices) {
  CurlResponse r = run("product details");
  ASSERT_EQ(r.status, 200) << r.head;
  EXPECT_TRUE(r.has_header("content-type: application/json")) << r.head;
  // public 300 s (catalog), max-age=5 (inventory), public 60 s (reviews).
  EXPECT_TRUE(r.has_header("cache-control: max-age=5")) << r.head;
  JsonBody body(r.body);
  ASSERT_TRUE(body.valid()) << body.why() << "\n" << r.body;
  EXPECT_EQ(body.at("product"), direct("catalog", "/products/42"));
  JsonBody stock(direct("inventory", "/inventory/42"));
  EXPECT_EQ(body.at("stock"), stock.at("count"));
  JsonBody reviews(direct("reviews", "/reviews/42"));
  EXPECT_EQ(body.at("reviews.count"), reviews.at("count"));
  EXPECT_EQ(body.at("reviews.items"), reviews.at("items"));
  EXPECT_EQ(body.at("reviews.productId"), "<absent>");  // allow: [rating, count, items]
}

TEST_F(DemoTest, AggregationAnswersHttpTwoClientsAlike) {
  // The printed example, with HTTP/2 (prior knowledge): the same merged body, and the partial
  // answer's header, as over HTTP/1.1.
  for (const char* what : {"product details", "are down"}) {
    std::string command = example(what);
    const std::string h1 = run_shell(command).out;
    command.replace(0, 4, "curl --http2-prior-knowledge");
    if (command.find(" -si ") == std::string::npos) {
      EXPECT_EQ(run_shell(command).out, h1) << command;
      continue;
    }
    const std::string out = run_shell(command).out;
    EXPECT_EQ(out.rfind("HTTP/2 200", 0), 0u) << out;
    CurlResponse r = split_response(out);
    EXPECT_TRUE(r.has_header("ringgate-partial: recommendations")) << r.head;
    EXPECT_EQ(r.body, split_response(h1).body);
  }
}

TEST_F(DemoTest, MobileClientsGetTheSmallerProjection) {
  CurlResponse web = run("product details");
  CurlResponse mobile = run("mobile client");
  ASSERT_EQ(mobile.status, 200) << mobile.head;
  JsonBody w(web.body);
  JsonBody m(mobile.body);
  ASSERT_TRUE(m.valid()) << mobile.body;
  EXPECT_LT(mobile.body.size() * 2, web.body.size());
  EXPECT_EQ(m.at("product.name"), w.at("product.name"));
  EXPECT_EQ(m.at("product.price"), w.at("product.price"));
  EXPECT_EQ(m.at("product.images[2].url"), w.at("product.images[2].url"));
  EXPECT_EQ(m.at("product.images[0].width"), "<absent>");
  EXPECT_EQ(m.at("product.description"), "<absent>");
  EXPECT_EQ(m.at("reviews.count"), w.at("reviews.count"));
  EXPECT_EQ(m.at("reviews.items"), "<absent>");
  EXPECT_EQ(m.at("stock"), w.at("stock"));
}

TEST_F(DemoTest, AMissingProductIsTheCatalogsOwn404) {
  CurlResponse r = run("does not exist");
  EXPECT_EQ(r.status, 404) << r.head;
  // The catalog's own answer (status_from): its status, body and type, not a gateway document.
  EXPECT_TRUE(r.has_header("content-type: application/json")) << r.head;
  JsonBody body(r.body);
  ASSERT_TRUE(body.valid()) << r.body;
  EXPECT_EQ(body.at("error"), "\"not found\"");
  EXPECT_EQ(body.at("service"), "\"catalog\"");
  EXPECT_EQ(body.at("path"), "\"/products/9999\"");
}

TEST_F(DemoTest, AServiceThatIsDownGivesAPartialResponse) {
  CurlResponse r = run("are down");
  ASSERT_EQ(r.status, 200) << r.head;
  EXPECT_TRUE(r.has_header("ringgate-partial: recommendations")) << r.head;
  EXPECT_TRUE(r.has_header("cache-control: no-store")) << r.head;
  JsonBody body(r.body);
  ASSERT_TRUE(body.valid()) << r.body;
  EXPECT_EQ(body.at("recommendations"), "[]");
  EXPECT_EQ(body.at("errors[0].backend"), "\"recommendations\"");
  EXPECT_EQ(body.at("errors[0].status"), "502");
  EXPECT_EQ(body.at("product.id"), "42");
  EXPECT_EQ(body.at("product.description"), "<absent>");
}

TEST_F(DemoTest, AnOrderWithItsCustomerIsChained) {
  CurlResponse r = run("order with its customer");
  ASSERT_EQ(r.status, 200) << r.head;
  // private 10 s (orders), private 60 s (customers), public 300 s (each catalog call).
  EXPECT_TRUE(r.has_header("cache-control: private, max-age=10")) << r.head;
  JsonBody body(r.body);
  ASSERT_TRUE(body.valid()) << r.body;
  EXPECT_EQ(body.at("order"), direct("orders", "/orders/1001"));
  const std::string customer = body.at("order.customerId");
  EXPECT_EQ(body.at("customer.id"), customer);
  JsonBody own(direct("customers", "/customers/" + customer));
  EXPECT_EQ(body.at("customer.name"), own.at("name"));
  EXPECT_EQ(body.at("customer.email"), "<absent>");
  // One catalog call per order line, joined in line order.
  int lines = 0;
  for (; body.at("order.lines[" + std::to_string(lines) + "]") != "<absent>"; ++lines) {
    const std::string i = std::to_string(lines);
    EXPECT_EQ(body.at("products[" + i + "].id"), body.at("order.lines[" + i + "].productId"));
  }
  EXPECT_GT(lines, 0);
  EXPECT_EQ(body.at("products[" + std::to_string(lines) + "]"), "<absent>");
}

TEST_F(DemoTest, AUserProfileWithOrders) {
  CurlResponse r = run("user profile");
  ASSERT_EQ(r.status, 200) << r.head;
  JsonBody body(r.body);
  ASSERT_TRUE(body.valid()) << r.body;
  EXPECT_EQ(body.at("user.id"), "7");
  EXPECT_EQ(body.at("user.email"), "<absent>");  // deny: [email]
  JsonBody orders(direct("orders", "/users/7/orders"));
  EXPECT_EQ(body.at("orders"), orders.at("orders"));
}

TEST_F(DemoTest, PlainProxyAndDirectRoutes) {
  CurlResponse proxied = run("reverse proxy");
  ASSERT_EQ(proxied.status, 200) << proxied.head;
  EXPECT_EQ(proxied.body, direct("catalog", "/products/42") + "\n");
  CurlResponse hello = run("direct response");
  EXPECT_EQ(hello.status, 200);
  EXPECT_EQ(hello.body, "hello from ringgate\n");
  CurlResponse none = run("no route");
  EXPECT_EQ(none.status, 404);
}

TEST_F(DemoTest, SigintStopsTheGatewayAndItsServices) {
  const uint16_t catalog = service_ports_["catalog"];
  ASSERT_TRUE(connect_to(catalog).valid());
  demo_->signal(SIGINT);
  EXPECT_EQ(demo_->wait_exit(10s).value_or(-100), 0) << demo_->log();
  EXPECT_FALSE(connect_to(catalog, 1s).valid());
}

// A fixed service port that is taken: a clear error naming the service and the way out.
TEST(DemoStart, ATakenServicePortIsAClearError) {
  Conn taken(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(taken.fd(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(listen(taken.fd(), 8), 0);
  socklen_t len = sizeof a;
  getsockname(taken.fd(), reinterpret_cast<sockaddr*>(&a), &len);
  TempDir dir;
  const std::string conf =
      dir.write("demo.yaml",
                "server: {listen: \"127.0.0.1:0\", workers: 1, pin_cpus: false}\n"
                "admin: {listen: \"127.0.0.1:0\"}\n"
                "upstreams:\n  catalog: {endpoints: [\"127.0.0.1:" +
                    std::to_string(ntohs(a.sin_port)) +
                    "\"]}\n"
                    "routes:\n  - {match: {prefix: /}, upstream: catalog}\n");
  CommandResult r = run_binary({"demo", "-c", conf});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("catalog"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--ephemeral"), std::string::npos) << r.err;

  const std::string remote =
      dir.write("remote.yaml",
                "server: {listen: \"127.0.0.1:0\", workers: 1, pin_cpus: false}\n"
                "upstreams:\n  users: {endpoints: [\"10.0.0.1:80\"]}\n"
                "routes:\n  - {match: {prefix: /}, upstream: users}\n");
  CommandResult r2 = run_binary({"demo", "--ephemeral", "-c", remote});
  EXPECT_EQ(r2.exit_code, 1) << r2.err;
  EXPECT_NE(r2.err.find("users: endpoint 10.0.0.1:80: not a loopback address"), std::string::npos)
      << r2.err;

  CommandResult r3 = run_binary({"--ephemeral"});
  EXPECT_EQ(r3.exit_code, 2) << r3.err;
}

}  // namespace
}  // namespace ringgate::it
