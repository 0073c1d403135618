#include "ringgate/http/actions.h"

#include "ringgate/core/method.h"
#include "ringgate/http/error_reply.h"
#include "ringgate/http/http_shard.h"

namespace ringgate {

namespace {

class DirectAction final : public Action {
 public:
  explicit DirectAction(CannedResponse response) : response_(std::move(response)) {}

  Responder* start(Exchange& x, Downstream&) override {
    x.reply.canned = &response_;
    return nullptr;
  }

 private:
  CannedResponse response_;
};

// One request to a local handler: answered once the request is complete.
class LocalCall final : public Responder {
 public:
  LocalCall(HttpShard& http, Downstream& client, AdminResponse response)
      : http_(http), client_(client), response_(std::move(response)) {}

  void on_request_complete(bool keep_alive) override {
    Downstream& client = client_;
    std::string* body = http_.acquire_body();
    AdminResponse r = std::move(response_);
    delete this;
    if (r.error) {
      error_body(r.error, *body);
      client.respond(error_status(r.error), r.headers, kProblemContentType, body, keep_alive);
      return;
    }
    body->swap(r.body);
    client.respond(r.status, r.headers, r.content_type, body, keep_alive);
  }
  void on_client_gone() override { delete this; }

 private:
  HttpShard& http_;
  Downstream& client_;
  AdminResponse response_;
};

class LocalAction final : public Action {
 public:
  LocalAction(HttpShard& http, const AdminHandler* handler) : http_(http), handler_(handler) {}

  Responder* start(Exchange& x, Downstream& client) override {
    if (!*handler_) {
      x.error = Error::client(ErrorKind::kNoRoute);
      return nullptr;
    }
    AdminResponse r;
    (*handler_)(method_name(x.request().method()), x.request().path(), r);
    return new LocalCall(http_, client, std::move(r));
  }

 private:
  HttpShard& http_;
  const AdminHandler* handler_;
};

}  // namespace

std::unique_ptr<Action> make_direct_action(CannedResponse response) {
  return std::make_unique<DirectAction>(std::move(response));
}

std::unique_ptr<Action> make_local_action(HttpShard& http, const AdminHandler* handler) {
  return std::make_unique<LocalAction>(http, handler);
}

}  // namespace ringgate
