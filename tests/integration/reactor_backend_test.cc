// The reactor's backends as a deployment meets them. Where io_uring is blocked (Docker's default
// seccomp profile, kernel.io_uring_disabled), the gateway runs on epoll by itself and says why in
// its start-up lines; where io_uring is demanded (RINGGATE_REACTOR=io_uring) and blocked, it
// refuses to start. The whole suite also runs with RINGGATE_REACTOR=epoll (scripts/test).

#include <cstdlib>
#include <string>

#include "proxy_fixture.h"
#include "scoped_env.h"

namespace ringgate::it {
namespace {

// Starts `yaml` under without_io_uring with RINGGATE_REACTOR set to `reactor` (nullptr: unset).
std::unique_ptr<GatewayProcess> start_blocked(const std::string& yaml, const char* reactor) {
  test::ScopedEnv env("RINGGATE_REACTOR", reactor);
  return std::make_unique<GatewayProcess>(yaml, std::vector<std::string>{WITHOUT_IO_URING_BINARY},
                                          10s);
}

TEST_F(ProxyTest, WithIoUringBlockedTheGatewayRunsOnEpollAndSaysWhy) {
  Upstream up({"--name", "one"});
  ASSERT_NE(up.port(), 0);
  ConfigSpec spec;
  spec.workers = 2;
  spec.upstreams = "  api:\n    endpoints: [" + endpoint(up.port()) + "]\n";
  spec.routes = "  - match: {prefix: /api}\n    upstream: api\n" + default_routes();
  gateways_.push_back(start_blocked(make_config(spec), nullptr));
  GatewayProcess& gw = *gateways_.back();
  ASSERT_TRUE(gw.ok()) << gw.error();
  EXPECT_NE(gw.log().find("ringgate: epoll (io_uring unavailable: io_uring_setup failed: "
                          "Operation not permitted (io_uring is disabled on this host"),
            std::string::npos)
      << gw.log();

  // Keep-alive clients on both shards, each with requests proxied and answered directly, and a
  // large upload and download through the proxy.
  for (int client = 0; client < 4; ++client) {
    Conn c = connect_to(gw.port());
    for (int i = 0; i < 20; ++i) {
      ASSERT_TRUE(send_all(c, request("GET", i % 2 ? "/api/items" : "/hello")));
      auto r = read_response(c);
      ASSERT_TRUE(r);
      EXPECT_EQ(r->status, 200) << r->raw;
    }
  }
  const std::string big(1 << 20, 'u');
  Conn c = connect_to(gw.port());
  ASSERT_TRUE(send_all(c, request("POST", "/api/up?echo=1",
                                  "Content-Length: " + std::to_string(big.size()) + "\r\n") +
                              big));
  auto r = read_response(c);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->raw.substr(0, 300);
  ASSERT_GT(r->body.size(), big.size());
  EXPECT_EQ(r->body.substr(r->body.size() - big.size()), big);
  ASSERT_TRUE(send_all(c, request("GET", "/api/down?body_size=2000000")));
  r = read_response(c);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body.size(), 2000000u);
  EXPECT_EQ(metric(gw.admin_port(), "ringgate_registered_sockets"), 0);  // no file table
  EXPECT_EQ(gw.stop(), 0);
}

TEST_F(ProxyTest, IoUringDemandedAndBlockedRefusesToStart) {
  gateways_.push_back(start_blocked(make_config(ConfigSpec{}), "io_uring"));
  GatewayProcess& gw = *gateways_.back();
  EXPECT_FALSE(gw.ok());
  EXPECT_NE(gw.log().find("io_uring_setup failed: Operation not permitted"), std::string::npos)
      << gw.log();
  EXPECT_NE(gw.log().find("(RINGGATE_REACTOR=io_uring)"), std::string::npos) << gw.log();
  EXPECT_NE(gw.wait_exit(5s).value_or(0), 0);
}

TEST_F(ProxyTest, AnUnknownReactorIsRefusedByName) {
  GatewayProcess* started = nullptr;
  {
    test::ScopedEnv env("RINGGATE_REACTOR", "select");
    started = &start(ConfigSpec{});
  }
  GatewayProcess& gw = *started;
  EXPECT_FALSE(gw.ok());
  EXPECT_NE(gw.log().find("RINGGATE_REACTOR=select: expected auto, io_uring or epoll"),
            std::string::npos)
      << gw.log();
}

}  // namespace
}  // namespace ringgate::it
