// `ringgate demo`: starting the demo services and printing the example requests.

#include "ringgate/demo/demo.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "ringgate/net/address.h"

namespace ringgate::demo {

namespace {

bool is_loopback(const SocketAddress& a) {
  if (a.family() == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(a.get());
    return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
  }
  if (a.family() == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(a.get());
    return IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
  }
  return false;
}

const ServiceInfo* find_service(std::string_view name) {
  for (const ServiceInfo& s : services()) {
    if (s.name == name) {
      return &s;
    }
  }
  return nullptr;
}

// A bound socket that never listens: connecting to its port is refused, and while it is held
// no other socket can take the port. Stands in for a service that is down. -1 on failure.
int bind_refusing_port(const SocketAddress& address, SocketAddress& bound) {
  int fd = socket(address.family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return -1;
  }
  bound = address;
  bound.set_port(0);
  if (bind(fd, bound.get(), bound.length) != 0 ||
      getsockname(fd, bound.get(), &bound.length) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// A listener's address as a client on this machine reaches it (wildcards become loopback).
std::string reachable(const SocketAddress& a) {
  std::string text = a.to_string();
  if (text.rfind("0.0.0.0:", 0) == 0) {
    return "127.0.0.1:" + text.substr(8);
  }
  if (text.rfind("[::]:", 0) == 0) {
    return "[::1]:" + text.substr(5);
  }
  return text;
}

// `address` moved to the loopback address of its family, port 0 (the kernel picks one).
std::string ephemeral_loopback(const std::string& address) {
  SocketAddress a;
  if (!parse_socket_address(address, a)) {
    return address;  // the loader refused it already
  }
  return a.family() == AF_INET6 ? "[::1]:0" : "127.0.0.1:0";
}

struct Example {
  std::string_view route;  // a route name of conf/demo.yaml
  std::string_view what;
  std::string_view flags;  // curl options
  std::string_view path;
};

constexpr Example kExamples[] = {
    {"product-details",
     "product details: catalog, inventory and reviews called in parallel, spliced into one object",
     "-s", "/products/42"},
    {"product-details",
     "the same for a mobile client: a smaller projection of the same calls (profile by X-Client)",
     "-s -H 'X-Client: mobile'", "/products/42"},
    {"product-details",
     "a product that does not exist: the catalog's own 404 (its status and body)", "-si",
     "/products/9999"},
    {"product-page",
     "recommendations are down: a partial response (Ringgate-Partial header, \"errors\" member)",
     "-si", "/products/42/page"},
    {"order-full",
     "an order with its customer (chained on order.customerId) and each line's product "
     "(for_each)",
     "-s", "/orders/1001/full"},
    {"user-profile", "a user profile with the user's orders (two services in parallel)", "-s",
     "/users/7/profile"},
    {"catalog-proxy", "one service through the plain reverse proxy", "-s",
     "/api/catalog/products/42"},
    {"hello", "a direct response from the config", "-s", "/hello"},
};

// A route's path with every {param} replaced by 42 (and a prefix extended), for a generic line.
std::string example_path(const RouteConfig& r) {
  std::string path = r.match.path;
  size_t brace;
  while ((brace = path.find('{')) != std::string::npos) {
    const size_t close = path.find('}', brace);
    path.replace(brace, close - brace + 1, "42");
  }
  if (r.match.kind == RouteMatch::Kind::kPrefix) {
    path += path.back() == '/' ? "example" : "/example";
  }
  return path;
}

}  // namespace

DemoServices::DemoServices() = default;

DemoServices::~DemoServices() {
  stop();
}

bool DemoServices::start(Config& config, bool ephemeral, std::string& error) {
  // One shard with a small ring: the services are the demo's, not the request path under test.
  auto own = std::make_shared<Config>();
  own->source = "<demo services>";
  own->server.workers = 1;
  own->server.pin_cpus = false;
  own->server.buffers = BufferConfig{16 * 1024, 256};
  own->server.ring_entries = 256;
  own->server.backlog = 512;
  own->server.drain_timeout = Duration(1000);
  own->server.server_header = "ringgate-demo";
  own->admin.enabled = false;
  config_ = own;
  gateway_ = std::make_unique<Gateway>(config_);

  std::vector<UpstreamConfig*> started;
  for (UpstreamConfig& u : config.upstreams) {
    const ServiceInfo* info = find_service(u.name);
    if (!info) {
      continue;
    }
    if (u.endpoints.size() != 1) {
      error = "demo service " + u.name + ": needs exactly one endpoint, has " +
              std::to_string(u.endpoints.size());
      return false;
    }
    SocketAddress address;
    std::string why;
    if (!parse_socket_address(u.endpoints[0].address, address, &why) || !is_loopback(address)) {
      error = "demo service " + u.name + ": endpoint " + u.endpoints[0].address +
              (why.empty() ? ": not a loopback address" : ": " + why);
      return false;
    }
    if (info->down) {
      if (ephemeral) {
        SocketAddress bound;
        const int fd = bind_refusing_port(address, bound);
        if (fd < 0) {
          error = "demo service " + u.name + ": cannot reserve a port: " + strerror(errno);
          return false;
        }
        refusing_fds_.push_back(fd);
        u.endpoints[0].address = bound.to_string();
      }
      continue;
    }
    if (ephemeral) {
      address.set_port(0);
    }
    std::string name(info->name);
    gateway_->add_local_service(
        name, address, [name](std::string_view method, std::string_view path, AdminResponse& out) {
          answer(name, method, path, out);
        });
    started.push_back(&u);
  }
  if (!gateway_->start(error)) {
    error = "demo services: " + error +
            (ephemeral ? "" : " (ringgate demo --ephemeral uses free ports instead)");
    gateway_.reset();
    return false;
  }
  // Local services are bound in the order they were added.
  for (size_t i = 0; i < started.size(); ++i) {
    const std::string bound = gateway_->listeners()[i].address.to_string();
    started[i]->endpoints[0].address = bound;
    describe_.push_back(started[i]->name + " " + bound);
  }
  if (ephemeral) {
    // A free port on loopback only: a throwaway demo is not served to the network.
    for (ListenConfig& l : config.server.listen) {
      l.address = ephemeral_loopback(l.address);
    }
    config.admin.listen = ephemeral_loopback(config.admin.listen);
  }
  return true;
}

void DemoServices::stop() {
  if (gateway_) {
    gateway_->request_stop();
    gateway_->wait();
    gateway_.reset();
  }
  for (int fd : refusing_fds_) {
    close(fd);
  }
  refusing_fds_.clear();
}

void print_examples(const Config& config, const std::vector<BoundListener>& listeners, FILE* out) {
  std::string http;
  std::string admin;
  for (const BoundListener& l : listeners) {
    if (l.admin) {
      admin = reachable(l.address);
    } else if (l.service.empty() && http.empty()) {
      http = reachable(l.address);
    }
  }
  fprintf(out, "\nringgate demo is running. Try:\n");
  std::vector<bool> shown(config.routes.size(), false);
  for (const Example& e : kExamples) {
    auto it = std::find_if(config.routes.begin(), config.routes.end(),
                           [&](const RouteConfig& r) { return r.name == e.route; });
    if (it == config.routes.end()) {
      continue;
    }
    shown[static_cast<size_t>(it - config.routes.begin())] = true;
    fprintf(out, "\n  # %.*s\n  curl %.*s http://%s%.*s\n", static_cast<int>(e.what.size()),
            e.what.data(), static_cast<int>(e.flags.size()), e.flags.data(), http.c_str(),
            static_cast<int>(e.path.size()), e.path.data());
  }
  for (size_t i = 0; i < config.routes.size(); ++i) {
    if (!shown[i]) {
      fprintf(out, "\n  # route %s\n  curl -si http://%s%s\n", config.routes[i].name.c_str(),
              http.c_str(), example_path(config.routes[i]).c_str());
    }
  }
  fprintf(out, "\n  # no route: the gateway's own 404, as problem+json\n");
  fprintf(out, "  curl -si http://%s/no-such-route\n", http.c_str());
  if (!admin.empty()) {
    fprintf(out, "\n  # per-upstream counters and latency histograms\n");
    fprintf(out, "  curl -s http://%s/metrics | grep ringgate_upstream_requests_total\n",
            admin.c_str());
  }
  fprintf(out, "\nCtrl-C drains and stops the gateway.\n\n");
  fflush(out);
}

}  // namespace ringgate::demo
