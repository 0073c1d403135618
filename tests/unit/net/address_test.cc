#include "ringgate/net/address.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include "ringgate/net/listener.h"

namespace ringgate {
namespace {

TEST(Address, ParsesIpv4AndIpv6) {
  SocketAddress a;
  ASSERT_TRUE(parse_socket_address("127.0.0.1:8080", a));
  EXPECT_EQ(a.family(), AF_INET);
  EXPECT_EQ(a.port(), 8080);
  EXPECT_EQ(a.to_string(), "127.0.0.1:8080");
  ASSERT_TRUE(parse_socket_address("[::1]:443", a));
  EXPECT_EQ(a.family(), AF_INET6);
  EXPECT_EQ(a.to_string(), "[::1]:443");
  ASSERT_TRUE(parse_socket_address("localhost:0", a));
  EXPECT_EQ(a.to_string(), "127.0.0.1:0");
  ASSERT_TRUE(parse_socket_address(":9000", a));
  EXPECT_EQ(a.to_string(), "0.0.0.0:9000");
}

TEST(Address, RefusesBadSyntaxWithAReason) {
  SocketAddress a;
  std::string why;
  for (const char* bad : {"127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "1.2.3:80", "::1:80",
                          "[::1]80", "[::1", "host.example:80", "127.0.0.1:8o"}) {
    why.clear();
    EXPECT_FALSE(parse_socket_address(bad, a, &why)) << bad;
    EXPECT_FALSE(why.empty()) << bad;
  }
}

TEST(Listener, PortZeroIsSharedAcrossReusePortSockets) {
  SocketAddress a;
  ASSERT_TRUE(parse_socket_address("127.0.0.1:0", a));
  std::string error;
  SocketAddress bound;
  int first = open_listener(a, 16, error, &bound);
  ASSERT_GE(first, 0) << error;
  ASSERT_NE(bound.port(), 0);
  // A second shard binds the same port, as SO_REUSEPORT allows.
  int second = open_listener(bound, 16, error);
  EXPECT_GE(second, 0) << error;
  close(first);
  if (second >= 0) {
    close(second);
  }
}

TEST(Listener, BindFailureIsAReadableError) {
  SocketAddress a;
  ASSERT_TRUE(parse_socket_address("192.0.2.1:1", a));  // TEST-NET: not a local address
  std::string error;
  EXPECT_LT(open_listener(a, 16, error), 0);
  EXPECT_NE(error.find("bind 192.0.2.1:1"), std::string::npos) << error;
}

}  // namespace
}  // namespace ringgate
