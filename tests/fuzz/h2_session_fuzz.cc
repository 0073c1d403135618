// libFuzzer target for the HTTP/2 server session (what a client's connection feeds it): the
// client connection preface, then the input as frames, fed in pieces whose size the first byte
// picks. Every request is answered at once (a small body), so the response paths run too.
// Invariants: the handler hears of bodies and closes only on streams it saw a request for,
// each stream closes once, and once feed() says the connection is over it stays over.

#define FUZZ_TARGET "fuzz_h2_session"

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <set>
#include <string>
#include <string_view>

#include "fuzz_check.h"
#include "ringgate/http/h2_session.h"

namespace {

constexpr char kPreface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

struct Answerer final : ringgate::H2Handler {
  ringgate::H2Session* session = nullptr;
  std::set<int32_t> seen;
  std::set<int32_t> closed;

  void on_request(const ringgate::H2Request& r) override {
    FUZZ_CHECK(seen.insert(r.stream_id).second);
    FUZZ_CHECK(r.stream_id > 0 && (r.stream_id & 1) == 1);
    session->respond(r.stream_id, 200, {{"content-type", "text/plain"}}, "ok");
  }
  void on_body(int32_t id, std::string_view, bool) override { FUZZ_CHECK(seen.count(id) == 1); }
  void on_stream_closed(int32_t id, uint32_t) override {
    FUZZ_CHECK(seen.count(id) == 1);
    FUZZ_CHECK(closed.insert(id).second);
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) {
    return 0;
  }
  const size_t piece = 1 + data[0] % 64;  // 1..64 bytes a feed
  ringgate::H2Limits limits;
  limits.max_concurrent_streams = 8;
  limits.max_header_list = 2048;
  Answerer handler;
  ringgate::H2Session session(limits, handler);
  handler.session = &session;
  if (!session.start()) {
    return 0;
  }
  std::string input(kPreface, sizeof kPreface - 1);
  input.append(reinterpret_cast<const char*>(data) + 1, size - 1);
  bool over = false;
  for (size_t at = 0; at < input.size(); at += piece) {
    const bool alive = session.feed(input.data() + at, std::min(piece, input.size() - at));
    FUZZ_CHECK(!(over && alive));  // over stays over
    over = !alive;
    session.output().clear();
  }
  return 0;
}
