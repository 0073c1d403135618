// bench/load: an open-loop HTTP/1.1 load generator on io_uring, for capacity planning.
//
// Requests are offered at a constant rate whatever the server does: request k is due at
// t0 + k / rate, and its latency is measured from that intended time, not from when a connection
// was free to send it. A server that stalls therefore shows the stall in every request that
// waited for it, as a user would see it (a closed-loop tool such as wrk sends nothing while its
// connections wait, and records one slow request per connection: coordinated omission). Each
// connection carries one request at a time (keep-alive, no pipelining); requests due while every
// connection is busy wait in order and still count from their intended time.
//
// Output: a summary (one JSON object on stdout: offered and achieved rates, the latency of the
// requests due in the measured window, errors by kind, requests never sent) and, with --csv, one
// line per second of the measured run: offered and achieved requests, latency percentiles and
// errors by kind.
//
//   load --url http://127.0.0.1:18080/bench --rate 20000 --connections 50 --duration 10
//        [--warmup 2] [--csv FILE] [--header "Name: value"]... [--method M] [--body TEXT]
//        [--timeout-ms 5000]
//   --rate 0: closed loop, each connection sends again as soon as it is answered (the maximum
//   rate the server sustains with that many connections; latency then counts from each send).
//   https:// URLs: TLS through memory BIOs (the certificate is not verified: a bench client),
//   the first connection's session resumed by every later one, as a browser would.

#include <arpa/inet.h>
#include <liburing.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <string_view>
#include <vector>

namespace {

uint64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

// Log-linear latency histogram in microseconds: exact below 64 µs, then 32 buckets per power of
// two (within about 3%), up to about 12 days.
class Histogram {
 public:
  static constexpr size_t kBuckets = 64 + 35 * 32;

  void record(uint64_t us) {
    ++counts_[index(us)];
    ++count_;
    max_ = std::max(max_, us);
  }
  void merge(const Histogram& o) {
    for (size_t i = 0; i < kBuckets; ++i) {
      counts_[i] += o.counts_[i];
    }
    count_ += o.count_;
    max_ = std::max(max_, o.max_);
  }
  uint64_t count() const { return count_; }
  uint64_t max() const { return max_; }
  // The value at or below which a fraction `q` of the samples lie (the bucket's upper bound,
  // never above the largest sample); 0 when empty.
  uint64_t quantile(double q) const {
    if (count_ == 0) {
      return 0;
    }
    const uint64_t rank = std::max<uint64_t>(1, static_cast<uint64_t>(std::ceil(q * count_)));
    uint64_t seen = 0;
    for (size_t i = 0; i < kBuckets; ++i) {
      seen += counts_[i];
      if (seen >= rank) {
        return std::min(max_, lower_bound(i + 1) - 1);
      }
    }
    return max_;
  }

 private:
  static size_t index(uint64_t v) {
    if (v < 64) {
      return static_cast<size_t>(v);
    }
    const int m = 63 - __builtin_clzll(v);  // >= 6
    const int shift = m - 5;
    const size_t i = 64 + static_cast<size_t>(m - 6) * 32 + static_cast<size_t>((v >> shift) - 32);
    return std::min(i, kBuckets - 1);
  }
  static uint64_t lower_bound(size_t i) {
    if (i < 64) {
      return i;
    }
    const size_t k = (i - 64) / 32;
    const int shift = static_cast<int>(k) + 1;
    return (static_cast<uint64_t>((i - 64) % 32) + 32) << shift;
  }

  uint64_t counts_[kBuckets] = {};
  uint64_t count_ = 0;
  uint64_t max_ = 0;
};

enum Kind : size_t { kConnect, kRead, kWrite, kStatus, kTimeout, kKinds };
const char* const kKindNames[kKinds] = {"connect", "read", "write", "status", "timeout"};

struct Second {
  uint64_t offered = 0;   // requests due in this second
  uint64_t achieved = 0;  // responses completed in this second
  Histogram latency;
  uint64_t errors[kKinds] = {};
};

struct Options {
  std::string host = "127.0.0.1";
  uint16_t port = 80;
  std::string path = "/";
  std::string method = "GET";
  std::vector<std::string> headers;
  std::string body;
  double rate = 1000;
  unsigned connections = 50;
  double duration_s = 10;
  double warmup_s = 0;
  uint64_t timeout_ms = 5000;
  std::string csv;
  bool tls = false;
};

[[noreturn]] void usage(const char* why) {
  fprintf(stderr,
          "load: %s\nusage: load --url http://HOST:PORT/PATH --rate N --connections N "
          "--duration S [--warmup S] [--csv FILE] [--header 'Name: value']... [--method M] "
          "[--body TEXT] [--timeout-ms MS]\n",
          why);
  exit(2);
}

bool parse_url(const std::string& url, Options& o) {
  std::string rest;
  if (url.rfind("http://", 0) == 0) {
    rest = url.substr(7);
  } else if (url.rfind("https://", 0) == 0) {
    rest = url.substr(8);
    o.tls = true;
    o.port = 443;
  } else {
    return false;
  }
  const size_t slash = rest.find('/');
  std::string authority = slash == std::string::npos ? rest : rest.substr(0, slash);
  o.path = slash == std::string::npos ? "/" : rest.substr(slash);
  const size_t colon = authority.rfind(':');
  if (colon != std::string::npos) {
    o.port = static_cast<uint16_t>(atoi(authority.c_str() + colon + 1));
    authority.resize(colon);
  }
  o.host = authority;
  return !o.host.empty() && o.port != 0;
}

// One connection's response, parsed as it arrives: status line, headers up to the blank line,
// then a Content-Length body or a chunked one.
struct ResponseParser {
  enum class Step : uint8_t { kHead, kBody, kChunkSize, kChunkData, kChunkEnd, kTrailer, kDone };
  Step step = Step::kHead;
  int status = 0;
  bool close = false;
  uint64_t left = 0;  // body or chunk bytes still to come
  std::string line;   // the head, or a chunk-size / trailer line, as it builds up

  void reset() {
    step = Step::kHead;
    status = 0;
    close = false;
    left = 0;
    line.clear();
  }
  // Consumes [p, p+n); false on a malformed response. Stops at kDone (bytes after it are a
  // protocol error for a client that never pipelines; they are ignored).
  bool feed(const char* p, size_t n) {
    size_t i = 0;
    while (i < n && step != Step::kDone) {
      switch (step) {
        case Step::kHead:
          if (!take_line(p, n, i, 65536)) {
            if (line.size() > 65536) {
              return false;
            }
            break;
          }
          if (line.size() >= 4 && line.compare(line.size() - 4, 4, "\r\n\r\n") == 0) {
            if (!parse_head()) {
              return false;
            }
            line.clear();
          }
          break;
        case Step::kBody:
          take_data(n, i, Step::kDone);
          break;
        case Step::kChunkData:
          take_data(n, i, Step::kChunkEnd);
          break;
        case Step::kChunkSize:
        case Step::kChunkEnd:
        case Step::kTrailer:
          if (!take_line(p, n, i, 4096)) {
            if (line.size() > 4096) {
              return false;
            }
            break;
          }
          if (step == Step::kChunkEnd) {
            step = Step::kChunkSize;  // the CRLF after a chunk's data
          } else if (step == Step::kTrailer) {
            if (line == "\r\n") {
              step = Step::kDone;
            }
          } else {
            char* stop = nullptr;
            left = strtoull(line.c_str(), &stop, 16);
            if (stop == line.c_str()) {
              return false;
            }
            step = left == 0 ? Step::kTrailer : Step::kChunkData;
          }
          line.clear();
          break;
        case Step::kDone:
          break;
      }
    }
    return true;
  }

 private:
  // Appends to `line` up to the next LF (included): true when the line is complete. The head's
  // lines accumulate (a head ends with an empty line); at most `limit` bytes are meant to build
  // up (the caller checks).
  bool take_line(const char* p, size_t n, size_t& i, size_t limit) {
    const char* end = static_cast<const char*>(memchr(p + i, '\n', n - i));
    const size_t take = end ? static_cast<size_t>(end - (p + i)) + 1 : n - i;
    line.append(p + i, take);
    i += take;
    return end != nullptr && line.size() <= limit;
  }
  // Skips body bytes (a Content-Length body or a chunk's data); `next` once they are all in.
  void take_data(size_t n, size_t& i, Step next) {
    const uint64_t take = std::min<uint64_t>(left, n - i);
    left -= take;
    i += take;
    if (left == 0) {
      step = next;
    }
  }
  static bool iequals_prefix(std::string_view s, std::string_view prefix) {
    if (s.size() < prefix.size()) {
      return false;
    }
    for (size_t i = 0; i < prefix.size(); ++i) {
      if (tolower(static_cast<unsigned char>(s[i])) != prefix[i]) {
        return false;
      }
    }
    return true;
  }
  bool parse_head() {
    if (line.size() < 12 || line.compare(0, 5, "HTTP/") != 0) {
      return false;
    }
    status = atoi(line.c_str() + 9);
    bool chunked = false;
    bool length = false;
    size_t at = line.find("\r\n") + 2;
    while (at < line.size()) {
      const size_t end = line.find("\r\n", at);
      if (end == std::string::npos || end == at) {
        break;
      }
      std::string_view h(line.data() + at, end - at);
      if (iequals_prefix(h, "content-length:")) {
        left = strtoull(line.c_str() + at + 15, nullptr, 10);
        length = true;
      } else if (iequals_prefix(h, "transfer-encoding:")) {
        chunked = h.find("chunked") != std::string_view::npos;
      } else if (iequals_prefix(h, "connection:")) {
        close = h.find("close") != std::string_view::npos;
      }
      at = end + 2;
    }
    if (status == 204 || status == 304 || (status >= 100 && status < 200)) {
      step = Step::kDone;
    } else if (chunked) {
      step = Step::kChunkSize;
    } else if (length) {
      step = left == 0 ? Step::kDone : Step::kBody;
    } else {
      return false;  // a body to the end of the connection: not what a keep-alive server sends
    }
    return true;
  }
};

struct Conn {
  int fd = -1;
  enum class State : uint8_t { kConnecting, kHandshake, kIdle, kBusy, kClosed };
  State state = State::kClosed;
  uint64_t intended_ns = 0;  // the request in flight: when it was due
  uint64_t sent_ns = 0;      // when it went out (the timeout counts from here)
  size_t sent = 0;           // bytes of the request written so far
  bool counted = false;      // its latency goes into the results (due after the warm-up)
  ResponseParser parser;
  bool recv_armed = false;
  // TLS: the session over memory BIOs, and the ciphertext it wrote that is being sent.
  SSL* ssl = nullptr;
  BIO* rbio = nullptr;  // owned by ssl
  BIO* wbio = nullptr;
  std::string out;
  size_t out_sent = 0;
  bool sending = false;
  char buf[16384];
  char plain[16384];
};

constexpr uint64_t kOpConnect = 1, kOpSend = 2, kOpRecv = 3;

class Load {
 public:
  explicit Load(Options o) : o_(std::move(o)) {}

  int run() {
    if (!resolve()) {
      return 1;
    }
    request_ = o_.method + " " + o_.path + " HTTP/1.1\r\nHost: " + o_.host + ":" +
               std::to_string(o_.port) + "\r\n";
    for (const std::string& h : o_.headers) {
      request_ += h + "\r\n";
    }
    if (!o_.body.empty()) {
      request_ += "Content-Length: " + std::to_string(o_.body.size()) + "\r\n";
    }
    request_ += "\r\n" + o_.body;
    if (o_.tls) {
      ctx_ = SSL_CTX_new(TLS_client_method());
      if (!ctx_) {
        fprintf(stderr, "load: SSL_CTX_new failed\n");
        return 1;
      }
      SSL_CTX_set_verify(ctx_, SSL_VERIFY_NONE, nullptr);
      SSL_CTX_set_session_cache_mode(ctx_, SSL_SESS_CACHE_CLIENT);
    }
    const unsigned entries = std::min(4096u, std::max(256u, o_.connections * 4));
    if (io_uring_queue_init(entries, &ring_, 0) != 0) {
      fprintf(stderr, "load: io_uring_queue_init failed\n");
      return 1;
    }
    conns_.resize(o_.connections);
    generation_.assign(conns_.size(), 0);
    for (size_t i = 0; i < conns_.size(); ++i) {
      open(i);
    }
    start_ns_ = now_ns();
    measure_ns_ = start_ns_ + static_cast<uint64_t>(o_.warmup_s * 1e9);
    end_ns_ = measure_ns_ + static_cast<uint64_t>(o_.duration_s * 1e9);
    seconds_.resize(static_cast<size_t>(std::ceil(o_.duration_s)) + 1);
    loop();
    report();
    for (Conn& c : conns_) {
      SSL_free(c.ssl);
    }
    SSL_SESSION_free(session_);
    SSL_CTX_free(ctx_);
    io_uring_queue_exit(&ring_);
    return 0;
  }

 private:
  bool resolve() {
    addrinfo hints{};
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    if (getaddrinfo(o_.host.c_str(), nullptr, &hints, &res) != 0 || !res) {
      fprintf(stderr, "load: cannot resolve %s\n", o_.host.c_str());
      return false;
    }
    memcpy(&addr_, res->ai_addr, sizeof addr_);
    addr_.sin_port = htons(o_.port);
    freeaddrinfo(res);
    return true;
  }

  io_uring_sqe* sqe() {
    io_uring_sqe* s = io_uring_get_sqe(&ring_);
    if (!s) {
      io_uring_submit(&ring_);
      s = io_uring_get_sqe(&ring_);
    }
    return s;
  }
  // Completion tags: the connection, its generation (a reopened connection's old operations
  // still complete, and must not be taken for the new one's) and the operation.
  uint64_t tag(size_t conn, uint64_t op) const {
    return (static_cast<uint64_t>(generation_[conn] & 0xffffff) << 40) |
           (static_cast<uint64_t>(conn) << 2) | op;
  }

  void open(size_t i) {
    Conn& c = conns_[i];
    c.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c.fd < 0) {
      error(kConnect, now_ns());
      c.state = Conn::State::kClosed;
      return;
    }
    const int one = 1;
    setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c.state = Conn::State::kConnecting;
    io_uring_sqe* s = sqe();
    io_uring_prep_connect(s, c.fd, reinterpret_cast<const sockaddr*>(&addr_), sizeof addr_);
    io_uring_sqe_set_data64(s, tag(i, kOpConnect));
  }

  // The connection is gone (error, the server closed it, a timeout): a new one takes its place.
  void reopen(size_t i) {
    Conn& c = conns_[i];
    if (c.fd >= 0) {
      // Ends what is in flight on it (an operation holds the socket open past close()); those
      // completions carry the old generation and are ignored.
      shutdown(c.fd, SHUT_RDWR);
      close(c.fd);
      ++generation_[i];
    }
    c.fd = -1;
    c.parser.reset();
    c.recv_armed = false;
    SSL_free(c.ssl);
    c.ssl = nullptr;
    c.out.clear();
    c.out_sent = 0;
    c.sending = false;
    open(i);
  }

  // TLS: a new session on the connected socket; its ClientHello goes out at once.
  bool start_tls(size_t i) {
    Conn& c = conns_[i];
    c.ssl = SSL_new(ctx_);
    c.rbio = BIO_new(BIO_s_mem());
    c.wbio = BIO_new(BIO_s_mem());
    if (!c.ssl || !c.rbio || !c.wbio) {
      return false;
    }
    SSL_set_bio(c.ssl, c.rbio, c.wbio);
    SSL_set_connect_state(c.ssl);
    in_addr numeric{};
    if (inet_pton(AF_INET, o_.host.c_str(), &numeric) != 1) {
      SSL_set_tlsext_host_name(c.ssl, o_.host.c_str());
    }
    if (session_) {
      SSL_set_session(c.ssl, session_);
    }
    c.state = Conn::State::kHandshake;
    return handshake(i);
  }
  // Advances the handshake; false on failure. Done: the connection is idle.
  bool handshake(size_t i) {
    Conn& c = conns_[i];
    ERR_clear_error();
    const int rc = SSL_do_handshake(c.ssl);
    if (rc == 1) {
      if (!session_) {
        session_ = SSL_get1_session(c.ssl);
      }
      c.state = Conn::State::kIdle;
      idle_.push_back(i);
    } else if (SSL_get_error(c.ssl, rc) != SSL_ERROR_WANT_READ) {
      return false;
    }
    flush(i);
    return true;
  }
  // TLS: what the session wrote goes out, one send at a time.
  void flush(size_t i) {
    Conn& c = conns_[i];
    char chunk[16384];
    int n;
    while ((n = BIO_read(c.wbio, chunk, sizeof chunk)) > 0) {
      c.out.append(chunk, static_cast<size_t>(n));
    }
    if (!c.sending && c.out_sent < c.out.size()) {
      c.sending = true;
      io_uring_sqe* s = sqe();
      io_uring_prep_send(s, c.fd, c.out.data() + c.out_sent, c.out.size() - c.out_sent,
                         MSG_NOSIGNAL);
      io_uring_sqe_set_data64(s, tag(i, kOpSend));
    }
  }

  void send_next(size_t i, uint64_t intended, uint64_t now) {
    Conn& c = conns_[i];
    c.state = Conn::State::kBusy;
    c.intended_ns = intended;
    c.sent_ns = now;
    c.sent = 0;
    c.counted = intended >= measure_ns_ && intended < end_ns_;
    c.parser.reset();
    if (c.ssl) {
      ERR_clear_error();
      if (SSL_write(c.ssl, request_.data(), static_cast<int>(request_.size())) <= 0) {
        if (c.counted) {
          error(kWrite, now);
        }
        reopen(i);
        return;
      }
      flush(i);
    } else {
      submit_send(i);
    }
    if (!c.recv_armed) {
      submit_recv(i);
    }
  }
  void submit_send(size_t i) {
    Conn& c = conns_[i];
    io_uring_sqe* s = sqe();
    io_uring_prep_send(s, c.fd, request_.data() + c.sent, request_.size() - c.sent, MSG_NOSIGNAL);
    io_uring_sqe_set_data64(s, tag(i, kOpSend));
  }
  void submit_recv(size_t i) {
    Conn& c = conns_[i];
    c.recv_armed = true;
    io_uring_sqe* s = sqe();
    io_uring_prep_recv(s, c.fd, c.buf, sizeof c.buf, 0);
    io_uring_sqe_set_data64(s, tag(i, kOpRecv));
  }

  Second* second_of(uint64_t ns) {
    if (ns < measure_ns_ || ns >= end_ns_) {
      return nullptr;
    }
    return &seconds_[(ns - measure_ns_) / 1000000000u];
  }
  void error(Kind k, uint64_t now) {
    if (Second* s = second_of(now)) {
      ++s->errors[k];
    }
  }

  // Request k is due at this instant (open loop).
  uint64_t due_ns(uint64_t k) const {
    return start_ns_ + static_cast<uint64_t>(static_cast<double>(k) * 1e9 / o_.rate);
  }

  void dispatch_due(uint64_t now) {
    while (!idle_.empty()) {
      uint64_t intended;
      if (o_.rate > 0) {
        if (next_ >= scheduled_ || due_ns(next_) > now) {
          return;
        }
        intended = due_ns(next_);
      } else {
        if (now >= end_ns_) {
          return;
        }
        intended = now;
      }
      ++next_;
      const size_t i = idle_.back();
      idle_.pop_back();
      send_next(i, intended, now);
    }
  }

  void loop() {
    scheduled_ = o_.rate > 0
                     ? static_cast<uint64_t>(std::floor((o_.warmup_s + o_.duration_s) * o_.rate))
                     : UINT64_MAX;
    // After the last request is due, up to the timeout for what is still in flight.
    const uint64_t hard_end = end_ns_ + o_.timeout_ms * 1000000u;
    uint64_t next_timeout_scan = start_ns_;
    for (;;) {
      const uint64_t now = now_ns();
      if (o_.rate > 0) {
        // Offered per second, counted when due, whether or not a connection was free.
        while (offered_ < scheduled_ && due_ns(offered_) <= now) {
          if (Second* s = second_of(due_ns(offered_))) {
            ++s->offered;
          }
          ++offered_;
        }
      }
      dispatch_due(now);
      if (now >= next_timeout_scan) {
        scan_timeouts(now);
        next_timeout_scan = now + 50000000u;
        std::vector<size_t> retry;
        retry.swap(retry_);
        for (size_t r : retry) {
          open(r);  // a connect that failed, tried again every 50 ms
        }
      }
      const bool all_sent = o_.rate > 0 ? next_ >= scheduled_ : now >= end_ns_;
      if ((all_sent && busy() == 0) || now >= hard_end) {
        break;
      }
      uint64_t wait_ns = 10000000u;  // 10 ms at most between looks at the clock
      if (!idle_.empty() && o_.rate > 0 && next_ < scheduled_) {
        const uint64_t due = due_ns(next_);
        wait_ns = due > now ? std::min<uint64_t>(wait_ns, due - now) : 0;
      }
      __kernel_timespec ts{};
      ts.tv_sec = static_cast<long long>(wait_ns / 1000000000u);
      ts.tv_nsec = static_cast<long long>(wait_ns % 1000000000u);
      io_uring_cqe* cqe = nullptr;
      io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, wait_ns ? &ts : nullptr, nullptr);
      unsigned head;
      unsigned seen = 0;
      io_uring_for_each_cqe(&ring_, head, cqe) {
        ++seen;
        complete(io_uring_cqe_get_data64(cqe), cqe->res);
      }
      io_uring_cq_advance(&ring_, seen);
    }
    // Requests due but never sent (every connection busy until the end) were not served.
    if (o_.rate > 0) {
      unsent_ = scheduled_ - next_;
    }
    for (const Conn& c : conns_) {
      if (c.state == Conn::State::kBusy) {
        ++unfinished_;
      }
    }
  }

  size_t busy() const {
    size_t n = 0;
    for (const Conn& c : conns_) {
      n += c.state == Conn::State::kBusy;
    }
    return n;
  }

  void scan_timeouts(uint64_t now) {
    for (size_t i = 0; i < conns_.size(); ++i) {
      Conn& c = conns_[i];
      if (c.state == Conn::State::kBusy && now - c.sent_ns > o_.timeout_ms * 1000000u) {
        if (c.counted) {
          error(kTimeout, now);
        }
        reopen(i);
      }
    }
  }

  void complete(uint64_t data, int res) {
    const size_t i = static_cast<size_t>((data >> 2) & ((uint64_t{1} << 38) - 1));
    const uint64_t op = data & 3;
    if ((data >> 40) != (generation_[i] & 0xffffff)) {
      return;  // an operation of the connection this one replaced
    }
    Conn& c = conns_[i];
    const uint64_t now = now_ns();
    if (op == kOpConnect) {
      if (c.state != Conn::State::kConnecting) {
        return;
      }
      if (res < 0) {
        error(kConnect, now);
        close(c.fd);
        c.fd = -1;
        ++generation_[i];
        c.state = Conn::State::kClosed;
        retry_.push_back(i);  // tried again after a pause (loop())
        return;
      }
      if (o_.tls) {
        if (!start_tls(i)) {
          error(kConnect, now);
          reopen(i);
          return;
        }
        submit_recv(i);
        return;
      }
      c.state = Conn::State::kIdle;
      idle_.push_back(i);
      return;
    }
    if (c.ssl) {
      complete_tls(i, op, res, now);
      return;
    }
    if (c.state != Conn::State::kBusy) {
      return;  // a completion from before a reopen
    }
    if (op == kOpSend) {
      if (res < 0) {
        if (c.counted) {
          error(kWrite, now);
        }
        reopen(i);
        return;
      }
      c.sent += static_cast<size_t>(res);
      if (c.sent < request_.size()) {
        submit_send(i);
      }
      return;
    }
    // kOpRecv
    c.recv_armed = false;
    if (res <= 0) {
      if (c.counted) {
        error(kRead, now);
      }
      reopen(i);
      return;
    }
    if (!c.parser.feed(c.buf, static_cast<size_t>(res))) {
      if (c.counted) {
        error(kRead, now);
      }
      reopen(i);
      return;
    }
    if (c.parser.step != ResponseParser::Step::kDone) {
      submit_recv(i);
      return;
    }
    answered(i, now);
  }

  // A TLS connection's completion: sends of what the session wrote, and receives that feed it
  // (a receive stays armed from the handshake on: tickets and alerts arrive between requests).
  void complete_tls(size_t i, uint64_t op, int res, uint64_t now) {
    Conn& c = conns_[i];
    const bool busy = c.state == Conn::State::kBusy;
    if (op == kOpSend) {
      c.sending = false;
      if (res < 0) {
        fail_tls(i, kWrite, now);
        return;
      }
      c.out_sent += static_cast<size_t>(res);
      if (c.out_sent == c.out.size()) {
        c.out.clear();
        c.out_sent = 0;
      }
      flush(i);
      return;
    }
    c.recv_armed = false;
    if (res <= 0) {
      fail_tls(i, kRead, now);
      return;
    }
    BIO_write(c.rbio, c.buf, res);
    if (c.state == Conn::State::kHandshake) {
      if (!handshake(i)) {
        fail_tls(i, kConnect, now);
        return;
      }
      submit_recv(i);
      return;
    }
    for (;;) {
      ERR_clear_error();
      const int n = SSL_read(c.ssl, c.plain, sizeof c.plain);
      if (n <= 0) {
        if (SSL_get_error(c.ssl, n) != SSL_ERROR_WANT_READ) {
          fail_tls(i, kRead, now);
          return;
        }
        break;
      }
      if (busy && c.parser.step != ResponseParser::Step::kDone &&
          !c.parser.feed(c.plain, static_cast<size_t>(n))) {
        fail_tls(i, kRead, now);
        return;
      }
    }
    flush(i);
    submit_recv(i);
    if (busy && c.parser.step == ResponseParser::Step::kDone) {
      answered(i, now);
    }
  }
  void fail_tls(size_t i, Kind kind, uint64_t now) {
    Conn& c = conns_[i];
    if (kind == kConnect || (c.state == Conn::State::kBusy && c.counted)) {
      error(kind, now);
    }
    reopen(i);
  }

  // The response of connection `i` is complete.
  void answered(size_t i, uint64_t now) {
    Conn& c = conns_[i];
    // Answered. The achieved rate counts every response in the measured window; latency, the
    // requests due in it (answered in it or after).
    Second* second = second_of(now);
    const bool ok = c.parser.status >= 200 && c.parser.status < 400;
    if (second) {
      ++second->achieved;
      ++in_window_;
      ok_in_window_ += ok;
      if (c.parser.status >= 100 && c.parser.status < 600) {
        ++by_class_[c.parser.status / 100];
      }
    }
    if (now >= measure_ns_) {
      ++after_measure_;
    }
    if (c.counted) {
      const uint64_t us = (now - c.intended_ns) / 1000;
      total_.record(us);
      ++completed_;
      if (second) {
        second->latency.record(us);
        if (!ok) {
          ++second->errors[kStatus];
        }
      } else if (now >= end_ns_ && !seconds_.empty()) {
        // Answered after the measured window: it still counts in the last second's latency.
        Second& last = seconds_[seconds_.size() - 1];
        last.latency.record(us);
      }
    }
    if (c.parser.close) {
      reopen(i);
      return;
    }
    c.state = Conn::State::kIdle;
    idle_.push_back(i);
  }

  void report() {
    uint64_t errors[kKinds] = {};
    Histogram check;
    size_t last = seconds_.size();
    while (last > 0 && seconds_[last - 1].offered == 0 && seconds_[last - 1].achieved == 0 &&
           seconds_[last - 1].latency.count() == 0) {
      --last;
    }
    if (!o_.csv.empty()) {
      FILE* f = fopen(o_.csv.c_str(), "w");
      if (f) {
        fprintf(f,
                "second,offered,achieved,p50_us,p90_us,p99_us,p999_us,max_us,connect_errors,"
                "read_errors,write_errors,status_errors,timeouts\n");
        for (size_t s = 0; s < last; ++s) {
          const Second& x = seconds_[s];
          fprintf(f, "%zu,%llu,%llu,%llu,%llu,%llu,%llu,%llu", s + 1,
                  static_cast<unsigned long long>(o_.rate > 0 ? x.offered : x.achieved),
                  static_cast<unsigned long long>(x.achieved),
                  static_cast<unsigned long long>(x.latency.quantile(0.5)),
                  static_cast<unsigned long long>(x.latency.quantile(0.9)),
                  static_cast<unsigned long long>(x.latency.quantile(0.99)),
                  static_cast<unsigned long long>(x.latency.quantile(0.999)),
                  static_cast<unsigned long long>(x.latency.max()));
          for (size_t k = 0; k < kKinds; ++k) {
            fprintf(f, ",%llu", static_cast<unsigned long long>(x.errors[k]));
          }
          fputc('\n', f);
        }
        fclose(f);
      } else {
        fprintf(stderr, "load: cannot write %s\n", o_.csv.c_str());
      }
    }
    for (const Second& x : seconds_) {
      for (size_t k = 0; k < kKinds; ++k) {
        errors[k] += x.errors[k];
      }
    }
    const double achieved = static_cast<double>(in_window_) / o_.duration_s;
    const double offered = o_.rate > 0 ? o_.rate : achieved;
    printf(
        "{\"offered_rps\":%.1f,\"achieved_rps\":%.1f,\"requests\":%llu,\"responses\":%llu,"
        "\"p50_us\":%llu,\"p90_us\":%llu,\"p99_us\":%llu,\"p999_us\":%llu,\"max_us\":%llu",
        offered, achieved, static_cast<unsigned long long>(completed_),
        static_cast<unsigned long long>(after_measure_),
        static_cast<unsigned long long>(total_.quantile(0.5)),
        static_cast<unsigned long long>(total_.quantile(0.9)),
        static_cast<unsigned long long>(total_.quantile(0.99)),
        static_cast<unsigned long long>(total_.quantile(0.999)),
        static_cast<unsigned long long>(total_.max()));
    printf(",\"errors\":{");
    for (size_t k = 0; k < kKinds; ++k) {
      printf("%s\"%s\":%llu", k ? "," : "", kKindNames[k],
             static_cast<unsigned long long>(errors[k]));
    }
    printf(
        "},\"ok_rps\":%.1f,\"status\":{\"1xx\":%llu,\"2xx\":%llu,\"3xx\":%llu,\"4xx\":%llu,"
        "\"5xx\":%llu}",
        static_cast<double>(ok_in_window_) / o_.duration_s,
        static_cast<unsigned long long>(by_class_[1]),
        static_cast<unsigned long long>(by_class_[2]),
        static_cast<unsigned long long>(by_class_[3]),
        static_cast<unsigned long long>(by_class_[4]),
        static_cast<unsigned long long>(by_class_[5]));
    printf(",\"unsent\":%llu,\"unfinished\":%llu,\"connections\":%u,\"duration_s\":%.1f}\n",
           static_cast<unsigned long long>(unsent_), static_cast<unsigned long long>(unfinished_),
           o_.connections, o_.duration_s);
  }

  Options o_;
  SSL_CTX* ctx_ = nullptr;
  SSL_SESSION* session_ = nullptr;  // the first handshake's, offered by every later connection
  std::string request_;
  io_uring ring_{};
  sockaddr_in addr_{};
  std::vector<Conn> conns_;
  std::vector<uint32_t> generation_;
  std::vector<size_t> idle_;
  std::vector<size_t> retry_;
  std::vector<Second> seconds_;
  Histogram total_;
  uint64_t start_ns_ = 0, measure_ns_ = 0, end_ns_ = 0;
  uint64_t scheduled_ = 0;      // requests due over the whole run (warm-up included)
  uint64_t next_ = 0;           // the next request to send
  uint64_t offered_ = 0;        // requests whose due time has passed
  uint64_t completed_ = 0;      // answered, of the requests due in the measured window
  uint64_t in_window_ = 0;      // responses that arrived within the measured window
  uint64_t ok_in_window_ = 0;   // of which 2xx or 3xx
  uint64_t by_class_[6] = {};   // of which by status class (index 1..5)
  uint64_t after_measure_ = 0;  // responses that arrived after the warm-up (CPU accounting)
  uint64_t unsent_ = 0;
  uint64_t unfinished_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  Options o;
  bool have_url = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        usage(("missing value for " + a).c_str());
      }
      return argv[++i];
    };
    if (a == "--url") {
      if (!parse_url(value(), o)) {
        usage("--url must be http://HOST:PORT/PATH");
      }
      have_url = true;
    } else if (a == "--rate") {
      o.rate = atof(value().c_str());
    } else if (a == "--connections" || a == "-c") {
      o.connections = static_cast<unsigned>(atoi(value().c_str()));
    } else if (a == "--duration" || a == "-d") {
      o.duration_s = atof(value().c_str());
    } else if (a == "--warmup") {
      o.warmup_s = atof(value().c_str());
    } else if (a == "--csv") {
      o.csv = value();
    } else if (a == "--header" || a == "-H") {
      o.headers.push_back(value());
    } else if (a == "--method") {
      o.method = value();
    } else if (a == "--body") {
      o.body = value();
    } else if (a == "--timeout-ms") {
      o.timeout_ms = strtoull(value().c_str(), nullptr, 10);
    } else {
      usage(("unknown argument " + a).c_str());
    }
  }
  if (!have_url || o.connections == 0 || o.duration_s <= 0 || o.rate < 0) {
    usage("--url, --connections > 0 and --duration > 0 are needed");
  }
  rlimit nofile{};
  if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
    nofile.rlim_cur = nofile.rlim_max;
    setrlimit(RLIMIT_NOFILE, &nofile);
  }
  return Load(std::move(o)).run();
}
