#pragma once
// The route actions a shard runs: proxy to a cluster, aggregate backends, answer directly, and
// the local handlers of local listeners (admin, the demo's services).

#include <memory>

#include "ringgate/http/pipeline.h"
#include "ringgate/http/server.h"

namespace ringgate {

class Worker;
struct AggregateRoute;
struct UpstreamCluster;

class ProxyAction final : public Action {
 public:
  ProxyAction(Worker& worker, const RouteConfig& route, const UpstreamAction& action,
              UpstreamCluster& cluster)
      : worker_(worker), route_(route), action_(action), cluster_(cluster) {}
  Responder* start(Exchange& x, Downstream& client) override;

 private:
  Worker& worker_;
  const RouteConfig& route_;
  const UpstreamAction& action_;
  UpstreamCluster& cluster_;
};

class AggregateRouteAction final : public Action {
 public:
  AggregateRouteAction(Worker& worker, std::unique_ptr<AggregateRoute> route);
  ~AggregateRouteAction() override;
  Responder* start(Exchange& x, Downstream& client) override;

 private:
  Worker& worker_;
  std::unique_ptr<AggregateRoute> route_;
};

class DirectAction final : public Action {
 public:
  explicit DirectAction(CannedResponse response) : response_(std::move(response)) {}
  Responder* start(Exchange& x, Downstream& client) override;

 private:
  CannedResponse response_;
};

// A local listener's handler, run per request; its answer is built off the request path.
class LocalAction final : public Action {
 public:
  LocalAction(Worker& worker, const AdminHandler* handler) : worker_(worker), handler_(handler) {}
  Responder* start(Exchange& x, Downstream& client) override;

 private:
  Worker& worker_;
  const AdminHandler* handler_;
};

}  // namespace ringgate
