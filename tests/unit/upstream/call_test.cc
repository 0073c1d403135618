// ProxyCall's state machine driven by fake completions: a real reactor holds the submissions
// (never sent to the kernel), and the test plays the kernel's part by completing the upstream
// connection's operations itself, with response bytes placed in the reactor's buffers. The
// client side is a fake Downstream that records what reaches it.

#include "ringgate/upstream/call.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "client_request.h"
#include "ringgate/config/config.h"
#include "ringgate/core/shard.h"
#include "ringgate/http/error_reply.h"
#include "ringgate/upstream/upstream_shard.h"
#include "upstream/pool.h"

namespace ringgate {
namespace {

constexpr const char* kConfig = R"(
server: {listen: [{address: "127.0.0.1:0"}]}
upstreams:
  api: {endpoints: ["127.0.0.1:1", "127.0.0.1:2"], connect_timeout: 1s}
routes:
  - match: {prefix: /}
    upstream: {cluster: api, retries: 1, timeout: 5s}
)";

// What reaches the client.
class FakeClient final : public Downstream {
 public:
  char* out_space(size_t& avail) override {
    avail = sizeof out_ - used_;
    return out_ + used_;
  }
  void out_commit(size_t n) override { used_ += n; }
  bool out_pending() const override { return used_ > flushed_; }
  void out_discard() override { used_ = flushed_; }
  void out_flush() override { flushed_ = used_; }
  bool closing() const override { return false; }
  void count_status(int status) override { counted.push_back(status); }
  const ResponseHead& response_head(int) override { return head_; }
  std::string_view date_line() const override { return "Date: Sun, 06 Dec 2026 12:00:00 GMT\r\n"; }
  void response_done(bool keep_alive) override {
    ++done;
    done_keep_alive = keep_alive;
  }
  void response_failed(const Error& error, bool) override { failed.push_back(error); }
  void response_cut() override { ++cut; }
  void respond(int, std::string_view, std::string_view, std::string*, bool) override {}
  void respond_stored(const Reply&, bool) override {}
  void request_room() override { ++room_calls; }
  void tunnel() override { ++tunnels; }

  std::string sent() const { return std::string(out_, flushed_); }

  std::vector<int> counted;
  std::vector<Error> failed;
  int done = 0;
  bool done_keep_alive = false;
  int cut = 0;
  int room_calls = 0;
  int tunnels = 0;

 private:
  char out_[16384];
  size_t used_ = 0;
  size_t flushed_ = 0;
  ResponseHead head_{0, nullptr, 0};
};

class Owner final : public ExchangeOwner {
 public:
  void resumed(Exchange&, FilterStatus) override {}
  std::string_view peer_ip() override { return "192.0.2.7"; }
};

class CallTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_ = std::make_unique<Config>(load_config_string(kConfig, "call_test"));
    shard_ = std::make_unique<Shard>(0);
    ReactorOptions options;
    options.entries = 256;  // room for every submission a test makes: nothing reaches the kernel
    options.buffer_size = 4096;
    options.buffer_count = 16;
    std::string error;
    if (!shard_->init(options, error)) {
      GTEST_SKIP() << "io_uring refused: " << error;
    }
    chains_ = std::make_unique<BufferChains>(shard_->reactor(), options.buffer_count);
    shared_ = std::make_unique<SharedCluster>(2);
    for (size_t i = 0; i < 2; ++i) {
      ASSERT_TRUE(parse_socket_address(config_->upstreams[0].endpoints[i].address, addresses_[i]));
      shared_->endpoints[i].address.store(&addresses_[i]);
    }
    upstream_ = std::make_unique<UpstreamShard>(*shard_, *config_, *chains_,
                                                std::vector<SharedCluster*>{shared_.get()}, 1);
    request_ = std::make_unique<ClientRequest>(config_->server.limits);
  }

  void TearDown() override {
    if (!upstream_) {
      return;
    }
    // Pooled connections close; every closed connection waits for its operations' last
    // completions before it is freed. Here the kernel finally gets the submissions the test held
    // back (connects to ports nothing listens on, receives, cancels) and answers them all.
    upstream_->begin_drain();
    Reactor& reactor = shard_->reactor();
    for (int round = 0; round < 100 && !upstream_->idle(); ++round) {
      reactor.wait(10);
      reactor.dispatch();
      upstream_->end_of_iteration();
    }
    EXPECT_TRUE(upstream_->idle()) << "an upstream connection was never freed";
  }

  // Parses `request` as the client's and starts a call for it.
  ProxyCall* start(std::string request) {
    x_ = &request_->parse(std::move(request), owner_);
    ProxyCall* call = upstream_->acquire_call();
    const UpstreamAction& action = std::get<UpstreamAction>(config_->routes[0].action);
    const Error error =
        call->start(*x_, client_, config_->routes[0], action, upstream_->cluster(0));
    EXPECT_FALSE(error) << error_text(error.kind);
    return call;
  }

  // The kernel's part: the connection's pending operation completes with `res`.
  static void complete(UpstreamConn* conn, unsigned op, int res, uint32_t flags = 0) {
    ASSERT_NE(conn, nullptr);
    conn->complete(op, res, flags);
  }
  // The same for its socket's receive or send (PlainTransport::kOpRecv / kOpSend).
  static void complete_io(UpstreamConn* conn, unsigned op, int res, uint32_t flags = 0) {
    ASSERT_NE(conn, nullptr);
    conn->transport().complete(op, res, flags);
  }
  void connect_and_send(ProxyCall* call) {
    UpstreamConn* conn = call->upstream();
    complete(conn, UpstreamConn::kOpConnect, 0);
    const int pending = static_cast<int>(call->request_pending());
    ASSERT_GT(pending, 0);
    sent_ = std::string(call->request_data(), static_cast<size_t>(pending));
    complete_io(conn, PlainTransport::kOpSend, pending);
  }
  // `bytes` arrive from the upstream in one provided buffer.
  void receive(UpstreamConn* conn, std::string_view bytes) {
    Reactor& r = shard_->reactor();
    const uint16_t bid = next_bid_++ % 16;
    ASSERT_LE(bytes.size(), r.buffer_size());
    std::memcpy(r.buffer(bid), bytes.data(), bytes.size());
    complete_io(conn, PlainTransport::kOpRecv, static_cast<int>(bytes.size()),
                kCompletionBuffer | kCompletionMore | (uint32_t{bid} << kCompletionBufferShift));
  }
  void expire_timers(uint64_t after_ms) { shard_->timers().advance(shard_->now_ms() + after_ms); }
  const ClusterCounters& counters() { return upstream_->cluster(0).counters; }

  std::unique_ptr<Config> config_;
  std::unique_ptr<Shard> shard_;
  std::unique_ptr<BufferChains> chains_;
  std::unique_ptr<SharedCluster> shared_;
  SocketAddress addresses_[2];
  std::unique_ptr<UpstreamShard> upstream_;
  std::unique_ptr<ClientRequest> request_;
  std::string sent_;
  Owner owner_;
  Exchange* x_ = nullptr;
  FakeClient client_;
  uint16_t next_bid_ = 0;
};

TEST_F(CallTest, ResponseStreamsToTheClientAndTheConnectionIsPooled) {
  ProxyCall* call = start("GET /items?a=1 HTTP/1.1\r\nHost: shop\r\n\r\n");
  EXPECT_EQ(call->state(), ProxyCall::State::kTrying);
  call->on_request_complete(true);
  UpstreamConn* conn = call->upstream();
  connect_and_send(call);
  EXPECT_EQ(call->state(), ProxyCall::State::kSent);
  EXPECT_EQ(sent_.rfind("GET /items?a=1 HTTP/1.1\r\n", 0), 0u) << sent_;
  EXPECT_NE(sent_.find("X-Forwarded-For: 192.0.2.7\r\n"), std::string::npos) << sent_;
  receive(conn, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello");
  EXPECT_EQ(client_.done, 1);
  EXPECT_TRUE(client_.done_keep_alive);
  EXPECT_EQ(client_.counted, std::vector<int>{200});
  EXPECT_NE(client_.sent().find("\r\n\r\nhello"), std::string::npos) << client_.sent();
  EXPECT_EQ(call->state(), ProxyCall::State::kIdle);
  EXPECT_EQ(conn->state(), UpstreamConn::State::kIdle);  // back in its endpoint's pool
  EXPECT_EQ(counters().responses_2xx.load(), 1u);
  EXPECT_EQ(counters().pool_misses.load(), 1u);
}

TEST_F(CallTest, InterimResponsesAreReadPastNotForwarded) {
  ProxyCall* call = start("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
  call->on_request_complete(true);
  UpstreamConn* conn = call->upstream();
  connect_and_send(call);
  receive(conn, "HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n");
  EXPECT_EQ(call->state(), ProxyCall::State::kSent);  // kInterim ended with the 103's end
  receive(conn, "HTTP/1.1 204 No Content\r\n\r\n");
  EXPECT_EQ(client_.done, 1);
  EXPECT_EQ(client_.sent().find("103"), std::string::npos) << client_.sent();
  EXPECT_EQ(client_.sent().rfind("HTTP/1.1 204", 0), 0u) << client_.sent();
}

TEST_F(CallTest, ARefusedConnectIsRetriedOnTheOtherEndpoint) {
  ProxyCall* call = start("POST /orders HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n");
  call->on_request_complete(true);
  UpstreamConn* first = call->upstream();
  complete(first, UpstreamConn::kOpConnect, -ECONNREFUSED);
  // Nothing reached the upstream: even a POST goes to the other endpoint.
  ASSERT_EQ(call->state(), ProxyCall::State::kTrying);
  UpstreamConn* second = call->upstream();
  ASSERT_NE(second, nullptr);
  EXPECT_NE(&second->endpoint(), &first->endpoint());
  connect_and_send(call);
  receive(second, "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(client_.done, 1);
  EXPECT_EQ(counters().retries.load(), 1u);
  EXPECT_EQ(counters().connect_failures.load(), 1u);
}

TEST_F(CallTest, AResetAfterAPostWasSentIsNotRetried) {
  ProxyCall* call = start("POST /pay HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n");
  call->on_request_complete(true);
  UpstreamConn* conn = call->upstream();
  connect_and_send(call);
  complete_io(conn, PlainTransport::kOpRecv, -ECONNRESET);
  // The upstream may have acted on it: the gateway answers instead of trying again.
  EXPECT_EQ(call->state(), ProxyCall::State::kIdle);
  ASSERT_EQ(client_.failed.size(), 1u);
  EXPECT_EQ(client_.failed[0].kind, ErrorKind::kReset);
  EXPECT_EQ(error_status(client_.failed[0]), 502);
  EXPECT_EQ(counters().retries.load(), 0u);
  EXPECT_EQ(counters().failures_502.load(), 1u);
}

TEST_F(CallTest, AnUpstream503IsRetriedElsewhere) {
  ProxyCall* call = start("GET /x HTTP/1.1\r\nHost: h\r\n\r\n");
  call->on_request_complete(true);
  UpstreamConn* first = call->upstream();
  connect_and_send(call);
  receive(first, "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n");
  ASSERT_EQ(call->state(), ProxyCall::State::kTrying);
  UpstreamConn* second = call->upstream();
  connect_and_send(call);
  receive(second, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  EXPECT_EQ(client_.done, 1);
  EXPECT_EQ(client_.counted, std::vector<int>{200});  // the 503 never reached the client
  EXPECT_EQ(client_.sent().find("503"), std::string::npos);
}

TEST_F(CallTest, AHeadNotYetSentIsTakenBackAndAnotherTryAnswers) {
  ProxyCall* call = start("GET /big HTTP/1.1\r\nHost: h\r\n\r\n");
  call->on_request_complete(true);
  UpstreamConn* first = call->upstream();
  connect_and_send(call);
  // The head arrives with a broken chunk in the same batch: the head is staged in the client's
  // output but no send has it yet, so it is taken back and the other endpoint answers.
  receive(first, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\n");
  ASSERT_EQ(call->state(), ProxyCall::State::kTrying);
  EXPECT_TRUE(client_.counted.empty());
  EXPECT_EQ(client_.sent(), "");
  UpstreamConn* second = call->upstream();
  connect_and_send(call);
  receive(second, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  EXPECT_EQ(client_.done, 1);
  EXPECT_EQ(client_.counted, std::vector<int>{200});
  EXPECT_EQ(counters().bad_responses.load(), 1u);
}

TEST_F(CallTest, AResponseThatWentOutIsCutWhenItsConnectionBreaks) {
  ProxyCall* call = start("GET /big HTTP/1.1\r\nHost: h\r\n\r\n");
  call->on_request_complete(true);
  UpstreamConn* conn = call->upstream();
  connect_and_send(call);
  receive(conn, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n01234");
  EXPECT_EQ(client_.counted, std::vector<int>{200});  // flushed after the batch: it is out
  complete_io(conn, PlainTransport::kOpRecv, -ECONNRESET);
  EXPECT_EQ(client_.cut, 1);
  EXPECT_TRUE(client_.failed.empty());
  EXPECT_EQ(call->state(), ProxyCall::State::kIdle);
}

TEST_F(CallTest, ATryThatTimesOutIsRetriedThenAnswered504) {
  ProxyCall* call = start("GET /slow HTTP/1.1\r\nHost: h\r\n\r\n");
  call->on_request_complete(true);
  connect_and_send(call);
  // The shard's clock stands still here, so the retry's deadline falls within the same advance:
  // the first try times out, the second (on the other endpoint) too, then the route's one retry
  // is used up and the gateway answers 504.
  expire_timers(6000);
  EXPECT_EQ(call->state(), ProxyCall::State::kIdle);
  ASSERT_EQ(client_.failed.size(), 1u);
  EXPECT_EQ(client_.failed[0].kind, ErrorKind::kTimeout);
  EXPECT_EQ(error_status(client_.failed[0]), 504);
  EXPECT_EQ(counters().timeouts.load(), 2u);
  EXPECT_EQ(counters().retries.load(), 1u);
  EXPECT_EQ(counters().failures_504.load(), 1u);
}

TEST_F(CallTest, TheClientLeavingMidResponseClosesTheUpstreamConnection) {
  ProxyCall* call = start("GET /x HTTP/1.1\r\nHost: h\r\n\r\n");
  call->on_request_complete(true);
  UpstreamConn* conn = call->upstream();
  connect_and_send(call);
  receive(conn, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npart");
  EXPECT_EQ(call->state(), ProxyCall::State::kResponding);
  call->on_client_gone();
  EXPECT_EQ(call->state(), ProxyCall::State::kIdle);
  EXPECT_TRUE(conn->closed());  // out of step: never pooled
  EXPECT_EQ(client_.done + client_.cut + static_cast<int>(client_.failed.size()), 0);
}

TEST_F(CallTest, A101TurnsTheCallIntoATunnelUntilTheClientCloses) {
  ProxyCall* call =
      start("GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n");
  call->on_request_complete(false);
  UpstreamConn* conn = call->upstream();
  connect_and_send(call);
  receive(conn,
          "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n");
  EXPECT_EQ(call->state(), ProxyCall::State::kTunnel);
  EXPECT_EQ(client_.tunnels, 1);
  receive(conn, "frame-from-upstream");
  EXPECT_NE(client_.sent().find("frame-from-upstream"), std::string::npos);
  call->on_tunnel_input("frame-from-client", 17);
  call->flush_request();
  EXPECT_EQ(std::string(call->request_data(), call->request_pending()), "frame-from-client");
  complete_io(conn, PlainTransport::kOpSend, 17);
  call->on_client_eof();  // nothing left to send: the tunnel ends
  EXPECT_EQ(call->state(), ProxyCall::State::kIdle);
  EXPECT_EQ(client_.done, 1);
  EXPECT_FALSE(client_.done_keep_alive);
}

TEST_F(CallTest, AnUnaskedForSwitchIsABadResponse) {
  ProxyCall* call = start("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
  call->on_request_complete(true);
  UpstreamConn* first = call->upstream();
  connect_and_send(call);
  receive(first, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n");
  EXPECT_EQ(counters().bad_responses.load(), 1u);
  EXPECT_EQ(call->state(), ProxyCall::State::kTrying);  // idempotent: tried elsewhere
}

}  // namespace
}  // namespace ringgate
