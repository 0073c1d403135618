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
    feed_pieces(pieces, [&](RequestParser::Event ev) {
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
      }
    });
    parser_.set_body_sink(nullptr);
    return seen;
  }

  std::vector<std::string> trace(const std::vector<std::string>& pieces, bool fast, bool own);
  void expect_same_both_ways(const std::vector<std::string>& pieces, bool own);
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

// Everything a request's consumer reads, event by event, through the fast path or through
// llhttp: the two must agree on every input (the fast path may only decline, never differ).
std::vector<std::string> ParserTest::trace(const std::vector<std::string>& pieces, bool fast,
                                           bool own) {
  parser_.reset();
  parser_.set_plain_fast_path(fast);
  parser_.set_own_input(own);
  std::vector<std::string> events;
  std::string body;
  StringSink sink(body);
  parser_.set_body_sink(&sink);
  feed_pieces(pieces, [&](RequestParser::Event ev) {
    if (ev == RequestParser::Event::kHead) {
      std::string e = "head " + std::to_string(parser_.method()) + " " +
                      std::string(parser_.target()) + " 1." + std::to_string(parser_.http_minor()) +
                      " host=" + std::string(parser_.host()) +
                      " body=" + std::to_string(parser_.has_body()) +
                      " cl=" + std::to_string(parser_.has_content_length()) + ":" +
                      std::to_string(parser_.content_length()) +
                      " chunked=" + std::to_string(parser_.chunked()) +
                      " ka=" + std::to_string(parser_.keep_alive()) +
                      " upgrade=" + std::to_string(parser_.upgrade()) +
                      " expect=" + std::to_string(parser_.expect_continue()) +
                      " bytes=" + std::to_string(parser_.head_bytes()) +
                      " in_head=" + std::to_string(parser_.in_head());
      for (int i = 0; i < parser_.header_count(); ++i) {
        e += " [" + std::string(parser_.header_name(i)) + "=" +
             std::string(parser_.header_value(i)) + "]";
      }
      // The path as routed: a fast path that read the target may have found it already normal.
      e += " path=" + std::string(parser_.path()) + " query=" + std::string(parser_.query());
      uint8_t path_flags = 0;
      Error refusal;
      const bool normal = parser_.normalize_path(&path_flags, &refusal);
      e += " normalised=" + std::to_string(normal) + ":" + std::string(parser_.path()) + ":" +
           std::to_string(path_flags) + " query=" + std::string(parser_.query());
      events.push_back(e);
    } else if (ev == RequestParser::Event::kMessageComplete) {
      events.push_back("complete ka=" + std::to_string(parser_.keep_alive()) + " body=" + body);
      body.clear();
    } else if (ev == RequestParser::Event::kError) {
      events.push_back("error " + std::to_string(error_status(parser_.error().error())));
    }
  });
  events.push_back(parser_.in_message() ? "in message" : "between messages");
  parser_.set_body_sink(nullptr);
  parser_.set_plain_fast_path(true);
  parser_.set_own_input(false);
  return events;
}

void ParserTest::expect_same_both_ways(const std::vector<std::string>& pieces, bool own) {
  const std::vector<std::string> slow = trace(pieces, false, own);
  const std::vector<std::string> fast = trace(pieces, true, own);
  EXPECT_EQ(fast, slow) << testing::PrintToString(pieces);
}

TEST_F(ParserTest, PlainRequestsReadAsLlhttpDoes) {
  const std::vector<std::vector<std::string>> cases = {
      // The fast path's own shape, pipelined, in pieces, with bodies.
      {"GET /a/b?x=1 HTTP/1.1\r\nHost: api.test\r\nUser-Agent: t/1\r\nAccept: */*\r\n\r\n"},
      {"GET / HTTP/1.1\r\nHost: h\r\n\r\nHEAD /h HTTP/1.1\r\nhost: h:8080\r\n\r\n"
       "DELETE /d HTTP/1.1\r\nHOST: h\r\nx-empty: \r\nConnection: keep-alive\r\n\r\n"},
      {"POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhelloGET /n HTTP/1.1\r\n"
       "Host: h\r\n\r\n"},
      {"PUT /p HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n01234", "56789",
       "PATCH /q HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n"},
      {"OPTIONS /o HTTP/1.1\r\nHost: h\r\nX-Tab: a\tb\r\nX-Utf8: caf\xc3\xa9\r\n\r\n"},
      {"GET /x HTTP/1.1\r\nHost: h\r\nX-Long: " + std::string(40, 'v') + "\tw" +
       std::string(20, 'x') + "\r\n" + "X-Longer-Name-Than-Sixteen-Bytes: 1\r\n\r\n"},
      {"GET /x HTTP/1.1\r\nHo", "st: h\r\n\r\n"},  // split head: llhttp's scratch path
      {"GET /a HT",
       "TP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\nPOST /c HTTP/1.1\r\n"
       "Host: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
      {"GET /%7e/a.b~c_d!$&'()*+,;=:@?q=/?#frag HTTP/1.1\r\nHost: h\r\n\r\n"},
      {"GET /" + std::string(100, 'p') + " HTTP/1.1\r\nHost: h\r\n\r\n"},
      // Connection: close and what follows it (llhttp refuses bytes after a close).
      {"GET /c HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\nGET /d HTTP/1.1\r\nHost: h\r\n\r\n"},
      {"GET /c HTTP/1.1\r\nHost: h\r\nConnection: Close\r\n\r\n"},
      // Not plain: llhttp's path either way, same outcome (a plain one after each).
      {"POST /p HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
       "GET /n HTTP/1.1\r\nHost: h\r\n\r\n"},
      {"POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc"},
      {"POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"},
      {"POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: +3\r\n\r\nabc"},
      {"POST /p HTTP/1.1\r\nHost: h\r\nContent-Length:  3\r\n\r\nabc"},
      {"POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 3 \r\n\r\nabc"},
      {"POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 0003\r\n\r\nabc"},
      {"POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 65\r\n\r\n"},  // over body_bytes
      {"POST /p HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc"},
      {"GET /e HTTP/1.1\r\nHost: h\r\nExpect: nothing\r\n\r\n"},
      {"GET /u HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
       "GET /n HTTP/1.1\r\nHost: h\r\n\r\n"},
      {"GET /u HTTP/1.1\r\nHost: h\r\nUpgrade: h2c\r\n\r\n"},
      {"GET /k HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, te\r\nTE: trailers\r\n\r\n"},
      {"GET /k HTTP/1.1\r\nHost: h\r\nProxy-Connection: close\r\n\r\n"},
      {"GET / HTTP/1.1\r\n\r\n"},                                   // no Host
      {"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"},             // two
      {"GET / HTTP/1.0\r\n\r\nGET / HTTP/1.0\r\nHost: h\r\n\r\n"},  // 1.0
      {"GET / HTTP/1.1\r\nHost: h\r\na: 1\r\nb: 1\r\nc: 1\r\nd: 1\r\ne: 1\r\nf: 1\r\ng: 1\r\n\r\n"},
      {"GET /" + std::string(130, 'l') + " HTTP/1.1\r\nHost: h\r\n\r\n"},  // over request_line
      {"GET /a b HTTP/1.1\r\nHost: h\r\n\r\n"},
      {"GET  /a HTTP/1.1\r\nHost: h\r\n\r\n"},
      {"GET http://h/a HTTP/1.1\r\nHost: h\r\n\r\n"},
      {"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n"},
      {"get / HTTP/1.1\r\nHost: h\r\n\r\n"},
      {"BREW /pot HTTP/1.1\r\nHost: h\r\n\r\n"},
      {"\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n"},
      {"GET / HTTP/1.1\r\nHost: h\r\n X: folded\r\n\r\n"},
      {"GET / HTTP/1.1\r\nHost: h\r\nX:  two spaces\r\n\r\n"},
      {"GET / HTTP/1.1\r\nHost: h\r\nX:none\r\n\r\n"},
      {"GET / HTTP/1.1\r\nHost: h\r\nBad Name: x\r\n\r\n"},
      {"GET / HTTP/1.1\r\nHost: h\r\n: empty name\r\n\r\n"},
      {"GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n"},
      {"GET / HTTP/1.1\nHost: h\n\n"},
      {"GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n\n"},
      {"GET / HTTP/1.1\r\nHost: " + std::string(2000, 'h') + "\r\n\r\n"},  // over header_bytes
      // An empty last value (llhttp reports it at the next line): the head's size either way.
      {"POST /c HTTP/1.1\r\nHost:\r\n\r\n"},
      {"GET / HTTP/1.1\r\nHost: h\r\nX-Empty: \r\n\r\nGET / HTTP/1.1\r\nHost: h\r\nX-E:\r\n\r\n"},
  };
  for (const auto& pieces : cases) {
    expect_same_both_ways(pieces, false);
  }
}

// A parser goes to another connection as it stands only when what follows would be read as a
// next request: not after a close, an upgrade or trailers that say close (llhttp judges a
// message's keep-alive at its end), nor after an error.
TEST_F(ParserTest, ReusableOnlyWhenTheNextRequestWouldBeRead) {
  const std::vector<std::pair<std::string, bool>> cases = {
      {"GET / HTTP/1.1\r\nHost: h\r\n\r\n", true},
      {"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", false},
      {"GET / HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\nUpgrade: x\r\n\r\n", false},
      {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", true},
      {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n"
       "Connection: close\r\n\r\n",
       false},
      {"GET / HTTP/1.1\r\n\r\n", false},
  };
  for (const auto& [request, reusable] : cases) {
    for (const bool fast : {true, false}) {
      parser_.reset();
      parser_.set_plain_fast_path(fast);
      run({request});
      EXPECT_EQ(parser_.reusable(), reusable) << request << " fast " << fast;
    }
  }
  parser_.set_plain_fast_path(true);
}

// head_bytes() is the head's size, request line to blank line, however its last value ends.
TEST_F(ParserTest, HeadBytesIsTheHeadsSize) {
  expect_head_bytes_are_sizes(
      {"GET / HTTP/1.1\r\nHost: h\r\n\r\n", "GET / HTTP/1.1\r\nHost:\r\n\r\n",
       "GET / HTTP/1.1\r\nHost: h\r\nX: \r\n\r\n", "GET / HTTP/1.1\r\nHost: h\r\nX:  v \r\n\r\n"});
}

// The fast path does take the common shapes (the comparisons above would also hold if it took
// nothing): a browser-like GET, a POST with a length, pipelined; not chunked or a close.
TEST_F(ParserTest, CommonRequestsAreReadWithoutLlhttp) {
  const std::string get =
      "GET /api/v1/orders/12345?include=items HTTP/1.1\r\nHost: api.example.com\r\n"
      "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:109.0) Gecko/20100101 Firefox/115.0\r\n"
      "Accept: application/json\r\nAccept-Encoding: gzip, deflate, br\r\n"
      "Connection: keep-alive\r\nX-Request-Id: 7f1c2d3e-aaaa-bbbb-cccc-0123456789ab\r\n\r\n";
  const std::string post = "POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc";
  const std::string chunked =
      "POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
  const std::string close = "GET /z HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
  const std::string all = get + post + chunked + get + close;
  EXPECT_EQ(plain_reads(all), (std::vector<bool>{true, true, false, true, false}));
}

// Every byte value in each place the fast path scans: the target, a field name (at both ends
// of a 16-byte scan), a field value, the method and the version.
TEST_F(ParserTest, PlainRequestsReadAsLlhttpDoesForEveryByte) {
  for (int c = 0; c < 256; ++c) {
    const std::string x(1, static_cast<char>(c));
    const std::string next = "GET /next HTTP/1.1\r\nHost: h\r\n\r\n";
    expect_same_both_ways({"GET /a" + x + "b HTTP/1.1\r\nHost: h\r\n\r\n" + next}, false);
    expect_same_both_ways({"GET /a/" + x + "b HTTP/1.1\r\nHost: h\r\n\r\n" + next}, false);
    expect_same_both_ways({"GET /" + std::string(14, 'a') + "/" + x + "b/" + x +
                           " HTTP/1.1\r\nHost: h\r\n\r\n" + next},
                          false);
    expect_same_both_ways(
        {"GET /" + std::string(20, 'a') + x + "b HTTP/1.1\r\nHost: h\r\n\r\n" + next}, false);
    expect_same_both_ways({"GET / HTTP/1.1\r\nHost: h\r\nX" + x + "Y: v\r\n\r\n" + next}, false);
    expect_same_both_ways(
        {"GET / HTTP/1.1\r\nHost: h\r\nX-Twenty-Long-Name" + x + "Y: v\r\n\r\n" + next}, false);
    expect_same_both_ways({"GET / HTTP/1.1\r\nHost: h\r\nX: a" + x + "b\r\n\r\n" + next}, false);
    expect_same_both_ways(
        {"GET / HTTP/1.1\r\nHost: h\r\nX: " + std::string(20, 'a') + x + "b\r\n\r\n" + next},
        false);
    expect_same_both_ways({"GET / HTTP/1.1\r\nHost: h" + x + "\r\n\r\n" + next}, false);
    expect_same_both_ways({"G" + x + "T / HTTP/1.1\r\nHost: h\r\n\r\n" + next}, false);
    expect_same_both_ways({"GET / HTTP/1." + x + "\r\nHost: h\r\n\r\n" + next}, false);
  }
}

// What the path normaliser acts on, wherever it falls in the target scan's 16-byte blocks (the
// block's first byte after a '/' in the block before, the byte after its end, the scalar tail)
// and before or after the query: the same path is routed whichever way the head was read.
TEST_F(ParserTest, TargetsNormaliseAlikeBothWays) {
  const std::vector<std::string> paths = {"/",
                                          "//",
                                          "/a//b",
                                          "/./a",
                                          "/a/.",
                                          "/a/..",
                                          "/a/../b",
                                          "/.well-known/x",
                                          "/a/.b",
                                          "/a/b.",
                                          "/%41",
                                          "/a%2fb",
                                          "/a%2e%2e/b",
                                          "/a%",
                                          "/a%zz",
                                          "/a\\b",
                                          "/a?b//c/../%zz",
                                          "/a/?../",
                                          "/?",
                                          "/a?",
                                          "/..",
                                          "/a/b/c/d/e/f/g/h/i/j/k",
                                          "/a+b(c)~d!e$f",
                                          "/admin#x",
                                          "/a?b#c",
                                          "/#"};
  for (const std::string& path : paths) {
    for (size_t pad : {0, 1, 11, 12, 13, 14, 15, 16, 17, 30}) {
      // `pad` bytes of plain segment first move the path's bytes across the 16-byte blocks.
      const std::string target = pad == 0 ? path : "/" + std::string(pad, 'p') + path;
      expect_same_both_ways({"GET " + target + " HTTP/1.1\r\nHost: h\r\n\r\n"}, false);
    }
  }
  // A long plain path with dots and slashes in its query, read by the fast path: routed as it
  // came, the query left alone.
  const std::string plain =
      "GET /" + std::string(40, 'a') + "/b.c?x=/../ HTTP/1.1\r\nHost: h\r\n\r\n";
  EXPECT_EQ(plain_reads(plain), std::vector<bool>{true});
  const std::vector<std::string> events = trace({plain}, true, false);
  ASSERT_FALSE(events.empty());
  EXPECT_NE(events[0].find(" normalised=1:/" + std::string(40, 'a') + "/b.c:0 query=x=/../"),
            std::string::npos)
      << events[0];
  // A fragment is refused, in the path or after the query, whichever way the head is read: a
  // backend that splits it off would serve "/admin" for a "/admin#x" no "/admin" rule saw.
  for (const std::string& target :
       std::vector<std::string>{"/admin#x", "/a?b#c", "/#", "/" + std::string(30, 'a') + "#"}) {
    for (bool fast : {true, false}) {
      const std::vector<std::string> ev =
          trace({"GET " + target + " HTTP/1.1\r\nHost: h\r\n\r\n"}, fast, false);
      ASSERT_FALSE(ev.empty()) << target;
      EXPECT_NE(ev[0].find(" normalised=0:"), std::string::npos) << ev[0];
    }
  }
}

// Heads as an HTTP/2 stream writes them (set_own_input: one request that says Connection:
// close) read the same through the fast path as through llhttp.
TEST_F(ParserTest, OwnInputReadsAsLlhttpDoes) {
  const std::vector<std::string> heads = {
      "GET /a/b?x=1 HTTP/1.1\r\nhost: api.test\r\nuser-agent: t/1\r\nconnection: close\r\n\r\n",
      "HEAD / HTTP/1.1\r\nhost: h:8080\r\naccept: */*\r\ncookie: a=1; b=2\r\n"
      "connection: close\r\n\r\n",
      "DELETE /x HTTP/1.1\r\nhost: h\r\nx-empty: \r\nconnection: close\r\n\r\n",
      "POST /p HTTP/1.1\r\nhost: h\r\ncontent-length: 3\r\nconnection: close\r\n\r\nabc",
      "PUT /p HTTP/1.1\r\nhost: h\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n"
      "1\r\nz\r\n0\r\n\r\n",
      "GET /e HTTP/1.1\r\nhost: h\r\nexpect: 100-continue\r\nconnection: close\r\n\r\n",
      "GET / HTTP/1.1\r\nconnection: close\r\n\r\n",
      "GET / HTTP/1.1\r\nhost: a\r\nhost: b\r\nconnection: close\r\n\r\n",
  };
  for (const std::string& head : heads) {
    expect_same_both_ways({head}, true);
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

// Host values are checked (RFC 9112 3.2: 400 for an invalid one), alike by both readers; the
// host the router sees drops the port and a root dot.
TEST_F(ParserTest, HostValuesAreCheckedAndARootDotIsDropped) {
  const std::pair<const char*, const char*> good[] = {
      {"h", "h"},
      {"h:80", "h"},
      {"127.0.0.1:18080", "127.0.0.1"},
      {"[::1]:8080", "[::1]"},
      {"[v1.x]", "[v1.x]"},
      {"a.b-c_d~e!$&'()*+,;=%41", "a.b-c_d~e!$&'()*+,;=%41"},
      {"api.example.", "api.example"},
      {"api.example.:443", "api.example"},
      {"h:", "h"},
      {"", ""}};
  for (const auto& [value, host] : good) {
    const std::string head = std::string("GET / HTTP/1.1\r\nHost: ") + value + "\r\n\r\n";
    Seen s = run({head});
    EXPECT_EQ(s.errors, 0) << value;
    ASSERT_EQ(s.hosts.size(), 1u) << value;
    EXPECT_EQ(s.hosts[0], host);
    expect_same_both_ways({head}, false);
  }
  for (const char* value : {"a b", "a/b", "u@a", "a:80x", "a, b", "a:b:c", "[::1", "[]", "[::1]x",
                            "a?b", "a#b", "a\"b", "a\\b", "h:8\t0"}) {
    const std::string head = std::string("GET / HTTP/1.1\r\nHost: ") + value + "\r\n\r\n";
    Seen s = run({head});
    EXPECT_EQ(s.errors, 1) << value;
    EXPECT_EQ(s.status, 400) << value;
    expect_same_both_ways({head}, false);
  }
}

// An absolute-form target (RFC 9112 3.2.2: a server MUST accept it) is routed by its path, and
// its authority is the host, whatever the Host field says; any other scheme, or user
// information in the authority, is refused.
TEST_F(ParserTest, AnAbsoluteFormTargetBecomesItsPathAndItsAuthorityTheHost) {
  struct Case {
    const char* target;
    const char* path;
    const char* query;
    const char* host_field;  // the Host field as read from here on: the target's authority
    const char* host;        // host(): without the port
  };
  const Case cases[] = {
      {"http://a.example:8080/x/../y?q=1", "/y", "q=1", "a.example:8080", "a.example"},
      {"HTTPS://A.example/p", "/p", "", "A.example", "A.example"},
      {"http://a.example", "/", "", "a.example", "a.example"},
      {"http://a.example?x=/..", "/", "x=/..", "a.example", "a.example"},
      {"http://[::1]:9/v", "/v", "", "[::1]:9", "[::1]"},
  };
  for (const Case& k : cases) {
    const std::string head =
        std::string("GET ") + k.target + " HTTP/1.1\r\nHost: other.example\r\nX-A: 1\r\n\r\n";
    std::string path, query, host_field, host;
    bool normal = false;
    feed_pieces({head}, [&](RequestParser::Event ev) {
      if (ev == RequestParser::Event::kHead) {
        uint8_t flags = 0;
        Error refusal;
        normal = parser_.normalize_path(&flags, &refusal);
        path = parser_.path();
        query = parser_.query();
        host_field = parser_.header("host");
        host = parser_.host();
        EXPECT_EQ(parser_.header("x-a"), "1") << k.target;
      }
    });
    EXPECT_TRUE(normal) << k.target;
    EXPECT_EQ(path, k.path) << k.target;
    EXPECT_EQ(query, k.query) << k.target;
    EXPECT_EQ(host_field, k.host_field) << k.target;
    EXPECT_EQ(host, k.host) << k.target;
    parser_.reset();
  }
  for (const char* target :
       {"ftp://a.example/x", "http://u@a.example/x", "http:///x", "a.example/x", "http://a b/x"}) {
    const std::string head =
        std::string("GET ") + target + " HTTP/1.1\r\nHost: other.example\r\n\r\n";
    bool refused = false;
    int errors = 0;
    feed_pieces({head}, [&](RequestParser::Event ev) {
      if (ev == RequestParser::Event::kHead) {
        uint8_t flags = 0;
        Error refusal;
        refused =
            !parser_.normalize_path(&flags, &refusal) && refusal.kind == ErrorKind::kMalformed;
      } else if (ev == RequestParser::Event::kError) {
        ++errors;
      }
    });
    EXPECT_TRUE(refused || errors > 0) << target;
    parser_.reset();
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
        Bad{"te_other_coding_then_chunked",
            "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501},
        Bad{"te_other_coding_on_its_own_line",
            "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n"
            "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            501},
        Bad{"connect_origin_form", "CONNECT /api HTTP/1.1\r\nHost: h\r\n\r\n", 501},
        Bad{"connect_authority_form", "CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n", 501},
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
