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
    for (const std::string& piece : pieces) {
      std::vector<char> buf(piece.begin(), piece.end());
      size_t off = 0;
      for (;;) {
        size_t consumed = 0;
        auto ev = parser_.feed(buf.data() + off, buf.size() - off, consumed);
        off += consumed;
        on_event(ev);
        if (ev == MessageParser::Event::kError) {
          parser_.set_body_sink(nullptr);
          return seen;
        }
        if (ev == MessageParser::Event::kNeedMore && off >= buf.size()) {
          break;
        }
      }
    }
    if (eof) {
      on_event(parser_.finish());
    }
    parser_.set_body_sink(nullptr);
    return seen;
  }
};

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
        BadResponse{"status_line_garbage", "HTTP/1.1 2x0 OK\r\n\r\n"}),
    [](const ::testing::TestParamInfo<BadResponse>& p) { return std::string(p.param.name); });

}  // namespace
}  // namespace ringgate
