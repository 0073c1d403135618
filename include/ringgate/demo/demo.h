#pragma once
// `ringgate demo`: the demo's own microservices (catalog, inventory, reviews, orders, customers,
// users), served on loopback by ringgate's runtime (a second Gateway of local services, one
// shard), and the gateway in front of them on conf/demo.yaml (compiled in).

#include <cstdio>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ringgate/config/config.h"
#include "ringgate/server/gateway.h"

namespace ringgate::demo {

// conf/demo.yaml, compiled into the binary.
extern const char* const kEmbeddedDemoConfig;

// The demo's services by upstream name. `down` is a service the demo never starts, so that an
// optional backend fails and the response is partial.
struct ServiceInfo {
  std::string_view name;
  bool down;
};
const std::vector<ServiceInfo>& services();

// Answers one request to demo service `service` (a name from services(), not down): JSON
// documents generated from the id in the path, the same for the same id every time.
void answer(std::string_view service, std::string_view method, std::string_view path,
            AdminResponse& out);

// The running demo services.
class DemoServices {
 public:
  DemoServices();
  ~DemoServices();
  DemoServices(const DemoServices&) = delete;
  DemoServices& operator=(const DemoServices&) = delete;

  // Starts a listener for each upstream of `config` named like a demo service, on the address
  // of its single endpoint (numeric, loopback). With `ephemeral`, every demo service, the
  // gateway's listeners and admin move to free ports instead, and `config` is rewritten to
  // match (a down service's endpoint gets a port nothing listens on). False with `error` set.
  bool start(Config& config, bool ephemeral, std::string& error);
  void stop();
  // "catalog 127.0.0.1:9101", one per running service.
  const std::vector<std::string>& describe() const { return describe_; }

 private:
  std::shared_ptr<const Config> config_;
  std::unique_ptr<Gateway> gateway_;
  std::vector<int> refusing_fds_;  // ports of down services (ephemeral), held until stop()
  std::vector<std::string> describe_;
};

// The demo's example requests as ready-to-paste curl lines, for the routes of `config` (known
// routes of conf/demo.yaml with what they show; any other route with a generic line).
void print_examples(const Config& config, const std::vector<BoundListener>& listeners, FILE* out);

}  // namespace ringgate::demo
