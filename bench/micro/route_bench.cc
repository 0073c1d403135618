// Route matching against the size of the table: 2,000 prefix routes (`/svc0` … `/svc1999`), then
// an exact route and a template route listed after them. The goal (issue: route matching
// independent of the number of routes): the last prefix route within 1.1x the cost of the first.
//   BM_RouteFirstPrefix:  /svc0/items/42, the first route
//   BM_RouteLastPrefix:   /svc1999/items/42, the 2,000th
//   BM_RouteExactAfter:   /healthz, an exact route listed after all of them
//   BM_RouteTemplateAfter: /users/42/orders/7, a template with two captures after all of them
//   BM_RouteNotFound:     /nothing/here, a 404
// Run: build/bench/micro_route_bench (bench/run routes prints the ratios).

#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "ringgate/core/method.h"
#include "ringgate/router/router.h"

namespace {

using namespace ringgate;

constexpr int kPrefixRoutes = 2000;

const Config& table() {
  static const Config config = [] {
    Config c;
    c.source = "bench";
    for (int i = 0; i < kPrefixRoutes; ++i) {
      RouteConfig r;
      r.name = "svc" + std::to_string(i);
      r.match.kind = RouteMatch::Kind::kPrefix;
      r.match.path = "/svc" + std::to_string(i);
      r.match.methods = {"GET"};
      c.routes.push_back(r);
    }
    RouteConfig health;
    health.name = "healthz";
    health.match.kind = RouteMatch::Kind::kExact;
    health.match.path = "/healthz";
    c.routes.push_back(health);
    RouteConfig orders;
    orders.name = "orders";
    orders.match.kind = RouteMatch::Kind::kTemplate;
    orders.match.path = "/users/{user}/orders/{order}";
    c.routes.push_back(orders);
    return c;
  }();
  return config;
}

void run(benchmark::State& state, std::string_view path) {
  static const Router router(table());
  const int get = method_from_name("GET");
  RouteMatchResult result;
  for (auto _ : state) {
    router.match("", get, path, result);
    benchmark::DoNotOptimize(result.route_index);
  }
}

void BM_RouteFirstPrefix(benchmark::State& state) {
  run(state, "/svc0/items/42");
}
void BM_RouteLastPrefix(benchmark::State& state) {
  run(state, "/svc1999/items/42");
}
void BM_RouteExactAfter(benchmark::State& state) {
  run(state, "/healthz");
}
void BM_RouteTemplateAfter(benchmark::State& state) {
  run(state, "/users/42/orders/7");
}
void BM_RouteNotFound(benchmark::State& state) {
  run(state, "/nothing/here");
}

BENCHMARK(BM_RouteFirstPrefix);
BENCHMARK(BM_RouteLastPrefix);
BENCHMARK(BM_RouteExactAfter);
BENCHMARK(BM_RouteTemplateAfter);
BENCHMARK(BM_RouteNotFound);

}  // namespace

BENCHMARK_MAIN();
