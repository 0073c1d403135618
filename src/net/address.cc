#include "ringgate/net/address.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <strings.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace ringgate {

uint16_t SocketAddress::port() const {
  if (family() == AF_INET) {
    return ntohs(reinterpret_cast<const sockaddr_in*>(&storage)->sin_port);
  }
  if (family() == AF_INET6) {
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_port);
  }
  return 0;
}

void SocketAddress::set_port(uint16_t port) {
  if (family() == AF_INET) {
    reinterpret_cast<sockaddr_in*>(&storage)->sin_port = htons(port);
  } else if (family() == AF_INET6) {
    reinterpret_cast<sockaddr_in6*>(&storage)->sin6_port = htons(port);
  }
}

std::string SocketAddress::to_string() const {
  char buf[INET6_ADDRSTRLEN] = {};
  if (family() == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&storage)->sin_addr, buf, sizeof buf);
    std::string out(buf);
    out += ':';
    out += std::to_string(port());
    return out;
  }
  if (family() == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_addr, buf,
              sizeof buf);
    std::string out = "[";
    out += buf;
    out += "]:";
    out += std::to_string(port());
    return out;
  }
  return "?";
}

bool parse_socket_address(std::string_view text, SocketAddress& out, std::string* error) {
  auto fail = [&](const char* why) {
    if (error) {
      *error = why;
    }
    return false;
  };
  std::string_view host;
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return fail("expected [IPv6]:port");
    }
    host = text.substr(1, close - 1);
    port_text = text.substr(close + 2);
  } else {
    size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      return fail("expected host:port");
    }
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) {
      return fail("IPv6 addresses must be written [addr]:port");
    }
  }
  unsigned port = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (port_text.empty() || ec != std::errc() || end != port_text.data() + port_text.size() ||
      port > 65535) {
    return fail("port must be a number 0..65535");
  }
  if (host == "localhost") {
    host = "127.0.0.1";
  }
  std::string h(host);
  out = SocketAddress{};
  if (!text.empty() && text.front() == '[') {
    auto* sa = reinterpret_cast<sockaddr_in6*>(&out.storage);
    sa->sin6_family = AF_INET6;
    if (inet_pton(AF_INET6, h.c_str(), &sa->sin6_addr) != 1) {
      return fail("not a numeric IPv6 address");
    }
    sa->sin6_port = htons(static_cast<uint16_t>(port));
    out.length = sizeof(sockaddr_in6);
  } else {
    auto* sa = reinterpret_cast<sockaddr_in*>(&out.storage);
    sa->sin_family = AF_INET;
    if (h.empty() || h == "*") {
      h = "0.0.0.0";
    }
    if (inet_pton(AF_INET, h.c_str(), &sa->sin_addr) != 1) {
      return fail("not a numeric IPv4 address");
    }
    sa->sin_port = htons(static_cast<uint16_t>(port));
    out.length = sizeof(sockaddr_in);
  }
  return true;
}

bool is_numeric_address(std::string_view text) {
  SocketAddress unused;
  return parse_socket_address(text, unused, nullptr);
}

namespace {

// The address of `host` in a hosts(5) file: "ADDRESS NAME [ALIAS...]", '#' comments.
// 1: found; 0: not in the file; -1: the file cannot be read (`error` set).
int lookup_hosts_file(const std::string& path, const std::string& host, uint16_t port,
                      SocketAddress& out, std::string* error) {
  FILE* f = fopen(path.c_str(), "re");
  if (!f) {
    if (error) {
      *error = "cannot read " + path + ": " + strerror(errno);
    }
    return -1;
  }
  char line[1024];
  bool found = false;
  while (!found && fgets(line, sizeof line, f)) {
    if (char* hash = strchr(line, '#')) {
      *hash = '\0';
    }
    char* save = nullptr;
    const char* addr = strtok_r(line, " \t\r\n", &save);
    if (!addr) {
      continue;
    }
    for (const char* name = strtok_r(nullptr, " \t\r\n", &save); name;
         name = strtok_r(nullptr, " \t\r\n", &save)) {
      if (strcasecmp(name, host.c_str()) == 0) {
        const std::string a(addr);
        const std::string numeric =
            (a.find(':') != std::string::npos ? "[" + a + "]" : a) + ":" + std::to_string(port);
        found = parse_socket_address(numeric, out, nullptr);
        break;
      }
    }
  }
  fclose(f);
  return found ? 1 : 0;
}

}  // namespace

bool resolve_socket_address(std::string_view text, SocketAddress& out, std::string* error,
                            const std::string& hosts_file) {
  if (parse_socket_address(text, out, nullptr)) {
    return true;
  }
  const size_t colon = text.rfind(':');
  if (colon == std::string_view::npos || text.front() == '[') {
    return parse_socket_address(text, out, error);
  }
  const std::string host(text.substr(0, colon));
  const std::string port(text.substr(colon + 1));
  if (!hosts_file.empty()) {
    const int p = atoi(port.c_str());
    const int found = p > 0 && p < 65536 ? lookup_hosts_file(hosts_file, host,
                                                             static_cast<uint16_t>(p), out, error)
                                         : 0;
    if (found != 0) {
      return found > 0;  // an unreadable file is an error, not a silent fall-back
    }
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV | AI_ADDRCONFIG;
  addrinfo* result = nullptr;
  const int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &result);
  if (rc != 0 || !result) {
    if (error) {
      *error = std::string("cannot resolve ") + host + ": " + gai_strerror(rc);
    }
    return false;
  }
  out = SocketAddress{};
  std::memcpy(&out.storage, result->ai_addr, result->ai_addrlen);
  out.length = result->ai_addrlen;
  freeaddrinfo(result);
  return true;
}

}  // namespace ringgate
