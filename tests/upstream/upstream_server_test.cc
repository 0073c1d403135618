// Self-test of test_upstream: starts the real binary on port 0 and checks the behaviours the
// gateway's integration tests rely on, byte for byte where the bytes are the point.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "upstream_process.h"

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

int remaining_ms(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return left.count() <= 0 ? 0 : static_cast<int>(left.count());
}

using test_upstream::Upstream;

class Conn {
 public:
  explicit Conn(uint16_t port) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      close(fd_);
      fd_ = -1;
    }
    int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  ~Conn() {
    if (fd_ >= 0) {
      close(fd_);
    }
  }
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  bool ok() const { return fd_ >= 0; }

  bool send(std::string_view data) {
    while (!data.empty()) {
      ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) {
        return false;
      }
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  // Appends whatever arrives to `pending`: >0 bytes read, 0 on EOF, -errno on error, -ETIMEDOUT.
  int fill(Clock::time_point deadline) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, remaining_ms(deadline)) <= 0) {
      return -ETIMEDOUT;
    }
    char buf[16384];
    ssize_t n = recv(fd_, buf, sizeof buf, 0);
    if (n < 0) {
      return -errno;
    }
    pending.append(buf, static_cast<size_t>(n));
    return static_cast<int>(n);
  }

  // Reads until EOF or error; returns 0 on EOF, -errno otherwise. Data lands in `pending`.
  int read_to_end(std::chrono::milliseconds timeout = 5s) {
    auto deadline = Clock::now() + timeout;
    for (;;) {
      int r = fill(deadline);
      if (r <= 0) {
        return r;
      }
    }
  }

  std::string pending;

 private:
  int fd_ = -1;
};

struct Response {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string raw;

  std::string header(std::string_view name) const {
    for (const auto& [k, v] : headers) {
      if (strcasecmp(k.c_str(), std::string(name).c_str()) == 0) {
        return v;
      }
    }
    return "";
  }
};

// One response off the front of c.pending (Content-Length or chunked; HEAD-less).
std::optional<Response> read_response(Conn& c, std::chrono::milliseconds timeout = 5s) {
  auto deadline = Clock::now() + timeout;
  size_t end;
  while ((end = c.pending.find("\r\n\r\n")) == std::string::npos) {
    if (c.fill(deadline) <= 0) {
      return std::nullopt;
    }
  }
  Response r;
  std::istringstream head(c.pending.substr(0, end));
  std::string line;
  std::getline(head, line);
  r.status = std::atoi(line.c_str() + 9);
  while (std::getline(head, line)) {
    if (line.ends_with('\r')) {
      line.pop_back();
    }
    size_t colon = line.find(':');
    r.headers.emplace_back(line.substr(0, colon), line.substr(colon + 2));
  }
  size_t pos = end + 4;
  if (r.header("Transfer-Encoding") == "chunked") {
    for (;;) {
      size_t eol;
      while ((eol = c.pending.find("\r\n", pos)) == std::string::npos) {
        if (c.fill(deadline) <= 0) {
          return std::nullopt;
        }
      }
      size_t size = std::stoul(c.pending.substr(pos, eol - pos), nullptr, 16);
      while (c.pending.size() < eol + 2 + size + 2) {
        if (c.fill(deadline) <= 0) {
          return std::nullopt;
        }
      }
      r.body += c.pending.substr(eol + 2, size);
      pos = eol + 2 + size + 2;
      if (size == 0) {
        break;
      }
    }
  } else {
    size_t length = std::stoul("0" + r.header("Content-Length"));
    while (c.pending.size() < pos + length) {
      if (c.fill(deadline) <= 0) {
        return std::nullopt;
      }
    }
    r.body = c.pending.substr(pos, length);
    pos += length;
  }
  r.raw = c.pending.substr(0, pos);
  c.pending.erase(0, pos);
  return r;
}

std::string get(std::string_view target, std::string_view extra = "") {
  return "GET " + std::string(target) + " HTTP/1.1\r\nHost: up\r\n" + std::string(extra) + "\r\n";
}

std::optional<Response> fetch(uint16_t port, std::string_view request) {
  Conn c(port);
  if (!c.ok() || !c.send(request)) {
    return std::nullopt;
  }
  return read_response(c);
}

class UpstreamTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_NE(up_.port(), 0) << "test_upstream did not start"; }
  Upstream up_{{"--name", "up1"}};
};

TEST_F(UpstreamTest, DefaultJson) {
  auto r = fetch(up_.port(), get("/a/b?x=1"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->raw,
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 51\r\n"
            "X-Upstream: up1\r\n\r\n"
            R"({"path":"/a/b","method":"GET","server":"up1","n":1})");
}

TEST_F(UpstreamTest, StatusAndNoBodyStatuses) {
  auto r = fetch(up_.port(), get("/?status=503"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(r->raw.substr(0, 34), "HTTP/1.1 503 Service Unavailable\r\n");
  r = fetch(up_.port(), get("/?status=204"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->raw, "HTTP/1.1 204 No Content\r\nX-Upstream: up1\r\n\r\n");
}

TEST_F(UpstreamTest, DelayAndSlowAreHonoured) {
  auto start = Clock::now();
  auto r = fetch(up_.port(), get("/?delay=200ms"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_GE(Clock::now() - start, 200ms);
  start = Clock::now();
  r = fetch(up_.port(), get("/?body_size=30&chunk=10&slow=100ms"));  // 3 pieces, 2 pauses
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body.size(), 30u);
  EXPECT_GE(Clock::now() - start, 200ms);
}

TEST_F(UpstreamTest, ChunkedBody) {
  auto r = fetch(up_.port(), get("/?chunked=1&chunk=10&body_size=25"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->raw,
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
            "X-Upstream: up1\r\n\r\n"
            "a\r\n\"abcdefghi\r\na\r\njklmnopqrs\r\n5\r\ntuvw\"\r\n0\r\n\r\n");
  EXPECT_EQ(r->body, "\"abcdefghijklmnopqrstuvw\"");
}

TEST_F(UpstreamTest, EchoReturnsExactRequestBytes) {
  const std::string cl =
      "POST /e?echo=1 HTTP/1.1\r\nHost: up\r\nX-Odd:  spaced \r\nContent-Length: 5\r\n\r\nhello";
  auto r = fetch(up_.port(), cl);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->header("Content-Type"), "application/octet-stream");
  EXPECT_EQ(r->body, cl);
  const std::string chunked =
      "POST /e?echo=1 HTTP/1.1\r\nHost: up\r\nTransfer-Encoding: chunked\r\n\r\n"
      "3;ext=1\r\nabc\r\n0\r\nTrailer: t\r\n\r\n";
  r = fetch(up_.port(), chunked);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, chunked);
}

TEST_F(UpstreamTest, HeaderAndJsonParameters) {
  auto r = fetch(up_.port(), get("/?json=%7B%22a%22%3A1%2B2%7D&header=X-A:1&header=X-B:%20two"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, R"({"a":1+2})");
  EXPECT_EQ(r->header("X-A"), "1");
  EXPECT_EQ(r->header("X-B"), "two");
  r = fetch(up_.port(), get("/?delay=soon"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(r->body, R"({"error":"bad parameter delay"})");
}

TEST_F(UpstreamTest, BadClTeSendsExactBytes) {
  Conn c(up_.port());
  ASSERT_TRUE(c.send(get("/?bad=cl_te")));
  EXPECT_EQ(c.read_to_end(), 0);
  EXPECT_EQ(c.pending,
            "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
            "1\r\nx\r\n0\r\n\r\n");
}

TEST_F(UpstreamTest, BadGarbageSendsExactBytes) {
  Conn c(up_.port());
  ASSERT_TRUE(c.send(get("/?bad=garbage")));
  EXPECT_EQ(c.read_to_end(), 0);
  EXPECT_EQ(c.pending, std::string_view("GARBAGE\x00\xff\x01 this is not http\r\n\r\n", 30));
}

TEST_F(UpstreamTest, ResetSendsRst) {
  Conn c(up_.port());
  ASSERT_TRUE(c.send(get("/?reset=1")));
  EXPECT_EQ(c.read_to_end(), -ECONNRESET);
  EXPECT_EQ(c.pending, "");
}

TEST_F(UpstreamTest, CloseMidBody) {
  Conn c(up_.port());
  ASSERT_TRUE(c.send(get("/?close_mid_body=1&body_size=1000")));
  EXPECT_EQ(c.read_to_end(), 0);
  size_t head_end = c.pending.find("\r\n\r\n");
  ASSERT_NE(head_end, std::string::npos);
  EXPECT_NE(c.pending.find("Content-Length: 1000\r\n"), std::string::npos);
  EXPECT_EQ(c.pending.size() - head_end - 4, 500u);
}

TEST_F(UpstreamTest, HangNeverResponds) {
  Conn c(up_.port());
  ASSERT_TRUE(c.send(get("/?hang=1")));
  EXPECT_EQ(c.fill(Clock::now() + 300ms), -ETIMEDOUT);
}

TEST_F(UpstreamTest, KeepAliveThreeSequentialRequests) {
  Conn c(up_.port());
  for (int i = 1; i <= 3; ++i) {
    ASSERT_TRUE(c.send(get("/k")));
    auto r = read_response(c);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->body,
              R"({"path":"/k","method":"GET","server":"up1","n":)" + std::to_string(i) + "}");
  }
  ASSERT_TRUE(c.send(get("/k", "Connection: close\r\n")));
  auto r = read_response(c);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->header("Connection"), "close");
  EXPECT_EQ(c.read_to_end(), 0);
}

TEST_F(UpstreamTest, PipelinedFiveInOneWrite) {
  Conn c(up_.port());
  std::string all;
  for (int i = 0; i < 5; ++i) {
    // The first is slow, so an out-of-order server would answer the others first.
    all += get("/p" + std::to_string(i) + (i == 0 ? "?delay=100ms" : ""));
  }
  ASSERT_TRUE(c.send(all));
  for (int i = 0; i < 5; ++i) {
    auto r = read_response(c);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->body, R"({"path":"/p)" + std::to_string(i) +
                           R"(","method":"GET","server":"up1","n":)" + std::to_string(i + 1) + "}");
  }
}

TEST_F(UpstreamTest, MalformedRequestGets400AndClose) {
  Conn c(up_.port());
  ASSERT_TRUE(c.send(
      "POST / HTTP/1.1\r\nHost: up\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"));
  auto r = read_response(c);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(r->body, R"({"error":"both content-length and transfer-encoding"})");
  EXPECT_EQ(c.read_to_end(), 0);
}

TEST_F(UpstreamTest, HealthzToggles) {
  auto post = [](std::string_view path) {
    return "POST " + std::string(path) + " HTTP/1.1\r\nHost: up\r\nContent-Length: 0\r\n\r\n";
  };
  EXPECT_EQ(fetch(up_.port(), get("/healthz"))->body, "ok");
  EXPECT_EQ(fetch(up_.port(), post("/control/unhealthy"))->status, 200);
  EXPECT_EQ(fetch(up_.port(), get("/healthz"))->status, 503);
  EXPECT_EQ(fetch(up_.port(), post("/control/healthy"))->status, 200);
  EXPECT_EQ(fetch(up_.port(), get("/healthz"))->status, 200);
}

TEST(UpstreamFlags, StartsUnhealthy) {
  Upstream up({"--unhealthy"});
  ASSERT_NE(up.port(), 0);
  auto r = fetch(up.port(), get("/healthz"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(r->header("X-Upstream"), "upstream");
}

TEST_F(UpstreamTest, UpgradeTunnelsBytes) {
  Conn c(up_.port());
  ASSERT_TRUE(
      c.send(get("/ws?upgrade=1", "Connection: Upgrade\r\nUpgrade: websocket\r\n") + "ping!"));
  auto deadline = Clock::now() + 5s;
  while (!c.pending.ends_with("ping!") && c.fill(deadline) > 0) {
  }
  EXPECT_EQ(c.pending,
            "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
            "X-Upstream: up1\r\n\r\nping!");
  c.pending.clear();
  ASSERT_TRUE(c.send("more"));
  while (c.pending.size() < 4 && c.fill(deadline) > 0) {
  }
  EXPECT_EQ(c.pending, "more");
}

TEST_F(UpstreamTest, SigtermExitsZero) {
  EXPECT_EQ(up_.stop(), 0);
}

std::filesystem::path make_temp_dir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "upstream-test-XXXXXX").string();
  return mkdtemp(tmpl.data()) ? std::filesystem::path(tmpl) : std::filesystem::path();
}

TEST(UpstreamFlags, RecordFileHoldsEachRequestExactly) {
  auto dir = make_temp_dir();
  auto file = dir / "record.txt";
  Upstream up({"--record", file.string()});
  ASSERT_NE(up.port(), 0);
  const std::string r1 = get("/one");
  const std::string r2 = "POST /two HTTP/1.1\r\nHost: up\r\nContent-Length: 3\r\n\r\nabc";
  const std::string r3 = "GET /three HTTP/1.1\r\nHost: up\r\nHost: again\r\n\r\n";
  Conn c(up.port());
  ASSERT_TRUE(c.send(r1 + r2));
  ASSERT_TRUE(read_response(c));
  ASSERT_TRUE(read_response(c));
  ASSERT_EQ(fetch(up.port(), r3)->status, 400);
  EXPECT_EQ(up.stop(), 0);
  std::ifstream in(file, std::ios::binary);
  std::string got((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(got, "=== request 1 (" + std::to_string(r1.size()) + " bytes) ===\n" + r1 + "\n" +
                     "=== request 2 (" + std::to_string(r2.size()) + " bytes) ===\n" + r2 + "\n" +
                     "=== bad request 3 (" + std::to_string(r3.size()) +
                     " bytes): duplicate host ===\n" + r3 + "\n");
  std::filesystem::remove_all(dir);
}

TEST(UpstreamFlags, FilesServedAndDotDotRefused) {
  auto root = make_temp_dir();
  auto dir = root / "files";
  std::filesystem::create_directory(dir);
  std::ofstream(dir / "y_array.json") << "[1,2]";
  std::ofstream(dir / "odd <name>.json") << "{}";
  std::ofstream(root / "secret.json") << "secret";
  Upstream up({"--files", dir.string()});
  ASSERT_NE(up.port(), 0);
  auto r = fetch(up.port(), get("/files/y_array.json"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->header("Content-Type"), "application/json");
  EXPECT_EQ(r->body, "[1,2]");
  EXPECT_EQ(fetch(up.port(), get("/files/odd%20%3Cname%3E.json"))->body, "{}");
  EXPECT_EQ(fetch(up.port(), get("/files/missing.json"))->status, 404);
  for (const char* bad : {"/files/../secret.json", "/files/..%2Fsecret.json", "/files/..",
                          "/files/%2E%2E", "/files/"}) {
    EXPECT_EQ(fetch(up.port(), get(bad))->status, 403) << bad;
  }
  std::filesystem::remove_all(root);
}

}  // namespace
