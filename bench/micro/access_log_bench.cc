// The access log's cost per request, on the shard: formatting one line into the shard's buffer
// (the writer thread writes full buffers to a file meanwhile, as in production).
//   BM_AccessLineJson:     every field of the json format, for a proxied request.
//   BM_AccessLineCombined: NGINX's combined format.
//   BM_AccessLineSampledOut: sample 0 and a 200: the decision only.
// The head's copy into the exchange (RequestLog::capture) is measured with the line.

#include <benchmark/benchmark.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "ringgate/core/block_pool.h"
#include "ringgate/core/counters.h"
#include "ringgate/core/log_writer.h"
#include "ringgate/core/timer_wheel.h"
#include "ringgate/http/access_log.h"
#include "ringgate/http/exchange.h"
#include "ringgate/http/request_parser.h"

namespace {

using namespace ringgate;

constexpr char kRequest[] =
    "GET /api/v1/orders/12345?expand=items HTTP/1.1\r\n"
    "Host: api.example.com\r\n"
    "User-Agent: bench/1.0\r\n"
    "Referer: https://app.example.com/orders\r\n"
    "Accept: application/json\r\n"
    "\r\n";

struct Owner final : ExchangeOwner {
  void resumed(Exchange&, FilterStatus) override {}
  std::string_view peer_ip() override { return "203.0.113.9"; }
};

void run(benchmark::State& state, AccessLogConfig::Format format, uint32_t sample_ppm) {
  Limits limits;
  BlockPool scratch(scratch_block_size(limits), 4);
  std::vector<HeaderSpan> spans(limits.headers);
  ParserContext ctx;
  ctx.limits = &limits;
  ctx.scratch_pool = &scratch;
  ctx.shared_spans = spans.data();
  RequestParser parser(&ctx);
  size_t consumed = 0;
  if (parser.feed(kRequest, sizeof kRequest - 1, consumed) != RequestParser::Event::kHead) {
    std::abort();
  }
  LoggingConfig config;
  config.access.enabled = true;
  config.access.format = format;
  config.access.sample_ppm = sample_ppm;
  for (size_t i = 0; i < static_cast<size_t>(AccessField::kCount); ++i) {
    config.access.fields.push_back(static_cast<AccessField>(i));
  }
  char path[] = "/tmp/ringgate-access-bench-XXXXXX";
  const int fd = mkstemp(path);
  close(fd);
  LogWriter writer;
  std::string error;
  const int out = writer.open(path, error);
  auto stream = writer.stream(static_cast<unsigned>(out), 4, 64 * 1024);
  writer.start();
  TimerWheel timers(0);
  uint64_t now_ms = 0;
  RequestLog log(config, stream.get(), nullptr, timers, now_ms, 1);
  BlockPool arenas(4096, 4);
  ShardCounters counters;
  Owner owner;
  const std::string cluster = "orders";
  for (auto _ : state) {
    Arena arena(&arenas);
    Exchange x(owner, arena, parser, counters);
    log.capture(x);
    x.trace.on = true;
    std::memcpy(x.trace.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736", 32);
    x.log.request_id = x.trace.id();
    x.log.status = 200;
    x.log.upstream_status = 200;
    x.log.upstream = &cluster;
    x.log.bytes_out = 1234;
    x.timings.head_us = 1000;
    x.timings.upstream_start_us = 1010;
    x.timings.upstream_head_us = 1300;
    x.timings.done_us = 1320;
    log.log(x);  // full buffers go to the writer, which writes them to a file meanwhile
  }
  state.counters["dropped"] = static_cast<double>(stream->dropped());
  writer.stop();
  unlink(path);
}

void BM_AccessLineJson(benchmark::State& state) {
  run(state, AccessLogConfig::Format::kJson, 1000000);
}
void BM_AccessLineCombined(benchmark::State& state) {
  run(state, AccessLogConfig::Format::kCombined, 1000000);
}
void BM_AccessLineSampledOut(benchmark::State& state) {
  run(state, AccessLogConfig::Format::kJson, 0);
}

BENCHMARK(BM_AccessLineJson);
BENCHMARK(BM_AccessLineCombined);
BENCHMARK(BM_AccessLineSampledOut);

}  // namespace

BENCHMARK_MAIN();
