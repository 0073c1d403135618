#include "ringgate/http/forward.h"

#include <string>
#include <unordered_set>
#include <vector>

#include "parser_fixture.h"

namespace ringgate {
namespace {

constexpr char kCanary = '\x5a';

// Runs `write(out, cap)` with room to spare and returns what it wrote; then checks that every
// smaller cap returns 0 without touching a byte at or past cap, and that the exact cap fits.
template <typename Write>
std::string write_checked(Write write) {
  std::vector<char> buf(8192, kCanary);
  const size_t n = write(buf.data(), buf.size());
  EXPECT_GT(n, 0u);
  EXPECT_LT(n, buf.size());
  if (n == 0 || n >= buf.size()) {
    return {};
  }
  const std::string full(buf.data(), n);
  size_t bad_returns = 0;
  size_t overruns = 0;
  for (size_t cap = 0; cap < n; ++cap) {
    std::fill(buf.begin(), buf.end(), kCanary);
    if (write(buf.data(), cap) != 0) {
      ++bad_returns;
    }
    for (size_t i = cap; i < buf.size(); ++i) {
      if (buf[i] != kCanary) {
        ++overruns;
        break;
      }
    }
  }
  EXPECT_EQ(bad_returns, 0u) << "a cap below " << n << " did not return 0";
  EXPECT_EQ(overruns, 0u) << "a write went past its cap";
  std::fill(buf.begin(), buf.end(), kCanary);
  EXPECT_EQ(write(buf.data(), n), n);
  EXPECT_EQ(std::string(buf.data(), n), full);
  EXPECT_EQ(buf[n], kCanary);
  return full;
}

// Reads `head` with the parser's fast path off, then on (`parse`), writing it each time
// (`write`): the two heads written must be the same. Returns whether the fast path read it.
template <typename Parser, typename Parse, typename Write>
bool written_the_same_both_ways(Parser& parser, const std::string& head, Parse parse, Write write) {
  std::string out[2];
  bool plain[2] = {};
  for (int fast = 0; fast < 2; ++fast) {
    parser.reset();
    parser.set_plain_fast_path(fast == 1);
    parse(head);
    plain[fast] = parser.read_plain();
    out[fast] = write();
  }
  parser.set_plain_fast_path(true);
  EXPECT_FALSE(plain[0]) << head;
  EXPECT_EQ(out[1], out[0]) << head;
  return plain[1];
}

class ForwardRequestTest : public ParserFixture<RequestParser> {
 protected:
  // Parses one request head. The bytes stay alive in bytes_: the parser's views point into them.
  void parse(std::string bytes) {
    bytes_ = std::move(bytes);
    size_t consumed = 0;
    ASSERT_EQ(parser_.feed(bytes_.data(), bytes_.size(), consumed), MessageParser::Event::kHead)
        << parser_.error().reason;
  }

  // The usual edge defaults: original target, client 192.0.2.1, no generated id.
  ForwardRequest edge() const {
    ForwardRequest f;
    f.target = parser_.target();
    f.client_ip = "192.0.2.1";
    return f;
  }

  std::string write(const ForwardRequest& f, std::string_view* id_used = nullptr) {
    return write_checked([&](char* out, size_t cap) {
      return write_forward_request_head(parser_, f, out, cap, id_used);
    });
  }

  std::string bytes_;
};

TEST_F(ForwardRequestTest, PassesEndToEndHeadersThroughAsSent) {
  parse(
      "GET /a/b?x=1 HTTP/1.1\r\n"
      "Host: example.com:8080\r\n"
      "aCCept: */*\r\n"
      "User-Agent:   curl/8.0  \r\n"
      "Cookie: a=1; b=2\r\n"
      "Authorization: Bearer t\r\n"
      "\r\n");
  EXPECT_EQ(write(edge()),
            "GET /a/b?x=1 HTTP/1.1\r\n"
            "Host: example.com:8080\r\n"
            "aCCept: */*\r\n"
            "User-Agent:   curl/8.0\r\n"  // the received line, trailing OWS dropped
            "Cookie: a=1; b=2\r\n"
            "Authorization: Bearer t\r\n"
            "X-Forwarded-For: 192.0.2.1\r\n"
            "X-Forwarded-Proto: http\r\n"
            "X-Forwarded-Host: example.com:8080\r\n"
            "\r\n");
}

TEST_F(ForwardRequestTest, SameHeadWhicheverWayItWasRead) {
  const std::vector<std::string> heads = {
      "GET /a HTTP/1.1\r\nHost: h\r\nTE: trailers\r\nKeep-Alive: 5\r\nTrailer: x\r\n"
      "X-Forwarded-For: 10.0.0.1\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: f\r\n"
      "X-Request-Id: abc\r\ntraceparent: t\r\ntracestate: s\r\nProxy-Authorization: p\r\n"
      "X-Keep: 1\r\nConnection: keep-alive\r\n\r\n",
      "POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nX-Other: 2\r\n\r\nabc",
      "GET /b HTTP/1.1\r\nHost: h\r\nKeep-Alive: 5\r\nTE: trailers, deflate\r\nTrailer: x\r\n"
      "Proxy-Authorization: p\r\n\r\n",
      "GET /c HTTP/1.1\r\nX-Empty: \r\nHost: h\r\nX-Mid: 1\r\nX-Mid-2: 2\r\nX-End: \r\n\r\n",
  };
  for (const std::string& head : heads) {
    for (const uint32_t trusted : {0u, 1u}) {
      ForwardRequest f;
      f.client_ip = "192.0.2.1";
      f.trusted_hops = trusted;
      f.request_id = "0123456789abcdef0123456789abcdef";
      f.traceparent = trusted ? "00-0123456789abcdef0123456789abcdef-0123456789abcdef-01" : "";
      EXPECT_TRUE(written_the_same_both_ways(
          parser_, head, [&](const std::string& h) { parse(h); }, [&] { return write(f); }))
          << head;
    }
  }
}

TEST_F(ForwardRequestTest, UsesTheGivenTargetAndMethod) {
  parse("DELETE /old/path?q=1 HTTP/1.1\r\nHost: h\r\n\r\n");
  ForwardRequest f = edge();
  f.target = "/v2/path?q=1";
  EXPECT_EQ(write(f),
            "DELETE /v2/path?q=1 HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 192.0.2.1\r\n"
            "X-Forwarded-Proto: http\r\nX-Forwarded-Host: h\r\n\r\n");
  f.target = {};  // empty: the original target
  EXPECT_EQ(write(f),
            "DELETE /old/path?q=1 HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 192.0.2.1\r\n"
            "X-Forwarded-Proto: http\r\nX-Forwarded-Host: h\r\n\r\n");
}

TEST_F(ForwardRequestTest, DropsHopByHopHeaders) {
  parse(
      "GET / HTTP/1.1\r\n"
      "Host: h\r\n"
      "Connection: keep-alive\r\n"
      "Keep-Alive: timeout=5\r\n"
      "Proxy-Connection: keep-alive\r\n"
      "TE: gzip\r\n"
      "Trailer: X-Checksum\r\n"
      "Upgrade: websocket\r\n"
      "Proxy-Authorization: Basic dXNlcjpwdw==\r\n"
      "X-Keep: 1\r\n"
      "\r\n");
  EXPECT_EQ(write(edge()),
            "GET / HTTP/1.1\r\n"
            "Host: h\r\n"
            "X-Keep: 1\r\n"
            "X-Forwarded-For: 192.0.2.1\r\n"
            "X-Forwarded-Proto: http\r\n"
            "X-Forwarded-Host: h\r\n"
            "\r\n");
}

TEST_F(ForwardRequestTest, DropsHeadersNamedByConnection) {
  parse(
      "GET / HTTP/1.1\r\n"
      "Host: h\r\n"
      "X-Foo: 1\r\n"
      "Connection: close, X-Foo\r\n"
      "x-bar: 2\r\n"
      "connection: \t x-BAR ,, \r\n"
      "X-Baz: 3\r\n"
      "X-Foo-Not: 4\r\n"
      "\r\n");
  EXPECT_EQ(write(edge()),
            "GET / HTTP/1.1\r\n"
            "Host: h\r\n"
            "X-Baz: 3\r\n"
            "X-Foo-Not: 4\r\n"
            "X-Forwarded-For: 192.0.2.1\r\n"
            "X-Forwarded-Proto: http\r\n"
            "X-Forwarded-Host: h\r\n"
            "\r\n");
}

// Past the tokens gathered up front, every Connection token still counts.
TEST_F(ForwardRequestTest, ManyConnectionTokensAllCount) {
  std::string list;
  for (int i = 0; i < 20; ++i) {
    list += "x-t" + std::to_string(i) + ", ";
  }
  parse("GET / HTTP/1.1\r\nHost: h\r\nConnection: " + list +
        "X-Last\r\nX-Last: 1\r\nX-T19: 2\r\nX-Kept: 3\r\n\r\n");
  const std::string head = write(edge());
  EXPECT_EQ(head.find("X-Last:"), std::string::npos) << head;
  EXPECT_EQ(head.find("X-T19:"), std::string::npos) << head;
  EXPECT_NE(head.find("X-Kept: 3\r\n"), std::string::npos) << head;
}

TEST_F(ForwardRequestTest, ConnectionCannotStripHeadersWithTheirOwnRule) {
  // Dropping Content-Length while the body is still forwarded by length would smuggle the body
  // to the upstream as the next request.
  parse(
      "POST /p HTTP/1.1\r\n"
      "Host: h\r\n"
      "Content-Length: 5\r\n"
      "X-Request-Id: abc\r\n"
      "X-Forwarded-Proto: https\r\n"
      "Connection: Content-Length, Host, X-Request-Id, X-Forwarded-Proto, X-Forwarded-For\r\n"
      "\r\n");
  ForwardRequest f = edge();
  f.framing = BodyFraming::kLength;
  f.trusted_hops = 1;
  EXPECT_EQ(write(f),
            "POST /p HTTP/1.1\r\n"
            "Host: h\r\n"
            "Content-Length: 5\r\n"
            "X-Request-Id: abc\r\n"
            "X-Forwarded-Proto: https\r\n"
            "X-Forwarded-For: 192.0.2.1\r\n"
            "X-Forwarded-Host: h\r\n"
            "\r\n");
}

TEST_F(ForwardRequestTest, KeepsTeTrailersOnly) {
  parse(
      "GET / HTTP/1.1\r\n"
      "Host: h\r\n"
      "TE: gzip;q=0.5\r\n"
      "Accept: a\r\n"
      "te: deflate, TRAILERS\r\n"
      "Connection: TE\r\n"
      "Accept-Language: en\r\n"
      "\r\n");
  EXPECT_EQ(write(edge()),
            "GET / HTTP/1.1\r\n"
            "Host: h\r\n"
            "Accept: a\r\n"
            "TE: trailers\r\n"
            "Accept-Language: en\r\n"
            "X-Forwarded-For: 192.0.2.1\r\n"
            "X-Forwarded-Proto: http\r\n"
            "X-Forwarded-Host: h\r\n"
            "\r\n");
}

TEST_F(ForwardRequestTest, ReplacesHostInPlace) {
  parse("GET / HTTP/1.1\r\nAccept: a\r\nHost: public.example\r\nX-A: 1\r\n\r\n");
  ForwardRequest f = edge();
  f.host = "backend.internal:8080";
  EXPECT_EQ(write(f),
            "GET / HTTP/1.1\r\n"
            "Accept: a\r\n"
            "Host: backend.internal:8080\r\n"
            "X-A: 1\r\n"
            "X-Forwarded-For: 192.0.2.1\r\n"
            "X-Forwarded-Proto: http\r\n"
            "X-Forwarded-Host: public.example\r\n"
            "\r\n");
}

TEST_F(ForwardRequestTest, AddsHostFirstWhenTheClientSentNone) {
  parse("GET /x HTTP/1.0\r\nAccept: a\r\n\r\n");
  ForwardRequest f = edge();
  f.host = "backend:80";
  EXPECT_EQ(write(f),
            "GET /x HTTP/1.1\r\n"
            "Host: backend:80\r\n"
            "Accept: a\r\n"
            "X-Forwarded-For: 192.0.2.1\r\n"
            "X-Forwarded-Proto: http\r\n"
            "\r\n");
  f.host = {};
  EXPECT_EQ(write(f),
            "GET /x HTTP/1.1\r\n"
            "Host: \r\n"
            "Accept: a\r\n"
            "X-Forwarded-For: 192.0.2.1\r\n"
            "X-Forwarded-Proto: http\r\n"
            "\r\n");
}

TEST_F(ForwardRequestTest, EdgeReplacesOneForwardedFor) {
  parse("GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 10.0.0.1\r\nX-A: 1\r\n\r\n");
  EXPECT_EQ(write(edge()),
            "GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n"
            "X-Forwarded-For: 192.0.2.1\r\n"
            "X-Forwarded-Proto: http\r\n"
            "X-Forwarded-Host: h\r\n\r\n");
}

TEST_F(ForwardRequestTest, EdgeReplacesTwoForwardedFor) {
  parse(
      "GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 10.0.0.1, 10.0.0.2\r\n"
      "x-forwarded-for: 10.0.0.3\r\n\r\n");
  EXPECT_EQ(write(edge()),
            "GET / HTTP/1.1\r\nHost: h\r\n"
            "X-Forwarded-For: 192.0.2.1\r\n"
            "X-Forwarded-Proto: http\r\n"
            "X-Forwarded-Host: h\r\n\r\n");
}

TEST_F(ForwardRequestTest, TrustedHopsAppendToOneForwardedFor) {
  parse("GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 203.0.113.7, 10.0.0.2\r\nX-A: 1\r\n\r\n");
  ForwardRequest f = edge();
  f.trusted_hops = 2;
  EXPECT_EQ(write(f),
            "GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n"
            "X-Forwarded-For: 203.0.113.7, 10.0.0.2, 192.0.2.1\r\n"
            "X-Forwarded-Proto: http\r\n"
            "X-Forwarded-Host: h\r\n\r\n");
}

TEST_F(ForwardRequestTest, TrustedHopsJoinTwoForwardedForIntoOne) {
  parse(
      "GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 203.0.113.7,10.0.0.2\r\nX-A: 1\r\n"
      "x-forwarded-for:  , 2001:db8::5 \r\n\r\n");
  ForwardRequest f = edge();
  f.trusted_hops = 2;
  f.client_ip = "2001:db8::1";
  EXPECT_EQ(write(f),
            "GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n"
            "X-Forwarded-For: 203.0.113.7, 10.0.0.2, 2001:db8::5, 2001:db8::1\r\n"
            "X-Forwarded-Proto: http\r\n"
            "X-Forwarded-Host: h\r\n\r\n");
}

TEST_F(ForwardRequestTest, TrustedHopsWithoutForwardedForAddThePeer) {
  parse("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
  ForwardRequest f = edge();
  f.trusted_hops = 2;
  EXPECT_EQ(write(f),
            "GET / HTTP/1.1\r\nHost: h\r\n"
            "X-Forwarded-For: 192.0.2.1\r\n"
            "X-Forwarded-Proto: http\r\n"
            "X-Forwarded-Host: h\r\n\r\n");
}

TEST_F(ForwardRequestTest, EdgeReplacesForwardedProtoAndHost) {
  parse(
      "GET / HTTP/1.1\r\nX-Forwarded-Proto: http\r\nHost: real.example\r\n"
      "X-Forwarded-Host: spoofed.example\r\n\r\n");
  ForwardRequest f = edge();
  f.tls = true;
  EXPECT_EQ(write(f),
            "GET / HTTP/1.1\r\nHost: real.example\r\n"
            "X-Forwarded-For: 192.0.2.1\r\n"
            "X-Forwarded-Proto: https\r\n"
            "X-Forwarded-Host: real.example\r\n\r\n");
}

TEST_F(ForwardRequestTest, TrustedHopsKeepForwardedProtoAndHost) {
  parse(
      "GET / HTTP/1.1\r\nX-Forwarded-Proto: https\r\nHost: internal\r\n"
      "X-Forwarded-Host: public.example\r\n\r\n");
  ForwardRequest f = edge();
  f.trusted_hops = 1;
  EXPECT_EQ(write(f),
            "GET / HTTP/1.1\r\nX-Forwarded-Proto: https\r\nHost: internal\r\n"
            "X-Forwarded-Host: public.example\r\n"
            "X-Forwarded-For: 192.0.2.1\r\n\r\n");
}

TEST_F(ForwardRequestTest, TrustedHopsAddForwardedProtoAndHostWhenAbsent) {
  parse("GET / HTTP/1.1\r\nHost: internal\r\n\r\n");
  ForwardRequest f = edge();
  f.trusted_hops = 1;
  f.tls = true;
  EXPECT_EQ(write(f),
            "GET / HTTP/1.1\r\nHost: internal\r\n"
            "X-Forwarded-For: 192.0.2.1\r\n"
            "X-Forwarded-Proto: https\r\n"
            "X-Forwarded-Host: internal\r\n\r\n");
}

TEST_F(ForwardRequestTest, KeepsAValidClientRequestId) {
  parse("GET / HTTP/1.1\r\nHost: h\r\nX-Request-Id: abc-123_XYZ\r\nX-A: 1\r\n\r\n");
  ForwardRequest f = edge();
  f.request_id = "0123456789abcdef0123456789abcdef";
  std::string_view used;
  EXPECT_EQ(write(f, &used),
            "GET / HTTP/1.1\r\nHost: h\r\nX-Request-Id: abc-123_XYZ\r\nX-A: 1\r\n"
            "X-Forwarded-For: 192.0.2.1\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: h\r\n\r\n");
  EXPECT_EQ(used, "abc-123_XYZ");
  // A view into the request's bytes, not a copy.
  EXPECT_GE(used.data(), bytes_.data());
  EXPECT_LT(used.data(), bytes_.data() + bytes_.size());
}

TEST_F(ForwardRequestTest, GeneratesARequestIdWhenTheClientSentNone) {
  parse("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
  ForwardRequest f = edge();
  f.request_id = "0123456789abcdef0123456789abcdef";
  std::string_view used;
  EXPECT_EQ(write(f, &used),
            "GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 192.0.2.1\r\n"
            "X-Forwarded-Proto: http\r\nX-Forwarded-Host: h\r\n"
            "X-Request-Id: 0123456789abcdef0123456789abcdef\r\n\r\n");
  EXPECT_EQ(used.data(), f.request_id.data());
  EXPECT_EQ(used.size(), f.request_id.size());
}

TEST_F(ForwardRequestTest, AddsNoRequestIdWhenNoneIsGiven) {
  parse("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
  std::string_view used = "stale";
  EXPECT_EQ(write(edge(), &used),
            "GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 192.0.2.1\r\n"
            "X-Forwarded-Proto: http\r\nX-Forwarded-Host: h\r\n\r\n");
  EXPECT_TRUE(used.empty());
}

TEST_F(ForwardRequestTest, ReplacesAnInvalidClientRequestId) {
  const std::string too_long(201, 'a');
  const std::string longest(200, 'b');
  struct Case {
    std::string header;
    bool kept;
  };
  const std::vector<Case> cases = {
      {"X-Request-Id: has space", false}, {"X-Request-Id: caf\xc3\xa9", false},
      {"X-Request-Id: tab\there", false}, {"X-Request-Id: " + too_long, false},
      {"X-Request-Id:", false},           {"X-Request-Id: " + longest, true},
      {"x-request-id: ~!{}", true},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.header);
    RequestParser p;  // a fresh parser for each request
    p.init(&ctx_);
    std::string bytes = "GET / HTTP/1.1\r\nHost: h\r\n" + c.header + "\r\n\r\n";
    size_t consumed = 0;
    ASSERT_EQ(p.feed(bytes.data(), bytes.size(), consumed), MessageParser::Event::kHead);
    ForwardRequest f;
    f.target = "/";
    f.client_ip = "192.0.2.1";
    f.request_id = "gen";
    std::string_view used;
    const std::string head = write_checked(
        [&](char* out, size_t cap) { return write_forward_request_head(p, f, out, cap, &used); });
    const std::string tail =
        "X-Forwarded-For: 192.0.2.1\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: h\r\n";
    if (c.kept) {
      EXPECT_EQ(head, "GET / HTTP/1.1\r\nHost: h\r\n" + c.header + "\r\n" + tail + "\r\n");
      EXPECT_EQ(used, c.header.substr(c.header.find(':') + 2));
    } else {
      EXPECT_EQ(head, "GET / HTTP/1.1\r\nHost: h\r\n" + tail + "X-Request-Id: gen\r\n\r\n");
      EXPECT_EQ(used, "gen");
    }
  }
}

TEST_F(ForwardRequestTest, KeepsOnlyTheFirstClientRequestId) {
  parse("GET / HTTP/1.1\r\nHost: h\r\nX-Request-Id: one\r\nX-Request-Id: two\r\n\r\n");
  ForwardRequest f = edge();
  f.request_id = "gen";
  EXPECT_EQ(write(f),
            "GET / HTTP/1.1\r\nHost: h\r\nX-Request-Id: one\r\n"
            "X-Forwarded-For: 192.0.2.1\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: h\r\n\r\n");
}

TEST_F(ForwardRequestTest, ChunkedRequestIsReframedChunked) {
  parse(
      "POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\n"
      "\r\n");
  ForwardRequest f = edge();
  f.framing = BodyFraming::kChunked;
  EXPECT_EQ(write(f),
            "POST /up HTTP/1.1\r\nHost: h\r\nContent-Type: text/plain\r\n"
            "X-Forwarded-For: 192.0.2.1\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: h\r\n"
            "Transfer-Encoding: chunked\r\n\r\n");
}

TEST_F(ForwardRequestTest, ChunkedFramingDropsContentLength) {
  parse("POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nX-A: 1\r\n\r\n");
  ForwardRequest f = edge();
  f.framing = BodyFraming::kChunked;
  EXPECT_EQ(write(f),
            "POST /up HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n"
            "X-Forwarded-For: 192.0.2.1\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: h\r\n"
            "Transfer-Encoding: chunked\r\n\r\n");
}

TEST_F(ForwardRequestTest, LengthFramingPassesContentLengthThrough) {
  parse("PUT /up HTTP/1.1\r\nHost: h\r\ncontent-length: 5\r\nX-A: 1\r\n\r\n");
  ForwardRequest f = edge();
  f.framing = BodyFraming::kLength;
  EXPECT_EQ(write(f),
            "PUT /up HTTP/1.1\r\nHost: h\r\ncontent-length: 5\r\nX-A: 1\r\n"
            "X-Forwarded-For: 192.0.2.1\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: h\r\n\r\n");
}

TEST_F(ForwardRequestTest, UpgradeKeepsUpgradeAndSendsConnectionUpgrade) {
  parse(
      "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
  ForwardRequest f = edge();
  f.upgrade = true;
  EXPECT_EQ(write(f),
            "GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
            "X-Forwarded-For: 192.0.2.1\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: h\r\n"
            "Connection: upgrade\r\n\r\n");
  f.upgrade = false;
  EXPECT_EQ(write(f),
            "GET /ws HTTP/1.1\r\nHost: h\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
            "X-Forwarded-For: 192.0.2.1\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: h\r\n\r\n");
}

TEST_F(ForwardRequestTest, ReturnsZeroWhenTheHeadDoesNotFit) {
  parse("GET /" + std::string(100, 'p') +
        " HTTP/1.1\r\nHost: h\r\nX-Long: " + std::string(300, 'v') + "\r\n\r\n");
  ForwardRequest f = edge();
  f.request_id = "0123456789abcdef0123456789abcdef";
  const std::string head = write(f);  // checks every cap below the size
  ASSERT_FALSE(head.empty());
  char small[64];
  EXPECT_EQ(write_forward_request_head(parser_, f, small, sizeof small), 0u);
  EXPECT_EQ(write_forward_request_head(parser_, f, nullptr, 0), 0u);
}

class ForwardResponseTest : public ParserFixture<ResponseParser> {
 protected:
  void parse(std::string bytes) {
    bytes_ = std::move(bytes);
    size_t consumed = 0;
    ASSERT_EQ(parser_.feed(bytes_.data(), bytes_.size(), consumed), MessageParser::Event::kHead)
        << parser_.error().reason;
  }

  std::string write(const ForwardResponse& f) {
    return write_checked(
        [&](char* out, size_t cap) { return write_forward_response_head(parser_, f, out, cap); });
  }

  std::string bytes_;
};

TEST_F(ForwardResponseTest, KeepAliveToAnHttp11ClientAddsNoConnection) {
  parse(
      "HTTP/1.1 200 Fine\r\nDate: Tue, 01 Jul 2025 10:00:00 GMT\r\nServer: up/1.0\r\n"
      "Content-Type: text/plain\r\nContent-Length: 5\r\nConnection: keep-alive\r\n"
      "Keep-Alive: timeout=5\r\n\r\nhello");
  ForwardResponse f;
  EXPECT_EQ(write(f),
            "HTTP/1.1 200 OK\r\nDate: Tue, 01 Jul 2025 10:00:00 GMT\r\nServer: up/1.0\r\n"
            "Content-Type: text/plain\r\nContent-Length: 5\r\n\r\n");
}

TEST_F(ForwardResponseTest, KeepAliveToAnHttp10ClientSaysSo) {
  parse("HTTP/1.1 404 Nope\r\nContent-Length: 0\r\n\r\n");
  ForwardResponse f;
  f.client_minor = 0;
  EXPECT_EQ(write(f),
            "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n");
}

TEST_F(ForwardResponseTest, ClosingSaysConnectionClose) {
  parse("HTTP/1.1 503 Busy\r\nRetry-After: 1\r\nContent-Length: 0\r\n\r\n");
  ForwardResponse f;
  f.keep_alive = false;
  EXPECT_EQ(write(f),
            "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 0\r\n"
            "Connection: close\r\n\r\n");
  f.client_minor = 0;
  EXPECT_EQ(write(f),
            "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 0\r\n"
            "Connection: close\r\n\r\n");
}

TEST_F(ForwardResponseTest, DropsHopByHopHeaders) {
  parse(
      "HTTP/1.1 200 OK\r\nConnection: close, X-Up-Hop\r\nX-Up-Hop: 1\r\nKeep-Alive: max=1\r\n"
      "Proxy-Connection: close\r\nTE: trailers\r\nTrailer: X-Sum\r\nUpgrade: h2c\r\n"
      "Transfer-Encoding: chunked\r\nX-End: 2\r\n\r\n");
  ForwardResponse f;
  f.framing = BodyFraming::kChunked;
  EXPECT_EQ(write(f), "HTTP/1.1 200 OK\r\nX-End: 2\r\nTransfer-Encoding: chunked\r\n\r\n");
}

// Received lines are copied in runs of lines that follow one another: a dropped line, trailing
// whitespace or a bare empty value ends a run, and what follows still comes out in order.
TEST_F(ForwardResponseTest, PassedLinesKeepTheirOrderAroundDroppedOnes) {
  parse(
      "HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nConnection: keep-alive, X-Hop\r\nC: 3\r\n"
      "X-Hop: no\r\nD: 4\r\nE: 5   \r\nF: 6\r\nG:\r\nH: 8\r\nContent-Length: 0\r\n\r\n");
  ForwardResponse f;
  f.extra = "X-Extra: e\r\n";
  EXPECT_EQ(write(f),
            "HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\nF: 6\r\nG: \r\nH: 8\r\n"
            "Content-Length: 0\r\nX-Extra: e\r\n\r\n");
}

// A head read by the parser's fast path tells the writer which fields have a rule
// (field_ruled); the writer then looks no other name up. Written both ways (fast path on and
// off), every head comes out the same, whatever rule its fields fall under.
TEST_F(ForwardResponseTest, SameHeadWhicheverWayItWasRead) {
  const std::vector<std::string> heads = {
      "HTTP/1.1 200 OK\r\nServer: s\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\n"
      "Trailer: X-Sum\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n",
      "HTTP/1.1 200 OK\r\nclose: x\r\nX-A: 1\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
      "HTTP/1.1 200 OK\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\nTrailer: X-Sum\r\n"
      "Content-Length: 0\r\n\r\n",
      "HTTP/1.1 200 OK\r\nA: \r\nContent-Length: 0\r\nB: \r\nC: 3\r\n\r\n",
      "HTTP/1.1 200 OK\r\nHost: h\r\nX-Forwarded-For: 1.2.3.4\r\nX-Request-Id: r\r\n"
      "traceparent: t\r\ntracestate: s\r\nProxy-Authorization: p\r\nExpect: e\r\n"
      "Content-Length: 0\r\n\r\n",
  };
  for (const std::string& head : heads) {
    for (const BodyFraming framing : {BodyFraming::kLength, BodyFraming::kChunked}) {
      ForwardResponse f;
      f.framing = framing;
      const bool plain = written_the_same_both_ways(
          parser_, head, [&](const std::string& h) { parse(h); }, [&] { return write(f); });
      // A close is left to llhttp (it must know that nothing may follow).
      EXPECT_EQ(plain, head.find("Connection: close") == std::string::npos) << head;
    }
  }
}

// A response without Date gets the gateway's (RFC 9110 6.6.1), after the framing and before the
// extra lines; one with a Date keeps its own alone, whichever way its head was read.
TEST_F(ForwardResponseTest, AResponseWithoutDateGetsTheGateways) {
  ForwardResponse f;
  f.date = "Date: Sun, 06 Dec 2026 12:00:00 GMT\r\n";
  f.extra = "X-Extra: e\r\n";
  parse("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(write(f),
            "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nDate: Sun, 06 Dec 2026 12:00:00 GMT\r\n"
            "X-Extra: e\r\n\r\n");
  for (const std::string head :
       {"HTTP/1.1 200 OK\r\nDATE: Tue, 01 Jul 2025 10:00:00 GMT\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 0\r\ndate: Tue, 01 Jul 2025 10:00:00 GMT\r\n"
        "Connection: close\r\n\r\n"}) {
    const bool plain = written_the_same_both_ways(
        parser_, head, [&](const std::string& h) { parse(h); }, [&] { return write(f); });
    EXPECT_EQ(plain, head.find("close") == std::string::npos) << head;
    parser_.reset();
    parse(head);
    const std::string out = write(f);
    EXPECT_EQ(out.find("2026"), std::string::npos) << out;
    EXPECT_NE(out.find("Tue, 01 Jul 2025 10:00:00 GMT"), std::string::npos) << out;
  }
}

TEST_F(ForwardResponseTest, ConnectionCannotStripContentLength) {
  parse(
      "HTTP/1.1 200 OK\r\nConnection: Content-Length, X-A\r\nContent-Length: 3\r\nX-A: 1\r\n\r\n");
  ForwardResponse f;
  EXPECT_EQ(write(f), "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n");
}

TEST_F(ForwardResponseTest, ChunkedReframingDropsContentLength) {
  parse("HTTP/1.1 200 OK\r\nContent-Length: 11\r\nETag: \"x\"\r\n\r\n");
  ForwardResponse f;
  f.framing = BodyFraming::kChunked;
  EXPECT_EQ(write(f), "HTTP/1.1 200 OK\r\nETag: \"x\"\r\nTransfer-Encoding: chunked\r\n\r\n");
}

TEST_F(ForwardResponseTest, UntilCloseDropsTransferEncodingAndCloses) {
  parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\n\r\n");
  ForwardResponse f;
  f.framing = BodyFraming::kUntilClose;
  f.keep_alive = false;
  f.client_minor = 0;
  EXPECT_EQ(write(f), "HTTP/1.1 200 OK\r\nX-A: 1\r\nConnection: close\r\n\r\n");
}

TEST_F(ForwardResponseTest, NoBodyFramingKeepsContentLength) {
  // A response to HEAD (or a 304) keeps the length of the body it does not carry.
  parser_.set_head_request(true);
  parse("HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n");
  ForwardResponse f;
  f.framing = BodyFraming::kNone;
  EXPECT_EQ(write(f), "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n");
}

TEST_F(ForwardResponseTest, AddsExtraLinesAfterFramingAndBeforeConnection) {
  parse("HTTP/1.1 201 Created\r\nLocation: /x/1\r\nTransfer-Encoding: chunked\r\n\r\n");
  ForwardResponse f;
  f.framing = BodyFraming::kChunked;
  f.keep_alive = false;
  f.extra = "X-Request-Id: abc\r\nX-Gateway: ringgate\r\n";
  EXPECT_EQ(write(f),
            "HTTP/1.1 201 Created\r\nLocation: /x/1\r\nTransfer-Encoding: chunked\r\n"
            "X-Request-Id: abc\r\nX-Gateway: ringgate\r\nConnection: close\r\n\r\n");
}

TEST_F(ForwardResponseTest, UpgradeKeepsUpgradeAndSendsConnectionUpgrade) {
  parse(
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n");
  ForwardResponse f;
  f.upgrade = true;
  f.framing = BodyFraming::kNone;
  EXPECT_EQ(write(f),
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nConnection: upgrade\r\n\r\n");
}

TEST_F(ForwardResponseTest, UnknownStatusGetsAGenericReason) {
  parse("HTTP/1.1 299 Whatever\r\nContent-Length: 0\r\n\r\n");
  ForwardResponse f;
  EXPECT_EQ(write(f), "HTTP/1.1 299 Unknown\r\nContent-Length: 0\r\n\r\n");
}

TEST_F(ForwardResponseTest, ReturnsZeroWhenTheHeadDoesNotFit) {
  parse("HTTP/1.1 200 OK\r\nX-Big: " + std::string(500, 'b') + "\r\nContent-Length: 0\r\n\r\n");
  ForwardResponse f;
  f.extra = "X-Request-Id: abc\r\n";
  f.keep_alive = false;
  ASSERT_FALSE(write(f).empty());  // checks every cap below the size
  char small[100];
  EXPECT_EQ(write_forward_response_head(parser_, f, small, sizeof small), 0u);
}

bool is_lower_hex(std::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return false;
    }
  }
  return true;
}

TEST(ForwardRequestIdTest, HexDigitsMatchPrintf) {
  uint64_t v = 0x0123456789abcdefull;
  for (int i = 0; i < 1000; ++i) {
    char got[17] = {};
    char want[17];
    write_hex64(v, got);
    snprintf(want, sizeof want, "%016llx", static_cast<unsigned long long>(v));
    ASSERT_STREQ(got, want);
    v = v * 6364136223846793005ull + 1442695040888963407ull;
  }
  char edge[17] = {};
  write_hex64(~0ull, edge);
  EXPECT_STREQ(edge, "ffffffffffffffff");
  write_hex64(0, edge);
  EXPECT_STREQ(edge, "0000000000000000");
}

TEST(ForwardRequestIdTest, IdsAre32LowerCaseHexCharacters) {
  RequestIdGenerator gen(0x1234, 0);
  char buf[RequestIdGenerator::kLength + 1];
  for (int i = 0; i < 1000; ++i) {
    buf[RequestIdGenerator::kLength] = kCanary;
    gen.next(buf);
    EXPECT_EQ(buf[RequestIdGenerator::kLength], kCanary);  // exactly kLength bytes written
    EXPECT_TRUE(is_lower_hex(std::string_view(buf, RequestIdGenerator::kLength)));
  }
  static_assert(RequestIdGenerator::kLength == 32);
}

TEST(ForwardRequestIdTest, IdsAreUniqueAcrossStreamsAndCounters) {
  std::unordered_set<std::string> seen;
  constexpr int kShards = 4;
  constexpr int kPerShard = 25000;
  for (unsigned shard = 0; shard < kShards; ++shard) {
    RequestIdGenerator gen(42, RequestIdGenerator::new_stream());
    char buf[RequestIdGenerator::kLength];
    for (int i = 0; i < kPerShard; ++i) {
      gen.next(buf);
      seen.emplace(buf, sizeof buf);
    }
  }
  EXPECT_EQ(seen.size(), static_cast<size_t>(kShards * kPerShard));
}

TEST(ForwardRequestIdTest, SeedAndStreamChangeTheSequence) {
  auto first = [](uint64_t seed, uint64_t stream) {
    RequestIdGenerator gen(seed, stream);
    char buf[RequestIdGenerator::kLength];
    gen.next(buf);
    return std::string(buf, sizeof buf);
  };
  EXPECT_EQ(first(1, 0), first(1, 0));
  EXPECT_NE(first(1, 0), first(2, 0));
  EXPECT_NE(first(1, 0), first(1, 1));
  // Every generator made for a shard draws a stream of its own, so a reload's new shards (same
  // process, same seed, same shard indexes) do not repeat the ids of the ones they replace.
  const uint64_t s1 = RequestIdGenerator::new_stream();
  const uint64_t s2 = RequestIdGenerator::new_stream();
  EXPECT_NE(s1, s2);
  EXPECT_NE(first(1, s1), first(1, s2));
  // Sequential counters do not give sequential-looking ids: both halves change.
  RequestIdGenerator gen(1, 0);
  char a[RequestIdGenerator::kLength];
  char b[RequestIdGenerator::kLength];
  gen.next(a);
  gen.next(b);
  EXPECT_NE(std::string_view(a, 16), std::string_view(b, 16));
  EXPECT_NE(std::string_view(a + 16, 16), std::string_view(b + 16, 16));
}

}  // namespace
}  // namespace ringgate
