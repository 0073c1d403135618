// The request pipeline with fake filters and a fake action: phase order, local replies, waiting
// and resuming, response edits in reverse order, and the log phase after the client is gone.

#include "ringgate/http/pipeline.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "client_request.h"
#include "ringgate/http/error_reply.h"

namespace ringgate {
namespace {

constexpr const char* kConfig = R"(
server: {listen: [{address: "127.0.0.1:0"}]}
routes:
  - match: {path: /a, methods: [GET]}
    direct: {status: 200}
)";

// Records every call, in order, as "name.phase".
using Log = std::vector<std::string>;

class FakeFilter final : public Filter {
 public:
  FakeFilter(std::string name, Log& log, FilterStatus verdict = FilterStatus::kContinue,
             uint8_t phases = kOnRequest | kOnResponse | kOnLog)
      : name_(std::move(name)), log_(log), verdict_(verdict), phases_(phases) {}

  std::string_view name() const override { return name_; }
  uint8_t phases() const override { return phases_; }
  FilterStatus on_request(Exchange& x) override {
    log_.push_back(name_ + ".request");
    if (verdict_ == FilterStatus::kReply) {
      x.error = Error::client(ErrorKind::kForbidden, "fake refusal");
    }
    if (verdict_ == FilterStatus::kWait) {
      waiting_ = &x;
    }
    return verdict_;
  }
  void on_response(Exchange&, ResponseHead& head) override {
    log_.push_back(name_ + ".response");
    head.add("X-Seen-By", name_);
  }
  void on_log(const Exchange&) override { log_.push_back(name_ + ".log"); }
  void on_cancel(Exchange&) override {
    log_.push_back(name_ + ".cancel");
    waiting_ = nullptr;
  }
  std::string_view wait_timeout_detail() const override { return "the fake took too long"; }

  // The decision a kWait filter was waiting for.
  void decide(FilterStatus status) {
    Exchange* x = waiting_;
    waiting_ = nullptr;
    x->resume(status);
  }

 private:
  std::string name_;
  Log& log_;
  FilterStatus verdict_;
  uint8_t phases_;
  Exchange* waiting_ = nullptr;
};

class FakeAction final : public Action {
 public:
  explicit FakeAction(Log& log) : log_(log) {}
  Responder* start(Exchange& x, Downstream&) override {
    log_.push_back("action");
    x.reply.status = 200;
    return nullptr;
  }

 private:
  Log& log_;
};

// The action here never writes a response: a client that takes nothing.
class NoClient final : public Downstream {
 public:
  char* out_space(size_t& avail) override {
    avail = 0;
    return nullptr;
  }
  void out_commit(size_t) override {}
  bool out_pending() const override { return false; }
  void out_discard() override {}
  void out_flush() override {}
  bool closing() const override { return false; }
  void count_status(int) override {}
  const ResponseHead& response_head(int) override { return head_; }
  std::string_view date_line() const override { return {}; }
  void response_done(bool) override {}
  void response_failed(const Error&, bool) override {}
  void response_cut() override {}
  void respond(int, std::string_view, std::string_view, std::string*, bool) override {}
  void respond_stored(const Reply&, bool) override {}
  void request_room() override {}
  void tunnel() override {}

 private:
  ResponseHead head_{0, nullptr, 0};
};

class Owner final : public ExchangeOwner {
 public:
  void resumed(Exchange&, FilterStatus status) override { resumes.push_back(status); }
  std::string_view peer_ip() override { return "192.0.2.1"; }
  std::vector<FilterStatus> resumes;
};

class PipelineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_ = std::make_unique<Config>(load_config_string(kConfig, "pipeline_test"));
    router_ = std::make_unique<Router>(*config_);
    client_ = std::make_unique<ClientRequest>(config_->server.limits);
  }

  // A pipeline whose one route runs `filters` then the fake action.
  void build(std::vector<Filter*> filters) {
    std::vector<RoutePlan> plans;
    plans.emplace_back(&config_->routes[0], std::move(filters), &action_);
    pipeline_ = std::make_unique<Pipeline>(*router_, std::move(plans));
  }

  Exchange& exchange(std::string request) { return client_->parse(std::move(request), owner_); }

  // The response phase as a connection runs it before writing a head.
  std::string respond(Exchange& x) {
    char room[512];
    ResponseHead head(200, room, sizeof room);
    Pipeline::respond(x, head);
    return std::string(head.added());
  }

  Log log_;
  FakeAction action_{log_};
  Owner owner_;
  std::unique_ptr<Config> config_;
  std::unique_ptr<Router> router_;
  std::unique_ptr<Pipeline> pipeline_;
  std::unique_ptr<ClientRequest> client_;
};

TEST_F(PipelineTest, FiltersRunInRouteOrderThenTheAction) {
  FakeFilter a("a", log_), b("b", log_);
  build({&a, &b});
  Exchange& x = exchange("GET /a HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_EQ(pipeline_->start(x, nullptr), FilterStatus::kContinue);
  NoClient client;
  EXPECT_EQ(Pipeline::act(x, client), nullptr);
  EXPECT_EQ(x.reply.status, 200);
  EXPECT_EQ(respond(x), "X-Seen-By: b\r\nX-Seen-By: a\r\n");  // reverse order
  Pipeline::finish(x);
  EXPECT_EQ(log_, (Log{"a.request", "b.request", "action", "b.response", "a.response", "a.log",
                       "b.log"}));
}

TEST_F(PipelineTest, AReplyStopsTheRequestPhaseAndOnlyEnteredFiltersSeeTheRest) {
  FakeFilter a("a", log_), b("b", log_, FilterStatus::kReply), c("c", log_);
  build({&a, &b, &c});
  Exchange& x = exchange("GET /a HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_EQ(pipeline_->start(x, nullptr), FilterStatus::kReply);
  EXPECT_EQ(x.error.kind, ErrorKind::kForbidden);
  EXPECT_EQ(error_status(x.error), 403);
  EXPECT_EQ(respond(x), "X-Seen-By: b\r\nX-Seen-By: a\r\n");
  Pipeline::finish(x);
  EXPECT_EQ(log_, (Log{"a.request", "b.request", "b.response", "a.response", "a.log", "b.log"}));
}

TEST_F(PipelineTest, AWaitingFilterResumesThroughTheOwnerAndTheRestRunAfterIt) {
  FakeFilter a("a", log_), w("w", log_, FilterStatus::kWait), c("c", log_);
  build({&a, &w, &c});
  Exchange& x = exchange("GET /a HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_EQ(pipeline_->start(x, nullptr), FilterStatus::kWait);
  EXPECT_TRUE(x.waiting());
  EXPECT_EQ(log_, (Log{"a.request", "w.request"}));
  w.decide(FilterStatus::kContinue);
  EXPECT_FALSE(x.waiting());
  EXPECT_EQ(owner_.resumes, std::vector<FilterStatus>{FilterStatus::kContinue});
  // The owner goes on from the filter after the one that waited.
  EXPECT_EQ(Pipeline::run_filters(x), FilterStatus::kContinue);
  EXPECT_EQ(log_, (Log{"a.request", "w.request", "c.request"}));
  Pipeline::finish(x);
}

TEST_F(PipelineTest, OnlyFiltersThatTakePartInAPhaseAreCalledForIt) {
  FakeFilter a("a", log_, FilterStatus::kContinue, kOnRequest),
      b("b", log_, FilterStatus::kContinue, kOnRequest | kOnLog);
  build({&a, &b});
  Exchange& x = exchange("GET /a HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_EQ(pipeline_->start(x, nullptr), FilterStatus::kContinue);
  EXPECT_FALSE(Pipeline::edits_response(x));
  EXPECT_EQ(respond(x), "");
  Pipeline::finish(x);
  EXPECT_EQ(log_, (Log{"a.request", "b.request", "b.log"}));
}

TEST_F(PipelineTest, TheLogPhaseRunsAfterAClientAbortAndTheWaitIsCancelled) {
  FakeFilter a("a", log_), w("w", log_, FilterStatus::kWait);
  build({&a, &w});
  Exchange& x = exchange("GET /a HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_EQ(pipeline_->start(x, nullptr), FilterStatus::kWait);
  Pipeline::finish(x);  // the client went away while w was deciding
  Pipeline::finish(x);  // once only
  EXPECT_FALSE(x.waiting());
  EXPECT_EQ(log_, (Log{"a.request", "w.request", "w.cancel", "a.log", "w.log"}));
  EXPECT_TRUE(owner_.resumes.empty());
}

TEST_F(PipelineTest, AWaitPastTheRequestTimeoutIsA503NamingWhy) {
  FakeFilter w("w", log_, FilterStatus::kWait);
  build({&w});
  Exchange& x = exchange("GET /a HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_EQ(pipeline_->start(x, nullptr), FilterStatus::kWait);
  Pipeline::time_out(x);
  EXPECT_EQ(x.error.kind, ErrorKind::kDependencyTimeout);
  EXPECT_EQ(error_status(x.error), 503);
  EXPECT_EQ(x.error.detail, "the fake took too long");
  EXPECT_EQ(log_, (Log{"w.request", "w.cancel"}));
}

TEST_F(PipelineTest, UnroutedRequestsAre404Or405WithAllow) {
  FakeFilter a("a", log_);
  build({&a});
  Exchange& missing = exchange("GET /nowhere HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_EQ(pipeline_->start(missing, nullptr), FilterStatus::kReply);
  EXPECT_EQ(error_status(missing.error), 404);
  Pipeline::finish(missing);
  Exchange& wrong = exchange("POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(pipeline_->start(wrong, nullptr), FilterStatus::kReply);
  EXPECT_EQ(error_status(wrong.error), 405);
  EXPECT_EQ(wrong.error_headers, "Allow: GET, HEAD\r\n");
  EXPECT_TRUE(log_.empty());  // no route: no route's filters
}

TEST_F(PipelineTest, AFixedPlanSkipsRouting) {
  FakeFilter a("a", log_);
  RoutePlan local(nullptr, {&a}, &action_);
  build({});
  Exchange& x = exchange("GET /anything HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_EQ(pipeline_->start(x, &local), FilterStatus::kContinue);
  EXPECT_EQ(x.plan, &local);
  EXPECT_EQ(log_, (Log{"a.request"}));
}

TEST_F(PipelineTest, IdentityHeadersAccumulateInTheArena) {
  build({});
  Exchange& x = exchange("GET /a HTTP/1.1\r\nHost: h\r\n\r\n");
  ASSERT_TRUE(x.add_upstream_header("X-User", "alice"));
  ASSERT_TRUE(x.add_upstream_header("X-Consumer", "partner-1"));
  EXPECT_EQ(x.identity.add_headers, "X-User: alice\r\nX-Consumer: partner-1\r\n");
}

}  // namespace
}  // namespace ringgate
