#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace ringgate::it {
namespace {

using Clock = std::chrono::steady_clock;

int remaining_ms(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now()).count();
  return left <= 0 ? 0 : static_cast<int>(std::min<int64_t>(left, 1 << 30));
}

char lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) {
      return false;
    }
  }
  return true;
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

// Exec `args` with stdout/stderr on the given fds. The child dies with the test process so a
// crashed test never leaves a gateway holding a port.
pid_t spawn(const std::vector<std::string>& args, int out_fd, int err_fd,
            const std::string& cwd = "") {
  std::vector<char*> argv;
  argv.reserve(args.size() + 1);
  for (const std::string& a : args) {
    argv.push_back(const_cast<char*>(a.c_str()));
  }
  argv.push_back(nullptr);
  const pid_t parent = getpid();
  pid_t pid = fork();
  if (pid != 0) {
    return pid;
  }
  // Child: async-signal-safe calls only until exec.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) {
    _exit(127);
  }
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  signal(SIGPIPE, SIG_DFL);
  int devnull = open("/dev/null", O_RDONLY);
  if (devnull >= 0) {
    dup2(devnull, 0);
  }
  dup2(out_fd, 1);
  dup2(err_fd, 2);
  if (!cwd.empty() && chdir(cwd.c_str()) != 0) {
    _exit(127);
  }
  execvp(argv[0], argv.data());  // a path, or a program found in PATH
  _exit(127);
}

int decode_status(int status) {
  if (WIFEXITED(status)) {
    return WEXITSTATUS(status);
  }
  if (WIFSIGNALED(status)) {
    return -WTERMSIG(status);
  }
  return -1;
}

uint16_t port_after_last_colon(const std::string& line) {
  size_t colon = line.rfind(':');
  if (colon == std::string::npos) {
    return 0;
  }
  return static_cast<uint16_t>(std::strtoul(line.c_str() + colon + 1, nullptr, 10));
}

// 1 = got bytes, 0 = peer closed (EOF or reset), -1 = timeout or error.
int fill(Conn& c, Clock::time_point deadline) {
  if (c.source) {
    return c.source(c, remaining_ms(deadline));
  }
  return recv_some(c.fd(), c.pending, remaining_ms(deadline));
}

// Decodes a chunked body starting at `pos`. 1 = complete (`end` is one past the final CRLF),
// 0 = need more bytes, -1 = malformed.
int parse_chunked(const std::string& buf, size_t pos, std::string& body, size_t& end) {
  body.clear();
  for (;;) {
    size_t eol = buf.find("\r\n", pos);
    if (eol == std::string::npos) {
      return 0;
    }
    std::string line = buf.substr(pos, eol - pos);
    size_t semi = line.find(';');
    if (semi != std::string::npos) {
      line.resize(semi);
    }
    line = std::string(trim(line));
    if (line.empty() || line.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos) {
      return -1;
    }
    uint64_t size = std::strtoull(line.c_str(), nullptr, 16);
    pos = eol + 2;
    if (size == 0) {
      // Trailer section: header lines until an empty line.
      for (;;) {
        size_t t = buf.find("\r\n", pos);
        if (t == std::string::npos) {
          return 0;
        }
        if (t == pos) {
          end = t + 2;
          return 1;
        }
        pos = t + 2;
      }
    }
    if (buf.size() < pos + size + 2) {
      return 0;
    }
    body.append(buf, pos, size);
    if (buf.compare(pos + size, 2, "\r\n") != 0) {
      return -1;
    }
    pos += size + 2;
  }
}

}  // namespace

const char* binary_path() {
  return RINGGATE_BINARY;
}

const char* source_dir() {
  return RINGGATE_SOURCE_DIR;
}

uint64_t raise_fd_limit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
    return 0;
  }
  if (rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
  }
  return rl.rlim_cur;
}

// ---------------------------------------------------------------------------------------------
// TempDir

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base && *base ? base : "/tmp") + "/ringgate-it-XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (mkdtemp(buf.data()) != nullptr) {
    path_ = buf.data();
  }
}

TempDir::~TempDir() {
  if (!path_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
}

std::string TempDir::write(const std::string& name, const std::string& content) const {
  std::string file = path_ + "/" + name;
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out << content;
  return file;
}

// ---------------------------------------------------------------------------------------------
// run_binary

CommandResult run_binary(const std::vector<std::string>& args, Millis timeout,
                         const std::string& cwd) {
  std::vector<std::string> argv{binary_path()};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_command(argv, timeout, cwd);
}

long rss_kib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with("VmRSS:")) {
      return std::stol(line.substr(6));
    }
  }
  return -1;
}

pid_t start_process(const std::vector<std::string>& argv) {
  const int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
  const pid_t pid = spawn(argv, devnull, devnull);
  if (devnull >= 0) {
    ::close(devnull);
  }
  return pid;
}

CommandResult run_command(const std::vector<std::string>& argv, Millis timeout,
                          const std::string& cwd) {
  CommandResult result;
  int out_pipe[2];
  int err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0) {
    return result;
  }
  if (pipe2(err_pipe, O_CLOEXEC) != 0) {
    ::close(out_pipe[0]);
    ::close(out_pipe[1]);
    return result;
  }
  raise_fd_limit();
  pid_t pid = spawn(argv, out_pipe[1], err_pipe[1], cwd);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  if (pid < 0) {
    ::close(out_pipe[0]);
    ::close(err_pipe[0]);
    return result;
  }
  auto deadline = Clock::now() + timeout;
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  std::string* sinks[2] = {&result.out, &result.err};
  int open_count = 2;
  bool timed_out = false;
  while (open_count > 0) {
    int r = poll(fds, 2, remaining_ms(deadline));
    if (r < 0 && errno == EINTR) {
      continue;
    }
    if (r <= 0) {
      timed_out = true;
      break;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) {
        continue;
      }
      char buf[4096];
      ssize_t n = read(fds[i].fd, buf, sizeof buf);
      if (n > 0) {
        sinks[i]->append(buf, static_cast<size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open_count;
      }
    }
  }
  for (pollfd& p : fds) {
    if (p.fd >= 0) {
      ::close(p.fd);
    }
  }
  if (timed_out) {
    kill(pid, SIGKILL);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  result.exit_code = timed_out ? -1 : decode_status(status);
  return result;
}

// ---------------------------------------------------------------------------------------------
// GatewayProcess

GatewayProcess::GatewayProcess(const std::string& yaml, Millis ready_timeout) {
  if (dir_.path().empty()) {
    error_ = "mkdtemp failed";
    return;
  }
  config_path_ = dir_.write("ringgate.yaml", yaml);
  launch({binary_path(), "-c", config_path_}, ready_timeout);
}

GatewayProcess::GatewayProcess(const std::string& yaml, const std::vector<std::string>& wrapper,
                               Millis ready_timeout) {
  if (dir_.path().empty()) {
    error_ = "mkdtemp failed";
    return;
  }
  config_path_ = dir_.write("ringgate.yaml", yaml);
  std::vector<std::string> argv = wrapper;
  argv.insert(argv.end(), {binary_path(), "-c", config_path_});
  launch(argv, ready_timeout);
}

GatewayProcess::GatewayProcess(const std::vector<std::string>& args, Millis ready_timeout,
                               const std::string& cwd) {
  std::vector<std::string> argv{binary_path()};
  argv.insert(argv.end(), args.begin(), args.end());
  launch(argv, ready_timeout, cwd);
}

bool GatewayProcess::wait_output(std::string_view text, Millis timeout) {
  std::unique_lock<std::mutex> lock(mutex_);
  auto found = [&] {
    const size_t at = log_.find(text);
    return at != std::string::npos && log_.find('\n', at) != std::string::npos;
  };
  cv_.wait_for(lock, timeout, [&] { return found() || log_eof_; });
  return found();
}

void GatewayProcess::launch(const std::vector<std::string>& args, Millis ready_timeout,
                            const std::string& cwd) {
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) {
    error_ = std::string("pipe2: ") + std::strerror(errno);
    return;
  }
  raise_fd_limit();
  pid_ = spawn(args, pipe_fds[1], pipe_fds[1], cwd);
  ::close(pipe_fds[1]);
  if (pid_ < 0) {
    ::close(pipe_fds[0]);
    error_ = std::string("fork: ") + std::strerror(errno);
    return;
  }
  err_fd_ = pipe_fds[0];
  drainer_ = std::thread([this] { drain_stderr(); });

  std::unique_lock<std::mutex> lock(mutex_);
  const bool seen = cv_.wait_for(lock, ready_timeout, [this] {
    size_t at = log_.find("ringgate: ready, ");
    return log_eof_ || (at != std::string::npos && log_.find('\n', at) != std::string::npos);
  });
  if (!seen || log_.find("ringgate: ready, ") == std::string::npos) {
    error_ = seen ? "gateway exited before it was ready" : "gateway not ready in time";
    error_ += "; its output:\n" + log_;
    return;
  }
  std::istringstream lines(log_);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind("ringgate: listening on ", 0) == 0) {
      ports_.push_back(port_after_last_colon(line));
    } else if (line.rfind("ringgate: admin on ", 0) == 0) {
      admin_port_ = port_after_last_colon(line);
    } else if (line.rfind("ringgate: ready, ", 0) == 0) {
      workers_ = static_cast<unsigned>(std::strtoul(line.c_str() + 17, nullptr, 10));
    }
  }
  if (ports_.empty() || std::find(ports_.begin(), ports_.end(), 0) != ports_.end()) {
    error_ = "no listening port in the start-up lines";
    return;
  }
  ready_ = true;
}

GatewayProcess::~GatewayProcess() {
  if (pid_ > 0 && !reaped_) {
    kill(pid_, SIGKILL);
    int status = 0;
    while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    reaped_ = true;
  }
  if (drainer_.joinable()) {
    drainer_.join();
  }
  if (err_fd_ >= 0) {
    ::close(err_fd_);
  }
}

void GatewayProcess::drain_stderr() {
  char buf[4096];
  for (;;) {
    ssize_t n = read(err_fd_, buf, sizeof buf);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    std::lock_guard<std::mutex> lock(mutex_);
    if (n <= 0) {
      log_eof_ = true;
      cv_.notify_all();
      return;
    }
    log_.append(buf, static_cast<size_t>(n));
    cv_.notify_all();
  }
}

std::string GatewayProcess::log() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return log_;
}

void GatewayProcess::signal(int sig) const {
  if (pid_ > 0 && !reaped_) {
    kill(pid_, sig);
  }
}

std::optional<int> GatewayProcess::wait_exit(Millis timeout) {
  if (pid_ <= 0) {
    return std::nullopt;
  }
  auto deadline = Clock::now() + timeout;
  while (!reaped_) {
    int status = 0;
    pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      reaped_ = true;
      exit_status_ = decode_status(status);
      break;
    }
    if (r < 0 && errno != EINTR) {
      return std::nullopt;
    }
    if (Clock::now() >= deadline) {
      return std::nullopt;
    }
    std::this_thread::sleep_for(5ms);
  }
  return exit_status_;
}

std::optional<int> GatewayProcess::stop(Millis timeout) {
  signal(SIGTERM);
  return wait_exit(timeout);
}

bool GatewayProcess::running() {
  return pid_ > 0 && !wait_exit(0ms).has_value();
}

// ---------------------------------------------------------------------------------------------
// Client side

Conn& Conn::operator=(Conn&& other) noexcept {
  if (this != &other) {
    close();
    fd_ = std::exchange(other.fd_, -1);
    pending = std::move(other.pending);
    source = std::move(other.source);
  }
  return *this;
}

void Conn::close() {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
  pending.clear();
}

Conn connect_to(uint16_t port, Millis timeout) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    return Conn();
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int r = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  if (r != 0 && errno == EINPROGRESS) {
    pollfd p{fd, POLLOUT, 0};
    int pr;
    do {
      pr = poll(&p, 1, static_cast<int>(timeout.count()));
    } while (pr < 0 && errno == EINTR);
    int soerr = 0;
    socklen_t len = sizeof soerr;
    if (pr <= 0) {
      soerr = ETIMEDOUT;
    } else {
      getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len);
    }
    r = soerr == 0 ? 0 : -1;
    errno = soerr;
  }
  if (r != 0) {
    int saved = errno;
    ::close(fd);
    errno = saved;
    return Conn();
  }
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return Conn(fd);
}

int recv_some(int fd, std::string& out, int timeout_ms) {
  pollfd p{fd, POLLIN, 0};
  int r;
  do {
    r = poll(&p, 1, timeout_ms);
  } while (r < 0 && errno == EINTR);
  if (r <= 0) {
    return -1;
  }
  char buf[65536];
  ssize_t n;
  do {
    n = recv(fd, buf, sizeof buf, 0);
  } while (n < 0 && errno == EINTR);
  if (n > 0) {
    out.append(buf, static_cast<size_t>(n));
    return 1;
  }
  return n == 0 || errno == ECONNRESET ? 0 : -1;
}

bool send_all(const Conn& c, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = send(c.fd(), data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return false;
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

std::optional<std::string> Response::header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (iequals(k, name)) {
      return v;
    }
  }
  return std::nullopt;
}

size_t Response::header_count(std::string_view name) const {
  size_t n = 0;
  for (const auto& h : headers) {
    n += iequals(h.first, name) ? 1 : 0;
  }
  return n;
}

bool Response::connection_has(std::string_view token) const {
  for (const auto& [k, v] : headers) {
    if (!iequals(k, "connection")) {
      continue;
    }
    std::string_view rest = v;
    while (!rest.empty()) {
      size_t comma = rest.find(',');
      if (iequals(trim(rest.substr(0, comma)), token)) {
        return true;
      }
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    }
  }
  return false;
}

std::optional<Response> read_response(Conn& c, const ReadOptions& options, std::string* why) {
  auto deadline = Clock::now() + options.timeout;
  std::string scratch;
  std::string& reason = why ? *why : scratch;
  auto fail = [&](const std::string& text) -> std::optional<Response> {
    reason = text + " (received so far: " + std::to_string(c.pending.size()) + " bytes)";
    return std::nullopt;
  };
  for (;;) {
    size_t head_end;
    while ((head_end = c.pending.find("\r\n\r\n")) == std::string::npos) {
      int r = fill(c, deadline);
      if (r == 0) {
        return fail(c.pending.empty() ? "connection closed before a response"
                                      : "connection closed inside a response head");
      }
      if (r < 0) {
        return fail("timed out waiting for a response head");
      }
    }
    Response resp;
    std::string_view head(c.pending.data(), head_end);
    size_t eol = head.find("\r\n");
    std::string_view status_line = head.substr(0, eol);
    size_t sp1 = status_line.find(' ');
    if (sp1 == std::string_view::npos || status_line.size() < sp1 + 4) {
      return fail("bad status line '" + std::string(status_line) + "'");
    }
    resp.version = std::string(status_line.substr(0, sp1));
    resp.status = std::atoi(std::string(status_line.substr(sp1 + 1, 3)).c_str());
    if (status_line.size() > sp1 + 5) {
      resp.reason = std::string(status_line.substr(sp1 + 5));
    }
    if (resp.version.rfind("HTTP/1.", 0) != 0 || resp.status < 100 || resp.status > 999) {
      return fail("bad status line '" + std::string(status_line) + "'");
    }
    std::string_view rest = eol == std::string_view::npos ? "" : head.substr(eol + 2);
    while (!rest.empty()) {
      size_t e = rest.find("\r\n");
      std::string_view line = rest.substr(0, e);
      rest = e == std::string_view::npos ? std::string_view() : rest.substr(e + 2);
      size_t colon = line.find(':');
      if (colon == std::string_view::npos) {
        return fail("bad header line '" + std::string(line) + "'");
      }
      resp.headers.emplace_back(std::string(line.substr(0, colon)),
                                std::string(trim(line.substr(colon + 1))));
    }
    size_t body_start = head_end + 4;
    if (resp.status < 200) {
      resp.raw = c.pending.substr(0, body_start);
      c.pending.erase(0, body_start);
      if (options.skip_interim) {
        continue;
      }
      return resp;
    }
    size_t end = body_start;
    auto te = resp.header("transfer-encoding");
    auto cl = resp.header("content-length");
    if (options.head_request || resp.status == 204 || resp.status == 304) {
      end = body_start;
    } else if (te && te->find("chunked") != std::string::npos) {
      for (;;) {
        int r = parse_chunked(c.pending, body_start, resp.body, end);
        if (r < 0) {
          return fail("malformed chunked body");
        }
        if (r == 1) {
          break;
        }
        int f = fill(c, deadline);
        if (f <= 0) {
          return fail(f == 0 ? "closed inside a chunked body" : "timed out in a chunked body");
        }
      }
    } else if (cl) {
      if (cl->empty() || cl->find_first_not_of("0123456789") != std::string::npos) {
        return fail("bad Content-Length '" + *cl + "'");
      }
      size_t length = std::strtoull(cl->c_str(), nullptr, 10);
      while (c.pending.size() < body_start + length) {
        int f = fill(c, deadline);
        if (f <= 0) {
          return fail(f == 0 ? "closed inside a body" : "timed out in a body");
        }
      }
      resp.body = c.pending.substr(body_start, length);
      end = body_start + length;
    } else {
      int f;
      while ((f = fill(c, deadline)) > 0) {
      }
      if (f < 0) {
        return fail("timed out reading a close-delimited body");
      }
      resp.body = c.pending.substr(body_start);
      end = c.pending.size();
    }
    resp.raw = c.pending.substr(0, end);
    c.pending.erase(0, end);
    return resp;
  }
}

bool read_until_eof(Conn& c, std::string& out, Millis timeout) {
  auto deadline = Clock::now() + timeout;
  int r;
  while ((r = fill(c, deadline)) > 0) {
  }
  out += c.pending;
  c.pending.clear();
  return r == 0;
}

bool wait_closed(Conn& c, Millis timeout, std::string* received) {
  std::string got;
  bool closed = read_until_eof(c, got, timeout);
  if (received) {
    *received += got;
  }
  return closed;
}

bool stays_silent(Conn& c, Millis period) {
  if (!c.pending.empty()) {
    return false;
  }
  pollfd p{c.fd(), POLLIN, 0};
  int r;
  do {
    r = poll(&p, 1, static_cast<int>(period.count()));
  } while (r < 0 && errno == EINTR);
  return r == 0;
}

std::string request(std::string_view method, std::string_view target, std::string_view extra,
                    std::string_view host) {
  std::string r;
  r.append(method).append(" ").append(target).append(" HTTP/1.1\r\n");
  if (!host.empty()) {
    r.append("Host: ").append(host).append("\r\n");
  }
  r.append(extra).append("\r\n");
  return r;
}

std::optional<Response> fetch(uint16_t port, std::string_view raw_request,
                              const ReadOptions& options, std::string* why) {
  Conn c = connect_to(port);
  if (!c.valid()) {
    if (why) {
      *why = std::string("connect: ") + std::strerror(errno);
    }
    return std::nullopt;
  }
  if (!send_all(c, raw_request)) {
    if (why) {
      *why = std::string("send: ") + std::strerror(errno);
    }
    return std::nullopt;
  }
  return read_response(c, options, why);
}

int status_of(uint16_t port, std::string_view target, std::string_view extra) {
  auto r = fetch(port, request("GET", target, extra));
  return r ? r->status : -1;
}

std::map<std::string, double> scrape_metrics(uint16_t admin_port, std::string* why) {
  std::map<std::string, double> out;
  auto r = fetch(admin_port, request("GET", "/metrics", "Connection: close\r\n", "admin"), {}, why);
  if (!r || r->status != 200) {
    if (why && r) {
      *why = "status " + std::to_string(r->status);
    }
    return out;
  }
  std::istringstream lines(r->body);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty() || line[0] == '#') {
      continue;
    }
    size_t sp = line.rfind(' ');
    if (sp == std::string::npos) {
      continue;
    }
    out[line.substr(0, sp)] = std::strtod(line.c_str() + sp + 1, nullptr);
  }
  return out;
}

double metric(uint16_t admin_port, const std::string& name) {
  auto all = scrape_metrics(admin_port);
  auto it = all.find(name);
  return it == all.end() ? -1 : it->second;
}

std::string default_routes() {
  return R"(  - match: {path: /hello, methods: [GET]}
    direct: {status: 200, headers: {content-type: text/plain}, body: "hello"}
  - match: {path: /upload, methods: [POST, PUT]}
    direct: {status: 201, headers: {content-type: text/plain}, body: "stored"}
  - match: {prefix: /p/}
    direct: {status: 200, headers: {content-type: text/plain}, body: "prefix"}
  - match: {path: "/t/{id}"}
    direct: {status: 200, headers: {content-type: text/plain}, body: "template"}
  - match: {path: /vhost, host: a.example}
    direct: {status: 200, body: "host-a"}
  - match: {path: /vhost}
    direct: {status: 200, body: "host-any"}
)";
}

uint16_t free_port() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  uint16_t port = 0;
  if (fd >= 0 && bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  if (fd >= 0) {
    ::close(fd);
  }
  return port;
}

LoadResult hammer(const std::vector<uint16_t>& ports, int threads, Millis duration,
                  const std::string& raw_request) {
  std::atomic<int> ok{0};
  std::atomic<int> limited{0};
  std::atomic<int> other{0};
  const auto start = Clock::now();
  const auto end = start + duration;
  std::vector<std::thread> clients;
  for (int t = 0; t < threads; ++t) {
    const uint16_t port = ports[static_cast<size_t>(t) % ports.size()];
    clients.emplace_back([&, port] {
      Conn c = connect_to(port);
      while (c.valid() && Clock::now() < end) {
        if (!send_all(c, raw_request)) {
          break;
        }
        auto r = read_response(c);
        if (!r) {
          ++other;
          break;
        }
        (r->status == 200 ? ok : r->status == 429 ? limited : other)++;
      }
    });
  }
  for (std::thread& t : clients) {
    t.join();
  }
  LoadResult out;
  out.ok = ok.load();
  out.limited = limited.load();
  out.other = other.load();
  out.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return out;
}

std::string make_config(const ConfigSpec& spec) {
  std::map<std::string, std::string> limits = {
      {"header_timeout", "2s"}, {"idle_timeout", "10s"}, {"request_timeout", "5s"}};
  for (const auto& [k, v] : spec.limits) {
    limits[k] = v;
  }
  std::string y;
  y += "server:\n";
  y += "  workers: " + std::to_string(spec.workers) + "\n";
  y += "  pin_cpus: false\n";
  y += "  listen:\n    - address: \"127.0.0.1:0\"\n";
  if (!spec.listen_tls.empty()) {
    y += "      tls: " + spec.listen_tls + "\n";
  }
  if (!spec.buffers.empty()) {
    y += "  buffers: " + spec.buffers + "\n";
  }
  y += "  limits:\n";
  for (const auto& [k, v] : limits) {
    y += "    " + k + ": " + v + "\n";
  }
  y += "  drain_timeout: " + spec.drain_timeout + "\n";
  y += spec.server_extra;
  y += "admin:\n  listen: \"127.0.0.1:0\"\n";
  if (!spec.upstreams.empty()) {
    y += "upstreams:\n" + spec.upstreams;
  }
  y += spec.sections;
  y += "routes:\n";
  y += spec.routes.empty() ? default_routes() : spec.routes;
  return y;
}

}  // namespace ringgate::it
