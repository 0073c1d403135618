#pragma once
// Shared by the proxy integration tests: a gateway fronting cluster "api", test_upstream helpers,
// and readers for the requests an upstream recorded (`test_upstream --record FILE`).

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "fixture.h"
#include "upstream_process.h"

namespace ringgate::it {

using test_upstream::Program;
using test_upstream::Upstream;
// The sockets that hold dead ports (dead_port()), by port.
inline std::vector<std::pair<uint16_t, Conn>>& dead_port_holders() {
  static std::vector<std::pair<uint16_t, Conn>> holders;
  return holders;
}

// A port nothing listens on: bound and never listened on, by a socket this test process keeps
// (until it ends, or free_dead_port()), so that no other test running beside it can take the
// port meanwhile; a connect to it is refused.
inline uint16_t dead_port() {
  Conn c(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(c.fd(), reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(c.fd(), reinterpret_cast<sockaddr*>(&a), &len);
  const uint16_t port = ntohs(a.sin_port);
  dead_port_holders().emplace_back(port, std::move(c));
  return port;
}

// Lets the port go, for a server to listen on it (an endpoint coming back to life).
inline void free_dead_port(uint16_t port) {
  std::erase_if(dead_port_holders(), [port](const auto& h) { return h.first == port; });
}

inline std::string endpoint(uint16_t port) {
  return "\"127.0.0.1:" + std::to_string(port) + "\"";
}

// Requests recorded by `test_upstream --record FILE`: the raw bytes of each, in arrival order.
struct Recorded {
  std::vector<std::string> requests;
  std::vector<std::string> bad;  // "=== bad request ..." lines
};

inline Recorded read_record(const std::string& path) {
  Recorded r;
  std::ifstream in(path, std::ios::binary);
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t pos = 0;
  while (pos < all.size()) {
    const size_t eol = all.find('\n', pos);
    if (eol == std::string::npos) {
      break;
    }
    const std::string line = all.substr(pos, eol - pos);
    const size_t open = line.find('(');
    const size_t bytes = open == std::string::npos ? 0 : std::stoul(line.substr(open + 1));
    if (line.rfind("=== bad", 0) == 0) {
      r.bad.push_back(line);
    }
    if (line.rfind("=== request", 0) == 0) {
      r.requests.push_back(all.substr(eol + 1, bytes));
    }
    pos = eol + 1 + bytes + 1;
  }
  return r;
}

// Header lines of a raw request, lower-cased names → values.
inline std::vector<std::pair<std::string, std::string>> header_lines(const std::string& raw) {
  std::vector<std::pair<std::string, std::string>> out;
  const size_t end = raw.find("\r\n\r\n");
  std::istringstream in(raw.substr(0, end));
  std::string line;
  std::getline(in, line);  // request line
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') {
      line.pop_back();
    }
    const size_t colon = line.find(':');
    std::string name = line.substr(0, colon);
    for (char& ch : name) {
      ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    }
    std::string value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') {
      value.erase(0, 1);
    }
    out.emplace_back(name, value);
  }
  return out;
}

inline std::vector<std::string> values(const std::string& raw, const std::string& name) {
  std::vector<std::string> v;
  for (const auto& [n, value] : header_lines(raw)) {
    if (n == name) {
      v.push_back(value);
    }
  }
  return v;
}

class ProxyTest : public GatewayTest {
 protected:
  // A gateway with cluster "api" over `endpoints` and the given routes (default: everything
  // under /api proxied).
  GatewayProcess& start_proxy(const std::string& endpoints, const std::string& cluster_extra = "",
                              std::string routes = "", ConfigSpec spec = {}) {
    spec.upstreams = "  api:\n    endpoints: [" + endpoints + "]\n" + cluster_extra;
    if (routes.empty()) {
      routes = "  - match: {prefix: /api}\n    upstream: api\n";
    }
    spec.routes = routes + default_routes();
    return start(spec);
  }

  std::string record_file() { return dir_.path() + "/record.txt"; }

  TempDir dir_;
};

}  // namespace ringgate::it
