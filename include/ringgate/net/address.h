#pragma once
// Socket addresses: parsing "host:port" / "[v6]:port" and printing them back.

#include <netinet/in.h>
#include <sys/socket.h>

#include <string>
#include <string_view>

namespace ringgate {

struct SocketAddress {
  sockaddr_storage storage{};
  socklen_t length = 0;

  int family() const { return storage.ss_family; }
  const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage); }
  sockaddr* get() { return reinterpret_cast<sockaddr*>(&storage); }
  uint16_t port() const;
  void set_port(uint16_t port);
  std::string to_string() const;  // "127.0.0.1:8080" / "[::1]:8080"
};

// Numeric addresses only ("0.0.0.0:8080", "[::]:80", "localhost:80" is mapped to 127.0.0.1).
// Returns false with `error` set on bad syntax.
bool parse_socket_address(std::string_view text, SocketAddress& out, std::string* error = nullptr);
// Like parse_socket_address, and a name is resolved: from `hosts_file` when given (hosts(5)
// format, first line naming it), else through getaddrinfo (blocking: never on a shard).
bool resolve_socket_address(std::string_view text, SocketAddress& out, std::string* error = nullptr,
                            const std::string& hosts_file = {});
// True when `text` is a numeric "host:port" (nothing to resolve).
bool is_numeric_address(std::string_view text);

}  // namespace ringgate
