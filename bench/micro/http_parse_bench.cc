// RequestParser::feed cost per request: one typical ~300-byte GET per feed, 16 pipelined GETs in
// one piece, and a head split over two pieces (the scratch-copy path); ResponseParser::feed on
// the bench origin's response. Reported as ns per request
// (the "time/req" counter; items_per_second is its inverse).

#include <benchmark/benchmark.h>

#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "ringgate/http/request_parser.h"

namespace {

using ringgate::RequestParser;

const std::string kGet =
    "GET /api/v1/orders/12345?include=items&currency=EUR HTTP/1.1\r\n"
    "Host: api.example.com\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:109.0) Gecko/20100101 Firefox/115.0\r\n"
    "Accept: application/json\r\n"
    "Accept-Encoding: gzip, deflate, br\r\n"
    "Connection: keep-alive\r\n"
    "X-Request-Id: 7f1c2d3e-aaaa-bbbb-cccc-0123456789ab\r\n"
    "\r\n";

struct Harness {
  ringgate::Limits limits;
  std::unique_ptr<ringgate::BlockPool> pool;
  std::vector<ringgate::HeaderSpan> spans;
  ringgate::ParserContext ctx;
  RequestParser parser;

  Harness() {
    pool = std::make_unique<ringgate::BlockPool>(ringgate::scratch_block_size(limits), 4);
    spans.resize(limits.headers);
    ctx.limits = &limits;
    ctx.scratch_pool = pool.get();
    ctx.shared_spans = spans.data();
    parser.init(&ctx);
  }

  // Feeds one piece as a connection does; returns the number of completed messages.
  int feed(const char* data, size_t len) {
    int complete = 0;
    size_t off = 0;
    for (;;) {
      size_t consumed = 0;
      const RequestParser::Event ev = parser.feed(data + off, len - off, consumed);
      off += consumed;
      if (ev == RequestParser::Event::kHead) {
        benchmark::DoNotOptimize(parser.path().data());
        benchmark::DoNotOptimize(parser.host().data());
      } else if (ev == RequestParser::Event::kMessageComplete) {
        ++complete;
      } else if (ev == RequestParser::Event::kError) {
        std::abort();
      }
      if (off >= len && ev != RequestParser::Event::kHead) {
        return complete;
      }
    }
  }
};

void set_counters(benchmark::State& state, int per_iteration) {
  const double requests = static_cast<double>(state.iterations()) * per_iteration;
  state.SetItemsProcessed(static_cast<int64_t>(requests));
  state.counters["time/req"] =
      benchmark::Counter(requests, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

void BM_ParseGet(benchmark::State& state) {
  Harness h;
  for (auto _ : state) {
    if (h.feed(kGet.data(), kGet.size()) != 1) {
      state.SkipWithError("expected one request");
      break;
    }
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kGet.size()));
  set_counters(state, 1);
}
BENCHMARK(BM_ParseGet);

// What wrk sends in bench/run: the smallest head a client sends.
void BM_ParseSmallGet(benchmark::State& state) {
  static const std::string kSmall = "GET /bench HTTP/1.1\r\nHost: 127.0.0.1:18080\r\n\r\n";
  Harness h;
  for (auto _ : state) {
    if (h.feed(kSmall.data(), kSmall.size()) != 1) {
      state.SkipWithError("expected one request");
      break;
    }
  }
  set_counters(state, 1);
}
BENCHMARK(BM_ParseSmallGet);

void BM_ParsePipelined16(benchmark::State& state) {
  Harness h;
  std::string piece;
  for (int i = 0; i < 16; ++i) {
    piece += kGet;
  }
  for (auto _ : state) {
    if (h.feed(piece.data(), piece.size()) != 16) {
      state.SkipWithError("expected 16 requests");
      break;
    }
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * piece.size()));
  set_counters(state, 16);
}
BENCHMARK(BM_ParsePipelined16);

void BM_ParseGetSplitHead(benchmark::State& state) {
  Harness h;
  const size_t cut = kGet.size() / 2;
  for (auto _ : state) {
    int n = h.feed(kGet.data(), cut);
    n += h.feed(kGet.data() + cut, kGet.size() - cut);
    if (n != 1) {
      state.SkipWithError("expected one request");
      break;
    }
  }
  set_counters(state, 1);
}
BENCHMARK(BM_ParseGetSplitHead);

// An upstream's response as the bench origin (NGINX `return 200`) sends it: the head and a
// 1 KB body in one piece, read by a ResponseParser as an upstream connection does.
const std::string kNginxResponse =
    "HTTP/1.1 200 OK\r\n"
    "Server: nginx/1.22.1\r\n"
    "Date: Sat, 05 Dec 2026 04:58:00 GMT\r\n"
    "Content-Type: application/json\r\n"
    "Content-Length: 1024\r\n"
    "Connection: keep-alive\r\n"
    "\r\n" +
    std::string(1024, 'x');

void BM_ParseResponse(benchmark::State& state) {
  ringgate::Limits limits;
  ringgate::BlockPool pool(ringgate::scratch_block_size(limits), 4);
  std::vector<ringgate::HeaderSpan> spans(limits.headers);
  ringgate::ParserContext ctx{&limits, &pool, spans.data()};
  ringgate::ResponseParser parser;
  parser.init(&ctx);
  for (auto _ : state) {
    size_t off = 0;
    bool complete = false;
    while (!complete) {
      size_t consumed = 0;
      const auto ev =
          parser.feed(kNginxResponse.data() + off, kNginxResponse.size() - off, consumed);
      off += consumed;
      if (ev == ringgate::ResponseParser::Event::kHead) {
        benchmark::DoNotOptimize(parser.header_count());
      } else if (ev == ringgate::ResponseParser::Event::kMessageComplete) {
        complete = true;
      } else if (ev == ringgate::ResponseParser::Event::kError ||
                 (ev == ringgate::ResponseParser::Event::kNeedMore &&
                  off == kNginxResponse.size())) {
        std::abort();
      }
    }
  }
  set_counters(state, 1);
}
BENCHMARK(BM_ParseResponse);

}  // namespace

BENCHMARK_MAIN();
