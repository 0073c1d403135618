// HTTP/1.1 semantics of direct routes: routing, HEAD, 404/405, bodies, Expect, keep-alive rules.

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <string>
#include <thread>
#include <vector>

#include "fixture.h"

namespace ringgate::it {
namespace {

using HttpTest = GatewayTest;

TEST_F(HttpTest, ServesDirectRouteWithStandardHeaders) {
  auto& gw = start();
  ASSERT_TRUE(gw.ok()) << gw.error();
  std::string why;
  auto r = fetch(gw.port(), request("GET", "/hello"), {}, &why);
  ASSERT_TRUE(r) << why;
  EXPECT_EQ(r->version, "HTTP/1.1") << r->raw;
  EXPECT_EQ(r->status, 200) << r->raw;
  EXPECT_EQ(r->body, "hello");
  EXPECT_EQ(r->header("content-length").value_or(""), "5") << r->raw;
  EXPECT_EQ(r->header("content-type").value_or(""), "text/plain") << r->raw;
  EXPECT_FALSE(r->connection_has("close")) << r->raw;
  expect_common_headers(*r);
  EXPECT_EQ(
      wait_metric(gw.admin_port(), "ringgate_requests_2xx_total", [](double v) { return v >= 1; }),
      1);
}

TEST_F(HttpTest, ServerHeaderIsConfigurable) {
  ConfigSpec spec;
  spec.server_extra = "  server_header: edge-7\n";
  auto& gw = start(spec);
  ASSERT_TRUE(gw.ok()) << gw.error();
  std::string why;
  auto ok = fetch(gw.port(), request("GET", "/hello"), {}, &why);
  ASSERT_TRUE(ok) << why;
  expect_common_headers(*ok, "edge-7");
  auto missing = fetch(gw.port(), request("GET", "/nope"), {}, &why);
  ASSERT_TRUE(missing) << why;
  expect_common_headers(*missing, "edge-7");
}

TEST_F(HttpTest, KeepAliveReusesOneConnection) {
  auto& gw = start();
  ASSERT_TRUE(gw.ok()) << gw.error();
  const double before = metric(gw.admin_port(), "ringgate_connections_total");
  Conn c = connect_to(gw.port());
  ASSERT_TRUE(c.valid());
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(send_all(c, request("GET", "/hello")));
    std::string why;
    auto r = read_response(c, {}, &why);
    ASSERT_TRUE(r) << "request " << i << ": " << why;
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "hello");
    EXPECT_FALSE(r->connection_has("close")) << r->raw;
    expect_common_headers(*r);
  }
  EXPECT_TRUE(stays_silent(c, 100ms)) << "connection closed or sent extra bytes after a response";
  const double after = metric(gw.admin_port(), "ringgate_connections_total");
  // One client connection; the second scrape's own admin connection may count too.
  EXPECT_GE(after - before, 1);
  EXPECT_LE(after - before, 2);
}

// Request parsers are lent to connections only while a request is in progress (an idle
// keep-alive connection holds none) and go from one connection to the next on a shard: one left
// mid-head, after an error, after Connection: close or HTTP/1.0 must serve the next connection
// as a new one would.
TEST_F(HttpTest, ParsersPassCleanlyFromConnectionToConnection) {
  auto& gw = start();  // one shard: every connection gets the parser the last one returned
  ASSERT_TRUE(gw.ok()) << gw.error();
  auto serves_keep_alive = [&](const std::string& what) {
    Conn c = connect_to(gw.port());
    ASSERT_TRUE(c.valid());
    for (int i = 0; i < 3; ++i) {
      ASSERT_TRUE(send_all(c, request("GET", "/hello")));
      std::string why;
      auto r = read_response(c, {}, &why);
      ASSERT_TRUE(r) << "after " << what << ", request " << i << ": " << why;
      EXPECT_EQ(r->status, 200) << "after " << what << ": " << r->raw;
      EXPECT_EQ(r->body, "hello");
    }
  };
  // What each connection before a fresh one sends, and the status it gets (0: none, closed
  // mid-head).
  const struct {
    const char* what;
    std::string sent;
    int status;
  } before[] = {
      {"a connection closed mid-head", "GET /hello HTTP/1.1\r\nHost: te", 0},
      {"a malformed request", "GET /hello HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},
      {"Connection: close", request("GET", "/hello", "Connection: close\r\n"), 200},
      {"an HTTP/1.0 request", "GET /hello HTTP/1.0\r\n\r\n", 200},
  };
  for (const auto& b : before) {
    {
      Conn c = connect_to(gw.port());
      ASSERT_TRUE(send_all(c, b.sent));
      if (b.status) {
        auto r = read_response(c);
        ASSERT_TRUE(r) << b.what;
        EXPECT_EQ(r->status, b.status) << b.what;
        EXPECT_TRUE(wait_closed(c)) << b.what;
      } else {
        std::this_thread::sleep_for(50ms);
      }
    }
    serves_keep_alive(b.what);
  }
  // Idle keep-alive connections in between: each goes back to holding no parser, and comes
  // back to one with its next request.
  Conn a = connect_to(gw.port());
  Conn b = connect_to(gw.port());
  for (int i = 0; i < 3; ++i) {
    for (Conn* c : {&a, &b}) {
      ASSERT_TRUE(send_all(*c, request("GET", "/hello")));
      auto r = read_response(*c);
      ASSERT_TRUE(r);
      EXPECT_EQ(r->status, 200);
    }
  }
}

TEST_F(HttpTest, HeadHasHeadersButNoBody) {
  auto& gw = start();
  ASSERT_TRUE(gw.ok()) << gw.error();
  Conn c = connect_to(gw.port());
  ASSERT_TRUE(c.valid());
  ASSERT_TRUE(send_all(c, request("HEAD", "/hello")));
  std::string why;
  ReadOptions head;
  head.head_request = true;
  auto h = read_response(c, head, &why);
  ASSERT_TRUE(h) << why;
  EXPECT_EQ(h->status, 200) << h->raw;
  EXPECT_EQ(h->header("content-length").value_or(""), "5") << h->raw;
  EXPECT_EQ(h->header("content-type").value_or(""), "text/plain") << h->raw;
  expect_common_headers(*h);
  // No body bytes may follow the HEAD response: the next bytes are the next response's head.
  ASSERT_TRUE(send_all(c, request("GET", "/hello")));
  auto g = read_response(c, {}, &why);
  ASSERT_TRUE(g) << why;
  EXPECT_EQ(g->status, 200) << visible(g->raw);
  EXPECT_EQ(g->body, "hello");
  EXPECT_TRUE(c.pending.empty()) << visible(c.pending);
  EXPECT_TRUE(stays_silent(c, 100ms));
}

// A direct route's small answer is copied from bytes built once at start, with the shard's Date
// line written over a placeholder; a large one goes out by reference behind a Date line of its
// own, and one that says Connection: close is put together from its pieces. Every answer, GET
// or HEAD, carries the current time and its body.
TEST_F(HttpTest, DirectAnswersCarryTheCurrentDate) {
  const std::string big(3000, 'b');
  ConfigSpec spec;
  spec.routes = default_routes() + "  - match: {path: /big, methods: [GET]}\n" +
                "    direct: {status: 200, body: \"" + big + "\"}\n";
  auto& gw = start(spec);
  ASSERT_TRUE(gw.ok()) << gw.error();
  Conn c = connect_to(gw.port());
  ASSERT_TRUE(c.valid());
  const auto date_of = [&](const char* method, const std::string& path,
                           const std::string& body) -> time_t {
    EXPECT_TRUE(send_all(c, request(method, path)));
    ReadOptions options;
    options.head_request = std::string_view(method) == "HEAD";
    std::string why;
    auto r = read_response(c, options, &why);
    EXPECT_TRUE(r) << method << " " << path << ": " << why;
    if (!r) {
      return 0;
    }
    EXPECT_EQ(r->body, options.head_request ? "" : body) << method << " " << path;
    EXPECT_EQ(r->header("content-length").value_or(""), std::to_string(body.size()));
    expect_common_headers(*r);
    tm t{};
    const std::string date = r->header("date").value_or("");
    EXPECT_NE(strptime(date.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &t), nullptr) << date;
    return timegm(&t);
  };
  const std::pair<std::string, std::string> routes[] = {{"/hello", "hello"}, {"/big", big}};
  for (const char* method : {"GET", "HEAD"}) {
    for (const auto& [path, body] : routes) {
      if (path == "/big" && std::string_view(method) == "HEAD") {
        continue;  // the route takes GET only
      }
      const time_t before = time(nullptr);
      const time_t first = date_of(method, path, body);
      EXPECT_GE(first, before - 1) << method << " " << path;
      EXPECT_LE(first, time(nullptr)) << method << " " << path;
      std::this_thread::sleep_for(1100ms);
      const time_t second = date_of(method, path, body);
      EXPECT_GT(second, first) << method << " " << path << ": the Date did not move on";
      EXPECT_LE(second, time(nullptr)) << method << " " << path;
    }
  }
  // The last answer on a connection: with Connection: close.
  ASSERT_TRUE(send_all(c, request("GET", "/hello", "Connection: close\r\n")));
  std::string why;
  auto r = read_response(c, {}, &why);
  ASSERT_TRUE(r) << why;
  EXPECT_EQ(r->body, "hello");
  EXPECT_TRUE(r->connection_has("close")) << r->raw;
  expect_common_headers(*r);
  EXPECT_TRUE(wait_closed(c));
}

TEST_F(HttpTest, NoRouteIsProblemJson404) {
  auto& gw = start();
  ASSERT_TRUE(gw.ok()) << gw.error();
  std::string why;
  auto r = fetch(gw.port(), request("GET", "/no/such/route"), {}, &why);
  ASSERT_TRUE(r) << why;
  EXPECT_EQ(r->status, 404) << r->raw;
  EXPECT_EQ(r->header("content-type").value_or(""), "application/problem+json") << r->raw;
  ASSERT_FALSE(r->body.empty());
  EXPECT_EQ(r->body.front(), '{') << r->body;
  EXPECT_NE(r->body.find("404"), std::string::npos) << r->body;
  EXPECT_EQ(r->header("content-length").value_or(""), std::to_string(r->body.size()));
  expect_common_headers(*r);
  EXPECT_EQ(
      wait_metric(gw.admin_port(), "ringgate_requests_4xx_total", [](double v) { return v >= 1; }),
      1);
}

// Splits "GET, HEAD" into its tokens.
std::vector<std::string> allow_tokens(const std::string& allow) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos <= allow.size()) {
    size_t comma = allow.find(',', pos);
    std::string t = allow.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    t.erase(0, t.find_first_not_of(' '));
    t.erase(t.find_last_not_of(' ') + 1);
    if (!t.empty()) {
      out.push_back(t);
    }
    if (comma == std::string::npos) {
      break;
    }
    pos = comma + 1;
  }
  std::sort(out.begin(), out.end());
  return out;
}

TEST_F(HttpTest, WrongMethodIs405WithAllow) {
  auto& gw = start();
  ASSERT_TRUE(gw.ok()) << gw.error();
  std::string why;
  auto r = fetch(gw.port(), request("POST", "/hello", "Content-Length: 0\r\n"), {}, &why);
  ASSERT_TRUE(r) << why;
  EXPECT_EQ(r->status, 405) << r->raw;
  ASSERT_TRUE(r->header("allow")) << r->raw;
  EXPECT_EQ(allow_tokens(*r->header("allow")), (std::vector<std::string>{"GET", "HEAD"})) << r->raw;
  expect_common_headers(*r);

  auto u = fetch(gw.port(), request("GET", "/upload"), {}, &why);
  ASSERT_TRUE(u) << why;
  EXPECT_EQ(u->status, 405) << u->raw;
  EXPECT_EQ(allow_tokens(u->header("allow").value_or("")),
            (std::vector<std::string>{"POST", "PUT"}))
      << u->raw;

  auto ok = fetch(gw.port(), request("PUT", "/upload", "Content-Length: 0\r\n"), {}, &why);
  ASSERT_TRUE(ok) << why;
  EXPECT_EQ(ok->status, 201) << ok->raw;
  EXPECT_EQ(ok->body, "stored");
}

TEST_F(HttpTest, PrefixAndTemplateRoutes) {
  auto& gw = start();
  ASSERT_TRUE(gw.ok()) << gw.error();
  struct Case {
    const char* target;
    int status;
    const char* body;
  };
  const Case cases[] = {
      {"/p/", 200, "prefix"},          {"/p/a/b/c?x=1", 200, "prefix"}, {"/t/42", 200, "template"},
      {"/t/abc?q=1", 200, "template"}, {"/t/42/extra", 404, nullptr},   {"/t/", 404, nullptr},
      {"/hello?name=x", 200, "hello"}, {"/hello/", 404, nullptr},       {"/HELLO", 404, nullptr},
      {"/px", 404, nullptr},
  };
  Conn c = connect_to(gw.port());
  ASSERT_TRUE(c.valid());
  for (const Case& k : cases) {
    ASSERT_TRUE(send_all(c, request("GET", k.target)));
    std::string why;
    auto r = read_response(c, {}, &why);
    ASSERT_TRUE(r) << k.target << ": " << why;
    EXPECT_EQ(r->status, k.status) << k.target << "\n" << r->raw;
    if (k.body) {
      EXPECT_EQ(r->body, k.body) << k.target;
    }
  }
}

TEST_F(HttpTest, HostBasedRoute) {
  auto& gw = start();
  ASSERT_TRUE(gw.ok()) << gw.error();
  struct Case {
    const char* host;
    const char* body;
  };
  const Case cases[] = {{"a.example", "host-a"},       {"A.Example:8080", "host-a"},
                        {"a.example.", "host-a"},  // the root dot names the same host
                        {"a.example.:8080", "host-a"}, {"b.example", "host-any"},
                        {"a.example.org", "host-any"}, {"127.0.0.1", "host-any"}};
  for (const Case& k : cases) {
    std::string why;
    auto r = fetch(gw.port(), request("GET", "/vhost", "", k.host), {}, &why);
    ASSERT_TRUE(r) << k.host << ": " << why;
    EXPECT_EQ(r->status, 200) << r->raw;
    EXPECT_EQ(r->body, k.body) << "Host: " << k.host;
  }
  // An absolute-form target's authority names the host, whatever Host says (RFC 9112 3.2.2).
  for (const char* target : {"http://a.example/vhost", "HTTP://a.example:8080/x/../vhost"}) {
    auto r = fetch(gw.port(), request("GET", target, "", "b.example"));
    ASSERT_TRUE(r) << target;
    EXPECT_EQ(r->status, 200) << target << "\n" << r->raw;
    EXPECT_EQ(r->body, "host-a") << target;
  }
  // A Host that is no host (RFC 9112 3.2: 400) reaches no route: "a.example, b" or "a.example/x"
  // would name one host to the router and another to the next parser.
  for (const char* host : {"a.example, b", "a.example/x", "u@a.example", "a.example:80x", "a b"}) {
    Conn c = connect_to(gw.port());
    ASSERT_TRUE(send_all(c, request("GET", "/vhost", "", host)));
    auto r = read_response(c);
    ASSERT_TRUE(r) << host;
    EXPECT_EQ(r->status, 400) << host << "\n" << r->raw;
    EXPECT_TRUE(wait_closed(c, 2s)) << host;
  }
}

TEST_F(HttpTest, ContentLengthBodyIsConsumed) {
  auto& gw = start();
  ASSERT_TRUE(gw.ok()) << gw.error();
  Conn c = connect_to(gw.port());
  ASSERT_TRUE(c.valid());
  // A body that looks like a request: if the gateway failed to skip it, it would answer it.
  const std::string body = "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_TRUE(send_all(
      c, request("POST", "/upload", "Content-Length: " + std::to_string(body.size()) + "\r\n") +
             body + request("GET", "/hello")));
  std::string why;
  auto first = read_response(c, {}, &why);
  ASSERT_TRUE(first) << why;
  EXPECT_EQ(first->status, 201) << first->raw;
  EXPECT_EQ(first->body, "stored");
  auto second = read_response(c, {}, &why);
  ASSERT_TRUE(second) << why;
  EXPECT_EQ(second->status, 200) << second->raw;
  EXPECT_EQ(second->body, "hello");
  EXPECT_TRUE(stays_silent(c, 100ms)) << visible(c.pending);
}

TEST_F(HttpTest, ChunkedBodyIsConsumed) {
  auto& gw = start();
  ASSERT_TRUE(gw.ok()) << gw.error();
  Conn c = connect_to(gw.port());
  ASSERT_TRUE(c.valid());
  // The second chunk looks like a request: if the gateway failed to skip it, it would answer it.
  const std::string inner = "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n";
  char size_hex[16];
  snprintf(size_hex, sizeof size_hex, "%zX", inner.size());
  const std::string chunked = "5;name=value\r\nhello\r\n" + std::string(size_hex) + "\r\n" + inner +
                              "\r\n0\r\nX-Trailer: yes\r\n\r\n";
  ASSERT_TRUE(send_all(c, request("POST", "/upload", "Transfer-Encoding: chunked\r\n") + chunked +
                              request("POST", "/upload", "Transfer-Encoding: chunked\r\n") +
                              "0\r\n\r\n" + request("GET", "/hello")));
  const int expected[] = {201, 201, 200};
  for (int status : expected) {
    std::string why;
    auto r = read_response(c, {}, &why);
    ASSERT_TRUE(r) << why;
    EXPECT_EQ(r->status, status) << r->raw;
  }
  EXPECT_TRUE(stays_silent(c, 100ms)) << visible(c.pending);
}

TEST_F(HttpTest, ExpectContinueSendsInterim100) {
  auto& gw = start();
  ASSERT_TRUE(gw.ok()) << gw.error();
  Conn c = connect_to(gw.port());
  ASSERT_TRUE(c.valid());
  ASSERT_TRUE(
      send_all(c, request("POST", "/upload", "Content-Length: 5\r\nExpect: 100-continue\r\n")));
  ReadOptions interim;
  interim.skip_interim = false;
  std::string why;
  auto cont = read_response(c, interim, &why);
  ASSERT_TRUE(cont) << why;
  EXPECT_EQ(cont->raw, "HTTP/1.1 100 Continue\r\n\r\n") << visible(cont->raw);
  ASSERT_TRUE(send_all(c, "abcde"));
  auto r = read_response(c, interim, &why);
  ASSERT_TRUE(r) << why;
  EXPECT_EQ(r->status, 201) << r->raw;
  EXPECT_EQ(r->body, "stored");
  expect_common_headers(*r);
  // The connection stays usable.
  ASSERT_TRUE(send_all(c, request("GET", "/hello")));
  auto g = read_response(c, {}, &why);
  ASSERT_TRUE(g) << why;
  EXPECT_EQ(g->status, 200);
}

TEST_F(HttpTest, UnknownExpectationIs417) {
  auto& gw = start();
  ASSERT_TRUE(gw.ok()) << gw.error();
  Conn c = connect_to(gw.port());
  ASSERT_TRUE(c.valid());
  ASSERT_TRUE(
      send_all(c, request("POST", "/upload", "Content-Length: 5\r\nExpect: teapot\r\n") + "abcde"));
  std::string why;
  auto r = read_response(c, {}, &why);
  ASSERT_TRUE(r) << why;
  EXPECT_EQ(r->status, 417) << r->raw;
  EXPECT_TRUE(r->connection_has("close")) << r->raw;
  expect_common_headers(*r);
  EXPECT_TRUE(wait_closed(c));
  EXPECT_EQ(wait_metric(gw.admin_port(), "ringgate_parse_errors_other_total",
                        [](double v) { return v >= 1; }),
            1);
}

TEST_F(HttpTest, Http10ClosesByDefault) {
  auto& gw = start();
  ASSERT_TRUE(gw.ok()) << gw.error();
  Conn c = connect_to(gw.port());
  ASSERT_TRUE(c.valid());
  ASSERT_TRUE(send_all(c, "GET /hello HTTP/1.0\r\n\r\n"));
  std::string why;
  auto r = read_response(c, {}, &why);
  ASSERT_TRUE(r) << why;
  EXPECT_EQ(r->status, 200) << r->raw;
  EXPECT_EQ(r->body, "hello");
  EXPECT_FALSE(r->connection_has("keep-alive")) << r->raw;
  std::string extra;
  EXPECT_TRUE(wait_closed(c, 2s, &extra)) << "HTTP/1.0 connection left open";
  EXPECT_EQ(extra, "");
}

TEST_F(HttpTest, Http10KeepAliveIsHonoured) {
  auto& gw = start();
  ASSERT_TRUE(gw.ok()) << gw.error();
  Conn c = connect_to(gw.port());
  ASSERT_TRUE(c.valid());
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(send_all(c, "GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
    std::string why;
    auto r = read_response(c, {}, &why);
    ASSERT_TRUE(r) << "request " << i << ": " << why;
    EXPECT_EQ(r->status, 200) << r->raw;
    EXPECT_TRUE(r->connection_has("keep-alive")) << r->raw;
    EXPECT_EQ(r->body, "hello");
  }
  EXPECT_TRUE(stays_silent(c, 100ms));
}

TEST_F(HttpTest, ConnectionCloseIsHonoured) {
  auto& gw = start();
  ASSERT_TRUE(gw.ok()) << gw.error();
  Conn c = connect_to(gw.port());
  ASSERT_TRUE(c.valid());
  // The pipelined second request must be ignored: the server closes after the first.
  ASSERT_TRUE(
      send_all(c, request("GET", "/hello", "Connection: close\r\n") + request("GET", "/nope")));
  std::string why;
  auto r = read_response(c, {}, &why);
  ASSERT_TRUE(r) << why;
  EXPECT_EQ(r->status, 200) << r->raw;
  EXPECT_TRUE(r->connection_has("close")) << r->raw;
  std::string extra;
  EXPECT_TRUE(wait_closed(c, 2s, &extra));
  EXPECT_EQ(extra, "") << "bytes after a Connection: close response";
}

TEST_F(HttpTest, HeadOnNotFoundHasNoBody) {
  auto& gw = start();
  ASSERT_TRUE(gw.ok()) << gw.error();
  Conn c = connect_to(gw.port());
  ASSERT_TRUE(c.valid());
  ASSERT_TRUE(send_all(c, request("HEAD", "/nope") + request("GET", "/hello")));
  ReadOptions head;
  head.head_request = true;
  std::string why;
  auto h = read_response(c, head, &why);
  ASSERT_TRUE(h) << why;
  EXPECT_EQ(h->status, 404) << h->raw;
  auto g = read_response(c, {}, &why);
  ASSERT_TRUE(g) << why;
  EXPECT_EQ(g->status, 200) << visible(g->raw);
  EXPECT_EQ(g->body, "hello");
}

}  // namespace
}  // namespace ringgate::it
