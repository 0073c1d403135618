#include "ringgate/net/listener.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "ringgate/net/socket.h"

namespace ringgate {

int open_listener(const SocketAddress& address, int backlog, std::string& error,
                  SocketAddress* bound) {
  // Accepted sockets inherit TCP_NODELAY from the listener: no per-connection setsockopt.
  const int fd = open_stream_socket(address.family());
  if (fd < 0) {
    error = std::string("socket: ") + strerror(-fd);
    return -1;
  }
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
    error = std::string("SO_REUSEPORT: ") + strerror(errno);
    close(fd);
    return -1;
  }
  if (address.family() == AF_INET6) {
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  }
  if (bind(fd, address.get(), address.length) != 0) {
    error = "bind " + address.to_string() + ": " + strerror(errno);
    close(fd);
    return -1;
  }
  if (listen(fd, backlog) != 0) {
    error = "listen " + address.to_string() + ": " + strerror(errno);
    close(fd);
    return -1;
  }
  if (bound) {
    bound->length = sizeof bound->storage;
    getsockname(fd, bound->get(), &bound->length);
  }
  return fd;
}

}  // namespace ringgate
