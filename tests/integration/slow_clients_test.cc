// Slow clients (slowloris): hundreds of connections that send a request head a line at a time
// and never finish it must cost a fast client nothing but their share of the work. Two ways
// they did cost more: the shard batched completions by *open* connections, so with a few
// hundred slow ones open it waited out the whole batch window (server.batch_wait) on every loop
// for a fast client's lone request; and every expiry walked all armed timers.

#include <algorithm>
#include <optional>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "fixture.h"

namespace ringgate::it {
namespace {

class SlowClientsTest : public GatewayTest {};

// The start of a request head that a slow client never finishes.
const std::string kSlowHead = "GET /hello HTTP/1.1\r\nHost: test\r\nUser-Agent: slow\r\n";

// Opens `n` connections, each sending the start of a head; false (with a message) on failure.
::testing::AssertionResult open_slow(uint16_t port, int n, std::vector<Conn>& out) {
  for (int i = 0; i < n; ++i) {
    Conn c = connect_to(port);
    if (!c.valid() || !send_all(c, kSlowHead)) {
      return ::testing::AssertionFailure() << "slow connection " << i << " failed";
    }
    out.push_back(std::move(c));
  }
  return ::testing::AssertionSuccess();
}

// `n` sequential GET /hello on one keep-alive connection; "" or what went wrong first.
std::string fast_requests(uint16_t port, int n) {
  Conn c = connect_to(port);
  if (!c.valid()) {
    return "connect failed";
  }
  for (int i = 0; i < n; ++i) {
    if (!send_all(c, request("GET", "/hello"))) {
      return "send " + std::to_string(i) + " failed";
    }
    std::string why;
    auto r = read_response(c, {}, &why);
    if (!r) {
      return "request " + std::to_string(i) + ": " + why;
    }
    if (r->status != 200 || r->body != "hello") {
      return "request " + std::to_string(i) + ": " + visible(r->raw);
    }
  }
  return "";
}

TEST_F(SlowClientsTest, SlowHeaderConnectionsDoNotMakeTheShardBatchAFastClient) {
  // 400 slow-header connections open, one fast client: its requests are answered as soon as
  // they arrive, not after a batch window (ringgate_batched_waits_total stays put); many busy
  // clients still get batched.
  raise_fd_limit();
  ConfigSpec spec;
  spec.limits["header_timeout"] = "60s";       // the slow ones stay for the whole test
  spec.server_extra = "  batch_wait: 50us\n";  // by default only where syscalls are dear
  auto& gw = start(spec);
  ASSERT_TRUE(gw.ok()) << gw.error();
  if (gw.log().find("batch_wait 50us") == std::string::npos) {
    GTEST_SKIP() << "no completion batching here (kernel before 6.12?): " << gw.log();
  }
  constexpr int kSlow = 400;
  std::vector<Conn> slow;
  ASSERT_TRUE(open_slow(gw.port(), kSlow, slow));
  ASSERT_GE(wait_metric(gw.admin_port(), "ringgate_connections_active",
                        [](double v) { return v >= kSlow; }),
            kSlow);
  const double before = metric(gw.admin_port(), "ringgate_batched_waits_total");
  ASSERT_GE(before, 0) << "ringgate_batched_waits_total missing";

  constexpr int kFast = 400;
  for (int round = 0; round < 2; ++round) {
    EXPECT_EQ(fast_requests(gw.port(), kFast / 2), "");
    // Another line from every slow client: still slow, still open.
    for (int i = 0; i < kSlow; ++i) {
      ASSERT_TRUE(send_all(slow[i], "X-Slow-" + std::to_string(round) + ": 1\r\n")) << i;
    }
  }
  const double after = metric(gw.admin_port(), "ringgate_batched_waits_total");
  // Fixed: 0 (one busy connection is below the 4 that batching needs). Broken: at least one
  // batched wait per request, 400.
  EXPECT_LT(after - before, kFast / 10)
      << "the shard held a lone fast client's requests back for batches";

  // The slow connections are all still open, none answered or timed out.
  EXPECT_EQ(wait_metric(gw.admin_port(), "ringgate_connections_active",
                        [](double v) { return v == kSlow; }),
            kSlow);
  auto m = scrape_metrics(gw.admin_port());
  ASSERT_FALSE(m.empty()) << "admin unreachable";
  EXPECT_EQ(m["ringgate_header_timeouts_total"], 0);
  EXPECT_EQ(m["ringgate_requests_2xx_total"], kFast);
  EXPECT_TRUE(stays_silent(slow.front(), 50ms));

  // Eight clients that keep the shard busy are still batched, slow connections or not.
  const LoadResult load = hammer({gw.port()}, 8, 500ms, request("GET", "/hello"));
  EXPECT_GT(load.ok, 0);
  EXPECT_EQ(load.other, 0);
  EXPECT_GT(metric(gw.admin_port(), "ringgate_batched_waits_total"), after)
      << "eight busy clients were not batched";
}

// The start-up line of batch_wait: auto on io_uring: the batch wait, whether shards batch to
// start with, and the syscall's cost that chose it. Empty when the line has no such note.
struct AutoNote {
  std::string wait;  // "50us", or "ignored (...)" on a kernel without min-wait
  bool first = false;
  unsigned long syscall_ns = 0;
  std::string verdict;  // "at least" or "under"
};
std::optional<AutoNote> auto_note(const std::string& log) {
  std::smatch m;
  if (!std::regex_search(
          log, m,
          std::regex("; batch_wait (50us|ignored [^;]*) \\(auto: (on|off) to start, "
                     "as a syscall costs ([0-9]+) ns here, (at least|under) 500; "
                     "each shard measures both under load and keeps the cheaper\\)"))) {
    return std::nullopt;
  }
  return AutoNote{m[1].str(), m[2].str() == "on", std::stoul(m[3].str()), m[4].str()};
}

TEST_F(SlowClientsTest, ByDefaultTheShardStartsBatchingOnlyWhereASyscallIsDear) {
  // batch_wait: auto (the default) times a syscall at start, says the figure and where each
  // shard starts on the start-up line, and busy clients are batched from the start exactly when
  // it said so (the shard's first measurement comes after 2 s of load); 0us says nothing. The
  // epoll backend (RINGGATE_REACTOR=epoll, io_uring refused) has no batching: it says nothing
  // of it and batches nothing.
  ConfigSpec spec;
  auto& gw = start(spec);
  ASSERT_TRUE(gw.ok()) << gw.error();
  const std::string log = gw.log();
  bool batches = false;
  if (log.find("ringgate: epoll (") != std::string::npos) {
    EXPECT_EQ(log.find("batch_wait"), std::string::npos) << log;
  } else {
    const std::optional<AutoNote> note = auto_note(log);
    ASSERT_TRUE(note) << log;
    const bool dear = note->syscall_ns >= 500;
    EXPECT_EQ(note->verdict, dear ? "at least" : "under");
    EXPECT_EQ(note->first, dear) << log;
    batches = note->first && note->wait == "50us";
  }
  const LoadResult load = hammer({gw.port()}, 8, 500ms, request("GET", "/hello"));
  EXPECT_GT(load.ok, 0);
  EXPECT_EQ(load.other, 0);
  const double batched = metric(gw.admin_port(), "ringgate_batched_waits_total");
  if (batches) {
    EXPECT_GT(batched, 0) << "eight busy clients were not batched";
  } else {
    EXPECT_EQ(batched, 0) << log;
  }
  EXPECT_EQ(metric(gw.admin_port(), "ringgate_batching_shards"), batches ? 1 : 0);

  ConfigSpec off;
  off.server_extra = "  batch_wait: 0us\n";
  auto& quiet = start(off);
  ASSERT_TRUE(quiet.ok()) << quiet.error();
  EXPECT_EQ(quiet.log().find("batch_wait"), std::string::npos) << quiet.log();
}

TEST_F(SlowClientsTest, UnderLoadAnAutoShardMeasuresBothSettingsAndKeepsOne) {
  // Two gateways under the same load for 4 s: with auto, the busy shard measures its CPU per
  // request with and without batching (after 2 s of load, over four 250 ms windows) and says
  // what it found and kept; with a fixed 50us it batches throughout and measures nothing.
  // Every request is answered meanwhile.
  ConfigSpec tuned;
  tuned.sections = "logging:\n  level: debug\n";
  auto& a = start(tuned);
  ASSERT_TRUE(a.ok()) << a.error();
  ConfigSpec fixed;
  fixed.server_extra = "  batch_wait: 50us\n";
  auto& f = start(fixed);
  ASSERT_TRUE(f.ok()) << f.error();
  const std::optional<AutoNote> note = auto_note(a.log());
  const bool tunes = note && note->wait == "50us";  // io_uring, with min-wait
  const LoadResult load = hammer({a.port(), f.port()}, 16, 4s, request("GET", "/hello"));
  EXPECT_GT(load.ok, 0);
  EXPECT_EQ(load.other, 0);

  const double probes = metric(a.admin_port(), "ringgate_batch_wait_probes_total");
  const double switches = metric(a.admin_port(), "ringgate_batch_wait_switches_total");
  const double batching = metric(a.admin_port(), "ringgate_batching_shards");
  EXPECT_EQ(metric(f.admin_port(), "ringgate_batch_wait_probes_total"), 0);
  if (!tunes) {  // the epoll backend, or a kernel without min-wait: nothing to tune
    EXPECT_EQ(probes, 0) << a.log();
    EXPECT_EQ(batching, 0);
    return;
  }
  EXPECT_EQ(metric(f.admin_port(), "ringgate_batching_shards"), 1);
  EXPECT_GT(metric(f.admin_port(), "ringgate_batched_waits_total"), 0);
  ASSERT_GE(probes, 1) << "four seconds of load and no measurement\n" << a.log();
  EXPECT_LE(switches, probes);
  EXPECT_TRUE(batching == 0 || batching == 1) << batching;
  // The log says each probe's figures and what the shard kept (debug: a probe that kept the
  // setting; info: one that changed it).
  const std::string log = a.log();
  const std::regex line(
      "shard 0: batch_wait auto: ([0-9.]+) us of CPU per request batched, ([0-9.]+) us not: "
      "(batching goes on|batching from now on|batching stops|still not batching)");
  int lines = 0;
  int changes = 0;
  for (auto it = std::sregex_iterator(log.begin(), log.end(), line); it != std::sregex_iterator();
       ++it) {
    ++lines;
    EXPECT_GT(std::stod((*it)[1].str()), 0) << it->str();
    EXPECT_GT(std::stod((*it)[2].str()), 0) << it->str();
    const std::string kept = (*it)[3].str();
    changes += kept == "batching from now on" || kept == "batching stops";
  }
  EXPECT_EQ(lines, probes) << log;
  EXPECT_EQ(changes, switches) << log;
}

TEST_F(SlowClientsTest, SlowHeaderConnectionsTimeOutWhileAFastClientIsServed) {
  // 300 slow-header connections against a 1 s header timeout while a fast client keeps
  // requesting: each slow one is answered 408 and closed on time, and every fast request is
  // answered 200 meanwhile.
  raise_fd_limit();
  ConfigSpec spec;
  spec.limits["header_timeout"] = "1s";
  auto& gw = start(spec);
  ASSERT_TRUE(gw.ok()) << gw.error();
  constexpr int kSlow = 300;
  std::vector<Conn> slow;
  ASSERT_TRUE(open_slow(gw.port(), kSlow, slow));

  // The fast client runs through the deadlines (~1 s from now), 0.1 s at a time.
  int fast = 0;
  std::string failure;
  const auto end = std::chrono::steady_clock::now() + 1500ms;
  while (failure.empty() && std::chrono::steady_clock::now() < end) {
    failure = fast_requests(gw.port(), 20);
    fast += 20;
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_EQ(failure, "");
  EXPECT_GT(fast, 0);

  int timed_out = 0;
  for (int i = 0; i < kSlow; ++i) {
    std::string got;
    if (!wait_closed(slow[i], 3s, &got)) {
      ADD_FAILURE() << "slow connection " << i << " still open after its header timeout";
      continue;
    }
    timed_out += got.rfind("HTTP/1.1 408 ", 0) == 0;
  }
  EXPECT_EQ(timed_out, kSlow) << "not every slow connection was answered 408";
  auto m = scrape_metrics(gw.admin_port());
  ASSERT_FALSE(m.empty()) << "admin unreachable";
  EXPECT_EQ(m["ringgate_header_timeouts_total"], kSlow);
  EXPECT_EQ(m["ringgate_requests_2xx_total"], fast);
  EXPECT_EQ(m["ringgate_requests_aborted_total"], 0);
}

}  // namespace
}  // namespace ringgate::it
