#pragma once
// Integration-test harness: runs the real `ringgate` binary on port 0 with a config written to a
// private temp dir, and talks to it over raw sockets so every byte on the wire is under the
// test's control (pipelining, partial writes, malformed input).

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace ringgate::it {

using Millis = std::chrono::milliseconds;
using namespace std::chrono_literals;

// Path of the binary under test and of the source tree (compile definitions from CMake).
const char* binary_path();
const char* source_dir();

// Raises RLIMIT_NOFILE's soft limit to the hard limit; the spawned gateway inherits it. Returns
// the new soft limit.
uint64_t raise_fd_limit();

// A directory under $TMPDIR (or /tmp), removed with everything in it on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // Writes `content` to path()/name and returns the full path.
  std::string write(const std::string& name, const std::string& content) const;

 private:
  std::string path_;
};

// Result of running the binary to completion (--check, --version, a bad config). `cwd`, when
// given, is the working directory the program starts in (a service manager starts it in `/`);
// else the test's own.
struct CommandResult {
  int exit_code = -1;  // WEXITSTATUS, or -signal when killed; -1 on spawn failure or timeout
  std::string out;     // stdout
  std::string err;     // stderr
};
CommandResult run_binary(const std::vector<std::string>& args, Millis timeout = 10s,
                         const std::string& cwd = "");
// Any program (a path, or a name looked up in PATH) run to completion.
CommandResult run_command(const std::vector<std::string>& argv, Millis timeout = 10s,
                          const std::string& cwd = "");
// Starts a program in the background (output discarded; killed if the test process dies).
// -1 when it cannot be started; the caller reaps it.
pid_t start_process(const std::vector<std::string>& argv);

// Resident set size of a process in KiB (VmRSS), or -1.
long rss_kib(pid_t pid);

// One running gateway process.
class GatewayProcess {
 public:
  // Writes `yaml` to a fresh temp dir and starts `ringgate -c FILE`. Check ok() afterwards; on
  // failure error() says why and log() holds what the process printed.
  explicit GatewayProcess(const std::string& yaml, Millis ready_timeout = 10s);
  // The same, with `ringgate` started by `wrapper` (a program and its arguments before the
  // gateway's own, e.g. {WITHOUT_IO_URING_BINARY}).
  GatewayProcess(const std::string& yaml, const std::vector<std::string>& wrapper,
                 Millis ready_timeout);
  // Starts `ringgate ARGS...` with no config file of its own (e.g. {"demo", "--ephemeral"}), in
  // `cwd` when given.
  GatewayProcess(const std::vector<std::string>& args, Millis ready_timeout,
                 const std::string& cwd = "");
  ~GatewayProcess();  // SIGKILL if still running
  GatewayProcess(const GatewayProcess&) = delete;
  GatewayProcess& operator=(const GatewayProcess&) = delete;

  bool ok() const { return ready_; }
  const std::string& error() const { return error_; }
  std::string log() const;
  const std::string& config_path() const { return config_path_; }
  pid_t pid() const { return pid_; }

  uint16_t port(size_t listener = 0) const { return ports_.at(listener); }
  const std::vector<uint16_t>& ports() const { return ports_; }
  uint16_t admin_port() const { return admin_port_; }
  unsigned workers() const { return workers_; }

  // Waits until the output (stdout and stderr together) holds `text` followed by the end of
  // its line; false when the process exits first or `timeout` passes.
  bool wait_output(std::string_view text, Millis timeout);

  void signal(int sig) const;
  // Waits for the process to exit: its exit status (WEXITSTATUS, or -signal), or nullopt when it
  // is still running after `timeout`.
  std::optional<int> wait_exit(Millis timeout);
  // SIGTERM, then wait_exit(timeout).
  std::optional<int> stop(Millis timeout = 15s);
  bool running();

 private:
  void launch(const std::vector<std::string>& args, Millis ready_timeout,
              const std::string& cwd = "");
  void drain_stderr();

  TempDir dir_;
  std::string config_path_;
  pid_t pid_ = -1;
  int err_fd_ = -1;
  bool reaped_ = false;
  int exit_status_ = -1;
  bool ready_ = false;
  std::string error_;
  std::vector<uint16_t> ports_;
  uint16_t admin_port_ = 0;
  unsigned workers_ = 0;

  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::string log_;
  bool log_eof_ = false;
  std::thread drainer_;
};

// An owned socket plus the bytes received but not yet consumed (pipelined responses arrive
// together).
class Conn {
 public:
  Conn() = default;
  explicit Conn(int fd) : fd_(fd) {}
  ~Conn() { close(); }
  Conn(Conn&& other) noexcept
      : pending(std::move(other.pending)),
        source(std::move(other.source)),
        fd_(std::exchange(other.fd_, -1)) {}
  Conn& operator=(Conn&& other) noexcept;
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  int fd() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  void close();

  std::string pending;
  // Where received bytes come from when not straight from the socket (a TLS client's
  // decryption): appends to `pending`; 1 = got bytes, 0 = closed, -1 = timeout or error.
  std::function<int(Conn& c, int timeout_ms)> source;

 private:
  int fd_ = -1;
};

// Blocking TCP connect to 127.0.0.1:port with TCP_NODELAY; an invalid Conn on failure (errno set).
Conn connect_to(uint16_t port, Millis timeout = 5s);
// Waits up to `timeout_ms` for bytes on `fd` and appends what one recv gives: 1 = got bytes,
// 0 = peer closed (EOF or reset), -1 = timeout or error.
int recv_some(int fd, std::string& out, int timeout_ms);
// Writes everything (MSG_NOSIGNAL); false on error.
bool send_all(const Conn& c, std::string_view data);

struct Response {
  std::string version;  // "HTTP/1.1"
  int status = 0;
  std::string reason;
  std::vector<std::pair<std::string, std::string>> headers;  // in order, names as received
  std::string body;
  std::string raw;  // the exact bytes of this response

  // First value of the (case-insensitive) header, or nullopt.
  std::optional<std::string> header(std::string_view name) const;
  size_t header_count(std::string_view name) const;
  bool has(std::string_view name) const { return header_count(name) > 0; }
  // True when the Connection header lists `token` (case-insensitive).
  bool connection_has(std::string_view token) const;
};

struct ReadOptions {
  Millis timeout = 5s;
  bool head_request = false;  // the response to HEAD has no body whatever its headers say
  bool skip_interim = true;   // skip 1xx responses (false: return them)
};

// Reads one full response (body by Content-Length, chunked, or until close). nullopt on timeout,
// malformed bytes or close before the response was complete; `why` says which.
std::optional<Response> read_response(Conn& c, const ReadOptions& options = {},
                                      std::string* why = nullptr);
// Reads until the peer closes; false on timeout (everything read so far lands in `out`).
bool read_until_eof(Conn& c, std::string& out, Millis timeout = 5s);
// Waits for the peer to close (recv returns 0 or ECONNRESET). Bytes that arrive first are
// appended to `received` (if given) and do not stop the wait. False on timeout.
bool wait_closed(Conn& c, Millis timeout = 3s, std::string* received = nullptr);
// Nothing arrives and the connection stays open for `period`.
bool stays_silent(Conn& c, Millis period);

// "GET /x HTTP/1.1\r\nHost: h\r\n<extra>\r\n" — `extra` is raw header lines, each ending in CRLF.
std::string request(std::string_view method, std::string_view target, std::string_view extra = "",
                    std::string_view host = "test");

// One request on a fresh connection; nullopt (with `why`) on any failure.
std::optional<Response> fetch(uint16_t port, std::string_view raw_request,
                              const ReadOptions& options = {}, std::string* why = nullptr);
// The status of a GET of `target` on a fresh connection (`extra`: raw header lines); -1 when
// there was no complete response.
int status_of(uint16_t port, std::string_view target, std::string_view extra = "");

// GET /metrics on the admin port, parsed into name → value (samples without labels).
std::map<std::string, double> scrape_metrics(uint16_t admin_port, std::string* why = nullptr);
// One sample; -1 when missing or the scrape failed.
double metric(uint16_t admin_port, const std::string& name);
// Polls until metric(name) satisfies `pred` or `timeout` passes; returns the last value seen.
template <typename Pred>
double wait_metric(uint16_t admin_port, const std::string& name, Pred pred, Millis timeout = 3s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  double v = metric(admin_port, name);
  while (!pred(v) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(20ms);
    v = metric(admin_port, name);
  }
  return v;
}

// A loopback port that was free a moment ago (0 if none could be had).
uint16_t free_port();

// `threads` clients, each on its own keep-alive connection to ports[i % ports.size()], sending
// `raw_request` back to back for `duration`: responses by status (other: anything but 200 and
// 429, or a connection that failed) and the seconds it took.
struct LoadResult {
  int ok = 0;
  int limited = 0;
  int other = 0;
  double seconds = 0;
};
LoadResult hammer(const std::vector<uint16_t>& ports, int threads, Millis duration,
                  const std::string& raw_request);

// Config YAML: one listener on 127.0.0.1:0, admin on 127.0.0.1:0, no CPU pinning, timeouts short
// enough for tests. `limits` entries override the defaults below key by key.
struct ConfigSpec {
  unsigned workers = 1;
  std::map<std::string, std::string> limits;  // e.g. {"header_timeout", "300ms"}
  std::string buffers;                        // flow mapping, e.g. "{size: 4KiB, count: 8}"
  std::string drain_timeout = "5s";
  std::string server_extra;  // more lines inside `server:`, each indented two spaces
  std::string routes;        // the YAML list under `routes:`; empty → default_routes()
  std::string upstreams;     // the YAML map under `upstreams:` (indented two spaces); empty: none
  std::string sections;      // more top-level sections (e.g. "rate_limits:\n  ..."), before routes
  std::string listen_tls;    // the listener's `tls:` value (a flow map); empty: plain HTTP
};
std::string make_config(const ConfigSpec& spec);

// Routes most tests use: GET /hello → 200 "hello"; prefix /p/; template /t/{id}; POST /upload.
std::string default_routes();

}  // namespace ringgate::it
