// Load and concurrency: deep pipelining, byte-at-a-time input, long keep-alive runs, many
// concurrent connections over several shards, a starved receive-buffer ring, the connection limit.

#include <errno.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <latch>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "fixture.h"

namespace ringgate::it {
namespace {

using Clock = std::chrono::steady_clock;

class LoadTest : public GatewayTest {};

// /r/0 .. /r/9 answer "r0" .. "r9" to any method, so the order of responses is checkable; POST
// /upload answers 201 "stored".
std::string numbered_routes() {
  std::string y;
  for (int k = 0; k < 10; ++k) {
    y += "  - match: {path: /r/" + std::to_string(k) + "}\n";
    y += "    direct: {status: 200, headers: {content-type: text/plain}, body: \"r" +
         std::to_string(k) + "\"}\n";
  }
  y += "  - match: {path: /upload, methods: [POST, PUT]}\n";
  y += "    direct: {status: 201, headers: {content-type: text/plain}, body: \"stored\"}\n";
  return y;
}

// One expected exchange: the request bytes and what must come back.
struct Exchange {
  std::string raw;
  int status = 200;
  std::string body;  // checked when status is 200 or 201
  bool head = false;
};

Exchange get_numbered(int k) {
  return {request("GET", "/r/" + std::to_string(k)), 200, "r" + std::to_string(k), false};
}

// Reads the responses to `exchanges` in order; returns "" or what went wrong first.
std::string read_in_order(Conn& c, const std::vector<Exchange>& exchanges, Millis timeout = 5s) {
  for (size_t i = 0; i < exchanges.size(); ++i) {
    ReadOptions options;
    options.timeout = timeout;
    options.head_request = exchanges[i].head;
    std::string why;
    auto r = read_response(c, options, &why);
    if (!r) {
      return "response " + std::to_string(i) + ": " + why;
    }
    const bool check_body = exchanges[i].status == 200 || exchanges[i].status == 201;
    if (r->status != exchanges[i].status || (check_body && r->body != exchanges[i].body)) {
      return "response " + std::to_string(i) + ": expected " + std::to_string(exchanges[i].status) +
             " '" + exchanges[i].body + "', got:\n" + visible(r->raw);
    }
    if (r->connection_has("close")) {
      return "response " + std::to_string(i) + " closes the connection:\n" + visible(r->raw);
    }
  }
  return "";
}

TEST_F(LoadTest, HundredPipelinedRequestsInOneWriteAnswerInOrder) {
  ConfigSpec spec;
  spec.routes = numbered_routes();
  auto& gw = start(spec);
  ASSERT_TRUE(gw.ok()) << gw.error();
  std::vector<Exchange> exchanges;
  for (int i = 0; i < 100; ++i) {
    if (i % 13 == 12) {
      exchanges.push_back({request("GET", "/nope/" + std::to_string(i)), 404, "", false});
    } else if (i % 17 == 16) {
      exchanges.push_back({request("HEAD", "/r/" + std::to_string(i % 10)), 200, "", true});
    } else if (i % 11 == 10) {
      exchanges.push_back(
          {request("POST", "/upload", "Content-Length: 3\r\n") + "abc", 201, "stored", false});
    } else {
      exchanges.push_back(get_numbered((i * 7 + 3) % 10));
    }
  }
  std::string all;
  for (const Exchange& e : exchanges) {
    all += e.raw;
  }
  Conn c = connect_to(gw.port());
  ASSERT_TRUE(c.valid());
  ASSERT_TRUE(send_all(c, all));
  EXPECT_EQ(read_in_order(c, exchanges), "");
  EXPECT_TRUE(stays_silent(c, 100ms)) << "extra bytes after 100 responses:\n" << visible(c.pending);
}

TEST_F(LoadTest, RequestFedOneByteAtATime) {
  ConfigSpec spec;
  spec.routes = numbered_routes();
  auto& gw = start(spec);
  ASSERT_TRUE(gw.ok()) << gw.error();
  Conn c = connect_to(gw.port());
  ASSERT_TRUE(c.valid());
  const std::vector<Exchange> exchanges = {
      {request("POST", "/upload", "Content-Length: 5\r\n") + "hello", 201, "stored", false},
      get_numbered(7),
  };
  const auto t0 = Clock::now();
  for (const Exchange& e : exchanges) {
    for (size_t i = 0; i < e.raw.size(); ++i) {
      ASSERT_TRUE(send_all(c, e.raw.substr(i, 1))) << "byte " << i;
      if (i + 1 < e.raw.size()) {
        // Doubles as the pause between bytes: nothing may be answered before the last byte.
        ASSERT_TRUE(stays_silent(c, 3ms))
            << "answered after " << i + 1 << " of " << e.raw.size() << " bytes:\n"
            << visible(e.raw.substr(0, i + 1));
      }
    }
    EXPECT_EQ(read_in_order(c, {e}), "");
  }
  EXPECT_LT(Clock::now() - t0, 2s);
  EXPECT_TRUE(stays_silent(c, 50ms));
}

TEST_F(LoadTest, TenThousandSequentialRequestsOnOneConnection) {
  ConfigSpec spec;
  spec.routes = numbered_routes();
  auto& gw = start(spec);
  ASSERT_TRUE(gw.ok()) << gw.error();
  Conn c = connect_to(gw.port());
  ASSERT_TRUE(c.valid());
  constexpr int kRequests = 10000;
  for (int i = 0; i < kRequests; ++i) {
    const int k = i % 10;
    ASSERT_TRUE(send_all(c, request("GET", "/r/" + std::to_string(k)))) << "request " << i;
    std::string why;
    auto r = read_response(c, {}, &why);
    ASSERT_TRUE(r) << "request " << i << ": " << why;
    ASSERT_EQ(r->status, 200) << "request " << i << ":\n" << visible(r->raw);
    ASSERT_EQ(r->body, "r" + std::to_string(k)) << "request " << i;
    ASSERT_FALSE(r->connection_has("close")) << "request " << i << ":\n" << visible(r->raw);
  }
  EXPECT_TRUE(stays_silent(c, 50ms));
  auto m = scrape_metrics(gw.admin_port());
  EXPECT_EQ(m["ringgate_requests_2xx_total"], kRequests);
  EXPECT_EQ(m["ringgate_requests_4xx_total"], 0);
  EXPECT_EQ(m["ringgate_connections_total"], 1);  // admin scrapes are not client connections
}

TEST_F(LoadTest, ThousandConcurrentConnections) {
  ASSERT_GE(raise_fd_limit(), 1200u) << "RLIMIT_NOFILE too low for 1000 connections";
  ConfigSpec spec;
  spec.workers = 2;
  spec.routes = numbered_routes();
  auto& gw = start(spec);
  ASSERT_TRUE(gw.ok()) << gw.error();
  constexpr int kConns = 1000;
  const auto t0 = Clock::now();
  std::vector<Conn> conns;
  conns.reserve(kConns);
  for (int i = 0; i < kConns; ++i) {
    conns.push_back(connect_to(gw.port()));
    ASSERT_TRUE(conns.back().valid()) << "connect " << i << ": " << std::strerror(errno);
  }
  // All open at once before any request is sent.
  for (int i = 0; i < kConns; ++i) {
    ASSERT_TRUE(send_all(conns[i], request("GET", "/r/" + std::to_string(i % 10)))) << i;
  }
  int ok = 0;
  for (int i = 0; i < kConns; ++i) {
    std::string why;
    auto r = read_response(conns[i], {}, &why);
    ASSERT_TRUE(r) << "connection " << i << ": " << why;
    EXPECT_EQ(r->status, 200) << "connection " << i << ":\n" << visible(r->raw);
    EXPECT_EQ(r->body, "r" + std::to_string(i % 10)) << "connection " << i;
    ok += r->status == 200 ? 1 : 0;
  }
  EXPECT_EQ(ok, kConns);
  // Still all open (keep-alive), on two shards.
  auto m = scrape_metrics(gw.admin_port());
  EXPECT_EQ(m["ringgate_workers"], 2);
  EXPECT_GE(m["ringgate_connections_total"], kConns);
  EXPECT_GE(m["ringgate_connections_active"], kConns);
  EXPECT_EQ(m["ringgate_connections_rejected_total"], 0);
  EXPECT_EQ(m["ringgate_requests_2xx_total"], kConns);
  EXPECT_LT(Clock::now() - t0, 20s);
}

// 64 KiB bodies whose bytes look like requests: a gateway that lost the framing would answer them.
std::string decoy_body(size_t size, char tag) {
  const std::string decoy = std::string("GET /r/9 HTTP/1.1\r\nHost: decoy-") + tag + "\r\n\r\n";
  std::string body;
  while (body.size() < size) {
    body += decoy;
  }
  body.resize(size);
  return body;
}

std::string chunked(const std::string& body) {
  // Chunk sizes vary so chunk boundaries fall anywhere inside the receive buffers.
  static const size_t sizes[] = {1, 4096, 3000, 10000, 17, 8191, 65536};
  std::string out;
  size_t pos = 0;
  for (size_t i = 0; pos < body.size(); ++i) {
    const size_t n = std::min(sizes[i % std::size(sizes)], body.size() - pos);
    char hex[32];
    snprintf(hex, sizeof hex, "%zx\r\n", n);
    out += hex;
    out.append(body, pos, n);
    out += "\r\n";
    pos += n;
  }
  return out + "0\r\n\r\n";
}

TEST_F(LoadTest, StarvedBufferRingKeepsEveryConnectionCorrectAndOrdered) {
  ConfigSpec spec;
  spec.routes = numbered_routes();
  spec.buffers = "{size: 4KiB, count: 8}";
  spec.limits["header_bytes"] = "4KiB";
  spec.limits["request_line"] = "1KiB";
  auto& gw = start(spec);
  ASSERT_TRUE(gw.ok()) << gw.error();
  constexpr int kConns = 4;
  constexpr int kRequests = 20;
  constexpr size_t kBody = 64 * 1024;

  std::vector<std::vector<Exchange>> plans(kConns);
  std::vector<std::string> wire(kConns);
  for (int c = 0; c < kConns; ++c) {
    for (int i = 0; i < kRequests; ++i) {
      const int k = (c * 3 + i) % 10;
      const std::string target = "/r/" + std::to_string(k);
      const std::string body = decoy_body(kBody, static_cast<char>('a' + c));
      std::string raw;
      if ((i + c) % 2 == 0) {
        raw = request("POST", target, "Content-Length: " + std::to_string(kBody) + "\r\n") + body;
      } else {
        raw = request("POST", target, "Transfer-Encoding: chunked\r\n") + chunked(body);
      }
      wire[c] += raw;
      plans[c].push_back({raw, 200, "r" + std::to_string(k), false});
    }
  }

  std::vector<Conn> conns;
  for (int c = 0; c < kConns; ++c) {
    conns.push_back(connect_to(gw.port()));
    ASSERT_TRUE(conns.back().valid());
  }
  std::vector<std::string> failures(kConns);
  std::latch go(kConns);
  std::vector<std::thread> threads;
  for (int c = 0; c < kConns; ++c) {
    threads.emplace_back([&, c] {
      go.arrive_and_wait();
      if (!send_all(conns[c], wire[c])) {
        failures[c] = std::string("send: ") + std::strerror(errno);
        return;
      }
      failures[c] = read_in_order(conns[c], plans[c], 10s);
      if (failures[c].empty() && !stays_silent(conns[c], 100ms)) {
        failures[c] = "extra bytes after the last response:\n" + visible(conns[c].pending);
      }
    });
  }
  for (std::thread& t : threads) {
    t.join();
  }
  for (int c = 0; c < kConns; ++c) {
    EXPECT_EQ(failures[c], "") << "connection " << c;
  }
  auto m = scrape_metrics(gw.admin_port());
  EXPECT_GT(m["ringgate_buffer_ring_empty_total"], 0)
      << "the ring never ran dry: the test did not exercise starvation";
  EXPECT_EQ(m["ringgate_requests_2xx_total"], kConns * kRequests);
  EXPECT_EQ(m["ringgate_parse_errors_bad_request_total"], 0);
  EXPECT_GE(m["ringgate_bytes_received_total"], kConns * kRequests * kBody);
}

TEST_F(LoadTest, MetricsSumOverShardsExactly) {
  ASSERT_GE(raise_fd_limit(), 400u);
  ConfigSpec spec;
  spec.workers = 2;
  spec.routes = numbered_routes();
  auto& gw = start(spec);
  ASSERT_TRUE(gw.ok()) << gw.error();
  constexpr int kConns = 200;
  constexpr int kRounds = 3;
  std::vector<Conn> conns;
  for (int i = 0; i < kConns; ++i) {
    conns.push_back(connect_to(gw.port()));
    ASSERT_TRUE(conns.back().valid()) << i;
  }
  // SO_REUSEPORT hashes 200 connections over both shards (all on one: chance 2^-199).
  int expect_2xx = 0;
  int expect_4xx = 0;
  for (int round = 0; round < kRounds; ++round) {
    std::vector<Exchange> sent(kConns);
    for (int i = 0; i < kConns; ++i) {
      if ((i + round) % 7 == 0) {
        sent[i] = {request("GET", "/missing"), 404, "", false};
        ++expect_4xx;
      } else {
        sent[i] = get_numbered((i + round) % 10);
        ++expect_2xx;
      }
      ASSERT_TRUE(send_all(conns[i], sent[i].raw)) << i;
    }
    for (int i = 0; i < kConns; ++i) {
      ASSERT_EQ(read_in_order(conns[i], {sent[i]}), "") << "round " << round << " conn " << i;
    }
  }
  // One scrape: its own response is counted only after the body was rendered.
  auto m = scrape_metrics(gw.admin_port());
  EXPECT_EQ(m["ringgate_workers"], 2);
  EXPECT_EQ(m["ringgate_requests_2xx_total"], expect_2xx);
  EXPECT_EQ(m["ringgate_requests_4xx_total"], expect_4xx);
  EXPECT_EQ(m["ringgate_requests_5xx_total"], 0);
  EXPECT_GE(m["ringgate_connections_total"], kConns);
  EXPECT_LE(m["ringgate_connections_total"], kConns + 1);  // + the scrape
  EXPECT_GE(m["ringgate_connections_active"], kConns);
}

// Opens n keep-alive connections that each made one request and stay open.
::testing::AssertionResult fill_connections(uint16_t port, int n, std::vector<Conn>& held) {
  for (int i = 0; i < n; ++i) {
    held.push_back(connect_to(port));
    if (!held.back().valid() || !send_all(held.back(), request("GET", "/r/" + std::to_string(i)))) {
      return ::testing::AssertionFailure() << "connection " << i << ": " << std::strerror(errno);
    }
    std::string why;
    auto r = read_response(held.back(), {}, &why);
    if (!r || r->status != 200) {
      return ::testing::AssertionFailure() << "connection " << i << " within the limit: " << why;
    }
  }
  return ::testing::AssertionSuccess();
}

// One shard, at most four client connections, the numbered routes.
ConfigSpec one_shard_of_four() {
  ConfigSpec spec;
  spec.workers = 1;
  spec.limits["connections"] = "4";
  spec.routes = numbered_routes();
  return spec;
}

TEST_F(LoadTest, ConnectionOverTheLimitWaitsInTheBacklogUntilOneCloses) {
  // At the limit the shard stops accepting: a new client's connection waits in the kernel's
  // backlog, neither closed nor answered, and is served once a held connection closes. No
  // accept-then-close churn.
  auto& gw = start(one_shard_of_four());
  ASSERT_TRUE(gw.ok()) << gw.error();
  std::vector<Conn> held;
  ASSERT_TRUE(fill_connections(gw.port(), 4, held));
  Conn waiting = connect_to(gw.port());
  ASSERT_TRUE(waiting.valid());
  ASSERT_TRUE(send_all(waiting, request("GET", "/r/7")));
  EXPECT_TRUE(stays_silent(waiting, 300ms)) << "a connection over the limit was answered or closed";
  // The four held connections are unharmed.
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(send_all(held[i], request("GET", "/r/5")));
    std::string why;
    auto r = read_response(held[i], {}, &why);
    ASSERT_TRUE(r) << "held connection " << i << ": " << why;
    EXPECT_EQ(r->body, "r5");
  }
  held[0].close();
  std::string why;
  auto r = read_response(waiting, {}, &why);
  ASSERT_TRUE(r) << "the waiting connection was not served after a slot freed: " << why;
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "r7");
  auto m = scrape_metrics(gw.admin_port());
  ASSERT_FALSE(m.empty()) << "admin unreachable";
  EXPECT_GE(m["ringgate_accept_pauses_total"], 1);
  EXPECT_EQ(m["ringgate_connections_rejected_total"], 0);
}

TEST_F(LoadTest, EveryConnectionOverTheLimitIsServedOrRefusedWith503) {
  // A burst of clients against a full shard: each one is served once there is room, or (when
  // the kernel had accepted it before the shard stopped accepting) refused with a 503 that says
  // when to retry. None is closed without an answer; every refusal is counted.
  auto& gw = start(one_shard_of_four());
  ASSERT_TRUE(gw.ok()) << gw.error();
  std::vector<Conn> held;
  ASSERT_TRUE(fill_connections(gw.port(), 4, held));
  constexpr int kClients = 24;
  std::vector<std::string> outcome(kClients);
  std::vector<std::thread> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back([&, i] {
      Conn c = connect_to(gw.port());
      if (!c.valid() || !send_all(c, request("GET", "/r/3", "Connection: close\r\n"))) {
        outcome[i] = "connect/send failed";
        return;
      }
      std::string why;
      auto r = read_response(c, ReadOptions{10s}, &why);
      if (!r) {
        outcome[i] = "no answer: " + why;
      } else if (r->status == 200 && r->body == "r3") {
        outcome[i] = "200";
      } else if (r->status == 503 && r->header("retry-after") == "1" &&
                 r->connection_has("close") &&
                 r->body.find("connection limit") != std::string::npos) {
        outcome[i] = "503";
      } else {
        outcome[i] = "unexpected: " + visible(r->raw);
      }
    });
  }
  std::this_thread::sleep_for(200ms);
  held.clear();  // room for the burst, four at a time
  for (std::thread& t : clients) {
    t.join();
  }
  int refused = 0;
  for (int i = 0; i < kClients; ++i) {
    EXPECT_TRUE(outcome[i] == "200" || outcome[i] == "503") << "client " << i << ": " << outcome[i];
    refused += outcome[i] == "503";
  }
  auto m = scrape_metrics(gw.admin_port());
  ASSERT_FALSE(m.empty()) << "admin unreachable";
  EXPECT_EQ(m["ringgate_connections_rejected_total"], refused);
  EXPECT_EQ(m["ringgate_requests_2xx_total"], 4 + kClients - refused);
}

TEST_F(LoadTest, AdminStaysReachableWhenClientsFillTheConnectionLimit) {
  // limits.connections is documented as the limit on *client* connections; the admin endpoint is
  // how an operator sees that the limit was hit, so it must not be locked out by it.
  auto& gw = start(one_shard_of_four());
  ASSERT_TRUE(gw.ok()) << gw.error();
  std::vector<Conn> held;
  ASSERT_TRUE(fill_connections(gw.port(), 4, held));
  std::string why;
  auto m = scrape_metrics(gw.admin_port(), &why);
  ASSERT_FALSE(m.empty()) << "admin /metrics unreachable with 4 client connections open: " << why;
  EXPECT_GE(m["ringgate_accept_pauses_total"], 1);
}

TEST_F(LoadTest, SilentConnectionIsClosedAfterTheHeaderTimeout) {
  // The head deadline counts from accept: a connection that never sends a byte is not kept for
  // idle_timeout.
  ConfigSpec spec;
  spec.limits["header_timeout"] = "300ms";
  spec.limits["idle_timeout"] = "60s";
  auto& gw = start(spec);
  ASSERT_TRUE(gw.ok()) << gw.error();
  Conn silent = connect_to(gw.port());
  ASSERT_TRUE(silent.valid());
  const auto begin = Clock::now();
  std::string got;
  ASSERT_TRUE(wait_closed(silent, 3s, &got)) << "a silent connection was kept open";
  EXPECT_TRUE(got.empty()) << visible(got);
  EXPECT_GE(Clock::now() - begin, 250ms);
  auto m = scrape_metrics(gw.admin_port());
  EXPECT_EQ(m["ringgate_header_timeouts_total"], 1);
  // A keep-alive connection between requests still gets idle_timeout.
  Conn kept = connect_to(gw.port());
  ASSERT_TRUE(send_all(kept, request("GET", "/hello")));
  ASSERT_TRUE(read_response(kept));
  EXPECT_TRUE(stays_silent(kept, 600ms)) << "idle keep-alive connection closed at header_timeout";
}

TEST_F(LoadTest, SilentConnectionsAtTheLimitDoNotLockOutClients) {
  // Sockets that connect and say nothing fill the connection limit only until header_timeout.
  ConfigSpec spec = one_shard_of_four();
  spec.limits["header_timeout"] = "300ms";
  auto& gw = start(spec);
  ASSERT_TRUE(gw.ok()) << gw.error();
  std::vector<Conn> silent;
  for (int i = 0; i < 4; ++i) {
    silent.push_back(connect_to(gw.port()));
    ASSERT_TRUE(silent.back().valid());
  }
  std::this_thread::sleep_for(50ms);
  const auto begin = Clock::now();
  std::string why;
  auto r = fetch(gw.port(), request("GET", "/r/1"), ReadOptions{5s}, &why);
  ASSERT_TRUE(r) << why;
  EXPECT_EQ(r->status, 200);
  EXPECT_LT(Clock::now() - begin, 2s);
  for (Conn& c : silent) {
    EXPECT_TRUE(wait_closed(c, 2s)) << "a silent connection outlived header_timeout";
  }
  auto m = scrape_metrics(gw.admin_port());
  EXPECT_EQ(m["ringgate_header_timeouts_total"], 4);
  EXPECT_EQ(m["ringgate_connections_rejected_total"], 0);
}

}  // namespace
}  // namespace ringgate::it
