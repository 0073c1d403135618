#include "route_actions.h"

#include "aggregate_call.h"
#include "proxy.h"
#include "ringgate/core/method.h"
#include "worker.h"

namespace ringgate {

Responder* ProxyAction::start(Exchange& x, Downstream& client) {
  ProxyCall* call = worker_.acquire_call();
  const Error error = call->start(x, client, route_, action_, cluster_);
  if (error) {
    // Refused before anything was sent (no endpoint, limits): answered at message complete.
    worker_.release_call(call);
    x.error = error;
    return nullptr;
  }
  return call;
}

AggregateRouteAction::AggregateRouteAction(Worker& worker, std::unique_ptr<AggregateRoute> route)
    : worker_(worker), route_(std::move(route)) {}

AggregateRouteAction::~AggregateRouteAction() = default;

Responder* AggregateRouteAction::start(Exchange& x, Downstream& client) {
  AggregateCall* call = worker_.acquire_aggregate();
  call->start(x, client,
              *route_);  // answers through Downstream::respond() once the request is done
  return call;
}

Responder* DirectAction::start(Exchange& x, Downstream&) {
  x.reply.canned = &response_;
  return nullptr;
}

namespace {

// One request to a local handler: answered once the request is complete.
class LocalCall final : public Responder {
 public:
  LocalCall(Worker& worker, Downstream& client, AdminResponse response)
      : worker_(worker), client_(client), response_(std::move(response)) {}

  void on_request_complete(bool keep_alive) override {
    Downstream& client = client_;
    std::string* body = worker_.acquire_body();
    body->swap(response_.body);
    const AdminResponse r = std::move(response_);
    delete this;
    client.respond(r.status, r.headers, r.content_type, body, keep_alive);
  }
  void on_client_gone() override { delete this; }

 private:
  Worker& worker_;
  Downstream& client_;
  AdminResponse response_;
};

}  // namespace

Responder* LocalAction::start(Exchange& x, Downstream& client) {
  if (!*handler_) {
    x.error = Error::client(ErrorKind::kNoRoute);
    return nullptr;
  }
  AdminResponse r;
  (*handler_)(method_name(x.request().method()), x.request().path(), r);
  // Local handlers are off the request path that counts (admin scrapes, demo services): one
  // allocation per request is fine here.
  return new LocalCall(worker_, client, std::move(r));
}

}  // namespace ringgate
