#include <string>
#include <vector>

#include "parser_fixture.h"

namespace ringgate {
namespace {

class ResponseParserTest : public ParserFixture<ResponseParser> {
 protected:
  ResponseParserTest() {
    limits_.header_bytes = 2048;
    limits_.headers = 16;
    limits_.body_bytes = 1024;
  }

  struct Seen {
    std::vector<int> statuses;
    int complete = 0;
    int errors = 0;
    uint16_t error_status = 0;
    std::string body;
    bool keep_alive = false;
  };

  // Feeds the pieces in order; `eof` then reports the upstream closing the connection.
  Seen run(const std::vector<std::string>& pieces, bool eof = false) {
    Seen seen;
    StringSink sink(seen.body);
    parser_.set_body_sink(&sink);
    auto on_event = [&](MessageParser::Event ev) {
      if (ev == MessageParser::Event::kHead) {
        seen.statuses.push_back(parser_.status());
      } else if (ev == MessageParser::Event::kMessageComplete) {
        ++seen.complete;
        seen.keep_alive = parser_.keep_alive();
      } else if (ev == MessageParser::Event::kError) {
        ++seen.errors;
        seen.error_status = ringgate::error_status(parser_.error().error());
      }
    };
    if (!feed_pieces(pieces, on_event)) {
      parser_.set_body_sink(nullptr);
      return seen;
    }
    if (eof) {
      on_event(parser_.finish());
    }
    parser_.set_body_sink(nullptr);
    return seen;
  }
};

// Everything a response's consumer reads, event by event: the same whether the head went
// through the plain-response fast path or through llhttp.
struct Trace {
  std::vector<std::string> events;
  std::string body;
};

TEST_F(ResponseParserTest, PlainResponsesReadAsLlhttpDoes) {
  const std::vector<std::vector<std::string>> cases = {
      // The fast path's own shape, and pieces of it.
      {"HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: application/json\r\n"
       "Content-Length: 5\r\nConnection: keep-alive\r\n\r\nhello"},
      {"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n01234", "56789",
       "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"},
      {"HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nz"},
      {"HTTP/1.1 304 Not Modified\r\nETag: \"a\"\r\nContent-Length: 7\r\n\r\n"},
      {"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"},
      {"HTTP/1.1 200 \r\nx-empty: \r\nx-tab: a\tb\r\nContent-Length: 1\r\n\r\n!"},
      {"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\ncontent-length: 3\r\n\r\nbye"},
      {"HTTP/1.1 200 OK\r\nX-Name: caf\xc3\xa9\r\nContent-Length: 0\r\n\r\n"},
      {"HTTP/1.1 200 Fine\tthanks\r\nContent-Length: 0\r\n\r\n"},
      {"HTTP/1.1 200 OK\r\nX: \x7f\r\nContent-Length: 0\r\n\r\n"},
      {"HTTP/1.1 200 OK\r\nX: a\x01b\r\nContent-Length: 0\r\n\r\n"},
      // Long values: the 16-byte scan, and what it must stop at beyond the first 16 bytes.
      {"HTTP/1.1 200 OK\r\nX-Long: " + std::string(40, 'v') + "\tw" + std::string(20, 'x') +
       "\r\nContent-Length: 0\r\n\r\n"},
      {"HTTP/1.1 200 OK\r\nX-Long: " + std::string(33, 'v') + "\x01" + std::string(20, 'x') +
       "\r\nContent-Length: 0\r\n\r\n"},
      {"HTTP/1.1 200 OK\r\nX-Long: " + std::string(47, 'v') + "\x7f\r\nContent-Length: 0\r\n\r\n"},
      {"HTTP/1.1 200 OK\r\nX-Long: " + std::string(31, 'v') + "\xe2\x82\xac" +
       std::string(31, 'v') + "\r\nContent-Length: 0\r\n\r\n"},
      {"HTTP/1.1 200 OK\r\nX-Long: " + std::string(31, 'v') + "\nContent-Length: 0\r\n\r\n"},
      // Not plain: llhttp's path either way, same outcome.
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"},
      {"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc"},
      {"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
      {"HTTP/1.1 200 OK\r\nContent-Length:  3\r\n\r\nabc"},
      {"HTTP/1.1 200 OK\r\nContent-Length: 3 \r\n\r\nabc"},
      {"HTTP/1.1 200 OK\r\nContent-Length: +3\r\n\r\nabc"},
      {"HTTP/1.1 200 OK\r\nBad Name: x\r\nContent-Length: 0\r\n\r\n"},
      {"HTTP/1.1 200 OK\r\nX: a\rb\r\nContent-Length: 0\r\n\r\n"},
      {"HTTP/1.1 200 OK\r\nConnection: upgrade\r\nContent-Length: 0\r\n\r\n"},
      {"HTTP/1.1 200 OK\r\nContent-Length: 2000\r\n\r\n"},  // over the body limit
      {"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok"},
      {"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"},
      {"HTTP/1.1 200 OK\r\nServer: x\r\n\r\nuntil close"},
      {"HTTP/1.1 200 OK\r\n X: folded\r\nContent-Length: 0\r\n\r\n"},
      {"HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n"},
      {"HTTP/1.1 200 OK\nContent-Length: 0\n\n"},
      // llhttp, then the fast path, then llhttp again: llhttp judges the keep-alive of the
      // message before its own from what the fast path left (a close, or not).
      {"HTTP/1.",
       "1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
       "\r\nokHTTP/1.1 200 live\r\n\r\nabc"},
      {"HTTP/1.",
       "1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
       "Connection: close\r\n\r\nokHTTP/1.1 200 live\r\n\r\nabc"},
      {"HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 200 \r\n\r\n"},
  };
  const auto trace = [&](const std::vector<std::string>& pieces, bool fast) {
    parser_.reset();
    parser_.set_plain_fast_path(fast);
    Trace t;
    StringSink sink(t.body);
    parser_.set_body_sink(&sink);
    feed_pieces(pieces, [&](MessageParser::Event ev) {
      if (ev == MessageParser::Event::kHead) {
        std::string e = "head " + std::to_string(parser_.status()) +
                        " body=" + std::to_string(parser_.has_body()) +
                        " cl=" + std::to_string(parser_.has_content_length()) + ":" +
                        std::to_string(parser_.content_length()) +
                        " ka=" + std::to_string(parser_.keep_alive()) +
                        " bytes=" + std::to_string(parser_.head_bytes());
        for (int i = 0; i < parser_.header_count(); ++i) {
          e += " [" + std::string(parser_.header_name(i)) + "=" +
               std::string(parser_.header_value(i)) + "]";
        }
        t.events.push_back(e);
      } else if (ev == MessageParser::Event::kMessageComplete) {
        t.events.push_back("complete ka=" + std::to_string(parser_.keep_alive()));
      } else if (ev == MessageParser::Event::kError) {
        t.events.push_back("error " + std::to_string(error_status(parser_.error().error())));
      }
    });
    t.events.push_back(parser_.in_message() ? "in message" : "between messages");
    parser_.set_body_sink(nullptr);
    parser_.set_plain_fast_path(true);
    return t;
  };
  for (const auto& pieces : cases) {
    const Trace slow = trace(pieces, false);
    const Trace fast = trace(pieces, true);
    EXPECT_EQ(fast.events, slow.events) << pieces.front();
    EXPECT_EQ(fast.body, slow.body) << pieces.front();
  }
}

TEST_F(ResponseParserTest, CommonResponsesAreReadWithoutLlhttp) {
  const std::string all =
      "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Sat, 05 Dec 2026 04:58:00 GMT\r\n"
      "Content-Type: application/json\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\n"
      "{}"
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
      "HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n";
  EXPECT_EQ(plain_reads(all), (std::vector<bool>{true, false, true}));
}

TEST_F(ResponseParserTest, APlainResponseCutShortIsAnError) {
  Seen s = run({"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n01234"}, true);
  EXPECT_EQ(s.statuses, (std::vector<int>{200}));
  EXPECT_EQ(s.complete, 0);
  EXPECT_EQ(s.errors, 1);
  EXPECT_EQ(s.body, "01234");
}

TEST_F(ResponseParserTest, ContentLengthAndChunkedResponsesInOneStream) {
  Seen s = run({"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: 1\r\n\r\nhello",
                "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
                "HTTP/1.1 204 No Content\r\n\r\n"});
  ASSERT_EQ(s.errors, 0) << s.error_status;
  EXPECT_EQ(s.statuses, (std::vector<int>{200, 201, 204}));
  EXPECT_EQ(s.complete, 3);
  EXPECT_EQ(s.body, "helloabc");
  EXPECT_TRUE(s.keep_alive);
}

TEST_F(ResponseParserTest, ResponseToHeadHasNoBodyWhateverItsLength) {
  parser_.set_head_request(true);
  Seen s = run({"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"});
  EXPECT_EQ(s.errors, 0);
  EXPECT_EQ(s.complete, 1);
  EXPECT_TRUE(s.body.empty());
}

// An interim response has no body whatever its framing says (llhttp would read one by it, and
// report the head only after that body, its views into bytes already given back); a status
// below 100 is refused.
TEST_F(ResponseParserTest, InterimResponsesHaveNoBody) {
  for (const std::string status : {"199 Odd", "104 New", "100 Continue", "103 Early Hints"}) {
    for (const bool fast : {true, false}) {
      parser_.reset();
      parser_.set_plain_fast_path(fast);
      Seen s = run({"HTTP/1.1 " + status + "\r\nContent-Length: 5\r\n\r\n",
                    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"});
      EXPECT_EQ(s.errors, 0) << status << " fast " << fast;
      EXPECT_EQ(s.statuses, (std::vector<int>{std::stoi(status), 200})) << status;
      EXPECT_EQ(s.body, "ok") << status << " fast " << fast;
    }
  }
  for (const bool fast : {true, false}) {
    parser_.reset();
    parser_.set_plain_fast_path(fast);
    Seen s = run({"HTTP/1.1 20 Short\r\nContent-Length: 2\r\n\r\n", "ok"});
    EXPECT_EQ(s.errors, 1) << fast;
    EXPECT_TRUE(s.statuses.empty()) << fast;
  }
  parser_.set_plain_fast_path(true);
}

// head_bytes() is the head's size, status line to blank line, with fields or without.
TEST_F(ResponseParserTest, HeadBytesIsTheHeadsSize) {
  expect_head_bytes_are_sizes({"HTTP/1.1 204 No Content\r\n\r\n", "HTTP/1.1 204 \r\n\r\n",
                               "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
                               "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX:\r\n\r\n"});
}

// A response to HEAD without Content-Length has no body to read until close: the connection
// stays usable, read either way.
TEST_F(ResponseParserTest, ResponseToHeadWithoutLengthKeepsTheConnection) {
  for (const bool fast : {true, false}) {
    parser_.reset();
    parser_.set_plain_fast_path(fast);
    parser_.set_head_request(true);
    Seen s = run({"HTTP/1.1 200 OK\r\nServer: x\r\nConnection: keep-alive\r\n\r\n"});
    EXPECT_EQ(s.errors, 0) << fast;
    EXPECT_EQ(s.complete, 1) << fast;
    EXPECT_TRUE(s.keep_alive) << fast;
  }
  parser_.set_plain_fast_path(true);
}

TEST_F(ResponseParserTest, BodyUntilCloseCompletesAtEof) {
  Seen s = run({"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\npart one ", "part two"}, true);
  EXPECT_EQ(s.errors, 0);
  EXPECT_EQ(s.complete, 1);
  EXPECT_EQ(s.body, "part one part two");
  EXPECT_FALSE(s.keep_alive);
}

TEST_F(ResponseParserTest, TruncatedBodyAtEofIs502) {
  Seen s = run({"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort"}, true);
  EXPECT_EQ(s.complete, 0);
  EXPECT_EQ(s.errors, 1);
  EXPECT_EQ(s.error_status, 502);
}

TEST_F(ResponseParserTest, EofBetweenResponsesIsClean) {
  Seen s = run({"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"}, true);
  EXPECT_EQ(s.errors, 0);
  EXPECT_EQ(s.complete, 1);
}

TEST_F(ResponseParserTest, HeadOverLimitIs502) {
  Seen s = run({"HTTP/1.1 200 OK\r\nX-Big: " + std::string(3000, 'a') + "\r\n\r\n"});
  EXPECT_EQ(s.errors, 1);
  EXPECT_EQ(s.error_status, 502);
}

TEST_F(ResponseParserTest, InterimResponsesComeFirst) {
  Seen s = run({"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"});
  EXPECT_EQ(s.errors, 0);
  EXPECT_EQ(s.statuses, (std::vector<int>{100, 200}));
  EXPECT_EQ(s.complete, 2);
  EXPECT_EQ(s.body, "ok");
}

// Responses stream to the client with backpressure, so the request body limit does not bound them.
TEST_F(ResponseParserTest, ResponseBodyIsNotBoundByTheRequestBodyLimit) {
  const std::string body(5000, 'x');
  Seen s = run({"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n" + body.substr(0, 2500),
                body.substr(2500)});
  EXPECT_EQ(s.errors, 0) << s.error_status;
  EXPECT_EQ(s.complete, 1);
  EXPECT_EQ(s.body, body);
}

struct BadResponse {
  const char* name;
  const char* bytes;
};

class ResponseParserRejects : public ResponseParserTest,
                              public ::testing::WithParamInterface<BadResponse> {};

// Every framing an attacker (or a broken upstream) could use to desynchronise a pooled connection
// is a 502 for that upstream.
TEST_P(ResponseParserRejects, As502) {
  Seen s = run({GetParam().bytes});
  EXPECT_EQ(s.errors, 1) << GetParam().name;
  EXPECT_EQ(s.error_status, 502) << GetParam().name;
  EXPECT_EQ(s.complete, 0) << GetParam().name;
}

INSTANTIATE_TEST_SUITE_P(
    Framing, ResponseParserRejects,
    ::testing::Values(
        BadResponse{"cl_and_te",
                    "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
                    "0\r\n\r\n"},
        BadResponse{"two_cl",
                    "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabc"},
        BadResponse{"bad_chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"},
        BadResponse{"garbage", "\x16\x03\x01 binary junk\r\n\r\n"},
        BadResponse{"no_status", "HTTP/1.1 OK\r\nContent-Length: 0\r\n\r\n"},
        BadResponse{"obs_fold", "HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 0\r\n\r\n"},
        BadResponse{"status_line_garbage", "HTTP/1.1 2x0 OK\r\n\r\n"},
        // A coding the gateway does not decode: relayed re-chunked, its body would lose it.
        BadResponse{"te_gzip_until_close",
                    "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nConnection: close\r\n\r\nxyz"},
        BadResponse{"te_gzip_then_chunked",
                    "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"}),
    [](const ::testing::TestParamInfo<BadResponse>& p) { return std::string(p.param.name); });

}  // namespace
}  // namespace ringgate
