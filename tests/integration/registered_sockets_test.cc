// Client and upstream sockets are registered in their shard's io_uring file table, so that their
// receives and sends skip the kernel's file lookup: the kernel's own listing of the table
// (/proc/PID/fdinfo of the ring) holds them while they are open and lets them go when they close,
// and ringgate_registered_sockets says the same.

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
  const int before = kernel_registered_sockets(gw.pid());

  // Eight keep-alive clients, each with a request proxied: eight client sockets and eight pooled
  // upstream connections.
  constexpr int kClients = 8;
  std::vector<Conn> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.push_back(connect_to(gw.port()));
    ASSERT_TRUE(send_all(clients.back(), request("GET", "/api/items")));
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

}  // namespace
}  // namespace ringgate::it
