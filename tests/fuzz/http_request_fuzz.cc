// libFuzzer target for RequestParser: feeds the input the way a connection does, split into
// pieces that each live in their own heap buffer (freed as soon as the parser is done with them,
// as ring buffers are recycled), so AddressSanitizer catches any view that outlives its bytes.
// Every input is read twice, with the fast path (heads of the common shape read without llhttp)
// and without it: the two must report the same events, fields, framing and errors.
//
// Input layout: byte 0 = k (number of split bytes, k % 4), then k split bytes, then the stream.
// Piece i has length split[i % k] (a split byte of 0 means "the rest"); k = 0 → one piece.

#define FUZZ_TARGET "fuzz_http_request"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_check.h"
#include "ringgate/http/error_reply.h"
#include "ringgate/http/request_parser.h"

namespace {

using ringgate::BlockPool;
using ringgate::HeaderSpan;
using ringgate::Limits;
using ringgate::ParserContext;
using ringgate::RequestParser;

struct Fixture {
  Limits limits;
  std::vector<HeaderSpan> spans;
  BlockPool* pool = nullptr;
  ParserContext ctx;
  const char* scratch = nullptr;  // the only block the pool ever hands out

  Fixture() {
    limits.header_bytes = 1024;
    limits.headers = 16;
    limits.request_line = 256;
    limits.body_bytes = 4096;
    spans.resize(limits.headers);
    pool = new BlockPool(ringgate::scratch_block_size(limits), 1);
    // Warm the pool with one block: with one parser at a time every acquire() returns it, so a
    // view is valid iff it lies in the piece being fed or in this block.
    void* b = pool->acquire();
    pool->release(b);
    scratch = static_cast<const char*>(b);
    ctx.limits = &limits;
    ctx.scratch_pool = pool;
    ctx.shared_spans = spans.data();
  }
};

Fixture& fixture() {
  static Fixture* f = new Fixture();
  return *f;
}

volatile uint64_t g_sink;

// FUZZ_HTTP_VERBOSE=1: print each event (to see what an input does when replaying it).
bool verbose() {
  static const bool v = std::getenv("FUZZ_HTTP_VERBOSE") != nullptr;
  return v;
}

struct Piece {
  const char* data;
  size_t len;
};

bool within(std::string_view v, const char* base, size_t len) {
  if (v.empty()) {
    return true;
  }
  const auto p = reinterpret_cast<uintptr_t>(v.data());
  const auto b = reinterpret_cast<uintptr_t>(base);
  return p >= b && p + v.size() <= b + len && p + v.size() >= p;
}

void check_view(const Fixture& f, const Piece& piece, std::string_view v) {
  FUZZ_CHECK(within(v, piece.data, piece.len) || within(v, f.scratch, f.limits.header_bytes));
  uint64_t sum = 0;
  for (char c : v) {
    sum += static_cast<unsigned char>(c);  // reads every byte: ASan flags freed or foreign memory
  }
  g_sink = g_sink + sum;
}

class Sink final : public ringgate::BodySink {
 public:
  explicit Sink(const Fixture& f) : f_(f) {}
  void on_body(std::string_view data) override {
    ++calls;
    bytes += data.size();
    check_view(f_, piece, data);
  }
  Piece piece{nullptr, 0};
  uint64_t calls = 0;
  uint64_t bytes = 0;

 private:
  const Fixture& f_;
};

void check_head(const Fixture& f, const Piece& piece, const RequestParser& p) {
  const Limits& l = f.limits;
  FUZZ_CHECK(p.header_count() >= 0);
  FUZZ_CHECK(static_cast<uint32_t>(p.header_count()) <= l.headers);
  FUZZ_CHECK(p.target().size() <= l.request_line);
  FUZZ_CHECK(p.head_bytes() <= l.header_bytes);
  FUZZ_CHECK(!p.in_head());
  check_view(f, piece, p.target());
  check_view(f, piece, p.path());
  check_view(f, piece, p.query());
  FUZZ_CHECK(p.path().size() + p.query().size() <= p.target().size());
  check_view(f, piece, p.host());
  for (int i = 0; i < p.header_count(); ++i) {
    check_view(f, piece, p.header_name(i));
    check_view(f, piece, p.header_value(i));
    FUZZ_CHECK(!p.header_name(i).empty());
  }
  g_sink = g_sink + static_cast<uint64_t>(p.method()) + p.has_body() + p.keep_alive() +
           p.expect_continue() + p.content_length();
  if (p.expect_continue()) {
    std::string_view e = p.header("expect");
    FUZZ_CHECK(!e.empty());
  }
}

// What a consumer reads of a head, written out for the two readings' comparison; the path is
// normalised as a connection does before routing (a fast path may have found it normal already).
void describe_head(RequestParser& p, std::string& trace) {
  trace +=
      "head " + std::to_string(p.method()) + " " + std::string(p.target()) + " 1." +
      std::to_string(p.http_minor()) + " host=" + std::string(p.host()) +
      " body=" + std::to_string(p.has_body()) + " cl=" + std::to_string(p.has_content_length()) +
      ":" + std::to_string(p.content_length()) + " chunked=" + std::to_string(p.chunked()) +
      " ka=" + std::to_string(p.keep_alive()) + " upgrade=" + std::to_string(p.upgrade()) +
      " expect=" + std::to_string(p.expect_continue()) + " bytes=" + std::to_string(p.head_bytes());
  for (int i = 0; i < p.header_count(); ++i) {
    trace += " [" + std::string(p.header_name(i)) + "=" + std::string(p.header_value(i)) + "]";
  }
  uint8_t path_flags = 0;
  // Which refusal, not only whether: the two reads must refuse a target for the same reason.
  ringgate::Error refusal;
  p.normalize_path(&path_flags, &refusal);
  trace += " normalised=" + std::to_string(static_cast<int>(refusal.kind)) + ":" +
           std::string(p.path()) + ":" + std::to_string(path_flags) +
           " query=" + std::string(p.query()) + "\n";
}

void read_input(const uint8_t* data, size_t size, bool fast, std::string& trace) {
  Fixture& f = fixture();
  const size_t k = data[0] % 4;
  const uint8_t* split = data + 1;
  const uint8_t* stream = data + 1 + k;
  size_t remaining = size - 1 - k;

  Sink sink(f);
  {
    RequestParser parser;
    parser.init(&f.ctx);
    parser.set_plain_fast_path(fast);
    parser.set_body_sink(&sink);
    bool dead = false;
    size_t piece_index = 0;
    uint64_t heads = 0;
    uint64_t completes = 0;
    while (remaining > 0 && !dead) {
      size_t n = remaining;
      if (k > 0 && split[piece_index % k] != 0) {
        n = split[piece_index % k] < remaining ? split[piece_index % k] : remaining;
      }
      ++piece_index;
      // Its own heap block, exactly n bytes, so reads past the end or after free are caught.
      char* buf = static_cast<char*>(std::malloc(n));
      std::memcpy(buf, stream, n);
      stream += n;
      remaining -= n;
      const Piece piece{buf, n};
      sink.piece = piece;

      size_t off = 0;
      int idle_rounds = 0;  // feeds in a row that consumed nothing
      for (;;) {
        size_t consumed = 0;
        const RequestParser::Event ev = parser.feed(buf + off, n - off, consumed);
        FUZZ_CHECK(consumed <= n - off);
        off += consumed;
        FUZZ_CHECK(f.pool->in_use() <= 1);
        idle_rounds = consumed == 0 ? idle_rounds + 1 : 0;
        // A head, then its pending completion, may consume nothing; more than that would spin a
        // connection forever.
        FUZZ_CHECK(idle_rounds <= 3);
        if (ev == RequestParser::Event::kHead) {
          ++heads;
          check_head(f, piece, parser);
          describe_head(parser, trace);
          if (verbose()) {
            std::fprintf(stderr, "  head: method=%d target=[%.*s] headers=%d host=[%.*s] body=%d\n",
                         parser.method(), static_cast<int>(parser.target().size()),
                         parser.target().data(), parser.header_count(),
                         static_cast<int>(parser.host().size()), parser.host().data(),
                         parser.has_body());
          }
          sink.bytes = 0;
        } else if (ev == RequestParser::Event::kMessageComplete) {
          ++completes;
          FUZZ_CHECK(!parser.in_message());
          FUZZ_CHECK(completes <= heads);
          FUZZ_CHECK(parser.body_bytes() <= f.limits.body_bytes);
          FUZZ_CHECK(sink.bytes == parser.body_bytes());
          g_sink = g_sink + parser.keep_alive();
          trace += "complete body=" + std::to_string(parser.body_bytes()) +
                   " ka=" + std::to_string(parser.keep_alive()) + "\n";
          if (verbose()) {
            std::fprintf(stderr, "  complete: body=%llu keep_alive=%d\n",
                         static_cast<unsigned long long>(parser.body_bytes()), parser.keep_alive());
          }
        } else if (ev == RequestParser::Event::kError) {
          FUZZ_CHECK(parser.error().kind != ringgate::ErrorKind::kNone);
          const int status = ringgate::error_status(parser.error().error());
          FUZZ_CHECK(status >= 400 && status < 600);
          FUZZ_CHECK(parser.error().reason != nullptr);
          trace += "error " + std::to_string(status) + "\n";
          if (verbose()) {
            std::fprintf(stderr, "  error: %d %s\n", status, parser.error().reason);
          }
          // Once dead, the parser stays dead.
          size_t again = 0;
          FUZZ_CHECK(parser.feed(buf, n, again) == RequestParser::Event::kError);
          dead = true;
          break;
        }
        // Like Connection::process_input: the piece is done once consumed, unless a head was just
        // reported (its completion may still be pending).
        if (off >= n && ev != RequestParser::Event::kHead) {
          break;
        }
      }
      std::free(buf);
    }
    trace += parser.in_message() ? "in message\n" : "between messages\n";
    parser.release();
    FUZZ_CHECK(f.pool->in_use() == 0);
  }
  FUZZ_CHECK(f.pool->in_use() == 0);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0 || size < 1 + size_t{data[0]} % 4) {
    return 0;
  }
  std::string fast;
  std::string slow;
  read_input(data, size, true, fast);
  read_input(data, size, false, slow);
  if (fast != slow && verbose()) {
    std::fprintf(stderr, "fast path:\n%s\nllhttp:\n%s\n", fast.c_str(), slow.c_str());
  }
  FUZZ_CHECK(fast == slow);
  return 0;
}
