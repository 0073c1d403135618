#include "ringgate/net/listener.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>

#include "ringgate/net/socket.h"

namespace ringgate {

namespace {

bool probe_unclaimed(const SocketAddress& address, std::string& error) {
  // A socket without SO_REUSEPORT cannot share an address with any listener, so its bind fails
  // where another process listens, whatever that process set. SO_REUSEADDR: connections left in
  // TIME_WAIT by a previous run do not count.
  const int fd = open_stream_socket(address.family());
  if (fd < 0) {
    error = std::string("socket: ") + strerror(-fd);
    return false;
  }
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (address.family() == AF_INET6) {
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  }
  const bool ok = bind(fd, address.get(), address.length) == 0;
  const int bind_errno = errno;
  close(fd);
  if (ok) {
    return true;
  }
  error = "bind " + address.to_string() + ": ";
  error += bind_errno == EADDRINUSE ? "address already in use (another process is listening)"
                                    : strerror(bind_errno);
  return false;
}

}  // namespace

int claim_address(const SocketAddress& address, std::string& error) {
  // Two gateways starting at the same moment can both pass the probe before either binds: the
  // abstract socket's name is the address, and only one process can hold a name.
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    error = std::string("socket: ") + strerror(errno);
    return -1;
  }
  sockaddr_un name{};
  name.sun_family = AF_UNIX;
  const std::string text = "ringgate.listen." + address.to_string();
  const size_t length = std::min(text.size(), sizeof name.sun_path - 1);
  memcpy(name.sun_path + 1, text.data(), length);  // sun_path[0] == 0: the abstract namespace
  const auto size = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + length);
  if (bind(fd, reinterpret_cast<const sockaddr*>(&name), size) != 0) {
    const int bind_errno = errno;
    close(fd);
    error = "bind " + address.to_string() + ": ";
    error += bind_errno == EADDRINUSE ? "address already in use (another process is listening)"
                                      : strerror(bind_errno);
    return -1;
  }
  if (!probe_unclaimed(address, error)) {
    close(fd);
    return -1;
  }
  return fd;
}

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
