// test_upstream: a scriptable HTTP/1.1 origin server for ringgate's proxy and aggregation tests.
//
//   test_upstream --listen 127.0.0.1:0 [--name NAME] [--unhealthy] [--status N] [--record FILE]
//                 [--files DIR]
//
// --listen takes IPV4:PORT or [IPV6]:PORT. Prints "listening HOST:PORT" on stdout (flushed) once it
// accepts connections; exits 0 on SIGTERM or SIGINT. One thread per connection; requests on a
// connection (keep-alive, pipelined) are answered strictly in order. Every request, on any
// connection, takes the next number n (1, 2, ...) from one process-wide counter.
//
// Requests are parsed strictly: a malformed request line or header, a bare LF, obs-fold, both
// Content-Length and Transfer-Encoding, conflicting Content-Lengths, a Transfer-Encoding other
// than "chunked", a bad chunk, or an HTTP/1.1 request without exactly one Host gets 400 with
// {"error":"<why>"} and the connection is closed, so a gateway bug shows up as a failing test.
//
// Base response, by path:
//   /healthz               200 "ok" (text/plain); 503 "unhealthy" after --unhealthy or
//                          POST /control/unhealthy; POST /control/healthy restores.
//   /control/status/N      POST: every later response on "anything else" paths gets status N
//                          (200..599; 0 stops it), as --status N does from the start.
//   /files/NAME            GET/HEAD: the bytes of DIR/NAME (--files DIR), application/json;
//                          404 when absent; 403 when NAME (percent-decoded) contains '/' or is
//                          "." or "..".
//   anything else          200 application/json {"path":P,"method":M,"server":NAME,"n":N}
//                          (P without the query; NAME from --name, default "upstream").
// Query parameters on any path then modify it (values percent-decoded; '+' is not a space;
// unknown parameters are ignored; an invalid value gets 400):
//   status=N          status code N (100-999); 1xx, 204 and 304 carry no body.
//   json=TEXT         body is exactly TEXT (application/json).
//   echo=1            body is the raw request as received: request line, headers and body bytes,
//                     chunk framing included (application/octet-stream).
//   body_size=N       body is N bytes of valid JSON: a string "abc...zabc..." (N >= 2).
//                     Body precedence: json, echo, body_size, base.
//   header=Name:Value add a response header; may repeat.
//   etag=TAG          ETag: "TAG"; If-None-Match: "TAG" (or *) gets 304 instead.
//   trailer=Name:Value with chunked=1: a trailer field after the last chunk; may repeat.
//   delay=D           sleep D before doing anything else (D: 200ms, 1s, 500us; a bare number is
//   ms). chunked=1         Transfer-Encoding: chunked, chunk=N bytes per chunk (default 1024).
//   slow=D            write the body in pieces of `chunk` bytes, sleeping D between pieces
//                     (with or without chunked=1).
//   close=1           answer with Connection: close, then close.
//   close_mid_body=1  send the head and the first half of the body, then close (FIN).
//   reset=1           no response: SO_LINGER 0 and close, so the peer gets RST.
//   hang=1            no response: read and discard until the peer closes.
//   upgrade=1         on a request with an Upgrade header: 101 Switching Protocols, then echo
//                     every byte received until the peer closes (a trivial tunnel).
//   bad=KIND          send these exact bytes, then close:
//     cl_te     HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n
//               1\r\nx\r\n0\r\n\r\n
//     two_cl    HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 4\r\n\r\nokok
//     bad_chunk HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n
//     garbage   GARBAGE\x00\xff\x01 this is not http\r\n\r\n
//     no_status HTTP/1.1 OK\r\nContent-Length: 2\r\n\r\nok
// Every normal response carries "X-Upstream: NAME"; a request with Connection: close or HTTP/1.0
// gets Connection: close. There is no Date header, so responses are byte-for-byte predictable.
//
// --record FILE appends each request as "=== request N (B bytes) ===\n", then exactly the B raw
// bytes received, then "\n". A malformed request is recorded as
// "=== bad request N (B bytes): WHY ===\n" with the bytes received so far.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace {

using Micros = std::chrono::microseconds;

constexpr size_t kMaxHead = 64 * 1024;
constexpr size_t kMaxBody = 64 * 1024 * 1024;
constexpr size_t kMaxChunkLine = 4096;

std::string g_name = "upstream";
std::string g_files_dir;
int g_record_fd = -1;
std::mutex g_record_mutex;
std::atomic<uint64_t> g_counter{0};
std::atomic<bool> g_healthy{true};
std::atomic<int> g_forced_status{0};  // --status N or POST /control/status/N; 0 = none

char lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                            [](char x, char y) { return lower(x) == lower(y); });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

bool is_tchar(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         std::strchr("!#$%&'*+-.^_`|~", c) != nullptr;
}

bool is_token(std::string_view s) {
  return !s.empty() &&
         std::all_of(s.begin(), s.end(), [](char c) { return c != 0 && is_tchar(c); });
}

// Digits only, no sign or whitespace; nullopt on overflow.
std::optional<uint64_t> parse_decimal(std::string_view s) {
  if (s.empty() || s.size() > 18) {
    return std::nullopt;
  }
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') {
      return std::nullopt;
    }
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  return v;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  c = lower(c);
  return (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
}

std::optional<std::string> percent_decode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    if (i + 2 >= s.size()) {
      return std::nullopt;
    }
    int hi = hex_value(s[i + 1]);
    int lo = hex_value(s[i + 2]);
    if (hi < 0 || lo < 0) {
      return std::nullopt;
    }
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

// "200ms", "1s", "500us"; a bare number is milliseconds.
std::optional<Micros> parse_duration(std::string_view s) {
  uint64_t scale = 1000;
  if (s.ends_with("ms")) {
    s.remove_suffix(2);
  } else if (s.ends_with("us")) {
    s.remove_suffix(2);
    scale = 1;
  } else if (s.ends_with("s")) {
    s.remove_suffix(1);
    scale = 1000 * 1000;
  }
  auto v = parse_decimal(s);
  if (!v || *v > 3600ull * 1000 * 1000) {
    return std::nullopt;
  }
  return Micros(*v * scale);
}

std::string json_escape(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

bool send_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      return false;
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

void record(std::string_view label, std::string_view bytes) {
  if (g_record_fd < 0) {
    return;
  }
  std::string entry = "=== " + std::string(label) + " ===\n";
  entry.append(bytes);
  entry += '\n';
  std::lock_guard lock(g_record_mutex);
  std::string_view rest = entry;
  while (!rest.empty()) {
    ssize_t n = ::write(g_record_fd, rest.data(), rest.size());
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      return;
    }
    rest.remove_prefix(static_cast<size_t>(n));
  }
}

struct Request {
  uint64_t n = 0;
  std::string method;
  std::string target;
  std::string version;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;  // decoded (chunk framing removed)
  std::string raw;   // exactly the bytes received for this request
  bool keep_alive = true;

  const std::string* header(std::string_view name) const {
    for (const auto& [k, v] : headers) {
      if (iequals(k, name)) {
        return &v;
      }
    }
    return nullptr;
  }
};

// Takes requests off the front of a connection's receive buffer. State survives kNeedMore so a
// large chunked body is not re-scanned on every recv.
class RequestParser {
 public:
  enum class Status { kNeedMore, kDone, kBad };

  // On kDone, `req` is complete and its bytes have been removed from `buf`.
  Status parse(std::string& buf, Request& req, std::string& why) {
    if (head_len_ == 0) {
      size_t end = buf.find("\r\n\r\n");
      size_t scan = end == std::string::npos ? buf.size() : end + 4;
      for (size_t i = 0; i < scan; ++i) {
        if (buf[i] == '\n' && (i == 0 || buf[i - 1] != '\r')) {
          why = "bare LF";
          return Status::kBad;
        }
      }
      if (end == std::string::npos) {
        if (buf.size() > kMaxHead) {
          why = "head too large";
          return Status::kBad;
        }
        return Status::kNeedMore;
      }
      head_len_ = end + 4;
      if (!parse_head(std::string_view(buf).substr(0, end), req, why)) {
        return Status::kBad;
      }
      chunk_pos_ = head_len_;
    }
    size_t total = 0;
    if (chunked_) {
      Status s = parse_chunked(buf, req, why, total);
      if (s != Status::kDone) {
        return s;
      }
    } else {
      if (buf.size() < head_len_ + length_) {
        return Status::kNeedMore;
      }
      total = head_len_ + length_;
      req.body = buf.substr(head_len_, length_);
    }
    req.raw = buf.substr(0, total);
    buf.erase(0, total);
    *this = RequestParser();
    return Status::kDone;
  }

 private:
  bool parse_head(std::string_view head, Request& req, std::string& why) {
    size_t eol = head.find("\r\n");
    std::string_view line = head.substr(0, eol);
    size_t sp1 = line.find(' ');
    size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
    if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos) {
      why = "malformed request line";
      return false;
    }
    req.method = line.substr(0, sp1);
    req.target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    req.version = line.substr(sp2 + 1);
    bool target_ok =
        !req.target.empty() && std::all_of(req.target.begin(), req.target.end(), [](char c) {
          return static_cast<unsigned char>(c) > 0x20 && c != 0x7f;
        });
    if (!is_token(req.method) || !target_ok ||
        (req.version != "HTTP/1.1" && req.version != "HTTP/1.0")) {
      why = "malformed request line";
      return false;
    }
    while (eol != std::string_view::npos) {
      head.remove_prefix(eol + 2);
      eol = head.find("\r\n");
      line = head.substr(0, eol);
      size_t colon = line.find(':');
      if (colon == std::string_view::npos || !is_token(line.substr(0, colon))) {
        why = line.empty() || line[0] == ' ' || line[0] == '\t' ? "obs-fold" : "malformed header";
        return false;
      }
      std::string_view value = trim(line.substr(colon + 1));
      for (char c : value) {
        if ((static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f) {
          why = "control character in header value";
          return false;
        }
      }
      req.headers.emplace_back(line.substr(0, colon), value);
    }
    return check_framing(req, why);
  }

  bool check_framing(Request& req, std::string& why) {
    std::optional<uint64_t> length;
    int hosts = 0;
    bool te = false;
    for (const auto& [name, value] : req.headers) {
      if (iequals(name, "content-length")) {
        auto v = parse_decimal(value);
        if (!v || (length && *length != *v)) {
          why = v ? "conflicting content-length" : "invalid content-length";
          return false;
        }
        length = v;
      } else if (iequals(name, "transfer-encoding")) {
        // Only a single "chunked" is understood; anything else must not be guessed at.
        if (te || !iequals(value, "chunked")) {
          why = "unsupported transfer-encoding";
          return false;
        }
        te = true;
      } else if (iequals(name, "host")) {
        ++hosts;
      } else if (iequals(name, "connection")) {
        std::string_view list = value;
        while (!list.empty()) {
          size_t comma = list.find(',');
          if (iequals(trim(list.substr(0, comma)), "close")) {
            req.keep_alive = false;
          }
          list = comma == std::string_view::npos ? "" : list.substr(comma + 1);
        }
      }
    }
    if (te && length) {
      why = "both content-length and transfer-encoding";
      return false;
    }
    if (req.version == "HTTP/1.0") {
      req.keep_alive = false;
      if (te) {
        why = "transfer-encoding in HTTP/1.0";
        return false;
      }
    } else if (hosts != 1) {
      why = hosts == 0 ? "missing host" : "duplicate host";
      return false;
    }
    if (length && *length > kMaxBody) {
      why = "body too large";
      return false;
    }
    chunked_ = te;
    length_ = length.value_or(0);
    return true;
  }

  Status parse_chunked(std::string_view buf, Request& req, std::string& why, size_t& total) {
    for (;;) {
      size_t eol = buf.find("\r\n", chunk_pos_);
      if (eol == std::string_view::npos) {
        if (buf.size() - chunk_pos_ > kMaxChunkLine) {
          why = "chunk line too long";
          return Status::kBad;
        }
        return Status::kNeedMore;
      }
      std::string_view line = buf.substr(chunk_pos_, eol - chunk_pos_);
      if (in_trailers_) {
        chunk_pos_ = eol + 2;
        if (line.empty()) {
          total = chunk_pos_;
          return Status::kDone;
        }
        size_t colon = line.find(':');
        if (colon == std::string_view::npos || !is_token(line.substr(0, colon))) {
          why = "malformed trailer";
          return Status::kBad;
        }
        continue;
      }
      std::string_view digits = line.substr(0, line.find(';'));
      uint64_t size = 0;
      bool ok = !digits.empty() && digits.size() <= 15;
      for (char c : digits) {
        int h = hex_value(c);
        ok = ok && h >= 0;
        size = size * 16 + static_cast<uint64_t>(std::max(h, 0));
      }
      if (!ok || req.body.size() + size > kMaxBody) {
        why = ok ? "body too large" : "invalid chunk size";
        return Status::kBad;
      }
      if (size == 0) {
        in_trailers_ = true;
        chunk_pos_ = eol + 2;
        continue;
      }
      size_t data = eol + 2;
      if (buf.size() < data + size + 2) {
        return Status::kNeedMore;
      }
      if (buf.substr(data + size, 2) != "\r\n") {
        why = "chunk data not followed by CRLF";
        return Status::kBad;
      }
      req.body.append(buf.substr(data, size));
      chunk_pos_ = data + size + 2;
    }
  }

  size_t head_len_ = 0;  // 0 until the head is complete
  bool chunked_ = false;
  uint64_t length_ = 0;
  size_t chunk_pos_ = 0;  // offset of the next chunk-size (or trailer) line
  bool in_trailers_ = false;
};

// What to send for one request: the base response by path, then the query's modifiers.
struct Plan {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::string> extra_headers;
  std::vector<std::string> trailers;  // chunked=1: fields after the last chunk
  Micros delay{0};
  Micros slow{0};
  size_t chunk = 1024;
  bool chunked = false;
  bool close = false;
  bool close_mid_body = false;
  bool reset = false;
  bool hang = false;
  bool upgrade = false;
  std::string bad;  // raw bytes to send instead of a response
};

std::string error_json(std::string_view why) {
  return "{\"error\":\"" + json_escape(why) + "\"}";
}

std::optional<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return std::nullopt;
  }
  std::ostringstream out;
  out << in.rdbuf();
  return std::move(out).str();
}

void plan_base(const Request& req, std::string_view path, Plan& p) {
  bool get = req.method == "GET" || req.method == "HEAD";
  if (path == "/healthz") {
    bool healthy = g_healthy.load();
    p.status = healthy ? 200 : 503;
    p.content_type = "text/plain";
    p.body = healthy ? "ok" : "unhealthy";
  } else if (path == "/control/healthy" || path == "/control/unhealthy") {
    p.content_type = "text/plain";
    if (req.method != "POST") {
      p.status = 405;
      p.body = "POST only";
      return;
    }
    g_healthy = path == "/control/healthy";
    p.body = "ok";
  } else if (path.starts_with("/control/status/")) {
    auto code = parse_decimal(path.substr(16));
    p.content_type = "text/plain";
    if (req.method != "POST" || !code || (*code != 0 && (*code < 200 || *code > 599))) {
      p.status = 400;
      p.body = "POST /control/status/N with N 200..599, or 0 to stop forcing";
      return;
    }
    g_forced_status = static_cast<int>(*code);
    p.body = "ok";
  } else if (path.starts_with("/files/")) {
    auto name = percent_decode(path.substr(7));
    if (!get) {
      p.status = 405;
      p.body = error_json("GET or HEAD only");
    } else if (!name || name->empty() || *name == "." || *name == ".." ||
               name->find_first_of(std::string_view("/\0", 2)) != std::string::npos) {
      p.status = 403;
      p.body = error_json("forbidden name");
    } else if (auto bytes =
                   g_files_dir.empty() ? std::nullopt : read_file(g_files_dir + "/" + *name)) {
      p.body = std::move(*bytes);
    } else {
      p.status = 404;
      p.body = error_json("not found");
    }
  } else {
    if (int forced = g_forced_status.load()) {
      p.status = forced;
    }
    p.body = "{\"path\":\"" + json_escape(path) + "\",\"method\":\"" + json_escape(req.method) +
             "\",\"server\":\"" + json_escape(g_name) + "\",\"n\":" + std::to_string(req.n) + "}";
  }
}

const char* bad_response(std::string_view kind, size_t& len) {
  static constexpr std::pair<std::string_view, std::string_view> kBad[] = {
      {"cl_te",
       "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
       "1\r\nx\r\n0\r\n\r\n"},
      {"two_cl", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 4\r\n\r\nokok"},
      {"bad_chunk",
       "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"},
      {"garbage", std::string_view("GARBAGE\x00\xff\x01 this is not http\r\n\r\n", 30)},
      {"no_status", "HTTP/1.1 OK\r\nContent-Length: 2\r\n\r\nok"},
  };
  for (const auto& [name, bytes] : kBad) {
    if (name == kind) {
      len = bytes.size();
      return bytes.data();
    }
  }
  return nullptr;
}

// Fills `p`; false (with `why`) when a parameter's value is invalid.
bool plan_response(const Request& req, Plan& p, std::string& why) {
  std::string_view target = req.target;
  size_t q = target.find('?');
  std::string_view path = target.substr(0, q);
  std::string_view query = q == std::string_view::npos ? "" : target.substr(q + 1);
  plan_base(req, path, p);

  std::optional<std::string> json, body_size;
  bool echo = false;
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view item = query.substr(0, amp);
    query = amp == std::string_view::npos ? "" : query.substr(amp + 1);
    size_t eq = item.find('=');
    std::string key(item.substr(0, eq));
    auto value = percent_decode(eq == std::string_view::npos ? "" : item.substr(eq + 1));
    why = "bad parameter " + key;
    if (!value) {
      return false;
    }
    const std::string& v = *value;
    auto flag = [&] { return v == "1" || v == "true"; };
    if (key == "status") {
      auto s = parse_decimal(v);
      if (!s || *s < 100 || *s > 999) {
        return false;
      }
      p.status = static_cast<int>(*s);
    } else if (key == "json") {
      json = v;
    } else if (key == "echo") {
      echo = flag();
    } else if (key == "body_size") {
      auto n = parse_decimal(v);
      if (!n || *n < 2 || *n > kMaxBody) {
        return false;
      }
      body_size = std::string(*n, 'x');
      (*body_size)[0] = '"';
      for (size_t i = 1; i + 1 < *n; ++i) {
        (*body_size)[i] = static_cast<char>('a' + (i - 1) % 26);
      }
      body_size->back() = '"';
    } else if (key == "header") {
      size_t colon = v.find(':');
      if (colon == std::string::npos || !is_token(std::string_view(v).substr(0, colon)) ||
          v.find_first_of("\r\n") != std::string::npos) {
        return false;
      }
      p.extra_headers.push_back(v.substr(0, colon) + ": " + std::string(trim(v.substr(colon + 1))));
    } else if (key == "etag") {
      // A validator: `ETag: "TAG"`; a request whose If-None-Match names it gets 304.
      if (v.empty() || v.find_first_of("\"\r\n") != std::string::npos) {
        return false;
      }
      const std::string tag = "\"" + v + "\"";
      p.extra_headers.push_back("ETag: " + tag);
      const std::string* inm = req.header("if-none-match");
      if (inm && (*inm == tag || *inm == "*")) {
        p.status = 304;
      }
    } else if (key == "trailer") {
      size_t colon = v.find(':');
      if (colon == std::string::npos || !is_token(std::string_view(v).substr(0, colon)) ||
          v.find_first_of("\r\n") != std::string::npos) {
        return false;
      }
      p.trailers.push_back(v.substr(0, colon) + ": " + std::string(trim(v.substr(colon + 1))));
    } else if (key == "delay" || key == "slow") {
      auto d = parse_duration(v);
      if (!d) {
        return false;
      }
      (key == "delay" ? p.delay : p.slow) = *d;
    } else if (key == "chunk") {
      auto n = parse_decimal(v);
      if (!n || *n == 0 || *n > kMaxBody) {
        return false;
      }
      p.chunk = *n;
    } else if (key == "chunked") {
      p.chunked = flag();
    } else if (key == "close") {
      p.close = flag();
    } else if (key == "close_mid_body") {
      p.close_mid_body = flag();
    } else if (key == "reset") {
      p.reset = flag();
    } else if (key == "hang") {
      p.hang = flag();
    } else if (key == "upgrade") {
      p.upgrade = flag();
    } else if (key == "bad") {
      size_t len = 0;
      const char* bytes = bad_response(v, len);
      if (bytes == nullptr) {
        return false;
      }
      p.bad.assign(bytes, len);
    }
  }
  why.clear();
  if (json) {
    p.body = std::move(*json);
    p.content_type = "application/json";
  } else if (echo) {
    p.body = req.raw;
    p.content_type = "application/octet-stream";
  } else if (body_size) {
    p.body = std::move(*body_size);
    p.content_type = "application/json";
  }
  if (!req.keep_alive) {
    p.close = true;
  }
  return true;
}

const char* reason(int status) {
  static constexpr std::pair<int, const char*> kReasons[] = {{101, "Switching Protocols"},
                                                             {200, "OK"},
                                                             {201, "Created"},
                                                             {204, "No Content"},
                                                             {301, "Moved Permanently"},
                                                             {302, "Found"},
                                                             {304, "Not Modified"},
                                                             {400, "Bad Request"},
                                                             {401, "Unauthorized"},
                                                             {403, "Forbidden"},
                                                             {404, "Not Found"},
                                                             {405, "Method Not Allowed"},
                                                             {408, "Request Timeout"},
                                                             {413, "Content Too Large"},
                                                             {429, "Too Many Requests"},
                                                             {500, "Internal Server Error"},
                                                             {502, "Bad Gateway"},
                                                             {503, "Service Unavailable"},
                                                             {504, "Gateway Timeout"}};
  for (const auto& [code, text] : kReasons) {
    if (code == status) {
      return text;
    }
  }
  return "Status";
}

// Sends the response `p` describes; false when the connection must close afterwards.
bool send_response(int fd, const Request& req, const Plan& p) {
  bool no_body = p.status < 200 || p.status == 204 || p.status == 304;
  std::string out = "HTTP/1.1 " + std::to_string(p.status) + " " + reason(p.status) + "\r\n";
  if (!no_body) {
    out += "Content-Type: " + p.content_type + "\r\n";
    out += p.chunked ? std::string("Transfer-Encoding: chunked\r\n")
                     : "Content-Length: " + std::to_string(p.body.size()) + "\r\n";
  }
  out += "X-Upstream: " + g_name + "\r\n";
  if (p.close) {
    out += "Connection: close\r\n";
  }
  for (const std::string& h : p.extra_headers) {
    out += h + "\r\n";
  }
  out += "\r\n";
  if (no_body || req.method == "HEAD") {
    return send_all(fd, out) && !p.close;
  }
  // The body goes out in `chunk`-sized pieces only when they are framed or paced; otherwise the
  // whole response leaves in one write.
  size_t limit = p.close_mid_body ? p.body.size() / 2 : p.body.size();
  size_t piece = (p.chunked || p.slow.count() > 0) ? p.chunk : std::max<size_t>(limit, 1);
  for (size_t off = 0; off < limit; off += piece) {
    if (off > 0 && p.slow.count() > 0) {
      if (!send_all(fd, out)) {
        return false;
      }
      out.clear();
      std::this_thread::sleep_for(p.slow);
    }
    std::string_view data = std::string_view(p.body).substr(off, std::min(piece, limit - off));
    if (p.chunked) {
      char size_line[24];
      std::snprintf(size_line, sizeof size_line, "%zx\r\n", data.size());
      out += size_line;
      out += data;
      out += "\r\n";
    } else {
      out += data;
    }
  }
  if (p.chunked && !p.close_mid_body) {
    out += "0\r\n";
    for (const std::string& t : p.trailers) {
      out += t + "\r\n";
    }
    out += "\r\n";
  }
  return send_all(fd, out) && !p.close && !p.close_mid_body;
}

// Half-close and let the peer read everything before the socket goes: closing with unread input
// would send RST and could destroy a response still in flight.
void graceful_close(int fd) {
  ::shutdown(fd, SHUT_WR);
  timeval tv{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  char sink[4096];
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  while (std::chrono::steady_clock::now() < deadline && ::recv(fd, sink, sizeof sink, 0) > 0) {
  }
  ::close(fd);
}

void drain_until_eof(int fd) {
  char sink[4096];
  ssize_t n;
  while ((n = ::recv(fd, sink, sizeof sink, 0)) > 0 || (n < 0 && errno == EINTR)) {
  }
}

// After 101: echo every byte back, starting with what followed the request in `buf`.
void tunnel(int fd, std::string& buf) {
  char data[16 * 1024];
  for (;;) {
    if (!buf.empty() && !send_all(fd, buf)) {
      break;
    }
    ssize_t n = ::recv(fd, data, sizeof data, 0);
    if (n < 0 && errno == EINTR) {
      buf.clear();
      continue;
    }
    if (n <= 0) {
      break;
    }
    buf.assign(data, static_cast<size_t>(n));
  }
  graceful_close(fd);
}

void serve_connection(int fd) {
  std::string buf;
  RequestParser parser;
  Request req;
  char data[64 * 1024];
  for (;;) {
    std::string why;
    RequestParser::Status status = parser.parse(buf, req, why);
    if (status == RequestParser::Status::kNeedMore) {
      ssize_t n = ::recv(fd, data, sizeof data, 0);
      if (n < 0 && errno == EINTR) {
        continue;
      }
      if (n <= 0) {
        if (!buf.empty()) {
          record("bad request " + std::to_string(++g_counter) + " (" + std::to_string(buf.size()) +
                     " bytes): connection closed mid-request",
                 buf);
        }
        ::close(fd);
        return;
      }
      buf.append(data, static_cast<size_t>(n));
      continue;
    }
    if (status == RequestParser::Status::kBad) {
      record("bad request " + std::to_string(++g_counter) + " (" + std::to_string(buf.size()) +
                 " bytes): " + why,
             buf);
      Plan p;
      p.status = 400;
      p.body = error_json(why);
      p.close = true;
      send_response(fd, Request(), p);
      graceful_close(fd);
      return;
    }
    req.n = ++g_counter;
    record("request " + std::to_string(req.n) + " (" + std::to_string(req.raw.size()) + " bytes)",
           req.raw);
    Plan p;
    if (!plan_response(req, p, why)) {
      p = Plan();
      p.status = 400;
      p.body = error_json(why);
    }
    if (p.delay.count() > 0) {
      std::this_thread::sleep_for(p.delay);
    }
    if (p.reset) {
      linger l{1, 0};  // linger 0: close() sends RST and drops anything unsent
      ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
      ::close(fd);
      return;
    }
    if (p.hang) {
      drain_until_eof(fd);
      ::close(fd);
      return;
    }
    if (!p.bad.empty()) {
      send_all(fd, p.bad);
      graceful_close(fd);
      return;
    }
    if (p.upgrade) {
      if (const std::string* proto = req.header("upgrade")) {
        std::string head =
            "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: " + *proto +
            "\r\nX-Upstream: " + g_name + "\r\n\r\n";
        if (send_all(fd, head)) {
          tunnel(fd, buf);
        } else {
          ::close(fd);
        }
        return;
      }
      p = Plan();
      p.status = 400;
      p.body = error_json("upgrade=1 needs an Upgrade header");
    }
    if (!send_response(fd, req, p)) {
      graceful_close(fd);
      return;
    }
    req = Request();
  }
}

void accept_loop(int listen_fd) {
  for (;;) {
    int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
      continue;
    }
    int one = 1;
    // Paced bodies (slow=) must leave in the pieces they were written in.
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    std::thread(serve_connection, fd).detach();
  }
}

[[noreturn]] void usage(const char* msg) {
  std::fprintf(stderr,
               "test_upstream: %s\nusage: test_upstream --listen HOST:PORT [--name NAME] "
               "[--unhealthy] [--status N] [--record FILE] [--files DIR]\n",
               msg);
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  std::string listen;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        usage("missing value");
      }
      return argv[++i];
    };
    if (arg == "--listen") {
      listen = value();
    } else if (arg == "--name") {
      g_name = value();
    } else if (arg == "--unhealthy") {
      g_healthy = false;
    } else if (arg == "--status") {
      auto code = parse_decimal(value());
      if (!code || *code < 200 || *code > 599) {
        usage("--status needs 200..599");
      }
      g_forced_status = static_cast<int>(*code);
    } else if (arg == "--record") {
      std::string path = value();
      g_record_fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
      if (g_record_fd < 0) {
        usage("cannot open --record file");
      }
    } else if (arg == "--files") {
      g_files_dir = value();
    } else {
      usage("unknown argument");
    }
  }
  // IPV4:PORT or [IPV6]:PORT.
  size_t colon = listen.rfind(':');
  sockaddr_storage addr{};
  auto port = colon == std::string::npos ? std::nullopt : parse_decimal(listen.substr(colon + 1));
  std::string host = colon == std::string::npos ? "" : listen.substr(0, colon);
  const bool v6 = host.size() > 2 && host.front() == '[' && host.back() == ']';
  auto* a4 = reinterpret_cast<sockaddr_in*>(&addr);
  auto* a6 = reinterpret_cast<sockaddr_in6*>(&addr);
  if (v6) {
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons(static_cast<uint16_t>(port.value_or(0)));
  } else {
    a4->sin_family = AF_INET;
    a4->sin_port = htons(static_cast<uint16_t>(port.value_or(0)));
  }
  if (!port || *port > 65535 ||
      (v6 ? ::inet_pton(AF_INET6, host.substr(1, host.size() - 2).c_str(), &a6->sin6_addr)
          : ::inet_pton(AF_INET, host.c_str(), &a4->sin_addr)) != 1) {
    usage("--listen needs IPV4:PORT or [IPV6]:PORT");
  }

  // Every thread inherits this mask, so SIGTERM/SIGINT reach only the sigwait below.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  int fd = ::socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  socklen_t len = v6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
      ::listen(fd, 1024) != 0 || ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    std::fprintf(stderr, "test_upstream: cannot listen on %s: %s\n", listen.c_str(),
                 std::strerror(errno));
    return 1;
  }
  char ip[INET6_ADDRSTRLEN];
  if (v6) {
    ::inet_ntop(AF_INET6, &a6->sin6_addr, ip, sizeof ip);
    std::printf("listening [%s]:%u\n", ip, ntohs(a6->sin6_port));
  } else {
    ::inet_ntop(AF_INET, &a4->sin_addr, ip, sizeof ip);
    std::printf("listening %s:%u\n", ip, ntohs(a4->sin_port));
  }
  std::fflush(stdout);

  std::thread(accept_loop, fd).detach();
  int sig = 0;
  sigwait(&stop, &sig);
  // Connection threads are still running: skip static destructors. Records are written with
  // write(2), so nothing is left buffered.
  std::_Exit(0);
}
