#pragma once
// Shared by the aggregation integration tests: a gateway with clusters over test_upstream
// servers and one aggregate route under /agg/{id}.

#include <string>

#include "proxy_fixture.h"

namespace ringgate::it {

class AggregateTest : public GatewayTest {
 protected:
  // Clusters `a`, `b` and `c` over the given upstreams (plus `down`, which nothing serves), and
  // one aggregate route under /agg/{id}.
  GatewayProcess& start_agg(const std::string& action, uint16_t a, uint16_t b = 0, uint16_t c = 0) {
    ConfigSpec spec;
    spec.upstreams = "  a: {endpoints: [" + endpoint(a) + "]}\n";
    if (b) {
      spec.upstreams += "  b: {endpoints: [" + endpoint(b) + "]}\n";
    }
    if (c) {
      spec.upstreams += "  c: {endpoints: [" + endpoint(c) + "]}\n";
    }
    spec.upstreams += "  down: {endpoints: [" + endpoint(dead_port()) + "]}\n";
    spec.routes = "  - match: {path: \"/agg/{id}\"}\n    aggregate:\n" + action + default_routes();
    spec.sections = sections_;
    return start(spec);
  }

  std::string record_file(const std::string& name) { return dir_.path() + "/" + name; }

  TempDir dir_;
  std::string sections_;  // more top-level sections for start_agg (e.g. "aggregate: {...}\n")
};

}  // namespace ringgate::it
