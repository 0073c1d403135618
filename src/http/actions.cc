#include "ringgate/http/actions.h"

#include "ringgate/core/method.h"
#include "ringgate/core/shard.h"
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

// One request to a local handler: answered once the request is complete and the handler's
// answer is there (at once, or later from another thread for a deferred one).
class LocalCall final : public Responder {
 public:
  LocalCall(HttpShard& http, Downstream& client, AdminResponse response, bool answered)
      : http_(http), client_(client), response_(std::move(response)), answered_(answered) {}
  ~LocalCall() {
    if (box_) {
      *box_ = nullptr;  // an answer that comes after this call ended finds nobody
    }
  }

  // What a deferred handler calls with its answer, from any thread: the answer is posted to this
  // call's shard.
  std::function<void(AdminResponse)> finisher() {
    box_ = std::make_shared<LocalCall*>(this);
    Shard* shard = &http_.shard();
    return [shard, box = box_](AdminResponse r) {
      shard->post([box, r = std::move(r)]() mutable {
        if (*box) {
          (*box)->on_answer(std::move(r));
        }
      });
    };
  }

  void on_request_complete(bool keep_alive) override {
    request_done_ = true;
    keep_alive_ = keep_alive;
    if (answered_) {
      send();
    }
  }
  void on_client_gone() override { delete this; }

 private:
  void on_answer(AdminResponse r) {
    response_ = std::move(r);
    answered_ = true;
    if (request_done_) {
      send();
    }
  }
  void send() {
    Downstream& client = client_;
    std::string* body = http_.acquire_body();
    AdminResponse r = std::move(response_);
    const bool keep_alive = keep_alive_;
    delete this;
    if (r.error) {
      error_body(r.error, *body);
      client.respond(error_status(r.error), r.headers, kProblemContentType, body, keep_alive);
      return;
    }
    body->swap(r.body);
    client.respond(r.status, r.headers, r.content_type, body, keep_alive);
  }

  HttpShard& http_;
  Downstream& client_;
  AdminResponse response_;
  bool answered_;
  bool request_done_ = false;
  bool keep_alive_ = false;
  std::shared_ptr<LocalCall*> box_;
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
    r.query = x.request().query();
    (*handler_)(method_name(x.request().method()), x.request().path(), r);
    r.query = {};
    if (r.deferred) {
      auto deferred = std::move(r.deferred);
      auto* call = new LocalCall(http_, client, AdminResponse{}, false);
      deferred(call->finisher());
      return call;
    }
    return new LocalCall(http_, client, std::move(r), true);
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
