// The HTTP/2 server session against nghttp2's own client session, in memory: requests, bodies
// and responses; the header-list cap answered 431; the concurrent-stream cap advertised; a
// rapid-reset flood ended with GOAWAY ENHANCE_YOUR_CALM; a client that does not speak HTTP/2.

#include "ringgate/http/h2_session.h"

#include <gtest/gtest.h>
#include <nghttp2/nghttp2.h>
#include <sys/uio.h>

#include <map>
#include <string>
#include <vector>

namespace ringgate {
namespace {

// What the server's handler saw.
struct Seen final : H2Handler {
  struct Req {
    std::string method, scheme, authority, path;
    std::map<std::string, std::string> headers;
    std::string body;
    bool ended = false;
    bool end_stream = false;
  };
  std::map<int32_t, Req> requests;
  std::map<int32_t, uint32_t> closed;

  void on_request(const H2Request& r) override {
    Req& q = requests[r.stream_id];
    q.method = r.method;
    q.scheme = r.scheme;
    q.authority = r.authority;
    q.path = r.path;
    for (const auto& [n, v] : r.headers) {
      q.headers[std::string(n)] = std::string(v);
    }
    q.end_stream = r.end_stream;
    q.ended = r.end_stream;
  }
  void on_body(int32_t id, std::string_view data, bool last) override {
    requests[id].body += data;
    requests[id].ended = requests[id].ended || last;
  }
  void on_stream_closed(int32_t id, uint32_t code) override { closed[id] = code; }
};

// nghttp2's client session, and what it received.
class Client {
 public:
  struct Resp {
    int status = 0;
    std::map<std::string, std::string> headers;
    std::string body;
    bool closed = false;
    uint32_t error = 0;
  };

  Client() {
    nghttp2_session_callbacks* cbs = nullptr;
    nghttp2_session_callbacks_new(&cbs);
    nghttp2_session_callbacks_set_on_header_callback(
        cbs, [](nghttp2_session*, const nghttp2_frame* f, const uint8_t* n, size_t nl,
                const uint8_t* v, size_t vl, uint8_t, void* u) {
          Resp& r = static_cast<Client*>(u)->responses[f->hd.stream_id];
          const std::string name(reinterpret_cast<const char*>(n), nl);
          const std::string value(reinterpret_cast<const char*>(v), vl);
          if (name == ":status") {
            r.status = std::stoi(value);
          } else {
            r.headers[name] = value;
          }
          return 0;
        });
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(
        cbs, [](nghttp2_session*, uint8_t, int32_t id, const uint8_t* d, size_t len, void* u) {
          static_cast<Client*>(u)->responses[id].body.append(reinterpret_cast<const char*>(d), len);
          return 0;
        });
    nghttp2_session_callbacks_set_on_stream_close_callback(
        cbs, [](nghttp2_session*, int32_t id, uint32_t code, void* u) {
          Resp& r = static_cast<Client*>(u)->responses[id];
          r.closed = true;
          r.error = code;
          return 0;
        });
    nghttp2_session_callbacks_set_on_frame_recv_callback(
        cbs, [](nghttp2_session*, const nghttp2_frame* f, void* u) {
          if (f->hd.type == NGHTTP2_GOAWAY) {
            static_cast<Client*>(u)->goaway = static_cast<int64_t>(f->goaway.error_code);
          }
          return 0;
        });
    nghttp2_session_client_new(&session_, cbs, this);
    nghttp2_session_callbacks_del(cbs);
    nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, nullptr, 0);
  }
  ~Client() { nghttp2_session_del(session_); }

  int32_t request(const std::string& method, const std::string& path,
                  std::vector<std::pair<std::string, std::string>> extra = {},
                  const std::string* body = nullptr) {
    std::vector<std::pair<std::string, std::string>> h = {
        {":method", method}, {":scheme", "https"}, {":authority", "api.test"}, {":path", path}};
    h.insert(h.end(), extra.begin(), extra.end());
    std::vector<nghttp2_nv> nva;
    for (auto& [n, v] : h) {
      nva.push_back({reinterpret_cast<uint8_t*>(n.data()), reinterpret_cast<uint8_t*>(v.data()),
                     n.size(), v.size(), NGHTTP2_NV_FLAG_NONE});
    }
    body_ = body ? *body : "";
    body_sent_ = 0;
    nghttp2_data_provider p{};
    p.read_callback = [](nghttp2_session*, int32_t, uint8_t* buf, size_t len, uint32_t* flags,
                         nghttp2_data_source*, void* u) -> ssize_t {
      Client& c = *static_cast<Client*>(u);
      const size_t n = std::min(len, c.body_.size() - c.body_sent_);
      memcpy(buf, c.body_.data() + c.body_sent_, n);
      c.body_sent_ += n;
      if (c.body_sent_ == c.body_.size()) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
      }
      return static_cast<ssize_t>(n);
    };
    return nghttp2_submit_request(session_, nullptr, nva.data(), nva.size(), body ? &p : nullptr,
                                  nullptr);
  }
  nghttp2_session* session() { return session_; }
  // Bytes the client would send now.
  std::string take_output() {
    std::string out;
    const uint8_t* data = nullptr;
    ssize_t n;
    while ((n = nghttp2_session_mem_send(session_, &data)) > 0) {
      out.append(reinterpret_cast<const char*>(data), static_cast<size_t>(n));
    }
    return out;
  }
  void receive(const std::string& bytes) {
    nghttp2_session_mem_recv(session_, reinterpret_cast<const uint8_t*>(bytes.data()),
                             bytes.size());
  }

  std::map<int32_t, Resp> responses;
  int64_t goaway = -1;

 private:
  nghttp2_session* session_ = nullptr;
  std::string body_;
  size_t body_sent_ = 0;
};

class H2SessionTest : public ::testing::Test {
 protected:
  // Moves bytes between the client and `server` until neither side has anything to send; false
  // once the server says the connection is over.
  bool pump(H2Session& server) {
    bool alive = true;
    for (int i = 0; i < 100; ++i) {
      const std::string up = client_.take_output();
      if (!up.empty() && !server.feed(up.data(), up.size())) {
        alive = false;
      }
      std::string down;
      down.swap(server.output());
      server.output_sent(down.size());
      if (!down.empty()) {
        client_.receive(down);
      }
      if (up.empty() && down.empty()) {
        break;
      }
    }
    return alive;
  }
  bool pump() { return pump(server_); }

  H2Limits limits_;
  Seen seen_;
  Client client_;
  H2Session server_{limits_, seen_};
};

TEST_F(H2SessionTest, ARequestReachesTheHandlerAndItsResponseTheClient) {
  ASSERT_TRUE(server_.start());
  const int32_t id = client_.request("GET", "/api/items?x=1", {{"accept", "application/json"}});
  ASSERT_TRUE(pump());
  ASSERT_EQ(seen_.requests.count(id), 1u);
  const Seen::Req& q = seen_.requests[id];
  EXPECT_EQ(q.method, "GET");
  EXPECT_EQ(q.scheme, "https");
  EXPECT_EQ(q.authority, "api.test");
  EXPECT_EQ(q.path, "/api/items?x=1");
  EXPECT_EQ(q.headers.at("accept"), "application/json");
  EXPECT_TRUE(q.end_stream);
  ASSERT_TRUE(server_.respond(id, 200, {{"content-type", "text/plain"}}, "hello"));
  ASSERT_TRUE(pump());
  const Client::Resp& r = client_.responses[id];
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.headers.at("content-type"), "text/plain");
  EXPECT_EQ(r.body, "hello");
  EXPECT_TRUE(r.closed);
  EXPECT_EQ(seen_.closed.at(id), 0u);
  EXPECT_EQ(server_.counts().streams, 1u);
}

TEST_F(H2SessionTest, ARequestBodyArrivesInPiecesAndEnds) {
  ASSERT_TRUE(server_.start());
  const std::string body(100000, 'b');  // over the 64 KiB window: flow control must open it
  const int32_t id = client_.request("POST", "/upload", {}, &body);
  ASSERT_TRUE(pump());
  const Seen::Req& q = seen_.requests[id];
  EXPECT_FALSE(q.end_stream);
  EXPECT_TRUE(q.ended);
  EXPECT_EQ(q.body, body);
  ASSERT_TRUE(server_.respond(id, 201, {}, std::string(70000, 'r')));
  ASSERT_TRUE(pump());
  EXPECT_EQ(client_.responses[id].status, 201);
  EXPECT_EQ(client_.responses[id].body.size(), 70000u);
}

TEST_F(H2SessionTest, WhatWaitsForTheClientsWindowIsCountedUntilItIsSent) {
  ASSERT_TRUE(server_.start());
  const int32_t id = client_.request("GET", "/big");
  ASSERT_TRUE(pump());
  ASSERT_TRUE(server_.submit_head(id, 200, {}, true));
  const std::string body(200000, 'r');  // over the client's 64 KiB window
  ASSERT_TRUE(server_.append_body(id, body));
  ASSERT_TRUE(server_.end_body(id, {}));
  server_.produce();
  // Framed up to the window; the rest waits in the session, and is counted (the overload
  // manager sees it through the connection).
  EXPECT_GE(server_.buffered_bytes(), body.size() - 65535);
  ASSERT_TRUE(pump());  // the client reads and opens its window: the rest goes
  EXPECT_EQ(client_.responses[id].body.size(), body.size());
  EXPECT_EQ(server_.buffered_bytes(), 0u);  // the stream is over: nothing held
}

// A borrowed body is framed from the lender's memory (the frames point into it, nothing is
// copied) and held until the owner says the frames that carry it were sent; what is pinned is
// copied, so the lender may go.
TEST_F(H2SessionTest, ABorrowedBodyIsFramedInPlaceAndHeldUntilItsFramesAreSent) {
  ASSERT_TRUE(server_.start());
  const int32_t a = client_.request("GET", "/a");
  const int32_t b = client_.request("GET", "/b");
  ASSERT_TRUE(pump());
  std::string lender(3000, 'x');
  for (size_t i = 0; i < lender.size(); ++i) {
    lender[i] = static_cast<char>('a' + i % 26);
  }
  ASSERT_TRUE(server_.submit_head(a, 200, {}, true));
  ASSERT_TRUE(server_.append_body_ref(a, std::string_view(lender).substr(0, 1000)));
  ASSERT_TRUE(server_.append_body_ref(a, std::string_view(lender).substr(1000)));
  ASSERT_TRUE(server_.end_body(a, {}));
  EXPECT_TRUE(server_.body_held(a));
  server_.produce();
  H2Output& out = server_.frames();
  ASSERT_TRUE(out.borrows());
  // Some iovec points into the lender, none copies it.
  iovec iov[64];
  const int n = out.iovecs(0, iov, 64);
  size_t borrowed = 0;
  std::string wire;
  for (int i = 0; i < n; ++i) {
    const char* p = static_cast<const char*>(iov[i].iov_base);
    if (p >= lender.data() && p < lender.data() + lender.size()) {
      borrowed += iov[i].iov_len;
    }
    wire.append(p, iov[i].iov_len);
  }
  EXPECT_EQ(borrowed, lender.size());
  EXPECT_EQ(wire.size(), out.size());
  // Still held: the frames are produced, not sent.
  EXPECT_TRUE(server_.body_held(a));
  const size_t produced = out.size();
  out.clear();
  server_.output_sent(produced);
  EXPECT_FALSE(server_.body_held(a));
  client_.receive(wire);
  EXPECT_EQ(client_.responses[a].body, lender);

  // Stream b borrows, then the lender goes before the frames are taken: pinned, they carry
  // the bytes as they were.
  std::string second(500, 'q');
  ASSERT_TRUE(server_.submit_head(b, 200, {}, true));
  ASSERT_TRUE(server_.append_body_ref(b, second));
  ASSERT_TRUE(server_.end_body(b, {}));
  server_.produce();
  server_.pin_stream(b);
  server_.pin_output();
  EXPECT_FALSE(server_.frames().borrows());
  second.assign(500, '!');  // the lender's memory changes
  ASSERT_TRUE(pump());
  EXPECT_EQ(client_.responses[b].body, std::string(500, 'q'));
}

TEST_F(H2SessionTest, AHeaderListOverTheCapIsAnswered431OnItsStream) {
  limits_.max_header_list = 1024;
  H2Session server(limits_, seen_);
  ASSERT_TRUE(server.start());
  const int32_t big = client_.request("GET", "/", {{"x-big", std::string(2000, 'a')}});
  const int32_t fine = client_.request("GET", "/small");
  EXPECT_TRUE(pump(server));
  EXPECT_EQ(seen_.requests.count(big), 0u);  // never handed to the handler
  EXPECT_EQ(client_.responses[big].status, 431);
  EXPECT_NE(client_.responses[big].body.find("max_header_list"), std::string::npos);
  EXPECT_EQ(seen_.requests.count(fine), 1u);  // the connection goes on
  EXPECT_EQ(server.counts().header_list_too_large, 1u);
  EXPECT_EQ(server.goaway_code(), -1);
}

TEST_F(H2SessionTest, TheClientIsHeldToTheConcurrencyCapItIsTold) {
  limits_.max_concurrent_streams = 2;
  H2Session server(limits_, seen_);
  ASSERT_TRUE(server.start());
  // The client hears the cap (SETTINGS first), then asks three requests at once.
  ASSERT_TRUE(pump(server));
  std::vector<int32_t> ids;
  for (int i = 0; i < 3; ++i) {
    ids.push_back(client_.request("GET", "/slow"));
  }
  ASSERT_TRUE(pump(server));
  // The client held the third back: two reached the server.
  EXPECT_EQ(seen_.requests.size(), 2u);
  ASSERT_TRUE(server.respond(ids[0], 200, {}, "a"));
  ASSERT_TRUE(pump(server));
  EXPECT_EQ(seen_.requests.size(), 3u);  // once one ended, the third went
}

TEST_F(H2SessionTest, ARapidResetFloodEndsTheConnectionWithEnhanceYourCalm) {
  limits_.max_resets_per_second = 50;
  H2Session server(limits_, seen_);
  ASSERT_TRUE(server.start());
  bool alive = true;
  // Each stream opened and at once cancelled: the HEADERS go out, then the RST_STREAM.
  for (int i = 0; i < 500 && alive; ++i) {
    const int32_t id = client_.request("GET", "/");
    std::string up = client_.take_output();
    alive = server.feed(up.data(), up.size());
    nghttp2_submit_rst_stream(client_.session(), NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
    up = client_.take_output();
    alive = alive && server.feed(up.data(), up.size());
    std::string down;
    down.swap(server.output());
    client_.receive(down);
  }
  EXPECT_FALSE(alive);
  EXPECT_EQ(server.goaway_code(), NGHTTP2_ENHANCE_YOUR_CALM);
  EXPECT_EQ(client_.goaway, NGHTTP2_ENHANCE_YOUR_CALM);
  EXPECT_EQ(server.counts().goaways_calm, 1u);
  EXPECT_LE(server.counts().resets_received, 200u);  // stopped within the budget's reach
}

TEST(H2Limits, TakeServerHttp2AsLoaded) {
  Http2Config c;
  c.max_concurrent_streams = 7;
  c.initial_window = 1 << 20;
  c.max_header_list = 4096;
  c.max_resets_per_second = 9;
  const H2Limits l = H2Limits::from(c);
  EXPECT_EQ(l.max_concurrent_streams, 7u);
  EXPECT_EQ(l.initial_window, 1u << 20);
  EXPECT_EQ(l.max_header_list, 4096u);
  EXPECT_EQ(l.max_resets_per_second, 9u);
}

TEST_F(H2SessionTest, AClientThatDoesNotSpeakHttp2GetsGoawayProtocolError) {
  ASSERT_TRUE(server_.start());
  const std::string http1 = "GET / HTTP/1.1\r\nHost: api.test\r\n\r\n";
  EXPECT_FALSE(server_.feed(http1.data(), http1.size()));
  EXPECT_EQ(server_.goaway_code(), NGHTTP2_PROTOCOL_ERROR);
  EXPECT_TRUE(seen_.requests.empty());
}

}  // namespace
}  // namespace ringgate
