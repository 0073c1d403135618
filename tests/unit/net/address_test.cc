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

TEST(Resolve, NumericAddressesNeedNoLookup) {
  EXPECT_TRUE(is_numeric_address("10.0.0.1:80"));
  EXPECT_TRUE(is_numeric_address("[fd00::1]:80"));
  EXPECT_FALSE(is_numeric_address("orders.svc:80"));
}

TEST(Resolve, HostsFileComesBeforeDns) {
  char path[] = "/tmp/ringgate-hosts-XXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  const std::string text =
      "# service discovery\n"
      "10.1.2.3   orders orders.svc   # two names\n"
      "fd00::7    users\n";
  ASSERT_EQ(write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
  close(fd);
  SocketAddress a;
  std::string error;
  ASSERT_TRUE(resolve_socket_address("orders.svc:8080", a, &error, path)) << error;
  EXPECT_EQ(a.to_string(), "10.1.2.3:8080");
  ASSERT_TRUE(resolve_socket_address("USERS:81", a, &error, path)) << error;
  EXPECT_EQ(a.to_string(), "[fd00::7]:81");
  // Not in the file: the system resolver answers ("localhost" is in /etc/hosts).
  ASSERT_TRUE(resolve_socket_address("localhost:82", a, &error, path)) << error;
  EXPECT_EQ(a.port(), 82);
  unlink(path);
  // An unreadable file is an error, not a silent fall-back to DNS.
  error.clear();
  EXPECT_FALSE(resolve_socket_address("orders:80", a, &error, path));
  EXPECT_NE(error.find("cannot read"), std::string::npos) << error;
}

}  // namespace
}  // namespace ringgate
