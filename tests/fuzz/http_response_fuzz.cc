// libFuzzer target for ResponseParser: reads an upstream's byte stream twice, with the fast path
// (responses of the common shape read without llhttp) and through llhttp alone, and requires the
// same events, status, fields, framing, keep-alive, body bytes and errors, then the same outcome
// when the upstream closes. Pieces live in their own heap blocks, freed once fed, so
// AddressSanitizer catches a read past a piece or a view that outlives it.
//
// Input layout: byte 0 = flags (bit 0: the request was HEAD; bits 2-3: k, the number of split
// bytes), then k split bytes, then the stream. Piece i has length split[i % k] (0 = the rest).

#define FUZZ_TARGET "fuzz_http_response"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_check.h"
#include "ringgate/http/request_parser.h"

namespace {

using ringgate::MessageParser;
using ringgate::ResponseParser;

struct Fixture {
  ringgate::Limits limits;
  std::vector<ringgate::HeaderSpan> spans;
  ringgate::BlockPool* pool = nullptr;
  ringgate::ParserContext ctx;

  Fixture() {
    limits.header_bytes = 1024;
    limits.headers = 16;
    limits.body_bytes = 4096;  // not a bound on responses: they stream through
    spans.resize(limits.headers);
    pool = new ringgate::BlockPool(ringgate::scratch_block_size(limits), 1);
    ctx.limits = &limits;
    ctx.scratch_pool = pool;
    ctx.shared_spans = spans.data();
  }
};

Fixture& fixture() {
  static Fixture* f = new Fixture();
  return *f;
}

bool verbose() {
  static const bool v = std::getenv("FUZZ_HTTP_VERBOSE") != nullptr;
  return v;
}

class Sink final : public ringgate::BodySink {
 public:
  void on_body(std::string_view data) override {
    uint64_t sum = 0;
    for (char c : data) {
      sum += static_cast<unsigned char>(c);  // reads every byte: ASan flags freed memory
    }
    bytes += data.size();
    checksum += sum;
  }
  uint64_t bytes = 0;
  uint64_t checksum = 0;
};

void describe_event(const ResponseParser& p, MessageParser::Event ev, const Sink& sink,
                    std::string& trace) {
  switch (ev) {
    case MessageParser::Event::kHead:
      trace += "head " + std::to_string(p.status()) + " body=" + std::to_string(p.has_body()) +
               " cl=" + std::to_string(p.has_content_length()) + ":" +
               std::to_string(p.content_length()) + " chunked=" + std::to_string(p.chunked()) +
               " ka=" + std::to_string(p.keep_alive()) + " upgrade=" + std::to_string(p.upgrade()) +
               " bytes=" + std::to_string(p.head_bytes());
      for (int i = 0; i < p.header_count(); ++i) {
        FUZZ_CHECK(!p.header_name(i).empty());
        trace += " [" + std::string(p.header_name(i)) + "=" + std::string(p.header_value(i)) + "]";
      }
      trace += "\n";
      break;
    case MessageParser::Event::kMessageComplete:
      trace += "complete body=" + std::to_string(sink.bytes) + ":" + std::to_string(sink.checksum) +
               " ka=" + std::to_string(p.keep_alive()) + " trailers=" + std::string(p.trailers()) +
               "\n";
      break;
    case MessageParser::Event::kError:
      FUZZ_CHECK(p.error().kind != ringgate::ErrorKind::kNone);
      trace += "error\n";
      break;
    case MessageParser::Event::kNeedMore:
      break;
  }
}

void read_input(const uint8_t* data, size_t size, bool fast, std::string& trace) {
  Fixture& f = fixture();
  const bool head_request = data[0] & 1;
  const size_t k = (data[0] >> 2) % 4;
  const uint8_t* split = data + 1;
  const uint8_t* stream = data + 1 + k;
  size_t remaining = size - 1 - k;
  Sink sink;
  ResponseParser parser;
  parser.init(&f.ctx);
  parser.set_plain_fast_path(fast);
  parser.set_head_request(head_request);
  parser.set_body_sink(&sink);
  bool dead = false;
  size_t piece_index = 0;
  while (remaining > 0 && !dead) {
    size_t n = remaining;
    if (k > 0 && split[piece_index % k] != 0) {
      n = split[piece_index % k] < remaining ? split[piece_index % k] : remaining;
    }
    ++piece_index;
    char* buf = static_cast<char*>(std::malloc(n));
    std::memcpy(buf, stream, n);
    stream += n;
    remaining -= n;
    size_t off = 0;
    int idle_rounds = 0;
    for (;;) {
      size_t consumed = 0;
      const MessageParser::Event ev = parser.feed(buf + off, n - off, consumed);
      FUZZ_CHECK(consumed <= n - off);
      off += consumed;
      idle_rounds = consumed == 0 ? idle_rounds + 1 : 0;
      FUZZ_CHECK(idle_rounds <= 3);
      describe_event(parser, ev, sink, trace);
      if (ev == MessageParser::Event::kMessageComplete) {
        sink.bytes = 0;
        sink.checksum = 0;
      }
      if (ev == MessageParser::Event::kError) {
        dead = true;
        break;
      }
      if (off >= n && ev != MessageParser::Event::kHead) {
        break;
      }
    }
    std::free(buf);
  }
  if (!dead) {
    // (After an error the parser is dead and its connection closed: nothing more to compare.)
    trace += parser.in_message() ? "in message, " : "between messages, ";
    trace += "eof: ";
    describe_event(parser, parser.finish(), sink, trace);
  }
  parser.release();
  FUZZ_CHECK(f.pool->in_use() == 0);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0 || size < 1 + size_t{(data[0] >> 2) % 4u}) {
    return 0;
  }
  std::string fast;
  std::string slow;
  read_input(data, size, true, fast);
  read_input(data, size, false, slow);
  if (verbose() || fast != slow) {
    std::fprintf(stderr, "fast path:\n%s\nllhttp:\n%s\n", fast.c_str(), slow.c_str());
  }
  FUZZ_CHECK(fast == slow);
  return 0;
}
