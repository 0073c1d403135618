// A warm HTTP/2 server session serves a stream with no heap allocation: its entry, head storage,
// request and field lists are reused, and nghttp2's own memory comes from the session's pool.
// Counted by replacing the global operator new in this test binary (our code) and by the pool's
// count of blocks it had to take from the heap (the library's).

#include <gtest/gtest.h>
#include <nghttp2/nghttp2.h>

#include <string>
#include <string_view>

#include "counting_new.h"
#include "ringgate/http/h2_session.h"

namespace ringgate {
namespace {

// Records nothing that allocates.
struct Quiet final : H2Handler {
  int32_t last = 0;
  int requests = 0;
  int closed = 0;
  void on_request(const H2Request& r) override {
    last = r.stream_id;
    ++requests;
  }
  void on_body(int32_t, std::string_view, bool) override {}
  void on_stream_closed(int32_t, uint32_t) override { ++closed; }
};

nghttp2_nv nv(const char* name, const char* value) {
  return {reinterpret_cast<uint8_t*>(const_cast<char*>(name)),
          reinterpret_cast<uint8_t*>(const_cast<char*>(value)), strlen(name), strlen(value),
          NGHTTP2_NV_FLAG_NONE};
}

TEST(H2SessionAllocations, AWarmSessionServesAStreamWithoutAHeapAllocation) {
  Quiet handler;
  H2Session server(H2Limits{}, handler);
  ASSERT_TRUE(server.start());

  nghttp2_session_callbacks* cbs = nullptr;
  nghttp2_session_callbacks_new(&cbs);
  nghttp2_session* client = nullptr;
  int responses = 0;
  nghttp2_session_callbacks_set_on_stream_close_callback(
      cbs, [](nghttp2_session*, int32_t, uint32_t, void* u) {
        ++*static_cast<int*>(u);
        return 0;
      });
  ASSERT_EQ(nghttp2_session_client_new(&client, cbs, &responses), 0);
  nghttp2_session_callbacks_del(cbs);
  nghttp2_submit_settings(client, NGHTTP2_FLAG_NONE, nullptr, 0);

  nghttp2_nv request[] = {nv(":method", "GET"),
                          nv(":scheme", "http"),
                          nv(":authority", "api.example"),
                          nv(":path", "/items/42?page=2"),
                          nv("user-agent", "test/1.0"),
                          nv("accept", "application/json")};
  const H2Fields fields = {{"content-type", "application/json"}, {"cache-control", "no-store"}};
  std::string to_server;
  to_server.reserve(64 * 1024);
  server.output().reserve(64 * 1024);

  // One request and its answer, every byte moved both ways.
  auto exchange = [&] {
    nghttp2_submit_request(client, nullptr, request, sizeof request / sizeof request[0], nullptr,
                           nullptr);
    const uint8_t* data = nullptr;
    ssize_t n = 0;
    to_server.clear();
    while ((n = nghttp2_session_mem_send(client, &data)) > 0) {
      to_server.append(reinterpret_cast<const char*>(data), static_cast<size_t>(n));
    }
    server.feed(to_server.data(), to_server.size());
    const int32_t id = handler.last;
    server.submit_head(id, 200, fields, true);
    server.append_body(id, "{\"id\":42,\"name\":\"headlamp\"}");
    server.end_body(id, {});
    server.produce();
    std::string& out = server.output();
    nghttp2_session_mem_recv(client, reinterpret_cast<const uint8_t*>(out.data()), out.size());
    out.clear();
    // The client's acknowledgements and window updates reach the server too.
    to_server.clear();
    while ((n = nghttp2_session_mem_send(client, &data)) > 0) {
      to_server.append(reinterpret_cast<const char*>(data), static_cast<size_t>(n));
    }
    server.feed(to_server.data(), to_server.size());
    server.output().clear();
  };

  for (int i = 0; i < 300; ++i) {
    exchange();  // warm-up: the pools and buffers fill here
  }
  ASSERT_EQ(responses, 300);
  const uint64_t heap_before = server.heap_allocations();
  EXPECT_EQ(counting_new::count([&] {
              for (int i = 0; i < 200; ++i) {
                exchange();
              }
            }),
            0u);
  EXPECT_EQ(server.heap_allocations(), heap_before);
  EXPECT_EQ(responses, 500);
  EXPECT_EQ(handler.requests, 500);
  EXPECT_EQ(handler.closed, 500);
  nghttp2_session_del(client);
}

}  // namespace
}  // namespace ringgate
