// What a shard lends the kernel. Client and upstream sockets are registered in the shard's
// io_uring file table, so that their receives and sends skip the kernel's file lookup: the
// kernel's own listing of the table (/proc/PID/fdinfo of the ring) holds them while they are open
// and lets them go when they close, and ringgate_registered_sockets says the same. Receive
// buffers are lent as a working set that follows demand, so a steady trickle of requests does not
// make every buffer resident.

#include <unistd.h>

#include <climits>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "proxy_fixture.h"

namespace ringgate::it {
namespace {

// Sockets in the file tables of `pid`'s io_uring instances, as the kernel lists them.
int kernel_registered_sockets(pid_t pid) {
  const std::string proc = "/proc/" + std::to_string(pid);
  int sockets = 0;
  for (int fd = 0; fd < 4096; ++fd) {
    char link[PATH_MAX] = {};
    const std::string path = proc + "/fd/" + std::to_string(fd);
    if (readlink(path.c_str(), link, sizeof link - 1) <= 0 ||
        std::string(link) != "anon_inode:[io_uring]") {
      continue;
    }
    std::ifstream info(proc + "/fdinfo/" + std::to_string(fd));
    std::string line;
    while (std::getline(info, line)) {
      sockets += line.find(": socket:[") != std::string::npos;
    }
  }
  return sockets;
}

TEST_F(ProxyTest, ClientAndUpstreamSocketsAreRegisteredWhileOpen) {
  Upstream up({"--name", "one"});
  ASSERT_NE(up.port(), 0);
  auto& gw = start_proxy(endpoint(up.port()));
  ASSERT_TRUE(gw.ok()) << gw.error();
  if (gw.log().find("ringgate: epoll (") != std::string::npos) {
    GTEST_SKIP() << "the epoll backend has no file table to register in: " << gw.log();
  }
  const int before = kernel_registered_sockets(gw.pid());

  // Eight keep-alive clients, each with a request proxied: eight client sockets and eight pooled
  // upstream connections. The upstream takes 200 ms to answer, so the eight requests are in
  // flight together and each needs a connection of its own (answered at once, one connection
  // back in the pool could carry the next client's request).
  constexpr int kClients = 8;
  std::vector<Conn> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.push_back(connect_to(gw.port()));
    ASSERT_TRUE(send_all(clients.back(), request("GET", "/api/items?delay=200ms")));
  }
  for (Conn& c : clients) {
    auto r = read_response(c);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << r->raw;
  }
  const int open = kernel_registered_sockets(gw.pid());
  EXPECT_GE(open, before + 2 * kClients);
  // The metric counts the admin connection that reads it too.
  const double open_metric = metric(gw.admin_port(), "ringgate_registered_sockets");
  EXPECT_GE(open_metric, 2 * kClients);
  EXPECT_EQ(metric(gw.admin_port(), "ringgate_unregistered_sockets_total"), 0);

  // The clients leave: their slots are given back (the pooled upstream connections stay).
  clients.clear();
  const double after = wait_metric(gw.admin_port(), "ringgate_registered_sockets",
                                   [&](double v) { return v <= open_metric - kClients; });
  EXPECT_LE(after, open_metric - kClients);
  int kernel_after = kernel_registered_sockets(gw.pid());
  for (int i = 0; i < 50 && kernel_after > open - kClients; ++i) {
    std::this_thread::sleep_for(20ms);
    kernel_after = kernel_registered_sockets(gw.pid());
  }
  EXPECT_LE(kernel_after, open - kClients);
  EXPECT_GE(kernel_after, kClients);  // the pooled upstream connections
}

// Thousands of requests one after another on a few connections: each receive takes the next
// buffer from the ring, and a ring lent every buffer made each of them resident in turn (RSS grew
// 12 MiB here over these 3,000 requests; up to 64 MiB with the default 4,096 buffers). With the
// working set the ring cycles through about 64 buffers, already resident after the warm-up.
TEST_F(ProxyTest, SequentialRequestsDoNotMakeEveryReceiveBufferResident) {
  ConfigSpec spec;
  auto& gw = start(spec);
  ASSERT_TRUE(gw.ok()) << gw.error();
  std::vector<Conn> conns;
  for (int i = 0; i < 4; ++i) {
    conns.push_back(connect_to(gw.port()));
  }
  // Warm-up: connection objects, parsers and pools exist before the measurement starts.
  for (int i = 0; i < 100; ++i) {
    Conn& c = conns[static_cast<size_t>(i) % conns.size()];
    ASSERT_TRUE(send_all(c, request("GET", "/hello")));
    auto r = read_response(c);
    ASSERT_TRUE(r);
  }
  const long before = rss_kib(gw.pid());
  ASSERT_GT(before, 0);
  constexpr int kRequests = 3000;
  for (int i = 0; i < kRequests; ++i) {
    Conn& c = conns[static_cast<size_t>(i) % conns.size()];
    ASSERT_TRUE(send_all(c, request("GET", "/hello")));
    auto r = read_response(c);
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->raw;
  }
  const long grown = rss_kib(gw.pid()) - before;
  EXPECT_LT(grown, 4 * 1024) << "RSS grew " << grown << " KiB over " << kRequests << " requests";
  EXPECT_LE(metric(gw.admin_port(), "ringgate_receive_buffer_bytes"), 4 * 1024 * 1024);
}

}  // namespace
}  // namespace ringgate::it
