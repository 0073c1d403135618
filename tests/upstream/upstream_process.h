#pragma once
// One test_upstream process (see upstream_server.cc) on 127.0.0.1 port 0, for tests that need a
// real origin server. Header-only so the upstream self-test and the gateway's integration tests
// share it.

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

namespace test_upstream {

inline int remaining_ms(std::chrono::steady_clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  return left.count() <= 0 ? 0 : static_cast<int>(left.count());
}

// Any program that prints "listening HOST:PORT" on stdout once it accepts (program tag).
struct Program {
  std::vector<std::string> argv;
};

// One test_upstream process (or another origin, Program); SIGKILLed on destruction if still
// running.
class Upstream {
 public:
  explicit Upstream(std::vector<std::string> extra = {}, std::string listen = "127.0.0.1:0") {
    std::vector<std::string> args = {TEST_UPSTREAM_BINARY, "--listen", listen};
    args.insert(args.end(), extra.begin(), extra.end());
    launch(std::move(args));
  }
  explicit Upstream(Program program) { launch(std::move(program.argv)); }

 private:
  void launch(std::vector<std::string> args) {
    int out[2];
    if (pipe2(out, O_CLOEXEC) != 0) {
      return;
    }
    const pid_t parent = getpid();
    pid_ = fork();
    if (pid_ == 0) {
      // The server dies with the test, so a failed test never leaves it holding a port.
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) {
        _exit(127);
      }
      dup2(out[1], STDOUT_FILENO);
      std::vector<char*> argv;
      for (std::string& a : args) {
        argv.push_back(a.data());
      }
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    close(out[1]);
    // Read "listening HOST:PORT\n".
    std::string line;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (line.find('\n') == std::string::npos) {
      pollfd p{out[0], POLLIN, 0};
      char c[256];
      ssize_t n = 0;
      if (poll(&p, 1, remaining_ms(deadline)) <= 0 || (n = read(out[0], c, sizeof c)) <= 0) {
        break;
      }
      line.append(c, static_cast<size_t>(n));
    }
    close(out[0]);
    const size_t colon = line.rfind(':');
    if (line.starts_with("listening ") && colon != std::string::npos) {
      port_ = static_cast<uint16_t>(std::atoi(line.c_str() + colon + 1));
    }
  }

 public:
  ~Upstream() {
    if (pid_ > 0 && !reaped_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }

  uint16_t port() const { return port_; }
  bool running() const { return pid_ > 0 && !reaped_; }
  pid_t pid() const { return pid_; }

  // SIGKILL and reap (an endpoint that dies).
  void kill_now() {
    if (pid_ > 0 && !reaped_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
      reaped_ = true;
    }
  }

  // SIGTERM and wait: the exit status, or -1.
  int stop() {
    kill(pid_, SIGTERM);
    int status = 0;
    for (int i = 0; i < 500; ++i) {
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        reaped_ = true;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      }
      usleep(10'000);
    }
    return -1;
  }

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
  uint16_t port_ = 0;
};

}  // namespace test_upstream
