// The overload manager (`overload:`): over 95% of its share of a budget, a shard answers new
// requests 503 with Retry-After and Connection: close and stops accepting (new connections wait
// in the kernel's backlog); under 90% of both it serves and accepts again. /metrics shows the
// budgets, what is held and what was shed.

#include <string>
#include <vector>

#include "fixture.h"

namespace ringgate::it {
namespace {

class OverloadTest : public GatewayTest {};

// Opens `n` connections that each send an unfinished head: each holds a scratch block (the
// head so far) until it completes.
// Unfinished heads, one at a time, each counted in the shard's held memory before the next, until
// the shard sheds. Each holds about 18 KiB (header_bytes plus the header table): some 55 of them
// are over 95% of 1 MiB. None is left waiting in the kernel's backlog: accepted all at once when
// the memory comes back, a crowd of them could cross the budget again before the others' ends
// are read.
std::vector<Conn> heads_until_shedding(uint16_t port, uint16_t admin) {
  std::vector<Conn> out;
  double held = metric(admin, "ringgate_overload_memory_bytes");
  while (out.size() < 200 && metric(admin, "ringgate_overload_shedding") != 1) {
    Conn c = connect_to(port);
    EXPECT_TRUE(c.valid());
    EXPECT_TRUE(send_all(c, "GET /hello HTTP/1.1\r\nHost: test\r\nX-Part: "));
    out.push_back(std::move(c));
    held =
        wait_metric(admin, "ringgate_overload_memory_bytes", [held](double v) { return v > held; });
  }
  return out;
}

// Requests on an open connection are refused while the shard is over its memory budget, a new
// connection waits unaccepted, and both are served once the memory is given back.
TEST_F(OverloadTest, OverTheMemoryBudgetNewRequestsAreRefusedAndAcceptingPauses) {
  ConfigSpec spec;
  spec.sections = "overload: {memory: 1MiB}\n";
  spec.limits["header_timeout"] = "30s";
  auto& gw = start(spec);
  ASSERT_TRUE(gw.ok()) << gw.error();
  EXPECT_EQ(metric(gw.admin_port(), "ringgate_overload_memory_budget_bytes"), 1024 * 1024);

  Conn open = connect_to(gw.port());
  ASSERT_TRUE(send_all(open, request("GET", "/hello")));
  auto first = read_response(open);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->status, 200);
  EXPECT_EQ(metric(gw.admin_port(), "ringgate_overload_shedding"), 0);

  std::vector<Conn> heads = heads_until_shedding(gw.port(), gw.admin_port());
  EXPECT_GT(heads.size(), 40u);
  EXPECT_LT(heads.size(), 80u);
  EXPECT_EQ(
      wait_metric(gw.admin_port(), "ringgate_overload_shedding", [](double v) { return v == 1; }),
      1);
  // Shedding began at 95% (a head's bytes in a receive buffer on top of its block) and lasts
  // until the held memory is under 90%.
  EXPECT_GE(metric(gw.admin_port(), "ringgate_overload_memory_bytes"), 0.9 * 1024 * 1024);

  ASSERT_TRUE(send_all(open, request("GET", "/hello")));
  auto refused = read_response(open);
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 503) << refused->raw;
  EXPECT_EQ(refused->header("retry-after").value_or(""), "1");
  EXPECT_TRUE(refused->connection_has("close")) << refused->raw;
  EXPECT_NE(refused->body.find("overload.memory"), std::string::npos) << refused->body;
  EXPECT_TRUE(wait_closed(open));

  // A new connection completes its handshake in the kernel's backlog but is not accepted.
  Conn waiting = connect_to(gw.port());
  ASSERT_TRUE(waiting.valid());
  ASSERT_TRUE(send_all(waiting, request("GET", "/hello")));
  EXPECT_TRUE(stays_silent(waiting, 300ms));

  heads.clear();  // the memory comes back
  auto served = read_response(waiting);
  ASSERT_TRUE(served);
  EXPECT_EQ(served->status, 200) << served->raw;
  EXPECT_EQ(metric(gw.admin_port(), "ringgate_overload_shedding"), 0);
  EXPECT_EQ(metric(gw.admin_port(), "ringgate_overload_sheds_total"), 1);
  EXPECT_EQ(metric(gw.admin_port(), "ringgate_overload_shed_requests_total"), 1);
  // The pause was the overload's, not the connection cap's.
  EXPECT_EQ(metric(gw.admin_port(), "ringgate_accept_pauses_total"), 0);
  EXPECT_GE(metric(gw.admin_port(), "ringgate_overload_memory_bytes"), 0);
  EXPECT_LT(metric(gw.admin_port(), "ringgate_overload_memory_bytes"), 0.9 * 1024 * 1024);
}

// The descriptor budget: at 95% of `fds` open sockets the shard stops accepting; the admin
// listener stays reachable; closing connections brings accepting back.
TEST_F(OverloadTest, AtTheDescriptorBudgetAcceptingPausesUntilSocketsClose) {
  ConfigSpec spec;
  spec.sections = "overload: {fds: 40}\n";
  auto& gw = start(spec);
  ASSERT_TRUE(gw.ok()) << gw.error();
  std::vector<Conn> idle;
  for (int i = 0; i < 38; ++i) {  // 95% of 40
    idle.push_back(connect_to(gw.port()));
    ASSERT_TRUE(idle.back().valid());
  }
  EXPECT_EQ(wait_metric(gw.admin_port(), "ringgate_overload_fds", [](double v) { return v >= 38; }),
            38);
  EXPECT_EQ(metric(gw.admin_port(), "ringgate_overload_shedding"), 1);  // the admin answers
  Conn waiting = connect_to(gw.port());
  ASSERT_TRUE(waiting.valid());
  ASSERT_TRUE(send_all(waiting, request("GET", "/hello")));
  EXPECT_TRUE(stays_silent(waiting, 300ms));
  idle.resize(30);  // under 90% of 40 once the shard sees them go
  auto served = read_response(waiting);
  ASSERT_TRUE(served);
  EXPECT_EQ(served->status, 200) << served->raw;
  EXPECT_EQ(metric(gw.admin_port(), "ringgate_overload_shedding"), 0);
}

}  // namespace
}  // namespace ringgate::it
