#include <string>
#include <vector>

#include "parser_fixture.h"

namespace ringgate {
namespace {

class ParserTest : public ParserFixture<RequestParser> {
 protected:
  ParserTest() {
    limits_.header_bytes = 1024;
    limits_.headers = 8;
    limits_.request_line = 128;
    limits_.body_bytes = 64;
  }

  // Feeds `pieces` one after another (each copied into its own buffer, freed after use, as ring
  // buffers are recycled) and records the events.
  struct Seen {
    std::vector<std::string> targets;
    std::vector<std::string> hosts;
    std::string path, query;                                   // of the last head
    std::vector<std::pair<std::string, std::string>> headers;  // of the last head
    bool keep_alive = false;
    bool expect_continue = false;
    bool has_body = false;
    int complete = 0;
    int errors = 0;
    uint16_t status = 0;
    std::string body;
  };

  Seen run(const std::vector<std::string>& pieces) {
    Seen seen;
    StringSink sink(seen.body);
    parser_.set_body_sink(&sink);
    for (const std::string& piece : pieces) {
      std::vector<char> buf(piece.begin(), piece.end());
      size_t off = 0;
      for (;;) {
        size_t consumed = 0;
        auto ev = parser_.feed(buf.data() + off, buf.size() - off, consumed);
        off += consumed;
        if (ev == RequestParser::Event::kHead) {
          seen.targets.emplace_back(parser_.target());
          seen.hosts.emplace_back(parser_.host());
          // Views are valid only while the fed bytes are: copy what the checks need now.
          seen.path = parser_.path();
          seen.query = parser_.query();
          seen.headers.clear();
          for (int i = 0; i < parser_.header_count(); ++i) {
            seen.headers.emplace_back(parser_.header_name(i), parser_.header_value(i));
          }
          seen.expect_continue = parser_.expect_continue();
          seen.has_body = parser_.has_body();
        } else if (ev == RequestParser::Event::kMessageComplete) {
          ++seen.complete;
          seen.keep_alive = parser_.keep_alive();
        } else if (ev == RequestParser::Event::kError) {
          ++seen.errors;
          seen.status = static_cast<uint16_t>(error_status(parser_.error().error()));
          parser_.set_body_sink(nullptr);
          return seen;
        } else if (off >= buf.size()) {
          break;
        }
      }
      // The piece is gone now (like a recycled ring buffer); poison it to catch stale views.
      std::fill(buf.begin(), buf.end(), '#');
    }
    parser_.set_body_sink(nullptr);
    return seen;
  }
};

TEST_F(ParserTest, SimpleGetIsOneHeadAndOneCompletion) {
  Seen s = run({"GET /a?x=1 HTTP/1.1\r\nHost: example.com:8080\r\nX-Y:  v  \r\n\r\n"});
  ASSERT_EQ(s.errors, 0);
  ASSERT_EQ(s.targets.size(), 1u);
  EXPECT_EQ(s.targets[0], "/a?x=1");
  EXPECT_EQ(s.hosts[0], "example.com");
  EXPECT_EQ(s.complete, 1);
  EXPECT_EQ(s.path, "/a");
  EXPECT_EQ(s.query, "x=1");
  ASSERT_EQ(s.headers.size(), 2u);
  EXPECT_EQ(s.headers[1].first, "X-Y");
  EXPECT_EQ(s.headers[1].second, "v");  // OWS trimmed on both sides
  EXPECT_TRUE(s.keep_alive);
  EXPECT_FALSE(parser_.in_message());
}

// Heads as an HTTP/2 stream writes them read the same with set_own_input (no llhttp for a
// plain bodiless head) as through llhttp: the same fields, target, method, version, framing and
// keep-alive, the same errors at the same limits; what the fast path does not take, llhttp does.
TEST_F(ParserTest, OwnInputReadsAsLlhttpDoes) {
  const std::vector<std::string> heads = {
      "GET /a/b?x=1 HTTP/1.1\r\nhost: api.test\r\nuser-agent: t/1\r\nconnection: close\r\n\r\n",
      "HEAD / HTTP/1.1\r\nhost: h:8080\r\naccept: */*\r\ncookie: a=1; b=2\r\n"
      "connection: close\r\n\r\n",
      "DELETE /x HTTP/1.1\r\nhost: h\r\nx-empty: \r\nconnection: close\r\n\r\n",
      // Not plain: the parser's own path, same outcome.
      "POST /p HTTP/1.1\r\nhost: h\r\ncontent-length: 3\r\nconnection: close\r\n\r\nabc",
      "PUT /p HTTP/1.1\r\nhost: h\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n"
      "1\r\nz\r\n0\r\n\r\n",
      "GET /e HTTP/1.1\r\nhost: h\r\nexpect: 100-continue\r\nconnection: close\r\n\r\n",
      "GET /t HTTP/1.1\r\nhost: h\r\nx-tab: a\tb\r\nconnection: close\r\n\r\n",
      "BREW /pot HTTP/1.1\r\nhost: h\r\nconnection: close\r\n\r\n",
      // Errors at the same limits: no Host, two Hosts, too many fields, a long target.
      "GET / HTTP/1.1\r\nconnection: close\r\n\r\n",
      "GET / HTTP/1.1\r\nhost: a\r\nhost: b\r\nconnection: close\r\n\r\n",
      "GET / HTTP/1.1\r\nhost: h\r\na: 1\r\nb: 1\r\nc: 1\r\nd: 1\r\ne: 1\r\nf: 1\r\ng: 1\r\n"
      "connection: close\r\n\r\n",
      "GET /" + std::string(130, 'l') + " HTTP/1.1\r\nhost: h\r\nconnection: close\r\n\r\n",
      "GET /a b HTTP/1.1\r\nhost: h\r\nconnection: close\r\n\r\n",
  };
  for (const std::string& head : heads) {
    parser_.reset();
    const Seen plain = run({head});
    const int plain_method = parser_.method();
    const int plain_minor = parser_.http_minor();
    parser_.reset();
    parser_.set_own_input(true);
    const Seen own = run({head});
    EXPECT_EQ(own.errors, plain.errors) << head;
    EXPECT_EQ(own.status, plain.status) << head;
    EXPECT_EQ(own.targets, plain.targets) << head;
    EXPECT_EQ(own.hosts, plain.hosts) << head;
    EXPECT_EQ(own.headers, plain.headers) << head;
    EXPECT_EQ(own.complete, plain.complete) << head;
    EXPECT_EQ(own.keep_alive, plain.keep_alive) << head;
    EXPECT_EQ(own.has_body, plain.has_body) << head;
    EXPECT_EQ(own.expect_continue, plain.expect_continue) << head;
    EXPECT_EQ(own.body, plain.body) << head;
    if (plain.errors == 0) {
      EXPECT_EQ(parser_.method(), plain_method) << head;
      EXPECT_EQ(parser_.http_minor(), plain_minor) << head;
    }
  }
}

TEST_F(ParserTest, PipelinedRequestsStopAtEachMessage) {
  std::string two =
      "GET /1 HTTP/1.1\r\nHost: h\r\n\r\n"
      "POST /2 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc"
      "GET /3 HTTP/1.1\r\nHost: h\r\n\r\n";
  Seen s = run({two});
  ASSERT_EQ(s.errors, 0);
  EXPECT_EQ(s.targets, (std::vector<std::string>{"/1", "/2", "/3"}));
  EXPECT_EQ(s.complete, 3);
  EXPECT_EQ(s.body, "abc");
}

TEST_F(ParserTest, HeadSpanningPiecesIsCopiedAndViewsStayValid) {
  std::string req = "GET /spanning/path HTTP/1.1\r\nHost: span.example\r\nAccept: */*\r\n\r\n";
  std::vector<std::string> bytes;
  for (char c : req) {
    bytes.emplace_back(1, c);  // one byte at a time
  }
  Seen s = run(bytes);
  ASSERT_EQ(s.errors, 0);
  ASSERT_EQ(s.targets.size(), 1u);
  EXPECT_EQ(s.targets[0], "/spanning/path");
  EXPECT_EQ(s.hosts[0], "span.example");
  // Views are still readable after every piece was poisoned: they live in scratch.
  EXPECT_EQ(parser_.header("accept"), "*/*");
  EXPECT_EQ(s.complete, 1);
}

TEST_F(ParserTest, ChunkedBodyIsDecoded) {
  Seen s = run({"POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n", "3\r\nabc\r\n",
                "2\r\nde\r\n0\r\n\r\n"});
  ASSERT_EQ(s.errors, 0);
  EXPECT_EQ(s.body, "abcde");
  EXPECT_EQ(s.complete, 1);
}

// The value check reads eight bytes at a time: a fold is found wherever it falls in a long
// value, and tabs (below CR, like it) are still accepted.
TEST_F(ParserTest, FoldFoundAtAnyOffsetOfALongValue) {
  for (size_t at = 0; at < 24; ++at) {
    const std::string value = std::string(at, 'v') + "\r\n folded" + std::string(20, 'w');
    Seen s = run({"GET / HTTP/1.1\r\nHost: h\r\nX-A: " + value + "\r\n\r\n"});
    EXPECT_EQ(s.errors, 1) << at;
    EXPECT_EQ(s.status, 400) << at;
    parser_.release();
    parser_.init(&ctx_);
  }
}

TEST_F(ParserTest, TabsInALongValueAreAccepted) {
  // In two pieces, so the head is kept in scratch and its views outlive run().
  Seen ok = run({"GET / HTTP/1.1\r\nHost: h\r\nX-A: a\tb\tcdefg", "hijklmnop\tqrstuvwxyz\r\n\r\n"});
  EXPECT_EQ(ok.errors, 0) << ok.status;
  EXPECT_EQ(parser_.header("x-a"), "a\tb\tcdefghijklmnop\tqrstuvwxyz");
}

struct Bad {
  const char* name;
  const char* request;
  uint16_t status;
};

class ParserRejects : public ParserTest, public ::testing::WithParamInterface<Bad> {};

TEST_P(ParserRejects, WithStatus) {
  Seen s = run({GetParam().request});
  EXPECT_EQ(s.errors, 1) << GetParam().name;
  EXPECT_EQ(s.status, GetParam().status) << GetParam().name;
  EXPECT_EQ(s.complete, 0) << GetParam().name;
}

INSTANTIATE_TEST_SUITE_P(
    Framing, ParserRejects,
    ::testing::Values(
        Bad{"cl_and_te",
            "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
            "0\r\n\r\n",
            400},
        Bad{"double_cl",
            "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", 400},
        Bad{"obs_fold", "GET / HTTP/1.1\r\nHost: h\r\nX-A: a\r\n  folded\r\n\r\n", 400},
        Bad{"bare_lf", "GET / HTTP/1.1\nHost: h\n\n", 400},
        Bad{"bare_cr_in_value", "GET / HTTP/1.1\r\nHost: h\r\nX-A: a\rb\r\n\r\n", 400},
        Bad{"obs_fold_empty_first_line",
            "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n", 400},
        Bad{"empty_header_name", "GET / HTTP/1.1\r\nHost: h\r\n: v\r\n\r\n", 400},
        Bad{"empty_first_header_name", "GET / HTTP/1.1\r\n: v\r\nHost: h\r\n\r\n", 400},
        Bad{"space_before_colon", "GET / HTTP/1.1\r\nHost : h\r\n\r\n", 400},
        Bad{"bad_chunk_size",
            "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400},
        Bad{"te_not_chunked_last",
            "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400},
        Bad{"missing_host", "GET / HTTP/1.1\r\n\r\n", 400},
        Bad{"two_hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
        Bad{"expect_other", "GET / HTTP/1.1\r\nHost: h\r\nExpect: magic\r\n\r\n", 417},
        Bad{"http2_line", "GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505},
        Bad{"garbage", "\x01\x02\x03 / HTTP/1.1\r\n\r\n", 400},
        Bad{"long_target",
            "GET "
            "/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa HTTP/1.1\r\nHost: h\r\n\r\n",
            414},
        Bad{"too_many_headers",
            "GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 1\r\nC: 1\r\nD: 1\r\nE: 1\r\nF: 1\r\nG: 1\r\n"
            "H: 1\r\n\r\n",
            431},
        Bad{"cl_over_limit", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 65\r\n\r\n", 413},
        Bad{"chunked_over_limit",
            "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
            "41\r\naaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n0\r\n\r\n",
            413}),
    [](const ::testing::TestParamInfo<Bad>& p) { return std::string(p.param.name); });

TEST_F(ParserTest, TrailersAreNotHeadFields) {
  // A trailer named Host or Expect must not count as a second Host or an expectation, and a
  // trailer in a later piece than the head must not be measured against the head.
  Seen s = run({"POST /t HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n",
                "0\r\nHost: evil\r\nExpect: magic\r\n\r\n"});
  EXPECT_EQ(s.errors, 0) << s.status;
  EXPECT_EQ(s.complete, 1);
  EXPECT_EQ(s.body, "abc");
  ASSERT_EQ(s.hosts.size(), 1u);
  EXPECT_EQ(s.hosts[0], "h");
}

TEST_F(ParserTest, TrailersCountAgainstTheBodyLimit) {
  Seen s = run({"POST /t HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: " +
                std::string(100, 'a') + "\r\n\r\n"});
  EXPECT_EQ(s.errors, 1);
  EXPECT_EQ(s.status, 413);
}

TEST_F(ParserTest, HeadOverByteLimitIs431EvenWhenSpanning) {
  std::string big = "GET / HTTP/1.1\r\nHost: h\r\nX-Big: " + std::string(2000, 'v') + "\r\n\r\n";
  std::vector<std::string> pieces;
  for (size_t i = 0; i < big.size(); i += 100) {
    pieces.push_back(big.substr(i, 100));
  }
  Seen s = run(pieces);
  EXPECT_EQ(s.errors, 1);
  EXPECT_EQ(s.status, 431);
}

TEST_F(ParserTest, Http10Closes) {
  EXPECT_FALSE(run({"GET / HTTP/1.0\r\n\r\n"}).keep_alive);
}

TEST_F(ParserTest, Http10KeepAliveOnRequest) {
  EXPECT_TRUE(run({"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"}).keep_alive);
}

TEST_F(ParserTest, ConnectionCloseEndsTheConnection) {
  Seen s = run({"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"});
  EXPECT_FALSE(s.keep_alive);
  // Anything after a request that closed the connection is refused, never parsed as a request.
  s = run({"GET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n"});
  EXPECT_EQ(s.errors, 1);
  EXPECT_TRUE(s.targets.empty());
}

TEST_F(ParserTest, ExpectContinueIsFlagged) {
  Seen s = run({"POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n"});
  ASSERT_EQ(s.targets.size(), 1u);
  EXPECT_TRUE(s.expect_continue);
  EXPECT_TRUE(s.has_body);
  EXPECT_EQ(s.complete, 0);  // body still to come
  s = run({"ok"});
  EXPECT_EQ(s.complete, 1);
}

TEST_F(ParserTest, ScratchIsReturnedToThePool) {
  run({"GET /x HTTP/1.1\r\nHo", "st: h\r\n\r\n"});
  EXPECT_EQ(pool_->in_use(), 1u);  // the spanning head lives in scratch until the next request
  run({"GET /y HTTP/1.1\r\nHost: h\r\n\r\n"});
  EXPECT_EQ(pool_->in_use(), 0u);
}

}  // namespace
}  // namespace ringgate
